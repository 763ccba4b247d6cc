"""Feed routes: tokens, access for every route and role, bad input, logs, subscription page."""

from __future__ import annotations

import logging
import re
from datetime import timedelta

import icalendar
import pytest

from portal.feeds import RedactFeedTokens, redact, services
from portal.feeds.views import platform_of
from portal.models import ActivityStatus, AuditEntry, CalendarToken
from tests.conftest import built_once

pytestmark = pytest.mark.both_databases
NO_QUERY_DIFFERENCE = pytest.mark.database_independent(
    "login redirects, routing, form validation and page markup: "
    "no query that the two databases answer differently"
)


@pytest.fixture
def setup(request, make_unit, make_activity, make_shift, make_user, make_signup, token_for):
    return built_once(
        request,
        lambda: _setup(make_unit, make_activity, make_shift, make_user, make_signup, token_for),
    )


def _setup(make_unit, make_activity, make_shift, make_user, make_signup, token_for):
    unit = make_unit("区文明办")
    other_unit = make_unit("别的单位")
    activity = make_activity(unit=unit)
    shift = make_shift(activity=activity)
    resident = make_user("王居民")
    organizer = make_user("李组织", units=[unit])
    admin = make_user("管理员", is_admin=True)
    make_signup(shift, user=resident)
    return {
        "unit": unit,
        "other_unit": other_unit,
        "activity": activity,
        "shift": shift,
        "resident": resident,
        "organizer": organizer,
        "admin": admin,
        "tokens": {
            "resident": token_for(resident),
            "organizer": token_for(organizer),
            "admin": token_for(admin),
        },
    }


# --- tokens ---------------------------------------------------------------------------------


def test_reset_kills_old_link_with_410(client, db, setup, token_for):
    old = setup["tokens"]["resident"]
    assert client.get(f"/calendar/me/{old}.ics").status_code == 200
    new = token_for(setup["resident"])
    gone = client.get(f"/calendar/me/{old}.ics")
    assert gone.status_code == 410
    assert gone.headers["Content-Type"].startswith("text/plain")
    assert "Location" not in gone.headers
    assert b"BEGIN:VCALENDAR" not in gone.data
    assert client.get(f"/calendar/me/{new}.ics").status_code == 200
    live = db.session.scalars(
        db.select(CalendarToken).where(CalendarToken.revoked_at.is_(None))
    ).all()
    assert len([t for t in live if t.user_id == setup["resident"].id]) == 1


@pytest.mark.parametrize(
    "token",
    ["x" * 43, "short", "a" * 500, "%00", "..%2F..%2Fetc", "A" * 42 + "!", "令牌" * 20],
)
def test_unknown_or_malformed_token_is_410(client, setup, token):
    expected = 404 if "%2F" in token else 410  # a "/" leaves the route: 404
    r = client.get(f"/calendar/me/{token}.ics")
    assert r.status_code == expected
    r = client.get(f"/calendar/units/{setup['unit'].id}/{token}.ics")
    assert r.status_code == expected


def test_token_of_deleted_user_is_410(client, db, setup):
    from datetime import UTC, datetime

    setup["resident"].deleted_at = datetime.now(UTC)
    db.session.commit()
    assert client.get(f"/calendar/me/{setup['tokens']['resident']}.ics").status_code == 410


PRIVATE_PAGES = ["/me", "/me/inbox", "/account/profile", "/organize/", "/calendar/subscribe"]


@NO_QUERY_DIFFERENCE
@pytest.mark.parametrize("page", PRIVATE_PAGES)
@pytest.mark.parametrize("how", ["query", "path", "header"])
def test_token_opens_nothing_else(client, setup, page, how):
    """The feed secret is not a login: private pages do not accept it in any form."""
    who = setup["organizer"]  # signed up nowhere but organizes: /organize/ would open
    token = setup["tokens"]["organizer"]
    url, headers = {
        "query": (f"{page}?token={token}", {}),
        "path": (f"{page.rstrip('/')}/{token}", {}),
        "header": (page, {"Authorization": f"Bearer {token}"}),
    }[how]
    r = client.get(url, headers=headers)
    if how == "path":
        # An unknown path never shows a private page.
        assert r.status_code == 404, (url, r.status_code)
    else:
        assert r.status_code == 302, (url, r.status_code)
    if r.status_code == 302:
        assert "/account/login" in r.headers["Location"]
    body = r.get_data(as_text=True)
    assert who.real_name not in body and who.phone not in body


@NO_QUERY_DIFFERENCE
@pytest.mark.parametrize("page", ["/me", "/me/inbox", "/account/profile"])
def test_resident_token_does_not_open_own_pages(client, setup, page):
    token = setup["tokens"]["resident"]
    r = client.get(f"{page}?token={token}")
    assert r.status_code == 302 and "/account/login" in r.headers["Location"]
    assert setup["resident"].phone not in r.get_data(as_text=True)


# --- access for each route ------------------------------------------------------------------


@pytest.mark.parametrize(
    "who,expected",
    [
        ("resident", 403),
        ("organizer", 200),
        ("admin", 200),
    ],
)
def test_unit_feed_only_for_the_units_organizers(client, setup, who, expected):
    token = setup["tokens"][who]
    r = client.get(f"/calendar/units/{setup['unit'].id}/{token}.ics")
    assert r.status_code == expected
    if expected == 200:
        assert r.headers["Content-Type"] == "text/calendar; charset=utf-8"


def test_unit_feed_other_unit_and_unknown_unit(client, setup):
    token = setup["tokens"]["organizer"]
    assert client.get(f"/calendar/units/{setup['other_unit'].id}/{token}.ics").status_code == 403
    assert client.get(f"/calendar/units/999999/{token}.ics").status_code == 404


@pytest.mark.parametrize(
    "url",
    [
        "/calendar/zones/999999.ics",
        "/calendar/programmes/999999.ics",
        "/calendar/activities/999999.ics",
        "/calendar/shifts/999999.ics",
        "/calendar/zones/abc.ics",
        "/calendar/zones/-1.ics",
        "/calendar/shifts/1.5.ics",
        "/calendar/activities/99999999999999999999999.ics",
        "/calendar/units/abc/x.ics",
        "/calendar/nothing.ics",
    ],
)
def test_bad_ids_are_404_never_500(client, setup, url):
    assert client.get(url).status_code == 404


@pytest.mark.parametrize("status", [ActivityStatus.DRAFT])
def test_draft_activity_has_no_public_feed(client, db, setup, status):
    setup["activity"].status = status
    db.session.commit()
    assert client.get(f"/calendar/activities/{setup['activity'].id}.ics").status_code == 404
    assert client.get(f"/calendar/shifts/{setup['shift'].id}.ics").status_code == 404


@pytest.mark.parametrize("role", [None, "resident", "organizer", "admin"])
def test_public_feeds_open_to_everyone(client, setup, login, role):
    if role:
        login(setup[role])
    for url in [
        "/calendar/all.ics",
        f"/calendar/activities/{setup['activity'].id}.ics",
        f"/calendar/shifts/{setup['shift'].id}.ics",
    ]:
        assert client.get(url).status_code == 200


@NO_QUERY_DIFFERENCE
@pytest.mark.parametrize("method", ["post", "put", "delete"])
def test_feeds_are_read_only(client, setup, method):
    r = getattr(client, method)(f"/calendar/me/{setup['tokens']['resident']}.ics")
    assert r.status_code == 405


def test_personal_feed_shows_only_own_signups(client, setup, make_shift, make_signup, make_user):
    other = make_shift(activity=setup["activity"], starts_in=timedelta(days=3))
    make_signup(other, user=make_user("别人"))
    cal = icalendar.Calendar.from_ical(
        client.get(f"/calendar/me/{setup['tokens']['resident']}.ics").data
    )
    uids = {str(e["UID"]) for e in cal.walk("VEVENT")}
    assert uids == {f"shift-{setup['shift'].id}@portal.test"}


def test_signup_change_changes_personal_etag(client, db, setup, make_shift, make_signup):
    url = f"/calendar/me/{setup['tokens']['resident']}.ics"
    first = client.get(url).headers["ETag"]
    make_signup(
        make_shift(activity=setup["activity"], starts_in=timedelta(days=9)), user=setup["resident"]
    )
    assert client.get(url).headers["ETag"] != first


def test_unit_feed_etag_follows_signups(client, setup, make_signup, make_user):
    url = f"/calendar/units/{setup['unit'].id}/{setup['tokens']['organizer']}.ics"
    first = client.get(url)
    make_signup(setup["shift"], user=make_user("新人"))
    second = client.get(url, headers={"If-None-Match": first.headers["ETag"]})
    assert second.status_code == 200
    assert "已报名：2/3" in second.data.decode().replace("\r\n ", "")


# --- logs -----------------------------------------------------------------------------------


def test_redact_filter_hides_tokens_in_werkzeug_style_lines():
    token = "abcDEF123_-" * 4
    record = logging.LogRecord(
        "werkzeug",
        logging.INFO,
        __file__,
        1,
        '%s - - [%s] "%s" %s %s',
        ("127.0.0.1", "now", f"GET /calendar/me/{token}.ics HTTP/1.1", 200, "-"),
        None,
    )
    RedactFeedTokens().filter(record)
    assert token not in record.getMessage()
    assert "/calendar/me/***.ics" in record.getMessage()
    assert redact(f"/calendar/units/3/{token}.ics") == "/calendar/units/3/***.ics"


@NO_QUERY_DIFFERENCE
def test_app_logs_never_print_the_token(client, app, setup, caplog, monkeypatch):
    token = setup["tokens"]["resident"]

    def boom(*args, **kwargs):
        raise RuntimeError("feed failed")

    monkeypatch.setattr(services, "feed_body", boom)
    app.config["PROPAGATE_EXCEPTIONS"] = False
    with caplog.at_level(logging.DEBUG):
        r = client.get(f"/calendar/me/{token}.ics")
    assert r.status_code == 500
    assert "/calendar/me/***.ics" in caplog.text
    assert token not in caplog.text
    assert logging.getLogger("werkzeug").filters  # the request log is filtered too


# --- single shift ---------------------------------------------------------------------------


def test_single_shift_download(client, setup):
    r = client.get(f"/calendar/shifts/{setup['shift'].id}.ics")
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "text/calendar; charset=utf-8"
    assert r.headers["Content-Disposition"].startswith("attachment; filename=")
    cal = icalendar.Calendar.from_ical(r.data)
    assert len(list(cal.walk("VEVENT"))) == 1
    assert b"REFRESH-INTERVAL" not in r.data
    again = client.get(
        f"/calendar/shifts/{setup['shift'].id}.ics", headers={"If-None-Match": r.headers["ETag"]}
    )
    assert again.status_code == 304


@NO_QUERY_DIFFERENCE
def test_activity_page_links_single_shift_and_advertises_feed(client, setup, login):
    # the one-shot .ics sits on the visitor's own shifts (setup's resident holds this one)
    login(setup["resident"])
    html = client.get(f"/activities/{setup['activity'].id}").get_data(as_text=True)
    assert f"/calendar/shifts/{setup['shift'].id}.ics" in html
    assert re.search(
        r'<link rel="alternate" type="text/calendar" title="[^"]+" href="[^"]*'
        rf'/calendar/activities/{setup["activity"].id}\.ics">',
        html,
    )


@pytest.mark.parametrize(
    "page,feed",
    [
        ("/", "/calendar/all.ics"),
        ("zone", "/calendar/zones/{id}.ics"),
        ("programme", "/calendar/programmes/{id}.ics"),
    ],
)
def test_pages_advertise_their_feed(client, setup, make_zone, make_programme, page, feed):
    if page == "zone":
        obj = make_zone()
        page, feed = f"/zones/{obj.id}", feed.format(id=obj.id)
    elif page == "programme":
        obj = make_programme()
        page, feed = f"/programmes/{obj.id}", feed.format(id=obj.id)
    html = client.get(page).get_data(as_text=True)
    links = re.findall(
        r'<link rel="alternate" type="text/calendar" title="([^"]+)" href="([^"]+)"', html
    )
    assert links and links[0][1].endswith(feed)
    assert client.get(links[0][1]).status_code == 200


# --- subscription page ----------------------------------------------------------------------


@NO_QUERY_DIFFERENCE
def test_subscribe_requires_login(client):
    r = client.get("/calendar/subscribe")
    assert r.status_code == 302 and "/login" in r.headers["Location"]
    assert client.post("/calendar/subscribe/new").status_code == 302
    assert client.post("/calendar/subscribe/reminder", data={"minutes": "30"}).status_code == 302


def test_subscribe_flow_shows_link_once(client, db, login, make_user):
    user = login(make_user("王居民"))
    page = client.get("/calendar/subscribe").get_data(as_text=True)
    assert "生成我的订阅链接" in page
    r = client.post("/calendar/subscribe/new")
    assert r.status_code == 302
    page = client.get("/calendar/subscribe").get_data(as_text=True)
    match = re.search(r'value="(http://portal.test/calendar/me/([A-Za-z0-9_-]+)\.ics)"', page)
    assert match, page
    https, token = match.groups()
    assert f'href="webcal://portal.test/calendar/me/{token}.ics"' in page
    assert "<svg" in page  # the QR code, inline
    assert client.get(f"/calendar/me/{token}.ics").status_code == 200
    # later visits: no secret shown, only the state and the reset button
    later = client.get("/calendar/subscribe")
    assert token not in later.get_data(as_text=True)
    assert "已订阅" in later.get_data(as_text=True)
    assert later.headers["Cache-Control"] == "no-store"
    # reset: old link dies at once
    client.post("/calendar/subscribe/new")
    assert client.get(f"/calendar/me/{token}.ics").status_code == 410
    actions = [a.action for a in db.session.scalars(db.select(AuditEntry))]
    assert actions == ["calendar.token_create", "calendar.token_reset"]
    assert user.id


@NO_QUERY_DIFFERENCE
def test_reset_needs_csrf(app, client, login, make_user, db):
    app.config["WTF_CSRF_ENABLED"] = True
    login(make_user())
    r = client.post("/calendar/subscribe/new")
    assert r.status_code == 400
    assert db.session.scalars(db.select(CalendarToken)).all() == []


@NO_QUERY_DIFFERENCE
@pytest.mark.parametrize(
    "value,ok",
    [
        ("30", True),
        ("0", True),
        ("1440", True),
        ("7", False),
        ("abc", False),
        ("", False),
        ("-30", False),
        ("9" * 50, False),
    ],
)
def test_reminder_form_bad_input(client, db, login, make_user, token_for, value, ok):
    user = login(make_user())
    token_for(user)
    r = client.post("/calendar/subscribe/reminder", data={"minutes": value})
    assert r.status_code == 302
    token = services.active_token(user)
    db.session.refresh(token)
    if ok:
        assert token.alarm_minutes == (int(value) or None)
    else:
        assert token.alarm_minutes is None


@NO_QUERY_DIFFERENCE
def test_reminder_without_link_is_refused(client, db, login, make_user):
    login(make_user())
    r = client.post("/calendar/subscribe/reminder", data={"minutes": "30"})
    assert r.status_code == 302
    assert "请先生成日历订阅链接" in client.get("/calendar/subscribe").get_data(as_text=True)


@pytest.mark.parametrize(
    "ua,platform",
    [
        ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) MicroMessenger/8.0.40", "wechat"),
        ("Mozilla/5.0 (Linux; Android 13; 22081212C Build/TKQ1) MicroMessenger/8.0", "wechat"),
        ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Safari/604.1", "iphone"),
        (
            "Mozilla/5.0 (Linux; U; Android 13; zh-cn; Redmi Note 12) XiaoMi/MiuiBrowser/17",
            "xiaomi",
        ),
        ("Mozilla/5.0 (Linux; Android 12; HUAWEI P50) HuaweiBrowser/13", "android"),
        ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/120", "desktop"),
        ("", "desktop"),
    ],
)
def test_platform_from_user_agent(ua, platform):
    assert platform_of(ua) == platform


@NO_QUERY_DIFFERENCE
def test_wechat_page_shows_open_in_browser_and_copy_box(client, login, make_user):
    login(make_user())
    client.post("/calendar/subscribe/new")
    ua = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) MicroMessenger/8.0.40"
    page = client.get("/calendar/subscribe", headers={"User-Agent": ua}).get_data(as_text=True)
    assert "点击右上角 ··· 选择在浏览器打开" in page
    assert 'readonly value="http://portal.test/calendar/me/' in page
    assert "data-copy" in page and "<svg" in page
    assert 'href="webcal://' not in page  # a link that silently fails is not offered
    assert page.count("<details>") == 4


def test_organizer_sees_unit_feed_links(client, login, make_user, make_unit):
    unit = make_unit("区文明办")
    login(make_user(units=[unit]))
    client.post("/calendar/subscribe/new")
    page = client.get("/calendar/subscribe").get_data(as_text=True)
    match = re.search(rf'value="(http://portal.test/calendar/units/{unit.id}/[^"]+\.ics)"', page)
    assert match
    assert client.get(match.group(1)).status_code == 200


# --- a subscriber sees a cancellation arrive, through the real services ---------------------


def test_subscriber_sees_cancellation_arrive(client, db, make_shift, make_user, token_for):
    """Sign up with the sign-up service, subscribe, cancel with the organizer service."""
    import recurring_ical_events

    from portal.organize import services as organize
    from portal.signups import services as signups

    shift = make_shift(starts_in=timedelta(days=2))
    organizer = make_user("李组织", units=[shift.activity.unit])
    resident = make_user("王居民")
    signups.sign_up(resident, shift.id)
    db.session.commit()
    url = f"/calendar/me/{token_for(resident)}.ics"

    def fetch(etag=None):
        headers = {"If-None-Match": etag} if etag else {}
        return client.get(url, headers=headers)

    def seen(body):
        cal = icalendar.Calendar.from_ical(body)
        start = shift.starts_at.date() - timedelta(days=1)
        return {
            str(e["UID"]): e
            for e in recurring_ical_events.of(cal).between(start, start + timedelta(days=3))
        }

    first = fetch()
    uid = f"shift-{shift.id}@portal.test"
    assert str(seen(first.data)[uid]["STATUS"]) == "CONFIRMED"
    assert fetch(first.headers["ETag"]).status_code == 304  # nothing changed: cheap

    organize.cancel_shift(organizer, db.session.get(type(shift), shift.id), "暴雨预警")
    db.session.commit()
    second = fetch(first.headers["ETag"])
    assert second.status_code == 200  # the calendar program's conditional GET gets news
    event = seen(second.data)[uid]
    assert str(event["STATUS"]) == "CANCELLED"
    assert str(event["SUMMARY"]).startswith("【已取消】")
    assert int(event["SEQUENCE"]) > int(seen(first.data)[uid]["SEQUENCE"])
    assert "暴雨预警" in str(event["DESCRIPTION"])


@NO_QUERY_DIFFERENCE
def test_own_shift_card_points_to_subscription(client, setup, login):
    url = f"/activities/{setup['activity'].id}"
    assert "/calendar/subscribe" not in client.get(url).get_data(as_text=True)
    login(setup["resident"])  # signed up for the shift
    assert "/calendar/subscribe" in client.get(url).get_data(as_text=True)


def test_if_none_match_uses_weak_comparison(client, setup):
    """A proxy that compresses may turn the ETag weak; the client's W/"…" still gets 304."""
    url = f"/calendar/me/{setup['tokens']['resident']}.ics"
    etag = client.get(url).headers["ETag"]
    assert client.get(url, headers={"If-None-Match": "W/" + etag}).status_code == 304
    assert client.get(url, headers={"If-None-Match": f'"x", {etag}'}).status_code == 304
    assert client.get(url, headers={"If-None-Match": "*"}).status_code == 304


# --- editing an activity raises SEQUENCE for every change the event shows --------------------


_VOLATILE = {"SEQUENCE", "DTSTAMP", "LAST-MODIFIED"}


@pytest.mark.parametrize(
    ("field", "shown"),
    [
        ("zone_id", True),  # DESCRIPTION: 片区
        ("unit_id", True),  # DESCRIPTION: 组织单位, ORGANIZER
        ("title", True),
        ("place", True),
        ("latitude", True),
        ("contact_name", False),  # not in the feed: no update needed
        ("requirements", False),
    ],
)
def test_activity_edit_raises_sequence_when_the_event_changes(
    client, db, make_zone, make_unit, make_activity, make_shift, make_user, field, shown
):
    from portal.organize.services import ACTIVITY_FIELDS, update_activity

    activity = make_activity(latitude=24.9, longitude=118.6)
    make_shift(activity=activity)
    admin = make_user("管理员", is_admin=True)
    url = f"/calendar/activities/{activity.id}.ics"

    def event():
        return icalendar.Calendar.from_ical(client.get(url).data).walk("VEVENT")[0]

    before = event()
    data = {f: getattr(activity, f) for f in ACTIVITY_FIELDS}
    data["programme_ids"] = []
    data[field] = {
        "zone_id": lambda: make_zone("新片区").id,
        "unit_id": lambda: make_unit("新单位").id,
        "title": lambda: "新的标题",
        "place": lambda: "新的地点",
        "latitude": lambda: 25.1,
        "contact_name": lambda: "新联系人",
        "requirements": lambda: "新的要求",
    }[field]()
    update_activity(admin, db.session.get(type(activity), activity.id), data)
    db.session.commit()
    services.clear_caches()
    after = event()
    changed = {
        k for k in set(before) | set(after) if k not in _VOLATILE and before.get(k) != after.get(k)
    }
    assert bool(changed) is shown
    # Whatever the event shows changed, calendars must be told with a higher SEQUENCE.
    assert (int(after["SEQUENCE"]) > int(before["SEQUENCE"])) is shown


@pytest.mark.parametrize(
    ("change", "raised"),
    [
        ({"post_name": "北门岗"}, True),  # SUMMARY shows the post
        ({"capacity": 5}, False),
    ],
)
def test_shift_edit_raises_sequence_when_the_event_changes(
    client, db, make_shift, make_user, change, raised
):
    from portal.organize.services import SHIFT_FIELDS, update_shift

    shift = make_shift(post_name="南门岗")
    admin = make_user("管理员", is_admin=True)
    url = f"/calendar/activities/{shift.activity_id}.ics"

    def sequence():
        cal = icalendar.Calendar.from_ical(client.get(url).data)
        return int(cal.walk("VEVENT")[0]["SEQUENCE"])

    before = sequence()
    values = {f: getattr(shift, f) for f in SHIFT_FIELDS} | change
    update_shift(admin, db.session.get(type(shift), shift.id), values)
    db.session.commit()
    services.clear_caches()
    assert (sequence() > before) is raised


def test_a_new_reminder_time_shows_in_the_feed_at_once(
    client, db, login, make_user, make_shift, make_signup, token_for
):
    """The feed's probe is kept by data version: changing the alarm (calendar_tokens) must
    move that version, so the next fetch has the new VALARM and a new ETag."""
    user = login(make_user())
    make_signup(make_shift(), user=user)
    token = token_for(user)
    url = f"/calendar/me/{token}.ics"
    before = client.get(url)
    assert b"BEGIN:VALARM" not in before.data
    assert client.get(url, headers={"If-None-Match": before.headers["ETag"]}).status_code == 304
    assert client.post("/calendar/subscribe/reminder", data={"minutes": "30"}).status_code == 302
    after = client.get(url, headers={"If-None-Match": before.headers["ETag"]})
    assert after.status_code == 200
    assert after.headers["ETag"] != before.headers["ETag"]
    assert b"BEGIN:VALARM" in after.data and b"TRIGGER:-PT30M" in after.data

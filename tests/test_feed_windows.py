"""Feed windows, sizes, conditional requests, headers and cache correctness (issues 12, 13).

Each public feed carries a bounded window (portal.feeds.services.WINDOWS) so that
subscribing never floods a phone; bodies stay under 1 MB; a copy is revalidated with the ETag
or with If-Modified-Since; and whatever is cached (bodies, events, statements) always equals
a build from scratch after any edit, on both databases.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import icalendar
import pytest
import recurring_ical_events
import vobject
from werkzeug.http import http_date, parse_date

from portal.feeds import services
from portal.models import ShiftStatus, SignupStatus
from portal.timeutil import local_to_utc, local_today

pytestmark = pytest.mark.both_databases

HOST = "portal.test"


def uids(body: bytes) -> set[str]:
    return {str(e["UID"]) for e in icalendar.Calendar.from_ical(body).walk("VEVENT")}


def uid(shift) -> str:
    return f"shift-{shift.id}@{HOST}"


@pytest.fixture
def feeds(db, make_zone, make_unit, make_programme, make_activity, make_user, token_for):
    """One activity reachable through every kind of feed, with a resident and an organizer."""
    zone, unit, programme = make_zone("立后"), make_unit("区文明办"), make_programme("五进")
    activity = make_activity(zone=zone, unit=unit, programmes=[programme])
    resident = make_user("王居民")
    organizer = make_user("李组织", units=[unit])
    urls = {
        "all": "/calendar/all.ics",
        "zone": f"/calendar/zones/{zone.id}.ics",
        "programme": f"/calendar/programmes/{programme.id}.ics",
        "activity": f"/calendar/activities/{activity.id}.ics",
        "personal": f"/calendar/me/{token_for(resident)}.ics",
        "unit": f"/calendar/units/{unit.id}/{token_for(organizer)}.ics",
    }
    return {
        "zone": zone,
        "unit": unit,
        "programme": programme,
        "activity": activity,
        "resident": resident,
        "organizer": organizer,
        "urls": urls,
    }


def _at(days: int, hour: int, minute: int = 0) -> datetime:
    """A local wall-clock time ``days`` from today, in UTC."""
    return local_to_utc(local_today() + timedelta(days=days), time(hour, minute))


# --- the window rules, as a table -------------------------------------------------------------

# (kind, start: (days from today, hour), length in hours, cancelled, in the feed?)
WINDOW_CASES = [
    # public feeds: today to 30 days ahead; a cancelled shift until the day after its end
    ("zone", (-1, 9), 2, False, False),  # ended yesterday
    ("zone", (-1, 23), 2, False, True),  # overnight into today
    ("zone", (0, 0), 1, False, True),  # earlier today, already over
    ("zone", (3, 9), 2, False, True),  # upcoming
    ("zone", (30, 9), 2, False, True),  # last day inside
    ("zone", (31, 9), 2, False, False),  # just outside
    ("zone", (0, 0), 1, True, True),  # cancelled, over today: still shown as cancelled
    ("zone", (-1, 9), 2, True, False),  # cancelled, ended yesterday
    ("zone", (5, 9), 2, True, True),  # cancelled, upcoming
    ("all", (-1, 9), 2, False, False),
    ("all", (30, 9), 2, False, True),
    ("all", (31, 9), 2, False, False),
    ("programme", (31, 9), 2, False, False),
    ("programme", (2, 9), 2, False, True),
    # an activity's own feed: today to a year ahead
    ("activity", (-1, 9), 2, False, False),
    ("activity", (300, 9), 2, False, True),
    ("activity", (366, 9), 2, False, False),
    # an organizer's unit feed: a week back to 90 days ahead
    ("unit", (-6, 9), 2, False, True),
    ("unit", (-8, 9), 2, False, False),
    ("unit", (90, 9), 2, False, True),
    ("unit", (91, 9), 2, False, False),
    ("unit", (-3, 9), 2, True, False),  # cancelled and over before yesterday
    # a person's own feed: 60 days back (attendance, hours) to a year ahead
    ("personal", (-59, 9), 2, False, True),
    ("personal", (-61, 9), 2, False, False),
    ("personal", (-1, 9), 2, True, True),  # cancelled, ended yesterday: until today ends
    ("personal", (-2, 9), 2, True, False),
    ("personal", (365, 9), 2, False, True),
    ("personal", (366, 9), 2, False, False),
]


@pytest.mark.parametrize("kind,start,hours,cancelled,shown", WINDOW_CASES)
def test_window_rules(
    client, db, feeds, make_shift, make_signup, kind, start, hours, cancelled, shown
):
    begins = _at(*start)
    shift = make_shift(
        activity=feeds["activity"], starts_at=begins, ends_at=begins + timedelta(hours=hours)
    )
    if cancelled:
        shift.status, shift.cancelled_at, shift.sequence = ShiftStatus.CANCELLED, begins, 1
    make_signup(shift, user=feeds["resident"])
    db.session.commit()
    body = client.get(feeds["urls"][kind]).data
    assert (uid(shift) in uids(body)) is shown
    if shown and cancelled:
        event = [e for e in icalendar.Calendar.from_ical(body).walk("VEVENT")][0]
        assert str(event["STATUS"]) == "CANCELLED"


@pytest.mark.parametrize("kind", ["all", "zone", "programme", "activity", "unit"])
def test_at_most_max_events_the_first_in_time(client, db, feeds, make_shift, monkeypatch, kind):
    rule = services.WINDOWS[kind]
    monkeypatch.setitem(
        services.WINDOWS, kind, services.WindowRule(rule.days_back, rule.days_ahead, max_events=3)
    )
    services.clear_caches()
    shifts = [make_shift(activity=feeds["activity"], starts_at=_at(1 + i, 9)) for i in range(5)]
    body = client.get(feeds["urls"][kind]).data
    assert uids(body) == {uid(s) for s in shifts[:3]}


def test_public_feeds_describe_their_window(client, feeds):
    for kind in ["all", "zone", "programme", "activity"]:
        body = client.get(feeds["urls"][kind]).data
        v = vobject.readOne(body.decode())
        assert v.contents["x-wr-caldesc"][0].value == services.window_text(kind)
    assert "今天起30天内" in services.window_text("all")
    assert "最多200个" in services.window_text("zone")


# --- size -----------------------------------------------------------------------------------


def test_the_largest_feed_stays_under_1_mb_with_whole_events(
    db, client, feeds, make_zone, make_unit, make_activity, monkeypatch
):
    """500 shifts with every text at its longest (and long cancellation reasons), in a feed
    allowed 1,000 events: the byte budget, not the count, ends it."""
    from portal.models import Shift

    rule = services.WINDOWS["zone"]
    monkeypatch.setitem(
        services.WINDOWS,
        "zone",
        services.WindowRule(rule.days_back, rule.days_ahead, max_events=1000),
    )
    services.clear_caches()

    long_zone = make_zone("长" * 60)
    long_unit = make_unit("长单位" * 26)
    activity = make_activity(
        title="很长的活动标题😀，；" * 12,
        place="很长的地点“引号”" * 22,
        zone=long_zone,
        unit=long_unit,
        latitude=24.9,
        longitude=118.6,
    )
    start = _at(1, 7)
    db.session.add_all(
        Shift(
            activity=activity,
            starts_at=start + timedelta(minutes=i),
            ends_at=start + timedelta(minutes=i + 90),
            capacity=10,
            post_name="岗" * 60,
            status=ShiftStatus.CANCELLED,
            cancelled_at=start,
            sequence=1,
            cancel_reason="因天气原因取消，请留意通知。" * 20,
        )
        for i in range(500)
    )
    db.session.commit()
    body = client.get(f"/calendar/zones/{long_zone.id}.ics").data
    assert len(body) < 1_000_000
    assert body.endswith(b"END:VEVENT\r\nEND:VCALENDAR\r\n")
    count = body.count(b"BEGIN:VEVENT")
    assert 0 < count < 500  # whole events left off at the end, never cut
    assert len(uids(body)) == count
    vobject.readOne(body.decode())


# --- conditional requests -------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["all", "zone", "programme", "activity", "personal", "unit"])
def test_304_by_etag_and_by_if_modified_since(client, feeds, make_shift, make_signup, kind):
    shift = make_shift(activity=feeds["activity"], starts_in=timedelta(days=1))
    make_signup(shift, user=feeds["resident"])
    url = feeds["urls"][kind]
    first = client.get(url)
    assert first.status_code == 200
    modified = first.headers["Last-Modified"]
    assert parse_date(modified) is not None
    assert client.get(url, headers={"If-None-Match": first.headers["ETag"]}).status_code == 304
    same = client.get(url, headers={"If-Modified-Since": modified})
    assert same.status_code == 304 and same.data == b""
    assert same.headers["ETag"] == first.headers["ETag"]  # (a 304 carries no Last-Modified)
    older = http_date(parse_date(modified) - timedelta(seconds=1))
    assert client.get(url, headers={"If-Modified-Since": older}).status_code == 200
    # If-None-Match decides when both are sent (RFC 9110 13.2.2)
    both = client.get(url, headers={"If-None-Match": '"other"', "If-Modified-Since": modified})
    assert both.status_code == 200
    assert client.get(url, headers={"If-Modified-Since": "not a date"}).status_code == 200


@pytest.mark.parametrize("change", ["edit", "cancel", "delete", "leave_zone"])
def test_if_modified_since_sees_every_change(
    client, db, feeds, make_shift, make_zone, make_user, change
):
    """Last-Modified moves with every change, even one that only takes an event away."""
    from portal.models import Shift
    from portal.organize.services import activities as organize_activities
    from portal.organize.services import shifts as organize_shifts

    admin = make_user("管理员", is_admin=True)
    keep = make_shift(activity=feeds["activity"], starts_in=timedelta(days=1))
    shift = make_shift(activity=feeds["activity"], starts_in=timedelta(days=2))
    url = feeds["urls"]["zone"]
    before = client.get(url)
    since = before.headers["Last-Modified"]
    # the change happens a second later than the copy the calendar holds
    for row in db.session.scalars(db.select(Shift)):
        row.updated_at = row.updated_at - timedelta(seconds=5)
    feeds["activity"].updated_at = feeds["activity"].updated_at - timedelta(seconds=5)
    db.session.commit()
    since = client.get(url).headers["Last-Modified"]
    import time as clock

    clock.sleep(1.1)
    fresh = db.session.get(Shift, shift.id)
    if change == "edit":
        values = {f: getattr(fresh, f) for f in organize_shifts.SHIFT_FIELDS}
        values["post_name"] = "北门岗"
        organize_shifts.update_shift(admin, fresh, values)
    elif change == "cancel":
        organize_shifts.cancel_shift(admin, fresh, "暴雨")
    elif change == "delete":
        organize_shifts.delete_shift(admin, fresh)
    else:
        data = {f: getattr(feeds["activity"], f) for f in organize_activities.ACTIVITY_FIELDS}
        data["programme_ids"] = [feeds["programme"].id]
        data["zone_id"] = make_zone("别的片区").id
        organize_activities.update_activity(admin, feeds["activity"], data)
    db.session.commit()
    after = client.get(url, headers={"If-Modified-Since": since})
    assert after.status_code == 200
    assert parse_date(after.headers["Last-Modified"]) > parse_date(since)
    if change in {"delete", "leave_zone"}:
        assert uid(shift) not in uids(after.data)
    assert keep.id


# --- headers --------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["all", "zone", "programme", "activity"])
def test_public_feeds_are_cacheable_without_vary_cookie(client, feeds, make_shift, kind):
    make_shift(activity=feeds["activity"])
    for r in [client.get(feeds["urls"][kind])]:
        r304 = client.get(feeds["urls"][kind], headers={"If-None-Match": r.headers["ETag"]})
        for response in (r, r304):
            assert "Cookie" not in response.headers.get("Vary", "")
            assert "Set-Cookie" not in response.headers
            assert "public" in response.headers["Cache-Control"]
            assert "max-age" in response.headers["Cache-Control"]
        assert "Last-Modified" in r.headers


@pytest.mark.parametrize("kind", ["personal", "unit"])
def test_personal_feeds_are_private(client, feeds, kind):
    r = client.get(feeds["urls"][kind])
    control = r.headers["Cache-Control"]
    assert "public" not in control
    assert "private" in control or "no-store" in control  # never kept by a shared cache
    assert "noindex" in r.headers["X-Robots-Tag"]
    assert "Set-Cookie" not in r.headers


# --- statements -----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["all", "zone", "programme", "activity", "personal", "unit"])
def test_statements_constant_in_data_size(
    client, db, feeds, make_shift, make_signup, count_queries, kind
):
    url = feeds["urls"][kind]

    def counts() -> tuple[int, int, int]:
        services.clear_caches()
        client.get(url)  # statements compiled once per process: not what we count
        services.clear_caches()
        with count_queries() as cold:
            r = client.get(url)
        with count_queries() as warm:
            assert client.get(url, headers={"If-None-Match": r.headers["ETag"]}).status_code == 304
        with count_queries() as again:
            assert client.get(url, headers={"If-None-Match": r.headers["ETag"]}).status_code == 304
        assert all("shifts" not in q for q in again.statements)  # the probe's row is kept
        return len(cold), len(warm), len(again)

    def more(n):
        for i in range(n):
            shift = make_shift(activity=feeds["activity"], starts_in=timedelta(days=1, hours=i))
            make_signup(shift, user=feeds["resident"])

    more(2)
    small = counts()
    more(20)
    large = counts()
    assert small == large
    assert large[1] == 1  # the 304: the data version alone (the probe's row is kept)
    assert large[2] == 1
    assert large[0] <= 5


# --- caches equal the truth after every edit --------------------------------------------------


def _fresh_body(app, url: str) -> bytes:
    """The body built from nothing, in another client, with every cache emptied."""
    services.clear_caches()
    return app.test_client().get(url).data


EDITS = [
    "sign_up",
    "cancel_signup",
    "cancel_shift",
    "move_shift",
    "cancel_activity",
    "rename_zone",
    "rename_unit",
    "edit_activity",
]


@pytest.mark.parametrize("edit", EDITS)
def test_cached_feeds_equal_a_fresh_build_after_edits(
    app, client, db, feeds, make_shift, make_user, edit
):
    from portal.admin import services as admin
    from portal.models import Shift, Signup
    from portal.organize.services import activities as organize_activities
    from portal.organize.services import shifts as organize_shifts
    from portal.signups import services as signups

    admin_user = make_user("管理员", is_admin=True)
    shifts = [
        make_shift(activity=feeds["activity"], starts_in=timedelta(days=1 + i)) for i in range(3)
    ]
    signups.sign_up(feeds["resident"], shifts[0].id)
    db.session.commit()
    urls = feeds["urls"]
    etags = {k: client.get(u).headers["ETag"] for k, u in urls.items()}  # warm every cache

    # the person's own shift, except for a new sign-up
    target = db.session.get(Shift, shifts[1 if edit == "sign_up" else 0].id)
    if edit == "sign_up":
        signups.sign_up(feeds["resident"], target.id)
    elif edit == "cancel_signup":
        signup = db.session.scalars(db.select(Signup)).first()
        signups.cancel_signup(feeds["resident"], signup.id)
    elif edit == "cancel_shift":
        organize_shifts.cancel_shift(admin_user, target, "设备检修")
    elif edit == "move_shift":
        values = {f: getattr(target, f) for f in organize_shifts.SHIFT_FIELDS}
        values["starts_at"] += timedelta(hours=3)
        values["ends_at"] += timedelta(hours=3)
        organize_shifts.update_shift(admin_user, target, values)
    elif edit == "cancel_activity":
        organize_activities.cancel_activity(admin_user, feeds["activity"], "场地调整")
    elif edit == "rename_zone":
        admin.save_zone(admin_user, feeds["zone"], admin.ZoneData(name="立后新区"))
    elif edit == "rename_unit":
        admin.save_unit(admin_user, feeds["unit"], "区文明办（新）", str(feeds["unit"].kind))
    else:
        data = {f: getattr(feeds["activity"], f) for f in organize_activities.ACTIVITY_FIELDS}
        data["programme_ids"] = [feeds["programme"].id]
        data["title"] = "新的活动名称"
        organize_activities.update_activity(admin_user, feeds["activity"], data)
    db.session.commit()

    changed = set()
    for kind, url in urls.items():
        served = client.get(url)  # through the warm caches
        if served.headers["ETag"] != etags[kind]:
            changed.add(kind)
        assert served.data == _fresh_body(app, url), (edit, kind)
        for _ in range(2):  # and warm again, now from the caches filled after the edit
            assert client.get(url).data == served.data
    shown_everywhere = {
        "cancel_shift",
        "move_shift",
        "cancel_activity",
        "rename_zone",
        "rename_unit",
        "edit_activity",
    }
    if edit in shown_everywhere:
        assert changed == set(urls), edit
    else:  # a sign-up shows in the person's feed and in the unit's counts
        assert {"personal", "unit"} <= changed, edit


# --- every feed still reads in independent parsers --------------------------------------------


@pytest.mark.parametrize("kind", ["all", "zone", "programme", "activity", "personal", "unit"])
def test_independent_parsers_accept_every_feed(client, db, feeds, make_shift, make_signup, kind):
    now = datetime.now(UTC).replace(microsecond=0)
    live = make_shift(activity=feeds["activity"], starts_at=now + timedelta(days=1))
    off = make_shift(
        activity=feeds["activity"],
        starts_at=now + timedelta(days=2),
        status=ShiftStatus.CANCELLED,
        cancelled_at=now,
        sequence=1,
        cancel_reason="原因：暴雨;风,大\\",
    )
    for shift in (live, off):
        make_signup(shift, user=feeds["resident"], status=SignupStatus.CONFIRMED)
    body = client.get(feeds["urls"][kind]).data
    v = vobject.readOne(body.decode())
    assert {e.uid.value for e in v.vevent_list} == {uid(live), uid(off)}
    cal = icalendar.Calendar.from_ical(body)
    found = recurring_ical_events.of(cal).between(now, now + timedelta(days=3))
    assert {str(e["UID"]) for e in found} == {uid(live), uid(off)}
    assert {str(e["STATUS"]) for e in found} == {"CONFIRMED", "CANCELLED"}


# --- bodies shared by every worker through Redis ----------------------------------------------


def test_bodies_are_shared_through_redis(app, client, feeds, make_shift, monkeypatch):
    """A body built by one worker is served by another (here: after this process forgot it)."""
    redis = pytest.importorskip("redis")
    url = "redis://127.0.0.1:6379/15"
    store = redis.Redis.from_url(url, socket_connect_timeout=0.5)
    try:
        store.ping()
    except redis.RedisError:
        pytest.skip("no Redis on 127.0.0.1:6379")
    app.config["FEED_CACHE_URL"] = url
    make_shift(activity=feeds["activity"])
    first = client.get(feeds["urls"]["zone"])
    key = services.SharedBodies.PREFIX + first.headers["ETag"].strip('"')
    try:
        assert store.get(key) == first.data
        assert 0 < store.ttl(key) <= services.SharedBodies.TTL_SECONDS
        services.BODY_CACHE.clear()
        services.EVENT_CACHE.clear()

        def no_build(*args, **kwargs):
            raise AssertionError("built again although another worker had built it")

        monkeypatch.setattr(services, "build_body", no_build)
        assert client.get(feeds["urls"]["zone"]).data == first.data
    finally:
        store.delete(key)


def test_a_redis_that_fails_only_costs_a_rebuild(app, client, feeds, make_shift):
    app.config["FEED_CACHE_URL"] = "redis://127.0.0.1:1/0"  # nothing listens there
    make_shift(activity=feeds["activity"])
    r = client.get(feeds["urls"]["zone"])
    assert r.status_code == 200 and b"BEGIN:VEVENT" in r.data


@pytest.mark.parametrize("kind", ["zone", "all", "programme", "activity", "unit", "personal"])
def test_feeds_of_a_big_district_with_large_shift_ids(
    client, db, feeds, make_shift, make_signup, kind
):
    """Shift ids in the hundred thousands (the big district): the ETag sums stay exact."""
    shift = make_shift(activity=feeds["activity"], id=123_457, starts_in=timedelta(days=2))
    make_signup(shift, feeds["resident"])
    response = client.get(feeds["urls"][kind])
    assert response.status_code == 200
    assert b"shift-123457@" in response.data
    again = client.get(feeds["urls"][kind], headers={"If-None-Match": response.headers["ETag"]})
    assert again.status_code == 304

"""Every numbered point of CALENDAR.md as its own test, over every kind of feed.

Output is parsed with icalendar, vobject and recurring-ical-events over awkward Chinese
text (",;:\\", newlines, emoji, full-width punctuation, names longer than 75 octets).
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

import icalendar
import pytest
import recurring_ical_events
import vobject

from portal.feeds import ical, services
from portal.models import ActivityStatus, CalendarToken, ShiftStatus, SignupStatus
from tests.conftest import built_once

AWKWARD = [
    "逗号,分号;冒号:反斜杠\\结尾",
    "第一行\n第二行\n\n第四行",
    "表情😀🎉👍志愿者🚦",
    "全角标点：，；“引号”（括号）【方括号】——破折号……！？",
    "很长很长的活动标题用来测试折行" * 5,
    "a\\,b\\;c\\n不是换行",
    "混合 ASCII and 中文, with; colons: 和\\反斜杠😀" * 2,
]


@pytest.fixture
def world(
    request,
    db,
    make_zone,
    make_unit,
    make_programme,
    make_activity,
    make_shift,
    make_user,
    make_signup,
    token_for,
):
    """One of every feed, each with at least one event."""
    return built_once(
        request,
        lambda: _world(
            make_zone,
            make_unit,
            make_programme,
            make_activity,
            make_shift,
            make_user,
            make_signup,
            token_for,
        ),
    )


def _world(
    make_zone,
    make_unit,
    make_programme,
    make_activity,
    make_shift,
    make_user,
    make_signup,
    token_for,
):
    zone = make_zone("滨江")
    unit = make_unit("区文明办")
    prog = make_programme("五进")
    activity = make_activity(title="交通文明劝导", zone=zone, unit=unit, programmes=[prog])
    shift = make_shift(activity=activity)
    organizer = make_user("李组织", units=[unit])
    resident = make_user("王居民")
    make_signup(shift, user=resident)
    return {
        "zone": zone,
        "unit": unit,
        "programme": prog,
        "activity": activity,
        "shift": shift,
        "resident": resident,
        "organizer": organizer,
        "resident_token": token_for(resident),
        "organizer_token": token_for(organizer),
    }


def feed_urls(w) -> dict[str, str]:
    return {
        "all": "/calendar/all.ics",
        "zone": f"/calendar/zones/{w['zone'].id}.ics",
        "programme": f"/calendar/programmes/{w['programme'].id}.ics",
        "activity": f"/calendar/activities/{w['activity'].id}.ics",
        "personal": f"/calendar/me/{w['resident_token']}.ics",
        "unit": f"/calendar/units/{w['unit'].id}/{w['organizer_token']}.ics",
        "single": f"/calendar/shifts/{w['shift'].id}.ics",
    }


FEEDS = ["all", "zone", "programme", "activity", "personal", "unit", "single"]
SUBSCRIBED = [f for f in FEEDS if f != "single"]
PERSONAL = ["personal", "unit"]


def parse(body: bytes) -> icalendar.Calendar:
    return icalendar.Calendar.from_ical(body)


def events(body: bytes) -> list:
    return list(parse(body).walk("VEVENT"))


def physical_lines(body: bytes) -> list[bytes]:
    assert body.endswith(b"\r\n")
    return body[:-2].split(b"\r\n")


# --- 1 --------------------------------------------------------------------------------------


@pytest.mark.parametrize("feed", FEEDS)
@pytest.mark.parametrize("accept", [None, "*/*", "text/html", "text/calendar"])
def test_point_01_content_type_with_any_accept_and_head(client, world, feed, accept):
    url = feed_urls(world)[feed]
    headers = {"Accept": accept} if accept else {}
    r = client.get(url, headers=headers)
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "text/calendar; charset=utf-8"
    head = client.head(url, headers=headers)
    assert head.status_code == 200
    assert head.headers["Content-Type"] == "text/calendar; charset=utf-8"
    assert head.data == b""
    assert head.headers["ETag"] == r.headers["ETag"]


# --- 2 --------------------------------------------------------------------------------------


@pytest.mark.parametrize("feed", FEEDS)
def test_point_02_utf8_no_bom_crlf_begin_end(client, world, feed):
    body = client.get(feed_urls(world)[feed]).data
    body.decode("utf-8")
    assert not body.startswith(b"\xef\xbb\xbf")
    assert body.startswith(b"BEGIN:VCALENDAR\r\n")
    assert body.endswith(b"END:VCALENDAR\r\n")
    assert b"\n" not in body.replace(b"\r\n", b"")
    assert b"\r" not in body.replace(b"\r\n", b"")


# --- 3 --------------------------------------------------------------------------------------


def _awkward_world(make_activity, make_shift, make_zone, make_unit, count=None):
    shifts = []
    for i, text in enumerate(AWKWARD[:count]):
        activity = make_activity(
            title=text[:120],
            place=text[:200],
            zone=make_zone(f"片区{i}：{text[:20]}"),
            unit=make_unit(f"单位{i}：{text[:30]}"),
        )
        shifts.append(make_shift(activity=activity, starts_in=timedelta(days=1 + i)))
    return shifts


def test_point_03_physical_lines_at_most_75_octets_each_valid_utf8(
    client, make_activity, make_shift, make_zone, make_unit
):
    _awkward_world(make_activity, make_shift, make_zone, make_unit)
    body = client.get("/calendar/all.ics").data
    lines = physical_lines(body)
    assert any(line.startswith(b" ") for line in lines), "long lines must be folded"
    for line in lines:
        assert len(line) <= 75, line
        line.decode("utf-8")  # a fold never splits a character
        # a fold never splits a backslash escape: no physical line ends in an odd run of "\"
        run = len(line) - len(line.rstrip(b"\\"))
        if run % 2 == 1:
            # allowed only when the next physical line does not continue the escape
            raise AssertionError(f"escape split across a fold: {line!r}")


# --- 4 --------------------------------------------------------------------------------------


@pytest.mark.parametrize("feed", FEEDS)
def test_point_04_byte_identical_strong_etag_and_304(client, world, feed):
    url = feed_urls(world)[feed]
    first = client.get(url)
    services.clear_caches()  # a rebuild from scratch must give the same bytes
    second = client.get(url)
    assert first.data == second.data
    etag = first.headers["ETag"]
    assert re.fullmatch(r'"[0-9a-f]{20,64}"', etag), "strong, quoted"
    assert second.headers["ETag"] == etag
    cached = client.get(url, headers={"If-None-Match": etag})
    assert cached.status_code == 304
    assert cached.data == b""
    assert cached.headers["ETag"] == etag
    other = client.get(url, headers={"If-None-Match": '"something-else"'})
    assert other.status_code == 200
    # No "now" anywhere: DTSTAMP is the event's own last change.
    for event in events(first.data):
        assert event.decoded("DTSTAMP") == event.decoded("LAST-MODIFIED")


def test_point_04_304_costs_one_statement(client, world, count_queries):
    for feed in ["all", "zone", "programme", "activity", "personal", "unit"]:
        url = feed_urls(world)[feed]
        etag = client.get(url).headers["ETag"]
        with count_queries() as counted:
            r = client.get(url, headers={"If-None-Match": etag})
        assert r.status_code == 304
        assert len(counted) <= 1, (feed, counted.statements)


def test_point_04_no_random_calendar_uid(client, world):
    cal = parse(client.get("/calendar/all.ics").data)
    assert "UID" not in cal


# --- 5 --------------------------------------------------------------------------------------


@pytest.mark.parametrize("feed", SUBSCRIBED)
def test_point_05_calendar_properties(client, world, feed):
    body = client.get(feed_urls(world)[feed]).data
    cal = parse(body)
    assert str(cal["VERSION"]) == "2.0"
    assert str(cal["PRODID"]) == ical.PRODID
    assert str(cal["METHOD"]) == "PUBLISH"
    assert str(cal["NAME"]) == str(cal["X-WR-CALNAME"]) and str(cal["NAME"])
    v = vobject.readOne(body.decode())
    assert v.contents["name"][0].value == v.contents["x-wr-calname"][0].value
    assert b"REFRESH-INTERVAL;VALUE=DURATION:PT1H\r\n" in body
    assert b"X-PUBLISHED-TTL:PT1H\r\n" in body
    # every value valid (a bad duration made Xiaomi reject the whole import)
    from icalendar import vDuration

    assert cal["REFRESH-INTERVAL"].dt == timedelta(hours=1)
    assert vDuration.from_ical(str(cal["X-PUBLISHED-TTL"])) == timedelta(hours=1)


@pytest.mark.parametrize("name", ["a,b;c", "第一行\n第二行", "反斜杠\\；全角，", "😀" * 40])
def test_point_05_calendar_name_with_separators_regression(name):
    """icalendar 7.3.x: Calendar.add('NAME', …) writes it unescaped and crashes on "\\n"."""
    body = ical.to_bytes(ical.calendar_frame(name, refresh_minutes=60))
    cal = parse(body)
    # icalendar 7.3 reads these calendar-level properties back raw: still escaped
    escaped = icalendar.vText(name).to_ical().decode()
    assert str(cal["NAME"]) == escaped and str(cal["X-WR-CALNAME"]) == escaped
    v = vobject.readOne(body.decode())
    assert v.contents["x-wr-calname"][0].value == name
    assert v.contents["name"][0].value == name
    assert b"\r\nNAME:" in body and b"\r\nX-WR-CALNAME:" in body


def test_point_05_single_shift_download_has_no_refresh_hints(client, world):
    r = client.get(feed_urls(world)["single"])
    assert b"REFRESH-INTERVAL" not in r.data and b"X-PUBLISHED-TTL" not in r.data
    assert len(events(r.data)) == 1
    disposition = r.headers["Content-Disposition"]
    assert disposition == f'attachment; filename="shift-{world["shift"].id}.ics"'
    assert disposition.isascii()


# --- 6 --------------------------------------------------------------------------------------


@pytest.mark.parametrize("feed", FEEDS)
def test_point_06_stable_unique_uid_and_utc_dtstamp(client, world, make_shift, feed):
    make_shift(activity=world["activity"], starts_in=timedelta(days=5))
    body = client.get(feed_urls(world)[feed]).data
    uids = [str(e["UID"]) for e in events(body)]
    assert len(uids) == len(set(uids))
    assert f"shift-{world['shift'].id}@portal.test" in uids
    for uid in uids:
        assert re.fullmatch(r"shift-\d+@portal\.test", uid)
    for line in body.split(b"\r\n"):
        if line.startswith(b"DTSTAMP"):
            assert re.fullmatch(rb"DTSTAMP:\d{8}T\d{6}Z", line)


# --- 7 --------------------------------------------------------------------------------------


@pytest.mark.parametrize("feed", FEEDS)
def test_point_07_no_floating_times_no_fake_tzids(client, world, feed):
    body = client.get(feed_urls(world)[feed]).data
    text = body.decode()
    tzids = set(re.findall(r"TZID=([^:;]+)", text))
    defined = set(re.findall(r"\r\nTZID:([^\r]+)", text))
    assert tzids <= defined
    for tzid in tzids | defined:
        assert tzid == "Asia/Shanghai"
    assert "UTC+" not in text and "GMT+" not in text
    assert "DAYLIGHT" not in text and "COMMENT" not in text
    for line in text.split("\r\n"):
        if re.match(r"(DTSTART|DTEND|DTSTAMP|LAST-MODIFIED|CREATED)[:;]", line):
            assert line.endswith("Z") or "TZID=Asia/Shanghai" in line, line
    for event in events(body):
        assert event.decoded("DTSTART").tzinfo is not None


def test_point_07_times_are_the_right_instant(client, make_shift):
    start = datetime(2026, 12, 24, 1, 30, tzinfo=UTC)  # 09:30 in Shanghai
    shift = make_shift(starts_at=datetime.now(UTC).replace(microsecond=0) + timedelta(days=3))
    shift.starts_at, shift.ends_at = start, start + timedelta(hours=2)
    from portal.extensions import db

    db.session.commit()
    event = events(client.get(f"/calendar/shifts/{shift.id}.ics").data)[0]
    assert event.decoded("DTSTART") == start
    from zoneinfo import ZoneInfo

    assert event.decoded("DTSTART").astimezone(ZoneInfo("Asia/Shanghai")).hour == 9


# --- 8 --------------------------------------------------------------------------------------


def _rie_events(body: bytes, days: int = 30) -> list:
    cal = icalendar.Calendar.from_ical(body)
    today = date.today()
    return list(
        recurring_ical_events.of(cal).between(
            today - timedelta(days=days), today + timedelta(days=days)
        )
    )


def test_point_08_text_round_trips_through_three_parsers(
    client, app, make_activity, make_shift, make_zone, make_unit
):
    shifts = _awkward_world(make_activity, make_shift, make_zone, make_unit)
    body = client.get("/calendar/all.ics").data
    by_uid = {f"shift-{s.id}@portal.test": s for s in shifts}
    # links point at the portal's public address, whatever the request's Host
    base = str(events(body)[0]["URL"]).split("/activities/")[0]
    expected = {}
    for uid, s in by_uid.items():
        opts = ical.EventOptions(host="portal.test", base_url=base)
        expected[uid] = (s.activity.title, s.activity.place, ical.description_of(s, opts))

    # icalendar
    for event in events(body):
        uid = str(event["UID"])
        assert (str(event["SUMMARY"]), str(event["LOCATION"]), str(event["DESCRIPTION"])) == (
            expected[uid]
        )
    # vobject
    cal = vobject.readOne(body.decode("utf-8"))
    seen = 0
    for vevent in cal.vevent_list:
        uid = vevent.uid.value
        assert (vevent.summary.value, vevent.location.value, vevent.description.value) == (
            expected[uid]
        )
        seen += 1
    assert seen == len(shifts)
    # recurring-ical-events
    found = _rie_events(body)
    assert {str(e["UID"]) for e in found} == set(expected)
    for event in found:
        uid = str(event["UID"])
        assert (str(event["SUMMARY"]), str(event["LOCATION"]), str(event["DESCRIPTION"])) == (
            expected[uid]
        )


@pytest.mark.parametrize("text", AWKWARD)
def test_point_08_each_awkward_text_round_trips(make_activity, make_shift, text):
    shift = make_shift(activity=make_activity(title=text[:120], place=text[:200]), post_name="")
    opts = ical.EventOptions(host="portal.test", base_url="https://portal.test")
    body = ical.to_bytes(ical.feed_calendar("名称", [(shift, opts)]))
    event = events(body)[0]
    assert str(event["SUMMARY"]) == text[:120]
    assert str(event["LOCATION"]) == text[:200]
    v = vobject.readOne(body.decode()).vevent
    assert v.summary.value == text[:120]
    assert v.location.value == text[:200]
    assert str(_rie_events(body)[0]["SUMMARY"]) == text[:120]


# --- 9 --------------------------------------------------------------------------------------


def test_point_09_edit_raises_sequence_and_last_modified_uid_stays(client, db, world):
    url = feed_urls(world)["activity"]
    before = events(client.get(url).data)[0]
    shift = world["shift"]
    shift.updated_at = shift.updated_at - timedelta(minutes=5)  # make the change visible
    world["activity"].updated_at = world["activity"].updated_at - timedelta(minutes=5)
    db.session.commit()
    before = events(client.get(url).data)[0]
    shift.starts_at = shift.starts_at + timedelta(hours=1)
    shift.ends_at = shift.ends_at + timedelta(hours=1)
    shift.sequence += 1  # what the editing service does for a time change
    db.session.commit()
    after = events(client.get(url).data)[0]
    assert str(after["UID"]) == str(before["UID"])
    assert int(after["SEQUENCE"]) > int(before["SEQUENCE"])
    assert after.decoded("LAST-MODIFIED") > before.decoded("LAST-MODIFIED")
    assert after.decoded("DTSTART") == before.decoded("DTSTART") + timedelta(hours=1)


def test_point_09_activity_edit_raises_last_modified(client, db, world):
    url = feed_urls(world)["all"]
    activity = world["activity"]
    activity.updated_at = activity.updated_at - timedelta(minutes=5)
    world["shift"].updated_at = world["shift"].updated_at - timedelta(minutes=5)
    db.session.commit()
    r1 = client.get(url)
    activity.place = "新地点：县二小"
    db.session.commit()
    r2 = client.get(url)
    assert r1.headers["ETag"] != r2.headers["ETag"]
    e1, e2 = events(r1.data)[0], events(r2.data)[0]
    assert e2.decoded("LAST-MODIFIED") > e1.decoded("LAST-MODIFIED")
    assert str(e2["LOCATION"]) == "新地点：县二小"


# --- 10 -------------------------------------------------------------------------------------


@pytest.mark.parametrize("feed", SUBSCRIBED)
@pytest.mark.parametrize("what", ["shift", "activity"])
def test_point_10_cancelled_stays_as_cancelled(client, db, world, feed, what):
    url = feed_urls(world)[feed]
    before = {str(e["UID"]): e for e in events(client.get(url).data)}
    now = datetime.now(UTC)
    if what == "shift":
        world["shift"].status = ShiftStatus.CANCELLED
        world["shift"].cancelled_at = now
        world["shift"].cancel_reason = "天气原因"
    else:
        world["activity"].status = ActivityStatus.CANCELLED
        world["activity"].cancelled_at = now
    db.session.commit()
    body = client.get(url).data
    uid = f"shift-{world['shift'].id}@portal.test"
    event = {str(e["UID"]): e for e in events(body)}[uid]
    assert str(event["STATUS"]) == "CANCELLED"
    assert str(event["SUMMARY"]).startswith("【已取消】")
    assert int(event["SEQUENCE"]) >= 1 and int(event["SEQUENCE"]) > int(before[uid]["SEQUENCE"])
    assert "VALARM" not in event.to_ical().decode()
    # A subscribed calendar program sees the cancellation arrive:
    arrived = [e for e in _rie_events(body) if str(e["UID"]) == uid]
    assert arrived and str(arrived[0]["STATUS"]) == "CANCELLED"
    v = [e for e in vobject.readOne(body.decode()).vevent_list if e.uid.value == uid][0]
    assert v.status.value == "CANCELLED"


def test_point_10_cancelled_leaves_shortly_after_its_end(
    client, db, make_shift, make_user, make_signup, token_for
):
    """In the person's feed (60 days back) a past shift stays, a cancelled one leaves the
    day after it ended; the full table for every feed is in tests/test_feed_windows.py."""
    resident = make_user("王居民")
    shift = make_shift(starts_in=timedelta(days=-5))
    shift.status = ShiftStatus.CANCELLED
    db.session.commit()
    live = make_shift(activity=shift.activity, starts_in=timedelta(days=-5))
    make_signup(shift, user=resident)
    make_signup(live, user=resident)
    body = client.get(f"/calendar/me/{token_for(resident)}.ics").data
    uids = {str(e["UID"]) for e in events(body)}
    assert f"shift-{shift.id}@portal.test" not in uids  # ended 5 days ago, cancelled
    assert f"shift-{live.id}@portal.test" in uids  # past but not cancelled: in the window


@pytest.mark.parametrize("change", ["delete", "unpublish"])
def test_point_10_deleted_or_unpublished_disappears(client, db, world, change):
    url = feed_urls(world)["all"]
    assert events(client.get(url).data)
    if change == "delete":
        db.session.delete(world["shift"])
    else:
        world["activity"].status = ActivityStatus.DRAFT
    db.session.commit()
    assert events(client.get(url).data) == []
    assert events(client.get(feed_urls(world)["personal"]).data) == []


def test_point_10_personal_feed_statuses(client, db, world, make_shift, make_signup):
    resident = world["resident"]
    pending = make_signup(
        make_shift(activity=world["activity"], starts_in=timedelta(days=3)),
        user=resident,
        status=SignupStatus.PENDING,
    )
    waiting = make_signup(
        make_shift(activity=world["activity"], starts_in=timedelta(days=4)),
        user=resident,
        status=SignupStatus.WAITLISTED,
    )
    mine_off = make_signup(
        make_shift(activity=world["activity"], starts_in=timedelta(days=6)),
        user=resident,
        status=SignupStatus.CANCELLED,
        cancelled_at=datetime.now(UTC),
    )
    rejected = make_signup(
        make_shift(activity=world["activity"], starts_in=timedelta(days=7)),
        user=resident,
        status=SignupStatus.REJECTED,
    )
    body = client.get(feed_urls(world)["personal"]).data
    got = {str(e["UID"]): e for e in events(body)}
    p = got[f"shift-{pending.shift_id}@portal.test"]
    assert str(p["SUMMARY"]).startswith("【待审核】") and str(p["STATUS"]) == "TENTATIVE"
    w = got[f"shift-{waiting.shift_id}@portal.test"]
    assert str(w["SUMMARY"]).startswith("【候补中】") and str(w["STATUS"]) == "TENTATIVE"
    c = got[f"shift-{world['shift'].id}@portal.test"]
    assert str(c["STATUS"]) == "CONFIRMED"
    assert f"shift-{mine_off.shift_id}@portal.test" not in got  # own cancellation: gone
    assert f"shift-{rejected.shift_id}@portal.test" not in got


def test_point_10_sign_up_ended_by_shift_cancellation_stays(client, db, world):
    """When cancelling a shift also cancels its sign-ups, the event still arrives cancelled."""
    now = datetime.now(UTC)
    shift = world["shift"]
    shift.status, shift.cancelled_at, shift.sequence = ShiftStatus.CANCELLED, now, 2
    signup = db.session.scalars(db.select(services.Signup)).one()
    signup.status, signup.cancelled_at = SignupStatus.CANCELLED, now
    db.session.commit()
    got = events(client.get(feed_urls(world)["personal"]).data)
    assert len(got) == 1
    assert str(got[0]["STATUS"]) == "CANCELLED" and int(got[0]["SEQUENCE"]) == 2


# --- 11 -------------------------------------------------------------------------------------


@pytest.mark.parametrize("feed", FEEDS)
def test_point_11_no_attendee_phone_or_email_organizer_generic(client, db, world, feed):
    world["activity"].contact_name = "赵联系"
    world["activity"].contact_phone = "13912345678"
    db.session.commit()
    body = client.get(feed_urls(world)[feed]).data
    text = body.decode()
    assert "ATTENDEE" not in text
    assert "13912345678" not in text and "赵联系" not in text
    assert world["resident"].phone not in text and world["resident"].real_name not in text
    emails = set(re.findall(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+", text.replace("\r\n ", "")))
    assert emails <= {"noreply@portal.test"} | {f"shift-{world['shift'].id}@portal.test"}
    for event in events(body):
        organizer = event["ORGANIZER"]
        assert str(organizer) == "mailto:noreply@portal.test"
        assert organizer.params["CN"] == "区文明办"


# --- 12 -------------------------------------------------------------------------------------


@pytest.mark.parametrize("feed", FEEDS)
def test_point_12_no_valarm_unless_asked(client, world, feed):
    assert b"VALARM" not in client.get(feed_urls(world)[feed]).data


def test_point_12_valarm_when_person_asked(client, db, world):
    services.set_alarm(world["resident"], 30)
    db.session.commit()
    url = feed_urls(world)["personal"]
    body = client.get(url).data
    assert b"BEGIN:VALARM" in body and b"TRIGGER:-PT30M" in body
    alarms = list(parse(body).walk("VALARM"))
    assert len(alarms) == 1 and alarms[0].decoded("TRIGGER") == -timedelta(minutes=30)
    # public feeds stay without
    assert b"VALARM" not in client.get(feed_urls(world)["all"]).data
    services.set_alarm(world["resident"], 0)
    db.session.commit()
    assert b"VALARM" not in client.get(url).data


# --- 13 -------------------------------------------------------------------------------------


@pytest.mark.parametrize("feed", FEEDS)
@pytest.mark.parametrize("logged_in", [False, True])
def test_point_13_cache_headers_and_no_cookies(client, world, login, feed, logged_in):
    if logged_in:
        login(world["resident"])
    url = feed_urls(world)[feed]
    r = client.get(url)
    assert "Set-Cookie" not in r.headers
    c304 = client.get(url, headers={"If-None-Match": r.headers["ETag"]})
    assert "Set-Cookie" not in c304.headers
    if feed in PERSONAL:
        for response in (r, c304):  # never kept by a shared cache
            control = response.headers["Cache-Control"]
            assert "private" in control or "no-store" in control
            assert "public" not in control
        assert "noindex" in r.headers["X-Robots-Tag"]
    elif not logged_in:
        assert "private" not in r.headers["Cache-Control"]


@pytest.mark.parametrize("url", ["/calendar/me/" + "x" * 43 + ".ics", "/calendar/zones/9999.ics"])
def test_point_13_no_cookies_on_feed_errors(client, world, login, url):
    login(world["resident"])
    r = client.get(url)
    assert r.status_code == (410 if url.startswith("/calendar/me/") else 404)
    assert "Set-Cookie" not in r.headers


# --- 14 -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "days,public,personal",
    [
        (-70, False, False),
        (-50, False, True),
        (10, True, True),
        (40, False, True),
        (300, False, True),
        (400, False, False),
    ],
)
def test_point_14_only_a_window_of_events(
    client, make_activity, make_shift, make_user, make_signup, token_for, days, public, personal
):
    """Public feeds: the coming 30 days; personal: 60 days back to a year ahead (the rules
    for every feed: tests/test_feed_windows.py)."""
    shift = make_shift(activity=make_activity(), starts_in=timedelta(days=days))
    resident = make_user("王居民")
    make_signup(shift, user=resident)
    public_uids = {str(e["UID"]) for e in events(client.get("/calendar/all.ics").data)}
    mine = {
        str(e["UID"]) for e in events(client.get(f"/calendar/me/{token_for(resident)}.ics").data)
    }
    assert (f"shift-{shift.id}@portal.test" in public_uids) is public
    assert (f"shift-{shift.id}@portal.test" in mine) is personal


def test_point_14_largest_realistic_feed_under_1mb_and_budget(app, db, make_activity):
    """An activity's feed at its cap, 1,000 events with long Chinese text: under 1 MB (the
    time budget is in bench/)."""
    from portal.models import Shift

    activity = make_activity(
        title="省运会城市志愿者服务站（高铁站）交通文明劝导与秩序维护",
        place="新城高铁站出站口东侧广场志愿服务站（公交枢纽旁）",
    )
    start = datetime.now(UTC).replace(microsecond=0)
    db.session.add_all(
        Shift(
            activity=activity,
            starts_at=start + timedelta(hours=i),
            ends_at=start + timedelta(hours=i + 2),
            capacity=10,
            post_name="城市志愿者站点引导员",
        )
        for i in range(1000)
    )
    db.session.commit()
    from time import perf_counter

    t0 = perf_counter()
    with app.test_request_context("/"):
        scope = services.probe(services.FeedScope("activity", activity.id), "https://portal.test")
        body = services.feed_body(scope, "https://portal.test")
    elapsed = perf_counter() - t0
    assert len(events(body)) == 1000
    assert len(body) < 1_000_000
    assert elapsed < 5  # generous here: the real budget is measured by `make bench`


# --- 15 -------------------------------------------------------------------------------------


@pytest.mark.parametrize("feed", ["all", "zone", "programme", "personal", "unit"])
def test_point_15_empty_feed_is_valid(
    client, db, make_zone, make_unit, make_programme, make_user, token_for, feed
):
    zone, unit, prog = make_zone(), make_unit(), make_programme()
    user = make_user(units=[unit])
    token = token_for(user)
    url = {
        "all": "/calendar/all.ics",
        "zone": f"/calendar/zones/{zone.id}.ics",
        "programme": f"/calendar/programmes/{prog.id}.ics",
        "personal": f"/calendar/me/{token}.ics",
        "unit": f"/calendar/units/{unit.id}/{token}.ics",
    }[feed]
    r = client.get(url)
    assert r.status_code == 200
    cal = parse(r.data)
    assert list(cal.walk("VEVENT")) == []
    assert str(cal["VERSION"]) == "2.0"
    vobject.readOne(r.data.decode())
    assert _rie_events(r.data) == []


# --- the module itself ----------------------------------------------------------------------


def test_assemble_equals_full_serialization(make_activity, make_shift):
    shifts = [
        make_shift(activity=make_activity(title=t[:120]), starts_in=timedelta(days=i + 1))
        for i, t in enumerate(AWKWARD)
    ]
    opts = ical.EventOptions(host="portal.test", base_url="https://portal.test", alarm_minutes=15)
    items = [(s, opts) for s in shifts]
    full = ical.to_bytes(ical.feed_calendar("名称;,\n", items))
    spliced = services.render_items("名称;,\n", items, 60)
    assert spliced == full
    assert services.render_items("名称;,\n", items, 60) == full  # from the event cache


def test_unit_feed_counts_in_description(client, db, world, make_signup):
    make_signup(world["shift"], status=SignupStatus.WAITLISTED)
    body = client.get(feed_urls(world)["unit"]).data
    description = str(events(body)[0]["DESCRIPTION"])
    assert "已报名：1/3" in description and "候补：1" in description
    assert "已报名" not in str(events(client.get(feed_urls(world)["all"]).data)[0]["DESCRIPTION"])


def test_token_is_hashed_and_long(db, world):
    token = world["resident_token"]
    assert len(token) >= 43  # 32 random bytes
    rows = db.session.scalars(db.select(CalendarToken)).all()
    assert all(r.token_hash != token and len(r.token_hash) == 64 for r in rows)
    assert services.hash_token(token) in {r.token_hash for r in rows}


@pytest.mark.parametrize("alarm", [None, 30])
def test_feed_event_serializes_exactly_like_icalendar(make_activity, make_shift, alarm):
    """The VEVENT fast path (memo of folded lines) writes the very bytes icalendar writes."""
    for text in AWKWARD:
        shift = make_shift(activity=make_activity(title=text[:120], place=text[:200]))
        for status in [None, SignupStatus.PENDING, SignupStatus.WAITLISTED]:
            opts = ical.EventOptions(
                host="portal.test",
                base_url="https://portal.test",
                signup_status=status,
                alarm_minutes=alarm,
                counts=(1, 3, 2),
            )
            event = ical.shift_event(shift, opts)
            fast = event.to_ical()
            wrapper = icalendar.Calendar()  # stock serializer for every line, nested or not
            wrapper.add_component(event)
            assert wrapper.to_ical() == b"BEGIN:VCALENDAR\r\n" + fast + b"END:VCALENDAR\r\n"
            assert event.to_ical() == fast  # and again, from the memo
            assert ical.event_bytes(shift, opts) == fast  # the feeds' line-by-line writer
            assert ical.event_bytes(shift, opts) == fast  # and from its memo


@pytest.mark.parametrize("cancelled", [False, True])
def test_core_rows_write_the_same_events_as_model_objects(
    db, make_activity, make_shift, make_zone, make_unit, cancelled
):
    """Feeds select columns (Core rows) instead of ORM objects: the events are identical."""
    shifts = _awkward_world(make_activity, make_shift, make_zone, make_unit)
    for s in shifts:
        s.activity.latitude, s.activity.longitude = 24.9, 118.6
        if cancelled:
            s.status, s.cancel_reason, s.sequence = ShiftStatus.CANCELLED, AWKWARD[0], 2
    db.session.commit()
    scope = services.FeedScope("all")
    scope.day = date.today()
    from flask import current_app

    with current_app.test_request_context("/"):
        rows = {r.id: r for r in services.feed_rows(scope)}
    for s in shifts:
        for counts in (None, (1, 3, 2)):
            opts = ical.EventOptions(
                host="portal.test", base_url="https://portal.test", counts=counts
            )
            stock = icalendar.Calendar()
            stock.add_component(ical.shift_event(s, opts))
            from_row = ical.event_bytes(services.shift_row(rows[s.id]), opts)
            assert stock.to_ical() == b"BEGIN:VCALENDAR\r\n" + from_row + b"END:VCALENDAR\r\n"

"""Attendance and hours in the person's own calendar feed (issue 9, item 6).

Attended shifts stay in the feed after they end with their hours in DESCRIPTION; a no-show
keeps STATUS:CONFIRMED and gets the 【缺席】 title. Every change of attendance or hours
changes the body and the ETag; nothing changed, nothing moves. Parsed with icalendar,
vobject and recurring-ical-events like tests/test_ical.py.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import icalendar
import pytest
import recurring_ical_events
import vobject
from flask_babel import force_locale

from portal import labels
from portal.feeds import ical, services
from portal.models import ActivityKind, Attendance, SignupStatus

HOST = "portal.test"


@pytest.fixture
def past(db, make_activity, make_shift, make_user, make_signup, token_for):
    """A resident with one shift that ended three days ago, and their feed URL."""
    resident = make_user("王居民")
    activity = make_activity(title="县一小校门口交通文明劝导")
    shift = make_shift(activity=activity, starts_in=timedelta(days=-3))
    signup = make_signup(shift, user=resident)
    return {
        "resident": resident,
        "shift": shift,
        "signup": signup,
        "activity": activity,
        "url": f"/calendar/me/{token_for(resident)}.ics",
    }


def _event(body: bytes, shift) -> icalendar.Event:
    uid = f"shift-{shift.id}@{HOST}"
    found = [e for e in icalendar.Calendar.from_ical(body).walk("VEVENT") if str(e["UID"]) == uid]
    assert len(found) == 1, body
    return found[0]


def _vobject_event(body: bytes, shift):
    uid = f"shift-{shift.id}@{HOST}"
    return [e for e in vobject.readOne(body.decode()).vevent_list if e.uid.value == uid][0]


def _rie_event(body: bytes, shift):
    cal = icalendar.Calendar.from_ical(body)
    today = date.today()
    uid = f"shift-{shift.id}@{HOST}"
    found = recurring_ical_events.of(cal).between(
        today - timedelta(days=30), today + timedelta(days=30)
    )
    return [e for e in found if str(e["UID"]) == uid][0]


def _record(db, signup, attendance, hours=None, confirmed=False):
    signup.attendance = attendance
    signup.hours = None if hours is None else Decimal(str(hours))
    signup.hours_confirmed_at = datetime.now(UTC) if confirmed else None
    db.session.commit()


def _three_parsers(body, shift) -> list[tuple[str, str, str]]:
    """(SUMMARY, DESCRIPTION, STATUS) as each parser reads them."""
    a = _event(body, shift)
    v = _vobject_event(body, shift)
    r = _rie_event(body, shift)
    return [
        (str(a["SUMMARY"]), str(a["DESCRIPTION"]), str(a["STATUS"])),
        (v.summary.value, v.description.value, v.status.value),
        (str(r["SUMMARY"]), str(r["DESCRIPTION"]), str(r["STATUS"])),
    ]


@pytest.mark.parametrize(
    ("hours", "confirmed", "line"),
    [
        (2.5, True, "已出勤 · 服务时长 2.5 小时（已确认）"),
        (2.5, False, "已出勤 · 服务时长 2.5 小时（待确认）"),
        (3, True, "已出勤 · 服务时长 3 小时（已确认）"),
        (0.5, False, "已出勤 · 服务时长 0.5 小时（待确认）"),
        (None, False, "已出勤"),
    ],
)
def test_attended_shift_stays_with_its_hours(client, db, past, hours, confirmed, line):
    _record(db, past["signup"], Attendance.ATTENDED, hours, confirmed)
    body = client.get(past["url"]).data
    for summary, description, status in _three_parsers(body, past["shift"]):
        assert summary == ical.summary_of(past["shift"])  # no prefix
        assert status == "CONFIRMED"
        assert line in description.split("\n")


def test_community_attendance_never_shows_hours(client, db, past):
    past["activity"].kind = ActivityKind.COMMUNITY
    db.session.commit()
    _record(db, past["signup"], Attendance.ATTENDED, 2, True)
    description = str(_event(client.get(past["url"]).data, past["shift"])["DESCRIPTION"])
    assert "已出勤" in description.split("\n")
    assert "服务时长" not in description and "小时" not in description


def test_no_show_is_marked_and_stays_confirmed(client, db, past):
    _record(db, past["signup"], Attendance.NO_SHOW)
    body = client.get(past["url"]).data
    for summary, description, status in _three_parsers(body, past["shift"]):
        assert summary.startswith("【缺席】")
        assert status == "CONFIRMED"  # the event happened; the person was not there
        assert any(line.startswith("缺席：") for line in description.split("\n"))
        assert "服务时长" not in description


def test_recorded_attendance_overrides_pending_words(client, db, past):
    """Someone checked in while still pending reads as attended, not 【待审核】."""
    past["signup"].status = SignupStatus.PENDING
    _record(db, past["signup"], Attendance.ATTENDED, 1, False)
    event = _event(client.get(past["url"]).data, past["shift"])
    assert not str(event["SUMMARY"]).startswith("【")
    assert str(event["STATUS"]) == "CONFIRMED"
    assert "等待组织方审核" not in str(event["DESCRIPTION"])


def test_attended_sign_up_cancelled_later_still_shows(client, db, past):
    """A record of service is not lost from the calendar by a later status change."""
    _record(db, past["signup"], Attendance.ATTENDED, 1, True)
    past["signup"].status = SignupStatus.CANCELLED
    past["signup"].cancelled_at = datetime.now(UTC)
    db.session.commit()
    event = _event(client.get(past["url"]).data, past["shift"])
    assert str(event["STATUS"]) == "CONFIRMED"
    assert "已出勤 · 服务时长 1 小时（已确认）" in str(event["DESCRIPTION"])


def test_past_attended_shift_outside_the_window_is_gone(client, db, past, make_shift, make_signup):
    old = make_shift(activity=past["activity"], starts_in=timedelta(days=-70))
    signup = make_signup(old, user=past["resident"])
    _record(db, signup, Attendance.ATTENDED, 1, True)
    uids = {
        str(e["UID"])
        for e in icalendar.Calendar.from_ical(client.get(past["url"]).data).walk("VEVENT")
    }
    assert f"shift-{old.id}@{HOST}" not in uids
    assert f"shift-{past['shift'].id}@{HOST}" in uids


def _hold_clock(db, signup):
    """Put updated_at in the past so a change that leaves it alone would go unnoticed."""
    signup.updated_at = datetime(2020, 1, 1, tzinfo=UTC)
    db.session.commit()


STEPS = [
    ("attended", dict(attendance=Attendance.ATTENDED, hours=Decimal("2.0"))),
    ("hours adjusted", dict(hours=Decimal("2.5"))),
    ("hours confirmed", dict(hours_confirmed_at=datetime(2026, 1, 2, tzinfo=UTC))),
    ("hours adjusted after confirmation", dict(hours=Decimal("3.0"))),
    (
        "turned into a no-show",
        dict(attendance=Attendance.NO_SHOW, hours=None, hours_confirmed_at=None),
    ),
    ("back to attended", dict(attendance=Attendance.ATTENDED, hours=Decimal("3.0"))),
    ("undone", dict(attendance=None, hours=None)),
]


@pytest.mark.both_databases
def test_every_change_of_attendance_or_hours_changes_body_and_etag(client, db, past):
    """Each step changes the body and the ETag even when updated_at did not move; the
    other events of the feed (and every public feed) stay byte-identical."""
    other_url = f"/calendar/activities/{past['activity'].id}.ics"
    public_before = client.get(other_url)
    signup = past["signup"]
    previous = client.get(past["url"])
    seen_etags = {previous.headers["ETag"]}
    for name, change in STEPS:
        _hold_clock(db, signup)
        for key, value in change.items():
            setattr(signup, key, value)
        db.session.commit()
        _hold_clock(db, signup)  # whatever the write did, leave updated_at where it was
        r = client.get(past["url"])
        assert r.headers["ETag"] not in seen_etags, name
        assert r.data != previous.data, name
        seen_etags.add(r.headers["ETag"])
        previous = r
        # unchanged now → byte-identical and 304, also after a cold rebuild
        services.clear_caches()
        again = client.get(past["url"])
        assert again.data == r.data and again.headers["ETag"] == r.headers["ETag"], name
        assert (
            client.get(past["url"], headers={"If-None-Match": r.headers["ETag"]}).status_code == 304
        )
    public_after = client.get(other_url)
    assert public_after.data == public_before.data
    assert public_after.headers["ETag"] == public_before.headers["ETag"]


@pytest.mark.both_databases
def test_sequence_rises_once_with_attendance_and_never_for_hours(client, db, past):
    shift = past["shift"]
    signup = past["signup"]

    def seq():
        return int(_event(client.get(past["url"]).data, shift)["SEQUENCE"])

    base = seq()
    _record(db, signup, Attendance.ATTENDED, 2, False)
    attended = seq()
    assert attended == base + 1
    _record(db, signup, Attendance.ATTENDED, 2.5, True)
    assert seq() == attended  # hours only touch DESCRIPTION
    _record(db, signup, Attendance.NO_SHOW)
    assert seq() == attended  # never goes down; the later DTSTAMP tells the clients
    _record(db, signup, Attendance.ATTENDED, 2, True)
    assert seq() == attended


def test_last_modified_follows_the_confirmation(client, db, past):
    signup = past["signup"]
    _record(db, signup, Attendance.ATTENDED, 2, False)
    past["shift"].updated_at = past["activity"].updated_at = datetime(2020, 1, 1, tzinfo=UTC)
    _hold_clock(db, signup)
    before = _event(client.get(past["url"]).data, past["shift"])
    signup.hours_confirmed_at = datetime(2025, 1, 1, tzinfo=UTC)
    db.session.commit()
    _hold_clock(db, signup)
    after = _event(client.get(past["url"]).data, past["shift"])
    assert after.decoded("LAST-MODIFIED") > before.decoded("LAST-MODIFIED")
    assert after.decoded("DTSTAMP") == after.decoded("LAST-MODIFIED")


def test_no_alarm_words_or_people_leak(client, db, past):
    past["activity"].contact_name = "赵联系"
    db.session.commit()
    _record(db, past["signup"], Attendance.ATTENDED, 2, True)
    text = client.get(past["url"]).data.decode()
    assert "王居民" not in text and "赵联系" not in text
    assert past["resident"].phone not in text


@pytest.mark.parametrize("attendance", [None, Attendance.ATTENDED, Attendance.NO_SHOW])
def test_attendance_events_serialize_exactly_like_icalendar(make_activity, make_shift, attendance):
    shift = make_shift(activity=make_activity(title="逗号,分号;冒号:反斜杠\\结尾😀"))
    opts = ical.EventOptions(
        host=HOST,
        base_url="https://portal.test",
        attendance=attendance,
        hours=Decimal("2.5"),
        hours_confirmed=True,
        alarm_minutes=30,
    )
    event = ical.shift_event(shift, opts)
    fast = event.to_ical()
    wrapper = icalendar.Calendar()
    wrapper.add_component(event)
    assert wrapper.to_ical() == b"BEGIN:VCALENDAR\r\n" + fast + b"END:VCALENDAR\r\n"


@pytest.mark.parametrize(
    ("hours", "text"),
    [(2.5, "2.5"), (3, "3"), (Decimal("4.0"), "4"), (0.5, "0.5"), (Decimal("12.5"), "12.5")],
)
def test_hours_text(hours, text):
    assert ical.hours_text(hours) == text


def test_calendar_attendance_words_are_the_untranslated_labels(app):
    words = labels.CALENDAR_ATTENDANCE
    with app.test_request_context("/"), force_locale("zh_Hans_CN"):
        assert words["attended"] == labels.attendance(Attendance.ATTENDED)
        assert words["no_show"] == labels.attendance(Attendance.NO_SHOW)
        assert words["no_show_prefix"] == f"【{labels.attendance(Attendance.NO_SHOW)}】"

"""A person removed or rejected by the organizer sees the event cancelled, not vanish;
their own cancellation still removes it from their feed."""

from __future__ import annotations

from datetime import timedelta

import pytest
import recurring_ical_events
import vobject
from icalendar import Calendar

from portal.models import SignupStatus
from portal.signups import services as signups

pytestmark = pytest.mark.both_databases


def _event(client, token, shift):
    response = client.get(f"/calendar/me/{token}.ics")
    assert response.status_code == 200
    body = response.data
    events = [
        e
        for e in Calendar.from_ical(body).walk("VEVENT")
        if str(e["UID"]).startswith(f"shift-{shift.id}@")
    ]
    return body, response.headers["ETag"], events


@pytest.mark.parametrize(
    ("start", "action", "shows"),
    [
        (SignupStatus.CONFIRMED, "remove", "cancelled"),
        (SignupStatus.PENDING, "reject", "cancelled"),
        (SignupStatus.WAITLISTED, "reject", "cancelled"),
        (SignupStatus.CONFIRMED, "own_cancel", "gone"),
        (SignupStatus.WAITLISTED, "own_cancel", "gone"),
    ],
)
def test_personal_feed_after_the_person_leaves_a_shift(
    client,
    db,
    make_activity,
    make_shift,
    make_user,
    make_signup,
    token_for,
    start,
    action,
    shows,
):
    activity = make_activity()
    shift = make_shift(activity, capacity=5, requires_approval=start == SignupStatus.PENDING)
    person = make_user("王居民")
    organizer = make_user("李组织", units=[activity.unit])
    signup = make_signup(shift, person, status=start)
    token = token_for(person)
    _, etag_before, events = _event(client, token, shift)
    assert len(events) == 1
    seq_before = int(events[0].get("SEQUENCE", 0))

    if action == "remove":
        signups.remove(organizer, signup, "岗位调整")
    elif action == "reject":
        signups.reject(organizer, signup, "人数已够")
    else:
        signups.cancel_signup(person, signup.id)
    db.session.commit()

    body, etag_after, events = _event(client, token, shift)
    assert etag_after != etag_before
    if shows == "gone":
        assert events == []
        return
    (event,) = events
    assert str(event["STATUS"]) == "CANCELLED"
    assert str(event["SUMMARY"]).startswith("【已取消】")
    assert int(event["SEQUENCE"]) > seq_before
    assert "你已不在这个班次的名单上" in str(event["DESCRIPTION"])
    assert "VALARM" not in body.decode()
    # Independent parsers agree.
    parsed = vobject.readOne(body.decode())
    (vevent,) = [v for v in parsed.vevent_list if v.uid.value == str(event["UID"])]
    assert vevent.status.value == "CANCELLED"
    occurrences = recurring_ical_events.of(Calendar.from_ical(body)).between(
        shift.starts_at - timedelta(hours=1), shift.ends_at + timedelta(hours=1)
    )
    assert [str(o["STATUS"]) for o in occurrences if o["UID"] == event["UID"]] == ["CANCELLED"]


def test_signing_up_again_after_removal_shows_the_new_place(
    client, db, make_activity, make_shift, make_user, make_signup, token_for
):
    activity = make_activity()
    shift = make_shift(activity, capacity=5)
    person, organizer = make_user(), make_user(units=[activity.unit])
    signup = make_signup(shift, person)
    signups.remove(organizer, signup, "误操作")
    db.session.commit()
    signups.sign_up(person, shift.id)
    db.session.commit()
    _, _, events = _event(client, token_for(person), shift)
    assert [str(e["STATUS"]) for e in events] == ["CONFIRMED"]

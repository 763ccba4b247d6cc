"""The one way into a place: each path × (free place, full, waitlist waiting, overlap, override).

Paths: a resident's own sign-up, an organizer's approval, promotion by the organizer,
automatic promotion when a place frees up, a walk-in, a raised capacity and a moved shift.
Each row states what the person ends up with, or the refusal's field; the counters on the
shift always equal the sign-ups afterwards.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from portal.models import AuditEntry, Notification, Signup, SignupStatus
from portal.models.signups import counter_mismatches
from portal.organize import services as organize
from portal.organize.services import OrganizeError
from portal.signups import services
from portal.signups.places import SignupError

pytestmark = pytest.mark.both_databases

C, P, W = SignupStatus.CONFIRMED, SignupStatus.PENDING, SignupStatus.WAITLISTED


@pytest.fixture
def world(db, make_shift, make_user, make_signup, make_activity):
    """A shift of 2 places, a person, an organizer; ``situation`` sets the scene."""

    def build(situation: str, approval: bool = False):
        activity = make_activity()
        shift = make_shift(activity=activity, capacity=2, requires_approval=approval)
        person = make_user(name="李四")
        organizer = make_user(name="陈志强", units=[activity.unit])
        if situation in ("full", "waitlist waiting"):
            make_signup(shift)
            make_signup(shift)
        if situation == "waitlist waiting":
            make_signup(shift, status=W, queued_at=shift.created_at)
        if situation == "overlap":
            other = make_shift(starts_at=shift.starts_at + timedelta(minutes=30), capacity=5)
            make_signup(other, user=person)
        return shift, person, organizer

    return build


def _status(db, person, shift):
    row = db.session.scalar(
        select(Signup.status).where(
            Signup.user_id == person.id,
            Signup.shift_id == shift.id,
            Signup.status.in_([P, C, W]),
        )
    )
    return SignupStatus(row) if row else None


def _run(db, path, shift, person, organizer, override=False):
    """Try to get the person a place by one path; return their status or the refusal field."""
    kw = {
        "over_capacity": override,
        "over_overlap": override,
        "reason": "领导交办，现场确需" if override else "",
    }
    try:
        if path == "own sign-up":
            services.sign_up(person, shift.id)
        elif path == "walk-in":
            services.add_walk_in(organizer, shift, person, **kw)
        elif path == "promotion":
            mine = Signup(
                shift_id=shift.id,
                user_id=person.id,
                status=W,
                queued_at=shift.created_at - timedelta(hours=1),
            )
            db.session.add(mine)
            db.session.commit()
            services.promote(organizer, mine, **kw)
        elif path == "approval":
            mine = Signup(shift_id=shift.id, user_id=person.id, status=P)
            db.session.add(mine)
            db.session.commit()
            services.approve(organizer, mine)
    except SignupError as exc:
        db.session.rollback()
        return exc.field or "refused"
    db.session.commit()
    return _status(db, person, shift)


@pytest.mark.parametrize(
    ("path", "situation", "override", "expected"),
    [
        # own sign-up: never overrides; a newcomer queues behind those waiting
        ("own sign-up", "free place", False, C),
        ("own sign-up", "full", False, W),
        ("own sign-up", "waitlist waiting", False, W),
        ("own sign-up", "overlap", False, "overlap"),
        # walk-in: a free place or an explicit override with a reason
        ("walk-in", "free place", False, C),
        ("walk-in", "full", False, "capacity"),
        ("walk-in", "full", True, C),
        ("walk-in", "waitlist waiting", False, "capacity"),
        ("walk-in", "overlap", False, "overlap"),
        ("walk-in", "overlap", True, C),
        # promotion by the organizer
        ("promotion", "free place", False, C),
        ("promotion", "full", False, "capacity"),
        ("promotion", "full", True, C),
        ("promotion", "overlap", False, "overlap"),
        ("promotion", "overlap", True, C),
        # approval of a pending sign-up: it already holds its place
        ("approval", "free place", False, C),
        ("approval", "overlap", False, "overlap"),
    ],
)
def test_each_path_into_a_place(db, world, path, situation, override, expected):
    shift, person, organizer = world(situation)
    assert _run(db, path, shift, person, organizer, override) == expected
    assert counter_mismatches(db.session) == []
    if override and expected == C:
        entry = db.session.scalars(select(AuditEntry).order_by(AuditEntry.id.desc())).first()
        assert entry.after["override_reason"] == "领导交办，现场确需"


@pytest.mark.parametrize("path", ["walk-in", "promotion"])
def test_override_without_reason_is_refused_and_changes_nothing(db, world, path):
    shift, person, organizer = world("full")
    kw = {"over_capacity": True}
    if path == "walk-in":
        with pytest.raises(SignupError) as info:
            services.add_walk_in(organizer, shift, person, **kw)
    else:
        mine = Signup(shift_id=shift.id, user_id=person.id, status=W, queued_at=shift.created_at)
        db.session.add(mine)
        db.session.commit()
        with pytest.raises(SignupError) as info:
            services.promote(organizer, mine, **kw)
    assert info.value.field == "override_reason"
    db.session.rollback()
    assert _status(db, person, shift) in (None, W)


def test_override_reason_is_in_the_audit_log(db, world):
    shift, person, organizer = world("full")
    services.add_walk_in(organizer, shift, person, over_capacity=True, reason="县领导现场调度")
    db.session.commit()
    entry = db.session.query(AuditEntry).filter_by(action="signup.walk_in").one()
    assert entry.after["override"] == ["capacity"]
    assert entry.after["override_reason"] == "县领导现场调度"


def test_newcomer_queues_behind_waiting_people_even_when_a_place_is_free(
    db, make_shift, make_user, make_signup
):
    # A place is free although someone waits (e.g. capacity raised by a bulk edit): the
    # person waiting gets it first, the newcomer queues.
    shift = make_shift(capacity=2)
    make_signup(shift)
    first = make_signup(shift, status=W, queued_at=shift.created_at)
    newcomer = make_user()
    result = services.sign_up(newcomer, shift.id)
    db.session.commit()
    assert db.session.get(Signup, first.id).status == C
    assert result.signup.status == W
    assert counter_mismatches(db.session) == []


def test_automatic_promotion_passes_over_a_clashing_person_but_keeps_their_turn(
    db, make_shift, make_user, make_signup
):
    shift = make_shift(capacity=1)
    holder = make_signup(shift)
    busy = make_user()
    other = make_shift(starts_at=shift.starts_at, capacity=5)
    make_signup(other, user=busy)
    first = make_signup(shift, user=busy, status=W, queued_at=shift.created_at)
    second = make_signup(shift, status=W, queued_at=shift.created_at + timedelta(seconds=1))
    services.cancel_signup(holder.user, holder.id)
    db.session.commit()
    assert db.session.get(Signup, first.id).status == W
    assert db.session.get(Signup, second.id).status == C
    assert services.waitlist_position(db.session.get(Signup, first.id)) == 1


def test_raised_capacity_promotes_first_come_first_served_and_tells_each(
    db, make_shift, make_user, make_signup
):
    shift = make_shift(capacity=1)
    make_signup(shift)
    waiting = [
        make_signup(shift, status=W, queued_at=shift.created_at + timedelta(seconds=n))
        for n in range(3)
    ]
    organizer = make_user(units=[shift.activity.unit])
    values = organize.shift_snapshot(shift)
    values = {f: getattr(shift, f) for f in organize.SHIFT_FIELDS} | {"capacity": 3}
    organize.update_shift(organizer, shift, values)
    db.session.commit()
    statuses = [db.session.get(Signup, s.id).status for s in waiting]
    assert statuses == [C, C, W]
    told = {n.user_id for n in db.session.query(Notification).filter_by(kind="waitlist_promoted")}
    assert told == {waiting[0].user_id, waiting[1].user_id}
    assert counter_mismatches(db.session) == []


@pytest.mark.parametrize(
    ("override", "reason", "outcome"),
    [
        (False, "", "start"),
        (True, "", "override_reason"),
        (True, "两个班次由同一人轮换", None),
    ],
)
def test_moving_a_shift_onto_someones_other_place(
    db, make_shift, make_user, make_signup, override, reason, outcome
):
    shift = make_shift(capacity=3)
    person = make_user(name="王五")
    make_signup(shift, user=person)
    other = make_shift(starts_at=shift.starts_at + timedelta(days=1), capacity=3)
    make_signup(other, user=person)
    organizer = make_user(units=[shift.activity.unit])
    values = {f: getattr(shift, f) for f in organize.SHIFT_FIELDS}
    values |= {"starts_at": other.starts_at, "ends_at": other.ends_at}
    if outcome is None:
        organize.update_shift(organizer, shift, values, over_overlap=override, reason=reason)
        db.session.commit()
        assert db.session.get(type(shift), shift.id).sequence == 1
    else:
        with pytest.raises(OrganizeError) as info:
            organize.update_shift(organizer, shift, values, over_overlap=override, reason=reason)
        assert info.value.field == outcome
        if outcome == "start":
            assert "王*" in info.value.message
        db.session.rollback()
        assert db.session.get(type(shift), shift.id).starts_at != other.starts_at


def test_counters_follow_every_status_change(db, make_shift, make_user, make_signup):
    shift = make_shift(capacity=2, requires_approval=True)
    people = [make_user() for _ in range(4)]
    results = [services.sign_up(p, shift.id) for p in people]
    db.session.commit()
    db.session.refresh(shift)
    assert (shift.taken_count, shift.waitlist_count) == (2, 2)
    organizer = make_user(units=[shift.activity.unit])
    services.reject(organizer, results[0].signup, "名额调整")
    db.session.commit()
    db.session.refresh(shift)
    assert (shift.taken_count, shift.waitlist_count) == (2, 1)  # the first in line moved up
    services.remove(organizer, results[1].signup, "临时有事")
    db.session.commit()
    db.session.refresh(shift)
    assert (shift.taken_count, shift.waitlist_count) == (2, 0)
    assert counter_mismatches(db.session) == []


def test_delete_is_offered_exactly_when_the_service_allows_it(
    db, client, login, make_shift, make_user, make_signup
):
    untouched = make_shift()
    used = make_shift(activity=untouched.activity, starts_in=timedelta(days=3))
    make_signup(used, status=SignupStatus.CANCELLED)  # nobody holds a place, but it had one
    organizer = login(make_user(units=[untouched.activity.unit]))
    page = client.get(f"/organize/activities/{untouched.activity_id}").get_data(as_text=True)
    assert f"/organize/shifts/{untouched.id}/delete" in page
    assert f"/organize/shifts/{used.id}/delete" not in page
    with pytest.raises(OrganizeError):
        organize.delete_shift(organizer, used)

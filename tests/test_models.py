"""The database itself refuses bad rows, on both backends."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError, StatementError

from portal.models import Shift, Signup, SignupStatus, User, Zone

pytestmark = pytest.mark.both_databases


def _refused(db, obj):
    db.session.add(obj)
    with pytest.raises((IntegrityError, StatementError)):
        db.session.flush()
    db.session.rollback()


NOW = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("fields", "why"),
    [
        ({"ends_at": NOW - timedelta(hours=1)}, "end before start"),
        ({"ends_at": NOW}, "end equal to start"),
        ({"capacity": 0}, "capacity zero"),
        ({"capacity": -3}, "negative capacity"),
        ({"capacity": 10_001}, "absurd capacity"),
        ({"activity_id": 999_999}, "unknown activity"),
        (
            {"signup_opens_at": NOW, "signup_closes_at": NOW - timedelta(days=1)},
            "window closes before it opens",
        ),
    ],
)
def test_bad_shift_rows_are_refused(db, make_activity, fields, why):
    activity = make_activity()
    values = {
        "activity_id": activity.id,
        "starts_at": NOW,
        "ends_at": NOW + timedelta(hours=2),
        "capacity": 3,
    }
    values.update(fields)
    _refused(db, Shift(**values))


def test_good_shift_is_accepted(db, make_activity):
    shift = Shift(
        activity=make_activity(), starts_at=NOW, ends_at=NOW + timedelta(hours=1), capacity=1
    )
    db.session.add(shift)
    db.session.commit()
    assert shift.id


def test_one_active_signup_per_person_and_shift(db, make_shift, make_user):
    shift, user = make_shift(), make_user()
    db.session.add(Signup(shift=shift, user=user, status=SignupStatus.CONFIRMED))
    db.session.commit()
    _refused(db, Signup(shift_id=shift.id, user_id=user.id, status=SignupStatus.WAITLISTED))


def test_cancelled_signups_do_not_block_a_new_one(db, make_shift, make_user):
    shift, user = make_shift(), make_user()
    for status in (SignupStatus.CANCELLED, SignupStatus.REJECTED, SignupStatus.CANCELLED):
        db.session.add(Signup(shift=shift, user=user, status=status))
    db.session.add(Signup(shift=shift, user=user, status=SignupStatus.CONFIRMED))
    db.session.commit()
    assert db.session.query(Signup).count() == 4


def test_unknown_status_value_is_refused_by_the_database(db, make_shift, make_user):
    shift, user = make_shift(), make_user()
    with pytest.raises(IntegrityError):
        db.session.execute(
            text(
                "INSERT INTO signups (shift_id, user_id, status, source, reason, hours_note, "
                "created_at, updated_at) VALUES (:s, :u, 'maybe', 'self', '', '', :t, :t)"
            ),
            {"s": shift.id, "u": user.id, "t": NOW.replace(tzinfo=None)},
        )
        db.session.flush()
    db.session.rollback()


def test_hours_out_of_range_refused(db, make_shift, make_user):
    _refused(
        db, Signup(shift=make_shift(), user=make_user(), status=SignupStatus.CONFIRMED, hours=25)
    )


def test_duplicate_phone_and_zone_name_refused(db, make_user):
    make_user(phone="13800138000")
    _refused(db, User(real_name="李四", phone="13800138000"))
    db.session.add(Zone(name="立后"))
    db.session.commit()
    _refused(db, Zone(name="立后"))
    _refused(db, Zone(name="负人口", population=-1))


def test_datetimes_come_back_aware_utc(db, make_shift):
    local = datetime(2026, 12, 1, 9, 0, tzinfo=UTC) + timedelta(hours=0)
    shift = make_shift(starts_at=local)
    db.session.expire_all()
    loaded = db.session.get(Shift, shift.id)
    assert loaded.starts_at == local
    assert loaded.starts_at.tzinfo is not None
    assert loaded.starts_at.utcoffset() == timedelta(0)


def test_naive_datetimes_are_refused(db, make_activity):
    shift = Shift(
        activity=make_activity(),
        starts_at=datetime(2026, 12, 1, 9),
        ends_at=datetime(2026, 12, 1, 10),
        capacity=1,
    )
    db.session.add(shift)
    with pytest.raises(StatementError):
        db.session.flush()
    db.session.rollback()


def test_shift_counts_are_loaded_with_the_shift(db, make_shift, make_signup):
    shift = make_shift(capacity=3)
    make_signup(shift, status=SignupStatus.CONFIRMED)
    make_signup(shift, status=SignupStatus.PENDING)
    make_signup(shift, status=SignupStatus.WAITLISTED)
    make_signup(shift, status=SignupStatus.CANCELLED)
    db.session.expire_all()
    loaded = db.session.get(Shift, shift.id)
    assert (loaded.taken_count, loaded.waitlist_count, loaded.spots_left) == (2, 1, 1)
    assert not loaded.is_full

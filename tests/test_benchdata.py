"""The big-district generator (``flask seed-bench``) at a tiny scale, on both databases:
capacity never exceeded, one sign-up per person and shift, counters equal to the truth,
and the demo-like accounts the benchmark logs in with."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select, text

from portal.benchdata import BENCH_ACCOUNTS, LONG_ACTIVITY_SHIFTS, seed_bench
from portal.feeds.services import hash_token
from portal.models import (
    PLACE_HOLDING_STATUSES,
    Activity,
    CalendarToken,
    Shift,
    Signup,
    User,
    Zone,
    participation,
)
from portal.models.signups import counter_mismatches

pytestmark = pytest.mark.both_databases

SCALE = 0.003


@pytest.fixture
def district(db, password_hash):
    report = seed_bench(SCALE, password_hash=password_hash)
    db.session.commit()
    return report


def test_sizes_follow_the_scale(db, district):
    assert district.counts["activities"] == 30
    assert db.session.scalar(select(func.count()).select_from(Activity)) == 30
    shifts = db.session.scalar(select(func.count()).select_from(Shift))
    assert shifts == district.counts["shifts"] == 300
    assert (
        db.session.scalar(select(func.count()).select_from(Signup))
        == district.counts["signups"]
        > 2000
    )


def test_no_shift_over_capacity(db, district):
    over = db.session.execute(
        select(Shift.id)
        .join(Signup, Signup.shift_id == Shift.id)
        .where(Signup.status.in_(PLACE_HOLDING_STATUSES))
        .group_by(Shift.id, Shift.capacity)
        .having(func.count(Signup.id) > Shift.capacity)
    ).all()
    assert over == []


def test_one_signup_per_person_and_shift(db, district):
    doubles = db.session.execute(
        select(Signup.shift_id, Signup.user_id)
        .group_by(Signup.shift_id, Signup.user_id)
        .having(func.count() > 1)
    ).all()
    assert doubles == []


def test_counters_equal_the_truth(db, district):
    assert counter_mismatches(db.session) == []
    # loaded with the summary's triggers off, then rebuilt: it equals the live count
    assert participation.problems(db.session) == []
    assert participation.mark_problems(db.session) == []
    assert db.session.scalar(text("SELECT COUNT(*) FROM participation")) > 0
    assert db.session.scalar(select(func.sum(Shift.taken_count))) > 0


def test_demo_like_accounts(db, district):
    now = datetime.now(UTC)
    resident = db.session.scalar(select(User).where(User.phone == BENCH_ACCOUNTS["resident"]))
    upcoming = db.session.scalar(
        select(func.count())
        .select_from(Signup)
        .join(Shift, Shift.id == Signup.shift_id)
        .where(
            Signup.user_id == resident.id,
            Shift.starts_at > now,
            Signup.status.in_(PLACE_HOLDING_STATUSES),
        )
    )
    assert upcoming == 30
    token = db.session.scalar(select(CalendarToken).where(CalendarToken.user_id == resident.id))
    assert token.token_hash == hash_token(district.feed_token)
    long = db.session.get(Activity, district.long_activity_id)
    assert sum(1 for s in long.shifts if s.starts_at > now) == LONG_ACTIVITY_SHIFTS
    organizer = db.session.scalar(select(User).where(User.phone == BENCH_ACCOUNTS["organizer"]))
    unit_ids = [u.id for u in organizer.units]
    assert (
        db.session.scalar(
            select(func.count()).select_from(Activity).where(Activity.unit_id.in_(unit_ids))
        )
        == district.organizer_activities
    )


def test_refuses_a_database_with_data(db, district, password_hash):
    with pytest.raises(RuntimeError):
        seed_bench(SCALE, password_hash=password_hash)
    assert db.session.scalar(select(func.count()).select_from(Zone)) == district.counts["zones"]


def test_cli_prints_the_logins(runner, db):
    result = runner.invoke(args=["seed-bench", "--scale", "0.002"])
    assert result.exit_code == 0, result.output
    assert BENCH_ACCOUNTS["resident"] in result.output
    assert "/activities/1" in result.output

"""The participation summary behind the dashboard's unique participants
(portal/models/participation.py): kept by triggers, it equals the live count after every kind
of write, on both databases; the dashboard reads the same figures from it as from the
sign-ups."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import delete, select, text, update

from portal.dashboard import services as dash
from portal.models import (
    PLACE_HOLDING_STATUSES,
    ActivityStatus,
    ShiftStatus,
    Signup,
    SignupStatus,
    activity_programmes,
    participation,
)

pytestmark = pytest.mark.both_databases

DECEMBER = datetime(2026, 12, 10, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai


def _rows(db) -> dict[tuple, int]:
    return {
        (m, k, key, u): n
        for m, k, key, u, n in db.session.execute(
            text("SELECT month, kind, key, user_id, n FROM participation WHERE n > 0")
        )
    }


@pytest.fixture
def world(db, make_zone, make_unit, make_programme, make_activity, make_shift, make_user):
    zone, other_zone = make_zone("福洋"), make_zone("城东")
    unit = make_unit("县文明办")
    prog = make_programme("交通劝导")
    activity = make_activity(zone=zone, unit=unit, programmes=[prog])
    shift = make_shift(activity, starts_at=DECEMBER, capacity=10)
    people = [make_user(name=f"志愿者{i}") for i in range(3)]
    return {
        "zone": zone,
        "other_zone": other_zone,
        "unit": unit,
        "prog": prog,
        "activity": activity,
        "shift": shift,
        "people": people,
    }


def test_place_holding_statuses_match_the_triggers():
    assert {str(s) for s in PLACE_HOLDING_STATUSES} == {"pending", "confirmed"}
    assert participation._HOLDING == "('pending', 'confirmed')"


def _sign_up(db, world, status=SignupStatus.CONFIRMED, who=0):
    signup = Signup(shift=world["shift"], user=world["people"][who], status=status)
    db.session.add(signup)
    db.session.commit()
    return signup


def _expect_place(world, month="2026-12", who=0, zone=None):
    u = world["people"][who].id
    return {
        (month, "z", (zone or world["zone"]).id, u): 1,
        (month, "u", world["unit"].id, u): 1,
        (month, "p", world["prog"].id, u): 1,
    }


# Each write, and what the summary must then hold (None: nothing at all).
CASES = {
    "confirmed sign-up": (lambda db, w: _sign_up(db, w), lambda w: _expect_place(w)),
    "pending sign-up": (
        lambda db, w: _sign_up(db, w, SignupStatus.PENDING),
        lambda w: _expect_place(w),
    ),
    "waitlisted sign-up": (lambda db, w: _sign_up(db, w, SignupStatus.WAITLISTED), None),
    "sign-up cancelled": (
        lambda db, w: _set(db, _sign_up(db, w), status=SignupStatus.CANCELLED),
        None,
    ),
    "waitlisted then promoted": (
        lambda db, w: _set(
            db, _sign_up(db, w, SignupStatus.WAITLISTED), status=SignupStatus.CONFIRMED
        ),
        lambda w: _expect_place(w),
    ),
    "sign-up deleted": (lambda db, w: _delete(db, _sign_up(db, w)), None),
    "shift cancelled": (
        lambda db, w: (_sign_up(db, w), _set(db, w["shift"], status=ShiftStatus.CANCELLED)),
        None,
    ),
    "shift cancelled and restored": (
        lambda db, w: (
            _sign_up(db, w),
            _set(db, w["shift"], status=ShiftStatus.CANCELLED),
            _set(db, w["shift"], status=ShiftStatus.SCHEDULED),
        ),
        lambda w: _expect_place(w),
    ),
    "shift moved into January": (
        lambda db, w: _moved(db, w, DECEMBER + timedelta(days=40)),
        lambda w: _expect_place(w, month="2027-01"),
    ),
    # 23:30 on 31 December in Shanghai is 15:30 UTC: the local month decides.
    "shift at local new year's eve night": (
        lambda db, w: _moved(db, w, datetime(2026, 12, 31, 15, 30, tzinfo=UTC)),
        lambda w: _expect_place(w, month="2026-12"),
    ),
    "shift just after local midnight": (
        lambda db, w: _moved(db, w, datetime(2026, 12, 31, 16, 0, tzinfo=UTC)),
        lambda w: _expect_place(w, month="2027-01"),
    ),
    "shift deleted": (lambda db, w: (_sign_up(db, w), _delete(db, w["shift"])), None),
    "activity cancelled": (
        lambda db, w: (_sign_up(db, w), _set(db, w["activity"], status=ActivityStatus.CANCELLED)),
        None,
    ),
    "activity back to draft": (
        lambda db, w: (_sign_up(db, w), _set(db, w["activity"], status=ActivityStatus.DRAFT)),
        None,
    ),
    "activity finished": (
        lambda db, w: (_sign_up(db, w), _set(db, w["activity"], status=ActivityStatus.FINISHED)),
        lambda w: _expect_place(w),
    ),
    "activity moved to another zone": (
        lambda db, w: (_sign_up(db, w), _set(db, w["activity"], zone_id=w["other_zone"].id)),
        lambda w: _expect_place(w, zone=w["other_zone"]),
    ),
    "activity deleted": (lambda db, w: (_sign_up(db, w), _delete(db, w["activity"])), None),
    "programme unlinked": (
        lambda db, w: (_sign_up(db, w), _unlink(db, w)),
        lambda w: {k: v for k, v in _expect_place(w).items() if k[1] != "p"},
    ),
    "person deleted": (lambda db, w: (_sign_up(db, w), _delete(db, w["people"][0])), None),
}


def _moved(db, w, start):
    """Sign up, then move the shift to start at ``start`` (for 90 minutes)."""
    _sign_up(db, w)
    return _set(db, w["shift"], starts_at=start, ends_at=start + timedelta(minutes=90))


def _set(db, obj, **values):
    for name, value in values.items():
        setattr(obj, name, value)
    db.session.commit()
    return obj


def _delete(db, obj):
    db.session.delete(obj)
    db.session.commit()


def _unlink(db, w):
    db.session.execute(
        delete(activity_programmes).where(activity_programmes.c.activity_id == w["activity"].id)
    )
    db.session.commit()


@pytest.mark.parametrize("case", list(CASES))
def test_the_summary_follows_every_kind_of_write(db, world, case):
    write, expected = CASES[case]
    write(db, world)
    db.session.expire_all()
    assert participation.problems(db.session) == []
    assert _rows(db) == (expected(world) if expected else {})


def test_two_places_of_one_person_in_a_month_count_once_and_leave_one_by_one(db, world, make_shift):
    second = make_shift(world["activity"], starts_at=DECEMBER + timedelta(days=3))
    person = world["people"][0]
    first = _sign_up(db, world)
    other = Signup(shift=second, user=person, status=SignupStatus.CONFIRMED)
    db.session.add(other)
    db.session.commit()
    assert _rows(db)[("2026-12", "z", world["zone"].id, person.id)] == 2
    _set(db, first, status=SignupStatus.CANCELLED)
    assert _rows(db)[("2026-12", "z", world["zone"].id, person.id)] == 1
    assert participation.problems(db.session) == []


def test_bulk_updates_and_a_programme_linked_later(db, world):
    for who in range(3):
        _sign_up(db, world, who=who)
    db.session.execute(
        update(Signup).where(Signup.user_id == world["people"][2].id).values(status="cancelled")
    )
    db.session.execute(
        delete(activity_programmes).where(activity_programmes.c.activity_id == world["activity"].id)
    )
    db.session.execute(
        activity_programmes.insert().values(
            activity_id=world["activity"].id, programme_id=world["prog"].id
        )
    )
    db.session.commit()
    assert participation.problems(db.session) == []
    assert sum(1 for k in _rows(db) if k[1] == "p") == 2


def test_rebuild_gives_what_the_triggers_kept(db, world, make_shift):
    for who in range(3):
        _sign_up(db, world, who=who)
    make_shift(world["activity"], starts_at=DECEMBER + timedelta(days=31))
    kept = _rows(db)
    participation.rebuild(db.session.connection())
    db.session.commit()
    assert _rows(db) == kept


def test_a_migrated_database_has_the_triggers(app, db, backend):
    if backend == "sqlite":
        found = {
            name
            for (name,) in db.session.execute(
                text("SELECT name FROM sqlite_master WHERE type = 'trigger'")
            )
        }
    else:
        found = {
            name
            for (name,) in db.session.execute(
                text("SELECT tgname FROM pg_trigger WHERE NOT tgisinternal")
            )
        }
    assert set(participation.TRIGGER_NAMES + participation.MARK_TRIGGER_NAMES) <= found


def _random_mix(db, world, make_shift, make_user, rng):
    """Sign-ups, cancellations, promotions, moves and cancellations of shifts, in a fixed
    random order."""
    shifts = [world["shift"]] + [
        make_shift(world["activity"], starts_at=DECEMBER + timedelta(days=rng.randint(-40, 40)))
        for _ in range(4)
    ]
    people = world["people"] + [make_user(name=f"居民{i}") for i in range(5)]
    for _ in range(60):
        move = rng.random()
        if move < 0.5:
            shift, person = rng.choice(shifts), rng.choice(people)
            exists = db.session.scalar(
                select(Signup).where(Signup.shift_id == shift.id, Signup.user_id == person.id)
            )
            if exists is None:
                status = rng.choice(list(SignupStatus))
                db.session.add(Signup(shift=shift, user=person, status=status))
            else:
                exists.status = rng.choice(list(SignupStatus))
        elif move < 0.7:
            shift = rng.choice(shifts)
            shift.status = rng.choice(list(ShiftStatus))
        elif move < 0.85:
            shift = rng.choice(shifts)
            shift.starts_at = shift.starts_at + timedelta(days=rng.randint(-20, 20))
            shift.ends_at = shift.starts_at + timedelta(hours=2)
        else:
            world["activity"].status = rng.choice(
                [ActivityStatus.PUBLISHED, ActivityStatus.CANCELLED, ActivityStatus.FINISHED]
            )
        db.session.commit()
    return shifts


def test_the_dashboard_reads_the_same_figures_from_the_summary_as_from_the_sign_ups(
    db, app, world, make_shift, make_user, monkeypatch
):
    import random

    _random_mix(db, world, make_shift, make_user, random.Random(7))
    assert participation.problems(db.session) == []
    periods = [
        dash.month_of(DECEMBER.date()),
        dash.month_of(DECEMBER.date() - timedelta(days=31)),
        dash.make_period("custom", DECEMBER.date().replace(day=1), DECEMBER.date()),
    ]
    scopes = [
        dash.Scope("admin"),
        dash.Scope("leader", zone_ids=frozenset({world["zone"].id})),
        dash.Scope("organizer", unit_ids=frozenset({world["unit"].id})),
    ]
    summarised = {
        (p, s): sorted(dash._participants(p, s, s.shows_ranking)) for p in periods for s in scopes
    }
    monkeypatch.setattr(participation, "usable", lambda _tz: False)
    live = {
        (p, s): sorted(dash._participants(p, s, s.shows_ranking)) for p in periods for s in scopes
    }
    assert summarised == live
    assert any(rows for rows in live.values())


def test_a_month_period_reads_no_sign_up(db, world, count_queries):
    _sign_up(db, world)
    with count_queries() as counter:
        dash._participants(dash.month_of(DECEMBER.date()), dash.Scope("admin"), True)
    assert len(counter.statements) == 1
    assert "signups" not in counter.statements[0].lower()


def test_other_time_zones_count_live(app, db, world, count_queries, monkeypatch):
    _sign_up(db, world)
    monkeypatch.setitem(app.config, "PORTAL_TIMEZONE", "Europe/Berlin")
    with count_queries() as counter:
        rows = dash._participants(dash.month_of(DECEMBER.date()), dash.Scope("admin"), True)
    assert "signups" in counter.statements[0].lower()
    assert ("z", "current", world["zone"].id, 1) in [tuple(r) for r in rows]


# --- the shifts' attendance sums --------------------------------------------------------------

CONFIRMED_AT = datetime(2026, 12, 10, 6, 0, tzinfo=UTC)


def _mark(db, signup, **values):
    return _set(db, signup, **values)


# Each write on a sign-up of the shift, and (attended, no-shows, tenths of confirmed hours).
MARK_CASES = {
    "attended, hours confirmed": (
        lambda db, s: _mark(
            db, s, attendance="attended", hours=Decimal("2.5"), hours_confirmed_at=CONFIRMED_AT
        ),
        (1, 0, 25),
    ),
    "attended, hours not confirmed": (
        lambda db, s: _mark(db, s, attendance="attended", hours=Decimal("2.5")),
        (1, 0, 0),
    ),
    "attended, zero hours": (
        lambda db, s: _mark(
            db, s, attendance="attended", hours=Decimal("0"), hours_confirmed_at=CONFIRMED_AT
        ),
        (1, 0, 0),
    ),
    "no-show": (lambda db, s: _mark(db, s, attendance="no_show"), (0, 1, 0)),
    "attended then no-show": (
        lambda db, s: (
            _mark(
                db,
                s,
                attendance="attended",
                hours=Decimal("1.3"),
                hours_confirmed_at=CONFIRMED_AT,
            ),
            _mark(db, s, attendance="no_show"),
        ),
        (0, 1, 0),
    ),
    "hours corrected": (
        lambda db, s: (
            _mark(
                db, s, attendance="attended", hours=Decimal("3"), hours_confirmed_at=CONFIRMED_AT
            ),
            _mark(db, s, hours=Decimal("1.5")),
        ),
        (1, 0, 15),
    ),
    "mark taken back": (
        lambda db, s: (_mark(db, s, attendance="attended"), _mark(db, s, attendance=None)),
        (0, 0, 0),
    ),
    "marked sign-up deleted": (
        lambda db, s: (_mark(db, s, attendance="no_show"), _delete(db, s)),
        (0, 0, 0),
    ),
}


@pytest.mark.parametrize("case", list(MARK_CASES))
def test_the_shift_sums_follow_every_attendance_write(db, world, case):
    write, expected = MARK_CASES[case]
    signup = _sign_up(db, world)
    write(db, signup)
    db.session.expire_all()
    assert participation.mark_problems(db.session) == []
    shift = world["shift"]
    assert (shift.attended_count, shift.no_show_count, shift.record_tenths) == expected


def test_a_marked_sign_up_moved_to_another_shift_moves_its_sums(db, world, make_shift):
    other = make_shift(world["activity"], starts_at=DECEMBER + timedelta(days=1))
    signup = _mark(
        db,
        _sign_up(db, world),
        attendance="attended",
        hours=Decimal("2"),
        hours_confirmed_at=CONFIRMED_AT,
    )
    _set(db, signup, shift_id=other.id)
    db.session.expire_all()
    assert participation.mark_problems(db.session) == []
    assert (world["shift"].attended_count, other.attended_count, other.record_tenths) == (0, 1, 20)


def test_rebuilt_sums_equal_the_kept_ones(db, world):
    for who, mark in enumerate(("attended", "no_show", "attended")):
        _mark(
            db,
            _sign_up(db, world, who=who),
            attendance=mark,
            hours=Decimal("1.5"),
            hours_confirmed_at=CONFIRMED_AT,
        )
    db.session.expire_all()
    kept = (
        world["shift"].attended_count,
        world["shift"].no_show_count,
        world["shift"].record_tenths,
    )
    participation.rebuild_marks(db.session.connection())
    db.session.commit()
    db.session.expire_all()
    shift = world["shift"]
    assert (shift.attended_count, shift.no_show_count, shift.record_tenths) == kept == (2, 1, 30)

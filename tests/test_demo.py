"""The demo district: believable, from DOMAIN.md, and loading it twice changes nothing."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from portal.attendance.records import confirmed_hours, confirmed_records, record_fields
from portal.auth.services import authenticate
from portal.demo import DEMO_ACCOUNTS
from portal.models import (
    Activity,
    ActivityKind,
    Attendance,
    Certificate,
    HoursAdjustment,
    Programme,
    Shift,
    Signup,
    SignupStatus,
    Unit,
    User,
    Zone,
    participation,
)
from portal.models.signups import counter_mismatches
from portal.timeutil import now_utc, to_local

MODELS = (Zone, Unit, Programme, User, Activity, Shift, Signup, Certificate, HoursAdjustment)


def _counts(db):
    return {m.__name__: db.session.scalar(select(func.count()).select_from(m)) for m in MODELS}


def test_seed_demo_twice_changes_nothing(runner, db):
    first = runner.invoke(args=["seed-demo"])
    assert first.exit_code == 0, first.output
    counts = _counts(db)
    second = runner.invoke(args=["seed-demo"])
    assert second.exit_code == 0, second.output
    assert _counts(db) == counts
    assert "0 new activities" in second.output
    for _, phone, password in DEMO_ACCOUNTS:
        assert phone in second.output and password in second.output


def test_if_empty_leaves_existing_data_alone(runner, db, make_zone):
    make_zone("已有片区")
    result = runner.invoke(args=["seed-demo", "--if-empty"])
    assert result.exit_code == 0
    assert "already has data" in result.output
    assert _counts(db)["Activity"] == 0


@pytest.mark.demo_district
def test_demo_district_is_believable(runner, db):
    counts = _counts(db)
    assert counts["Zone"] >= 6 and counts["Unit"] >= 10 and counts["Activity"] >= 40
    zones = set(db.session.scalars(select(Zone.name)))
    assert {"立后", "福海"} <= zones
    assert all(z.population > 0 and z.street for z in db.session.scalars(select(Zone)))
    units = set(db.session.scalars(select(Unit.name)))
    for name in (
        "区城管局",
        "区交警大队",
        "区市场监管局",
        "区文体旅局",
        "区司法局",
        "区教育局",
        "区卫健局",
        "团区委",
    ):
        assert name in units
    assert any(u.endswith("街道办事处") for u in units)
    tops = set(db.session.scalars(select(Programme.name).where(Programme.parent_id.is_(None))))
    assert tops == {"五进", "八大专项整治", "十大文明工程", "省运会城市志愿服务"}
    wujin = db.session.scalar(select(Programme).where(Programme.name == "五进"))
    assert len(wujin.children) == 5
    places = " ".join(db.session.scalars(select(Activity.place)))
    for spot in ("县一小", "下尾街", "裕丰园", "富海市场", "福洋溪"):
        assert spot in places, spot
    kinds = set(db.session.scalars(select(Activity.kind)))
    assert kinds == {ActivityKind.VOLUNTEER, ActivityKind.COMMUNITY}
    # Leaders on zones, organizers on units.
    assert db.session.scalar(select(Zone).where(Zone.name == "立后")).leaders


@pytest.mark.demo_district
def test_demo_shifts_are_upcoming_in_four_weeks_some_full(runner, db):
    now = now_utc()
    shifts = [s for s in db.session.scalars(select(Shift)) if s.ends_at > now]
    assert all(now < s.starts_at < now + timedelta(days=29) for s in shifts)
    # School-gate shifts are on weekdays at 07:00 local time.
    gate = [s for s in shifts if s.activity.title.startswith("县一小")]
    assert gate and all(to_local(s.starts_at).weekday() < 5 for s in gate)
    assert {to_local(s.starts_at).strftime("%H:%M") for s in gate} == {"07:00", "16:30"}
    full = [s for s in shifts if s.is_full]
    nearly = [s for s in shifts if 0 < s.spots_left <= 2]
    assert full and nearly
    assert db.session.scalar(
        select(func.count()).select_from(Signup).where(Signup.status == SignupStatus.WAITLISTED)
    )
    for shift in db.session.scalars(select(Shift)):
        assert shift.taken_count <= shift.capacity
    assert counter_mismatches(db.session) == []
    assert participation.problems(db.session) == []  # the dashboard's summaries
    assert participation.mark_problems(db.session) == []


@pytest.mark.demo_district
def test_demo_people_never_overlap(runner, db):
    rows = db.session.execute(
        select(Signup.user_id, Shift.starts_at, Shift.ends_at)
        .join(Shift)
        .where(Signup.status.in_([SignupStatus.CONFIRMED, SignupStatus.PENDING]))
        .order_by(Signup.user_id, Shift.starts_at)
    ).all()
    for (u1, _s1, e1), (u2, s2, _e2) in zip(rows, rows[1:], strict=False):
        assert u1 != u2 or s2 >= e1


@pytest.mark.demo_district
def test_demo_logins_work(runner, db):
    for role, phone, password in DEMO_ACCOUNTS:
        user = authenticate(phone, password)
        assert user is not None, role
    admin = authenticate(*DEMO_ACCOUNTS[0][1:])
    organizer = authenticate(*DEMO_ACCOUNTS[1][1:])
    leader = authenticate(*DEMO_ACCOUNTS[2][1:])
    assert admin.is_admin and organizer.units and leader.led_zones


# --- the past: attendance, hours, a certificate ------------------------------------------------


def _past_signups(db):
    return list(db.session.scalars(select(Signup).join(Shift).where(Shift.ends_at < now_utc())))


@pytest.mark.demo_district
def test_demo_has_three_months_of_attendance(runner, db):
    now = now_utc()
    past = [s for s in db.session.scalars(select(Shift)) if s.ends_at < now]
    assert past
    assert min(s.starts_at for s in past) < now - timedelta(days=80)
    titles = {s.activity.title for s in past}
    assert {"县一小校门口交通文明劝导", "福洋溪河道清洁行动"} <= titles
    signups = _past_signups(db)
    volunteer = [s for s in signups if s.shift.activity.kind == ActivityKind.VOLUNTEER]
    attended = [s for s in volunteer if s.attendance == Attendance.ATTENDED]
    confirmed = [s for s in attended if s.hours_confirmed_at is not None]
    waiting = [s for s in attended if s.hours_confirmed_at is None]
    no_shows = [s for s in signups if s.attendance == Attendance.NO_SHOW]
    assert len(confirmed) > len(volunteer) * 0.6  # most came and have confirmed hours
    assert waiting and no_shows and len(no_shows) < len(signups) * 0.15
    assert all(s.attendance is not None for s in signups)  # nothing left unmarked
    for s in attended:
        assert s.hours is not None and s.hours % Decimal("0.5") == 0
        assert s.hours <= Decimal(str((s.shift.ends_at - s.shift.starts_at).seconds / 3600))
        assert s.checked_in_at is not None and s.checked_out_at is not None
        if s.hours_confirmed_at is not None:
            assert s.shift.ends_at <= s.hours_confirmed_at <= now
            assert s.hours_confirmed_by_id is not None
    for s in no_shows:
        assert s.hours is None and s.hours_confirmed_at is None
    # A community activity with attendance but never hours (records rules Art. 19).
    community = [s for s in signups if s.shift.activity.kind == ActivityKind.COMMUNITY]
    assert any(s.attendance == Attendance.ATTENDED for s in community)
    assert all(s.hours is None and s.hours_confirmed_at is None for s in community)
    # Adjustments keep old and new values with a reason and who.
    for adj in db.session.scalars(select(HoursAdjustment)):
        assert adj.old_hours != adj.new_hours == adj.signup.hours
        assert adj.reason and adj.actor_id


@pytest.mark.demo_district
def test_demo_organizer_has_overdue_records(runner, db):
    """Hours waiting past 10 working days on the demo organizer's own units."""
    organizer = authenticate(*DEMO_ACCOUNTS[1][1:])
    units = {u.id for u in organizer.units}
    now = now_utc()
    overdue = [
        s
        for s in _past_signups(db)
        if s.shift.activity.unit_id in units
        and s.attendance == Attendance.ATTENDED
        and s.hours_confirmed_at is None
        and s.shift.ends_at < now - timedelta(days=14)
    ]
    assert 1 <= len(overdue) <= 20


@pytest.mark.demo_district
@pytest.mark.both_databases
def test_demo_resident_has_hours_and_one_certificate(runner, db):
    resident = authenticate(*DEMO_ACCOUNTS[3][1:])
    total = confirmed_hours(resident.id)
    assert Decimal(30) <= total <= Decimal(60), total
    mine = db.session.scalars(select(Signup).where(Signup.user_id == resident.id)).all()
    assert any(s.attendance == Attendance.NO_SHOW for s in mine)
    assert any(
        s.attendance == Attendance.ATTENDED and s.hours_confirmed_at is None for s in mine
    )  # something still waiting for the organizer
    certs = db.session.scalars(select(Certificate).where(Certificate.user_id == resident.id)).all()
    assert len(certs) == 1
    cert = certs[0]
    assert cert.is_valid and cert.number.startswith("ZS-") and len(cert.code) == 16
    records = confirmed_records(resident.id, cert.period_start, cert.period_end)
    assert cert.records == [record_fields(r) for r in records]
    assert cert.record_count == len(records) > 0
    assert cert.total_hours == sum(Decimal(str(r["hours"])) for r in cert.records)
    assert cert.period_end < to_local(now_utc()).date()
    # Seeding again keeps the one certificate.
    assert runner.invoke(args=["seed-demo"]).exit_code == 0
    assert db.session.scalar(select(func.count(Certificate.id))) == 1

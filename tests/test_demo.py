"""The demo district: believable, from DOMAIN.md, and loading it twice changes nothing."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from portal.auth.services import authenticate
from portal.demo import DEMO_ACCOUNTS
from portal.models import (
    Activity,
    ActivityKind,
    Programme,
    Shift,
    Signup,
    SignupStatus,
    Unit,
    User,
    Zone,
)
from portal.timeutil import now_utc, to_local

MODELS = (Zone, Unit, Programme, User, Activity, Shift, Signup)


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


def test_demo_district_is_believable(runner, db):
    assert runner.invoke(args=["seed-demo"]).exit_code == 0
    counts = _counts(db)
    assert counts["Zone"] >= 6 and counts["Unit"] >= 10 and counts["Activity"] >= 40
    zones = set(db.session.scalars(select(Zone.name)))
    assert {"立后", "福海"} <= zones
    assert all(z.population > 0 and z.street for z in db.session.scalars(select(Zone)))
    units = set(db.session.scalars(select(Unit.name)))
    for name in ("区城管局", "区交警大队", "区市场监管局", "区文体旅局", "区司法局", "区教育局",
                 "区卫健局", "团区委"):
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


def test_demo_shifts_are_upcoming_in_four_weeks_some_full(runner, db):
    assert runner.invoke(args=["seed-demo"]).exit_code == 0
    now = now_utc()
    shifts = list(db.session.scalars(select(Shift)))
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
    for shift in shifts:
        assert shift.taken_count <= shift.capacity


def test_demo_people_never_overlap(runner, db):
    assert runner.invoke(args=["seed-demo"]).exit_code == 0
    rows = db.session.execute(
        select(Signup.user_id, Shift.starts_at, Shift.ends_at).join(Shift)
        .where(Signup.status.in_([SignupStatus.CONFIRMED, SignupStatus.PENDING]))
        .order_by(Signup.user_id, Shift.starts_at)
    ).all()
    for (u1, _s1, e1), (u2, s2, _e2) in zip(rows, rows[1:], strict=False):
        assert u1 != u2 or s2 >= e1


def test_demo_logins_work(runner, db):
    assert runner.invoke(args=["seed-demo"]).exit_code == 0
    for role, phone, password in DEMO_ACCOUNTS:
        user = authenticate(phone, password)
        assert user is not None, role
    admin = authenticate(*DEMO_ACCOUNTS[0][1:])
    organizer = authenticate(*DEMO_ACCOUNTS[1][1:])
    leader = authenticate(*DEMO_ACCOUNTS[2][1:])
    assert admin.is_admin and organizer.units and leader.led_zones

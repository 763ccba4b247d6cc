"""Organizer writes racing residents, and a mixed load, through real gunicorn workers.

Reuses the phones, server and databases of :mod:`tests.test_race_signups`. In each race 20
residents post the sign-up form at the same instant as the organizer posts one change to the
same shift: (a) delete it, (b) cancel it, (c) lower its capacity, (d) move its time.
Afterwards every resident either holds a place or was told why not, nobody is lost or
overbooked, the shift's counters equal its sign-ups, and SEQUENCE rose exactly once per
change that reaches calendars. The mixed load runs sign-ups, cancellations, roster views,
exports and registrations all at once and expects no 500 and nothing lost.
"""

from __future__ import annotations

import re
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest

from tests.test_race_signups import _FLASH_RE, _TOKEN_RE, Phone, Server, own_database

pytestmark = [pytest.mark.both_databases, pytest.mark.slow]

RESIDENTS = 20
ORGANIZER_PHONE = "13600000001"


def _prepare(url: str, password_hash: str):
    from portal import create_app
    from portal.extensions import db
    from portal.models import Activity, ActivityKind, ActivityStatus, Unit, UnitKind, User, Zone
    from tests.conftest import base_config

    app = create_app(base_config(url))
    with app.app_context():
        db.create_all()
        zone = Zone(name="福海", population=20000)
        unit = Unit(name="福海街道办", kind=UnitKind.STREET_OFFICE)
        activity = Activity(
            title="福洋溪周末护河志愿服务",
            kind=ActivityKind.VOLUNTEER,
            status=ActivityStatus.PUBLISHED,
            zone=zone,
            unit=unit,
            place="福洋溪",
        )
        organizer = User(
            real_name="陈志强",
            phone=ORGANIZER_PHONE,
            password_hash=password_hash,
            consent_version="2026-11",
        )
        organizer.units.append(unit)
        phones = [f"135{n:08d}" for n in range(1, RESIDENTS + 1)]
        db.session.add_all([zone, unit, activity, organizer])
        db.session.add_all(
            User(
                real_name=f"居民{n}",
                phone=p,
                password_hash=password_hash,
                consent_version="2026-11",
            )
            for n, p in enumerate(phones, 1)
        )
        db.session.commit()
        activity_id = activity.id
        db.session.remove()
    return app, activity_id, phones


def _new_shift(app, activity_id: int, day: int, capacity: int) -> int:
    from portal.extensions import db
    from portal.models import Shift

    with app.app_context():
        start = (datetime.now(UTC) + timedelta(days=day)).replace(
            hour=1, minute=0, second=0, microsecond=0
        )
        shift = Shift(
            activity_id=activity_id,
            starts_at=start,
            ends_at=start + timedelta(hours=2),
            capacity=capacity,
        )
        db.session.add(shift)
        db.session.commit()
        shift_id = shift.id
        db.session.remove()
    return shift_id


def _state(app, shift_id: int):
    from sqlalchemy import func, select

    from portal.extensions import db
    from portal.models import Shift, Signup, participation
    from portal.models.signups import counter_mismatches

    with app.app_context():
        shift = db.session.get(Shift, shift_id)
        rows = dict(
            db.session.execute(
                select(Signup.status, func.count(Signup.id))
                .where(Signup.shift_id == shift_id)
                .group_by(Signup.status)
            ).all()
        )
        state = {
            "exists": shift is not None,
            "capacity": shift.capacity if shift else None,
            "sequence": shift.sequence if shift else None,
            "status": str(shift.status) if shift else None,
            "confirmed": rows.get("confirmed", 0),
            "waitlisted": rows.get("waitlisted", 0),
            "mismatches": counter_mismatches(db.session),
            "participation": participation.problems(db.session),
            "marks": participation.mark_problems(db.session),
        }
        db.session.remove()
    return state


def _flash(phone: Phone, location: str) -> str:
    _, _, html = phone.request("GET", location.split("#", 1)[0] or "/")
    found = _FLASH_RE.findall(html)
    return found[0][1] if found else ""


def _edit_form(phone: Phone, shift_id: int, **changes) -> dict:
    status, _, html = phone.request("GET", f"/organize/shifts/{shift_id}/edit")
    assert status == 200, status
    form = {"csrf_token": _TOKEN_RE.search(html).group(1)}
    for name in ("day", "start", "end", "capacity", "post_name", "signup_opens", "signup_closes"):
        match = re.search(rf'name="{name}"[^>]*value="([^"]*)"', html) or re.search(
            rf'value="([^"]*)"[^>]*name="{name}"', html
        )
        form[name] = match.group(1) if match else ""
    for name in ("requires_approval", "waitlist_enabled"):
        if re.search(rf'name="{name}"[^>]*checked', html):
            form[name] = "y"
    form.update(changes)
    return form


def _organizer_request(organizer: Phone, change: str, shift_id: int, day: int):
    """Build the organizer's request for one change: (method, path, form)."""
    if change == "delete":
        return "POST", f"/organize/shifts/{shift_id}/delete", {"csrf_token": organizer.token}
    if change == "cancel":
        return (
            "POST",
            f"/organize/shifts/{shift_id}/cancel",
            {"csrf_token": organizer.token, "reason": "暴雨预警，活动暂停"},
        )
    if change == "lower":
        return (
            "POST",
            f"/organize/shifts/{shift_id}/edit",
            _edit_form(organizer, shift_id, capacity="5"),
        )
    later = (datetime.now(UTC) + timedelta(days=day + 1)).astimezone().date().isoformat()
    return "POST", f"/organize/shifts/{shift_id}/edit", _edit_form(organizer, shift_id, day=later)


@pytest.fixture(scope="module")
def world(backend, tmp_path_factory, password_hash):
    """One database, one gunicorn and 21 logged-in phones per backend, shared by the races.

    Each race works on a shift of its own, on a day of its own, so the races cannot
    disturb one another; starting gunicorn and logging 21 people in once instead of per
    test saves most of this module's time.
    """
    from tests.conftest import TEST_PASSWORD

    directory = tmp_path_factory.mktemp(f"race-organizer-{backend}")
    with own_database(backend, directory) as url:
        yield from _world(url, directory, password_hash, TEST_PASSWORD)


def _world(url: str, directory, password_hash: str, password: str):
    app, activity_id, phone_numbers = _prepare(url, password_hash)
    server = Server(url, directory / "gunicorn.log")
    try:
        residents = [Phone(server.port) for _ in phone_numbers]
        with ThreadPoolExecutor(max_workers=8) as pool:
            list(
                pool.map(
                    lambda pair: pair[0].login(pair[1], password),
                    zip(residents, phone_numbers, strict=True),
                )
            )
        organizer = Phone(server.port)
        organizer.login(ORGANIZER_PHONE, password)
        yield app, activity_id, residents, organizer, server
    finally:
        log = server.stop()
        from portal.extensions import db

        with app.app_context():
            db.engine.dispose()
    assert "database is locked" not in log
    assert "Traceback" not in log, log[-4000:]


@pytest.mark.parametrize("change", ["delete", "cancel", "lower", "move"])
def test_residents_race_an_organizer_change(world, change):
    app, activity_id, residents, organizer, _ = world
    day = 3 + ["delete", "cancel", "lower", "move"].index(change) * 3
    shift_id = _new_shift(app, activity_id, day, capacity=10)
    method, path, form = _organizer_request(organizer, change, shift_id, day)

    barrier = threading.Barrier(RESIDENTS + 1)
    answers: list[tuple[int, str] | None] = [None] * RESIDENTS
    organizer_answer: list[tuple[int, str]] = []
    back = f"/activities/{activity_id}#shift-{shift_id}"

    def resident(i: int) -> None:
        phone = residents[i]
        barrier.wait()
        status, location, _ = phone.request(
            "POST", f"/shifts/{shift_id}/signup", {"csrf_token": phone.token, "next": back}
        )
        answers[i] = (status, _flash(phone, location) if status == 302 else "")

    def organize() -> None:
        barrier.wait()
        status, location, _ = organizer.request(method, path, form)
        organizer_answer.append((status, _flash(organizer, location) if status == 302 else ""))

    threads = [threading.Thread(target=resident, args=(i,)) for i in range(RESIDENTS)]
    threads.append(threading.Thread(target=organize))
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert all(a is not None for a in answers) and organizer_answer

    state = _state(app, shift_id)
    assert state["mismatches"] == []
    assert state["participation"] == []  # the dashboard's summary followed every write
    assert state["marks"] == []
    placed = [a for a in answers if a[1].startswith("你已报名")]
    queued = [a for a in answers if "已加入候补" in a[1]]
    told = [a for a in answers if a[0] in (302, 404) and a not in placed and a not in queued]
    # Everyone got an answer: a place, a queue position, or a reason (shift gone → 404 page).
    assert len(placed) + len(queued) + len(told) == RESIDENTS
    assert all(a[0] == 404 or a[1] for a in told), told
    assert {a[0] for a in answers} <= {302, 404}
    org_status, org_message = organizer_answer[0]
    assert org_status in (200, 302), organizer_answer

    if change == "delete":
        if state["exists"]:  # someone signed up first: deletion is refused, places kept
            assert "不能删除" in org_message
            assert state["confirmed"] == len(placed) and state["waitlisted"] == len(queued)
        else:  # deleted first: nobody was told they have a place
            assert placed == [] and queued == []
        return
    assert state["confirmed"] == len(placed)
    assert state["waitlisted"] == len(queued)
    assert state["confirmed"] <= state["capacity"]
    if change == "cancel":
        assert state["status"] == "cancelled"
        assert state["sequence"] == 1
        assert all("已取消" in a[1] for a in told)
    elif change == "lower":
        if state["capacity"] == 5:
            assert state["confirmed"] <= 5
        else:  # more than five held places when the change came: refused with the count
            assert org_status == 200 and state["capacity"] == 10
        assert state["sequence"] == 0  # capacity is not in the calendar
    else:
        assert state["sequence"] == 1
        assert state["confirmed"] == min(RESIDENTS, 10)


def test_mixed_load_has_no_errors_and_loses_nothing(world):
    app, activity_id, residents, organizer, server = world
    shifts = [_new_shift(app, activity_id, 20 + n, capacity=6) for n in range(3)]
    barrier = threading.Barrier(RESIDENTS + 2 + 6)
    statuses: list[int] = []
    lock = threading.Lock()

    def keep(status: int) -> None:
        with lock:
            statuses.append(status)

    def resident(i: int) -> None:
        phone = residents[i]
        barrier.wait()
        for shift_id in shifts:
            status, _, _ = phone.request(
                "POST", f"/shifts/{shift_id}/signup", {"csrf_token": phone.token, "next": "/me"}
            )
            keep(status)
        if i % 3 == 0:  # some change their mind about the first of these shifts
            status, location, _ = phone.request("GET", f"/shifts/{shifts[0]}/cancel")
            keep(status)
            if "/signups/" in location:  # sent to the person's own sign-up on that shift
                status, _, _ = phone.request(
                    "POST",
                    "/signups/" + location.split("/signups/", 1)[1].split("#")[0],
                    {"csrf_token": phone.token},
                )
                keep(status)

    def organizer_reads() -> None:
        barrier.wait()
        for _ in range(4):
            for shift_id in shifts:
                for path in (
                    f"/organize/shifts/{shift_id}/roster",
                    f"/organize/shifts/{shift_id}/roster.csv",
                    f"/organize/shifts/{shift_id}/roster.xlsx",
                ):
                    status, _, _ = organizer.request("GET", path)
                    keep(status)

    def newcomer(n: int) -> None:
        phone = Phone(server.port)
        _, _, html = phone.request("GET", "/account/register")
        token = _TOKEN_RE.search(html).group(1)
        barrier.wait()
        status, _, _ = phone.request(
            "POST",
            "/account/register",
            {
                "csrf_token": token,
                "real_name": "新居民" + "甲乙丙丁戊己庚辛"[n],
                "phone": f"1340000{n:04d}",
                "password": "Fuhai-Creek-2026!",
                "password2": "Fuhai-Creek-2026!",
                "consent": "y",
            },
        )
        keep(status)

    threads = [threading.Thread(target=resident, args=(i,)) for i in range(RESIDENTS)]
    threads += [threading.Thread(target=organizer_reads) for _ in range(2)]
    threads += [threading.Thread(target=newcomer, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)

    assert 500 not in statuses and statuses, sorted(set(statuses))
    assert set(statuses) <= {200, 302}, sorted(set(statuses))
    from sqlalchemy import func, select

    from portal.extensions import db
    from portal.models import AuditEntry, Signup, SignupStatus, User, participation
    from portal.models.signups import counter_mismatches

    with app.app_context():
        assert counter_mismatches(db.session) == []
        assert participation.problems(db.session) == []
        assert participation.mark_problems(db.session) == []
        for shift_id in shifts:
            confirmed = db.session.scalar(
                select(func.count(Signup.id)).where(
                    Signup.shift_id == shift_id, Signup.status == SignupStatus.CONFIRMED
                )
            )
            assert confirmed == 6  # 20 wanted 6 places; cancellations were refilled
        assert (
            db.session.scalar(select(func.count(User.id)).where(User.phone.like("1340000%"))) == 6
        )
        views = db.session.scalar(
            select(func.count(AuditEntry.id)).where(
                AuditEntry.action.in_(
                    ["roster.view_full", "export.roster.csv", "export.roster.xlsx"]
                )
            )
        )
        assert views == 2 * 4 * 3 * 3  # every view and download logged
        db.session.remove()

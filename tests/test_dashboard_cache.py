"""The dashboard's cached board always equals the board worked out afresh (issue 12, item 3).

The cache (portal/dashboard/freshness.py) is keyed by a data version that every transaction
writing a table the dashboard reads bumps in the same transaction. These tests change the
data every way the figures depend on — one kind of write at a time (table-driven), in a
rolled-back transaction and savepoint, and in a concurrent mix of sign-ups, cancellations,
attendance marks and edits from several threads while others keep reading the cached
page — and compare the cached board with :func:`compute_board` on both databases.
"""

from __future__ import annotations

import random
import threading
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import insert, select, update

from portal import pagecache
from portal.dashboard import freshness, services
from portal.dashboard.services import Period, Scope
from portal.database import begin_write
from portal.models import (
    ActivityStatus,
    Attendance,
    LeaderVisit,
    Shift,
    ShiftStatus,
    Signup,
    Zone,
    activity_programmes,
)
from portal.signups.services import SignupError, cancel_signup, sign_up
from portal.timeutil import local_today

pytestmark = pytest.mark.both_databases


def _period() -> Period:
    today = local_today()
    return Period("custom", today - timedelta(days=10), today + timedelta(days=20))


SCOPES = [Scope("admin")]


def _flat(b: services.Board) -> dict:
    return {
        name: [asdict(f) for f in getattr(b, name)]
        for name in ("zones", "previous_zones", "units", "programmes")
    } | {"weeks": [asdict(w) for w in b.weeks]}


def _assert_fresh(db, scopes=None, period=None) -> None:
    """The page's board (cached or not) equals the board worked out afresh, in one snapshot."""
    period = period or _period()
    for scope in scopes or SCOPES:
        db.session.commit()  # a new snapshot
        cached = services.board(period, scope)
        again = services.board(period, scope)  # a hit now, whatever the first was
        truth = services.compute_board(period, scope)
        assert _flat(cached) == _flat(truth), scope
        assert _flat(again) == _flat(truth), scope
        db.session.commit()


@pytest.fixture
def town(
    db, make_zone, make_unit, make_user, make_activity, make_shift, make_signup, make_programme
):
    zones = [make_zone("甲", population=1000), make_zone("乙", population=2000)]
    units = [make_unit("单位一"), make_unit("单位二")]
    prog = make_programme("交通秩序")
    people = [make_user(f"居民{i}") for i in range(12)]
    leader = make_user("林建华", zones=[zones[0]])
    activities = [
        make_activity(
            f"活动{i}",
            zone=zones[i % 2],
            unit=units[i % 2],
            programmes=[prog] if i % 2 == 0 else [],
        )
        for i in range(4)
    ]
    shifts = []
    for i, activity in enumerate(activities):
        for d in (1, 3):
            shifts.append(make_shift(activity, starts_in=timedelta(days=d, hours=i), capacity=4))
    for i, person in enumerate(people[:6]):
        make_signup(shifts[i % len(shifts)], person)
    db.session.commit()
    return {
        "zones": zones,
        "units": units,
        "people": people,
        "leader": leader,
        "activities": activities,
        "shifts": shifts,
        "programme": prog,
    }


def test_a_write_through_the_engine_changes_the_version_in_its_own_transaction(db, town):
    db.session.commit()
    before = freshness.current_key(db.session)
    assert before is not None  # the fixtures wrote
    db.session.commit()
    assert freshness.current_key(db.session) == before  # reading changes nothing
    db.session.commit()
    town["zones"][0].population = 1500
    db.session.flush()
    db.session.rollback()
    assert freshness.current_key(db.session) == before  # rolled back with the write
    db.session.commit()
    town["zones"][0].population = 1500
    db.session.commit()
    assert freshness.current_key(db.session) != before


def test_a_rolled_back_savepoint_does_not_hide_a_later_write(db, town):
    db.session.commit()
    before = freshness.current_key(db.session)
    begin_write(db.session())
    with db.session.begin_nested() as nested:
        town["zones"][1].population = 7
        db.session.flush()
        nested.rollback()
    town["zones"][0].population = 1234
    db.session.commit()
    assert freshness.current_key(db.session) != before
    _assert_fresh(db)


def _signup(db, town):
    sign_up(town["people"][10], town["shifts"][5].id)


def _cancel(db, town):
    signup = db.session.scalar(select(Signup).where(Signup.user_id == town["people"][0].id))
    cancel_signup(town["people"][0], signup.id)


def _attend(db, town):
    signup = db.session.scalar(select(Signup).where(Signup.user_id == town["people"][1].id))
    signup.attendance = Attendance.ATTENDED
    signup.hours = Decimal("2.5")
    signup.hours_confirmed_at = datetime.now(UTC)


def _no_show(db, town):
    signup = db.session.scalar(select(Signup).where(Signup.user_id == town["people"][2].id))
    signup.attendance = Attendance.NO_SHOW


def _capacity(db, town):
    town["shifts"][0].capacity = 9


def _cancel_shift(db, town):
    town["shifts"][1].status = ShiftStatus.CANCELLED


def _cancel_activity(db, town):
    town["activities"][1].status = ActivityStatus.CANCELLED


def _move_activity(db, town):
    town["activities"][2].zone = town["zones"][1]


def _population(db, town):
    town["zones"][1].population = 50


def _rename_unit(db, town):
    town["units"][0].name = "单位甲"


def _link_programme(db, town):
    db.session.execute(
        insert(activity_programmes).values(
            activity_id=town["activities"][1].id, programme_id=town["programme"].id
        )
    )


def _bulk_update(db, town):
    db.session.execute(update(Shift).where(Shift.id == town["shifts"][2].id).values(capacity=1))


def _visit(db, town):
    db.session.add(
        LeaderVisit(
            leader=town["leader"], zone=town["zones"][0], visited_on=local_today(), place="校门口"
        )
    )


def _move_shift(db, town):
    shift = town["shifts"][3]
    shift.starts_at, shift.ends_at = (
        shift.starts_at + timedelta(days=40),
        shift.ends_at + timedelta(days=40),
    )


def _delete_signup(db, town):
    db.session.delete(
        db.session.scalar(select(Signup).where(Signup.user_id == town["people"][3].id))
    )


WRITES = [
    _signup,
    _cancel,
    _attend,
    _no_show,
    _capacity,
    _cancel_shift,
    _cancel_activity,
    _move_activity,
    _population,
    _rename_unit,
    _link_programme,
    _bulk_update,
    _visit,
    _move_shift,
    _delete_signup,
]


@pytest.mark.parametrize("write", WRITES, ids=[w.__name__.strip("_") for w in WRITES])
def test_every_kind_of_write_shows_at_once(db, town, write):
    scopes = [
        Scope("admin"),
        Scope("leader", zone_ids=frozenset({town["zones"][0].id})),
        Scope("organizer", unit_ids=frozenset({town["units"][0].id})),
    ]
    _assert_fresh(db, scopes)  # cached now
    before = {s: _flat(services.board(_period(), s)) for s in scopes}
    db.session.commit()
    begin_write(db.session())
    write(db, town)
    db.session.commit()
    _assert_fresh(db, scopes)
    assert any(_flat(services.board(_period(), s)) != before[s] for s in scopes)


def test_the_page_is_served_from_the_cache_until_something_is_written(
    client, login, db, town, make_user, count_queries
):
    login(make_user("管理员", is_admin=True))
    assert client.get("/dashboard/").status_code == 200
    with count_queries() as hit:
        assert client.get("/dashboard/").status_code == 200
    pagecache.clear()  # the rendered page is kept too: compare the board's own statements
    with count_queries() as board_hit:
        assert client.get("/dashboard/").status_code == 200
    freshness.clear()
    pagecache.clear()
    with count_queries() as miss:
        assert client.get("/dashboard/").status_code == 200
    assert len(hit) < len(board_hit) < len(miss)
    assert len(board_hit) <= len(miss) - 5  # the board's own statements are skipped


WRITERS = 4
ROUNDS = 12


def test_a_concurrent_mix_of_writes_never_leaves_stale_figures(app, db, town, make_user):
    """Writers sign people up, cancel, mark attendance and hours, and edit shifts, zones and
    activities from several threads while readers keep taking the (cached) board; afterwards
    the cached board equals the board worked out afresh, for every scope."""
    extra = [make_user(f"志愿者{i}") for i in range(WRITERS * ROUNDS)]
    ids = {
        "people": [p.id for p in [*town["people"], *extra]],
        "shifts": [s.id for s in town["shifts"]],
        "zones": [z.id for z in town["zones"]],
        "activities": [a.id for a in town["activities"]],
    }
    scopes = [
        Scope("admin"),
        Scope("leader", zone_ids=frozenset({ids["zones"][0]})),
        Scope("organizer", unit_ids=frozenset({town["units"][1].id})),
    ]
    db.session.commit()
    period = _period()
    errors: list[BaseException] = []
    stop = threading.Event()
    start = threading.Barrier(WRITERS + 2)
    hits = {"reads": 0}

    def writer(n: int) -> None:
        rng = random.Random(n)
        from portal.extensions import db as _db
        from portal.models import Activity, User

        with app.app_context():
            start.wait()
            try:
                for r in range(ROUNDS):
                    kind = rng.choice(["signup", "signup", "cancel", "attend", "edit"])
                    try:
                        if kind == "signup":
                            user = _db.session.get(User, ids["people"][n * ROUNDS + r])
                            sign_up(user, rng.choice(ids["shifts"]))
                        elif kind == "cancel":
                            begin_write(_db.session())
                            row = _db.session.execute(
                                select(Signup.id, Signup.user_id)
                                .where(Signup.status.in_(("confirmed", "pending")))
                                .order_by(Signup.id)
                                .limit(1)
                                .offset(rng.randrange(3))
                            ).first()
                            if row is not None:
                                cancel_signup(_db.session.get(User, row.user_id), row.id)
                        elif kind == "attend":
                            begin_write(_db.session())
                            s = _db.session.scalar(
                                select(Signup)
                                .where(Signup.status == "confirmed", Signup.attendance.is_(None))
                                .order_by(Signup.id.desc())
                                .limit(1)
                            )
                            if s is not None:
                                s.attendance = rng.choice(list(Attendance))
                                s.hours = Decimal(rng.choice(["1.5", "2", "3"]))
                                s.hours_confirmed_at = datetime.now(UTC)
                        else:
                            begin_write(_db.session())
                            what = rng.randrange(3)
                            if what == 0:
                                shift = _db.session.get(Shift, rng.choice(ids["shifts"]))
                                shift.capacity = max(shift.taken_count, 1) + rng.randrange(4)
                            elif what == 1:
                                zone = _db.session.get(Zone, rng.choice(ids["zones"]))
                                zone.population = rng.randrange(500, 5000)
                            else:
                                act = _db.session.get(Activity, rng.choice(ids["activities"]))
                                act.title = f"活动 {n}-{r}"
                        _db.session.commit()
                    except SignupError:
                        _db.session.rollback()
            except BaseException as exc:  # noqa: BLE001 - reported by the test
                errors.append(exc)
                _db.session.rollback()
            finally:
                _db.session.remove()

    def reader() -> None:
        from portal.extensions import db as _db

        with app.app_context():
            start.wait()
            try:
                while not stop.is_set():
                    for scope in scopes:
                        services.board(period, scope)
                        _db.session.commit()
                        hits["reads"] += 1
            except BaseException as exc:  # noqa: BLE001
                errors.append(exc)
            finally:
                _db.session.remove()

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(WRITERS)]
    readers = [threading.Thread(target=reader)]
    for t in [*threads, *readers]:
        t.start()
    start.wait()
    for t in threads:
        t.join(120)
    stop.set()
    for t in readers:
        t.join(120)
    assert not errors, errors
    assert hits["reads"] > 0
    db.session.expire_all()
    _assert_fresh(db, scopes, period)
    # and the page's other periods: this month with its previous month and trend
    _assert_fresh(db, scopes, services.make_period("month"))


def test_writes_to_other_tables_leave_the_cache_alone(db, town):
    from portal.audit.services import record

    db.session.commit()
    before = freshness.current_key(db.session)
    begin_write(db.session())
    record("test.note", None, "nothing the dashboard shows")
    db.session.commit()
    assert freshness.current_key(db.session) == before


@pytest.mark.parametrize(
    "statement, watched",
    [
        ("INSERT INTO signups (shift_id) VALUES (1)", True),
        ('UPDATE "shifts" SET capacity=1', True),
        ("DELETE FROM leader_visits WHERE id = 1", True),
        ("INSERT OR IGNORE INTO activity_programmes VALUES (1, 2)", True),
        ("  update zones set population = 1", True),
        ("TRUNCATE audit_entries", True),
        ("INSERT INTO audit_entries (action) VALUES ('x')", False),
        ("SELECT * FROM signups", False),
        ("UPDATE notifications SET read_at = NULL", False),
    ],
)
def test_which_statements_bump_the_version(statement, watched):
    assert freshness.touches_watched(statement) is watched

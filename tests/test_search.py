"""Search and the fast list queries (issues 12 and 13), on both databases.

- Multi-word search: every word must match, each in the title, place, description, zone,
  unit or programme; a zone's name finds all its activities; one- and two-character words
  (common in Chinese, below the trigram index) work too.
- The text index agrees with the activities after a concurrent mix of edits (titles,
  places, zone/unit/programme renames, programme changes, deletions).
- The list's cut-off plan gives exactly the page a full scan gives, on every page and filter.
- Statements per page stay constant in data size (list with search, API shifts, my schedule).
"""

from __future__ import annotations

import random
import re
import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import StaleDataError

from portal.browse import queries
from portal.browse.services import ActivityFilters, shift_window
from portal.database import begin_write
from portal.models import (
    Activity,
    ActivityKind,
    ActivityStatus,
    Programme,
    Shift,
    ShiftStatus,
    Signup,
    SignupStatus,
    Unit,
    Zone,
)
from portal.models.search import integrity_problems

pytestmark = pytest.mark.both_databases


def _titles(client, query: str) -> list[str]:
    response = client.get("/activities" + query)
    assert response.status_code == 200
    return re.findall(
        r'<h3><a href="/activities/\d+">([^<]+)</a></h3>', response.get_data(as_text=True)
    )


@pytest.fixture
def town(db, make_zone, make_unit, make_programme, make_activity, make_shift):
    lihou, fuhai = make_zone("立后"), make_zone("福海")
    traffic_police, market = make_unit("区交警大队"), make_unit("区市场监管局")
    zhengzhi = make_programme("八大专项整治", code="zhengzhi")
    jiaotong = make_programme("交通秩序", parent=zhengzhi, code="zz-jiaotong")
    nongmao = make_programme("农贸市场", parent=zhengzhi, code="zz-nongmao")
    liyi = make_programme("礼仪规范进片区", code="liyi")
    plans = [
        ("县一小校门口交通劝导", lihou, traffic_police, [jiaotong], "县一小校门口"),
        ("下尾街路口劝导", lihou, traffic_police, [jiaotong], "下尾街与南门路交叉路口"),
        ("裕丰园市场门口秩序维护", lihou, market, [nongmao], "裕丰园市场正门"),
        ("富海市场环境整治", fuhai, market, [nongmao], "富海市场"),
        ("文明礼仪课堂", fuhai, market, [liyi], "福海社区文化活动中心"),
        ("Civic English Corner", fuhai, market, [liyi], "Library Room 3"),
    ]
    for i, (title, zone, unit, progs, place) in enumerate(plans):
        a = make_activity(title, zone=zone, unit=unit, programmes=progs, place=place)
        make_shift(a, starts_in=timedelta(days=1, hours=i))
    return {"lihou": lihou, "fuhai": fuhai}


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("县一小", ["县一小校门口交通劝导"]),  # 3 characters: the trigram index
        ("县一小 交通", ["县一小校门口交通劝导"]),  # two words: both must match
        ("县一小 市场", []),
        ("交通", ["县一小校门口交通劝导", "下尾街路口劝导"]),  # 2 characters; 交通秩序
        ("立后", ["县一小校门口交通劝导", "下尾街路口劝导", "裕丰园市场门口秩序维护"]),  # zone
        ("立后 市场", ["裕丰园市场门口秩序维护"]),  # zone and title
        ("福海 交警", []),
        ("区交警大队", ["县一小校门口交通劝导", "下尾街路口劝导"]),  # unit
        ("交通秩序", ["县一小校门口交通劝导", "下尾街路口劝导"]),  # programme
        ("八大专项整治 福海", ["富海市场环境整治"]),  # a parent programme, and a zone
        ("南门路", ["下尾街路口劝导"]),  # place
        ("劝导 劝导", ["县一小校门口交通劝导", "下尾街路口劝导"]),  # a repeated word
        ("english", ["Civic English Corner"]),  # case does not matter
        ("room 3", ["Civic English Corner"]),
        (
            "市",
            ["裕丰园市场门口秩序维护", "富海市场环境整治", "文明礼仪课堂", "Civic English Corner"],
        ),  # one character (the unit 区市场监管局)
        ('"', []),  # characters with a meaning to FTS or LIKE are plain text
        ('"县一小"', []),
        ("100%", []),
        ("_", []),
        ("AND OR NOT", []),
        ("县一小*", []),
    ],
)
def test_multi_word_search(client, town, q, expected):
    from urllib.parse import quote

    assert sorted(_titles(client, "?q=" + quote(q))) == sorted(expected)


def test_zone_name_finds_every_activity_of_the_zone(client, town, db, make_activity, make_shift):
    zone = town["lihou"]
    for i in range(5):
        make_shift(
            make_activity(f"片区活动{i}", zone=zone, place="某处"),
            starts_in=timedelta(days=2, hours=i),
        )
    found = _titles(client, "?q=立后")
    assert len(found) == 8
    assert len(_titles(client, f"?zone={zone.id}")) == 8


def test_api_shifts_share_the_search(client, town):
    from urllib.parse import quote

    body = client.get("/api/v1/shifts?q=" + quote("立后 市场")).get_json()
    assert [s["activity_title"] for s in body["items"]] == ["裕丰园市场门口秩序维护"]
    assert body["total"] == 1


# --- the index after a concurrent mix of edits ---------------------------------------------------


WORDS = [
    "县一小",
    "交通",
    "市场",
    "立后",
    "福海",
    "新名",
    "改名单位",
    "清洁",
    "劝导",
    "新项目",
    "Corner",
    "园",
]


def _truth(db, word: str) -> set[int]:
    """Which published activities match ``word``, computed in Python from the rows."""
    w = word.lower()
    found = set()
    for a in db.session.scalars(select(Activity)):
        names = [a.title, a.place, a.description, a.zone.name, a.unit.name]
        for p in a.programmes:
            names.append(p.name)
            if p.parent is not None:
                names.append(p.parent.name)
        if any(w in (n or "").lower() for n in names):
            found.add(a.id)
    return found


def _searched(db, word: str) -> set[int]:
    stmt = select(Activity.id).where(*queries.activity_conditions(ActivityFilters(q=word)))
    return set(db.session.scalars(stmt))


def test_index_agrees_after_concurrent_edits(app, db, town, backend):
    db.session.remove()
    errors: list[BaseException] = []

    def worker(seed: int) -> None:
        rng = random.Random(seed)
        with app.app_context():
            try:
                for step in range(12):
                    begin_write(db.session())  # as every request that writes does
                    acts = db.session.scalars(select(Activity).order_by(Activity.id)).all()
                    a = rng.choice(acts)
                    move = rng.randrange(7)
                    if move == 0:
                        title = rng.choice(["新名活动", "河道清洁", "县一小值守"])
                        a.title = f"{title}{seed}{step}"
                    elif move == 1:
                        a.place = rng.choice(["新城公园", "裕丰园北门", "福海桥"])
                    elif move == 2:
                        zone = db.session.get(Zone, a.zone_id)
                        zone.name = f"新名片区{seed}-{step}"
                    elif move == 3:
                        unit = db.session.get(Unit, a.unit_id)
                        unit.name = f"改名单位{seed}-{step}"
                    elif move == 4:
                        prog = Programme(code=f"new-{seed}-{step}", name=f"新项目{seed}{step}")
                        a.programmes.append(prog)
                    elif move == 5:
                        a.programmes.clear()
                    else:
                        db.session.add(
                            Activity(
                                title=f"新增交通活动{seed}-{step}",
                                kind=ActivityKind.VOLUNTEER,
                                status=ActivityStatus.PUBLISHED,
                                zone_id=a.zone_id,
                                unit_id=a.unit_id,
                                place="市场路",
                            )
                        )
                    try:
                        db.session.commit()
                    except (StaleDataError, IntegrityError):
                        # another worker deleted the activity (a row gone, or a programme
                        # link to an activity no longer there): a lost race, fine
                        db.session.rollback()
                    if step == 6 and seed == 1:
                        begin_write(db.session())
                        victim = db.session.scalars(
                            select(Activity).order_by(Activity.id.desc())
                        ).first()
                        db.session.delete(victim)
                        db.session.commit()
            except BaseException as exc:  # noqa: BLE001 - reported below
                db.session.rollback()
                errors.append(exc)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=worker, args=(seed,)) for seed in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    with app.app_context():
        assert integrity_problems(db.session) == []
        for word in WORDS:
            assert _searched(db, word) == _truth(db, word), word


# --- the cut-off plan gives the same pages as a full scan ----------------------------------------


@pytest.fixture
def busy(db, make_zone, make_unit):
    """60 activities with 1–12 shifts each over three weeks, some full, some cancelled."""
    rng = random.Random(7)
    zones = [make_zone(f"区{i}") for i in range(3)]
    unit = make_unit("忙碌单位")
    now = datetime.now(UTC).replace(microsecond=0)
    for i in range(60):
        a = Activity(
            title=f"活动{i:02d}" + ("交通" if i % 3 == 0 else ""),
            kind=ActivityKind.VOLUNTEER,
            status=ActivityStatus.PUBLISHED,
            zone=zones[i % 3],
            unit=unit,
            place="地点",
        )
        db.session.add(a)
        for _k in range(rng.randint(1, 12)):
            start = now + timedelta(hours=rng.randint(-48, 500))
            db.session.add(
                Shift(
                    activity=a,
                    starts_at=start,
                    ends_at=start + timedelta(hours=2),
                    capacity=2,
                    status=ShiftStatus.CANCELLED if rng.random() < 0.1 else ShiftStatus.SCHEDULED,
                )
            )
    db.session.commit()
    shifts = db.session.scalars(select(Shift)).all()
    from portal.models import User

    people = [User(real_name="甲", phone=f"1360000{i:04d}") for i in range(2)]
    db.session.add_all(people)
    db.session.commit()
    for s in shifts[::3]:  # every third shift full
        for p in people:
            db.session.add(Signup(shift=s, user=p, status=SignupStatus.CONFIRMED))
    db.session.commit()
    return zones


@pytest.mark.parametrize("per_page", [1, 5, 20])
@pytest.mark.parametrize("case", ["all", "zone", "open", "q", "dates"])
def test_cut_off_pages_equal_a_full_scan(db, busy, per_page, case):
    from portal.timeutil import local_today

    f = ActivityFilters()
    if case == "zone":
        f.zone_id = busy[1].id
    elif case == "open":
        f.open_only = True
    elif case == "q":
        f.q = "交通"
    elif case == "dates":
        today = local_today()
        f.date_from, f.date_to = today + timedelta(days=3), today + timedelta(days=9)
    start, end = shift_window(f)
    full = db.session.execute(queries.activity_page_statement(f, start, end, 1000, 0, None)).all()
    assert full, "the fixture gives every case some rows"
    assert queries.count_activities(f, start, end) == len(full)
    expected = [(r[0].id, r[1], r[2], r[3]) for r in full]
    got = []
    for offset in range(0, len(full) + per_page, per_page):
        rows = queries.page_rows(f, start, end, per_page, offset)
        got += [(r[0].id, r[1], r[2], r[3]) for r in rows]
    assert got == expected
    for _a, _start, count, places in expected:
        assert count >= 1 and places >= 0


# --- statements per page: constant in data size --------------------------------------------------


def _grow(db, zone, unit, n, resident=None):
    start = datetime.now(UTC) + timedelta(days=1)
    for i in range(n):
        a = Activity(
            title=f"交通活动{i}",
            kind=ActivityKind.VOLUNTEER,
            status=ActivityStatus.PUBLISHED,
            zone=zone,
            unit=unit,
            place="市场路",
        )
        db.session.add(a)
        for k in range(3):
            shift = Shift(
                activity=a,
                starts_at=start + timedelta(minutes=i, hours=k),
                ends_at=start + timedelta(minutes=i, hours=k + 1),
                capacity=3,
            )
            db.session.add(shift)
            if resident is not None and k == 0:
                db.session.add(Signup(shift=shift, user=resident, status=SignupStatus.CONFIRMED))
    db.session.commit()


@pytest.mark.parametrize(
    "path",
    [
        "/activities?q=%E4%BA%A4%E9%80%9A%E6%B4%BB%E5%8A%A8+%E5%B8%82%E5%9C%BA",  # 交通活动 市场
        "/activities?open=1&page=2",
        "/api/v1/shifts",
        "/api/v1/shifts?q=%E4%BA%A4%E9%80%9A&open=1",
        "/api/v1/activities",
    ],
)
def test_statements_constant_in_data_size(client, db, count_queries, make_zone, make_unit, path):
    zone, unit = make_zone(), make_unit()
    _grow(db, zone, unit, 30)
    with count_queries() as small:
        assert client.get(path).status_code == 200
    _grow(db, zone, unit, 300)
    with count_queries() as large:
        assert client.get(path).status_code == 200
    assert len(small) == len(large), large.statements
    if path.startswith("/activities"):
        assert not any("FROM signups" in s for s in large.statements), "places from counters"


def test_my_schedule_statements_constant(
    client, db, count_queries, make_zone, make_unit, make_user, login
):
    zone, unit = make_zone(), make_unit()
    resident = login(make_user("李四"))
    _grow(db, zone, unit, 5, resident=resident)
    with count_queries() as small:
        assert client.get("/me").status_code == 200
    _grow(db, zone, unit, 60, resident=resident)
    other = make_user("王五")
    _grow(db, zone, unit, 200, resident=other)
    with count_queries() as large:
        assert client.get("/me").status_code == 200
    assert len(small) == len(large), large.statements

"""The command-centre dashboard: figures against a hand-computed district, the ranking, the
periods in Asia/Shanghai, who sees what, statements per page, XLSX cells; leader visits.
"""

from __future__ import annotations

import io
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from portal import pagecache
from portal.attendance.records import confirmed_hours
from portal.dashboard import freshness, services
from portal.dashboard.services import DashboardError, Figures, Period, make_period
from portal.models import (
    ActivityKind,
    ActivityStatus,
    Attendance,
    AuditEntry,
    LeaderVisit,
    ShiftStatus,
    SignupStatus,
)
from portal.timeutil import local_to_utc

pytestmark = pytest.mark.both_databases

NOV = Period("custom", date(2026, 11, 1), date(2026, 11, 30))
NOV_URL = "/dashboard/?period=custom&start=2026-11-01&end=2026-11-30"


def local(y, m, d, hh, mm=0):
    from datetime import time

    return local_to_utc(date(y, m, d), time(hh, mm))


@pytest.fixture
def district(
    db, make_zone, make_unit, make_user, make_activity, make_shift, make_signup, make_programme
):
    """Zones 甲 (population 1,000), 乙 (2,000), 丙 (no population, nothing held).

    November, by hand: 甲 1 activity, 2 live shifts (capacity 6, 4 places taken), 4 sign-ups,
    3 people, 3.5 confirmed hours, 3 attended + 1 no-show, 2 leader visits. 乙 1 community
    activity, 1 shift (capacity 10, 2 taken), 2 people, no hours. A cancelled shift, a draft
    activity, a cancelled sign-up, unconfirmed hours and a shift at 00:30 on 1 December
    never count in November.
    """
    a_zone, b_zone, c_zone = (
        make_zone("甲", population=1000),
        make_zone("乙", population=2000),
        make_zone("丙", population=0),
    )
    u1, u2 = make_unit("单位一"), make_unit("单位二")
    prog = make_programme("交通秩序")
    people = [make_user(f"居民{i}") for i in range(6)]
    leader = make_user("林建华", zones=[a_zone])
    a1 = make_activity("劝导", zone=a_zone, unit=u1, programmes=[prog])
    a2 = make_activity("讲座", zone=b_zone, unit=u2, kind=ActivityKind.COMMUNITY)
    a3 = make_activity("草稿", zone=b_zone, unit=u1, status=ActivityStatus.DRAFT)
    ok = datetime(2026, 12, 1, tzinfo=UTC)

    s1 = make_shift(a1, starts_at=local(2026, 11, 10, 9), capacity=4)
    make_signup(
        s1, people[1], attendance=Attendance.ATTENDED, hours=Decimal("2"), hours_confirmed_at=ok
    )
    make_signup(s1, people[2], attendance=Attendance.ATTENDED, hours=Decimal("2"))  # pending
    make_signup(s1, people[3], attendance=Attendance.NO_SHOW)
    make_signup(s1, people[4], status=SignupStatus.CANCELLED)
    # 23:30 local on the last day of the month: November (15:30 UTC).
    s2 = make_shift(a1, starts_at=local(2026, 11, 30, 23, 30), capacity=2)
    make_signup(
        s2, people[1], attendance=Attendance.ATTENDED, hours=Decimal("1.5"), hours_confirmed_at=ok
    )
    # 00:30 local on 1 December is still 30 November in UTC: December.
    s3 = make_shift(a1, starts_at=local(2026, 12, 1, 0, 30), capacity=2)
    make_signup(
        s3, people[2], attendance=Attendance.ATTENDED, hours=Decimal("1"), hours_confirmed_at=ok
    )
    s4 = make_shift(a1, starts_at=local(2026, 11, 12, 9), capacity=10, status=ShiftStatus.CANCELLED)
    make_signup(s4, people[5])
    s5 = make_shift(a2, starts_at=local(2026, 11, 20, 15), capacity=10)
    make_signup(s5, people[1], attendance=Attendance.ATTENDED)
    make_signup(s5, people[5], attendance=Attendance.ATTENDED)
    make_signup(make_shift(a3, starts_at=local(2026, 11, 21, 9)), people[0])

    for day in (date(2026, 11, 3), date(2026, 11, 30)):
        db.session.add(LeaderVisit(leader=leader, zone=a_zone, visited_on=day, place="校门口"))
    db.session.add(
        LeaderVisit(leader=leader, zone=a_zone, visited_on=date(2026, 10, 15), place="市场")
    )
    db.session.add(
        LeaderVisit(leader=leader, zone=a_zone, visited_on=date(2026, 12, 1), place="市场")
    )
    db.session.commit()
    return {
        "zones": (a_zone, b_zone, c_zone),
        "units": (u1, u2),
        "people": people,
        "leader": leader,
        "programme": prog,
        "activities": (a1, a2, a3),
    }


def _by_name(rows):
    return {r.name: r for r in rows}


FIELDS = (
    "activities",
    "shifts",
    "capacity",
    "taken",
    "signups",
    "participants",
    "hours",
    "attended",
    "no_shows",
    "visits",
    "leaders",
)
ZONE_EXPECTED = {
    "甲": (1, 2, 6, 4, 4, 3, Decimal("3.5"), 3, 1, 2, 1),
    "乙": (1, 1, 10, 2, 2, 2, Decimal("0"), 2, 0, 0, 0),
    "丙": (0, 0, 0, 0, 0, 0, Decimal("0"), 0, 0, 0, 0),
}


@pytest.mark.parametrize("zone", sorted(ZONE_EXPECTED))
def test_zone_figures_match_the_hand_count(district, zone):
    row = _by_name(services.zone_figures(NOV))[zone]
    assert tuple(getattr(row, f) for f in FIELDS) == ZONE_EXPECTED[zone]


RATES = {  # fill rate, participation rate, no-show rate
    "甲": (4 / 6, 3 / 1000, 0.25),
    "乙": (0.2, 2 / 2000, 0.0),
    "丙": (None, None, None),  # no population: "—", never a division by zero
}


@pytest.mark.parametrize("zone", sorted(RATES))
def test_zone_rates(district, zone):
    row = _by_name(services.zone_figures(NOV))[zone]
    got = (row.fill_rate, row.participation_rate, row.no_show_rate)
    if RATES[zone][0] is None:
        assert got == (None, None, None)
    else:
        assert got == pytest.approx(RATES[zone])


def test_hours_follow_the_records_rule(district):
    """The zones' confirmed hours add up to the people's confirmed hours (one rule)."""
    people_total = sum(confirmed_hours(p.id, NOV.start, NOV.end) for p in district["people"])
    zones_total = sum(r.hours for r in services.zone_figures(NOV))
    assert zones_total == people_total == Decimal("3.5")


def test_unit_and_programme_figures(district):
    scope = services.Scope("admin")
    units = _by_name(services.unit_figures(NOV, scope))
    assert (units["单位一"].shifts, units["单位一"].signups, units["单位一"].hours) == (
        2,
        4,
        Decimal("3.5"),
    )
    assert (units["单位二"].shifts, units["单位二"].participants) == (1, 2)
    programmes = _by_name(services.programme_figures(NOV, scope))
    assert set(programmes) == {"交通秩序"}
    assert programmes["交通秩序"].taken == 4


def test_december_gets_the_shift_just_after_midnight(district):
    dec = Period("custom", date(2026, 12, 1), date(2026, 12, 31))
    a = _by_name(services.zone_figures(dec))["甲"]
    assert (a.shifts, a.signups, a.hours, a.visits) == (1, 1, Decimal("1.0"), 1)


BOUNDARIES = [  # local start of a shift, does it count in November?
    ((2026, 11, 1, 0, 0), True),
    ((2026, 10, 31, 23, 59), False),
    ((2026, 11, 30, 23, 30), True),
    ((2026, 12, 1, 0, 0), False),
]


@pytest.mark.parametrize(("start", "counted"), BOUNDARIES)
def test_period_boundaries_are_local_dates(
    db, make_zone, make_activity, make_shift, start, counted
):
    zone = make_zone("边界", population=100)
    make_shift(make_activity(zone=zone), starts_at=local(*start))
    row = _by_name(services.zone_figures(NOV))["边界"]
    assert row.shifts == (1 if counted else 0)


def test_an_empty_period_is_all_zeros(district):
    empty = Period("custom", date(2025, 1, 1), date(2025, 1, 31))
    rows = services.ranking(empty)
    assert all(r.shifts == r.signups == r.visits == 0 and r.hours == 0 for r in rows)
    assert [r.rank for r in rows] == [1, 1, 1]  # all equal: they share the first place
    assert services.trend(empty, services.Scope("admin"))[-1].signups == 0


# --- the ranking -------------------------------------------------------------------------------


def test_ranking_of_the_district(district, app):
    rows = services.ranking(NOV)
    assert [(r.name, r.score, r.rank) for r in rows] == [
        ("甲", 92.5, 1),
        ("乙", 23.0, 2),
        ("丙", 0.0, 3),
    ]
    # Last period (2–31 October) only 甲 had anything (a visit): ranked 1; the others 新.
    assert [(r.previous_rank, r.change, r.is_new) for r in rows] == [
        (1, 0, False),
        (None, None, True),
        (None, None, True),
    ]
    assert [r.bottom for r in rows] == [False, True, True]


def _fig(name, key, population=1000, participants=0, capacity=0, taken=0, hours="0"):
    return Figures(
        key,
        name,
        population=population,
        participants=participants,
        capacity=capacity,
        taken=taken,
        hours=Decimal(hours),
    )


TIES = [
    # (name, participants per 1,000, places taken of 10) → (name, rank), best first; equal
    # scores share a rank (1, 1, 3) and stand in name order (as Python sorts the names)
    ([("乙", 5, 5), ("甲", 5, 5), ("丙", 1, 1)], [("乙", 1), ("甲", 1), ("丙", 3)]),
    ([("甲", 5, 5), ("乙", 1, 1), ("丙", 1, 1)], [("甲", 1), ("丙", 2), ("乙", 2)]),
    ([("甲", 0, 0), ("乙", 0, 0)], [("乙", 1), ("甲", 1)]),
]


@pytest.mark.parametrize(("zones", "expected"), TIES)
def test_ties_share_a_rank_in_a_fixed_order(app, zones, expected):
    rows = [_fig(n, i, participants=p, capacity=10, taken=t) for i, (n, p, t) in enumerate(zones)]
    assert [(r.name, r.rank) for r in services.rank(rows, NOV)] == expected
    again = services.rank(list(reversed(rows)), NOV)  # whatever order the rows came in
    assert [(r.name, r.rank) for r in again] == expected


@pytest.mark.parametrize("app_config", [{"DASHBOARD_SCORE_WEIGHTS": {"fill": 1.0}}])
def test_weights_come_from_configuration(app, app_config):
    rows = [_fig("甲", 1, capacity=10, taken=3), _fig("乙", 2, capacity=10, taken=8)]
    ordered = services.rank(rows, NOV)
    assert [(r.name, r.score) for r in ordered] == [("乙", 80.0), ("甲", 30.0)]


def test_a_zone_without_population_scores_no_participation(app):
    rows = [_fig("甲", 1, population=0, participants=50), _fig("乙", 2, participants=1)]
    parts = {r.name: r.parts["participation"] for r in services.rank(rows, NOV)}
    assert parts == {"甲": 0.0, "乙": 100.0}


# --- periods -----------------------------------------------------------------------------------

TODAY = date(2026, 12, 2)  # a Wednesday
PERIODS = [
    (
        "week",
        None,
        None,
        (date(2026, 11, 30), date(2026, 12, 6)),
        (date(2026, 11, 23), date(2026, 11, 29)),
    ),
    (
        "month",
        None,
        None,
        (date(2026, 12, 1), date(2026, 12, 31)),
        (date(2026, 11, 1), date(2026, 11, 30)),
    ),
    (
        None,
        None,
        None,
        (date(2026, 12, 1), date(2026, 12, 31)),
        (date(2026, 11, 1), date(2026, 11, 30)),
    ),
    (
        "last_month",
        None,
        None,
        (date(2026, 11, 1), date(2026, 11, 30)),
        (date(2026, 10, 1), date(2026, 10, 31)),
    ),
    (
        "custom",
        date(2026, 3, 1),
        date(2026, 3, 10),
        (date(2026, 3, 1), date(2026, 3, 10)),
        (date(2026, 2, 19), date(2026, 2, 28)),
    ),
]


@pytest.mark.parametrize(("kind", "start", "end", "want", "before"), PERIODS)
def test_periods(app, kind, start, end, want, before):
    period = make_period(kind, start, end, today=TODAY)
    assert (period.start, period.end) == want
    previous = period.previous()
    assert (previous.start, previous.end) == before


BAD_PERIODS = [
    (None, date(2026, 3, 1), "start"),
    (date(2026, 3, 1), None, "end"),
    (date(2026, 3, 10), date(2026, 3, 1), "end"),
    (date(2025, 1, 1), date(2026, 3, 1), "end"),
    (date(1900, 1, 1), date(1900, 1, 2), "start"),
]


@pytest.mark.parametrize(("start", "end", "field"), BAD_PERIODS)
def test_bad_custom_periods_are_refused(app, start, end, field):
    with pytest.raises(DashboardError) as info:
        make_period("custom", start, end, today=TODAY)
    assert info.value.field == field


def test_a_bad_period_on_the_page_says_why_and_shows_this_month(client, login, district):
    login(district["leader"])
    page = client.get("/dashboard/?period=custom&start=2026-03-10&end=2026-03-01")
    assert page.status_code == 200
    assert "结束日期不能早于开始日期" in page.get_data(as_text=True)
    garbage = client.get("/dashboard/?period=custom&start=banana&end=")
    assert garbage.status_code == 200 and "请按 年-月-日" in garbage.get_data(as_text=True)


# --- the page, who sees what -------------------------------------------------------------------


def test_admin_page_shows_the_ranking_the_rule_and_the_weights(client, login, make_user, district):
    login(make_user("管理员", is_admin=True))
    html = client.get(NOV_URL).get_data(as_text=True)
    assert "按班次开始时间（北京时间）" in html
    assert "片区排名通报" in html and "排名靠后" in html and "迎头赶上" in html
    assert "30% × 参与率得分" in html and "20% × 领导走访得分" in html
    assert "<table" in html and "<svg" in html and '<title id="rank-chart-t">' in html
    assert "92.5" in html
    assert "—" in html  # 丙 has no population


def test_leader_sees_their_zones_ranked_among_all(client, login, district):
    login(district["leader"])
    html = client.get(NOV_URL).get_data(as_text=True)
    assert "我的片区看板" in html
    assert "甲" in html and ">乙<" not in html and "丙" not in html
    assert "全区3个片区" in html


def test_organizer_sees_their_units_without_ranking(client, login, make_user, district):
    login(make_user("陈志强", units=[district["units"][1]]))
    html = client.get(NOV_URL).get_data(as_text=True)
    assert "我的单位看板" in html and "片区排名通报" not in html
    assert "单位二" in html and "单位一" not in html
    assert "讲座" not in html  # figures, not activities


def test_residents_get_403(client, login, make_user):
    login(make_user("王秀英"))
    assert client.get("/dashboard/").status_code == 403
    assert client.get("/dashboard/export/zones.xlsx").status_code == 403


@pytest.mark.parametrize(
    ("role", "landing"), [("admin", "/dashboard/"), ("leader", "/dashboard/"), ("resident", "/")]
)
def test_admins_and_leaders_land_on_their_dashboard(client, make_user, make_zone, role, landing):
    from tests.conftest import TEST_PASSWORD

    extra = {"admin": {"is_admin": True}, "leader": {"zones": [make_zone()]}, "resident": {}}[role]
    user = make_user("某人", phone="13900009999", **extra)
    response = client.post("/account/login", data={"phone": user.phone, "password": TEST_PASSWORD})
    assert response.status_code == 302 and response.headers["Location"] == landing


def _grow(db, make_zone, make_unit, make_user, make_activity, make_shift, make_signup, n):
    people = [make_user(f"新人{i}") for i in range(n)]
    for i in range(n):
        zone = make_zone(f"新片区{i}", population=500)
        activity = make_activity(f"活动{i}", zone=zone, unit=make_unit(f"新单位{i}"))
        for d in range(3):
            shift = make_shift(activity, starts_at=local(2026, 11, 5 + d, 9), capacity=5)
            for p in people[:3]:
                make_signup(
                    shift,
                    p,
                    attendance=Attendance.ATTENDED,
                    hours=Decimal("2"),
                    hours_confirmed_at=datetime(2026, 12, 1, tzinfo=UTC),
                )
        db.session.add(
            LeaderVisit(leader=people[0], zone=zone, visited_on=date(2026, 11, 9), place="现场")
        )
    db.session.commit()


@pytest.mark.parametrize("who", ["admin", "leader"])
def test_statements_per_page_do_not_grow_with_the_data(
    client,
    login,
    db,
    count_queries,
    make_user,
    make_zone,
    make_unit,
    make_activity,
    make_shift,
    make_signup,
    district,
    who,
):
    person = make_user("管理员", is_admin=True) if who == "admin" else district["leader"]
    login(person)
    client.get(NOV_URL)  # warm: templates compiled, nothing cached in the database
    # count the board worked out and the page rendered (a kept one needs fewer statements)
    freshness.clear()
    pagecache.clear()
    with count_queries() as small:
        assert client.get(NOV_URL).status_code == 200
    _grow(db, make_zone, make_unit, make_user, make_activity, make_shift, make_signup, 6)
    freshness.clear()
    pagecache.clear()
    with count_queries() as big:
        assert client.get(NOV_URL).status_code == 200
    assert len(big) == len(small), (small.statements, big.statements)
    assert len(small) <= 18  # with the page cache's data version and the board's


def test_export_every_table_with_real_cells(client, login, db, make_user, district):
    from openpyxl import load_workbook

    admin = login(make_user("管理员", is_admin=True))
    for name in ("zones", "units", "programmes", "leaders", "trend"):
        response = client.get(
            f"/dashboard/export/{name}.xlsx?period=custom&start=2026-11-01&end=2026-11-30"
        )
        assert response.status_code == 200, name
        assert response.mimetype.endswith("spreadsheetml.sheet")
        ws = load_workbook(io.BytesIO(response.data)).active
        assert ws.max_row >= 2, name
        if name == "zones":
            header = [c.value for c in ws[1]]
            rows = {r[header.index("片区")]: r for r in ws.iter_rows(min_row=2, values_only=True)}
            a, c = rows["甲"], rows["丙"]
            assert a[header.index("排名")] == 1 and isinstance(a[header.index("综合得分")], float)
            assert isinstance(a[header.index("开始日期")], datetime)
            assert a[header.index("开始日期")].date() == date(2026, 11, 1)
            assert a[header.index("满员率")] == pytest.approx(4 / 6)
            assert a[header.index("确认时长（小时）")] == 3.5
            assert a[header.index("班次数")] == 2 and isinstance(a[header.index("班次数")], int)
            assert c[header.index("参与率")] is None  # no population: an empty cell, no text
    logged = db.session.scalars(
        select(AuditEntry.action).where(AuditEntry.actor_id == admin.id)
    ).all()
    assert sorted(logged) == sorted(
        f"export.dashboard.{n}.xlsx" for n in ("zones", "units", "programmes", "leaders", "trend")
    )
    assert client.get("/dashboard/export/secrets.xlsx").status_code == 404


def test_trend_by_week(district):
    weeks = services.trend(NOV, services.Scope("admin"))
    assert len(weeks) == 8 and weeks[-1].start == date(2026, 11, 30)
    by_start = {w.start: w for w in weeks}
    assert by_start[date(2026, 11, 9)].signups == 3  # s1 (10 Nov)
    assert by_start[date(2026, 11, 9)].hours == Decimal("2.0")
    assert by_start[date(2026, 11, 16)].signups == 2  # s5 (20 Nov)
    # the week of 30 November holds 23:30 on the 30th and 00:30 on 1 December
    assert (by_start[date(2026, 11, 30)].signups, by_start[date(2026, 11, 30)].hours) == (
        2,
        Decimal("2.5"),
    )


def test_leader_rows_count_visits_per_month(district):
    period = Period("custom", date(2026, 10, 1), date(2026, 11, 30))
    [row] = services.leader_rows(period, services.Scope("admin"))
    assert row.zones == ["甲"] and row.months == [(date(2026, 10, 1), 1), (date(2026, 11, 1), 2)]


# --- leader visits -----------------------------------------------------------------------------

VISIT_CASES = [
    # zone ("own" / "other" / None), days ago, place, notes → field refused (None: saved)
    ("own", 0, "县一小校门口", "", None),
    ("own", 31, "县一小校门口", "看了摊点", None),
    ("other", 0, "县一小校门口", "", "zone"),
    (None, 0, "县一小校门口", "", "zone"),
    ("own", -1, "县一小校门口", "", "visited_on"),
    ("own", 32, "县一小校门口", "", "visited_on"),
    ("own", 0, "   ", "", "place"),
    ("own", 0, "长" * 121, "", "place"),
    ("own", 0, "市场", "长" * 2001, "notes"),
]


@pytest.mark.parametrize(("zone", "ago", "place", "notes", "refused"), VISIT_CASES)
def test_visit_rules(db, district, make_zone, zone, ago, place, notes, refused):
    from portal.timeutil import local_today

    other = make_zone("别的片区")
    zone_id = {"own": district["zones"][0].id, "other": other.id, None: None}[zone]
    day = local_today() - timedelta(days=ago)
    before = db.session.scalar(select(func.count(LeaderVisit.id)))
    if refused is None:
        visit = services.record_visit(district["leader"], zone_id, day, place, notes)
        assert visit.zone_id == zone_id and visit.place == place.strip()
    else:
        with pytest.raises(DashboardError) as info:
            services.record_visit(district["leader"], zone_id, day, place, notes)
        assert info.value.field == refused
        assert db.session.scalar(select(func.count(LeaderVisit.id))) == before


def test_the_same_visit_twice_is_refused(db, district):
    from portal.timeutil import local_today

    leader, zone = district["leader"], district["zones"][0]
    services.record_visit(leader, zone.id, local_today(), "富海市场")
    with pytest.raises(DashboardError, match="已经记过"):
        services.record_visit(leader, zone.id, local_today(), "富海市场")


BAD_FORMS = [
    ({"zone": "", "visited_on": "2026-12-01", "place": "市场"}, "请选择你挂点的片区"),
    ({"zone": "{zone}", "visited_on": "", "place": "市场"}, "请填写走访日期"),
    ({"zone": "{zone}", "visited_on": "明天", "place": "市场"}, "请按 年-月-日"),
    ({"zone": "{zone}", "visited_on": "{today}", "place": ""}, "请写明走访地点"),
    ({"zone": "abc", "visited_on": "{today}", "place": "市场"}, "请选择你挂点的片区"),
    ({"zone": "{other}", "visited_on": "{today}", "place": "市场"}, "请选择你挂点的片区"),
]


@pytest.mark.parametrize(("form", "message"), BAD_FORMS)
def test_bad_visit_forms_say_why_and_save_nothing(
    client, login, db, district, make_zone, form, message
):
    from portal.timeutil import local_today

    other = make_zone("别处")
    login(district["leader"])
    values = {
        k: v.format(zone=district["zones"][0].id, other=other.id, today=local_today().isoformat())
        for k, v in form.items()
    }
    before = db.session.scalar(select(func.count(LeaderVisit.id)))
    response = client.post("/dashboard/visits/new", data=values)
    assert response.status_code == 200
    assert message in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count(LeaderVisit.id))) == before


def test_record_a_visit_through_the_form(client, login, db, district):
    from portal.timeutil import local_today

    login(district["leader"])
    response = client.post(
        "/dashboard/visits/new",
        data={
            "zone": district["zones"][0].id,
            "visited_on": local_today().isoformat(),
            "place": "县一小校门口",
            "notes": "摊点已清",
        },
    )
    assert response.status_code == 302 and response.headers["Location"] == "/dashboard/visits"
    visit = db.session.scalar(select(LeaderVisit).where(LeaderVisit.notes == "摊点已清"))
    assert visit.leader_id == district["leader"].id
    assert "已记下" in client.get("/dashboard/visits").get_data(as_text=True)
    assert (
        db.session.scalar(
            select(AuditEntry).where(AuditEntry.action == "leader_visit.create")
        ).target_id
        == visit.id
    )


def test_check_in_at_an_activity_today(client, login, db, district, make_activity, make_shift):
    from portal.timeutil import local_today, now_utc

    zone = district["zones"][0]
    here = make_activity("福洋溪河道清洁行动", zone=zone, place="福海桥东侧")
    make_shift(here, starts_at=now_utc() + timedelta(minutes=1))
    elsewhere = make_activity("别处的活动", zone=district["zones"][1])
    make_shift(elsewhere, starts_at=now_utc() + timedelta(minutes=1))
    later = make_activity("下周的活动", zone=zone)
    make_shift(later, starts_at=now_utc() + timedelta(days=7))
    login(district["leader"])
    assert "福洋溪河道清洁行动" in client.get("/dashboard/visits").get_data(as_text=True)

    def visits():
        return db.session.scalars(
            select(LeaderVisit).where(LeaderVisit.activity_id.is_not(None))
        ).all()

    client.post(f"/dashboard/visits/checkin/{here.id}")
    [visit] = visits()
    assert (visit.zone_id, visit.activity_id, visit.visited_on) == (zone.id, here.id, local_today())
    again = client.post(f"/dashboard/visits/checkin/{here.id}", follow_redirects=True)
    assert "已经在这个活动签到过" in again.get_data(as_text=True)
    other = client.post(f"/dashboard/visits/checkin/{elsewhere.id}", follow_redirects=True)
    assert "不在你挂点的片区" in other.get_data(as_text=True)
    none_today = client.post(f"/dashboard/visits/checkin/{later.id}", follow_redirects=True)
    assert "今天没有班次" in none_today.get_data(as_text=True)
    assert len(visits()) == 1


def test_delete_own_visit_logged_and_not_others(client, login, db, district, make_user):
    own_id = db.session.scalar(
        select(LeaderVisit.id)
        .where(LeaderVisit.place == "校门口")
        .order_by(LeaderVisit.id)
        .limit(1)
    )
    other_leader = make_user("李建国", zones=[district["zones"][1]])
    theirs = LeaderVisit(
        leader=other_leader,
        zone=district["zones"][1],
        visited_on=date(2026, 11, 5),
        place="讲座现场",
    )
    db.session.add(theirs)
    db.session.commit()
    login(district["leader"])
    assert client.post(f"/dashboard/visits/{theirs.id}/delete").status_code == 403
    response = client.post(f"/dashboard/visits/{own_id}/delete")
    assert response.status_code == 302
    assert db.session.get(LeaderVisit, own_id) is None
    entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "leader_visit.delete"))
    assert entry.target_id == own_id and entry.before["place"] == "校门口"
    assert db.session.get(LeaderVisit, theirs.id) is not None

"""Public browsing: filters, ordering, pagination, bad parameters, query counts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from portal.models import (
    Activity,
    ActivityKind,
    ActivityStatus,
    Shift,
    ShiftStatus,
    SignupStatus,
)
from portal.timeutil import local_today

pytestmark = pytest.mark.both_databases


@pytest.fixture
def world(db, make_zone, make_unit, make_programme, make_activity, make_shift, make_signup):
    """Two zones, a small programme tree and activities in every state that matters."""
    lihou, fuhai = make_zone("立后"), make_zone("福海")
    wujin = make_programme("五进", code="wujin")
    liyi = make_programme("礼仪规范进片区", parent=wujin, code="wujin-liyi")
    zhengzhi = make_programme("八大专项整治", code="zhengzhi")
    jiaotong = make_programme("交通秩序", parent=zhengzhi, code="zz-jiaotong")
    unit = make_unit("区交警大队")

    traffic = make_activity("县一小校门口交通劝导", zone=lihou, unit=unit, programmes=[jiaotong])
    full = make_shift(traffic, starts_in=timedelta(days=1), capacity=2)
    make_signup(full)
    make_signup(full, status=SignupStatus.PENDING)
    make_signup(full, status=SignupStatus.WAITLISTED)

    etiquette = make_activity(
        "文明礼仪课堂",
        zone=fuhai,
        unit=unit,
        programmes=[liyi],
        kind=ActivityKind.COMMUNITY,
        description="讲解公共场所礼仪",
    )
    make_shift(etiquette, starts_in=timedelta(days=3), capacity=10)

    creek = make_activity("福洋溪河道清洁", zone=fuhai, unit=unit, place="福海桥东侧")
    make_shift(creek, starts_in=timedelta(days=10), capacity=5)

    draft = make_activity("草稿活动", zone=lihou, unit=unit, status=ActivityStatus.DRAFT)
    make_shift(draft, starts_in=timedelta(days=2))
    past = make_activity("已经结束的活动", zone=lihou, unit=unit)
    make_shift(past, starts_in=timedelta(days=-2))
    gone = make_activity("班次取消的活动", zone=lihou, unit=unit)
    make_shift(gone, starts_in=timedelta(days=2), status=ShiftStatus.CANCELLED)
    percent = make_activity("100%参与的活动", zone=lihou, unit=unit)
    make_shift(percent, starts_in=timedelta(days=20))
    return {
        "lihou": lihou,
        "fuhai": fuhai,
        "wujin": wujin,
        "liyi": liyi,
        "zhengzhi": zhengzhi,
        "jiaotong": jiaotong,
    }


def _titles(client, query: str) -> list[str]:
    response = client.get("/activities" + query)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    import re

    return re.findall(r'<h3><a href="/activities/\d+">([^<]+)</a></h3>', html)


def _day(offset: int) -> str:
    return (local_today() + timedelta(days=offset)).isoformat()


UPCOMING = ["县一小校门口交通劝导", "文明礼仪课堂", "福洋溪河道清洁", "100%参与的活动"]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", UPCOMING),
        ("?zone={lihou}", ["县一小校门口交通劝导", "100%参与的活动"]),
        ("?zone={fuhai}", ["文明礼仪课堂", "福洋溪河道清洁"]),
        ("?programme={wujin}", ["文明礼仪课堂"]),  # a parent includes its children
        ("?programme={jiaotong}", ["县一小校门口交通劝导"]),
        ("?kind=community", ["文明礼仪课堂"]),
        ("?kind=volunteer", ["县一小校门口交通劝导", "福洋溪河道清洁", "100%参与的活动"]),
        ("?open=1", ["文明礼仪课堂", "福洋溪河道清洁", "100%参与的活动"]),
        ("?q=礼仪", ["文明礼仪课堂"]),
        ("?q=公共场所", ["文明礼仪课堂"]),  # description
        ("?q=福海桥", ["福洋溪河道清洁"]),  # place
        ("?q=100%25", ["100%参与的活动"]),  # % is literal, not a wildcard
        ("?q=_", []),
        ("?date_from={d2}&date_to={d5}", ["文明礼仪课堂"]),
        ("?date_from={d5}", ["福洋溪河道清洁", "100%参与的活动"]),
        ("?date_to={d1}", ["县一小校门口交通劝导"]),
        ("?date_from={dm3}&date_to={dm1}", ["已经结束的活动"]),
        ("?zone={fuhai}&kind=volunteer&open=1", ["福洋溪河道清洁"]),
        ("?zone={lihou}&q=礼仪", []),
    ],
)
def test_filters(client, world, query, expected):
    ids = {k: v.id for k, v in world.items()}
    query = query.format(**ids, d1=_day(1), d2=_day(2), d5=_day(5), dm3=_day(-3), dm1=_day(-1))
    assert _titles(client, query) == expected


@pytest.mark.parametrize(
    ("query", "status", "message"),
    [
        ("?zone=abc", 200, "片区参数无效"),
        ("?zone=999999", 200, "没有这个片区"),
        ("?zone=-4", 200, "片区参数无效"),
        ("?programme=99999999999999999999", 200, "项目参数无效"),
        ("?kind=party", 200, "活动类型无效"),
        ("?date_from=2026-13-45", 200, "日期格式"),
        ("?date_from=yesterday", 200, "日期格式"),
        ("?date_to=%00", 400, "无法完成请求"),
        ("?q=" + "长" * 5000, 200, "搜索词太长"),
        ("?page=-1", 404, "页面不存在"),
        ("?page=0", 404, "页面不存在"),
        ("?page=abc", 404, "页面不存在"),
        ("?page=" + str(10**9), 404, "页面不存在"),
        ("?page=99", 404, "页面不存在"),
    ],
)
def test_bad_parameters_never_500(client, world, query, status, message):
    response = client.get("/activities" + query)
    assert response.status_code == status
    assert message in response.get_data(as_text=True)


def test_swapped_dates_are_swapped_with_a_message(client, world):
    response = client.get(f"/activities?date_from={_day(5)}&date_to={_day(2)}")
    html = response.get_data(as_text=True)
    assert "已交换" in html
    assert "文明礼仪课堂" in html


def test_pagination_walks_all_results_in_start_order(app, client, db, make_activity, make_shift):
    app.config["PAGE_SIZE"] = 4
    zone_activity = make_activity("活动00")
    make_shift(zone_activity, starts_in=timedelta(days=1))
    for i in range(1, 10):
        make_shift(
            make_activity(f"活动{i:02d}", zone=zone_activity.zone),
            starts_in=timedelta(days=1, hours=i),
        )
    seen = []
    for page in (1, 2, 3):
        titles = _titles(client, f"?page={page}")
        assert len(titles) == (4 if page < 3 else 2)
        seen += titles
    assert seen == [f"活动{i:02d}" for i in range(10)]
    assert client.get("/activities?page=4").status_code == 404
    html = client.get("/activities?page=2&kind=volunteer").get_data(as_text=True)
    assert 'href="/activities?page=3&amp;kind=volunteer"' in html
    assert "第 2 / 3 页" in html


def _bulk(db, zone, unit, programme, n):
    start = datetime.now(UTC) + timedelta(days=1)
    for i in range(n):
        activity = Activity(
            title=f"活动{i}",
            kind=ActivityKind.VOLUNTEER,
            status=ActivityStatus.PUBLISHED,
            zone=zone,
            unit=unit,
            place="地点",
            programmes=[programme],
        )
        db.session.add(activity)
        db.session.add(
            Shift(
                activity=activity,
                starts_at=start + timedelta(minutes=i),
                ends_at=start + timedelta(minutes=i, hours=1),
                capacity=3,
            )
        )
    db.session.commit()


@pytest.mark.parametrize("path", ["/activities", "/", "/zones/{zone}", "/programmes/{prog}"])
def test_statement_count_does_not_grow_with_activities(
    app, client, db, count_queries, make_zone, make_unit, make_programme, path
):
    app.config["PAGE_SIZE"] = 20
    zone, unit, prog = make_zone(), make_unit(), make_programme()
    url = path.format(zone=zone.id, prog=prog.id)
    _bulk(db, zone, unit, prog, 10)
    with count_queries() as small:
        assert client.get(url).status_code == 200
    _bulk(db, zone, unit, prog, 490)
    with count_queries() as large:
        assert client.get(url).status_code == 200
    assert len(small) == len(large), large.statements
    # A fresh render: the page's statements, the data version and the next shift start (the
    # rendered-page cache's key and valid-until, portal/pagecache.py).
    assert len(large) <= 14
    if path == "/":
        return  # the home page is not kept by the page cache
    with count_queries() as again:
        assert client.get(url).status_code == 200
    assert len(again) <= 2, again.statements  # cached: the version (and the zone/programme)


def test_activity_page_shows_shifts_places_and_contact(client, world, db):
    traffic = db.session.scalar(db.select(Activity).where(Activity.title == "县一小校门口交通劝导"))
    traffic.contact_name, traffic.contact_phone = "陈队长", "0591-83001234"
    traffic.requirements, traffic.risk_notice = "穿马甲", "注意来往车辆"
    db.session.commit()
    html = client.get(f"/activities/{traffic.id}").get_data(as_text=True)
    for text in (
        "陈队长",
        "0591-83001234",
        "穿马甲",
        "注意来往车辆",
        "区交警大队",
        "立后",
        "已满·可候补",
        "候补 1 人",
    ):
        assert text in html, text


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (ActivityStatus.DRAFT, 404),
        (ActivityStatus.PUBLISHED, 200),
        (ActivityStatus.CANCELLED, 200),
        (ActivityStatus.FINISHED, 200),
    ],
)
def test_activity_page_visibility_for_visitors(client, make_activity, status, code):
    activity = make_activity(status=status)
    assert client.get(f"/activities/{activity.id}").status_code == code


def test_draft_visible_to_its_organizer_and_admin(client, login, make_activity, make_user):
    activity = make_activity(status=ActivityStatus.DRAFT)
    login(make_user(units=[activity.unit]))
    assert client.get(f"/activities/{activity.id}").status_code == 200
    login(make_user(is_admin=True))
    assert client.get(f"/activities/{activity.id}").status_code == 200
    login(make_user())
    assert client.get(f"/activities/{activity.id}").status_code == 404


def test_public_pages_show_no_names(client, world, db):
    from portal.models import User

    names = [u.real_name for u in db.session.scalars(db.select(User))]
    for url in ["/", "/activities", "/zones", f"/zones/{world['lihou'].id}"]:
        html = client.get(url).get_data(as_text=True)
        for name in names:
            assert f">{name}<" not in html


@pytest.mark.parametrize(
    "url",
    ["/zones/999999", "/programmes/999999", "/activities/999999", "/activities/abc", "/zones/-1"],
)
def test_unknown_ids_are_404(client, url):
    response = client.get(url)
    assert response.status_code == 404
    assert "页面不存在" in response.get_data(as_text=True)


def test_zone_and_programme_pages(client, world):
    html = client.get(f"/zones/{world['fuhai'].id}").get_data(as_text=True)
    assert "福海片区" in html and "文明礼仪课堂" in html and "县一小校门口交通劝导" not in html
    html = client.get(f"/programmes/{world['zhengzhi'].id}").get_data(as_text=True)
    assert "交通秩序" in html and "县一小校门口交通劝导" in html and "文明礼仪课堂" not in html
    html = client.get("/zones").get_data(as_text=True)
    assert "立后" in html and "福海" in html

"""The readable audit log (/admin/audit): one plain sentence per entry, labelled before/after
fields, filters (person, action, unit, Asia/Shanghai dates), paging, CSV export; and record()
filling in the unit of what was changed."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from portal.admin import auditlog
from portal.audit.services import record
from portal.models import AuditEntry


@pytest.fixture
def scene(db, make_user, make_unit, make_zone, make_activity, make_shift, make_signup):
    unit = make_unit("区交警大队")
    other_unit = make_unit("区城管局")
    zone = make_zone("福海")
    activity = make_activity(title="福洋溪周末护河志愿服务", unit=unit, zone=zone)
    start = datetime(2026, 12, 5, 0, 30, tzinfo=UTC)  # 08:30 in Shanghai
    shift = make_shift(activity, starts_at=start, ends_at=start + timedelta(hours=2, minutes=30))
    resident = make_user("王秀英", phone="13800135678")
    signup = make_signup(shift, resident)
    return {
        "unit": unit,
        "other_unit": other_unit,
        "zone": zone,
        "activity": activity,
        "shift": shift,
        "signup": signup,
        "resident": resident,
        "organizer": make_user("陈志强", phone="13900001111", units=[unit]),
        "admin": make_user("指挥中心", phone="13900002222", is_admin=True),
    }


def _add(db, app, action, target=None, summary="", before=None, after=None, actor=None, at=None):
    with app.test_request_context():
        entry = record(action, target, summary, before, after, actor=actor)
    if at is not None:
        entry.created_at = at
    db.session.commit()
    return entry


def _page(client, query=""):
    response = client.get("/admin/audit" + query)
    assert response.status_code == 200
    return response.get_data(as_text=True)


# --- record() knows the unit ------------------------------------------------------------------


@pytest.mark.both_databases
@pytest.mark.parametrize(
    "target", ["activity", "shift", "signup", "unit", "zone", "resident", None]
)
def test_record_fills_the_unit_of_the_target(app, db, scene, target):
    obj = scene[target] if target else None
    entry = _add(db, app, "x.test", obj)
    expected = scene["unit"].id if target in ("activity", "shift", "signup", "unit") else None
    assert entry.unit_id == expected


def test_services_entries_carry_the_unit(app, db, scene):
    from portal.organize.services import cancel_shift

    with app.test_request_context():
        cancel_shift(scene["organizer"], scene["shift"], "下雨")
    db.session.commit()
    entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "shift.cancel"))
    assert entry.unit_id == scene["unit"].id


# --- one sentence per action ------------------------------------------------------------------

SHIFT_SNAP = {
    "starts_at": "2026-12-05T00:30:00+00:00",
    "ends_at": "2026-12-05T03:00:00+00:00",
    "capacity": 10,
    "status": "scheduled",
}

CASES = [
    # action, target, summary, before, after, sentence, fields shown
    (
        "shift.delete",
        "deleted_shift",
        "福洋溪周末护河志愿服务",
        SHIFT_SNAP,
        None,
        "陈志强 删除了班次 福洋溪周末护河志愿服务 12月5日 08:30–11:00",
        ["人数上限", "正常"],
    ),
    (
        "shift.update",
        "shift",
        "福洋溪周末护河志愿服务",
        {"capacity": 10},
        {"capacity": 12},
        "陈志强 修改了班次 福洋溪周末护河志愿服务 12月5日 08:30–11:00",
        ["人数上限", "10", "12"],
    ),
    (
        "shift.cancel",
        "shift",
        "下雨",
        {"status": "scheduled"},
        {"status": "cancelled"},
        "陈志强 取消了班次 福洋溪周末护河志愿服务",
        ["正常", "已取消", "下雨"],
    ),
    (
        "shift.create",
        "shift",
        "福洋溪周末护河志愿服务",
        None,
        SHIFT_SNAP,
        "陈志强 新增了班次 福洋溪周末护河志愿服务",
        ["开始", "12月5日 08:30"],
    ),
    (
        "signup.approve",
        "signup",
        "通过报名",
        {"status": "pending", "shift_id": 1},
        {"status": "confirmed", "shift_id": 1},
        "陈志强 通过了报名：王秀英（福洋溪周末护河志愿服务 12月5日 08:30–11:00）",
        ["待审核", "已确认"],
    ),
    (
        "signup.reject",
        "signup",
        "名额已满",
        {"status": "pending"},
        {"status": "rejected"},
        "陈志强 没有通过报名：王秀英",
        ["未通过", "名额已满"],
    ),
    (
        "activity.publish",
        "activity",
        "福洋溪周末护河志愿服务",
        {"status": "draft"},
        {"status": "published"},
        "陈志强 发布了活动 福洋溪周末护河志愿服务",
        ["草稿", "已发布"],
    ),
    (
        "activity.update",
        "activity",
        "福洋溪周末护河志愿服务",
        {"zone_id": "ZONE", "kind": "community", "contact_phone": "13812345678"},
        {"zone_id": "ZONE", "kind": "volunteer", "contact_phone": "13812349999"},
        "陈志强 修改了活动 福洋溪周末护河志愿服务",
        ["社区活动", "志愿服务", "138****5678", "联系电话"],
    ),
    (
        "attendance.attended",
        "signup",
        "记为到场",
        {"attendance": None},
        {"attendance": "attended"},
        "陈志强 记为到场：王秀英",
        ["出勤", "已出勤"],
    ),
    (
        "hours.adjust",
        "signup",
        "提前离开",
        {"hours": "2.5"},
        {"hours": "2.0", "reason": "提前离开"},
        "陈志强 调整了服务时长：王秀英",
        ["时长（小时）", "2.5", "2.0", "提前离开"],
    ),
    (
        "message.send",
        "shift",
        "集合地点变更",
        None,
        {"recipients": 3, "title": "集合地点变更", "body": "请联系 13812345678"},
        "陈志强 向 福洋溪周末护河志愿服务 12月5日 08:30–11:00 发送了通知",
        ["收件人数", "138****5678"],
    ),
    (
        "export.roster.csv",
        "shift",
        "roster-1",
        None,
        {"rows": 4, "format": "csv"},
        "陈志强 导出了班次 福洋溪周末护河志愿服务 12月5日 08:30–11:00 的名单（CSV）",
        ["行数", "4"],
    ),
    (
        "role.organizer.grant",
        "resident",
        "区交警大队",
        {"units": []},
        {"units": ["区交警大队"]},
        "陈志强 把 王秀英 设为 区交警大队 的组织者",
        ["组织者所在单位", "区交警大队"],
    ),
    (
        "role.admin.revoke",
        "resident",
        "王秀英",
        {"is_admin": True},
        {"is_admin": False},
        "陈志强 取消了 王秀英 的管理员角色",
        ["管理员", "是", "否"],
    ),
    (
        "zone.update",
        "zone",
        "福海",
        {"population": 1000, "leaders": ["甲"]},
        {"population": 1200, "leaders": ["甲", "乙"]},
        "陈志强 修改了片区 福海",
        ["人口", "1200", "片区负责人", "甲、乙"],
    ),
    (
        "unit.update",
        "unit",
        "区交警大队",
        {"kind": "department"},
        {"kind": "community"},
        "陈志强 修改了单位 区交警大队",
        ["部门", "社区"],
    ),
    (
        "user.one_time_password",
        "resident",
        "王秀英",
        {"must_change_password": False},
        {"must_change_password": True},
        "陈志强 为 王秀英 设置了一次性密码",
        ["下次登录须改密码"],
    ),
    (
        "weird.new_action",
        "shift",
        "",
        None,
        {"mystery": 1},
        "陈志强 执行了操作 weird.new_action 福洋溪周末护河志愿服务",
        ["mystery", "1"],
    ),
    ("account.profile", None, "手机 13812345678", None, None, "陈志强 修改了个人资料", []),
]


@pytest.mark.parametrize(
    ("action", "target", "summary", "before", "after", "sentence", "shown"),
    CASES,
    ids=[c[0] for c in CASES],
)
def test_each_action_reads_as_a_sentence(
    app, db, client, login, scene, action, target, summary, before, after, sentence, shown
):
    obj = scene.get(target) if target else None
    zone_id = scene["zone"].id

    def fill(d):
        return {k: zone_id if v == "ZONE" else v for k, v in d.items()} if d else d

    entry = _add(db, app, action, obj, summary, fill(before), fill(after), actor=scene["organizer"])
    if target == "deleted_shift":  # the shift is gone; only the entry remembers it
        entry.target_type, entry.target_id = "shifts", 999_999
        db.session.commit()
    login(scene["admin"])
    page = _page(client)
    assert sentence in page
    for text in shown:
        assert text in page
    assert "13812345678" not in page  # phones inside summaries and values are masked
    assert "&#39;capacity&#39;" not in page and "{&#39;" not in page  # no raw dict dumps


def test_every_known_action_has_a_readable_name_and_sentence(app):
    with app.test_request_context():
        for action, (name, sentence) in auditlog.ACTIONS.items():
            assert str(name) and "%(actor)s" in str(sentence), action
            assert action not in str(sentence)


def test_english_sentences_come_from_the_catalogue(app, db, client, login, scene):
    _add(
        db,
        app,
        "shift.delete",
        None,
        "福洋溪周末护河志愿服务",
        SHIFT_SNAP,
        None,
        actor=scene["organizer"],
    )
    login(scene["admin"])
    client.post("/lang/en")
    page = _page(client)
    assert "陈志强 deleted the shift 福洋溪周末护河志愿服务" in page
    assert "Capacity" in page


# --- filters and paging -----------------------------------------------------------------------


@pytest.fixture
def many(app, db, scene):
    s = scene
    _add(
        db,
        app,
        "shift.update",
        s["shift"],
        "",
        {"capacity": 1},
        {"capacity": 2},
        actor=s["organizer"],
        at=datetime(2026, 12, 1, 15, 30, tzinfo=UTC),
    )  # 12-01 23:30 BJT
    _add(
        db,
        app,
        "shift.cancel",
        s["shift"],
        "雨",
        actor=s["organizer"],
        at=datetime(2026, 12, 1, 16, 30, tzinfo=UTC),
    )  # 12-02 00:30 in Shanghai
    _add(
        db,
        app,
        "zone.update",
        s["zone"],
        "福海",
        {"population": 1},
        {"population": 2},
        actor=s["admin"],
        at=datetime(2026, 12, 3, 2, 0, tzinfo=UTC),
    )
    _add(
        db,
        app,
        "unit.update",
        s["other_unit"],
        "区城管局",
        {"kind": "department"},
        {"kind": "community"},
        actor=s["admin"],
        at=datetime(2026, 12, 3, 3, 0, tzinfo=UTC),
    )
    return s


@pytest.mark.both_databases
@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", {"shift.update", "shift.cancel", "zone.update", "unit.update"}),
        ("?person=陈", {"shift.update", "shift.cancel"}),
        ("?person=2222", {"zone.update", "unit.update"}),  # part of the actor's phone
        ("?action=shift.cancel", {"shift.cancel"}),
        ("?unit=UNIT", {"shift.update", "shift.cancel"}),
        ("?unit=OTHER", {"unit.update"}),
        ("?date_from=2026-12-02", {"shift.cancel", "zone.update", "unit.update"}),
        ("?date_to=2026-12-01", {"shift.update"}),
        ("?date_from=2026-12-02&date_to=2026-12-02", {"shift.cancel"}),
        ("?person=陈&date_from=2026-12-03", set()),
    ],
)
def test_filters(app, db, client, login, many, query, expected):
    query = query.replace("UNIT", str(many["unit"].id)).replace("OTHER", str(many["other_unit"].id))
    login(many["admin"])
    page = _page(client, query)
    words = {
        "shift.update": "修改了班次",
        "shift.cancel": "取消了班次",
        "zone.update": "修改了片区",
        "unit.update": "修改了单位",
    }
    for action, word in words.items():
        assert (word in page) == (action in expected), (query, action)


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("?action=bogus", "请从列表中选择操作"),
        ("?unit=abc", "请从列表中选择单位"),
        ("?unit=999999", "请从列表中选择单位"),
        ("?date_from=2026-13-45", "请按 年-月-日"),
        ("?date_from=2026-12-05&date_to=2026-12-01", "结束日期不能早于开始日期"),
        ("?date_from=1900-01-01", "2000 年到 2099 年"),
        ("?person=" + "长" * 41, "最多 40 个字"),
    ],
)
def test_bad_filters_say_what_is_wrong(db, client, login, many, query, message):
    login(many["admin"])
    page = _page(client, query)
    assert message in page
    assert "修改了班次" not in page  # nothing listed under a filter that could not be read
    response = client.get("/admin/audit.csv" + query)
    assert response.status_code == 302  # no export of a filter that could not be read


def test_the_action_filter_is_a_list_of_readable_names(db, client, login, many):
    login(many["admin"])
    page = _page(client)
    assert '<select id="action" name="action">' in page
    assert '<option value="shift.delete">删除班次</option>' in page


@pytest.mark.parametrize(
    ("page", "first", "count"),
    [
        ("1", 119, 50),
        ("3", 19, 20),
        ("abc", 119, 50),
        ("0", 119, 50),
        ("99999999999", 119, 50),
        ("4", None, 0),
    ],
)
def test_paging(app, db, client, login, scene, page, first, count):
    base = datetime(2026, 11, 1, tzinfo=UTC)
    for i in range(120):
        db.session.add(
            AuditEntry(
                actor_id=scene["organizer"].id,
                action="shift.update",
                target_type="shifts",
                target_id=scene["shift"].id,
                summary=f"第{i}条",
                before={"capacity": i},
                after={"capacity": i + 1},
                created_at=base + timedelta(minutes=i),
            )
        )
    db.session.commit()
    login(scene["admin"])
    html = _page(client, f"?page={page}")
    assert html.count('class="card audit-entry"') == count
    if first is not None:
        assert f'<td data-label="修改前">{first}</td>' in html
    if page == "1":
        assert "第 1 / 3 页" in html and 'rel="next"' in html


@pytest.mark.both_databases
def test_queries_per_page_do_not_grow_with_the_log(app, db, client, login, scene, count_queries):
    login(scene["admin"])
    kinds = [
        ("shift.update", scene["shift"]),
        ("signup.approve", scene["signup"]),
        ("activity.update", scene["activity"]),
        ("role.admin.grant", scene["resident"]),
        ("zone.update", scene["zone"]),
        ("unit.update", scene["unit"]),
    ]

    def add(n):
        for i in range(n):
            action, target = kinds[i % len(kinds)]
            _add(
                db,
                app,
                action,
                target,
                "x",
                {"capacity": 1},
                {"capacity": 2},
                actor=scene["organizer"],
            )

    def statements() -> int:
        client.get("/admin/audit")  # warm
        with count_queries() as counter:
            assert client.get("/admin/audit").status_code == 200
        return len(counter)

    add(6)
    small = statements()
    add(60)
    assert statements() == small


# --- CSV --------------------------------------------------------------------------------------


@pytest.mark.both_databases
def test_csv_export_of_the_filtered_entries_is_logged(app, db, client, login, many):
    _add(
        db,
        app,
        "shift.update",
        many["shift"],
        '=HYPERLINK("x")',
        {"capacity": 1},
        {"capacity": 2},
        actor=many["organizer"],
        at=datetime(2026, 12, 1, 10, tzinfo=UTC),
    )
    login(many["admin"])
    response = client.get(f"/admin/audit.csv?unit={many['unit'].id}")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/csv")
    raw = response.get_data()
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert rows[0][:4] == ["时间", "操作人", "操作", "内容"]
    body = rows[1:]
    assert len(body) == 3  # the unit's three entries, not the zone's or the other unit's
    assert {r[2] for r in body} == {"修改班次", "取消班次"}
    assert any("人数上限：1" in r[5] and "人数上限：2" in r[6] for r in body)
    assert all(not cell.startswith("=") for r in body for cell in r)  # injection guard
    assert body[0][0].startswith("2026-12-02 00:30")  # local time, newest first
    entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "export.audit.csv"))
    assert entry.actor_id == many["admin"].id
    assert entry.after == {"rows": 3, "filters": {"unit": many["unit"].id}}
    page = _page(client, "?action=export.audit.csv")
    assert "指挥中心 导出了操作日志（CSV）" in page


# --- the old address --------------------------------------------------------------------------


def test_old_audit_address_leads_to_the_new_log(db, client, login, scene):
    login(scene["admin"])
    response = client.get("/organize/audit?page=2")
    assert response.status_code == 302 and response.headers["Location"] == "/admin/audit"
    login(scene["organizer"])
    assert client.get("/organize/audit").status_code == 403
    assert client.get("/admin/audit").status_code == 403


def test_a_family_of_actions_reads_and_filters_by_its_prefix(app, db, client, login, scene):
    _add(
        db,
        app,
        "export.dashboard.zones.xlsx",
        None,
        "dashboard-zones-202612",
        after={"rows": 7},
        actor=scene["admin"],
    )
    _add(
        db,
        app,
        "zone.update",
        scene["zone"],
        "福海",
        {"population": 1},
        {"population": 2},
        actor=scene["admin"],
    )
    login(scene["admin"])
    page = _page(client, "?action=export.dashboard.*")
    assert "指挥中心 导出了看板表格 dashboard-zones-202612" in page
    assert "修改了片区" not in page

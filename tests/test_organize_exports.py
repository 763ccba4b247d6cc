"""Exports (XLSX, CSV with BOM, printable sign-in sheet), notices and the audit log page."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from portal.models import AuditEntry, Notification, SignupStatus

START = datetime(2030, 1, 6, 23, 0, tzinfo=UTC)  # 2030-01-07 07:00 in Asia/Shanghai


@pytest.fixture
def roster(db, make_zone, make_unit, make_user, make_activity, make_shift, make_signup):
    class R:
        pass

    r = R()
    r.unit = make_unit()
    r.organizer = make_user("组织者", units=[r.unit])
    r.activity = make_activity(title="裕丰园市场秩序劝导", unit=r.unit)
    r.shift = make_shift(activity=r.activity, starts_at=START, capacity=5, post_name="东门")
    r.people = [
        make_user("张三丰", phone="13800001111"),
        make_user('=HYPERLINK("x")', phone="13800002222"),
        make_user("李四", phone="13800003333"),
    ]
    make_signup(r.shift, user=r.people[0])
    make_signup(r.shift, user=r.people[1], status=SignupStatus.PENDING)
    make_signup(r.shift, user=r.people[2], status=SignupStatus.CANCELLED)
    return r


def _audit(db, action):
    return db.session.scalars(select(AuditEntry).where(AuditEntry.action == action)).all()


def test_roster_xlsx_has_the_rows_and_is_logged(db, client, login, roster):
    login(roster.organizer)
    response = client.get(f"/organize/shifts/{roster.shift.id}/roster.xlsx")
    assert response.status_code == 200
    assert response.mimetype.endswith("spreadsheetml.sheet")
    assert "attachment" in response.headers["Content-Disposition"]
    sheet = load_workbook(io.BytesIO(response.data)).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][:8] == ("活动", "班次开始", "班次结束", "岗位", "序号", "姓名", "手机号", "状态")
    seven = datetime(2030, 1, 7, 7, 0)  # a real date cell, in site time
    assert [(r[1], r[3], r[5], r[6], r[7]) for r in rows[1:]] == [
        (seven, "东门", "张三丰", "13800001111", "已确认"),
        (seven, "东门", '\'=HYPERLINK("x")', "13800002222", "待审核"),
        (seven, "东门", "李四", "13800003333", "已取消"),
    ]
    entry = _audit(db, "export.roster.xlsx")[0]
    assert (entry.actor_id, entry.target_id, entry.after["rows"]) == (
        roster.organizer.id,
        roster.shift.id,
        3,
    )


def test_csv_has_a_bom_and_chinese_intact(db, client, login, roster):
    login(roster.organizer)
    response = client.get(f"/organize/shifts/{roster.shift.id}/roster.csv")
    assert response.data.startswith(b"\xef\xbb\xbf")
    text = response.data.decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0][5] == "姓名"
    assert rows[1][5] == "张三丰" and rows[1][0] == "裕丰园市场秩序劝导"
    assert rows[2][5].startswith("'=")  # no formula injection in Excel
    assert _audit(db, "export.roster.csv")


@pytest.mark.parametrize("fmt", ["xlsx", "csv"])
def test_activity_attendance_export_covers_every_shift(
    db, client, login, roster, make_shift, make_signup, fmt
):
    second = make_shift(activity=roster.activity, starts_at=START.replace(day=8))
    make_signup(second)
    login(roster.organizer)
    response = client.get(f"/organize/activities/{roster.activity.id}/attendance.{fmt}")
    assert response.status_code == 200
    if fmt == "xlsx":
        count = load_workbook(io.BytesIO(response.data)).active.max_row - 1
    else:
        count = len(list(csv.reader(io.StringIO(response.data.decode("utf-8-sig"))))) - 1
    assert count == 4
    assert _audit(db, f"export.attendance.{fmt}")


def test_sign_in_sheet_prints_on_a4_with_a_signature_column(db, client, login, roster):
    login(roster.organizer)
    page = client.get(f"/organize/shifts/{roster.shift.id}/sign-in-sheet").get_data(as_text=True)
    assert "css/sign-in-sheet.css" in page and "<style" not in page and "onclick" not in page
    with client.get("/static/css/sign-in-sheet.css") as response:
        css = response.get_data(as_text=True)
    assert "@page { size: A4" in css and ".no-print { display: none" in css
    assert "签名" in page and "张三丰" in page and "138****1111" in page
    assert "13800001111" not in page
    assert "李四" not in page  # cancelled people are not on the sheet
    assert "site-header" not in page and "main-nav" not in page
    assert _audit(db, "export.sign_in_sheet")


@pytest.mark.parametrize("target", ["shift", "activity"])
def test_notice_reaches_everyone_on_it(db, client, login, roster, target):
    login(roster.organizer)
    url = (
        f"/organize/shifts/{roster.shift.id}/message"
        if target == "shift"
        else f"/organize/activities/{roster.activity.id}/message"
    )
    assert "将发给 2 人" in client.get(url).get_data(as_text=True)
    response = client.post(url, data={"title": "请带帽子", "body": "明天气温高。"})
    assert response.status_code == 302
    notes = db.session.scalars(select(Notification).where(Notification.kind == "notice")).all()
    assert sorted(n.user_id for n in notes) == sorted(p.id for p in roster.people[:2])
    assert all("请带帽子" in n.title for n in notes)
    entry = _audit(db, "message.send")[0]
    assert entry.after["recipients"] == 2


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"title": "", "body": "x"}, "请填写标题"),
        ({"title": "x", "body": ""}, "请填写内容"),
        ({"title": "长" * 101, "body": "x"}, "最多100个字"),
        ({"title": "x", "body": "长" * 2001}, "最多2000个字"),
    ],
)
def test_notice_bad_input(db, client, login, roster, data, message):
    login(roster.organizer)
    response = client.post(f"/organize/shifts/{roster.shift.id}/message", data=data)
    assert response.status_code == 200
    assert message in response.get_data(as_text=True)
    assert not db.session.scalars(select(Notification)).all()


def test_notice_to_nobody_says_so(db, client, login, roster, make_shift):
    empty = make_shift(activity=roster.activity, starts_at=START.replace(day=9))
    login(roster.organizer)
    response = client.post(f"/organize/shifts/{empty.id}/message", data={"title": "a", "body": "b"})
    assert response.status_code == 200
    assert "目前没有人报名" in response.get_data(as_text=True)


def test_audit_page_shows_who_did_what(db, client, login, roster, make_user):
    login(roster.organizer)
    client.get(f"/organize/shifts/{roster.shift.id}/roster.csv")
    admin = make_user("指挥中心", is_admin=True)
    login(admin)
    page = client.get("/admin/audit?action=export.roster.csv").get_data(as_text=True)
    assert "导出了班次" in page and "的名单（CSV）" in page and "组织者" in page
    assert client.get("/admin/audit?page=abc").status_code == 200


def test_attendance_export_uses_a_fixed_number_of_statements(
    db, client, login, roster, make_shift, make_signup, count_queries
):
    login(roster.organizer)

    def statements() -> int:
        with count_queries() as counter:
            url = f"/organize/activities/{roster.activity.id}/attendance.csv"
            assert client.get(url).status_code == 200
        return len(counter)

    few = statements()
    for day in range(10, 16):
        make_signup(make_shift(activity=roster.activity, starts_at=START.replace(day=day)))
    assert statements() == few

"""An organizer creates an activity, bulk-creates shifts, publishes; a resident signs up;
the organizer sees them on the roster and downloads the XLSX."""

from __future__ import annotations

import io
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from openpyxl import load_workbook

from tests.browser.conftest import DEMO_LOGINS, PHONE, log_in, screenshot

expect = pytest.importorskip("playwright.sync_api").expect
ACCOUNTS = DEMO_LOGINS
TITLE = "县一小校门口护学岗<b>测试</b>"


def _no_sideways_scroll(page, width=PHONE["width"]):
    assert page.evaluate("document.documentElement.scrollWidth") <= width


def test_organizer_bulk_shifts_roster_and_xlsx(live_server, browser, phone_page):
    base = live_server.url
    org = phone_page
    log_in(org, base, "organizer")
    org.get_by_role("link", name="组织").first.click()
    org.wait_for_url("**/organize/")
    screenshot(org, "org-01-my-activities")

    org.get_by_role("link", name="新建活动").click()
    _no_sideways_scroll(org)
    # a bad first attempt: nothing saved, the error is next to the field
    org.get_by_role("button", name="保存").click()
    expect(org.locator("#title-error")).to_have_text("请填写活动名称。")
    screenshot(org, "org-02-activity-form-errors")
    org.fill("#title", TITLE)
    org.fill("#description", "上学高峰在校门口劝导行人、非机动车文明出行。")
    org.select_option("#unit_id", label="区交警大队")
    org.select_option("#zone_id", label="立后")
    org.fill("#place", "县一小正门")
    org.check("#programme_ids-0")
    org.fill("#contact_name", "陈志强")
    org.fill("#contact_phone", "0595-1234567")
    org.fill("#requirements", "穿志愿者马甲，戴小红帽")
    org.fill("#risk_notice", "注意来往车辆")
    org.get_by_role("button", name="保存").click()
    expect(org.locator(".flashes")).to_contain_text("活动已保存为草稿")
    expect(org.locator("h1")).to_have_text(TITLE)

    org.get_by_role("link", name="批量添加").click()
    today = datetime.now(ZoneInfo("Asia/Shanghai")).date()
    first, last = today + timedelta(days=2), today + timedelta(days=8)
    org.fill("#first_date", first.isoformat())
    org.fill("#last_date", last.isoformat())
    for day in range(5):  # Monday–Friday
        org.check(f"#weekdays-{day}")
    org.fill("#slots", "07:00-08:00, 16:30-17:30")
    org.fill("#capacity", "3")
    org.fill("#post_name", "校门口")
    org.get_by_role("button", name="预览").click()
    expected = 2 * sum(1 for n in range(7) if (first + timedelta(days=n)).weekday() < 5)
    expect(org.locator("#preview-h")).to_have_text(f"预览：将创建 {expected} 个班次")
    expect(org.locator(".preview-list li")).to_have_count(expected)
    _no_sideways_scroll(org)
    screenshot(org, "org-03-bulk-preview")
    org.get_by_role("button", name=f"确认创建 {expected} 个班次").click()
    expect(org.locator(".flashes")).to_contain_text(f"已创建 {expected} 个班次")
    expect(org.locator(".org-shifts > li")).to_have_count(expected)

    org.get_by_role("button", name="发布").click()
    expect(org.locator(".flashes")).to_contain_text("活动已发布")
    activity_url = org.url
    activity_id = int(activity_url.rstrip("/").rsplit("/", 1)[1])
    screenshot(org, "org-04-published")

    # a resident, in a second browser, signs up for the first shift
    context = browser.new_context(viewport=PHONE, locale="zh-CN", is_mobile=True, has_touch=True)
    resident = context.new_page()
    resident.set_default_timeout(15_000)
    log_in(resident, base, "resident")
    resident.goto(f"{base}/activities/{activity_id}")
    assert "<b>" in resident.locator("h1").inner_text()  # escaped, shown as text
    row = resident.locator(".srow", has=resident.get_by_role("button", name="报名")).first
    row_id = row.get_attribute("id")
    row.get_by_role("button", name="报名").click()
    expect(resident.locator(f"#{row_id} .state-signed_up")).to_have_count(1)
    screenshot(resident, "org-05-resident-signed-up")
    context.close()

    # the organizer sees them on the roster and downloads the Excel file
    org.goto(activity_url)
    org.locator(".org-shifts > li").first.get_by_role("link", name="名单").click()
    row = org.locator(".roster-table tbody tr").first
    expect(row).to_contain_text("王秀英")
    expect(row).to_contain_text(ACCOUNTS["resident"][0])
    _no_sideways_scroll(org)
    screenshot(org, "org-06-roster-phone")
    with org.expect_download() as info:
        org.get_by_role("link", name="导出 Excel").click()
    download = info.value
    assert download.suggested_filename.endswith(".xlsx")
    sheet = load_workbook(io.BytesIO(download.path().read_bytes())).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][5:8] == ("姓名", "手机号", "状态")
    assert [(r[0], r[3], r[5], r[6], r[7]) for r in rows[1:]] == [
        (TITLE, "校门口", "王秀英", ACCOUNTS["resident"][0], "已确认")
    ]

    # the same roster on a desktop
    org.set_viewport_size({"width": 1280, "height": 900})
    org.reload()
    screenshot(org, "org-07-roster-desktop")
    org.goto(f"{base}/organize/shifts/{org.url.split('/shifts/')[1].split('/')[0]}/sign-in-sheet")
    expect(org.locator("table tbody tr").first).to_contain_text("王秀英")
    screenshot(org, "org-08-sign-in-sheet")

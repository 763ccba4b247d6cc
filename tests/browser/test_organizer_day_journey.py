"""The organizer's day on a phone (390 px), in Chromium: the home leads to the approval queue
and the day's shifts; select-all and a rejection with one reason (Enter in the reason box
rejects, never approves); the sign-in sheet's print button and its print layout."""

from __future__ import annotations

import pytest

from tests.browser.conftest import PHONE, log_in, screenshot

expect = pytest.importorskip("playwright.sync_api").expect


def _no_sideways_scroll(page):
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]


def test_queue_today_and_sign_in_sheet_on_a_phone(live_server, phone_page):
    base, org = live_server.url, phone_page
    log_in(org, base, "organizer")
    org.goto(f"{base}/organize/")
    queue_card = org.locator("a.org-day-card[href='/organize/queue']")
    expect(org.locator("a.org-day-card[href='/organize/today']")).to_be_visible()
    pending = int(queue_card.locator(".org-day-figure").inner_text())
    assert pending > 2  # the demo district has sign-ups waiting for approval
    box = queue_card.bounding_box()
    assert box["y"] + box["height"] < PHONE["height"]  # on the first screen
    screenshot(org, "org-day-01-home")

    queue_card.click()
    expect(org.locator("h1")).to_have_text("待审核")
    boxes = org.locator("input[name=signup_ids]")
    select_all = org.get_by_label("全选", exact=True)
    select_all.check()  # shown and working only with JavaScript
    assert all(boxes.nth(i).is_checked() for i in range(boxes.count()))
    select_all.uncheck()
    assert not any(boxes.nth(i).is_checked() for i in range(boxes.count()))
    _no_sideways_scroll(org)
    screenshot(org, "org-day-02-queue")

    boxes.nth(0).check()
    boxes.nth(1).check()
    org.locator("details.queue-reject summary").click()
    org.fill("#reason", "本班次只招本社区居民")
    org.press("#reason", "Enter")
    expect(org.locator(".flashes")).to_contain_text("已拒绝 2 人，已通知本人。")
    expect(org.locator(".org-day-figure")).to_have_count(0)
    assert f"共 {pending - 2} 条报名等待审核" in org.locator("main").inner_text()
    screenshot(org, "org-day-03-rejected")

    org.goto(f"{base}/organize/today")
    expect(org.locator("h1")).to_have_text("今天的班次")
    _no_sideways_scroll(org)
    screenshot(org, "org-day-04-today")
    roster = org.get_by_role("link", name="名单与签到").first
    if roster.count():
        roster.click()
        expect(org.locator("h1")).to_have_text("名单")
        sheet_url = org.url.replace("/roster", "/sign-in-sheet")
    else:  # no shift today: any roster will do for the sheet
        org.goto(f"{base}/organize/queue")
        org.locator(".queue-shift-title a").first.click()
        sheet_url = org.url.replace("/roster", "/sign-in-sheet")

    org.goto(sheet_url)
    button = org.get_by_role("button", name="打印签到表")
    expect(button).to_be_visible()
    assert button.bounding_box()["height"] >= 44
    expect(org.locator("[data-print-hint]")).to_be_hidden()
    _no_sideways_scroll(org)
    table = org.locator("table.sheet").bounding_box()
    assert table["x"] >= 0 and table["x"] + table["width"] <= PHONE["width"]
    screenshot(org, "org-day-05-sign-in-sheet")
    org.emulate_media(media="print")
    expect(button).to_be_hidden()
    screenshot(org, "org-day-06-sign-in-sheet-print")

"""A resident on a phone opens home, filters by zone and opens an activity."""

from __future__ import annotations

from tests.browser.conftest import screenshot


def test_phone_home_filter_by_zone_open_activity(live_server, phone_page):
    page = phone_page
    page.goto(live_server.url + "/")
    assert page.locator("h1").first.inner_text() == "一起创文明城、迎省运会"
    assert page.get_attribute("html", "lang") == "zh-CN"
    # Nothing wider than the phone: no horizontal scrolling.
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    screenshot(page, "01-home-phone")

    page.get_by_role("link", name="找活动").first.click()
    page.locator("summary", has_text="筛选").click()
    page.select_option("#f-zone", label="福海")
    page.get_by_role("button", name="筛选").click()
    page.wait_for_url("**/activities?**zone=**")
    cards = page.locator(".activity-card")
    assert cards.count() > 0
    zones_shown = page.locator(".activity-card .facts div:nth-child(2) dd").all_inner_texts()
    assert zones_shown and set(zones_shown) == {"福海"}
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    screenshot(page, "02-list-filtered-fuhai")

    title = cards.first.locator("h3").inner_text()
    cards.first.get_by_role("link", name="查看并报名").click()
    assert page.locator("h1").inner_text() == title
    assert page.locator(".srow").count() > 0
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    screenshot(page, "03-activity-phone")

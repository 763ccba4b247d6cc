"""A resident at 390 px: results first after a search, a long activity by day with the day
strip, a cancelled shift that reads cancelled, WeChat without .ics downloads, 大字 sizes.

Screenshots (test-output/resident-*.png) in Chinese, English and 大字 mode."""

from __future__ import annotations

import pytest

from tests.browser.conftest import PHONE, log_in, screenshot

expect = pytest.importorskip("playwright.sync_api").expect

WECHAT_UA = (
    "Mozilla/5.0 (Linux; Android 13; 22081212C) AppleWebKit/537.36 Chrome/116 Mobile "
    "Safari/537.36 XWEB/1160065 MMWEBSDK/20231202 MicroMessenger/8.0.47"
)
LONG = "/activities/11"  # the demo's games station: many shifts over weeks


def _no_sideways(page):
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]


def _large(page, base):
    page.context.add_cookies([{"name": "large", "value": "1", "url": base}])


def test_search_puts_results_first(live_server, phone_page):
    page = phone_page
    page.goto(live_server.url + "/activities?q=县一小&kind=volunteer")
    line = page.locator(".filter-summary")
    expect(line).to_have_text("“县一小” · 志愿服务")
    expect(page.locator("details.filters")).not_to_have_attribute("open", "")
    card = page.locator(".activity-card").first
    box = card.bounding_box()
    assert box and box["y"] < PHONE["height"], box  # the first card starts on the first screen
    _no_sideways(page)
    screenshot(page, "resident-01-search-first")
    page.locator("details.filters > summary").click()  # the line opens the filters again
    expect(page.locator("#f-q")).to_be_visible()
    page.locator("a.filter-clear").click()
    page.wait_for_url(lambda url: "q=" not in url)
    expect(page.locator(".filter-summary")).to_have_count(0)


def test_long_activity_by_day_with_a_strip(live_server, phone_page):
    page = phone_page
    page.goto(live_server.url + LONG)
    strip = page.locator("nav.day-strip a")
    assert strip.count() >= 3
    _no_sideways(page)
    screenshot(page, "resident-02-activity-days")
    target = strip.nth(2)
    key = target.get_attribute("href")
    target.click()
    page.wait_for_function("(k) => location.hash === k", arg=key)
    heading = page.locator(f"{key} .day-head")
    top = heading.bounding_box()["y"]
    assert 0 <= top < 120, top  # the chosen day is at the top of the screen
    # six or more shift rows fit on one screen
    visible = page.evaluate("""() => [...document.querySelectorAll('.srow')].filter(r => {
        const b = r.getBoundingClientRect(); return b.top >= 0 && b.bottom <= innerHeight;
    }).length""")
    assert visible >= 6, visible
    heights = page.evaluate(
        "[...document.querySelectorAll('.srow')].slice(0, 20)"
        ".map(r => r.getBoundingClientRect().height)"
    )
    assert max(heights) <= 90, heights
    page.screenshot(
        path=str(
            screenshot(page, "resident-03-day-jump").with_name("resident-03-day-jump-screen.png")
        )
    )
    page.locator(f"{key} a.to-strip").click()
    assert page.locator("#day-strip").bounding_box()["y"] < 120


def test_cancelled_shift_reads_cancelled(live_server, phone_page):
    from portal.extensions import db
    from portal.models import Shift, ShiftStatus
    from portal.timeutil import now_utc

    app = live_server.app
    with app.app_context():
        shift = db.session.scalars(
            db.select(Shift)
            .where(Shift.activity_id == 11, Shift.ends_at > now_utc())
            .order_by(Shift.starts_at)
            .offset(1)
            .limit(1)
        ).one()
        shift.status, shift.cancel_reason = ShiftStatus.CANCELLED, "暴雨橙色预警"
        db.session.commit()
        shift_id = shift.id
    page = phone_page
    page.goto(live_server.url + LONG)
    row = page.locator(f"#shift-{shift_id}")
    expect(row.locator(".state-cancelled")).to_have_text("已取消")
    expect(row).to_contain_text("暴雨橙色预警")
    assert row.locator(".bar, button, a.button, a[href$='.ics']").count() == 0
    assert "余" not in row.inner_text() and "已满" not in row.inner_text()
    row.scroll_into_view_if_needed()
    page.screenshot(
        path=str(
            screenshot(page, "resident-04-cancelled").with_name("resident-04-cancelled-screen.png")
        )
    )


def test_wechat_offers_no_ics_download(live_server, browser):
    context = browser.new_context(
        viewport=PHONE, user_agent=WECHAT_UA, locale="zh-CN", is_mobile=True, has_touch=True
    )
    page = context.new_page()
    try:
        log_in(page, live_server.url, "resident")
        page.goto(live_server.url + LONG)
        with page.expect_navigation():
            page.locator("button[formaction$='/signup']").first.click()
        expect(page.locator(".srow .state-pending, .srow .state-signed_up").first).to_be_visible()
        assert page.locator("a[href$='.ics']").count() == 0
        expect(page.get_by_text("微信里不能下载日历文件")).to_be_visible()
        screenshot(page, "resident-05-wechat-activity")
    finally:
        context.close()


def _sizes(page, base, suffix) -> dict:
    page.goto(base + "/activities" + suffix)
    state = page.evaluate("parseFloat(getComputedStyle(document.querySelector('.state')).fontSize)")
    page.goto(base + LONG + suffix)
    return {"state": state} | page.evaluate("""() => {
        const px = (sel) => { const el = document.querySelector(sel);
            return el ? parseFloat(getComputedStyle(el).fontSize) : null; };
        return {body: px('body'), h1: px('h1'), h2: px('h2'), tag: px('.tag'),
                strip: px('.day-strip a')};
    }""")


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_large_text_scales_headings_badges_and_tap_targets(live_server, phone_page, lang):
    page = phone_page
    suffix = "?lang=en" if lang == "en" else ""
    normal = _sizes(page, live_server.url, suffix)
    _large(page, live_server.url)
    large = _sizes(page, live_server.url, suffix)
    assert large["body"] >= 18
    for sizes in (normal, large):
        assert sizes["h1"] > sizes["h2"] > sizes["body"], sizes
    for key in ("h1", "h2", "state", "tag", "strip"):
        assert large[key] > normal[key], (key, normal, large)
    short = page.evaluate("""() => [...document.querySelectorAll(
        '.srow .button, .day-strip a, .main-nav a, .to-strip, .site-footer button')]
        .map(e => e.getBoundingClientRect().height).filter(h => h > 0 && h < 59.5).length""")
    assert short == 0
    _no_sideways(page)
    screenshot(page, f"resident-06-large-{lang}")


def test_subscription_page_toggles_are_tap_sized(live_server, phone_page):
    page = phone_page
    page.goto(live_server.url + "/calendar/public")
    heights = page.evaluate(
        "[...document.querySelectorAll('summary')].map(s => s.getBoundingClientRect().height)"
    )
    assert heights and min(heights) >= 44, heights


def test_english_activity_page(live_server, phone_page):
    page = phone_page
    page.goto(live_server.url + LONG + "?lang=en")
    text = page.locator("main").inner_text()
    assert "places left" in text or "place left" in text
    assert " 1 places" not in text
    expect(page.locator("dt", has_text="Zone").first).to_have_text("Zone")
    _no_sideways(page)
    screenshot(page, "resident-07-activity-en")

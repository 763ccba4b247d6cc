"""Phone journey: a resident signs up, opens the subscription page, gets the link and QR,
and a calendar client fetching that link sees the shift; inside WeChat the page says how to
open it in the browser instead of offering a link that silently fails."""

from __future__ import annotations

import re
import urllib.request
from datetime import UTC, datetime

import icalendar

from tests.browser.conftest import log_in, screenshot

WECHAT_UA = (
    "Mozilla/5.0 (Linux; Android 13; 22081212C) AppleWebKit/537.36 Chrome/116 Mobile "
    "Safari/537.36 XWEB/1160065 MMWEBSDK/20231202 MicroMessenger/8.0.47"
)


def test_subscribe_on_a_phone(live_server, phone_page):
    page, base = phone_page, live_server.url
    log_in(page, base, "resident")
    page.goto(base + "/activities/1")
    with page.expect_navigation():  # the row's button posts the page's one sign-up form
        page.locator("button[formaction$='/signup']").first.click()
    page.wait_for_load_state()
    page.goto(base + "/calendar/subscribe")
    page.get_by_role("button", name=re.compile("生成我的订阅链接")).click()
    page.wait_for_load_state()
    link = page.locator("#feed-url").input_value()
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+/calendar/me/[A-Za-z0-9_-]{43}\.ics", link)
    webcal = page.get_by_role("link", name=re.compile("一键订阅")).get_attribute("href")
    assert webcal == "webcal://" + link.split("://", 1)[1]
    assert page.locator("figure.qr svg").count() == 1
    screenshot(page, "subscribe-phone")

    with urllib.request.urlopen(link) as response:  # what a calendar program does
        assert response.headers["Content-Type"] == "text/calendar; charset=utf-8"
        cal = icalendar.Calendar.from_ical(response.read())
    events = list(cal.walk("VEVENT"))
    now = datetime.now(UTC)
    # one upcoming place; the past ones are her attended (or missed) shifts
    assert len([e for e in events if e.decoded("DTEND") > now]) == 1
    past = [e for e in events if e.decoded("DTEND") <= now]
    assert past and all(
        "已出勤" in str(e["DESCRIPTION"]) or str(e["SUMMARY"]).startswith("【缺席】") for e in past
    )

    page.reload()  # the secret is shown once only
    assert page.locator("#feed-url").count() == 0
    assert page.get_by_text("已订阅").count() >= 1


def test_subscribe_inside_wechat(live_server, browser):
    context = browser.new_context(
        viewport={"width": 390, "height": 844},
        user_agent=WECHAT_UA,
        locale="zh-CN",
        is_mobile=True,
        has_touch=True,
    )
    page = context.new_page()
    try:
        log_in(page, live_server.url, "resident")
        page.goto(live_server.url + "/calendar/subscribe")
        page.get_by_role("button", name=re.compile("生成我的订阅链接")).click()
        page.wait_for_load_state()
        assert page.get_by_text("点击右上角 ··· 选择在浏览器打开").count() >= 1
        assert page.locator("a[href^='webcal:']").count() == 0
        box = page.locator("#feed-url")
        assert box.get_attribute("readonly") is not None
        assert page.get_by_role("button", name="复制链接").count() == 1
        screenshot(page, "subscribe-wechat")
    finally:
        context.close()

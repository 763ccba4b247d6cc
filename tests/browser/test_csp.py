"""The CSP (no 'unsafe-inline') in real Chromium: every kind of page, reached by following the
site's own links as each role, raises no CSP violation, and the behaviours moved out of the
HTML into static/js still work (print buttons, select-on-focus, copy)."""

from __future__ import annotations

from urllib.parse import urljoin, urlsplit

import pytest

from tests.browser.conftest import PHONE, log_in, screenshot

SKIP_SUFFIXES = (".ics", ".csv", ".xlsx", ".pdf", ".json")
START = {
    None: ["/", "/activities", "/zones", "/account/login", "/account/register", "/calendar/public"],
    "resident": ["/me", "/account/profile", "/calendar/subscribe", "/me/inbox"],
    "organizer": ["/organize/"],
    "admin": ["/organize/", "/dashboard/", "/admin/"],
}
MAX_PAGES = 28


def _watch(page, violations: list[str]):
    page.on(
        "console",
        lambda msg: (
            violations.append(f"{page.url}: {msg.text}")
            if "Content Security Policy" in msg.text or "Refused to" in msg.text
            else None
        ),
    )
    page.add_init_script(
        "document.addEventListener('securitypolicyviolation', function (e) {"
        " console.error('Refused to (CSP) ' + e.violatedDirective + ' ' + e.blockedURI); });"
    )


def _crawl(page, base: str, starts: list[str]) -> list[str]:
    seen, queue, visited = set(), [base + s for s in starts], []
    host = urlsplit(base).netloc
    while queue and len(visited) < MAX_PAGES:
        url = queue.pop(0).split("#")[0]
        if url in seen:
            continue
        seen.add(url)
        response = page.goto(url)
        if (
            response is None
            or response.status >= 400
            or "text/html" not in (response.headers.get("content-type", ""))
        ):
            continue
        visited.append(url)
        for href in page.eval_on_selector_all("a[href]", "els => els.map(e => e.href)"):
            parts = urlsplit(urljoin(url, href))
            if parts.netloc != host or parts.path.endswith(SKIP_SUFFIXES):
                continue
            if "logout" in parts.path or "lang" in parts.path:
                continue
            queue.append(parts._replace(fragment="").geturl())
    return visited


@pytest.mark.parametrize("role", [None, "resident", "organizer", "admin"])
def test_no_csp_violation_on_any_page(live_server, browser, role):
    context = browser.new_context(viewport=PHONE, locale="zh-CN")
    page = context.new_page()
    page.set_default_timeout(15_000)
    violations: list[str] = []
    _watch(page, violations)
    try:
        if role:
            log_in(page, live_server.url, role)
        visited = _crawl(page, live_server.url, START[role])
        assert len(visited) >= 4, visited
        assert violations == [], "\n".join(violations)
    finally:
        context.close()


def test_moved_behaviours_still_work(live_server, browser):
    context = browser.new_context(viewport=PHONE, locale="zh-CN")
    page = context.new_page()
    violations: list[str] = []
    _watch(page, violations)
    try:
        page.goto(live_server.url + "/calendar/public")
        box = page.locator("[data-select-all]").first
        box.focus()
        selected = page.evaluate(
            "() => { const b = document.activeElement; return b.selectionEnd - b.selectionStart; }"
        )
        assert selected == len(box.input_value()) > 0
        assert page.locator("[data-copy]").count() >= 1
        screenshot(page, "csp-public-subscribe")
        assert violations == []
    finally:
        context.close()

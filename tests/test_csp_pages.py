"""Every page the app serves works under its CSP (no 'unsafe-inline'): rendered for every role,
no page may carry an inline script or style without this response's nonce, a style=""
attribute, an on…= handler or a javascript: link. New templates are caught here as they come,
because the routes are those of the access matrix (which must list every route)."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest

from tests.test_access_matrix import ROUTES, world  # noqa: F401  (world is a fixture)

GET_KINDS = {
    "public",
    "login",
    "organizer",
    "admin",
    "organizer-area",
    "command",
    "leader",
    "guest",
}


class InlineFinder(HTMLParser):
    def __init__(self, nonce: str | None):
        super().__init__(convert_charrefs=True)
        self.nonce = nonce
        self.problems: list[str] = []

    def handle_starttag(self, tag, attrs):
        names = dict(attrs)
        for name, value in attrs:
            if name == "style":
                self.problems.append(f'<{tag} style="{value}">')
            elif name.startswith("on"):
                self.problems.append(f"<{tag} {name}=…>")
            elif name in ("href", "src", "action", "formaction") and (
                value or ""
            ).strip().lower().startswith("javascript:"):
                self.problems.append(f"<{tag} {name}=javascript:…>")
        if tag == "script" and "src" not in names and names.get("type") != "application/json":
            if not self.nonce or names.get("nonce") != self.nonce:
                self.problems.append("<script> inline without this response's nonce")
        if tag == "style" and (not self.nonce or names.get("nonce") != self.nonce):
            self.problems.append("<style> without this response's nonce")


def inline_problems(html: str, csp: str) -> list[str]:
    match = re.search(r"'nonce-([^']+)'", csp)
    finder = InlineFinder(match.group(1) if match else None)
    finder.feed(html)
    return finder.problems


def test_the_finder_catches_what_the_csp_would_block():
    csp = "script-src 'self' 'nonce-abc'"
    assert inline_problems('<script nonce="abc">ok()</script>', csp) == []
    assert inline_problems('<script src="/static/js/page.js"></script>', csp) == []
    assert len(inline_problems("<script>x()</script>", csp)) == 1
    assert len(inline_problems('<script nonce="old">x()</script>', csp)) == 1
    assert len(inline_problems('<p style="color:red">', csp)) == 1
    assert len(inline_problems('<button onclick="x()">', csp)) == 1
    assert len(inline_problems("<style>p{}</style>", csp)) == 1
    assert len(inline_problems('<a href="javascript:x()">', csp)) == 1
    assert len(inline_problems('<svg><rect style="fill:red"/></svg>', csp)) == 1


@pytest.mark.parametrize("role", ["anonymous", "resident", "organizer", "admin", "zone_leader"])
def test_no_page_needs_unsafe_inline(client, login, world, role):  # noqa: F811
    people, ids = world
    if role != "anonymous":
        login(people[role])
    failures, pages = [], 0
    for kind, template in ROUTES.values():
        if kind not in GET_KINDS:
            continue
        url = template.format(**ids)
        response = client.get(url)
        response.close()
        if response.mimetype != "text/html" or response.status_code != 200:
            continue
        pages += 1
        csp = response.headers["Content-Security-Policy"]
        assert "unsafe-inline" not in csp
        for problem in inline_problems(response.get_data(as_text=True), csp):
            failures.append(f"{url}: {problem}")
    assert pages >= 5
    assert failures == [], "\n".join(failures)

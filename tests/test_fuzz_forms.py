"""Hypothesis over every form: every route that takes a POST gets hostile values (random
Unicode, huge strings, control characters, CRLF, HTML and script) in one field at a time, the
others as the page itself fills them in. Never a 500; what comes back never contains our
markup unescaped; afterwards the calendar feeds and the API still parse.

Bounded and repeatable: ``FUZZ_EXAMPLES`` examples per form (default 6), derandomized, no
example database. ``PORTAL_FUZZ_EXAMPLES=200`` for a long run by hand.
"""

from __future__ import annotations

import os
from html.parser import HTMLParser

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.test_access_matrix import ROUTES, world  # noqa: F401  (world is a fixture)

FUZZ_EXAMPLES = int(os.environ.get("PORTAL_FUZZ_EXAMPLES", "6"))
MARK = "fz7q"  # appears in our markup payloads; must never come back as live markup
PAYLOADS = [
    f"<script>{MARK}()</script>",
    f'"><img src=x onerror={MARK}()>',
    f"'><svg onload={MARK}()>",
    f"javascript:{MARK}()",
    "王五\r\nSet-Cookie: evil=1",
    "a\r\n\r\nBEGIN:VEVENT\r\nSUMMARY:injected\r\nEND:VEVENT",
    '=HYPERLINK("http://evil.example")',
    "\u202e\u2066王五\u200b\u200d",
    "\x00\x01\x07\x1b[31m",
    "王" * 3000,
    "1" * 100_000,
    "-1",
    "0",
    "99999999999999999999",
    "2026-13-45",
    "25:99",
    "NaN",
    "",
]
HOSTILE = st.one_of(
    st.sampled_from(PAYLOADS),
    st.text(max_size=60),
    st.text(alphabet=st.characters(codec="utf-8"), min_size=1, max_size=300),
    st.text(alphabet=st.sampled_from(list("\r\n\t\x0b\x0c\u0085\u2028<>&\"'`")), max_size=30),
)
# Ending the session or the account would stop the run; they have their own tests.
SKIP = {"auth.logout", "auth.logout_everywhere"}
GENERIC_FIELDS = ["reason", "note", "phone", "real_name", "hours", "name", "message", "next"]


class FormFields(HTMLParser):
    """Field names and the values the page fills in, from the page's POST forms."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.values: dict[str, str] = {}
        self._select: str | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        name = a.get("name")
        if tag == "input" and name and name != "csrf_token":
            kind = (a.get("type") or "text").lower()
            if kind in ("checkbox", "radio"):
                if "checked" in a or name not in self.values:
                    self.values[name] = a.get("value") or "y"
            elif kind not in ("submit", "button", "file"):
                self.values[name] = a.get("value") or ""
        elif tag == "textarea" and name:
            self.values[name] = ""
        elif tag == "select" and name:
            self._select = name
            self.values.setdefault(name, "")
        elif tag == "option" and self._select:
            if not self.values.get(self._select) or "selected" in a:
                self.values[self._select] = a.get("value") or ""

    def handle_endtag(self, tag):
        if tag == "select":
            self._select = None


def _targets(app, ids):
    out = []
    for rule in app.url_map.iter_rules():
        if "POST" not in (rule.methods or ()) or rule.endpoint in SKIP:
            continue
        if rule.endpoint not in ROUTES:
            continue
        out.append((rule.endpoint, ROUTES[rule.endpoint][1].format(**ids)))
    return sorted(set(out))


def _fields(client, url) -> dict[str, str]:
    response = client.get(url)
    response.close()
    values: dict[str, str] = {}
    if response.status_code == 200 and response.mimetype == "text/html":
        parser = FormFields()
        parser.feed(response.get_data(as_text=True))
        values = {k: v for k, v in parser.values.items() if k not in ("q", "lang")}
    for name in GENERIC_FIELDS:
        values.setdefault(name, "")
    return values


def _check(response, where):
    assert response.status_code < 500, where
    if response.mimetype == "text/html":
        body = response.get_data(as_text=True)
        for live in (
            f"<script>{MARK}",
            f"onerror={MARK}",
            f"onload={MARK}",
            f'href="javascript:{MARK}',
        ):
            assert live not in body, (where, live)


@pytest.mark.parametrize("role", ["admin", "anonymous"])
def test_fuzzed_forms_never_fail_and_never_echo_markup(app, client, db, login, world, role):  # noqa: F811
    people, ids = world
    if role == "admin":
        login(people["admin"])
    targets = _targets(app, ids)
    assert len(targets) >= 20
    for endpoint, url in targets:
        defaults = _fields(client, url)
        names = sorted(defaults)

        _fuzz(client, endpoint, url, defaults, names)()
        if role == "admin":
            login(people["admin"])  # a fuzzed POST may have changed the session
    _feeds_and_api_still_parse(client, ids)


def _fuzz(client, endpoint, url, defaults, names):
    @settings(
        max_examples=FUZZ_EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(field=st.sampled_from(names), value=HOSTILE)
    def fuzz(field, value):
        response = client.post(url, data={**defaults, field: value})
        _check(response, (endpoint, field, value[:80]))
        if response.status_code in (301, 302, 303) and response.headers.get("Location"):
            follow = client.get(response.headers["Location"])
            _check(follow, (endpoint, "after redirect", field, value[:80]))

    return fuzz


def _feeds_and_api_still_parse(client, ids):
    import icalendar

    for url in (
        "/calendar/all.ics",
        f"/calendar/zones/{ids['zone']}.ics",
        f"/calendar/activities/{ids['activity']}.ics",
    ):
        response = client.get(url)
        if response.status_code == 404:  # the fuzz may have deleted or unpublished it
            continue
        assert response.status_code == 200, url
        calendar = icalendar.Calendar.from_ical(response.data)
        for event in calendar.walk("VEVENT"):
            assert "injected" not in str(event.get("SUMMARY", "")) or "\n" not in str(
                event.get("SUMMARY")
            )
    for url in ("/api/v1/activities", "/api/v1/shifts", "/api/v1/zones"):
        response = client.get(url)
        assert response.status_code == 200 and response.get_json() is not None

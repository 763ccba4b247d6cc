"""Rendered-page cache for the busiest HTML pages (issue 12): the activity list, an activity
page and "my schedule".

At 100× data a list page costs ~10 ms of SQL and ~30–100 ms of Python and Jinja; an
activity page with 240 shifts ~10 ms; "my schedule" ~10 ms. The HTML only changes when
somebody writes, when the clock passes a moment the page depends on, or with the visitor.
So a page is rendered once and kept in the process, keyed by:

- the **data version** of :mod:`portal.dashboard.freshness` (random tokens bumped in the
  same transaction by every write to a table in ``freshness.WATCHED``), read *before* the
  page is computed: a cached page can be newer than its key, never older;
- the request as the page sees it: endpoint, full path with query, host, language, large
  text, WeChat or not, and the person (``None`` for every anonymous visitor; their id and
  unread count otherwise);
- a **valid-until** instant the view names with :func:`not_after` (the next shift start,
  end, sign-up opening or closing, cancellation deadline that changes what is shown), never
  later than the next local midnight (today / past-day labels), and at most an hour (a
  margin for a time dependence nobody named).

What differs per response is substituted on the way out: the CSP nonce and the CSRF token
are stored as placeholders and replaced by this response's values (the CSRF token is
generated as the template would have, so the session cookie behaves the same). A request
with flashed messages waiting bypasses the cache (the page would show and consume them).
Headers are not stored: the after-request hooks (Cache-Control, Vary, CSP) run as for any
page. Every write to a watched table anywhere empties the cache (one version for all), so in
a rush of sign-ups a page is rendered again after each one; the cache pays between writes.

``PAGE_CACHE`` (default on; ``PORTAL_PAGE_CACHE=0`` turns it off) — e.g. a benchmark of the
uncached pages, or a test that compares against a fresh render.
"""

from __future__ import annotations

import os
import re
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app, g, request, session
from flask_babel import get_locale
from flask_login import current_user

from portal.dashboard import freshness
from portal.extensions import db
from portal.timeutil import local_day_bounds, now_utc, to_local

MAX_BYTES = 32 * 1024 * 1024  # per process (UTF-8); an activity page with 240 shifts: ~200 KB
# Random per process and never sent: page content cannot contain them by accident.
_NONCE = "pcn" + secrets.token_hex(12)
_CSRF = "pcc" + secrets.token_hex(12)
_SLOT = re.compile(f"({_NONCE}|{_CSRF})")


@dataclass
class Entry:
    """A page as UTF-8 pieces with a per-response value between each two: ``slots[i]`` is
    ``"n"`` (the CSP nonce) or ``"c"`` (the CSRF token) and goes after ``parts[i]``."""

    parts: list[bytes]
    slots: list[str]
    valid_until: datetime

    @property
    def size(self) -> int:
        return sum(len(p) for p in self.parts)

    @classmethod
    def of(cls, html: str, valid_until: datetime) -> Entry:
        pieces = _SLOT.split(html)
        return cls(
            [p.encode() for p in pieces[::2]],
            ["n" if x == _NONCE else "c" for x in pieces[1::2]],
            valid_until,
        )


_lock = threading.Lock()


class _Store:
    def __init__(self) -> None:
        self.entries: OrderedDict[tuple, Entry] = OrderedDict()
        self.version: tuple | None = None
        self.version_since = 0.0  # monotonic time the entries' version was set
        self.size = 0


def _store() -> _Store:
    store = current_app.extensions.get("page_cache")
    if store is None:
        store = current_app.extensions.setdefault("page_cache", _Store())
    return store


def enabled() -> bool:
    if "PAGE_CACHE" in current_app.config:
        return bool(current_app.config["PAGE_CACHE"])
    return os.environ.get("PORTAL_PAGE_CACHE", "1") not in ("0", "false", "no")


def clear() -> None:
    """Forget every cached page of this app (tests; a load that bypassed the engine)."""
    with _lock:
        store = _store()
        store.entries.clear()
        store.size = 0


def not_after(when: datetime | None) -> None:
    """Tell the cache that the page being rendered may change at ``when`` (UTC)."""
    if when is None:
        return
    current = g.get("page_cache_not_after")
    if current is None or when < current:
        g.page_cache_not_after = when


def started_at() -> datetime:
    """The clock when the request began (see :func:`not_after_any`); now, uncached."""
    return g.get("page_cache_started") or now_utc()


def not_after_any(times) -> None:
    """:func:`not_after` the earliest of ``times`` still to come (``None``s skipped).

    "To come" is judged by the clock as it was when the request began (before the page read
    anything): a moment that passes while the page is worked out still bounds the entry, so
    a page worked out just before a sign-up opens is never kept past the opening."""
    now = started_at()
    future = [t for t in times if t is not None and t > now]
    if future:
        not_after(min(future))


def _visitor() -> tuple:
    if not current_user.is_authenticated:
        return (None,)
    if "unread" not in g:  # the nav's unread badge (the context processor reuses g.unread)
        from portal.notifications.services import unread_count

        g.unread = unread_count(current_user)
    return (current_user.id, g.unread)


def _key(version: tuple) -> tuple:
    return (
        version,
        request.endpoint,
        request.full_path,
        request.host_url,
        str(get_locale() or ""),
        request.cookies.get("large") == "1",
        "MicroMessenger" in (request.user_agent.string or ""),
        *_visitor(),
    )


def _out(entry: Entry) -> bytes:
    if not entry.slots:
        return entry.parts[0]
    values = {}
    if "n" in entry.slots:
        from portal.security import csp_nonce

        values["n"] = csp_nonce().encode()
    if "c" in entry.slots:
        from flask_wtf.csrf import generate_csrf

        values["c"] = generate_csrf().encode()
    out = [entry.parts[0]]
    for slot, part in zip(entry.slots, entry.parts[1:], strict=True):
        out += (values[slot], part)
    return b"".join(out)


def serve(render: Callable[[], str]) -> str | bytes:
    """The page ``render()`` would return, from the cache when it holds it for this request."""
    if not enabled() or request.method != "GET" or session.get("_flashes"):
        return render()
    # The clock before anything is read: every moment the page depends on is later than this.
    now = g.page_cache_started = now_utc()
    started = time.monotonic()
    version = freshness.current_key(db.session)
    if version is None:
        return render()
    key = _key(version)
    with _lock:
        store = _store()
        entry = store.entries.get(key)
        if entry is not None:
            if now < entry.valid_until:
                store.entries.move_to_end(key)
            else:
                entry = None
    if entry is not None:
        return _out(entry)

    g.pop("page_cache_not_after", None)
    # Rows loaded before the version was read (the person, a zone) may predate it on
    # PostgreSQL (read committed): let the page read them again, after the version.
    db.session.expire_all()
    html = render()
    if not isinstance(html, str):  # a redirect or a response object: not ours to keep
        return html
    midnight = local_day_bounds(to_local(now).date())[1]
    until = min(g.pop("page_cache_not_after", midnight), midnight, now + timedelta(hours=1))
    if until <= now_utc():  # a moment passed while the page was worked out: do not keep it
        return html
    kept = html
    nonce, token = g.get("csp_nonce"), g.get("csrf_token")
    if nonce:
        kept = kept.replace(nonce, _NONCE)
    if token:
        kept = kept.replace(token, _CSRF)
    _put(key, Entry.of(kept, until), started)
    return html


def _put(key: tuple, entry: Entry, started: float) -> None:
    with _lock:
        store = _store()
        if store.version != key[0]:
            if started < store.version_since:
                # A request that began before pages of another version were stored: its
                # version is most likely the older one, so it must not empty the newer pages.
                return
            store.entries.clear()  # pages of an older data version are never asked again
            store.size = 0
            store.version = key[0]
            store.version_since = time.monotonic()
        old = store.entries.pop(key, None)
        if old is not None:
            store.size -= old.size
        store.entries[key] = entry
        store.size += entry.size
        while store.size > MAX_BYTES and len(store.entries) > 1:
            _k, dropped = store.entries.popitem(last=False)
            store.size -= dropped.size

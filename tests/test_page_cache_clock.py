"""The page cache and the clock while a page is worked out (portal/pagecache.py): a moment the
page depends on that passes during the render still bounds the entry (or the page is not
kept), and a slow request of an older data version never empties the newer pages."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from portal import pagecache

T = datetime(2026, 12, 5, 1, 0, tzinfo=UTC)  # 09:00 in Shanghai: sign-up opens


class Clock:
    def __init__(self, at: datetime):
        self.at = at

    def __call__(self) -> datetime:
        return self.at


@pytest.fixture
def versioned(db, make_zone):
    make_zone()  # a write: the data version has a row, so pages are cached


def _serve(app, clock: Clock, render) -> str:
    with app.test_request_context("/activities"):
        return pagecache.serve(render)


def _entries(app) -> list:
    return list(app.extensions["page_cache"].entries.values())


def test_a_moment_passing_during_the_render_is_not_dropped(app, versioned, monkeypatch):
    clock = Clock(T - timedelta(milliseconds=30))
    monkeypatch.setattr(pagecache, "now_utc", clock)

    def render() -> str:
        state = "not open yet" if clock.at < T else "open"
        clock.at = T + timedelta(milliseconds=20)  # building the rows takes 50 ms
        pagecache.not_after_any([T])
        return state

    assert _serve(app, clock, render) == "not open yet"
    # The page was right when it began and wrong by the time it was done: not kept.
    assert _entries(app) == []
    assert _serve(app, clock, lambda: "open") == "open"


def test_a_moment_still_to_come_bounds_the_entry(app, versioned, monkeypatch):
    clock = Clock(T - timedelta(minutes=5))
    monkeypatch.setattr(pagecache, "now_utc", clock)

    def render() -> str:
        clock.at += timedelta(milliseconds=50)
        pagecache.not_after_any([T])
        return "not open yet"

    _serve(app, clock, render)
    (entry,) = _entries(app)
    assert entry.valid_until == T
    clock.at = T + timedelta(seconds=1)
    assert _serve(app, clock, lambda: "open") == "open"


def test_a_slow_request_of_an_older_version_keeps_the_newer_pages(app, monkeypatch):
    store = pagecache._store()
    newer = ("v2",)
    with app.test_request_context("/activities"):
        pagecache._put((newer, "a"), pagecache.Entry.of("new page", T), started=10.0)
        since = store.version_since
        pagecache._put((("v1",), "b"), pagecache.Entry.of("old page", T), started=since - 1)
    assert store.version == newer
    assert [k for k in store.entries] == [(newer, "a")]
    with app.test_request_context("/activities"):
        pagecache._put((("v3",), "c"), pagecache.Entry.of("newest", T), started=since + 1)
    assert [k for k in store.entries] == [(("v3",), "c")]

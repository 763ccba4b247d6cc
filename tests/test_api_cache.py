"""``/api/v1/shifts`` through the page cache (portal/pagecache.py): the cached answer equals a
fresh one after sign-ups, cancellations and shift edits, on both databases, and it is kept no
later than the next shift start (a shift then leaves the upcoming window)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from portal import pagecache
from portal.database import begin_write
from portal.organize.services.shifts import SHIFT_FIELDS, cancel_shift, update_shift
from portal.signups.services import cancel_signup, sign_up

pytestmark = pytest.mark.both_databases

PATHS = ("/api/v1/shifts", "/api/v1/shifts?open=1", "/api/v1/shifts?per_page=1&page=2")


@pytest.fixture
def world(db, make_unit, make_user, make_activity, make_shift, make_signup):
    unit = make_unit()
    organizer = make_user("组织者", units=[unit])
    activity = make_activity("河道清洁", unit=unit)
    shifts = [
        make_shift(activity, starts_in=timedelta(days=1, hours=h), capacity=2) for h in (0, 4)
    ]
    people = [make_user(f"居民{i}") for i in range(3)]
    first = make_signup(shifts[0], people[0])
    return {"organizer": organizer, "shifts": shifts, "people": people, "first": first}


def _answers(app, client, cached: bool = True) -> dict:
    app.config["PAGE_CACHE"] = cached
    try:
        out = {}
        for path in PATHS:
            resp = client.get(path)
            assert resp.status_code == 200, path
            assert resp.mimetype == "application/json"
            out[path] = resp.get_json()
        return out
    finally:
        app.config["PAGE_CACHE"] = True


def _fresh_after(app, client) -> dict:
    cached, again = _answers(app, client), _answers(app, client)
    truth = _answers(app, client, cached=False)
    assert cached == truth
    assert again == truth
    return truth


def _sign_up(db, w):
    sign_up(w["people"][1], w["shifts"][0].id)


def _cancel(db, w):
    cancel_signup(w["people"][0], w["first"].id)


def _cancel_shift(db, w):
    begin_write(db.session())
    cancel_shift(w["organizer"], w["shifts"][1], "下雨")


def _move_shift(db, w):
    shift = w["shifts"][1]
    begin_write(db.session())
    values = {f: getattr(shift, f) for f in SHIFT_FIELDS}
    values["starts_at"] = shift.starts_at - timedelta(days=1, hours=2)
    values["ends_at"] = values["starts_at"] + timedelta(hours=2)
    update_shift(w["organizer"], shift, values)


@pytest.mark.parametrize("write", [_sign_up, _cancel, _cancel_shift, _move_shift])
def test_the_cached_answer_equals_a_fresh_one_after_each_write(app, db, client, world, write):
    before = _fresh_after(app, client)
    write(db, world)
    db.session.commit()
    after = _fresh_after(app, client)
    assert after != before  # the write shows


def test_the_answer_is_kept_no_later_than_the_next_shift_start(app, client, world, monkeypatch):
    client.get("/api/v1/shifts")
    entries = app.extensions["page_cache"].entries
    ((key, entry),) = [(k, e) for k, e in entries.items() if k[2] == "/api/v1/shifts?"]
    assert entry.valid_until <= min(s.starts_at for s in world["shifts"])
    later = entry.valid_until + timedelta(seconds=1)
    monkeypatch.setattr(pagecache, "now_utc", lambda: later)
    client.get("/api/v1/shifts")
    assert entries[key] is not entry  # worked out again


def test_headers_are_those_of_an_uncached_answer(app, client, world):
    app.config["PAGE_CACHE"] = False
    fresh = client.get("/api/v1/shifts")
    app.config["PAGE_CACHE"] = True
    client.get("/api/v1/shifts")
    hit = client.get("/api/v1/shifts")
    for name in ("Content-Type", "Cache-Control", "Access-Control-Allow-Origin", "Vary"):
        assert hit.headers.get(name) == fresh.headers.get(name), name
    assert hit.data == fresh.data

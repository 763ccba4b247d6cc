"""The dashboard page through the page cache (portal/pagecache.py): the kept page equals a
fresh render after a sign-up, a leader visit and a zone's new population, on both databases,
and each person gets their own page."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from portal.dashboard import services as dash
from portal.signups.services import sign_up
from portal.timeutil import local_today

pytestmark = pytest.mark.both_databases


def _same(html: str) -> str:
    html = re.sub(r'name="csrf_token" value="[^"]*"', 'name="csrf_token" value=""', html)
    return re.sub(r'nonce="[^"]*"', 'nonce=""', html)


@pytest.fixture
def board(db, app, client, login, make_zone, make_user, make_activity, make_shift):
    zone = make_zone("南门")
    leader = make_user("林建华", zones=[zone])
    admin = make_user("管理员", is_admin=True)
    activity = make_activity("河道清洁", zone=zone)
    shift = make_shift(activity, starts_in=timedelta(hours=30), capacity=5)
    leader_client = app.test_client()
    login(admin)
    login(leader, on=leader_client)
    return {
        "zone": zone,
        "leader": leader,
        "shift": shift,
        "clients": {"admin": client, "leader": leader_client},
    }


def _page(app, client, cached: bool = True) -> str:
    app.config["PAGE_CACHE"] = cached
    try:
        resp = client.get("/dashboard/")
    finally:
        app.config["PAGE_CACHE"] = True
    assert resp.status_code == 200
    return _same(resp.get_data(as_text=True))


def _fresh(app, board) -> dict:
    out = {}
    for who, client in board["clients"].items():
        first, again = _page(app, client), _page(app, client)
        truth = _page(app, client, cached=False)
        assert first == truth == again, who
        out[who] = truth
    return out


def _sign_up(db, make_user, board):
    sign_up(make_user("居民"), board["shift"].id)


def _visit(db, make_user, board):
    dash.record_visit(board["leader"], board["zone"].id, local_today(), "裕丰园", "看了门前三包")


def _population(db, make_user, board):
    board["zone"].population = 4321


@pytest.mark.parametrize("write", [_sign_up, _visit, _population])
def test_the_kept_dashboard_equals_a_fresh_one_after_a_write(app, db, make_user, board, write):
    before = _fresh(app, board)
    write(db, make_user, board)
    db.session.commit()
    after = _fresh(app, board)
    assert after["admin"] != before["admin"]  # the write shows
    assert after["admin"] != after["leader"]  # each person their own page

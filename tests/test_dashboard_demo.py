"""The demo district's dashboard tells a story: every zone ranked last month and this month,
the ranking moves, leaders visited, and the demo admin and leader land on their dashboards."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from portal.dashboard import services
from portal.demo import DEMO_ACCOUNTS
from portal.models import LeaderVisit, Zone


@pytest.mark.demo_district
def test_demo_ranking_moves_between_months(runner, db):
    this = services.make_period("month")
    last = services.make_period("last_month")
    now, before = services.ranking(this), services.ranking(last)
    zones = db.session.scalar(select(func.count(Zone.id)))
    assert len(now) == len(before) == zones
    # Last month every zone had something (nobody is 新), and the order changed since.
    assert all(r.previous_rank is not None for r in now)
    assert any(r.change for r in now)
    assert [r.name for r in now] != [r.name for r in before]
    assert sum(r.bottom for r in now) >= 2
    # Leaders went to their zones in both months; some zone missed the target last month.
    visits = {r.name: r.visits for r in before}
    assert all(r.leaders for r in before)
    assert any(n < 2 for n in visits.values()) and any(n >= 2 for n in visits.values())
    assert db.session.scalar(
        select(func.count(LeaderVisit.id)).where(LeaderVisit.activity_id.is_not(None))
    )


@pytest.mark.demo_district
def test_demo_admin_and_leader_land_on_their_dashboards(runner, client):
    for role, phone, password in DEMO_ACCOUNTS:
        response = client.post("/account/login", data={"phone": phone, "password": password})
        assert response.status_code == 302, role
        want = "/dashboard/" if role in ("admin", "zone leader") else "/"
        assert response.headers["Location"] == want, role
        if want != "/":
            page = client.get(want)
            assert page.status_code == 200 and "片区排名通报" in page.get_data(as_text=True)
        client.post("/account/logout")


@pytest.mark.demo_district
def test_demo_seed_twice_adds_no_visits(runner, db):
    n = db.session.scalar(select(func.count(LeaderVisit.id)))
    assert runner.invoke(args=["seed-demo"]).exit_code == 0
    assert db.session.scalar(select(func.count(LeaderVisit.id))) == n

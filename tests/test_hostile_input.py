"""Odd input from anywhere — huge ids, NUL characters, dates at the calendar's edges —
gets a 4xx or a message, never a 500, on both databases."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.both_databases


BIG = [str(2**31), "3000000000", "99999999999999999999"]


@pytest.mark.parametrize("big", BIG)
@pytest.mark.parametrize(
    "template",
    [
        "/activities/{}",
        "/zones/{}",
        "/programmes/{}",
        "/signups/{}/cancel",
        "/shifts/{}/cancel",
        "/organize/activities/{}",
        "/organize/shifts/{}/roster",
        "/organize/activities/{}/attendance.csv",
        "/calendar/zones/{}.ics",
        "/calendar/public/zones/{}",
        "/api/v1/activities/{}",
    ],
)
def test_huge_ids_are_not_found(client, login, make_user, template, big):
    login(make_user(is_admin=True))
    assert client.get(template.format(big)).status_code == 404


@pytest.mark.parametrize("big", BIG)
@pytest.mark.parametrize(
    "template",
    [
        "/shifts/{}/signup",
        "/organize/signups/{}/approve",
        "/organize/shifts/{}/walk-in",
        "/organize/shifts/{}/delete",
        "/organize/activities/{}/publish",
    ],
)
def test_huge_ids_in_posts_are_not_found(client, login, make_user, template, big):
    login(make_user(is_admin=True))
    assert client.post(template.format(big), data={"phone": "13700001111"}).status_code == 404


@pytest.mark.parametrize(
    ("method", "url", "data"),
    [
        ("get", "/activities?q=%00", None),
        ("get", "/activities?zone=1%00", None),
        ("get", "/api/v1/activities?q=a%00b", None),
        ("get", "/api/v1/shifts?q=%00", None),
        (
            "post",
            "/account/register",
            {
                "real_name": "王\x00五",
                "phone": "13700001111",
                "password": "Correct-Horse-42",
                "password2": "Correct-Horse-42",
                "consent": "y",
            },
        ),
        ("post", "/account/login", {"phone": "1370000\x001111", "password": "x"}),
    ],
)
def test_nul_characters_are_refused_cleanly(client, db, method, url, data):
    from portal.models import User

    before = db.session.scalar(db.select(db.func.count(User.id)))
    response = getattr(client, method)(url, data=data)
    assert response.status_code == 400
    assert db.session.scalar(db.select(db.func.count(User.id))) == before


@pytest.mark.parametrize(
    "query",
    [
        "?date_from=0001-01-01",
        "?date_from=9999-12-31&date_to=9999-12-31",
        "?date_to=0001-01-01",
        "?date_from=1999-12-31",
    ],
)
def test_dates_at_the_calendar_edges_are_ignored_with_a_message(client, query):
    response = client.get("/activities" + query)
    assert response.status_code == 200
    assert "日期格式" in response.get_data(as_text=True)
    api = client.get("/api/v1/shifts" + query)
    assert api.status_code == 400  # the API refuses a bad filter instead of ignoring it
    assert api.get_json()["error"]["message"] == "invalid filter"


@pytest.mark.parametrize("day", ["0001-01-01", "9999-12-31", "1999-12-31", "2100-01-01"])
def test_organizer_forms_refuse_dates_outside_the_sane_range(
    client, login, db, make_user, make_activity, day
):
    from portal.models import Shift

    activity = make_activity()
    login(make_user(units=[activity.unit]))
    shift_form = {"day": day, "start": "07:00", "end": "08:00", "capacity": "3"}
    response = client.post(f"/organize/activities/{activity.id}/shifts/new", data=shift_form)
    assert response.status_code == 200
    assert "2000 年到 2099 年" in response.get_data(as_text=True)
    bulk = {
        "mode": "rule",
        "first_date": day,
        "rule": "FREQ=DAILY;COUNT=2",
        "slots": "07:00-08:00",
        "capacity": "3",
        "preview": "1",
    }
    response = client.post(f"/organize/activities/{activity.id}/shifts/bulk", data=bulk)
    assert response.status_code == 200
    assert "2000 年到 2099 年" in response.get_data(as_text=True)
    assert db.session.scalar(db.select(db.func.count(Shift.id))) == 0

"""The open-data API: every response validated against /api/v1/openapi.json."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from openapi_schema_validator import OAS30Validator, oas30_format_checker

from portal.api.openapi import document
from portal.models import ActivityKind, ActivityStatus, ShiftStatus, SignupStatus
from tests.conftest import built_once

pytestmark = pytest.mark.both_databases
NO_QUERY_DIFFERENCE = pytest.mark.database_independent(
    "request validation, routing and headers: the same rows on either database give the same answer"
)


DOC = document()


def schema_for(path: str, status: int) -> dict:
    """The response schema the document gives for a concrete URL path and status."""
    for template, item in DOC["paths"].items():
        pattern = "^/api/v1" + re.sub(r"\{[^}]+\}", r"[^/]+", template) + "$"
        if re.match(pattern, path):
            responses = item["get"]["responses"]
            assert str(status) in responses, f"{status} not documented for {template}"
            ref = responses[str(status)]["content"]["application/json"]["schema"]
            return {**ref, "components": DOC["components"]}
    if status in (404, 405):
        return {"$ref": "#/components/schemas/Error", "components": DOC["components"]}
    raise AssertionError(f"{path} not in the OpenAPI document")


def check(client, url: str, status: int = 200) -> dict:
    r = client.get(url)
    assert r.status_code == status, (url, r.get_data(as_text=True))
    assert r.headers["Content-Type"].startswith("application/json")
    assert "Set-Cookie" not in r.headers
    body = r.get_json()
    path = url.split("?", 1)[0]
    OAS30Validator(schema_for(path, status), format_checker=oas30_format_checker).validate(body)
    return body


@pytest.fixture
def district(
    request, make_zone, make_unit, make_programme, make_activity, make_shift, make_user, make_signup
):
    return built_once(
        request,
        lambda: _district(
            make_zone, make_unit, make_programme, make_activity, make_shift, make_user, make_signup
        ),
    )


def _district(
    make_zone, make_unit, make_programme, make_activity, make_shift, make_user, make_signup
):
    zone, other_zone = make_zone("滨江"), make_zone("新城")
    unit = make_unit("区文明办")
    parent = make_programme("五进")
    child = make_programme("进社区", parent=parent)
    a1 = make_activity(
        title="交通文明劝导",
        zone=zone,
        unit=unit,
        programmes=[child],
        contact_name="赵联系",
        contact_phone="13912345678",
    )
    a2 = make_activity(title="社区清洁", zone=other_zone, unit=unit, kind=ActivityKind.COMMUNITY)
    draft = make_activity(title="草稿活动", zone=zone, unit=unit, status=ActivityStatus.DRAFT)
    s1 = make_shift(activity=a1, capacity=2)
    s2 = make_shift(activity=a1, starts_in=timedelta(days=3), capacity=5)
    s3 = make_shift(activity=a2, starts_in=timedelta(days=4))
    make_shift(activity=draft)
    people = [make_user(f"居民{i}") for i in range(4)]
    make_signup(s1, user=people[0])
    make_signup(s1, user=people[1], status=SignupStatus.PENDING)
    make_signup(s1, user=people[2], status=SignupStatus.WAITLISTED)
    make_signup(s2, user=people[3])
    return {
        "zone": zone,
        "other_zone": other_zone,
        "parent": parent,
        "child": child,
        "a1": a1,
        "a2": a2,
        "draft": draft,
        "s1": s1,
        "s2": s2,
        "s3": s3,
        "people": people,
    }


@NO_QUERY_DIFFERENCE
def test_openapi_document_is_served_and_valid(client):
    r = client.get("/api/v1/openapi.json")
    assert r.status_code == 200
    doc = r.get_json()
    assert doc["openapi"].startswith("3.0")
    for _name, schema in doc["components"]["schemas"].items():
        OAS30Validator.check_schema(schema)
    assert set(doc["paths"]) == {
        "/activities",
        "/activities/{activity_id}",
        "/shifts",
        "/shifts/{shift_id}",
        "/zones",
        "/programmes",
    }


def test_activities_list_matches_list_page_filters(client, district):
    body = check(client, "/api/v1/activities")
    assert [a["title"] for a in body["items"]] == ["交通文明劝导", "社区清洁"]
    assert body["total"] == 2 and body["pages"] == 1
    by_zone = check(client, f"/api/v1/activities?zone={district['other_zone'].id}")
    assert [a["title"] for a in by_zone["items"]] == ["社区清洁"]
    by_prog = check(client, f"/api/v1/activities?programme={district['parent'].id}")
    assert [a["title"] for a in by_prog["items"]] == ["交通文明劝导"]  # sub-programme included
    by_kind = check(client, "/api/v1/activities?kind=community")
    assert [a["title"] for a in by_kind["items"]] == ["社区清洁"]
    by_q = check(client, "/api/v1/activities?q=清洁")
    assert [a["title"] for a in by_q["items"]] == ["社区清洁"]


def test_activities_pagination(client, district):
    first = check(client, "/api/v1/activities?per_page=1")
    second = check(client, "/api/v1/activities?per_page=1&page=2")
    assert first["pages"] == 2 and first["total"] == 2
    assert first["items"][0]["id"] != second["items"][0]["id"]
    beyond = check(client, "/api/v1/activities?per_page=1&page=5")
    assert beyond["items"] == []


@NO_QUERY_DIFFERENCE
@pytest.mark.parametrize(
    "query",
    [
        "zone=abc",
        "zone=999999",
        "programme=-1",
        "kind=party",
        "date_from=2026-13-01",
        "q=" + "长" * 60,
        "page=0",
        "page=abc",
        "page=99999",
        "per_page=0",
        "per_page=101",
        "per_page=x",
    ],
)
def test_bad_filters_are_json_400(client, district, query):
    body = check(client, f"/api/v1/activities?{query}", 400)
    assert body["error"]["code"] == 400 and body["error"]["message"]


@NO_QUERY_DIFFERENCE
@pytest.mark.parametrize("query", ["activity=abc", "activity=0", "zone=x", "per_page=500"])
def test_bad_shift_filters_are_json_400(client, district, query):
    check(client, f"/api/v1/shifts?{query}", 400)


def test_activity_detail_with_shift_counts(client, district):
    body = check(client, f"/api/v1/activities/{district['a1'].id}")
    shifts = {s["id"]: s for s in body["shifts"]}
    s1 = shifts[district["s1"].id]
    assert (s1["capacity"], s1["confirmed"], s1["taken"], s1["waitlist"], s1["places_left"]) == (
        2,
        1,
        2,
        1,
        0,
    )
    assert s1["status"] == "scheduled"
    s2 = shifts[district["s2"].id]
    assert (s2["confirmed"], s2["waitlist"], s2["places_left"]) == (1, 0, 4)
    check(client, f"/api/v1/activities/{district['a1'].id}?past=1")
    check(client, f"/api/v1/activities/{district['a1'].id}?past=yes", 400)


def test_no_personal_data_anywhere(client, district):
    text = ""
    for url in [
        "/api/v1/activities",
        f"/api/v1/activities/{district['a1'].id}",
        "/api/v1/shifts",
        f"/api/v1/shifts/{district['s1'].id}",
        "/api/v1/zones",
        "/api/v1/programmes",
    ]:
        text += client.get(url).get_data(as_text=True)
    for person in district["people"]:
        assert person.phone not in text
        assert person.real_name.encode("unicode_escape").decode() not in text
        assert person.real_name not in text
    assert "13912345678" not in text and "赵联系" not in text
    assert "contact" not in text and "user" not in text


@pytest.mark.parametrize("what", ["draft", "unknown", "huge", "text"])
def test_unknown_or_draft_activity_is_json_404(client, district, what):
    ident = {"draft": district["draft"].id, "unknown": 999999, "huge": "9" * 30, "text": "abc"}[
        what
    ]
    body = check(client, f"/api/v1/activities/{ident}", 404)
    assert body["error"]["code"] == 404


def test_shifts_list_and_one(client, district):
    body = check(client, "/api/v1/shifts")
    assert {s["id"] for s in body["items"]} == {
        district["s1"].id,
        district["s2"].id,
        district["s3"].id,
    }
    only = check(client, f"/api/v1/shifts?activity={district['a2'].id}")
    assert [s["id"] for s in only["items"]] == [district["s3"].id]
    open_only = check(client, "/api/v1/shifts?open=1")
    assert district["s1"].id not in {s["id"] for s in open_only["items"]}
    one = check(client, f"/api/v1/shifts/{district['s1'].id}")
    assert one["waitlist"] == 1 and one["zone"]["name"] == "滨江"
    check(client, "/api/v1/shifts/999999", 404)


@pytest.mark.parametrize(
    ("query", "cancel_s2", "expected"),
    [
        ("q=劝导", False, {"s1", "s2"}),  # title
        ("q=清洁", False, {"s3"}),
        ("q=没有这个词", False, set()),
        ("q=%25", False, set()),  # LIKE wildcards are literal
        ("open=1", False, {"s2", "s3"}),  # s1 is full (confirmed + pending)
        ("open=1", True, {"s3"}),  # a cancelled shift has no open places
        ("", True, {"s1", "s2", "s3"}),  # without "open", cancelled shifts stay listed
        ("open=1&q=劝导", False, {"s2"}),
        ("programme={parent}", False, {"s1", "s2"}),  # with children
        ("zone={other_zone}&kind=community", False, {"s3"}),
    ],
)
def test_shifts_filters_match_activity_filters(client, db, district, query, cancel_s2, expected):
    if cancel_s2:
        district["s2"].status = ShiftStatus.CANCELLED
        db.session.commit()
    query = query.format(parent=district["parent"].id, other_zone=district["other_zone"].id)
    body = check(client, f"/api/v1/shifts?{query}")
    assert {s["id"] for s in body["items"]} == {district[k].id for k in expected}
    assert body["total"] == len(expected)


def test_shift_query_uses_the_activity_search(db, district):
    from portal.browse.services import ActivityFilters, shift_query

    rows = db.session.scalars(shift_query(ActivityFilters(q="县一小"))).unique().all()
    # the default place of make_activity is 县一小校门口: q searches the place too
    assert {s.id for s in rows} == {district[k].id for k in ("s1", "s2", "s3")}


def test_cancelled_shift_status(client, db, district):
    district["s2"].status = ShiftStatus.CANCELLED
    db.session.commit()
    body = check(client, f"/api/v1/activities/{district['a1'].id}")
    assert {s["id"]: s["status"] for s in body["shifts"]}[district["s2"].id] == "cancelled"


def test_zones_and_programmes(client, district):
    zones = check(client, "/api/v1/zones")
    assert {z["name"]: z["upcoming_shifts"] for z in zones["items"]} == {"滨江": 2, "新城": 1}
    progs = check(client, "/api/v1/programmes")
    child = [p for p in progs["items"] if p["name"] == "进社区"][0]
    assert child["parent_id"] == district["parent"].id


def test_empty_database(client):
    assert check(client, "/api/v1/activities")["items"] == []
    assert check(client, "/api/v1/shifts")["total"] == 0
    check(client, "/api/v1/zones")
    check(client, "/api/v1/programmes")


@NO_QUERY_DIFFERENCE
@pytest.mark.parametrize("url", ["/api/v1/nothing", "/api/v1/activities/1/extra", "/api/v2/x"])
def test_unknown_endpoint_json_404(client, url):
    r = client.get(url)
    assert r.status_code == 404
    assert r.get_json()["error"]["code"] == 404


@NO_QUERY_DIFFERENCE
def test_write_methods_are_json_405(client, district):
    r = client.post("/api/v1/activities")
    assert r.status_code == 405
    assert r.get_json()["error"]["code"] == 405


@NO_QUERY_DIFFERENCE
@pytest.mark.parametrize("role", [None, "resident", "admin"])
def test_api_is_public_and_the_same_for_everyone(client, login, make_user, district, role):
    anonymous = client.get("/api/v1/activities").get_json()
    if role:
        login(make_user(is_admin=role == "admin"))
    assert client.get("/api/v1/activities").get_json() == anonymous

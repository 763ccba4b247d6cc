"""Every organizer route for every role: anonymous, resident, zone leader, own organizer, other
organizer, admin.

Another unit's organizer and the leader of the activity's zone (who is not an organizer) get
403 and the database stays exactly as it was; for the owner and an admin each POST has its
effect.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import pytest
from sqlalchemy import func, inspect, select

from portal.models import (
    Activity,
    ActivityStatus,
    AuditEntry,
    Notification,
    Shift,
    ShiftStatus,
    Signup,
    SignupStatus,
    User,
)
from tests.conftest import built_once

ROLES = ("anonymous", "resident", "zone_leader", "owner", "other", "admin")


@dataclass
class World:
    activity: Activity
    draft: Activity
    shift: Shift
    empty_shift: Shift
    pending: Signup
    waiting: Signup
    confirmed: Signup
    unit_id: int
    zone_id: int
    users: dict


@pytest.fixture
def world(request, db, make_zone, make_unit, make_user, make_activity, make_shift, make_signup):
    return built_once(
        request,
        lambda: _world(make_zone, make_unit, make_user, make_activity, make_shift, make_signup),
    )


def _world(make_zone, make_unit, make_user, make_activity, make_shift, make_signup) -> World:
    zone = make_zone()
    unit, other_unit = make_unit(), make_unit()
    users = {
        "resident": make_user("居民甲"),
        "zone_leader": make_user("片区长", zones=[zone]),  # leads the activity's zone only
        "owner": make_user("组织者甲", units=[unit]),
        "other": make_user("组织者乙", units=[other_unit]),
        "admin": make_user("管理员", is_admin=True),
    }
    activity = make_activity(zone=zone, unit=unit)
    draft = make_activity(title="草稿", zone=zone, unit=unit, status=ActivityStatus.DRAFT)
    make_shift(activity=draft)
    shift = make_shift(activity=activity, capacity=2)
    empty_shift = make_shift(activity=activity, starts_in=timedelta(days=5))
    pending = make_signup(shift, status=SignupStatus.PENDING)
    confirmed = make_signup(shift, status=SignupStatus.CONFIRMED)
    waiting = make_signup(shift, status=SignupStatus.WAITLISTED, queued_at=shift.created_at)
    return World(
        activity, draft, shift, empty_shift, pending, waiting, confirmed, unit.id, zone.id, users
    )


def _activity_data(w: World) -> dict:
    return {
        "title": "新活动",
        "kind": "volunteer",
        "unit_id": w.unit_id,
        "zone_id": w.zone_id,
        "place": "某地",
        "cancellation_deadline_hours": 2,
    }


# (name, method, url(w), data(w), other-organizer status)
ROUTES = [
    ("index", "GET", lambda w: "/organize/", None, 200),
    ("new_activity", "GET", lambda w: "/organize/activities/new", None, 200),
    # the other organizer posts for a unit that is not theirs: the form refuses, nothing saved
    ("new_activity_post", "POST", lambda w: "/organize/activities/new", _activity_data, 200),
    ("activity", "GET", lambda w: f"/organize/activities/{w.activity.id}", None, 403),
    ("edit_activity", "GET", lambda w: f"/organize/activities/{w.activity.id}/edit", None, 403),
    (
        "edit_activity_post",
        "POST",
        lambda w: f"/organize/activities/{w.activity.id}/edit",
        _activity_data,
        403,
    ),
    ("publish", "POST", lambda w: f"/organize/activities/{w.draft.id}/publish", {}, 403),
    ("cancel_activity", "GET", lambda w: f"/organize/activities/{w.activity.id}/cancel", None, 403),
    (
        "cancel_activity_post",
        "POST",
        lambda w: f"/organize/activities/{w.activity.id}/cancel",
        lambda w: {"reason": "下雨"},
        403,
    ),
    ("duplicate", "POST", lambda w: f"/organize/activities/{w.activity.id}/duplicate", {}, 403),
    ("new_shift", "GET", lambda w: f"/organize/activities/{w.activity.id}/shifts/new", None, 403),
    (
        "new_shift_post",
        "POST",
        lambda w: f"/organize/activities/{w.activity.id}/shifts/new",
        lambda w: {"day": "2030-01-07", "start": "07:00", "end": "08:00", "capacity": 3},
        403,
    ),
    ("bulk", "GET", lambda w: f"/organize/activities/{w.activity.id}/shifts/bulk", None, 403),
    (
        "bulk_post",
        "POST",
        lambda w: f"/organize/activities/{w.activity.id}/shifts/bulk",
        lambda w: {
            "mode": "range",
            "first_date": "2030-01-07",
            "last_date": "2030-01-13",
            "weekdays": [0, 2],
            "slots": "07:00-08:00",
            "capacity": 3,
            "confirm": "1",
            "save": "1",
        },
        403,
    ),
    ("edit_shift", "GET", lambda w: f"/organize/shifts/{w.shift.id}/edit", None, 403),
    (
        "edit_shift_post",
        "POST",
        lambda w: f"/organize/shifts/{w.shift.id}/edit",
        lambda w: {"day": "2030-01-07", "start": "07:00", "end": "08:00", "capacity": 9},
        403,
    ),
    ("cancel_shift", "GET", lambda w: f"/organize/shifts/{w.shift.id}/cancel", None, 403),
    (
        "cancel_shift_post",
        "POST",
        lambda w: f"/organize/shifts/{w.shift.id}/cancel",
        lambda w: {"reason": "下雨"},
        403,
    ),
    ("delete_shift", "POST", lambda w: f"/organize/shifts/{w.empty_shift.id}/delete", {}, 403),
    ("roster", "GET", lambda w: f"/organize/shifts/{w.shift.id}/roster", None, 403),
    ("approve", "POST", lambda w: f"/organize/signups/{w.pending.id}/approve", {}, 403),
    (
        "reject",
        "POST",
        lambda w: f"/organize/signups/{w.pending.id}/reject",
        lambda w: {"reason": "不符合要求"},
        403,
    ),
    (
        "promote",
        "POST",
        lambda w: f"/organize/signups/{w.waiting.id}/promote",
        lambda w: {"over_capacity": "y", "override_reason": "现场缺人"},
        403,
    ),
    (
        "remove",
        "POST",
        lambda w: f"/organize/signups/{w.confirmed.id}/remove",
        lambda w: {"reason": "重复报名"},
        403,
    ),
    (
        "walk_in",
        "POST",
        lambda w: f"/organize/shifts/{w.shift.id}/walk-in",
        lambda w: {
            "phone": "13912345678",
            "name": "现场甲",
            "over_capacity": "y",
            "override_reason": "现场缺人",
        },
        403,
    ),
    (
        "export_roster_xlsx",
        "GET",
        lambda w: f"/organize/shifts/{w.shift.id}/roster.xlsx",
        None,
        403,
    ),
    ("export_roster_csv", "GET", lambda w: f"/organize/shifts/{w.shift.id}/roster.csv", None, 403),
    (
        "export_attendance_xlsx",
        "GET",
        lambda w: f"/organize/activities/{w.activity.id}/attendance.xlsx",
        None,
        403,
    ),
    (
        "export_attendance_csv",
        "GET",
        lambda w: f"/organize/activities/{w.activity.id}/attendance.csv",
        None,
        403,
    ),
    ("sign_in_sheet", "GET", lambda w: f"/organize/shifts/{w.shift.id}/sign-in-sheet", None, 403),
    ("message_shift", "GET", lambda w: f"/organize/shifts/{w.shift.id}/message", None, 403),
    (
        "message_shift_post",
        "POST",
        lambda w: f"/organize/shifts/{w.shift.id}/message",
        lambda w: {"title": "通知", "body": "请带帽子"},
        403,
    ),
    (
        "message_activity",
        "GET",
        lambda w: f"/organize/activities/{w.activity.id}/message",
        None,
        403,
    ),
    (
        "message_activity_post",
        "POST",
        lambda w: f"/organize/activities/{w.activity.id}/message",
        lambda w: {"title": "通知", "body": "请带帽子"},
        403,
    ),
    # The organizer's day: another unit's organizer sees their own (empty) queue and day, and
    # their bulk decision on someone else's sign-up finds nothing to decide.
    ("queue", "GET", lambda w: "/organize/queue", None, 200),
    (
        "queue_post",
        "POST",
        lambda w: "/organize/queue",
        lambda w: {"signup_ids": [w.pending.id], "decision": "approve"},
        302,
    ),
    ("today", "GET", lambda w: "/organize/today", None, 200),
]


def _status(db, model, id_):
    return db.session.get(model, id_).status


def _count(db, model, *where) -> int:
    return db.session.scalar(select(func.count(model.id)).where(*where))


# What each POST must have done for the owner and for an admin (checked after the request).
EFFECTS = {
    "new_activity_post": lambda db, w: _count(db, Activity, Activity.title == "新活动") == 1,
    "edit_activity_post": lambda db, w: db.session.get(Activity, w.activity.id).title == "新活动",
    "publish": lambda db, w: _status(db, Activity, w.draft.id) == ActivityStatus.PUBLISHED,
    "cancel_activity_post": lambda db, w: (
        _status(db, Activity, w.activity.id) == ActivityStatus.CANCELLED
    ),
    "duplicate": lambda db, w: _count(db, Activity) == 3,
    "new_shift_post": lambda db, w: _count(db, Shift, Shift.activity_id == w.activity.id) == 3,
    "bulk_post": lambda db, w: _count(db, Shift, Shift.activity_id == w.activity.id) == 4,
    "edit_shift_post": lambda db, w: db.session.get(Shift, w.shift.id).capacity == 9,
    "cancel_shift_post": lambda db, w: _status(db, Shift, w.shift.id) == ShiftStatus.CANCELLED,
    "delete_shift": lambda db, w: db.session.get(Shift, inspect(w.empty_shift).identity) is None,
    "approve": lambda db, w: _status(db, Signup, w.pending.id) == SignupStatus.CONFIRMED,
    "reject": lambda db, w: _status(db, Signup, w.pending.id) == SignupStatus.REJECTED,
    "promote": lambda db, w: _status(db, Signup, w.waiting.id) == SignupStatus.CONFIRMED,
    "remove": lambda db, w: _status(db, Signup, w.confirmed.id) == SignupStatus.CANCELLED,
    "walk_in": lambda db, w: (
        _count(db, Signup, Signup.shift_id == w.shift.id, Signup.status == SignupStatus.CONFIRMED)
        == 2
    ),
    "message_shift_post": lambda db, w: (
        _count(db, Notification, Notification.kind == "notice") == 3
    ),
    "message_activity_post": lambda db, w: (
        _count(db, Notification, Notification.kind == "notice") == 3
    ),
    "queue_post": lambda db, w: _status(db, Signup, w.pending.id) == SignupStatus.CONFIRMED,
}


def test_every_post_route_has_an_effect_check():
    assert {r[0] for r in ROUTES if r[1] == "POST"} == set(EFFECTS)


def _snapshot(db) -> tuple:
    """Everything an organizer action could change, as plain values."""
    db.session.expire_all()
    return (
        tuple(
            db.session.execute(
                select(Activity.id, Activity.title, Activity.status, Activity.updated_at).order_by(
                    Activity.id
                )
            )
        ),
        tuple(
            db.session.execute(
                select(
                    Shift.id, Shift.capacity, Shift.status, Shift.starts_at, Shift.sequence
                ).order_by(Shift.id)
            )
        ),
        tuple(db.session.execute(select(Signup.id, Signup.status).order_by(Signup.id))),
        db.session.scalar(select(func.count(User.id))),
        db.session.scalar(select(func.count(Notification.id))),
        db.session.scalar(select(func.count(AuditEntry.id))),
    )


def _call(client, method, url, data):
    if method == "GET":
        return client.get(url)
    return client.post(url, data=data or {})


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(
    ("name", "method", "url", "data", "other_status"), ROUTES, ids=[r[0] for r in ROUTES]
)
def test_every_route_for_every_role(
    db, client, login, world, role, name, method, url, data, other_status
):
    if role != "anonymous":
        login(world.users[role])
    data = data(world) if callable(data) else data
    if role == "other" and name == "edit_activity_post":
        data = {**data, "unit_id": world.users["other"].units[0].id}  # tries to move it away
    before = _snapshot(db)
    response = _call(client, method, url(world), data)

    if role == "anonymous":
        assert response.status_code == 302
        assert response.headers["Location"].startswith("/account/login?next=")
        assert _snapshot(db) == before
    elif role in ("resident", "zone_leader"):
        assert response.status_code == 403
        assert _snapshot(db) == before
    elif role == "other":
        assert response.status_code == other_status
        assert _snapshot(db) == before
    else:  # owner and admin: the page or the action works
        # GET shows the page; a POST that worked redirects (never to the login page).
        assert response.status_code == (200 if method == "GET" else 302), response.data[:500]
        if method == "POST":
            assert "/login" not in response.headers["Location"]
            db.session.expire_all()
            assert EFFECTS[name](db, world), f"{name} had no effect for {role}"


@pytest.mark.parametrize(
    ("role", "status"),
    [
        ("anonymous", 302),
        ("resident", 403),
        ("zone_leader", 403),
        ("owner", 403),
        ("other", 403),
        ("admin", 302),
    ],
)
def test_audit_log_is_for_admins_only(client, login, world, role, status):
    """The old address of the audit log: admins are sent on to /admin/audit."""
    if role != "anonymous":
        login(world.users[role])
    response = client.get("/organize/audit")
    assert response.status_code == status
    if role == "admin":
        assert response.headers["Location"] == "/admin/audit"
        assert client.get("/admin/audit").status_code == 200


def test_other_organizer_cannot_reach_signups_of_someone_elses_shift(db, client, login, world):
    login(world.users["other"])
    before = _snapshot(db)
    for signup in (world.pending, world.waiting, world.confirmed):
        for action in ("approve", "reject", "promote", "remove"):
            response = client.post(f"/organize/signups/{signup.id}/{action}", data={"reason": "x"})
            assert response.status_code == 403
    assert _snapshot(db) == before


def test_unknown_records_are_404(client, login, world):
    login(world.users["owner"])
    for url in (
        "/organize/activities/9999",
        "/organize/shifts/9999/roster",
        "/organize/shifts/9999/roster.xlsx",
    ):
        assert client.get(url).status_code == 404
    assert client.post("/organize/signups/9999/approve").status_code == 404


@pytest.fixture
def app_config(request) -> dict:
    return getattr(request, "param", {})


@pytest.mark.parametrize("app_config", [{"WTF_CSRF_ENABLED": True}], indirect=True)
@pytest.mark.parametrize(
    ("name", "method", "url", "data", "other_status"),
    [r for r in ROUTES if r[1] == "POST"],
    ids=[r[0] for r in ROUTES if r[1] == "POST"],
)
def test_posts_without_csrf_token_change_nothing(
    db, client, login, world, name, method, url, data, other_status
):
    login(world.users["owner"])
    data = data(world) if callable(data) else data
    before = _snapshot(db)
    response = client.post(url(world), data=data or {})
    assert response.status_code == 400
    assert _snapshot(db) == before

"""Every route of the app, for every role: who gets in, who is sent to log in, who is refused.

The table below must name every endpoint the app has; a new route without a row fails
``test_table_covers_every_route``. Feature tests check what each page does; this one checks
only who may reach it, and that nobody ever gets a 500.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from portal import create_app
from portal.models import SignupStatus
from tests.conftest import base_config

PUBLIC = "public"  # everyone, logged in or not
LOGIN = "login"  # any logged-in person; anonymous is sent to the login page
ORGANIZER = "organizer"  # organizers of the activity's unit and admins
ADMIN = "admin"  # admins only
ORGANIZER_AREA = "organizer-area"  # anyone who organizes for some unit, and admins
TOKEN = "token"  # secret feed links: a wrong token is 410 Gone for everyone
POST_LOGIN = "post-login"  # state-changing, needs a logged-in person
POST_ORGANIZER = "post-organizer"
POST_ANY = "post-any"  # switches anyone may use (language, large text, logout)
GUEST = "guest"  # log in / register: a logged-in person is sent on
MISSING = "missing"  # the API's catch-all: a JSON 404 for everyone

ROUTES = {
    "main.home": (PUBLIC, "/"),
    "main.healthz": (PUBLIC, "/healthz"),
    "main.set_language": (POST_ANY, "/lang/en"),
    "main.toggle_large_text": (POST_ANY, "/large-text"),
    "static": (PUBLIC, "/static/css/site.css"),
    "auth.login": (GUEST, "/account/login"),
    "auth.register": (GUEST, "/account/register"),
    "auth.privacy": (PUBLIC, "/account/privacy"),
    "auth.logout": (POST_ANY, "/account/logout"),
    "auth.profile": (LOGIN, "/account/profile"),
    "auth.change_password": (LOGIN, "/account/password"),
    "auth.edit_profile": (LOGIN, "/account/profile/edit"),
    "auth.consent": (LOGIN, "/account/consent"),
    "auth.export": (LOGIN, "/account/export"),
    "auth.export_download": (LOGIN, "/account/export.csv"),
    "auth.delete_account": (LOGIN, "/account/delete"),
    "browse.activities": (PUBLIC, "/activities"),
    "browse.activity": (PUBLIC, "/activities/{activity}"),
    "browse.zones": (PUBLIC, "/zones"),
    "browse.zone": (PUBLIC, "/zones/{zone}"),
    "browse.programme": (PUBLIC, "/programmes/{programme}"),
    "signups.my_schedule": (LOGIN, "/me"),
    "signups.inbox": (LOGIN, "/me/inbox"),
    "signups.sign_up": (POST_LOGIN, "/shifts/{shift}/signup"),
    "signups.cancel_for_shift": (LOGIN, "/shifts/{shift}/cancel"),
    "signups.cancel": (LOGIN, "/signups/{own_signup}/cancel"),
    "feeds.all_feed": (PUBLIC, "/calendar/all.ics"),
    "feeds.zone_feed": (PUBLIC, "/calendar/zones/{zone}.ics"),
    "feeds.programme_feed": (PUBLIC, "/calendar/programmes/{programme}.ics"),
    "feeds.activity_feed": (PUBLIC, "/calendar/activities/{activity}.ics"),
    "feeds.shift_download": (PUBLIC, "/calendar/shifts/{shift}.ics"),
    "feeds.public_subscribe": (PUBLIC, "/calendar/public/zones/{zone}"),
    "feeds.personal_feed": (TOKEN, "/calendar/me/not-a-real-token.ics"),
    "feeds.unit_feed": (TOKEN, "/calendar/units/{unit}/not-a-real-token.ics"),
    "feeds.subscribe": (LOGIN, "/calendar/subscribe"),
    "feeds.new_link": (POST_LOGIN, "/calendar/subscribe/new"),
    "feeds.reminder": (POST_LOGIN, "/calendar/subscribe/reminder"),
    "api.openapi": (PUBLIC, "/api/v1/openapi.json"),
    "api.activities": (PUBLIC, "/api/v1/activities"),
    "api.activity": (PUBLIC, "/api/v1/activities/{activity}"),
    "api.shifts": (PUBLIC, "/api/v1/shifts"),
    "api.shift": (PUBLIC, "/api/v1/shifts/{shift}"),
    "api.zones": (PUBLIC, "/api/v1/zones"),
    "api.programmes": (PUBLIC, "/api/v1/programmes"),
    "api.not_found": (MISSING, "/api/v1/nothing-here"),
    "organize.index": (ORGANIZER_AREA, "/organize/"),
    "organize.new_activity": (ORGANIZER_AREA, "/organize/activities/new"),
    "organize.audit_log": (ADMIN, "/organize/audit"),
    "organize.activity": (ORGANIZER, "/organize/activities/{activity}"),
    "organize.edit_activity": (ORGANIZER, "/organize/activities/{activity}/edit"),
    "organize.cancel_activity": (ORGANIZER, "/organize/activities/{activity}/cancel"),
    "organize.message_activity": (ORGANIZER, "/organize/activities/{activity}/message"),
    "organize.new_shift": (ORGANIZER, "/organize/activities/{activity}/shifts/new"),
    "organize.bulk_shifts": (ORGANIZER, "/organize/activities/{activity}/shifts/bulk"),
    "organize.export_attendance": (ORGANIZER, "/organize/activities/{activity}/attendance.csv"),
    "organize.roster": (ORGANIZER, "/organize/shifts/{shift}/roster"),
    "organize.export_roster": (ORGANIZER, "/organize/shifts/{shift}/roster.xlsx"),
    "organize.sign_in_sheet": (ORGANIZER, "/organize/shifts/{shift}/sign-in-sheet"),
    "organize.edit_shift": (ORGANIZER, "/organize/shifts/{shift}/edit"),
    "organize.cancel_shift": (ORGANIZER, "/organize/shifts/{shift}/cancel"),
    "organize.message_shift": (ORGANIZER, "/organize/shifts/{shift}/message"),
    "organize.duplicate_activity": (POST_ORGANIZER, "/organize/activities/{activity}/duplicate"),
    "organize.publish_activity": (POST_ORGANIZER, "/organize/activities/{activity}/publish"),
    "organize.delete_shift": (POST_ORGANIZER, "/organize/shifts/{shift}/delete"),
    "organize.walk_in": (POST_ORGANIZER, "/organize/shifts/{shift}/walk-in"),
    "organize.approve": (POST_ORGANIZER, "/organize/signups/{own_signup}/approve"),
    "organize.reject": (POST_ORGANIZER, "/organize/signups/{own_signup}/reject"),
    "organize.promote": (POST_ORGANIZER, "/organize/signups/{own_signup}/promote"),
    "organize.remove": (POST_ORGANIZER, "/organize/signups/{own_signup}/remove"),
}

ROLES = ["anonymous", "resident", "organizer", "other_organizer", "admin", "zone_leader"]


def test_table_covers_every_route():
    app = create_app(base_config("sqlite://"))
    endpoints = {rule.endpoint for rule in app.url_map.iter_rules()}
    assert endpoints - set(ROUTES) == set(), "routes missing from the access table"
    assert set(ROUTES) - endpoints == set(), "table names routes that no longer exist"


@pytest.fixture
def world(make_unit, make_user, make_activity, make_shift, make_signup, make_zone):
    unit, other_unit = make_unit("区交警大队"), make_unit("区城管局")
    zone = make_zone("立后")
    activity = make_activity(unit=unit, zone=zone, programmes=[])
    from portal.models import Programme

    programme = Programme(code="p-access", name="交通秩序")
    activity.programmes.append(programme)
    shift = make_shift(activity, starts_in=timedelta(days=3), capacity=5)
    resident = make_user("王秀英")
    signup = make_signup(shift, resident, status=SignupStatus.PENDING)
    people = {
        "resident": resident,
        "organizer": make_user("陈志强", units=[unit]),
        "other_organizer": make_user("李建国", units=[other_unit]),
        "admin": make_user("管理员", is_admin=True),
        "zone_leader": make_user("林建华", zones=[zone]),
    }
    ids = {"activity": activity.id, "shift": shift.id, "zone": zone.id, "unit": unit.id,
           "programme": programme.id, "own_signup": signup.id}
    return people, ids


def _expected(kind: str, role: str) -> set[int]:
    """The statuses each kind of route may answer for a role (GET, or POST for POST kinds)."""
    if kind == PUBLIC:
        return {200}
    if kind == MISSING:
        return {404}
    if kind == GUEST:
        return {200} if role == "anonymous" else {302}
    if kind == TOKEN:
        return {410}
    if kind == POST_ANY:
        return {302}
    if role == "anonymous":
        return {"login"}
    if kind in (LOGIN, POST_LOGIN):
        return {200, 302}  # pages, or redirect-after-POST
    if kind == ORGANIZER_AREA:
        return {200} if role in ("organizer", "other_organizer", "admin") else {403}
    if kind == ADMIN:
        return {200} if role == "admin" else {403}
    if kind in (ORGANIZER, POST_ORGANIZER):
        if role in ("organizer", "admin"):
            return {200, 302}
        return {403, 404}
    raise AssertionError(kind)


@pytest.mark.parametrize("role", ROLES)
def test_every_route_for_every_role(client, login, world, role):
    people, ids = world
    if role != "anonymous":
        login(people[role])
    failures = []
    # Log out last: it ends the session the other requests need.
    order = sorted(ROUTES.items(), key=lambda item: item[0] == "auth.logout")
    for endpoint, (kind, template) in order:
        url = template.format(**ids)
        if role == "resident" and endpoint == "signups.cancel":
            pass  # their own sign-up: allowed
        elif endpoint == "signups.cancel" and role != "anonymous":
            expected = {404}  # somebody else's sign-up is not theirs to see
            response = client.get(url)
            if response.status_code not in expected:
                failures.append((endpoint, role, response.status_code))
            continue
        post = kind.startswith("post")
        response = client.post(url, data={}) if post else client.get(url)
        status = response.status_code
        response.close()
        expected = _expected(kind, role)
        if "login" in expected:
            ok = status == 302 and "/account/login" in response.headers.get("Location", "")
        else:
            ok = status in expected
        if not ok or status >= 500:
            failures.append((endpoint, role, status))
    assert failures == [], failures

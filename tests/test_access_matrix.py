"""Every route of the app, for every role: who gets in, who is sent to log in, who is refused.

The table below must name every endpoint the app has; a new route without a row fails
``test_table_covers_every_route``. Feature tests check what each page does; this one checks
only who may reach it, and that nobody ever gets a 500.
"""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import quote

import pytest

from portal import create_app
from portal.models import SignupStatus
from tests import access_tables
from tests.conftest import base_config

PUBLIC = "public"  # everyone, logged in or not
LOGIN = "login"  # any logged-in person; anonymous is sent to the login page
ORGANIZER = "organizer"  # organizers of the activity's unit and admins
ADMIN = "admin"  # admins only
ORGANIZER_AREA = "organizer-area"  # anyone who organizes for some unit, and admins
TOKEN = "token"  # secret feed links: a wrong token is 410 Gone for everyone
POST_LOGIN = "post-login"  # state-changing, needs a logged-in person
POST_ORGANIZER = "post-organizer"
POST_ADMIN = "post-admin"
POST_ANY = "post-any"  # switches anyone may use (language, large text, logout)
GUEST = "guest"  # log in / register: a logged-in person is sent on
MISSING = "missing"  # the API's catch-all: a JSON 404 for everyone
COMMAND = "command"  # the command centre: admins, zone leaders and organizers (each their part)
LEADER = "leader"  # zone leaders' own pages (their visits); admins too
POST_LEADER = "post-leader"

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
    "certificates.index": (LOGIN, "/me/certificates"),
    "certificates.show": (LOGIN, "/me/certificates/{own_certificate}"),
    "certificates.pdf": (LOGIN, "/me/certificates/{own_certificate}.pdf"),
    "certificates.verify": (PUBLIC, "/verify"),
    "certificates.verify_code": (PUBLIC, "/verify/{certificate_code}"),
    "certificates.revoke": (POST_ADMIN, "/certificates/{own_certificate}/revoke"),
    "checkin.screen": (ORGANIZER, "/organize/shifts/{shift}/checkin-screen"),
    "checkin.screen_json": (ORGANIZER, "/organize/shifts/{shift}/checkin-screen.json"),
    "checkin.scan": (LOGIN, "/checkin/{shift}/not-a-code"),  # a refused code: a page saying so
    "checkin.confirm": (POST_LOGIN, "/checkin/{shift}/not-a-code"),
    "checkin.status": (LOGIN, "/checkin/{shift}"),
    "attendance.my_hours": (LOGIN, "/me/hours"),
    "attendance.overdue": (ORGANIZER_AREA, "/organize/hours/overdue"),
    "attendance.adjust_hours": (ORGANIZER, "/organize/signups/{own_signup}/hours"),
    "attendance.mark_attended": (POST_ORGANIZER, "/organize/signups/{own_signup}/attended"),
    "attendance.mark_no_show": (POST_ORGANIZER, "/organize/signups/{own_signup}/no-show"),
    "attendance.confirm_hours": (POST_ORGANIZER, "/organize/signups/{own_signup}/hours/confirm"),
    "attendance.undo": (POST_ORGANIZER, "/organize/signups/{own_signup}/attendance/undo"),
    "attendance.mark_all_attended": (POST_ORGANIZER, "/organize/shifts/{shift}/attended-all"),
    "attendance.confirm_all_hours": (POST_ORGANIZER, "/organize/shifts/{shift}/hours/confirm-all"),
    "attendance.walk_in_attended": (POST_ORGANIZER, "/organize/shifts/{shift}/walk-in-attended"),
}
# Features keep their own rows beside them (tests/access_tables/).
ROUTES.update(access_tables.ROUTES)

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
    certificate = _certificate(resident)
    ids = {
        "activity": activity.id,
        "shift": shift.id,
        "zone": zone.id,
        "unit": unit.id,
        "programme": programme.id,
        "own_signup": signup.id,
        "own_certificate": certificate.id,
        "certificate_code": certificate.code,
    }
    access_tables.extend_world(people, ids)
    return people, ids


def _certificate(person):
    from datetime import date

    from portal.extensions import db
    from portal.models import Certificate

    cert = Certificate(
        number="ZS-2026-000001",
        code="ABCDEFGHJKMNPQRS",
        user=person,
        period_start=date(2026, 1, 1),
        period_end=date(2026, 6, 30),
        total_hours=2,
        record_count=1,
        records=[],
        issuer="区创城指挥中心",
    )
    db.session.add(cert)
    db.session.commit()
    return cert


# Where an allowed request is sent on (the redirect-after-POST each view documents); every other
# allowed request is answered 200. ``{new}`` is an id the request itself created.
REDIRECTS = {
    "main.set_language": "/",
    "main.toggle_large_text": "/",
    "auth.logout": "/",
    "auth.login": "/",  # a logged-in person is sent on
    "auth.register": "/",
    "signups.sign_up": "/activities/{activity}?shift={shift}#shift-{shift}",
    "signups.cancel_for_shift": "/signups/{new}/cancel",  # to the person's own sign-up
    "feeds.new_link": "/calendar/subscribe",
    "feeds.reminder": "/calendar/subscribe",
    "organize.duplicate_activity": "/organize/activities/{new}",
    "organize.publish_activity": "/organize/activities/{activity}",
    "organize.delete_shift": "/organize/activities/{activity}",
    "organize.walk_in": "/organize/shifts/{shift}/roster",
    "organize.approve": "/organize/shifts/{shift}/roster",
    "organize.reject": "/organize/shifts/{shift}/roster",
    "organize.promote": "/organize/shifts/{shift}/roster",
    "organize.remove": "/organize/shifts/{shift}/roster",
    "attendance.mark_attended": "/organize/shifts/{shift}/roster#signup-{own_signup}",
    "attendance.mark_no_show": "/organize/shifts/{shift}/roster#signup-{own_signup}",
    "attendance.confirm_hours": "/organize/shifts/{shift}/roster#signup-{own_signup}",
    "attendance.undo": "/organize/shifts/{shift}/roster#signup-{own_signup}",
    "attendance.mark_all_attended": "/organize/shifts/{shift}/roster",
    "attendance.confirm_all_hours": "/organize/shifts/{shift}/roster",
    "attendance.walk_in_attended": "/organize/shifts/{shift}/roster",
}
REDIRECTS.update(access_tables.REDIRECTS)
ALLOWED, LOGIN_FIRST, FORBIDDEN = "allowed", "login first", "forbidden"


def _verdict(kind: str, role: str, endpoint: str) -> str | int:
    """Who may do what: allowed, sent to log in first, forbidden — or a fixed status."""
    if kind in (PUBLIC, POST_ANY):
        return ALLOWED
    if kind == MISSING:
        return 404
    if kind == TOKEN:
        return 410
    if kind == GUEST:
        return 200 if role == "anonymous" else ALLOWED
    if role == "anonymous":
        return LOGIN_FIRST
    if endpoint == "signups.cancel":  # the resident's own sign-up; nobody else's to see
        return ALLOWED if role == "resident" else 404
    if endpoint in ("certificates.show", "certificates.pdf"):  # the resident's own certificate
        return ALLOWED if role == "resident" else 404
    if kind in (LOGIN, POST_LOGIN):
        return ALLOWED
    if kind == ORGANIZER_AREA:
        return ALLOWED if role in ("organizer", "other_organizer", "admin") else FORBIDDEN
    if kind in (ADMIN, POST_ADMIN):
        return ALLOWED if role == "admin" else FORBIDDEN
    if kind in (ORGANIZER, POST_ORGANIZER):
        return ALLOWED if role in ("organizer", "admin") else FORBIDDEN
    if kind == COMMAND:
        return ALLOWED if role != "resident" else FORBIDDEN
    if kind in (LEADER, POST_LEADER):
        return ALLOWED if role in ("zone_leader", "admin") else FORBIDDEN
    raise AssertionError(kind)


def _expected(verdict: str | int, endpoint: str, url: str, ids: dict, new: int | None):
    """The exact (status, Location) a verdict means for one request."""
    if verdict == LOGIN_FIRST:
        return 302, "/account/login?next=" + quote(url, safe="")
    if verdict == FORBIDDEN:
        return 403, None
    if verdict == ALLOWED and endpoint in REDIRECTS:
        return 302, REDIRECTS[endpoint].format(new=new, **ids)
    if verdict == ALLOWED:
        return 200, None
    return verdict, None


def _newest_id(db, model, **where) -> int | None:
    return db.session.scalar(db.select(db.func.max(model.id)).filter_by(**where))


@pytest.mark.parametrize("role", ROLES)
def test_every_route_for_every_role(client, db, login, world, role):
    from portal.models import Activity, Signup

    people, ids = world
    person = people.get(role)
    if person is not None:
        login(person)
    failures = []
    # Log out last: it ends the session the other requests need.
    last = ("auth.logout_everywhere", "auth.logout")  # both end the session
    order = sorted(
        ROUTES.items(), key=lambda item: last.index(item[0]) + 1 if item[0] in last else 0
    )
    for endpoint, (kind, template) in order:
        url = template.format(**ids)
        post = kind.startswith("post")
        response = client.post(url, data={}) if post else client.get(url)
        got = (response.status_code, response.headers.get("Location"))
        response.close()
        new = None
        if endpoint == "signups.cancel_for_shift" and person is not None:
            new = _newest_id(db, Signup, user_id=person.id, shift_id=ids["shift"])
        elif endpoint == "organize.duplicate_activity":
            new = _newest_id(db, Activity)
        want = _expected(_verdict(kind, role, endpoint), endpoint, url, ids, new)
        if got != want:
            failures.append((endpoint, role, got, want))
    assert failures == [], "\n".join(f"{e} as {r}: got {g}, want {w}" for e, r, g, w in failures)

"""Access rows for administration (/admin) and the counter's one-time password.

POSTs here are sent with no form data: an admin's role change then stops at its confirmation
box or its missing choice (nothing changes) and is sent back to the person's page, or the form
is shown again with the message.
"""

from __future__ import annotations

ADMIN = "admin"
POST_ADMIN = "post-admin"
ORGANIZER = "organizer"
ORGANIZER_AREA = "organizer-area"
POST_ORGANIZER = "post-organizer"

_P = "/admin/people/{resident_user}"

ROUTES = {
    "admin.index": (ADMIN, "/admin/"),
    "admin.zones": (ADMIN, "/admin/zones"),
    "admin.new_zone": (ADMIN, "/admin/zones/new"),
    "admin.edit_zone": (ADMIN, "/admin/zones/{zone}/edit"),
    "admin.units": (ADMIN, "/admin/units"),
    "admin.new_unit": (ADMIN, "/admin/units/new"),
    "admin.edit_unit": (ADMIN, "/admin/units/{unit}/edit"),
    "admin.programmes": (ADMIN, "/admin/programmes"),
    "admin.new_programme": (ADMIN, "/admin/programmes/new"),
    "admin.edit_programme": (ADMIN, "/admin/programmes/{programme}/edit"),
    "admin.delete_programme": (POST_ADMIN, "/admin/programmes/{programme}/delete"),
    "admin.people": (ADMIN, "/admin/people?q=王"),
    "admin.person": (ADMIN, _P),
    "admin.grant_organizer": (POST_ADMIN, _P + "/units"),
    "admin.revoke_organizer": (POST_ADMIN, _P + "/units/{unit}/remove"),
    "admin.grant_zone_leader": (POST_ADMIN, _P + "/zones"),
    "admin.revoke_zone_leader": (POST_ADMIN, _P + "/zones/{zone}/remove"),
    "admin.grant_admin": (POST_ADMIN, _P + "/admin"),
    "admin.revoke_admin": (POST_ADMIN, _P + "/admin/remove"),
    "admin.deactivate": (POST_ADMIN, _P + "/deactivate"),
    "admin.reactivate": (POST_ADMIN, _P + "/reactivate"),
    "admin.audit": (ADMIN, "/admin/audit"),
    "admin.audit_export": (ADMIN, "/admin/audit.csv"),
    # The counter: any organizer opens it; the one-time password itself only for a person
    # who signed up with one of the organizer's units (the world's resident did), and admins.
    "counter.counter": (ORGANIZER_AREA, "/organize/counter/?q=王"),
    "counter.one_time_password": (POST_ORGANIZER, "/organize/counter/{resident_user}"),
}

REDIRECTS = {
    # the programme has an activity: deleting it is refused, with the reason, on the list
    "admin.delete_programme": "/admin/programmes",
    "admin.revoke_organizer": _P,
    "admin.revoke_zone_leader": _P,
    "admin.grant_admin": _P,
    "admin.revoke_admin": _P,
    "admin.deactivate": _P,
    "admin.reactivate": _P,
    "organize.audit_log": "/admin/audit",  # the old raw log's address
}


def world(people: dict, ids: dict) -> None:
    ids["resident_user"] = people["resident"].id

"""Who may do what: every permission check in the portal is a named function here.

Views call these directly or through the ``get_…_or_403`` loaders at the end; templates call
them to decide which buttons to show. A test walks every route for every role.
"""

from __future__ import annotations

from flask import abort
from flask_login import current_user

from portal.models import Activity, Shift, Signup, Unit, User


def _user(user) -> User | None:
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    return user


def is_admin(user) -> bool:
    u = _user(user)
    return bool(u and u.is_admin)


def is_organizer(user) -> bool:
    """Organizer of at least one unit, or an admin."""
    u = _user(user)
    return bool(u and (u.is_admin or u.units))


def can_manage_unit(user, unit: Unit | int) -> bool:
    """Admins manage every unit; organizers manage their own units."""
    u = _user(user)
    if u is None:
        return False
    if u.is_admin:
        return True
    unit_id = unit if isinstance(unit, int) else unit.id
    return any(m.id == unit_id for m in u.units)


def can_manage_activity(user, activity: Activity) -> bool:
    return can_manage_unit(user, activity.unit_id)


def can_manage_shift(user, shift: Shift) -> bool:
    return can_manage_activity(user, shift.activity)


def can_view_activity(user, activity: Activity) -> bool:
    """Public activities (:attr:`Activity.is_public`) to everyone; drafts only to managers."""
    return activity.is_public or can_manage_activity(user, activity)


def can_view_dashboard(user) -> bool:
    """The command-centre dashboard: admins (all), zone leaders (their zones), organizers
    (their units). Residents have none."""
    u = _user(user)
    return bool(u and (u.is_admin or u.led_zones or u.units))


def can_view_zone_dashboard(user, zone_id: int) -> bool:
    """A zone's figures in full: admins and the zone's leaders."""
    u = _user(user)
    return bool(u and (u.is_admin or any(z.id == zone_id for z in u.led_zones)))


def can_record_visits(user) -> bool:
    """Zone leaders record their visits (领导包片); admins see and correct all of them."""
    u = _user(user)
    return bool(u and (u.is_admin or u.led_zones))


def can_delete_visit(user, visit) -> bool:
    u = _user(user)
    return bool(u and (u.is_admin or (u.led_zones and visit.leader_id == u.id)))


# --- loaders: fetch by id, 404 when missing, 403 unless the check holds ----------------------


def get_visit_or_403(visit_id: int):
    """Load a leader visit the current user may delete (404 if missing, 403 if not theirs)."""
    from portal.extensions import db
    from portal.models import LeaderVisit

    visit = db.get_or_404(LeaderVisit, visit_id)
    if not can_delete_visit(current_user, visit):
        abort(403)
    return visit


def get_activity_or_403(activity_id: int) -> Activity:
    """Load an activity the current user manages (404 if missing, 403 if not theirs)."""
    from portal.extensions import db

    activity = db.get_or_404(Activity, activity_id)
    if not can_manage_activity(current_user, activity):
        abort(403)
    return activity


def get_shift_or_403(shift_id: int) -> Shift:
    """Load a shift the current user manages (404 if missing, 403 if not theirs)."""
    from portal.extensions import db

    shift = db.get_or_404(Shift, shift_id)
    if not can_manage_shift(current_user, shift):
        abort(403)
    return shift


def get_signup_or_403(signup_id: int) -> Signup:
    """Load a sign-up on a shift the current user manages (404 if missing, 403 if not)."""
    from portal.extensions import db

    signup = db.get_or_404(Signup, signup_id)
    if not can_manage_shift(current_user, signup.shift):
        abort(403)
    return signup


# --- administration (portal/admin/) ------------------------------------------------------------


def can_administer(user) -> bool:
    """Zones, units, the programme tree, people and roles, the audit log: admins only."""
    return is_admin(user)


def can_view_full_phone(user) -> bool:
    """The full phone number on a person's page (each view is logged): admins only."""
    return is_admin(user)


def can_set_one_time_password(user, person: User | None, signed_up: bool | None = None) -> bool:
    """Who may give ``person`` a one-time password at the counter.

    - an admin, for anyone but themselves (they change their own password themselves);
    - an organizer, for a resident who has signed up for an activity of one of the
      organizer's units, and who holds no role of their own (an organizer must not be able
      to take over an admin's, a zone leader's or another organizer's account).
    Deleted and deactivated accounts never (the password would not let them in anyway).
    ``signed_up``: already known that the person signed up with one of the user's units (a
    search limited to those units), so no query is needed.
    """
    u = _user(user)
    if u is None or person is None or person.id == u.id:
        return False
    if person.deleted_at is not None or not person.active:
        return False
    if u.is_admin:
        return True
    if person.is_admin or person.units or person.led_zones:
        return False
    unit_ids = [m.id for m in u.units]
    if not unit_ids:
        return False
    if signed_up is not None:
        return signed_up
    from sqlalchemy import select

    from portal.extensions import db

    found = db.session.scalar(
        select(Signup.id)
        .join(Shift, Shift.id == Signup.shift_id)
        .join(Activity, Activity.id == Shift.activity_id)
        .where(Signup.user_id == person.id, Activity.unit_id.in_(unit_ids))
        .limit(1)
    )
    return found is not None


def get_person_for_counter_or_403(user_id: int) -> User:
    """Load a person the current user may give a one-time password (404 / 403)."""
    from portal.extensions import db

    person = db.get_or_404(User, user_id)
    if person.deleted_at is not None:
        abort(404)
    if not can_set_one_time_password(current_user, person):
        abort(403)
    return person

"""Activities: the organizer's scope, create, edit, publish, cancel and duplicate."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from flask_babel import gettext as _
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from portal.audit import services as audit
from portal.extensions import db
from portal.models import (
    PLACE_HOLDING_STATUSES,
    Activity,
    ActivityStatus,
    Programme,
    Shift,
    ShiftStatus,
    Signup,
    Unit,
    User,
    utcnow,
)
from portal.organize.services.errors import OrganizeError
from portal.organize.services.errors import diff as _diff
from portal.organize.services.shifts import locked_activity, raise_sequence
from portal.timeutil import now_utc

# --- scope -----------------------------------------------------------------------------------


def managed_units(user: User) -> list[Unit]:
    """Return the units this person may create activities for (every unit for admins)."""
    if user.is_admin:
        return list(db.session.scalars(select(Unit).order_by(Unit.name)))
    return sorted(user.units, key=lambda u: u.name)


def managed_activities(
    user: User, status: str | None = None, page: int = 1, size: int = 50
) -> list[Activity]:
    """Return one page (plus one more row, to tell if there is a next page) of the
    activities of the units this person manages, newest first."""
    stmt = (
        select(Activity)
        .options(selectinload(Activity.unit), selectinload(Activity.zone))
        .order_by(Activity.created_at.desc(), Activity.id.desc())
    )
    if not user.is_admin:
        stmt = stmt.where(Activity.unit_id.in_([u.id for u in user.units] or [-1]))
    if status:
        stmt = stmt.where(Activity.status == status)
    return list(db.session.scalars(stmt.offset((page - 1) * size).limit(size + 1)))


def shift_counts(activity_ids: Sequence[int]) -> dict[int, tuple[int, int, int]]:
    """Return {activity_id: (shifts, places taken, capacity)} for scheduled shifts."""
    if not activity_ids:
        return {}
    taken = (
        select(func.count(Signup.id))
        .where(Signup.shift_id == Shift.id, Signup.status.in_(PLACE_HOLDING_STATUSES))
        .correlate(Shift)
        .scalar_subquery()
    )
    rows = db.session.execute(
        select(
            Shift.activity_id,
            func.count(Shift.id),
            func.coalesce(func.sum(taken), 0),
            func.coalesce(func.sum(Shift.capacity), 0),
        )
        .where(Shift.activity_id.in_(activity_ids), Shift.status == ShiftStatus.SCHEDULED)
        .group_by(Shift.activity_id)
    )
    return {r[0]: (r[1], int(r[2]), int(r[3])) for r in rows}


# --- activities ------------------------------------------------------------------------------

ACTIVITY_FIELDS = (
    "title",
    "description",
    "kind",
    "zone_id",
    "unit_id",
    "place",
    "latitude",
    "longitude",
    "contact_name",
    "contact_phone",
    "requirements",
    "risk_notice",
    "cancellation_deadline_hours",
)


def activity_snapshot(activity: Activity) -> dict:
    """Return the audit-friendly state of an activity."""
    data = {f: getattr(activity, f) for f in ACTIVITY_FIELDS}
    data["kind"] = str(data["kind"]) if data["kind"] is not None else None
    data["status"] = str(activity.status) if activity.status else None
    data["programme_ids"] = sorted(p.id for p in activity.programmes)
    return data


def _programmes(ids: Iterable[int]) -> list[Programme]:
    ids = list(ids or [])
    if not ids:
        return []
    return list(db.session.scalars(select(Programme).where(Programme.id.in_(ids))))


def _check_unit(actor: User, unit_id: int) -> None:
    from portal.permissions import can_manage_unit

    if not can_manage_unit(actor, unit_id):
        raise OrganizeError(_("你只能为自己所在的单位创建或管理活动。"))


def create_activity(actor: User, data: dict) -> Activity:
    """Create a draft activity for one of the actor's units."""
    _check_unit(actor, data["unit_id"])
    activity = Activity(status=ActivityStatus.DRAFT, created_by_id=actor.id)
    for field in ACTIVITY_FIELDS:
        setattr(activity, field, data.get(field))
    activity.programmes = _programmes(data.get("programme_ids"))
    db.session.add(activity)
    db.session.flush()
    audit.record(
        "activity.create", activity, activity.title, after=activity_snapshot(activity), actor=actor
    )
    return activity


def update_activity(actor: User, activity: Activity, data: dict) -> dict:
    """Change an activity's fields; return the changed values (after)."""
    _check_unit(actor, data["unit_id"])
    activity = locked_activity(activity)
    if activity.status == ActivityStatus.CANCELLED:
        raise OrganizeError(_("活动已取消，不能再修改。"))
    before = activity_snapshot(activity)
    for field in ACTIVITY_FIELDS:
        setattr(activity, field, data.get(field))
    activity.programmes = _programmes(data.get("programme_ids"))
    db.session.flush()
    old, new = _diff(before, activity_snapshot(activity))
    if new:
        audit.record("activity.update", activity, activity.title, old, new, actor=actor)
    if set(new) & _CALENDAR_FIELDS and activity.status != ActivityStatus.DRAFT:
        _activity_changed(activity, new)
    return new


# Fields that appear in calendar events (portal/feeds/ical.py: SUMMARY, LOCATION, GEO,
# DESCRIPTION's zone and unit, ORGANIZER's unit): a change raises the SEQUENCE of upcoming
# shifts.
_CALENDAR_FIELDS = {
    "title",
    "place",
    "description",
    "latitude",
    "longitude",
    "zone_id",
    "unit_id",
}


def _activity_changed(activity: Activity, new: dict) -> None:
    from portal.signups import places

    now = now_utc()
    upcoming = [s for s in activity.shifts if not s.is_cancelled and s.ends_at > now]
    raise_sequence([s.id for s in upcoming])
    if "place" in new:
        for shift in upcoming:
            places.notify_shift_changed(
                shift, lambda: _("地点改为：%(place)s", place=activity.place)
            )
    db.session.flush()


def publish_activity(actor: User, activity: Activity) -> None:
    """Make a draft activity visible to residents."""
    activity = locked_activity(activity)
    if activity.status != ActivityStatus.DRAFT:
        raise OrganizeError(_("只有草稿状态的活动可以发布。"))
    if not any(not s.is_cancelled for s in activity.shifts):
        raise OrganizeError(_("请先添加至少一个班次再发布。"))
    activity.status = ActivityStatus.PUBLISHED
    activity.published_at = utcnow()
    db.session.flush()
    audit.record(
        "activity.publish",
        activity,
        activity.title,
        {"status": "draft"},
        {"status": "published"},
        actor=actor,
    )


def cancel_activity(actor: User, activity: Activity, reason: str) -> int:
    """Cancel an activity and its open shifts, tell everyone signed up; return shifts touched.

    Sign-ups stay as they are so that personal calendars show the event as cancelled
    (each shift's SEQUENCE is raised) instead of it silently vanishing.
    """
    from portal.signups import places

    activity = locked_activity(activity)
    if activity.status == ActivityStatus.CANCELLED:
        raise OrganizeError(_("这个活动已经取消了。"))
    reason = (reason or "").strip()
    if not reason:
        raise OrganizeError(_("请填写取消原因，报名的人会收到这条说明。"), field="reason")
    places.lock([s.id for s in activity.shifts])  # no shift is added while we hold the activity
    before = activity.status
    now = utcnow()
    activity.status = ActivityStatus.CANCELLED
    activity.cancel_reason = reason
    activity.cancelled_at = now
    touched = 0
    for shift in activity.shifts:
        if shift.status == ShiftStatus.SCHEDULED:
            shift.status = ShiftStatus.CANCELLED
            shift.cancel_reason = reason
            shift.cancelled_at = now
        touched += 1
    db.session.flush()
    raise_sequence([s.id for s in activity.shifts])
    places.notify_activity_cancelled(activity, reason)
    audit.record(
        "activity.cancel",
        activity,
        reason,
        {"status": str(before)},
        {"status": "cancelled", "reason": reason},
        actor=actor,
    )
    return touched


def duplicate_activity(actor: User, activity: Activity) -> Activity:
    """Copy an activity as a new draft with its not-yet-started shifts, without sign-ups."""
    _check_unit(actor, activity.unit_id)
    copy = Activity(status=ActivityStatus.DRAFT, created_by_id=actor.id)
    for field in ACTIVITY_FIELDS:
        setattr(copy, field, getattr(activity, field))
    copy.title = (_("（副本）") + activity.title)[:120]
    copy.programmes = list(activity.programmes)
    now = now_utc()
    for shift in activity.shifts:
        if shift.is_cancelled or shift.starts_at <= now:
            continue
        copy.shifts.append(
            Shift(
                starts_at=shift.starts_at,
                ends_at=shift.ends_at,
                capacity=shift.capacity,
                post_name=shift.post_name,
                signup_opens_at=shift.signup_opens_at,
                signup_closes_at=shift.signup_closes_at,
                requires_approval=shift.requires_approval,
                waitlist_enabled=shift.waitlist_enabled,
            )
        )
    db.session.add(copy)
    db.session.flush()
    audit.record(
        "activity.duplicate",
        copy,
        _("复制自活动 #%(id)d", id=activity.id),
        {"source_id": activity.id},
        {"id": copy.id, "shifts": len(copy.shifts)},
        actor=actor,
    )
    return copy

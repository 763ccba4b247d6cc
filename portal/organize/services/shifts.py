"""Shifts: add one or many, change, cancel and delete them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from flask_babel import gettext as _
from sqlalchemy import func, select, update

from portal.audit import services as audit
from portal.extensions import db
from portal.models import (
    ACTIVE_STATUSES,
    MAX_CAPACITY,
    PLACE_HOLDING_STATUSES,
    Activity,
    ActivityStatus,
    Shift,
    ShiftStatus,
    Signup,
    User,
    utcnow,
)
from portal.organize.services.errors import MAX_SHIFTS_PER_REQUEST, OrganizeError
from portal.organize.services.errors import diff as _diff
from portal.organize.services.recurrence import Occurrence
from portal.timeutil import fmt_range, now_utc

# --- shifts: writing -------------------------------------------------------------------------

SHIFT_FIELDS = (
    "starts_at",
    "ends_at",
    "capacity",
    "post_name",
    "signup_opens_at",
    "signup_closes_at",
    "requires_approval",
    "waitlist_enabled",
)


def shift_snapshot(shift: Shift) -> dict:
    """Return the audit-friendly state of a shift (datetimes as ISO strings)."""
    data = {}
    for field in SHIFT_FIELDS:
        value = getattr(shift, field)
        data[field] = value.isoformat() if isinstance(value, datetime) else value
    data["status"] = str(shift.status) if shift.status else "scheduled"
    data["sequence"] = shift.sequence
    return data


def _check_shift_values(values: dict, *, allow_past: bool = False) -> None:
    if not allow_past and values["starts_at"] <= now_utc():
        raise OrganizeError(_("开始时间已经过去，不能安排过去的班次。"))
    if values["ends_at"] <= values["starts_at"]:
        raise OrganizeError(_("结束时间要晚于开始时间。"))
    if not 1 <= values["capacity"] <= MAX_CAPACITY:
        raise OrganizeError(_("人数上限要在 1 到 %(max)d 之间。", max=MAX_CAPACITY))
    opens, closes = values.get("signup_opens_at"), values.get("signup_closes_at")
    if opens and closes and closes <= opens:
        raise OrganizeError(_("报名截止时间要晚于报名开始时间。"))


def _check_activity_open(activity: Activity) -> None:
    if activity.status in (ActivityStatus.CANCELLED, ActivityStatus.FINISHED):
        raise OrganizeError(_("活动已取消或已结束，不能再添加班次。"))


def add_shift(actor: User, activity: Activity, values: dict) -> Shift:
    """Add one shift to an activity."""
    _check_activity_open(activity)
    _check_shift_values(values)
    shift = Shift(activity=activity, **{f: values.get(f) for f in SHIFT_FIELDS if f in values})
    db.session.add(shift)
    db.session.flush()
    audit.record("shift.create", shift, activity.title, after=shift_snapshot(shift), actor=actor)
    return shift


def create_shifts(
    actor: User, activity: Activity, occurrences: Sequence[Occurrence], options: dict
) -> list[Shift]:
    """Create one shift per occurrence with the same capacity, post and options."""
    _check_activity_open(activity)
    if not occurrences:
        raise OrganizeError(_("没有可创建的班次。"))
    if len(occurrences) > MAX_SHIFTS_PER_REQUEST:
        raise OrganizeError(_("一次最多创建 %(max)d 个班次。", max=MAX_SHIFTS_PER_REQUEST))
    shifts = []
    for occ in occurrences:
        values = {"starts_at": occ.starts_at, "ends_at": occ.ends_at, **options}
        _check_shift_values(values)
        shifts.append(Shift(activity=activity, **values))
    db.session.add_all(shifts)
    db.session.flush()
    audit.record(
        "shift.bulk_create",
        activity,
        _("批量创建 %(n)d 个班次", n=len(shifts)),
        after={
            "count": len(shifts),
            "first": occurrences[0].starts_at.isoformat(),
            "last": occurrences[-1].starts_at.isoformat(),
            "capacity": options.get("capacity"),
            "post_name": options.get("post_name", ""),
        },
        actor=actor,
    )
    return shifts


def update_shift(actor: User, shift: Shift, values: dict) -> dict:
    """Change one shift; notify the people on it when its time changes; return what changed.

    Lowering the capacity below the places already taken is refused, never evicting anyone.
    """
    from portal.database import begin_write, lock_rows
    from portal.signups import services as signups

    if shift.is_cancelled:
        raise OrganizeError(_("班次已取消，不能再修改。"))
    # A past shift may still get its capacity or post corrected, but nothing moves into the past.
    _check_shift_values(values, allow_past=values["starts_at"] == shift.starts_at)
    shift_id = shift.id
    session = db.session()
    begin_write(session)
    lock_rows(session, Shift, shift_id)
    shift = db.session.get(Shift, shift_id, populate_existing=True)
    taken = db.session.scalar(
        select(func.count(Signup.id)).where(
            Signup.shift_id == shift_id, Signup.status.in_(PLACE_HOLDING_STATUSES)
        )
    ) or 0
    if values["capacity"] < taken:
        raise OrganizeError(
            _(
                "这个班次已有 %(n)d 人报名（已确认和待审核），人数上限不能低于 %(n)d。"
                "如需减人，请先在名单中移除并说明原因。",
                n=taken,
            )
        )
    before = shift_snapshot(shift)
    for field in SHIFT_FIELDS:
        if field in values:
            setattr(shift, field, values[field])
    time_changed = (shift.starts_at, shift.ends_at) != (
        datetime.fromisoformat(before["starts_at"]),
        datetime.fromisoformat(before["ends_at"]),
    )
    if time_changed or (shift.post_name or "") != (before["post_name"] or ""):
        shift.sequence += 1  # both appear in calendar events (DTSTART/DTEND, SUMMARY)
    if time_changed:
        # The reminder went out for the old time: re-arm it for the new one.
        db.session.execute(
            update(Signup)
            .where(Signup.shift_id == shift.id, Signup.status.in_(ACTIVE_STATUSES))
            .values(reminder_sent_at=None)
            .execution_options(synchronize_session="fetch")
        )
    db.session.flush()
    old, new = _diff(before, shift_snapshot(shift))
    if new:
        audit.record("shift.update", shift, shift.activity.title, old, new, actor=actor)
    if time_changed:
        summary = _("时间改为 %(range)s", range=fmt_range(shift.starts_at, shift.ends_at))
        signups.notify_shift_changed(shift, summary)
    if values["capacity"] > before["capacity"]:
        signups.fill_from_waitlist(shift)
    return new


def cancel_shift(actor: User, shift: Shift, reason: str) -> None:
    """Cancel one shift, raise its SEQUENCE and tell everyone on it."""
    from portal.signups import services as signups

    if shift.is_cancelled:
        raise OrganizeError(_("这个班次已经取消了。"))
    reason = (reason or "").strip()
    if not reason:
        raise OrganizeError(_("请填写取消原因，报名的人会收到这条说明。"))
    shift.status = ShiftStatus.CANCELLED
    shift.cancel_reason = reason
    shift.cancelled_at = utcnow()
    shift.sequence += 1
    db.session.flush()
    signups.notify_shift_cancelled(shift, reason)
    audit.record(
        "shift.cancel", shift, reason,
        {"status": "scheduled"}, {"status": "cancelled", "reason": reason}, actor=actor,
    )


def ever_signed_up(shift: Shift) -> int:
    """Count every sign-up row the shift ever had (any status)."""
    return db.session.scalar(select(func.count(Signup.id)).where(Signup.shift_id == shift.id)) or 0


def delete_shift(actor: User, shift: Shift) -> None:
    """Delete a shift nobody ever signed up for."""
    if ever_signed_up(shift):
        raise OrganizeError(
            _("这个班次有过报名记录，不能删除；如不再举办，请改为“取消班次”，报名的人会收到通知。")
        )
    snapshot = shift_snapshot(shift)
    activity = shift.activity
    audit.record(
        "shift.delete", shift, activity.title, before=snapshot, actor=actor
    )
    db.session.delete(shift)
    db.session.flush()

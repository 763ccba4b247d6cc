"""Shifts: add one or many, change, cancel and delete them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from flask_babel import gettext as _
from sqlalchemy import func, select, update
from sqlalchemy.orm import selectinload
from sqlalchemy.orm.util import identity_key

from portal.audit import services as audit
from portal.database import begin_write, lock_rows
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
        raise OrganizeError(_("开始时间已经过去，不能安排过去的班次。"), field="start")
    if values["ends_at"] <= values["starts_at"]:
        raise OrganizeError(_("结束时间要晚于开始时间。"), field="end")
    if not 1 <= values["capacity"] <= MAX_CAPACITY:
        raise OrganizeError(
            _("人数上限要在 1 到 %(max)d 之间。", max=MAX_CAPACITY), field="capacity"
        )
    opens, closes = values.get("signup_opens_at"), values.get("signup_closes_at")
    if opens and closes and closes <= opens:
        raise OrganizeError(_("报名截止时间要晚于报名开始时间。"), field="signup_closes")


def raise_sequence(shift_ids: Sequence[int]) -> None:
    """Raise the calendar SEQUENCE of these shifts by one, in SQL (no increment is lost)."""
    ids = sorted(set(shift_ids))
    if not ids:
        return
    db.session.execute(
        update(Shift)
        .where(Shift.id.in_(ids))
        .values(sequence=Shift.sequence + 1)
        .execution_options(synchronize_session=False)
    )
    for shift_id in ids:
        loaded = db.session.identity_map.get(identity_key(Shift, shift_id))
        if loaded is not None:
            db.session.expire(loaded, ["sequence"])


def locked_activity(activity: Activity) -> Activity:
    """Lock the activity row (before its shifts) and re-read it with its shifts."""
    session = db.session()
    begin_write(session)
    lock_rows(session, Activity, activity.id)
    return db.session.get(Activity, activity.id, populate_existing=True)


def _check_activity_open(activity: Activity) -> None:
    if activity.status in (ActivityStatus.CANCELLED, ActivityStatus.FINISHED):
        raise OrganizeError(_("活动已取消或已结束，不能再添加班次。"))


def duplicate_times(
    activity: Activity,
    times: Sequence[tuple[datetime, datetime]],
    post_name: str,
    exclude_id: int | None = None,
) -> set[tuple[datetime, datetime]]:
    """The (start, end) pairs among ``times`` that a not-cancelled shift of the activity with
    the same post already has — an identical shift, most likely entered twice by mistake."""
    if not times:
        return set()
    post = (post_name or "").strip()
    starts = sorted({start for start, _end in times})
    stmt = select(Shift.starts_at, Shift.ends_at).where(
        Shift.activity_id == activity.id,
        Shift.status == ShiftStatus.SCHEDULED,
        Shift.post_name == post,
        Shift.starts_at.in_(starts),
    )
    if exclude_id is not None:
        stmt = stmt.where(Shift.id != exclude_id)
    existing = {(row[0], row[1]) for row in db.session.execute(stmt)}
    return {pair for pair in times if pair in existing}


def _duplicate_error(values: dict) -> OrganizeError:
    return OrganizeError(
        _(
            "这个活动已有一个完全相同的班次（%(range)s%(post)s）。如确实要再加一个，"
            "请勾选“仍然添加”。",
            range=fmt_range(values["starts_at"], values["ends_at"]),
            post=(" · " + values["post_name"]) if values.get("post_name") else "",
        ),
        field="allow_duplicate",
    )


def add_shift(
    actor: User, activity: Activity, values: dict, *, allow_duplicate: bool = False
) -> Shift:
    """Add one shift to an activity.

    :raises OrganizeError: ``field="allow_duplicate"`` when the activity already has a shift
        with the same start, end and post, unless ``allow_duplicate``.
    """
    activity = locked_activity(activity)
    _check_activity_open(activity)
    _check_shift_values(values)
    pair = (values["starts_at"], values["ends_at"])
    if not allow_duplicate and duplicate_times(activity, [pair], values.get("post_name", "")):
        raise _duplicate_error(values)
    shift = Shift(activity=activity, **{f: values.get(f) for f in SHIFT_FIELDS if f in values})
    db.session.add(shift)
    db.session.flush()
    audit.record("shift.create", shift, activity.title, after=shift_snapshot(shift), actor=actor)
    return shift


def create_shifts(
    actor: User,
    activity: Activity,
    occurrences: Sequence[Occurrence],
    options: dict,
    *,
    allow_duplicates: bool = False,
) -> list[Shift]:
    """Create one shift per occurrence with the same capacity, post and options.

    Occurrences identical to a shift the activity already has (same start, end and post) are
    skipped unless ``allow_duplicates``; the preview says how many, and so does the caller
    (``len(occurrences) - len(result)``).

    :raises OrganizeError: when nothing would be created.
    """
    activity = locked_activity(activity)
    _check_activity_open(activity)
    if not occurrences:
        raise OrganizeError(_("没有可创建的班次。"))
    if len(occurrences) > MAX_SHIFTS_PER_REQUEST:
        raise OrganizeError(_("一次最多创建 %(max)d 个班次。", max=MAX_SHIFTS_PER_REQUEST))
    if not allow_duplicates:
        twins = duplicate_times(
            activity,
            [(o.starts_at, o.ends_at) for o in occurrences],
            options.get("post_name", ""),
        )
        occurrences = [o for o in occurrences if (o.starts_at, o.ends_at) not in twins]
        if not occurrences:
            raise OrganizeError(
                _(
                    "这些班次都和已有的班次完全相同（时间和岗位），没有新建。"
                    "如确实要再加一遍，请勾选“仍然添加”。"
                ),
                field="allow_duplicates",
            )
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


def update_shift(
    actor: User,
    shift: Shift,
    values: dict,
    *,
    over_overlap: bool = False,
    reason: str = "",
    allow_duplicate: bool = False,
) -> dict:
    """Change one shift; notify the people on it when its time changes; return what changed.

    The shift and everyone on it are locked first and the places re-counted under the lock.
    Lowering the capacity below the places taken is refused, never evicting anyone; raising
    it promotes from the waitlist. Moving it is refused when someone holding a place would
    then hold two overlapping places, unless the organizer overrides that with a reason.
    """
    from portal.signups import places

    shift_id = shift.id
    places.lock([shift_id], with_waiting=True, with_holders=True)
    shift = places.fresh_shift(shift_id)
    if shift is None:
        raise OrganizeError(_("没有找到这个班次，它可能已被删除。"))
    if shift.is_cancelled:
        raise OrganizeError(_("班次已取消，不能再修改。"))
    # A past shift may still get its capacity or post corrected, but nothing moves into the past.
    _check_shift_values(values, allow_past=values["starts_at"] == shift.starts_at)
    taken = shift.taken_count
    if values["capacity"] < taken:
        raise OrganizeError(
            _(
                "这个班次已有 %(n)d 人报名（已确认和待审核），人数上限不能低于 %(n)d。"
                "如需减人，请先在名单中移除并说明原因。",
                n=taken,
            ),
            field="capacity",
        )
    moved = (values["starts_at"], values["ends_at"], values.get("post_name", "")) != (
        shift.starts_at,
        shift.ends_at,
        shift.post_name or "",
    )
    if (
        moved
        and not allow_duplicate
        and duplicate_times(
            shift.activity,
            [(values["starts_at"], values["ends_at"])],
            values.get("post_name", ""),
            exclude_id=shift.id,
        )
    ):
        raise _duplicate_error(values)
    before = shift_snapshot(shift)
    for field in SHIFT_FIELDS:
        if field in values:
            setattr(shift, field, values[field])
    time_changed = (shift.starts_at, shift.ends_at) != (
        datetime.fromisoformat(before["starts_at"]),
        datetime.fromisoformat(before["ends_at"]),
    )
    db.session.flush()
    if time_changed:
        _check_no_new_overlaps(shift, over_overlap, reason)
    if time_changed or (shift.post_name or "") != (before["post_name"] or ""):
        raise_sequence([shift.id])  # both appear in calendar events (DTSTART/DTEND, SUMMARY)
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
        extra = {"override": ["overlap"], "override_reason": reason} if over_overlap else {}
        audit.record("shift.update", shift, shift.activity.title, old, new | extra, actor=actor)
    if time_changed:
        places.notify_shift_changed(
            shift, lambda: _("时间改为 %(range)s", range=fmt_range(shift.starts_at, shift.ends_at))
        )
    if values["capacity"] > before["capacity"]:
        places.fill(shift)
    return new


def _check_no_new_overlaps(shift: Shift, over_overlap: bool, reason: str) -> None:
    """Refuse a move that gives someone on the shift two overlapping places (unless overridden)."""
    from portal.privacy import mask_name
    from portal.signups import places

    holders = db.session.scalars(
        select(Signup)
        .where(Signup.shift_id == shift.id, Signup.status.in_(PLACE_HOLDING_STATUSES))
        .options(selectinload(Signup.user))
        .order_by(Signup.id)
    ).all()
    clashing = [s.user for s in holders if places.clash(s.user_id, shift) is not None]
    if not clashing or over_overlap and (reason or "").strip():
        return
    if over_overlap:
        raise OrganizeError(
            _("时间冲突仍然保存，请写明原因（会记入操作日志）。"), field="override_reason"
        )
    names = "、".join(mask_name(u.real_name) for u in clashing[:5])
    raise OrganizeError(
        _(
            "改到这个时间后，%(names)s 等 %(n)d 人会和他们已报名的其他班次时间冲突。"
            "请换个时间，或勾选“时间冲突仍然保存”并说明原因。",
            names=names,
            n=len(clashing),
        ),
        field="start",
    )


def cancel_shift(actor: User, shift: Shift, reason: str) -> None:
    """Cancel one shift, raise its SEQUENCE and tell everyone on it."""
    from portal.signups import places

    places.lock([shift.id])
    shift = places.fresh_shift(shift.id)
    if shift is None:
        raise OrganizeError(_("没有找到这个班次，它可能已被删除。"))
    if shift.is_cancelled:
        raise OrganizeError(_("这个班次已经取消了。"))
    reason = (reason or "").strip()
    if not reason:
        raise OrganizeError(_("请填写取消原因，报名的人会收到这条说明。"), field="reason")
    shift.status = ShiftStatus.CANCELLED
    shift.cancel_reason = reason
    shift.cancelled_at = utcnow()
    db.session.flush()
    raise_sequence([shift.id])
    places.notify_shift_cancelled(shift, reason)
    audit.record(
        "shift.cancel",
        shift,
        reason,
        {"status": "scheduled"},
        {"status": "cancelled", "reason": reason},
        actor=actor,
    )


def ever_signed_up(shift: Shift) -> int:
    """Count every sign-up row the shift ever had (any status)."""
    return db.session.scalar(select(func.count(Signup.id)).where(Signup.shift_id == shift.id)) or 0


def deletable(shifts: Sequence[Shift]) -> set[int]:
    """Return the ids of the shifts that may be deleted: never had a sign-up, not cancelled.

    The rule :func:`delete_shift` enforces, in one statement, for pages that offer 删除.
    """
    ids = [s.id for s in shifts if not s.is_cancelled]
    if not ids:
        return set()
    used = set(db.session.scalars(select(Signup.shift_id).where(Signup.shift_id.in_(ids))))
    return set(ids) - used


def delete_shift(actor: User, shift: Shift) -> None:
    """Delete a shift nobody ever signed up for; counted under the shift's lock."""
    from portal.signups import places

    places.lock([shift.id])
    shift = places.fresh_shift(shift.id)
    if shift is None:
        return  # deleted by someone else meanwhile: nothing left to do
    if ever_signed_up(shift):
        raise OrganizeError(
            _("这个班次有过报名记录，不能删除；如不再举办，请改为“取消班次”，报名的人会收到通知。")
        )
    snapshot = shift_snapshot(shift)
    audit.record("shift.delete", shift, shift.activity.title, before=snapshot, actor=actor)
    db.session.delete(shift)
    db.session.flush()

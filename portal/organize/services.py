"""Organizer operations: activities, shifts (single, bulk, recurring), rosters, exports, notices.

Every function here flushes; the calling view (or CLI command) commits once. Domain
problems raise :class:`OrganizeError` whose message is shown to the organizer as is.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from itertools import islice

from dateutil.rrule import DAILY, MONTHLY, WEEKLY, rrulestr
from flask import url_for
from flask_babel import gettext as _
from sqlalchemy import func, select, update
from sqlalchemy.orm import selectinload

from portal.audit import services as audit
from portal.extensions import db
from portal.models import (
    ACTIVE_STATUSES,
    MAX_CAPACITY,
    PLACE_HOLDING_STATUSES,
    Activity,
    ActivityStatus,
    Programme,
    Shift,
    ShiftStatus,
    Signup,
    SignupStatus,
    Unit,
    User,
    utcnow,
)
from portal.notifications.services import notify_many
from portal.timeutil import fmt_range, fmt_short, local_to_utc, now_utc, to_local

MAX_SHIFTS_PER_REQUEST = 500
# Rules are expanded up to this many occurrences before giving up (COUNT-less, UNTIL-less rules).
_RRULE_SCAN_LIMIT = 5000


class OrganizeError(Exception):
    """An organizer request that breaks a rule; ``str(exc)`` is a Chinese message."""


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


def _diff(before: dict, after: dict) -> tuple[dict, dict]:
    keys = [k for k in after if before.get(k) != after.get(k)]
    return {k: before.get(k) for k in keys}, {k: after.get(k) for k in keys}


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
    "title", "place", "description", "latitude", "longitude", "zone_id", "unit_id",
}


def _activity_changed(activity: Activity, new: dict) -> None:
    from portal.signups import services as signups

    now = now_utc()
    for shift in activity.shifts:
        if shift.is_cancelled or shift.ends_at <= now:
            continue
        shift.sequence += 1
        if "place" in new:
            signups.notify_shift_changed(shift, _("地点改为：%(place)s", place=activity.place))
    db.session.flush()


def publish_activity(actor: User, activity: Activity) -> None:
    """Make a draft activity visible to residents."""
    if activity.status != ActivityStatus.DRAFT:
        raise OrganizeError(_("只有草稿状态的活动可以发布。"))
    if not any(not s.is_cancelled for s in activity.shifts):
        raise OrganizeError(_("请先添加至少一个班次再发布。"))
    activity.status = ActivityStatus.PUBLISHED
    activity.published_at = utcnow()
    db.session.flush()
    audit.record(
        "activity.publish", activity, activity.title,
        {"status": "draft"}, {"status": "published"}, actor=actor,
    )


def cancel_activity(actor: User, activity: Activity, reason: str) -> int:
    """Cancel an activity and its open shifts, tell everyone signed up; return shifts touched.

    Sign-ups stay as they are so that personal calendars show the event as cancelled
    (each shift's SEQUENCE is raised) instead of it silently vanishing.
    """
    from portal.signups import services as signups

    if activity.status == ActivityStatus.CANCELLED:
        raise OrganizeError(_("这个活动已经取消了。"))
    reason = (reason or "").strip()
    if not reason:
        raise OrganizeError(_("请填写取消原因，报名的人会收到这条说明。"))
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
        shift.sequence += 1
        touched += 1
    db.session.flush()
    signups.notify_activity_cancelled(activity, reason)
    audit.record(
        "activity.cancel", activity, reason,
        {"status": str(before)}, {"status": "cancelled", "reason": reason}, actor=actor,
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
        "activity.duplicate", copy, _("复制自活动 #%(id)d", id=activity.id),
        {"source_id": activity.id}, {"id": copy.id, "shifts": len(copy.shifts)}, actor=actor,
    )
    return copy


# --- shifts: expansion -----------------------------------------------------------------------


@dataclass(frozen=True)
class Slot:
    """A local wall-clock time slot, e.g. 07:00–08:00."""

    start: time
    end: time


@dataclass(frozen=True)
class Occurrence:
    """A concrete shift time in UTC."""

    starts_at: datetime
    ends_at: datetime


def parse_slots(text: str) -> list[Slot]:
    """Parse "07:00-08:00, 16:30-17:30" (one or more, comma or newline separated)."""
    slots: list[Slot] = []
    parts = [p.strip() for p in text.replace("\n", ",").replace("，", ",").split(",")]
    for part in filter(None, parts):
        bits = part.replace("–", "-").replace("—", "-").replace("~", "-").split("-")
        if len(bits) != 2:
            raise OrganizeError(_("时段“%(s)s”看不懂，请写成 07:00-08:00。", s=part[:30]))
        try:
            start, end = (time.fromisoformat(b.strip().replace("：", ":")) for b in bits)
        except ValueError:
            raise OrganizeError(
                _("时段“%(s)s”看不懂，请写成 07:00-08:00。", s=part[:30])
            ) from None
        if end <= start:
            raise OrganizeError(_("时段“%(s)s”的结束时间要晚于开始时间。", s=part[:30]))
        slots.append(Slot(start, end))
    if not slots:
        raise OrganizeError(_("请至少填写一个时段，例如 07:00-08:00。"))
    if len(set(slots)) != len(slots):
        raise OrganizeError(_("时段有重复，请检查。"))
    return sorted(slots, key=lambda s: s.start)


def _occurrences(days: Iterable[date], slots: Sequence[Slot]) -> list[Occurrence]:
    """Concrete times for each day × slot, leaving out those that have already started."""
    result: list[Occurrence] = []
    now = now_utc()
    for day in days:
        for slot in slots:
            starts_at = local_to_utc(day, slot.start)
            if starts_at <= now:
                continue  # today's morning slot when planning at noon: nothing to staff
            result.append(Occurrence(starts_at, local_to_utc(day, slot.end)))
            if len(result) > MAX_SHIFTS_PER_REQUEST:
                raise OrganizeError(
                    _(
                        "一次最多创建 %(max)d 个班次，这次会超过上限。"
                        "请缩短日期范围或减少时段，分几次创建。",
                        max=MAX_SHIFTS_PER_REQUEST,
                    )
                )
    return result


def expand_bulk(
    first: date, last: date, weekdays: Iterable[int], slots: Sequence[Slot]
) -> list[Occurrence]:
    """Expand a date range × weekdays (0 = Monday) × time slots into shift times."""
    weekdays = set(weekdays)
    if last < first:
        raise OrganizeError(_("结束日期不能早于开始日期。"))
    if not weekdays:
        raise OrganizeError(_("请至少选择一个星期几。"))
    if (last - first).days > 366:
        raise OrganizeError(_("日期范围最长一年。"))
    days = (
        first + timedelta(days=n)
        for n in range((last - first).days + 1)
        if (first + timedelta(days=n)).weekday() in weekdays
    )
    result = _occurrences(days, slots)
    if not result:
        raise OrganizeError(
            _("这个日期范围里没有所选星期几的、尚未开始的时段，没有可创建的班次。")
        )
    return result


def expand_rule(rule: str, first: date, slots: Sequence[Slot]) -> list[Occurrence]:
    """Expand an RFC 5545 RRULE (FREQ=WEEKLY;BYDAY=MO,WE;COUNT=12) from ``first`` into times.

    Only the dates of the occurrences count; each date gets every slot. Rules must end
    (COUNT or UNTIL) within the per-request limit.
    """
    text = (rule or "").strip()
    if text.upper().startswith("RRULE:"):
        text = text[6:]
    if not text or len(text) > 300 or "\n" in text:
        raise OrganizeError(_("重复规则看不懂，请写成 FREQ=WEEKLY;BYDAY=MO,WE,FR;COUNT=12。"))
    try:
        parsed = rrulestr(text, dtstart=datetime.combine(first, time(0, 0)), ignoretz=True)
    except (ValueError, TypeError, OverflowError, AttributeError, KeyError):
        raise OrganizeError(
            _("重复规则看不懂，请写成 FREQ=WEEKLY;BYDAY=MO,WE,FR;COUNT=12。")
        ) from None
    upper = text.upper()
    if "COUNT=" not in upper and "UNTIL=" not in upper:
        raise OrganizeError(_("重复规则需要 COUNT（次数）或 UNTIL（截止日期），否则会无限重复。"))
    if getattr(parsed, "_freq", None) not in (DAILY, WEEKLY, MONTHLY):
        raise OrganizeError(_("重复规则只支持按天（DAILY）、按周（WEEKLY）或按月（MONTHLY）。"))
    try:
        seen: list[date] = []
        for occurrence in islice(parsed, _RRULE_SCAN_LIMIT + 1):
            day = occurrence.date()
            if not seen or seen[-1] != day:
                seen.append(day)
            if len(seen) * len(slots) > MAX_SHIFTS_PER_REQUEST:
                break
    except (ValueError, TypeError, OverflowError):
        raise OrganizeError(_("重复规则无法展开，请检查日期。")) from None
    if not seen:
        raise OrganizeError(_("按这个重复规则没有任何日期，请检查。"))
    result = _occurrences(seen, slots)
    if not result:
        raise OrganizeError(_("按这个重复规则的时间都已经过去，没有可创建的班次。"))
    return result


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


# --- roster ----------------------------------------------------------------------------------

_STATUS_ORDER = {
    SignupStatus.CONFIRMED: 0,
    SignupStatus.PENDING: 1,
    SignupStatus.WAITLISTED: 2,
    SignupStatus.CANCELLED: 3,
    SignupStatus.REJECTED: 4,
}


def roster(shift: Shift) -> list[Signup]:
    """Return every sign-up of a shift: confirmed, pending, waitlist (in order), then the rest."""
    return rosters([shift]).get(shift.id, [])


def rosters(shifts: Sequence[Shift]) -> dict[int, list[Signup]]:
    """Return {shift_id: roster} for several shifts in two statements."""
    if not shifts:
        return {}
    rows = db.session.scalars(
        select(Signup)
        .where(Signup.shift_id.in_([s.id for s in shifts]))
        .options(selectinload(Signup.user))
    )
    grouped: dict[int, list[Signup]] = {s.id: [] for s in shifts}
    for signup in rows:
        grouped[signup.shift_id].append(signup)
    far = datetime.max.replace(tzinfo=UTC)
    for items in grouped.values():
        items.sort(
            key=lambda s: (_STATUS_ORDER.get(s.status, 9), s.queued_at or s.created_at or far, s.id)
        )
    return grouped


def walk_in(
    actor: User, shift: Shift, phone: str, name: str, over_capacity: bool = False
) -> tuple[User, bool]:
    """Put a person who turned up on site on the roster; return them and whether they are new.

    The write lock is taken before anything is written, so a refusal (shift cancelled, full)
    leaves no new person record behind when the view rolls back.
    """
    from portal.database import begin_write
    from portal.signups import services as signups

    begin_write(db.session())
    user, created = find_or_create_walk_in(phone, name)
    signups.add_walk_in(actor, shift, user, over_capacity=over_capacity)
    return user, created


def find_or_create_walk_in(phone: str, name: str) -> tuple[User, bool]:
    """Find a person by phone, or create a minimal record (name + phone, no password)."""
    from portal.auth.services import find_by_phone

    user = find_by_phone(phone)
    if user is not None:
        return user, False
    name = (name or "").strip()
    if not name:
        raise OrganizeError(_("这个手机号还没有注册，请同时填写姓名，系统会为他建一个简单档案。"))
    user = User(phone=phone, real_name=name[:40], password_hash=None)
    db.session.add(user)
    db.session.flush()
    # The user id is enough to trace it; the phone stays out of the log (PIPL: minimum).
    audit.record("user.create_walk_in", user, _("现场登记"))
    return user, True


# --- exports ---------------------------------------------------------------------------------

_STATUS_LABELS = {
    "confirmed": "已确认",
    "pending": "待审核",
    "waitlisted": "候补",
    "cancelled": "已取消",
    "rejected": "未通过",
}
_ATTENDANCE_LABELS = {"attended": "已到", "no_show": "缺席"}


def export_header() -> list[str]:
    """Return the column titles of roster and attendance exports."""
    return [
        _("活动"), _("班次开始"), _("班次结束"), _("岗位"), _("序号"), _("姓名"), _("手机号"),
        _("状态"), _("报名方式"), _("签到时间"), _("签退时间"), _("出勤"), _("时长（小时）"),
    ]


def export_rows(shifts: Sequence[Shift], active_only: bool = False) -> list[list]:
    """Return one row per sign-up of the shifts, in roster order, times in the site zone."""
    rows: list[list] = []

    def local(value: datetime | None) -> str:
        return to_local(value).strftime("%Y-%m-%d %H:%M") if value else ""

    by_shift = rosters(shifts)
    for shift in shifts:
        number = 0
        for signup in by_shift[shift.id]:
            if active_only and signup.status not in ACTIVE_STATUSES:
                continue
            number += 1
            rows.append(
                [
                    shift.activity.title,
                    local(shift.starts_at),
                    local(shift.ends_at),
                    shift.post_name,
                    number,
                    signup.user.real_name,
                    signup.user.phone or "",
                    _(_STATUS_LABELS.get(str(signup.status), str(signup.status))),
                    {"walk_in": _("现场"), "organizer": _("组织方添加")}.get(
                        signup.source, _("自行报名")
                    ),
                    local(signup.checked_in_at),
                    local(signup.checked_out_at),
                    _(_ATTENDANCE_LABELS[str(signup.attendance)]) if signup.attendance else "",
                    float(signup.hours) if signup.hours is not None else "",
                ]
            )
    return rows


def _safe_cell(value):
    # Cells starting with = + - @ would run as formulas in Excel (CSV injection).
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@"):
        return "'" + value
    return value


def to_csv(header: list[str], rows: list[list]) -> bytes:
    """Return CSV bytes with a UTF-8 BOM so that Excel shows Chinese correctly."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow([_safe_cell(v) for v in row])
    return buf.getvalue().encode("utf-8-sig")


def to_xlsx(title: str, header: list[str], rows: list[list]) -> bytes:
    """Return an XLSX workbook with one sheet, a bold header and sensible widths."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    wb = Workbook()
    ws = wb.active
    ws.title = (title or "roster")[:31].translate(str.maketrans("[]:*?/\\", "（）：＊？／＼"))
    ws.append(header)
    for cell in ws[1]:
        cell.font = Font(bold=True)
    for row in rows:
        ws.append([_safe_cell(v) for v in row])
    ws.freeze_panes = "A2"
    widths = [28, 17, 17, 12, 6, 10, 14, 8, 10, 17, 17, 6, 10]
    for idx, width in enumerate(widths, start=1):
        ws.column_dimensions[ws.cell(row=1, column=idx).column_letter].width = width
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


# --- messages --------------------------------------------------------------------------------


def recipients(shifts: Sequence[Shift]) -> list[User]:
    """Return the distinct people with an active sign-up on any of these shifts."""
    if not shifts:
        return []
    return list(
        db.session.scalars(
            select(User)
            .join(Signup, Signup.user_id == User.id)
            .where(
                Signup.shift_id.in_([s.id for s in shifts]),
                Signup.status.in_(ACTIVE_STATUSES),
                User.deleted_at.is_(None),
            )
            .distinct()
            .order_by(User.id)
        )
    )


def send_notice(actor: User, target: Activity | Shift, title: str, body: str) -> int:
    """Send a notice to everyone on a shift or an activity (inbox, and e-mail when set up)."""
    from portal.notifications.mail import send_to_users

    if isinstance(target, Shift):
        shifts = [target]
        activity = target.activity
        prefix = f"{activity.title} {fmt_short(target.starts_at)}"
    else:
        shifts = list(target.shifts)
        activity = target
        prefix = activity.title
    people = recipients(shifts)
    if not people:
        raise OrganizeError(_("目前没有人报名，消息没有发出。"))
    link = url_for("browse.activity", activity_id=activity.id)
    full_title = f"【{prefix}】{title}"[:200]
    count = notify_many(people, "notice", full_title, body, link)
    emailed = send_to_users(people, full_title, body)
    audit.record(
        "message.send", target, title,
        after={"recipients": count, "emailed": emailed, "title": title, "body": body[:500]},
        actor=actor,
    )
    return count


# --- reminders -------------------------------------------------------------------------------

REMINDER_LEAD = timedelta(hours=25)


def send_due_reminders(now: datetime | None = None) -> int:
    """Remind each confirmed volunteer once, within 25 hours before their shift starts.

    Safe to run as often as cron likes: a sign-up with ``reminder_sent_at`` set is skipped,
    and shifts that already started, cancelled shifts and unpublished activities get none.
    """
    from portal.notifications.mail import send_to_users
    from portal.notifications.services import notify

    now = now or now_utc()
    due = list(
        db.session.scalars(
            select(Signup)
            .join(Shift, Signup.shift_id == Shift.id)
            .join(Activity, Shift.activity_id == Activity.id)
            .where(
                Signup.status == SignupStatus.CONFIRMED,
                Signup.reminder_sent_at.is_(None),
                Shift.status == ShiftStatus.SCHEDULED,
                Activity.status == ActivityStatus.PUBLISHED,
                Shift.starts_at > now,
                Shift.starts_at <= now + REMINDER_LEAD,
            )
            .order_by(Shift.starts_at, Signup.id)
            .with_for_update(skip_locked=True, of=Signup)
        )
    )
    for signup in due:
        shift = signup.shift
        activity = shift.activity
        title = _("明天提醒：%(title)s", title=activity.title)
        body = _(
            "你报名的班次 %(when)s 在 %(place)s，请准时到达。如不能参加，请尽早在“我的”中取消。",
            when=fmt_range(shift.starts_at, shift.ends_at),
            place=activity.place,
        )
        notify(signup.user, "reminder", title, body, f"/activities/{activity.id}#shift-{shift.id}")
        send_to_users([signup.user], title, body)
        signup.reminder_sent_at = now
    db.session.flush()
    return len(due)

"""Volunteer hours: the organizer confirms and adjusts them; overdue records; no-shows; my hours.

- Hours are confirmed from the moment a person is marked attended (organizers often confirm
  at the gate shortly before the scheduled end), one by one or for the whole shift.
- Adjusting sets new hours with a reason and confirms them (the organizer has fixed the
  value, Art. 11); a confirmed record can be adjusted again. Every adjustment is a
  :class:`~portal.models.HoursAdjustment` row (old, new, reason, who, when).
- Hours are 0–24 in 0.5 steps; community activities never earn hours (Art. 19).
- A record is *overdue* when it is still not confirmed (or nobody recorded attendance) after
  10 working days from the shift's end day: Monday to Friday count, public holidays and
  swapped working weekends are ignored (a fixed calendar would need yearly upkeep; the list
  errs on the early side).

What counts as a confirmed record lives in :mod:`portal.attendance.records`. Services flush;
the calling view commits once.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation

from flask_babel import gettext as _
from sqlalchemy import func, select
from sqlalchemy.orm import joinedload

from portal.attendance import records
from portal.attendance.services import (
    HOURS_STEP,
    MAX_HOURS,
    AttendanceError,
    default_hours,
    lock_signup,
    snapshot,
)
from portal.audit.services import record
from portal.extensions import db
from portal.models import (
    Activity,
    ActivityKind,
    Attendance,
    HoursAdjustment,
    Shift,
    Signup,
    SignupStatus,
    User,
    shift_is_live,
)
from portal.signups import places
from portal.timeutil import to_local

WORKING_DAYS_TO_RECORD = 10


# --- validation -------------------------------------------------------------------------------


def parse_hours(value) -> Decimal:
    """Turn typed hours into a Decimal of 0–24 in 0.5 steps.

    :raises AttendanceError: (field ``hours``) with a sentence saying what is allowed.
    """
    message = _("时长须为 0 到 24 之间的数，以 0.5 小时为单位（如 2 或 2.5）。")
    try:
        hours = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise AttendanceError(message, field="hours") from None
    if not hours.is_finite() or hours < 0 or hours > MAX_HOURS or hours % HOURS_STEP != 0:
        raise AttendanceError(message, field="hours")
    return hours.quantize(Decimal("0.1"))


def _check_confirmable(signup: Signup, shift: Shift) -> None:
    if shift.is_off:
        raise AttendanceError(_("这个班次已取消，不能确认时长。"))
    if not shift.activity.is_volunteer:
        raise AttendanceError(_("社区活动的参与不计志愿服务时长。"))
    if signup.status != SignupStatus.CONFIRMED or signup.attendance != Attendance.ATTENDED:
        raise AttendanceError(_("先记为到场，才能确认时长。"))


# --- confirming and adjusting ---------------------------------------------------------------


def _confirm(actor: User, signup: Signup, shift: Shift, now: datetime) -> bool:
    _check_confirmable(signup, shift)
    if signup.hours_confirmed_at is not None:
        return False
    before = snapshot(signup)
    if signup.hours is None:
        signup.hours = default_hours(shift, signup.checked_in_at, signup.checked_out_at)
    signup.hours_confirmed_at = now
    signup.hours_confirmed_by_id = actor.id
    record("hours.confirm", signup, str(signup.hours), before, snapshot(signup), actor=actor)
    return True


def confirm_hours(actor: User, signup: Signup, now: datetime) -> Signup:
    """Confirm the record's hours as they stand (the default unless adjusted).

    :raises AttendanceError: not attended, a community activity, or the shift is off.
    """
    signup, shift = lock_signup(signup)
    _confirm(actor, signup, shift, now)
    db.session.flush()
    return signup


def confirm_all_hours(actor: User, shift: Shift, now: datetime) -> int:
    """Confirm the hours of everyone marked attended on the shift; return how many changed.

    :raises AttendanceError: the shift is off or belongs to a community activity.
    """
    places.lock([shift.id], with_holders=True)
    fresh = places.fresh_shift(shift.id)
    if fresh is None:
        raise AttendanceError(_("没有找到这个班次，它可能已被删除。"))
    if fresh.is_off:
        raise AttendanceError(_("这个班次已取消，不能确认时长。"))
    if not fresh.activity.is_volunteer:
        raise AttendanceError(_("社区活动的参与不计志愿服务时长。"))
    signups = db.session.scalars(
        select(Signup)
        .where(
            Signup.shift_id == fresh.id,
            Signup.status == SignupStatus.CONFIRMED,
            Signup.attendance == Attendance.ATTENDED,
            Signup.hours_confirmed_at.is_(None),
        )
        .order_by(Signup.id)
        .execution_options(populate_existing=True)
    ).all()
    changed = sum(1 for s in signups if _confirm(actor, s, fresh, now))
    db.session.flush()
    return changed


def adjust_hours(actor: User, signup: Signup, hours, reason: str, now: datetime) -> Signup:
    """Set the record's hours by hand, with a reason, and confirm them.

    :raises AttendanceError: bad hours (field ``hours``), no reason (field ``reason``), the
        same value as now, or a record that cannot hold hours.
    """
    new = parse_hours(hours)
    reason = (reason or "").strip()
    if not reason:
        raise AttendanceError(_("调整时长请写明原因（会保存在记录中）。"), field="reason")
    signup, shift = lock_signup(signup)
    _check_confirmable(signup, shift)
    old = signup.hours
    if old is not None and Decimal(old) == new:
        raise AttendanceError(_("新时长与现在的相同，无需调整。"), field="hours")
    before = snapshot(signup)
    db.session.add(
        HoursAdjustment(
            signup_id=signup.id,
            old_hours=old,
            new_hours=new,
            reason=reason,
            actor_id=actor.id,
            created_at=now,
        )
    )
    signup.hours = new
    signup.hours_confirmed_at = now
    signup.hours_confirmed_by_id = actor.id
    after = snapshot(signup) | {"reason": reason}
    record("hours.adjust", signup, reason, before, after, actor=actor)
    db.session.flush()
    return signup


def adjustments(signup_ids: Iterable[int]) -> dict[int, list[HoursAdjustment]]:
    """Each record's adjustments, oldest first, by sign-up id."""
    ids = list(signup_ids)
    if not ids:
        return {}
    rows = db.session.scalars(
        select(HoursAdjustment)
        .where(HoursAdjustment.signup_id.in_(ids))
        .options(joinedload(HoursAdjustment.actor))
        .order_by(HoursAdjustment.created_at, HoursAdjustment.id)
    )
    out: dict[int, list[HoursAdjustment]] = {}
    for row in rows:
        out.setdefault(row.signup_id, []).append(row)
    return out


# --- overdue ----------------------------------------------------------------------------------


def add_working_days(day: date, n: int) -> date:
    """The date ``n`` working days (Mon–Fri, holidays ignored) after ``day``."""
    while n > 0:
        day += timedelta(days=1)
        if day.weekday() < 5:
            n -= 1
    return day


def record_deadline(shift: Shift) -> date:
    """The last local day to record the shift's hours: 10 working days after its end day."""
    return add_working_days(to_local(shift.ends_at).date(), WORKING_DAYS_TO_RECORD)


def is_overdue(shift: Shift, now: datetime) -> bool:
    return to_local(now).date() > record_deadline(shift)


@dataclass
class OverdueRecord:
    signup: Signup
    deadline: date

    @property
    def unmarked(self) -> bool:
        return self.signup.attendance is None


def _overdue_query(unit_ids: list[int] | None, now: datetime):
    # 10 working days are at least 12 calendar days: a cheap bound for the database, the
    # exact rule in Python.
    stmt = (
        select(Signup)
        .join(Shift, Shift.id == Signup.shift_id)
        .join(Activity, Activity.id == Shift.activity_id)
        .where(
            Activity.kind == ActivityKind.VOLUNTEER,
            shift_is_live(),
            Signup.status == SignupStatus.CONFIRMED,
            Shift.ends_at < now - timedelta(days=12),
            Signup.hours_confirmed_at.is_(None),
            (Signup.attendance.is_(None)) | (Signup.attendance == Attendance.ATTENDED),
        )
    )
    if unit_ids is not None:
        stmt = stmt.where(Activity.unit_id.in_(unit_ids))
    return stmt


def _unit_scope(user: User) -> list[int] | None:
    return None if user.is_admin else [u.id for u in user.units]


def overdue_records(user: User, now: datetime) -> list[OverdueRecord]:
    """Records of the user's units (all units for admins) past the 10-working-day limit."""
    stmt = (
        _overdue_query(_unit_scope(user), now)
        .options(
            joinedload(Signup.user),
            joinedload(Signup.shift).joinedload(Shift.activity).joinedload(Activity.unit),
        )
        .order_by(Shift.ends_at, Shift.id, Signup.id)
    )
    out = []
    for signup in db.session.scalars(stmt).unique():
        if is_overdue(signup.shift, now):
            out.append(OverdueRecord(signup, record_deadline(signup.shift)))
    return out


def overdue_count(user: User, now: datetime) -> int:
    """How many records of the user's units are overdue (for the organizer's home)."""
    stmt = _overdue_query(_unit_scope(user), now).with_only_columns(Shift.ends_at)
    return sum(1 for ends_at in db.session.scalars(stmt) if _deadline_passed(ends_at, now))


def _deadline_passed(ends_at: datetime, now: datetime) -> bool:
    deadline = add_working_days(to_local(ends_at).date(), WORKING_DAYS_TO_RECORD)
    return to_local(now).date() > deadline


# --- no-shows ---------------------------------------------------------------------------------


def no_show_counts(user_ids: Iterable[int], exclude_shift_id: int | None = None) -> dict[int, int]:
    """{user id: number of shifts (that took place) they were marked no-show}; zeros left out.

    :param exclude_shift_id: leave this shift out (the roster shows *earlier* no-shows).
    """
    ids = list(set(user_ids))
    if not ids:
        return {}
    stmt = (
        select(Signup.user_id, func.count(Signup.id))
        .join(Shift, Shift.id == Signup.shift_id)
        .join(Activity, Activity.id == Shift.activity_id)
        .where(Signup.user_id.in_(ids), Signup.attendance == Attendance.NO_SHOW, shift_is_live())
        .group_by(Signup.user_id)
    )
    if exclude_shift_id is not None:
        stmt = stmt.where(Signup.shift_id != exclude_shift_id)
    return {user_id: n for user_id, n in db.session.execute(stmt) if n}


# --- my hours ---------------------------------------------------------------------------------


def my_hours(user_id: int) -> dict:
    """Everything "我的时长" shows: total, by year, records, stars, pending, no-shows."""
    confirmed = records.confirmed_records(user_id)
    total = sum((Decimal(s.hours) for s in confirmed), Decimal(0))
    by_year: dict[int, Decimal] = {}
    for s in confirmed:
        year = to_local(s.shift.starts_at).year
        by_year[year] = by_year.get(year, Decimal(0)) + Decimal(s.hours)
    return {
        "total": total,
        "by_year": sorted(by_year.items(), reverse=True),
        "records": [records.record_fields(s) for s in reversed(confirmed)],
        "progress": records.star_progress(total),
        "pending": records.pending_hours(user_id),
        "no_shows": no_show_counts([user_id]).get(user_id, 0),
    }

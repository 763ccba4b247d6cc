"""Attendance and hours: check-in and check-out, the organizer's marks, the default hours.

Who calls what:
- the self check-in on site (QR) calls :func:`check_in` and :func:`check_out`; the caller
  holds the shift lock (``places.lock([shift_id], [user_id])``) and passes ``now``;
- the organizer's roster calls :func:`mark_attended`, :func:`mark_no_show`,
  :func:`mark_all_attended`, :func:`undo_attendance` and the hours functions, which take
  the lock themselves.

Rules (one place, so the roster, the QR screen and the tests agree):
- only a *confirmed* sign-up on a shift that takes place can be marked;
- check-in (attended) opens :data:`CHECKIN_OPENS_BEFORE` before the start; a QR check-in
  closes at the shift's end, the organizer may mark attended any time later;
- a no-show can be marked only once the shift has started;
- a mark is changed only by undoing it, with a reason (audit log, before/after).

Default hours (:func:`default_hours`, volunteer activities only — community attendance never
earns hours, records rules Art. 19): check-in to check-out clipped to the scheduled shift
when both times exist, otherwise the scheduled length; rounded *down* to a 0.5-hour step
(time beyond the shift, such as travel, does not count, and a started half hour is not a
served one). The default is (re)computed while the hours are neither confirmed nor changed
by hand; every change after that is an :class:`~portal.models.HoursAdjustment`.

Services flush; the calling view commits once.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from decimal import Decimal

from flask_babel import gettext as _
from sqlalchemy import select

from portal.audit.services import record
from portal.domain import DomainError
from portal.extensions import db
from portal.models import (
    Attendance,
    CheckinMethod,
    HoursAdjustment,
    Shift,
    Signup,
    SignupStatus,
    User,
)
from portal.signups import places
from portal.timeutil import fmt_short, fmt_time

CHECKIN_OPENS_BEFORE = timedelta(minutes=30)
HOURS_STEP = Decimal("0.5")
MAX_HOURS = Decimal("24")


class AttendanceError(DomainError):
    """An attendance or hours rule refused the request; ``str(exc)`` is the message."""


# --- the default hours ------------------------------------------------------------------------


def floor_to_step(hours: float | Decimal) -> Decimal:
    """Round hours down to the 0.5-hour step, between 0 and 24."""
    steps = math.floor(Decimal(str(hours)) / HOURS_STEP)
    return min(max(Decimal(steps) * HOURS_STEP, Decimal(0)), MAX_HOURS).quantize(Decimal("0.1"))


def default_hours(
    shift: Shift, checked_in_at: datetime | None = None, checked_out_at: datetime | None = None
) -> Decimal | None:
    """The hours an attended person earns by default, or None for a community activity.

    Check-in to check-out clipped to the shift when both exist, else the scheduled length;
    floored to 0.5 hours.
    """
    if not shift.activity.is_volunteer:
        return None
    if checked_in_at is not None and checked_out_at is not None:
        start = max(checked_in_at, shift.starts_at)
        end = min(checked_out_at, shift.ends_at)
        seconds = max((end - start).total_seconds(), 0)
    else:
        seconds = (shift.ends_at - shift.starts_at).total_seconds()
    return floor_to_step(Decimal(str(seconds)) / 3600)


def _hand_set(signup: Signup) -> bool:
    """Tell whether the hours were last set by hand (an adjustment to a value, not undone)."""
    latest = db.session.scalar(
        select(HoursAdjustment)
        .where(HoursAdjustment.signup_id == signup.id)
        .order_by(HoursAdjustment.id.desc())
        .limit(1)
    )
    return latest is not None and latest.new_hours is not None


def refresh_default_hours(signup: Signup, shift: Shift) -> None:
    """Set the default hours of an attended record unless confirmed or changed by hand."""
    if signup.attendance != Attendance.ATTENDED or signup.hours_confirmed_at is not None:
        return
    if signup.id is not None and _hand_set(signup):
        return
    signup.hours = default_hours(shift, signup.checked_in_at, signup.checked_out_at)


# --- shared checks ----------------------------------------------------------------------------


def snapshot(signup: Signup) -> dict:
    """The attendance and hours of a sign-up, for the audit log's before/after."""

    def iso(value):
        return value.isoformat() if value is not None else None

    return {
        "attendance": str(signup.attendance) if signup.attendance else None,
        "checked_in_at": iso(signup.checked_in_at),
        "checked_out_at": iso(signup.checked_out_at),
        "method": str(signup.checkin_method) if signup.checkin_method else None,
        "hours": str(signup.hours) if signup.hours is not None else None,
        "hours_confirmed_at": iso(signup.hours_confirmed_at),
    }


def _check_markable(signup: Signup, shift: Shift) -> None:
    if shift.is_off:
        raise AttendanceError(_("这个班次已取消，不能签到或记录出勤。"))
    if signup.status != SignupStatus.CONFIRMED:
        raise AttendanceError(_("只有已确认的报名才能记录出勤。"))


def checkin_opens_at(shift: Shift) -> datetime:
    """When check-in (marking attended) opens: 30 minutes before the start."""
    return shift.starts_at - CHECKIN_OPENS_BEFORE


def can_check_in(shift: Shift, now: datetime) -> bool:
    """Tell whether people may be marked attended on this shift now (organizer side)."""
    return not shift.is_off and now >= checkin_opens_at(shift)


def can_mark_no_show(shift: Shift, now: datetime) -> bool:
    """Tell whether people may be marked no-show now: once the shift has started."""
    return not shift.is_off and now >= shift.starts_at


def _check_checkin_window(shift: Shift, now: datetime) -> None:
    if now < checkin_opens_at(shift):
        raise AttendanceError(
            _("签到从开始前30分钟（%(at)s）起开放。", at=fmt_short(checkin_opens_at(shift)))
        )


# --- self check-in (the caller holds the lock) ------------------------------------------------


def check_in(signup: Signup, method: CheckinMethod, now: datetime) -> Signup:
    """Check the person in: attended, with the time and how; sets the default hours.

    The caller holds the shift lock and passes a re-read sign-up. Checking in again changes
    nothing (the first time stays). A QR check-in is accepted from 30 minutes before the
    start to the end; it also replaces an earlier no-show mark (the person is there).

    :raises AttendanceError: the sign-up is not confirmed, the shift is off, or ``now`` is
        outside the window.
    """
    shift = signup.shift
    _check_markable(signup, shift)
    _check_checkin_window(shift, now)
    if method == CheckinMethod.QR and now > shift.ends_at:
        raise AttendanceError(_("这个班次已经结束，不能再扫码签到。"))
    if signup.attendance == Attendance.ATTENDED and signup.checked_in_at is not None:
        return signup
    before = snapshot(signup)
    signup.attendance = Attendance.ATTENDED
    signup.checked_in_at = now
    signup.checkin_method = method
    refresh_default_hours(signup, shift)
    db.session.flush()
    record("attendance.check_in", signup, str(method), before, snapshot(signup))
    return signup


def check_out(signup: Signup, now: datetime) -> Signup:
    """Check the person out; the default hours become check-in→check-out, clipped.

    The caller holds the shift lock. Checking out again changes nothing (the first time
    stays).

    :raises AttendanceError: the person has not checked in, or ``now`` is before check-in.
    """
    shift = signup.shift
    _check_markable(signup, shift)
    if signup.attendance != Attendance.ATTENDED or signup.checked_in_at is None:
        raise AttendanceError(_("你还没有签到，不能签退。"))
    if signup.checked_out_at is not None:
        return signup
    if now < signup.checked_in_at:
        raise AttendanceError(
            _("签退时间不能早于签到时间（%(at)s）。", at=fmt_time(signup.checked_in_at))
        )
    before = snapshot(signup)
    signup.checked_out_at = now
    refresh_default_hours(signup, shift)
    db.session.flush()
    record("attendance.check_out", signup, "", before, snapshot(signup))
    return signup


# --- the organizer (the calling view checks permissions) --------------------------------------


def lock_signup(signup: Signup) -> tuple[Signup, Shift]:
    """Take the shift's and the person's lock; return the sign-up and shift re-read."""
    places.lock([signup.shift_id], [signup.user_id])
    fresh = db.session.get(Signup, signup.id, populate_existing=True)
    shift = places.fresh_shift(signup.shift_id)
    if fresh is None or shift is None:
        raise AttendanceError(_("没有找到这条报名记录。"))
    return fresh, shift


def _mark_attended(actor: User, signup: Signup, shift: Shift, now: datetime) -> bool:
    """Mark one locked sign-up attended; return False when it already was."""
    _check_markable(signup, shift)
    _check_checkin_window(shift, now)
    if signup.attendance == Attendance.ATTENDED:
        return False
    if signup.attendance == Attendance.NO_SHOW:
        raise AttendanceError(_("此人已记为缺席；如需更改，请先撤销并写明原因。"))
    before = snapshot(signup)
    signup.attendance = Attendance.ATTENDED
    signup.checkin_method = CheckinMethod.ROSTER
    # Ticked at the gate during the shift: that is when they checked in. Ticked afterwards
    # (from paper), nobody knows the time, so none is invented.
    signup.checked_in_at = now if now <= shift.ends_at else None
    refresh_default_hours(signup, shift)
    record("attendance.attended", signup, _("记为到场"), before, snapshot(signup), actor=actor)
    return True


def mark_attended(actor: User, signup: Signup, now: datetime) -> Signup:
    """Mark a confirmed person attended (from 30 minutes before the start).

    :raises AttendanceError: not confirmed, shift off, too early, or marked no-show.
    """
    signup, shift = lock_signup(signup)
    _mark_attended(actor, signup, shift, now)
    db.session.flush()
    return signup


def mark_no_show(actor: User, signup: Signup, now: datetime) -> Signup:
    """Mark a confirmed person as not come (once the shift has started).

    :raises AttendanceError: not confirmed, shift off, not started, or marked attended.
    """
    signup, shift = lock_signup(signup)
    _check_markable(signup, shift)
    if now < shift.starts_at:
        raise AttendanceError(_("班次开始后才能记为缺席。"))
    if signup.attendance == Attendance.NO_SHOW:
        return signup
    if signup.attendance == Attendance.ATTENDED:
        raise AttendanceError(_("此人已记为到场；如需更改，请先撤销并写明原因。"))
    before = snapshot(signup)
    signup.attendance = Attendance.NO_SHOW
    signup.hours = None
    record("attendance.no_show", signup, _("记为缺席"), before, snapshot(signup), actor=actor)
    db.session.flush()
    return signup


def mark_all_attended(actor: User, shift: Shift, now: datetime) -> int:
    """Mark every confirmed person without a mark attended; return how many changed.

    People already marked (attended or no-show) keep their mark.

    :raises AttendanceError: the shift is off or check-in has not opened.
    """
    places.lock([shift.id], with_holders=True)
    fresh = places.fresh_shift(shift.id)
    if fresh is None:
        raise AttendanceError(_("没有找到这个班次，它可能已被删除。"))
    if fresh.is_off:
        raise AttendanceError(_("这个班次已取消，不能签到或记录出勤。"))
    _check_checkin_window(fresh, now)
    signups = db.session.scalars(
        select(Signup)
        .where(
            Signup.shift_id == fresh.id,
            Signup.status == SignupStatus.CONFIRMED,
            Signup.attendance.is_(None),
        )
        .order_by(Signup.id)
        .execution_options(populate_existing=True)
    ).all()
    changed = sum(1 for s in signups if _mark_attended(actor, s, fresh, now))
    db.session.flush()
    return changed


def _clean_reason(reason: str | None) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise AttendanceError(_("请写明原因（会记入操作日志）。"), field="reason")
    return reason


def undo_attendance(actor: User, signup: Signup, reason: str, now: datetime) -> Signup:
    """Take back an attended or no-show mark, with a reason; the hours go with it.

    Hours that were set are kept as an adjustment to nothing (old value, reason, who); a
    later mark starts again from the default.

    :raises AttendanceError: no reason, or nothing to undo.
    """
    reason = _clean_reason(reason)
    signup, shift = lock_signup(signup)
    if signup.attendance is None:
        raise AttendanceError(_("这个人还没有出勤记录，无需撤销。"))
    before = snapshot(signup)
    if signup.hours is not None:
        db.session.add(
            HoursAdjustment(
                signup_id=signup.id,
                old_hours=signup.hours,
                new_hours=None,
                reason=reason,
                actor_id=actor.id,
                created_at=now,
            )
        )
    signup.attendance = None
    signup.checked_in_at = None
    signup.checked_out_at = None
    signup.checkin_method = None
    signup.hours = None
    signup.hours_confirmed_at = None
    signup.hours_confirmed_by_id = None
    after = snapshot(signup) | {"reason": reason}
    record("attendance.undo", signup, reason, before, after, actor=actor)
    db.session.flush()
    return signup

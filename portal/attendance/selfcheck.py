"""Self check-in on site: a volunteer scans the shift's screen and checks in, later out.

Two steps, so that a link previewer or prefetcher opening the link changes nothing:
:func:`open_link` (GET, reads only) checks the code and the person's place and says what the
button will do; :func:`confirm` (POST, with the button's ticket) does it under the lock.

Who may check in: a person holding a *confirmed* place on the shift (pending and waitlisted
people talk to the organizer at the gate, who can check them in from the roster). When:
while check-in is open (:func:`window`: from
:func:`portal.attendance.services.checkin_opens_at`, 30 minutes before the start, until the
end). The check-in and check-out themselves are :func:`portal.attendance.services.check_in`
and :func:`~portal.attendance.services.check_out`, as for every attendance change.

Check-out: the same link, opened again in the last :data:`CHECKOUT_BEFORE_END` of the shift
and at least :data:`MIN_STAY` after checking in (so a double scan at the gate never checks
anybody out); in between the page says since when the person is checked in. The opening of a
link never writes: the page offers a button (POST, CSRF), safe against link prefetchers.

Lock protocol as everywhere (:mod:`portal.signups.places`): the shift, then the person;
re-read both under the lock. The service flushes; the view commits.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import func, select

from portal.attendance import codes, services
from portal.attendance.codes import CodeRefused, Refusal
from portal.attendance.services import AttendanceError
from portal.domain import DomainError
from portal.extensions import db
from portal.models import Attendance, CheckinMethod, Shift, Signup, SignupStatus, User
from portal.signups import places
from portal.timeutil import fmt_short, fmt_time

CHECKOUT_BEFORE_END = timedelta(minutes=30)
MIN_STAY = timedelta(minutes=10)


class SelfCheckError(DomainError):
    """Self check-in was refused; ``str(exc)`` says why, ``reason`` names the case."""

    def __init__(self, message: str, reason: str):
        super().__init__(message)
        self.reason = reason


class Action(enum.StrEnum):
    CHECK_IN = "check_in"
    CHECK_OUT = "check_out"


@dataclass
class Visit:
    """What opening the link found: the person's place and what the button would do."""

    shift: Shift
    signup: Signup
    action: Action | None  # None: nothing to do now (already in, not yet time; or done)
    ticket: str | None
    message: str


def _secret() -> str:
    return current_app.config["SECRET_KEY"]


def window(shift: Shift) -> tuple[datetime, datetime]:
    """When codes for this shift are accepted: (opens, closes), both inclusive."""
    return services.checkin_opens_at(shift), shift.ends_at


# --- the screen at the gate -----------------------------------------------------------------


def is_open(shift: Shift, now: datetime) -> bool:
    """Tell whether codes for this shift are accepted at ``now``."""
    opens, closes = window(shift)
    return not shift.is_off and opens <= now <= closes


def screen_code(shift: Shift, now: datetime) -> str | None:
    """The code the screen shows at ``now``, or None while check-in is not open."""
    return codes.make_code(shift.id, _secret(), now) if is_open(shift, now) else None


def screen_state(shift: Shift, now: datetime) -> tuple[str, str]:
    """("open" | "not_yet" | "closed", the sentence the screen shows about it)."""
    opens, closes = window(shift)
    if shift.is_off:
        return "closed", _("这个班次已取消，不能签到。")
    if now < opens:
        return "not_yet", _("签到将于 %(time)s 开放（开始前30分钟）。", time=fmt_short(opens))
    if now > closes:
        return "closed", _("班次已于 %(time)s 结束，签到已关闭。", time=fmt_short(closes))
    return "open", _("请用手机扫码签到；结束前30分钟内再扫一次即签退。")


def counts(shift: Shift) -> tuple[int, int]:
    """(checked in, confirmed) on the shift, for the screen."""
    checked_in, confirmed = db.session.execute(
        select(
            func.count(Signup.checked_in_at),
            func.count(Signup.id),
        ).where(Signup.shift_id == shift.id, Signup.status == SignupStatus.CONFIRMED)
    ).one()
    return int(checked_in), int(confirmed)


# --- the volunteer's side -------------------------------------------------------------------


def _refusal_message(reason: Refusal, shift: Shift) -> str:
    opens, closes = window(shift)
    if reason == Refusal.OTHER_SHIFT:
        return _("这个签到码属于另一个班次，不能用于本班次。请扫描你所在班次现场的二维码。")
    if reason == Refusal.EXPIRED:
        return _("这个签到码已过期（每分钟更新）。请重新扫描现场屏幕上的二维码。")
    if reason == Refusal.NOT_YET:
        return _("签到尚未开始：%(time)s 起（开始前30分钟）可以扫码签到。", time=fmt_short(opens))
    if reason == Refusal.CLOSED:
        return _(
            "班次已于 %(time)s 结束，签到已关闭。如需补登，请联系活动组织者。",
            time=fmt_short(closes),
        )
    return _("这个签到码无效，可能被改动过。请重新扫描现场屏幕上的二维码。")


def _refuse(exc: CodeRefused, shift: Shift) -> SelfCheckError:
    return SelfCheckError(_refusal_message(exc.reason, shift), exc.reason.value)


def _place_of(user: User, shift: Shift, signup: Signup | None) -> Signup:
    """The person's confirmed place on the shift. :raises SelfCheckError: otherwise."""
    if shift.is_off:
        raise SelfCheckError(_("这个班次已取消，不能签到。"), "shift_off")
    if signup is None:
        raise SelfCheckError(
            _("你没有报名这个班次，不能签到。如需现场加入，请找现场组织者。"), "no_place"
        )
    if signup.status == SignupStatus.WAITLISTED:
        raise SelfCheckError(
            _("你在这个班次的候补名单上，还没有名额，不能签到。请找现场组织者。"), "waitlisted"
        )
    if signup.status == SignupStatus.PENDING:
        raise SelfCheckError(_("你的报名还在等待组织者审核，不能签到。请找现场组织者。"), "pending")
    return signup


def next_action(signup: Signup, shift: Shift, now: datetime) -> Action | None:
    """What scanning now does: check in, check out, or nothing (not yet time / done)."""
    if signup.attendance != Attendance.ATTENDED or signup.checked_in_at is None:
        return Action.CHECK_IN
    if signup.checked_out_at is not None:
        return None
    return Action.CHECK_OUT if now >= checkout_from(signup, shift) else None


def checkout_from(signup: Signup, shift: Shift) -> datetime:
    """When a checked-in person may check out: the last half hour, and not at once."""
    return max(shift.ends_at - CHECKOUT_BEFORE_END, signup.checked_in_at + MIN_STAY)


def state_message(signup: Signup, shift: Shift) -> str:
    """Where the person stands: checked in since …, checked out at …, or not yet."""
    if signup.checked_out_at is not None:
        return _(
            "你已于 %(time)s 签退，本班次签到完成。谢谢你的服务！",
            time=fmt_time(signup.checked_out_at),
        )
    if signup.checked_in_at is not None:
        return _(
            "你已于 %(time)s 签到。%(out)s 起再扫一次现场二维码即可签退。",
            time=fmt_time(signup.checked_in_at),
            out=fmt_time(checkout_from(signup, shift)),
        )
    return _("你还没有签到。")


def open_link(user: User, shift: Shift, code: str, now: datetime) -> Visit:
    """Check a scanned code and the person's place; change nothing.

    :raises SelfCheckError: the code is refused, or the person has no confirmed place.
    """
    opens, closes = window(shift)
    try:
        codes.verify_code(
            code,
            shift_id=shift.id,
            opens=opens,
            closes=closes,
            secret=_secret(),
            now=now,
        )
    except CodeRefused as exc:
        raise _refuse(exc, shift) from None
    signup = _place_of(user, shift, places.active_signup(user.id, shift.id))
    action = next_action(signup, shift, now)
    ticket = codes.make_ticket(shift.id, user.id, _secret(), now) if action else None
    if action == Action.CHECK_IN:
        message = _("请点击下面的按钮确认签到。")
    elif action == Action.CHECK_OUT:
        message = _(
            "你已于 %(time)s 签到。现在可以签退：请点击下面的按钮。",
            time=fmt_time(signup.checked_in_at),
        )
    else:
        message = state_message(signup, shift)
    return Visit(shift, signup, action, ticket, message)


def confirm(user: User, shift_id: int, ticket: str, now: datetime) -> tuple[Action | None, Signup]:
    """Check the person in or out (whichever is due), under the shift's and person's lock.

    :returns: what was done (None: nothing was due, e.g. a second tap) and the sign-up.
    :raises SelfCheckError: the ticket is refused, or the person has no confirmed place.
    """
    places.lock([shift_id], [user.id])
    shift = places.fresh_shift(shift_id)
    if shift is None:
        raise SelfCheckError(_("这个班次不存在或已被删除。"), "no_shift")
    opens, closes = window(shift)
    try:
        codes.verify_ticket(
            ticket or "",
            shift_id=shift.id,
            user_id=user.id,
            opens=opens,
            closes=closes,
            secret=_secret(),
            now=now,
        )
    except CodeRefused as exc:
        raise _refuse(exc, shift) from None
    signup = _place_of(user, shift, places.active_signup(user.id, shift.id))
    action = next_action(signup, shift, now)
    try:
        if action == Action.CHECK_IN:
            services.check_in(signup, CheckinMethod.QR, now)
        elif action == Action.CHECK_OUT:
            services.check_out(signup, now)
    except AttendanceError as exc:
        raise SelfCheckError(str(exc), "attendance") from None
    return action, signup

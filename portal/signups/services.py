"""The sign-up rules. Views, the API and the CLI all call these functions.

(Skeleton: the full rule set arrives with the sign-up issue.)
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select

from portal.extensions import db
from portal.models import ACTIVE_STATUSES, Shift, Signup, SignupStatus
from portal.timeutil import now_utc


class ShiftState(enum.StrEnum):
    OPEN = "open"  # 可报名
    FULL_WAITLIST = "full_waitlist"  # 已满·可候补
    FULL = "full"  # 已满
    NOT_YET_OPEN = "not_yet_open"  # 未开始报名
    CLOSED = "closed"  # 已截止
    CANCELLED = "cancelled"  # 已取消
    SIGNED_UP = "signed_up"  # 已报名
    PENDING = "pending"  # 待审核
    WAITLISTED = "waitlisted"  # 候补中


def shift_state(shift: Shift, signup: Signup | None = None, now: datetime | None = None) -> ShiftState:
    """What a visitor should see for a shift, given their own sign-up (if any)."""
    now = now or now_utc()
    if shift.is_cancelled or not shift.activity.is_published:
        return ShiftState.CANCELLED
    if signup is not None and signup.status == SignupStatus.CONFIRMED:
        return ShiftState.SIGNED_UP
    if signup is not None and signup.status == SignupStatus.PENDING:
        return ShiftState.PENDING
    if signup is not None and signup.status == SignupStatus.WAITLISTED:
        return ShiftState.WAITLISTED
    closes = shift.signup_closes_at or shift.starts_at
    if now >= closes or now >= shift.starts_at:
        return ShiftState.CLOSED
    if shift.signup_opens_at and now < shift.signup_opens_at:
        return ShiftState.NOT_YET_OPEN
    if shift.is_full:
        return ShiftState.FULL_WAITLIST if shift.waitlist_enabled else ShiftState.FULL
    return ShiftState.OPEN


def active_signups_by_shift(user, shift_ids: Sequence[int]) -> dict[int, Signup]:
    """The person's active sign-ups on these shifts, in one statement."""
    if not getattr(user, "is_authenticated", False) or not shift_ids:
        return {}
    rows = db.session.scalars(
        select(Signup).where(
            Signup.user_id == user.id,
            Signup.shift_id.in_(shift_ids),
            Signup.status.in_(ACTIVE_STATUSES),
        )
    )
    return {s.shift_id: s for s in rows}


def shift_states_for(user, shifts: Sequence[Shift]) -> dict[int, ShiftState]:
    mine = active_signups_by_shift(user, [s.id for s in shifts])
    now = now_utc()
    return {s.id: shift_state(s, mine.get(s.id), now) for s in shifts}

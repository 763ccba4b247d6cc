"""The sign-up rules. Views, the API and the CLI all call these functions.

Every function that changes who holds a place runs inside a write transaction:
:func:`portal.database.begin_write` (SQLite's write lock) and row locks on the person, then
the shift (PostgreSQL ``SELECT … FOR UPDATE``), always in that order so that two requests
never wait for each other in a circle. Counts are then taken with fresh queries, never from
the ``taken_count`` column property of an object loaded before the lock. The partial unique
index ``uq_signups_active_person_shift`` backs up "one active sign-up per person and shift".

Services flush; the calling view commits once. Domain problems raise :class:`SignupError`
whose ``str()`` is the Chinese message to show.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask_babel import gettext as _
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload

from portal.audit.services import record
from portal.database import begin_write, lock_rows, try_lock_row
from portal.extensions import db
from portal.models import (
    ACTIVE_STATUSES,
    PLACE_HOLDING_STATUSES,
    Activity,
    ActivityStatus,
    Shift,
    ShiftStatus,
    Signup,
    SignupStatus,
    User,
)
from portal.notifications.services import notify
from portal.timeutil import fmt_short, now_utc


class SignupError(Exception):
    """A sign-up rule refused the request; ``str(exc)`` is the message for the person."""


class Outcome(enum.StrEnum):
    CONFIRMED = "confirmed"
    PENDING = "pending"
    WAITLISTED = "waitlisted"
    UNCHANGED = "unchanged"


@dataclass
class SignupResult:
    """What :func:`sign_up` did: the sign-up, the outcome and the sentence to flash."""

    signup: Signup
    outcome: str
    message: str


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


# --- reading --------------------------------------------------------------------------------


def shift_state(
    shift: Shift, signup: Signup | None = None, now: datetime | None = None
) -> ShiftState:
    """What a visitor should see for a shift, given their own sign-up (if any)."""
    now = now or now_utc()
    if shift.is_cancelled or shift.activity.status == ActivityStatus.CANCELLED:
        return ShiftState.CANCELLED
    if signup is not None and signup.status == SignupStatus.CONFIRMED:
        return ShiftState.SIGNED_UP
    if signup is not None and signup.status == SignupStatus.PENDING:
        return ShiftState.PENDING
    if signup is not None and signup.status == SignupStatus.WAITLISTED:
        return ShiftState.WAITLISTED
    if shift.activity.status == ActivityStatus.DRAFT:
        return ShiftState.NOT_YET_OPEN  # only organizers see drafts
    closes = shift.signup_closes_at or shift.starts_at
    if shift.activity.status == ActivityStatus.FINISHED or now >= closes or now >= shift.starts_at:
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


def shift_states_for(
    user, shifts: Sequence[Shift]
) -> tuple[dict[int, ShiftState], dict[int, Signup]]:
    """Map each shift id to the state this visitor sees, and to their active sign-up."""
    mine = active_signups_by_shift(user, [s.id for s in shifts])
    now = now_utc()
    return {s.id: shift_state(s, mine.get(s.id), now) for s in shifts}, mine


def waitlist_position(signup: Signup) -> int | None:
    """Return the 1-based waitlist position of a waitlisted sign-up, else ``None``."""
    if signup.status != SignupStatus.WAITLISTED:
        return None
    return waitlist_positions([signup]).get(signup.id)


def waitlist_positions(signups: Iterable[Signup]) -> dict[int, int]:
    """Map waitlisted sign-up ids to their 1-based positions, in one statement."""
    waiting = [s for s in signups if s.status == SignupStatus.WAITLISTED]
    if not waiting:
        return {}
    shift_ids = {s.shift_id for s in waiting}
    rows = db.session.execute(
        select(Signup.id, Signup.shift_id)
        .where(Signup.shift_id.in_(shift_ids), Signup.status == SignupStatus.WAITLISTED)
        .order_by(Signup.shift_id, Signup.queued_at, Signup.id)
    ).all()
    positions: dict[int, int] = {}
    counters: dict[int, int] = {}
    for signup_id, shift_id in rows:
        counters[shift_id] = counters.get(shift_id, 0) + 1
        positions[signup_id] = counters[shift_id]
    return {s.id: positions[s.id] for s in waiting if s.id in positions}


@dataclass
class Schedule:
    """A person's sign-ups split the way "my schedule" shows them."""

    upcoming: list[Signup]
    past: list[Signup]
    cancelled: list[Signup]
    positions: dict[int, int]


def my_schedule(user: User, now: datetime | None = None) -> Schedule:
    """Return the person's upcoming, past and cancelled sign-ups, with waitlist positions."""
    now = now or now_utc()
    rows = list(
        db.session.scalars(
            select(Signup)
            .join(Signup.shift)
            .where(Signup.user_id == user.id)
            .options(joinedload(Signup.shift).joinedload(Shift.activity))
            .order_by(Shift.starts_at, Signup.id)
        )
    )
    upcoming: list[Signup] = []
    past: list[Signup] = []
    cancelled: list[Signup] = []
    for s in rows:
        off = (
            s.status in (SignupStatus.CANCELLED, SignupStatus.REJECTED)
            or s.shift.is_cancelled
            or s.shift.activity.status == ActivityStatus.CANCELLED
        )
        if off:
            cancelled.append(s)
        elif s.shift.ends_at <= now:
            past.append(s)
        else:
            upcoming.append(s)
    past.reverse()
    cancelled.sort(key=lambda s: s.updated_at or s.created_at, reverse=True)
    return Schedule(upcoming, past, cancelled, waitlist_positions(upcoming))


def cancel_deadline(shift: Shift) -> datetime:
    """The last moment a resident may cancel a place on this shift."""
    return shift.starts_at - timedelta(hours=shift.activity.cancellation_deadline_hours)


def can_cancel(signup: Signup, now: datetime | None = None) -> bool:
    """Tell whether the person may still cancel this sign-up themselves."""
    now = now or now_utc()
    if signup.status not in ACTIVE_STATUSES or signup.shift.is_cancelled:
        return False
    if signup.status == SignupStatus.WAITLISTED:
        return now < signup.shift.starts_at
    return now < cancel_deadline(signup.shift)


# --- locking helpers ------------------------------------------------------------------------

def _lock(user_ids: Sequence[int] = (), shift_ids: Sequence[int] = ()) -> None:
    """Start (or continue) a write transaction and lock people first, then shifts."""
    session = db.session()
    begin_write(session)  # no-op when this transaction already holds the lock
    lock_rows(session, User, *user_ids)
    lock_rows(session, Shift, *shift_ids)


def _fresh_shift(shift_id: int) -> Shift | None:
    return db.session.get(
        Shift, shift_id, populate_existing=True, options=[joinedload(Shift.activity)]
    )


def _taken(shift_id: int) -> int:
    return db.session.scalar(
        select(func.count(Signup.id)).where(
            Signup.shift_id == shift_id, Signup.status.in_(PLACE_HOLDING_STATUSES)
        )
    ) or 0


def _active_signup(user_id: int, shift_id: int) -> Signup | None:
    return db.session.scalar(
        select(Signup)
        .where(
            Signup.user_id == user_id,
            Signup.shift_id == shift_id,
            Signup.status.in_(ACTIVE_STATUSES),
        )
        .execution_options(populate_existing=True)
    )


def _clash(user_id: int, shift: Shift) -> Shift | None:
    """Another live shift where the person holds a place and whose time overlaps."""
    return db.session.scalar(
        select(Shift)
        .join(Signup, Signup.shift_id == Shift.id)
        .join(Activity, Activity.id == Shift.activity_id)
        .where(
            Signup.user_id == user_id,
            Signup.status.in_(PLACE_HOLDING_STATUSES),
            Shift.id != shift.id,
            Shift.status == ShiftStatus.SCHEDULED,
            Activity.status != ActivityStatus.CANCELLED,
            Shift.starts_at < shift.ends_at,
            Shift.ends_at > shift.starts_at,
        )
        .order_by(Shift.starts_at)
        .limit(1)
    )


def _describe(shift: Shift) -> str:
    return _("“%(title)s” %(when)s", title=shift.activity.title, when=fmt_short(shift.starts_at))


def _link(shift: Shift) -> str:
    return f"/activities/{shift.activity_id}#shift-{shift.id}"


def _confirmed_message(shift: Shift) -> str:
    return _(
        "你已报名 %(when)s 的班次；开始前%(hours)d小时内不可取消。",
        when=fmt_short(shift.starts_at),
        hours=shift.activity.cancellation_deadline_hours,
    )


def _check_open(shift: Shift, now: datetime) -> None:
    """Raise unless the shift takes sign-ups from residents right now."""
    if shift.activity.status != ActivityStatus.PUBLISHED:
        if shift.activity.status == ActivityStatus.CANCELLED:
            raise SignupError(_("这个活动已取消，不能报名。"))
        if shift.activity.status == ActivityStatus.FINISHED:
            raise SignupError(_("这个活动已结束，不能报名。"))
        raise SignupError(_("这个活动还没有发布，不能报名。"))
    if shift.is_cancelled:
        raise SignupError(_("这个班次已取消，不能报名。"))
    if now >= shift.starts_at:
        raise SignupError(_("这个班次已经开始或结束，不能报名。"))
    if shift.signup_opens_at and now < shift.signup_opens_at:
        raise SignupError(
            _("报名将于 %(when)s 开始，请到时再来。", when=fmt_short(shift.signup_opens_at))
        )
    if shift.signup_closes_at and now >= shift.signup_closes_at:
        raise SignupError(_("这个班次的报名已截止。"))


def _insert(signup: Signup) -> bool:
    """Add a sign-up; return False when the unique index says one is already active."""
    try:
        with db.session.begin_nested():
            db.session.add(signup)
            db.session.flush()
    except IntegrityError:
        return False
    return True


# --- residents ------------------------------------------------------------------------------


def sign_up(user: User, shift_id: int, now: datetime | None = None) -> SignupResult:
    """Sign the person up for a shift: confirmed, pending approval or waitlisted.

    Repeating the request changes nothing (outcome ``unchanged``).

    :raises SignupError: when the shift does not take this sign-up, with the reason.
    """
    _lock(user_ids=[user.id], shift_ids=[shift_id])
    # Read the clock only once the lock is held: the waitlist is ordered by queued_at, so a
    # request that waited for the lock must not queue ahead of those who got it first.
    now = now or now_utc()
    shift = _fresh_shift(shift_id)
    if shift is None:
        raise SignupError(_("没有找到这个班次，它可能已被删除。"))

    existing = _active_signup(user.id, shift.id)
    if existing is not None:
        return SignupResult(existing, Outcome.UNCHANGED, _unchanged_message(existing))

    _check_open(shift, now)
    other = _clash(user.id, shift)
    if other is not None:
        raise SignupError(
            _("这个班次和你已报名的%(other)s时间冲突，不能同时报名。", other=_describe(other))
        )

    if _taken(shift.id) < shift.capacity:
        status = SignupStatus.PENDING if shift.requires_approval else SignupStatus.CONFIRMED
    elif shift.waitlist_enabled:
        status = SignupStatus.WAITLISTED
    else:
        raise SignupError(_("这个班次已满，且不设候补。看看其他班次吧。"))

    signup = Signup(
        shift_id=shift.id,
        user_id=user.id,
        status=status,
        source="self",
        queued_at=now if status == SignupStatus.WAITLISTED else None,
    )
    if not _insert(signup):
        existing = _active_signup(user.id, shift.id)
        if existing is None:  # pragma: no cover - the index fired, so a row exists
            raise SignupError(_("报名没有成功，请刷新后重试。"))
        return SignupResult(existing, Outcome.UNCHANGED, _unchanged_message(existing))
    signup.shift = shift

    if status == SignupStatus.CONFIRMED:
        return SignupResult(signup, Outcome.CONFIRMED, _confirmed_message(shift))
    if status == SignupStatus.PENDING:
        return SignupResult(
            signup, Outcome.PENDING, _("已提交，等待组织方审核。审核结果会通知你。")
        )
    position = waitlist_position(signup) or 1
    return SignupResult(
        signup,
        Outcome.WAITLISTED,
        _("班次已满，已加入候补，第 %(n)d 位。有人取消时会按顺序自动递补并通知你。", n=position),
    )


def _unchanged_message(signup: Signup) -> str:
    if signup.status == SignupStatus.CONFIRMED:
        return _("你已经报名了这个班次，无需重复提交。")
    if signup.status == SignupStatus.PENDING:
        return _("你已提交过报名，正在等待组织方审核。")
    position = waitlist_position(signup)
    return _("你已在候补名单中，第 %(n)d 位。", n=position or 1)


def cancel_signup(user: User, signup_id: int, now: datetime | None = None) -> Signup:
    """Cancel the person's own sign-up and give a freed place to the waitlist.

    Cancelling an already cancelled sign-up changes nothing.

    :raises SignupError: for someone else's sign-up or after the cancellation deadline.
    """
    now = now or now_utc()
    probe = db.session.get(Signup, signup_id)
    if probe is None or probe.user_id != user.id:
        raise SignupError(_("没有找到这条报名记录。"))
    shift_id = probe.shift_id
    _lock(user_ids=[user.id], shift_ids=[shift_id])
    signup = db.session.get(Signup, signup_id, populate_existing=True)
    shift = _fresh_shift(shift_id)
    if signup is None or shift is None:
        raise SignupError(_("没有找到这条报名记录。"))
    if signup.status in (SignupStatus.CANCELLED, SignupStatus.REJECTED):
        return signup
    if shift.is_cancelled or shift.activity.status == ActivityStatus.CANCELLED:
        raise SignupError(_("这个班次已被组织方取消，无需再取消报名。"))
    held_place = signup.status in PLACE_HOLDING_STATUSES
    if held_place and now >= cancel_deadline(shift):
        raise SignupError(
            _(
                "开始前%(hours)d小时内不能在网上取消。如确有困难，请直接联系组织方。",
                hours=shift.activity.cancellation_deadline_hours,
            )
        )
    if not held_place and now >= shift.starts_at:
        raise SignupError(_("这个班次已经开始，不能再取消候补。"))
    signup.status = SignupStatus.CANCELLED
    signup.cancelled_at = now
    signup.queued_at = None
    db.session.flush()
    if held_place:
        _fill(shift)
    return signup


# --- the waitlist ---------------------------------------------------------------------------


def fill_from_waitlist(shift: Shift) -> list[Signup]:
    """Promote waitlisted people, first come first served, while places are free."""
    _lock(shift_ids=[shift.id])
    fresh = _fresh_shift(shift.id)
    return _fill(fresh) if fresh is not None else []


def _fill(shift: Shift) -> list[Signup]:
    """Promote from the waitlist; the caller holds the shift's lock."""
    if shift.is_cancelled or shift.activity.status != ActivityStatus.PUBLISHED:
        return []
    if now_utc() >= shift.starts_at:
        return []
    free = shift.capacity - _taken(shift.id)
    if free <= 0:
        return []
    waiting = db.session.scalars(
        select(Signup)
        .where(Signup.shift_id == shift.id, Signup.status == SignupStatus.WAITLISTED)
        .order_by(Signup.queued_at, Signup.id)
        .execution_options(populate_existing=True)
    ).all()
    promoted: list[Signup] = []
    for signup in waiting:
        if free <= 0:
            break
        # The person's lock guards the overlap check against their own sign-up elsewhere at
        # this moment. We already hold the shift, so we don't wait for them (that order could
        # deadlock with sign_up); someone busy right now stays queued for the next place.
        if not try_lock_row(db.session(), User, signup.user_id):
            continue
        if _clash(signup.user_id, shift) is not None:
            continue  # they hold an overlapping place now; keep them queued
        signup.status = SignupStatus.PENDING if shift.requires_approval else SignupStatus.CONFIRMED
        signup.queued_at = None
        free -= 1
        promoted.append(signup)
        if signup.status == SignupStatus.CONFIRMED:
            title = _("候补成功：%(what)s", what=_describe(shift))
            body = _confirmed_message(shift)
        else:
            title = _("候补有位：%(what)s", what=_describe(shift))
            body = _("有名额空出，你的报名已转为待审核，审核结果会通知你。")
        notify(signup.user_id, "waitlist_promoted", title, body, _link(shift))
    db.session.flush()
    return promoted


# --- organizers (the caller's view checks permissions) --------------------------------------


def _organizer_lock(signup: Signup) -> tuple[Signup, Shift]:
    _lock(user_ids=[signup.user_id], shift_ids=[signup.shift_id])
    fresh = db.session.get(Signup, signup.id, populate_existing=True)
    shift = _fresh_shift(signup.shift_id)
    if fresh is None or shift is None:
        raise SignupError(_("没有找到这条报名记录。"))
    return fresh, shift


def _check_decidable(shift: Shift, now: datetime) -> None:
    """Raise unless an organizer may still confirm people on this shift (approve/promote)."""
    if shift.is_cancelled or shift.activity.status == ActivityStatus.CANCELLED:
        raise SignupError(_("这个班次已取消，不能再确认报名。"))
    if now >= shift.starts_at:
        raise SignupError(_("这个班次已经开始或结束，不能再审核或转正。"))


def can_decide(shift: Shift, now: datetime | None = None) -> bool:
    """Tell whether organizers may still approve or promote sign-ups on this shift."""
    try:
        _check_decidable(shift, now or now_utc())
    except SignupError:
        return False
    return True


def _snapshot(signup: Signup) -> dict:
    return {"status": str(signup.status), "shift_id": signup.shift_id, "user_id": signup.user_id}


def approve(actor: User, signup: Signup, now: datetime | None = None) -> Signup:
    """Confirm a pending sign-up.

    :raises SignupError: when the sign-up is not pending, or the shift is cancelled or has
        started.
    """
    now = now or now_utc()
    signup, shift = _organizer_lock(signup)
    if signup.status == SignupStatus.CONFIRMED:
        return signup
    if signup.status != SignupStatus.PENDING:
        raise SignupError(_("只有待审核的报名可以通过。"))
    _check_decidable(shift, now)
    before = _snapshot(signup)
    signup.status = SignupStatus.CONFIRMED
    signup.decided_by_id = actor.id
    signup.decided_at = now
    db.session.flush()
    notify(
        signup.user_id, "signup_approved", _("报名已通过：%(what)s", what=_describe(shift)),
        _confirmed_message(shift), _link(shift),
    )
    record("signup.approve", signup, _("通过报名"), before, _snapshot(signup), actor=actor)
    return signup


def reject(actor: User, signup: Signup, reason: str, now: datetime | None = None) -> Signup:
    """Turn down a pending or waitlisted sign-up with a reason; a freed place is refilled.

    :raises SignupError: when the sign-up is no longer active.
    """
    now = now or now_utc()
    signup, shift = _organizer_lock(signup)
    if signup.status == SignupStatus.REJECTED:
        return signup
    if signup.status not in (SignupStatus.PENDING, SignupStatus.WAITLISTED):
        raise SignupError(_("只有待审核或候补中的报名可以不通过。"))
    before = _snapshot(signup)
    held = signup.status == SignupStatus.PENDING
    signup.status = SignupStatus.REJECTED
    signup.reason = reason.strip()
    signup.decided_by_id = actor.id
    signup.decided_at = now
    signup.queued_at = None
    db.session.flush()
    body = _("原因：%(reason)s", reason=signup.reason) if signup.reason else ""
    notify(
        signup.user_id, "signup_rejected", _("报名未通过：%(what)s", what=_describe(shift)),
        body, _link(shift),
    )
    record("signup.reject", signup, signup.reason, before, _snapshot(signup), actor=actor)
    if held:
        _fill(shift)
    return signup


def promote(
    actor: User, signup: Signup, over_capacity: bool = False, now: datetime | None = None
) -> Signup:
    """Move someone off the waitlist to confirmed.

    :raises SignupError: when no place is free (unless ``over_capacity``), not waitlisted,
        or the shift is cancelled or has started.
    """
    now = now or now_utc()
    signup, shift = _organizer_lock(signup)
    if signup.status != SignupStatus.WAITLISTED:
        raise SignupError(_("只有候补中的报名可以转为正式。"))
    _check_decidable(shift, now)
    if not over_capacity and _taken(shift.id) >= shift.capacity:
        raise SignupError(_("班次已满，没有空余名额。如确需超员，请勾选“已满时仍然加入”。"))
    before = _snapshot(signup)
    signup.status = SignupStatus.CONFIRMED
    signup.queued_at = None
    signup.decided_by_id = actor.id
    signup.decided_at = now
    db.session.flush()
    notify(
        signup.user_id, "waitlist_promoted", _("候补成功：%(what)s", what=_describe(shift)),
        _confirmed_message(shift), _link(shift),
    )
    summary = _("从候补转为正式") + (_("（超出名额）") if over_capacity else "")
    record("signup.promote", signup, summary, before, _snapshot(signup), actor=actor)
    return signup


def remove(actor: User, signup: Signup, reason: str, now: datetime | None = None) -> Signup:
    """Take someone off a shift with a reason, tell them, and refill from the waitlist.

    :raises SignupError: when the sign-up is no longer active.
    """
    now = now or now_utc()
    signup, shift = _organizer_lock(signup)
    if signup.status not in ACTIVE_STATUSES:
        raise SignupError(_("这条报名已经不在名单上了。"))
    before = _snapshot(signup)
    held = signup.status in PLACE_HOLDING_STATUSES
    signup.status = SignupStatus.CANCELLED
    signup.reason = reason.strip()
    signup.cancelled_at = now
    signup.decided_by_id = actor.id
    signup.decided_at = now
    signup.queued_at = None
    db.session.flush()
    body = _("原因：%(reason)s", reason=signup.reason) if signup.reason else ""
    notify(
        signup.user_id, "signup_removed",
        _("组织方已将你移出班次：%(what)s", what=_describe(shift)), body, _link(shift),
    )
    record("signup.remove", signup, signup.reason, before, _snapshot(signup), actor=actor)
    if held:
        _fill(shift)
    return signup


def add_walk_in(
    actor: User, shift: Shift, user: User, over_capacity: bool = False,
    now: datetime | None = None,
) -> Signup:
    """Add a person on the spot as confirmed (allowed after start and outside the window).

    An existing pending or waitlisted sign-up of the person is confirmed instead.

    :raises SignupError: when the shift is full (unless ``over_capacity``) or cancelled.
    """
    now = now or now_utc()
    _lock(user_ids=[user.id], shift_ids=[shift.id])
    fresh = _fresh_shift(shift.id)
    if fresh is None:
        raise SignupError(_("没有找到这个班次，它可能已被删除。"))
    if fresh.is_cancelled or fresh.activity.status == ActivityStatus.CANCELLED:
        raise SignupError(_("这个班次已取消，不能添加人员。"))
    existing = _active_signup(user.id, fresh.id)
    if existing is not None and existing.status == SignupStatus.CONFIRMED:
        return existing
    holds = existing is not None and existing.status == SignupStatus.PENDING
    if not holds and not over_capacity and _taken(fresh.id) >= fresh.capacity:
        raise SignupError(_("班次已满，没有空余名额。如确需超员，请勾选“已满时仍然加入”。"))
    if existing is not None:
        before = _snapshot(existing)
        existing.status = SignupStatus.CONFIRMED
        existing.queued_at = None
        existing.decided_by_id = actor.id
        existing.decided_at = now
        signup = existing
    else:
        before = None
        signup = Signup(
            shift_id=fresh.id, user_id=user.id, status=SignupStatus.CONFIRMED,
            source="walk_in", decided_by_id=actor.id, decided_at=now,
        )
        if not _insert(signup):  # pragma: no cover - guarded by the lock above
            raise SignupError(_("这个人已经在名单上了。"))
    db.session.flush()
    notify(
        user.id, "walk_in_added", _("组织方已为你报名：%(what)s", what=_describe(fresh)),
        "", _link(fresh),
    )
    summary = _("现场添加") + (_("（超出名额）") if over_capacity else "")
    record("signup.walk_in", signup, summary, before, _snapshot(signup), actor=actor)
    return signup


# --- telling people about changes -----------------------------------------------------------


def _active_user_ids(shift_ids: Sequence[int]) -> list[int]:
    if not shift_ids:
        return []
    return list(
        db.session.scalars(
            select(Signup.user_id)
            .join(User, User.id == Signup.user_id)
            .where(
                Signup.shift_id.in_(shift_ids),
                Signup.status.in_(ACTIVE_STATUSES),
                User.deleted_at.is_(None),
            )
            .distinct()
        )
    )


def notify_shift_changed(shift: Shift, summary: str) -> int:
    """Tell everyone active on the shift what changed (time, place …); return how many."""
    users = _active_user_ids([shift.id])
    title = _("班次有变更：%(what)s", what=_describe(shift))
    for uid in users:
        notify(uid, "shift_changed", title, summary, _link(shift))
    return len(users)


def notify_shift_cancelled(shift: Shift, reason: str) -> int:
    """Tell everyone active on a cancelled shift; their sign-ups keep their status."""
    users = _active_user_ids([shift.id])
    title = _("班次已取消：%(what)s", what=_describe(shift))
    body = _("原因：%(reason)s", reason=reason) if reason else ""
    for uid in users:
        notify(uid, "shift_cancelled", title, body, _link(shift))
    return len(users)


def notify_activity_cancelled(activity: Activity, reason: str) -> int:
    """Tell everyone active on any shift of a cancelled activity, once per person."""
    users = _active_user_ids([s.id for s in activity.shifts])
    title = _("活动已取消：“%(title)s”", title=activity.title)
    body = _("原因：%(reason)s", reason=reason) if reason else ""
    for uid in users:
        notify(uid, "activity_cancelled", title, body, f"/activities/{activity.id}")
    return len(users)


__all__ = [
    "Outcome",
    "Schedule",
    "ShiftState",
    "SignupError",
    "SignupResult",
    "active_signups_by_shift",
    "add_walk_in",
    "approve",
    "can_cancel",
    "can_decide",
    "cancel_deadline",
    "cancel_signup",
    "fill_from_waitlist",
    "my_schedule",
    "notify_activity_cancelled",
    "notify_shift_cancelled",
    "notify_shift_changed",
    "promote",
    "reject",
    "remove",
    "shift_state",
    "shift_states_for",
    "sign_up",
    "waitlist_position",
    "waitlist_positions",
]

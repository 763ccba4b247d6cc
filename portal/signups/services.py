"""The sign-up rules for residents. Views, the API and the CLI all call these functions.

Reading: what a visitor sees on a shift (:func:`shift_state`), waitlist positions, "my
schedule", whether a sign-up may still be cancelled. Writing: :func:`sign_up` and
:func:`cancel_signup`, which follow the lock protocol and the one way into a place of
:mod:`portal.signups.places` (organizer decisions live there too and are re-exported here).
The partial unique index ``uq_signups_active_person_shift`` backs up "one active sign-up per
person and shift".

Services flush; the calling view commits once. Domain problems raise :class:`SignupError`
whose ``str()`` is the message to show.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import contains_eager, joinedload

from portal.extensions import db
from portal.models import (
    ACTIVE_STATUSES,
    PLACE_HOLDING_STATUSES,
    ActivityStatus,
    Shift,
    Signup,
    SignupStatus,
    User,
    shift_is_live,
)
from portal.signups import places
from portal.signups.places import (  # noqa: F401 - the organizer side, re-exported
    SignupError,
    add_walk_in,
    approve,
    can_decide,
    fill_from_waitlist,
    notify_activity_cancelled,
    notify_shift_cancelled,
    notify_shift_changed,
    promote,
    recipients,
    reject,
    remove,
)
from portal.timeutil import fmt_short, now_utc


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
    if shift.is_off:
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
        off = s.status in (SignupStatus.CANCELLED, SignupStatus.REJECTED) or s.shift.is_off
        if off:
            cancelled.append(s)
        elif s.shift.ends_at <= now:
            past.append(s)
        else:
            upcoming.append(s)
    past.reverse()
    cancelled.sort(key=lambda s: s.updated_at or s.created_at, reverse=True)
    return Schedule(upcoming, past, cancelled, waitlist_positions(upcoming))


def schedule_moments(schedule: Schedule) -> list[datetime]:
    """Every instant at which the clock changes what "my schedule" shows: an upcoming shift
    starts (a waitlisted place can no longer be cancelled) or ends (it moves to the past), a
    cancellation deadline passes."""
    found: list[datetime] = []
    for s in schedule.upcoming:
        found += (s.shift.starts_at, s.shift.ends_at, cancel_deadline(s.shift))
    return found


def next_signup(user: User, now: datetime | None = None) -> Signup | None:
    """The person's next shift that is still to come or under way (confirmed, pending or
    waitlisted; not cancelled), with its activity loaded — for the home page."""
    now = now or now_utc()
    return db.session.scalars(
        select(Signup)
        .join(Signup.shift)
        .join(Shift.activity)
        .where(
            Signup.user_id == user.id,
            Signup.status.in_(ACTIVE_STATUSES),
            Shift.ends_at > now,
            shift_is_live(),
        )
        .options(contains_eager(Signup.shift).contains_eager(Shift.activity))
        .order_by(Shift.starts_at, Signup.id)
        .limit(1)
    ).first()


def map_link(place: str) -> str:
    """A link that opens the phone's map app (Amap, which WeChat and Chinese phones open)
    searching for the place as written."""
    from urllib.parse import quote

    return "https://uri.amap.com/search?keyword=" + quote(place.strip()) if place.strip() else ""


def cancel_deadline(shift: Shift) -> datetime:
    """The last moment a resident may cancel a place on this shift."""
    return shift.starts_at - timedelta(hours=shift.activity.cancellation_deadline_hours)


def can_cancel(signup: Signup, now: datetime | None = None) -> bool:
    """Tell whether the person may still cancel this sign-up themselves."""
    now = now or now_utc()
    if signup.status not in ACTIVE_STATUSES or signup.shift.is_off:
        return False
    if signup.status == SignupStatus.WAITLISTED:
        return now < signup.shift.starts_at
    return now < cancel_deadline(signup.shift)


def _check_open(shift: Shift, now: datetime) -> None:
    """Raise unless the shift takes sign-ups from residents right now."""
    if shift.activity.status != ActivityStatus.PUBLISHED:
        if shift.activity.status == ActivityStatus.CANCELLED:
            raise SignupError(_("这个活动已取消，不能报名。"))
        if shift.activity.status == ActivityStatus.FINISHED:
            raise SignupError(_("这个活动已结束，不能报名。"))
        raise SignupError(_("这个活动还没有发布，不能报名。"))
    if shift.is_off:
        raise SignupError(_("这个班次已取消，不能报名。"))
    if now >= shift.starts_at:
        raise SignupError(_("这个班次已经开始或结束，不能报名。"))
    if shift.signup_opens_at and now < shift.signup_opens_at:
        raise SignupError(
            _("报名将于 %(when)s 开始，请到时再来。", when=fmt_short(shift.signup_opens_at))
        )
    if shift.signup_closes_at and now >= shift.signup_closes_at:
        raise SignupError(_("这个班次的报名已截止。"))


# --- residents ------------------------------------------------------------------------------


def sign_up(user: User, shift_id: int, now: datetime | None = None) -> SignupResult:
    """Sign the person up for a shift: confirmed, pending approval or waitlisted.

    Repeating the request changes nothing (outcome ``unchanged``).

    :raises SignupError: when the shift does not take this sign-up, with the reason.
    """
    user_id = user.id  # read before the lock: taking it ends the read transaction (expiry)
    places.lock([shift_id], [user_id], with_waiting=True)
    # Read the clock only once the lock is held: the waitlist is ordered by queued_at, so a
    # request that waited for the lock must not queue ahead of those who got it first.
    now = now or now_utc()
    shift = places.fresh_shift(shift_id)
    if shift is None:
        raise SignupError(_("没有找到这个班次，它可能已被删除。"))

    existing = places.active_signup(user_id, shift.id)
    if existing is not None:
        return SignupResult(existing, Outcome.UNCHANGED, _unchanged_message(existing))

    _check_open(shift, now)
    other = places.clash(user_id, shift)
    if other is not None:
        raise SignupError(
            _(
                "这个班次和你已报名的%(other)s时间冲突，不能同时报名。",
                other=places.describe(other),
            ),
            field="overlap",
        )
    if shift.waitlist_count:
        # Whoever waits gets a free place before a newcomer does.
        places.fill(shift, now)
        shift = places.fresh_shift(shift.id)

    if shift.taken_count < shift.capacity:
        status = SignupStatus.PENDING if shift.requires_approval else SignupStatus.CONFIRMED
        signup = places.grant_place(shift, user_id, None, status, overlap_checked=True, now=now)
    elif shift.waitlist_enabled:
        signup = places.join_queue(shift, user.id, now)
    else:
        raise SignupError(_("这个班次已满，且不设候补。看看其他班次吧。"), field="capacity")

    if signup.status == SignupStatus.CONFIRMED:
        return SignupResult(signup, Outcome.CONFIRMED, places.confirmed_message(shift))
    if signup.status == SignupStatus.PENDING:
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
    places.lock([shift_id], [user.id], with_waiting=True)
    signup = db.session.get(Signup, signup_id, populate_existing=True)
    shift = places.fresh_shift(shift_id)
    if signup is None or shift is None:
        raise SignupError(_("没有找到这条报名记录。"))
    if signup.status in (SignupStatus.CANCELLED, SignupStatus.REJECTED):
        return signup
    if shift.is_off:
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
        places.fill(shift, now)
    return signup

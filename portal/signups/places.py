"""The one way into a place, the waitlist, and the organizer's decisions on sign-ups.

Every path that gives someone a place — their own sign-up, an approval, a promotion from
the waitlist (automatic or by an organizer), a walk-in, a raised capacity — ends in
:func:`grant_place`, which checks capacity and overlap; and before a newcomer is placed,
:func:`fill` hands free places to the people already waiting, first come first served.
An organizer may override capacity or overlap only explicitly, with a reason that goes into
the audit log.

Lock protocol (PostgreSQL row locks; on SQLite :func:`portal.database.begin_write` holds the
database-wide write lock and these are no-ops): :func:`lock` takes the write transaction,
then the shifts in id order, then the people in id order — the people named plus, when
asked, everyone waiting on (or holding a place on) those shifts, all at once. Nobody takes a
shift after a person, or a person after the batch, so two requests never wait in a circle.
Services flush; the calling view commits once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime

from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload

from portal.audit.services import record
from portal.database import begin_write, is_sqlite, lock_rows
from portal.domain import DomainError
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
from portal.notifications.services import notify, notify_many
from portal.timeutil import fmt_short, now_utc


class SignupError(DomainError):
    """A sign-up rule refused the request; ``str(exc)`` is the message for the person.

    ``field`` is ``"capacity"`` or ``"overlap"`` when an organizer could override it.
    """


# --- locking ----------------------------------------------------------------------------------


def lock(
    shift_ids: Iterable[int] = (),
    user_ids: Iterable[int] = (),
    *,
    with_waiting: bool = False,
    with_holders: bool = False,
) -> None:
    """Begin (or continue) the write transaction; lock shifts, then people, in id order.

    :param with_waiting: also lock everyone waiting on these shifts (who may be promoted).
    :param with_holders: also lock everyone holding a place on them (whose overlap is checked
        when the shift moves).
    """
    session = db.session()
    begin_write(session)
    shift_ids = sorted(set(shift_ids))
    lock_rows(session, Shift, *shift_ids)
    people = set(user_ids)
    if not is_sqlite(session) and shift_ids and (with_waiting or with_holders):
        statuses = [SignupStatus.WAITLISTED] if with_waiting else []
        statuses += list(PLACE_HOLDING_STATUSES) if with_holders else []
        people.update(
            db.session.scalars(
                select(Signup.user_id).where(
                    Signup.shift_id.in_(shift_ids), Signup.status.in_(statuses)
                )
            )
        )
    lock_rows(session, User, *people)


def fresh_shift(shift_id: int) -> Shift | None:
    """Re-read a shift (and its activity) under the lock, counters included."""
    db.session.flush()
    return db.session.get(
        Shift, shift_id, populate_existing=True, options=[joinedload(Shift.activity)]
    )


def active_signup(user_id: int, shift_id: int) -> Signup | None:
    """The person's pending, confirmed or waitlisted sign-up on the shift, re-read."""
    return db.session.scalar(
        select(Signup)
        .where(
            Signup.user_id == user_id,
            Signup.shift_id == shift_id,
            Signup.status.in_(ACTIVE_STATUSES),
        )
        .execution_options(populate_existing=True)
    )


def clash(user_id: int, shift: Shift) -> Shift | None:
    """Another shift that takes place, where the person holds a place, overlapping this one."""
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


# --- wording ------------------------------------------------------------------------------------


def describe(shift: Shift) -> str:
    """“Title” 12月3日 07:00 — how messages name a shift."""
    return _("“%(title)s” %(when)s", title=shift.activity.title, when=fmt_short(shift.starts_at))


def shift_link(shift: Shift) -> str:
    return f"/activities/{shift.activity_id}#shift-{shift.id}"


def confirmed_message(shift: Shift) -> str:
    return _(
        "你已报名 %(when)s 的班次；开始前%(hours)d小时内不可取消。",
        when=fmt_short(shift.starts_at),
        hours=shift.activity.cancellation_deadline_hours,
    )


def _full_message() -> str:
    return _("班次已满，没有空余名额。如确需超员，请勾选“已满时仍然加入”并说明原因。")


def _clash_message(other: Shift, own: bool) -> str:
    if own:
        return _("这个班次和你已报名的%(other)s时间冲突，不能同时报名。", other=describe(other))
    return _(
        "此人已报名%(other)s，时间冲突。如确需安排，请勾选“时间冲突仍然加入”并说明原因。",
        other=describe(other),
    )


# --- the one way into a place -------------------------------------------------------------------


def grant_place(
    shift: Shift,
    user_id: int,
    signup: Signup | None,
    status: SignupStatus = SignupStatus.CONFIRMED,
    *,
    source: str = "self",
    actor: User | None = None,
    over_capacity: bool = False,
    over_overlap: bool = False,
    overlap_checked: bool = False,
    now: datetime | None = None,
) -> Signup:
    """Give the person a place (confirmed or pending) on the shift; the caller holds the locks.

    ``signup`` is their active sign-up on the shift, if any (a pending one already holds a
    place; a waitlisted one does not). A new sign-up row is added when there is none.
    ``overlap_checked``: the caller has just run :func:`clash` for this person under the same
    locks and it found nothing (spares the same query twice while the shift is locked).

    :raises SignupError: ``field="overlap"`` when they hold an overlapping place, and
        ``field="capacity"`` when no place is free — unless the override is given.
    """
    now = now or now_utc()
    own = actor is None
    other = None if over_overlap or overlap_checked else clash(user_id, shift)
    if other is not None:
        raise SignupError(_clash_message(other, own), field="overlap")
    holds = signup is not None and signup.status in PLACE_HOLDING_STATUSES
    if not holds and shift.taken_count >= shift.capacity and not over_capacity:
        raise SignupError(_full_message(), field="capacity")
    if signup is None:
        # queued_at given (None), so the row is complete as inserted: no second UPDATE (and
        # its triggers) while the shift is locked.
        signup = Signup(
            shift_id=shift.id, user_id=user_id, status=status, source=source, queued_at=None
        )
        if not _insert(signup):
            raise SignupError(_("这个人已经在名单上了。"))
    else:
        signup.status = status
        signup.queued_at = None
    if actor is not None:
        signup.decided_by_id = actor.id
        signup.decided_at = now
    db.session.flush()
    signup.shift = shift
    return signup


def join_queue(shift: Shift, user_id: int, now: datetime) -> Signup:
    """Put the person at the end of the shift's waitlist; the caller holds the locks."""
    signup = Signup(
        shift_id=shift.id,
        user_id=user_id,
        status=SignupStatus.WAITLISTED,
        source="self",
        queued_at=now,
    )
    if not _insert(signup):
        raise SignupError(_("报名没有成功，请刷新后重试。"))
    signup.shift = shift
    return signup


def _insert(signup: Signup) -> bool:
    """Add a sign-up; return False when the unique index says one is already active."""
    try:
        with db.session.begin_nested():
            db.session.add(signup)
            db.session.flush()
    except IntegrityError:
        return False
    return True


def takes_promotions(shift: Shift, now: datetime | None = None) -> bool:
    """Tell whether the waitlist of this shift still moves up (published, not started)."""
    if shift.is_off or shift.activity.status != ActivityStatus.PUBLISHED:
        return False
    return (now or now_utc()) < shift.starts_at


def fill(shift: Shift, now: datetime | None = None) -> list[Signup]:
    """Promote waiting people, first come first served, while places are free.

    The caller holds the shift's lock (and, through ``lock(with_waiting=True)``, the
    waiting people's). Someone who holds an overlapping place right now keeps their position
    but is passed over for this place; everyone promoted is told.
    """
    if not takes_promotions(shift, now):
        return []
    shift = fresh_shift(shift.id)
    free = shift.capacity - shift.taken_count
    if free <= 0 or shift.waitlist_count <= 0:
        return []
    waiting = db.session.scalars(
        select(Signup)
        .where(Signup.shift_id == shift.id, Signup.status == SignupStatus.WAITLISTED)
        .order_by(Signup.queued_at, Signup.id)
        .execution_options(populate_existing=True)
    ).all()
    # Usually locked by the caller already; locking again in id order is then a no-op.
    lock_rows(db.session(), User, *{s.user_id for s in waiting})
    promoted: list[Signup] = []
    for signup in waiting:
        if free <= 0:
            break
        if clash(signup.user_id, shift) is not None:
            continue
        status = SignupStatus.PENDING if shift.requires_approval else SignupStatus.CONFIRMED
        grant_place(shift, signup.user_id, signup, status, source=signup.source, now=now)
        free -= 1
        promoted.append(signup)
        notify(
            signup.user_id,
            "waitlist_promoted",
            link=shift_link(shift),
            compose=_promoted_message(shift, status == SignupStatus.CONFIRMED),
        )
    return promoted


def _promoted_message(shift: Shift, confirmed: bool):
    def compose() -> tuple[str, str]:
        if confirmed:
            return _("候补成功：%(what)s", what=describe(shift)), confirmed_message(shift)
        return (
            _("候补有位：%(what)s", what=describe(shift)),
            _("有名额空出，你的报名已转为待审核，审核结果会通知你。"),
        )

    return compose


def fill_from_waitlist(shift: Shift) -> list[Signup]:
    """Lock the shift and its waiting people, then promote while places are free."""
    lock([shift.id], with_waiting=True)
    fresh = fresh_shift(shift.id)
    return fill(fresh) if fresh is not None else []


# --- organizers (the calling view checks permissions) -------------------------------------------


def _organizer_lock(signup: Signup) -> tuple[Signup, Shift]:
    lock([signup.shift_id], [signup.user_id], with_waiting=True)
    fresh = db.session.get(Signup, signup.id, populate_existing=True)
    shift = fresh_shift(signup.shift_id)
    if fresh is None or shift is None:
        raise SignupError(_("没有找到这条报名记录。"))
    return fresh, shift


def check_decidable(shift: Shift, now: datetime) -> None:
    """Raise unless an organizer may still confirm people on this shift (approve/promote)."""
    if shift.is_off:
        raise SignupError(_("这个班次已取消，不能再确认报名。"))
    if now >= shift.starts_at:
        raise SignupError(_("这个班次已经开始或结束，不能再审核或转正。"))


def can_decide(shift: Shift, now: datetime | None = None) -> bool:
    """Tell whether organizers may still approve or promote sign-ups on this shift."""
    try:
        check_decidable(shift, now or now_utc())
    except SignupError:
        return False
    return True


def _snapshot(signup: Signup) -> dict:
    return {"status": str(signup.status), "shift_id": signup.shift_id, "user_id": signup.user_id}


def _overrides(over_capacity: bool, over_overlap: bool, reason: str) -> dict:
    used = [name for name, on in (("capacity", over_capacity), ("overlap", over_overlap)) if on]
    return {"override": used, "override_reason": reason} if used else {}


def _require_reason(over_capacity: bool, over_overlap: bool, reason: str) -> str:
    reason = (reason or "").strip()
    if (over_capacity or over_overlap) and not reason:
        raise SignupError(
            _("超员或时间冲突时仍然加入，请写明原因（会记入操作日志）。"), field="override_reason"
        )
    return reason


def approve(actor: User, signup: Signup, now: datetime | None = None) -> Signup:
    """Confirm a pending sign-up.

    :raises SignupError: when the sign-up is not pending, the shift is off or has started,
        or the person now holds an overlapping place.
    """
    now = now or now_utc()
    signup, shift = _organizer_lock(signup)
    if signup.status == SignupStatus.CONFIRMED:
        return signup
    if signup.status != SignupStatus.PENDING:
        raise SignupError(_("只有待审核的报名可以通过。"))
    check_decidable(shift, now)
    before = _snapshot(signup)
    grant_place(shift, signup.user_id, signup, actor=actor, now=now)
    notify(
        signup.user_id,
        "signup_approved",
        link=shift_link(shift),
        compose=lambda: (
            _("报名已通过：%(what)s", what=describe(shift)),
            confirmed_message(shift),
        ),
    )
    record("signup.approve", signup, _("通过报名"), before, _snapshot(signup), actor=actor)
    return signup


def reject(actor: User, signup: Signup, reason: str, now: datetime | None = None) -> Signup:
    """Turn down a pending or waitlisted sign-up with a reason; a freed place is refilled.

    :raises SignupError: when the sign-up is no longer active.
    """
    signup, shift = _organizer_lock(signup)
    if signup.status == SignupStatus.REJECTED:
        return signup
    if signup.status not in (SignupStatus.PENDING, SignupStatus.WAITLISTED):
        raise SignupError(_("只有待审核或候补中的报名可以不通过。"))

    def title() -> str:
        return _("报名未通过：%(what)s", what=describe(shift))

    return _take_off(actor, signup, shift, SignupStatus.REJECTED, reason, title, now)


def _take_off(
    actor: User,
    signup: Signup,
    shift: Shift,
    status: SignupStatus,
    reason: str,
    title: Callable[[], str],
    now: datetime | None,
) -> Signup:
    """End an organizer-refused or removed sign-up: tell the person, log it, refill."""
    now = now or now_utc()
    before = _snapshot(signup)
    held = signup.status in PLACE_HOLDING_STATUSES
    signup.status = status
    signup.reason = reason.strip()
    if status == SignupStatus.CANCELLED:
        signup.cancelled_at = now
    signup.decided_by_id = actor.id
    signup.decided_at = now
    signup.queued_at = None
    db.session.flush()
    kind = "signup_rejected" if status == SignupStatus.REJECTED else "signup_removed"
    notify(
        signup.user_id,
        kind,
        link=shift_link(shift),
        compose=lambda: (title(), _reason_line(signup.reason)),
    )
    action = "signup.reject" if status == SignupStatus.REJECTED else "signup.remove"
    record(action, signup, signup.reason, before, _snapshot(signup), actor=actor)
    if held:
        fill(shift)
    return signup


def promote(
    actor: User,
    signup: Signup,
    over_capacity: bool = False,
    now: datetime | None = None,
    *,
    over_overlap: bool = False,
    reason: str = "",
) -> Signup:
    """Move someone off the waitlist to confirmed.

    :raises SignupError: when not waitlisted, the shift is off or has started, no place is
        free or the person holds an overlapping place (unless overridden with a reason).
    """
    now = now or now_utc()
    reason = _require_reason(over_capacity, over_overlap, reason)
    signup, shift = _organizer_lock(signup)
    if signup.status != SignupStatus.WAITLISTED:
        raise SignupError(_("只有候补中的报名可以转为正式。"))
    check_decidable(shift, now)
    before = _snapshot(signup)
    grant_place(
        shift,
        signup.user_id,
        signup,
        actor=actor,
        over_capacity=over_capacity,
        over_overlap=over_overlap,
        now=now,
    )
    notify(
        signup.user_id,
        "waitlist_promoted",
        link=shift_link(shift),
        compose=_promoted_message(shift, True),
    )
    summary = _("从候补转为正式") + (_("（超出名额）") if over_capacity else "")
    after = _snapshot(signup) | _overrides(over_capacity, over_overlap, reason)
    record("signup.promote", signup, summary, before, after, actor=actor)
    return signup


def remove(actor: User, signup: Signup, reason: str, now: datetime | None = None) -> Signup:
    """Take someone off a shift with a reason, tell them, and refill from the waitlist.

    :raises SignupError: when the sign-up is no longer active.
    """
    signup, shift = _organizer_lock(signup)
    if signup.status not in ACTIVE_STATUSES:
        raise SignupError(_("这条报名已经不在名单上了。"))

    def title() -> str:
        return _("组织方已将你移出班次：%(what)s", what=describe(shift))

    return _take_off(actor, signup, shift, SignupStatus.CANCELLED, reason, title, now)


# What a walk-in did (:func:`place_walk_in`): nothing (already confirmed), confirmed their
# pending or waitlisted sign-up, or added them.
WALK_IN_ALREADY, WALK_IN_CONFIRMED, WALK_IN_ADDED = "already", "confirmed", "added"


def add_walk_in(
    actor: User,
    shift: Shift,
    user: User,
    over_capacity: bool = False,
    now: datetime | None = None,
    *,
    over_overlap: bool = False,
    reason: str = "",
) -> Signup:
    """Add a person on the spot as confirmed; see :func:`place_walk_in`."""
    return place_walk_in(
        actor, shift, user, over_capacity, now, over_overlap=over_overlap, reason=reason
    )[0]


def place_walk_in(
    actor: User,
    shift: Shift,
    user: User,
    over_capacity: bool = False,
    now: datetime | None = None,
    *,
    over_overlap: bool = False,
    reason: str = "",
) -> tuple[Signup, str]:
    """Add a person on the spot as confirmed (allowed after start and outside the window).

    An existing pending or waitlisted sign-up of the person is confirmed instead; people
    already waiting get any free place first. Someone already confirmed stays as they are.
    Returns the sign-up and what happened (``WALK_IN_ALREADY``, ``WALK_IN_CONFIRMED`` or
    ``WALK_IN_ADDED``), so the organizer is told exactly that.

    :raises SignupError: when the shift is off, full or the person holds an overlapping
        place (unless overridden with a reason).
    """
    now = now or now_utc()
    reason = _require_reason(over_capacity, over_overlap, reason)
    lock([shift.id], [user.id], with_waiting=True)
    fresh = fresh_shift(shift.id)
    if fresh is None:
        raise SignupError(_("没有找到这个班次，它可能已被删除。"))
    if fresh.is_off:
        raise SignupError(_("这个班次已取消，不能添加人员。"))
    existing = active_signup(user.id, fresh.id)
    if existing is not None and existing.status == SignupStatus.CONFIRMED:
        return existing, WALK_IN_ALREADY
    had_signup = existing is not None
    if existing is None or existing.status == SignupStatus.WAITLISTED:
        fill(fresh, now)  # the queue first: a free place goes to whoever waited for it
        fresh = fresh_shift(fresh.id)
        existing = active_signup(user.id, fresh.id)
        if existing is not None and existing.status == SignupStatus.CONFIRMED:
            return existing, WALK_IN_CONFIRMED  # they were next in the queue themselves
    before = _snapshot(existing) if existing is not None else None
    signup = grant_place(
        fresh,
        user.id,
        existing,
        source="walk_in",
        actor=actor,
        over_capacity=over_capacity,
        over_overlap=over_overlap,
        now=now,
    )
    notify(
        user.id,
        "walk_in_added",
        link=shift_link(fresh),
        compose=lambda: (_("组织方已为你报名：%(what)s", what=describe(fresh)), ""),
    )
    summary = _("现场添加") + (_("（超出名额）") if over_capacity else "")
    after = _snapshot(signup) | _overrides(over_capacity, over_overlap, reason)
    record("signup.walk_in", signup, summary, before, after, actor=actor)
    return signup, WALK_IN_CONFIRMED if had_signup else WALK_IN_ADDED


# --- telling people about changes ---------------------------------------------------------------


def recipients(shift_ids: Sequence[int]) -> list[User]:
    """The distinct people, not deleted, with an active sign-up on any of these shifts."""
    if not shift_ids:
        return []
    return list(
        db.session.scalars(
            select(User)
            .where(
                User.id.in_(
                    select(Signup.user_id).where(
                        Signup.shift_id.in_(list(shift_ids)), Signup.status.in_(ACTIVE_STATUSES)
                    )
                ),
                User.deleted_at.is_(None),
            )
            .order_by(User.id)
        )
    )


def _reason_line(reason: str) -> str:
    return _("原因：%(reason)s", reason=reason) if reason else ""


def notify_shift_changed(shift: Shift, summary: Callable[[], str]) -> int:
    """Tell everyone active on the shift what changed; return how many.

    :param summary: writes what changed (time, place …) with ``_()``, once per language.
    """
    users = recipients([shift.id])
    notify_many(
        users,
        "shift_changed",
        link=shift_link(shift),
        compose=lambda: (_("班次有变更：%(what)s", what=describe(shift)), summary()),
    )
    return len(users)


def notify_shift_cancelled(shift: Shift, reason: str) -> int:
    """Tell everyone active on a cancelled shift; their sign-ups keep their status."""
    users = recipients([shift.id])
    notify_many(
        users,
        "shift_cancelled",
        link=shift_link(shift),
        compose=lambda: (_("班次已取消：%(what)s", what=describe(shift)), _reason_line(reason)),
    )
    return len(users)


def notify_activity_cancelled(activity: Activity, reason: str) -> int:
    """Tell everyone active on any shift of a cancelled activity, once per person."""
    users = recipients([s.id for s in activity.shifts])
    notify_many(
        users,
        "activity_cancelled",
        link=f"/activities/{activity.id}",
        compose=lambda: (
            _("活动已取消：“%(title)s”", title=activity.title),
            _reason_line(reason),
        ),
    )
    return len(users)

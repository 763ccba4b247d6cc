"""The organizer's day: one approval queue across the units' activities, and today's shifts.

Both read in a fixed number of statements whatever the number of activities, shifts or
sign-ups; the bulk decision goes through the organizer decisions of
:mod:`portal.signups.places` one sign-up at a time, so capacity, overlap, the queue and the
notifications hold exactly as on the roster.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime

from flask_babel import gettext as _
from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.orm import contains_eager, joinedload, selectinload

from portal.extensions import db
from portal.models import (
    Activity,
    ActivityStatus,
    Attendance,
    Shift,
    ShiftStatus,
    Signup,
    SignupStatus,
    User,
)
from portal.organize.services.errors import OrganizeError
from portal.timeutil import local_day_bounds, now_utc

# The queue shows at most this many sign-ups at once (the earliest shifts first).
QUEUE_LIMIT = 100
# One bulk decision handles at most this many sign-ups.
MAX_DECISIONS = QUEUE_LIMIT


def scope_unit_ids(user: User) -> list[int] | None:
    """The units whose work this person sees: ``None`` for admins (every unit)."""
    if user.is_admin:
        return None
    return [u.id for u in user.units]


def _in_scope(stmt, unit_ids: list[int] | None):
    if unit_ids is None:
        return stmt
    return stmt.where(Activity.unit_id.in_(unit_ids or [-1]))


# --- the approval queue ----------------------------------------------------------------------


@dataclass
class QueueGroup:
    """The pending sign-ups of one shift, in the order they came in."""

    shift: Shift
    signups: list[Signup] = field(default_factory=list)


@dataclass
class Queue:
    groups: list[QueueGroup]
    total: int
    truncated: bool

    @property
    def signups(self) -> list[Signup]:
        return [s for g in self.groups for s in g.signups]


def pending_queue(user: User, now: datetime | None = None) -> Queue:
    """Every pending sign-up on a shift of the person's units that may still be decided.

    Cancelled shifts and activities and shifts that have begun are left out (nobody can be
    approved there any more). Shifts soonest first; in a shift, first come first.
    """
    now = now or now_utc()
    stmt = (
        select(Signup)
        .join(Signup.shift)
        .join(Shift.activity)
        .where(
            Signup.status == SignupStatus.PENDING,
            Shift.status == ShiftStatus.SCHEDULED,
            Activity.status != ActivityStatus.CANCELLED,
            Shift.starts_at > now,
        )
        .options(
            contains_eager(Signup.shift).contains_eager(Shift.activity).joinedload(Activity.unit),
            selectinload(Signup.user),
        )
        .order_by(Shift.starts_at, Shift.id, Signup.created_at, Signup.id)
        .limit(QUEUE_LIMIT + 1)
    )
    rows = list(db.session.scalars(_in_scope(stmt, scope_unit_ids(user))).unique())
    truncated = len(rows) > QUEUE_LIMIT
    rows = rows[:QUEUE_LIMIT]
    groups: list[QueueGroup] = []
    for signup in rows:
        if not groups or groups[-1].shift.id != signup.shift_id:
            groups.append(QueueGroup(signup.shift))
        groups[-1].signups.append(signup)
    return Queue(groups, len(rows), truncated)


@dataclass
class Decisions:
    """What a bulk decision did: the sign-ups decided, and the refused ones with why."""

    decision: str
    done: list[Signup] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)  # (who, why)

    def message(self) -> str:
        """“已通过 5 人；2 人未能通过，仍在待审核：…” — the sentence for the organizer."""
        n, m = len(self.done), len(self.failed)
        why = _("；").join(
            _("%(who)s（%(why)s）", who=who, why=reason) for who, reason in self.failed
        )
        if self.decision == "approve":
            if not m:
                return _("已通过 %(n)d 人，已通知本人。", n=n)
            if not n:
                return _("%(m)d 人未能通过，仍在待审核：%(why)s", m=m, why=why)
            return _("已通过 %(n)d 人；%(m)d 人未能通过，仍在待审核：%(why)s", n=n, m=m, why=why)
        if not m:
            return _("已拒绝 %(n)d 人，已通知本人。", n=n)
        if not n:
            return _("%(m)d 人未能拒绝：%(why)s", m=m, why=why)
        return _("已拒绝 %(n)d 人；%(m)d 人未能拒绝：%(why)s", n=n, m=m, why=why)


def decide_many(
    actor: User,
    signup_ids: Sequence[int],
    decision: str,
    reason: str = "",
    now: datetime | None = None,
) -> Decisions:
    """Approve or reject several pending sign-ups, each through the organizer decision.

    Every shift and person concerned is locked first (shifts, then people, in id order, as
    the lock protocol of :mod:`portal.signups.places` asks), then each sign-up is decided in
    its own savepoint: a refusal (full, overlapping, started …) leaves the others decided and
    is reported with its reason. Sign-ups the actor does not manage count as not found.

    :raises OrganizeError: nothing chosen, too many, an unknown decision, or no reason for a
        rejection — before anything is written.
    """
    from portal.permissions import can_manage_shift
    from portal.signups import places

    if decision not in ("approve", "reject"):
        raise OrganizeError(_("请选择“通过”或“不通过”。"))
    ids = list(dict.fromkeys(int(i) for i in signup_ids))
    if not ids:
        raise OrganizeError(_("请先勾选要处理的报名。"), field="signup_ids")
    if len(ids) > MAX_DECISIONS:
        raise OrganizeError(_("一次最多处理 %(n)d 条报名。", n=MAX_DECISIONS), field="signup_ids")
    reason = (reason or "").strip()
    if decision == "reject" and not reason:
        raise OrganizeError(_("不通过时请填写原因，对方会收到这条说明。"), field="reason")
    if len(reason) > 500:
        raise OrganizeError(_("原因最多500个字。"), field="reason")
    now = now or now_utc()
    found = {
        s.id: s
        for s in db.session.scalars(
            select(Signup)
            .where(Signup.id.in_(ids))
            .options(joinedload(Signup.shift).joinedload(Shift.activity), joinedload(Signup.user))
        ).unique()
        if can_manage_shift(actor, s.shift)
    }
    places.lock(
        {s.shift_id for s in found.values()},
        {s.user_id for s in found.values()},
        with_waiting=True,
    )
    result = Decisions(decision)
    order = sorted(found.values(), key=lambda s: (s.shift.starts_at, s.shift_id, s.id))
    result.failed.extend(
        (_("第 %(id)d 号报名", id=i), _("没有找到这条报名记录。")) for i in ids if i not in found
    )
    for signup in order:
        who = signup.user.real_name
        try:
            with db.session.begin_nested():
                if decision == "approve":
                    places.approve(actor, signup, now)
                else:
                    places.reject(actor, signup, reason, now)
        except places.SignupError as exc:
            result.failed.append((who, str(exc)))
        else:
            result.done.append(signup)
    return result


# --- today -----------------------------------------------------------------------------------


@dataclass
class DayShift:
    """One shift of the day with its fill and check-in state."""

    shift: Shift
    confirmed: int  # expected on site
    pending: int
    attended: int
    no_show: int
    started_before: bool  # began the day before (an overnight shift still running)
    ends_next_day: bool

    @property
    def unmarked(self) -> int:
        return max(self.confirmed - self.attended - self.no_show, 0)


@dataclass
class Day:
    day: date
    shifts: list[DayShift]

    @property
    def totals(self) -> dict[str, int]:
        live = [d for d in self.shifts if not d.shift.is_off]
        return {
            "shifts": len(live),
            "expected": sum(d.confirmed for d in live),
            "attended": sum(d.attended for d in live),
            "no_show": sum(d.no_show for d in live),
            "pending": sum(d.pending for d in live),
        }


def day_shifts(user: User, day: date) -> Day:
    """Every shift of the person's units on a local (site time zone) day, soonest first.

    A shift belongs to the day it starts on in the site time zone (00:30 is that day's); an
    overnight shift from the evening before that is still running is shown too.
    Two statements: the shifts with their activities, and the counts per shift.
    """
    start, end = local_day_bounds(day)
    stmt = (
        select(Shift)
        .join(Shift.activity)
        .where(
            Shift.starts_at < end,
            or_(Shift.starts_at >= start, Shift.ends_at > start),
        )
        .options(contains_eager(Shift.activity).joinedload(Activity.unit))
        .order_by(Shift.starts_at, Activity.title, Shift.post_name, Shift.id)
    )
    shifts = list(db.session.scalars(_in_scope(stmt, scope_unit_ids(user))).unique())
    counts = _signup_counts([s.id for s in shifts])
    result = []
    for shift in shifts:
        confirmed, pending, attended, no_show = counts.get(shift.id, (0, 0, 0, 0))
        result.append(
            DayShift(
                shift,
                confirmed,
                pending,
                attended,
                no_show,
                started_before=shift.starts_at < start,
                ends_next_day=shift.ends_at > end,
            )
        )
    return Day(day, result)


def _signup_counts(shift_ids: list[int]) -> dict[int, tuple[int, int, int, int]]:
    """{shift_id: (confirmed, pending, attended, no-show)} in one statement."""
    if not shift_ids:
        return {}
    confirmed = Signup.status == SignupStatus.CONFIRMED

    def count(condition):
        return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)

    rows = db.session.execute(
        select(
            Signup.shift_id,
            count(confirmed),
            count(Signup.status == SignupStatus.PENDING),
            count(and_(confirmed, Signup.attendance == Attendance.ATTENDED)),
            count(and_(confirmed, Signup.attendance == Attendance.NO_SHOW)),
        )
        .where(Signup.shift_id.in_(shift_ids))
        .group_by(Signup.shift_id)
    )
    return {r[0]: (int(r[1]), int(r[2]), int(r[3]), int(r[4])) for r in rows}


def pending_count(user: User, now: datetime | None = None) -> int:
    """How many sign-ups wait in the person's approval queue (one statement)."""
    stmt = (
        select(func.count(Signup.id))
        .join(Signup.shift)
        .join(Shift.activity)
        .where(
            Signup.status == SignupStatus.PENDING,
            Shift.status == ShiftStatus.SCHEDULED,
            Activity.status != ActivityStatus.CANCELLED,
            Shift.starts_at > (now or now_utc()),
        )
    )
    return db.session.scalar(_in_scope(stmt, scope_unit_ids(user))) or 0

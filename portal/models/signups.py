"""Sign-ups: a person on a shift, with status, waitlist order, attendance and hours."""

from __future__ import annotations

import enum
from collections import defaultdict
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING

from sqlalchemy import (
    CheckConstraint,
    ForeignKey,
    Index,
    Numeric,
    String,
    Text,
    case,
    event,
    func,
    inspect,
    select,
    text,
    update,
)
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship
from sqlalchemy.orm.util import identity_key

from portal.models.activities import Shift, _enum
from portal.models.base import Base, UTCDateTime, utcnow

if TYPE_CHECKING:
    from portal.models.people import User


class SignupStatus(enum.StrEnum):
    PENDING = "pending"  # awaiting the organizer's approval; holds a place
    CONFIRMED = "confirmed"
    WAITLISTED = "waitlisted"
    CANCELLED = "cancelled"
    REJECTED = "rejected"


ACTIVE_STATUSES = (SignupStatus.PENDING, SignupStatus.CONFIRMED, SignupStatus.WAITLISTED)
PLACE_HOLDING_STATUSES = (SignupStatus.PENDING, SignupStatus.CONFIRMED)


class Attendance(enum.StrEnum):
    ATTENDED = "attended"
    NO_SHOW = "no_show"


class CheckinMethod(enum.StrEnum):
    ROSTER = "roster"
    QR = "qr"


_ACTIVE_SQL = "status IN ('pending', 'confirmed', 'waitlisted')"


class Signup(Base):
    """A person's place (or queue position) on one shift."""

    __tablename__ = "signups"
    __table_args__ = (
        # One active sign-up per person and shift, enforced by the database itself.
        Index(
            "uq_signups_active_person_shift",
            "user_id",
            "shift_id",
            unique=True,
            sqlite_where=text(_ACTIVE_SQL),
            postgresql_where=text(_ACTIVE_SQL),
        ),
        CheckConstraint("hours IS NULL OR (hours >= 0 AND hours <= 24)", name="hours_range"),
        Index("ix_signups_shift_status", "shift_id", "status"),
        Index("ix_signups_user_status", "user_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    shift_id: Mapped[int] = mapped_column(ForeignKey("shifts.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    # active_history: the counters need the old status even when it was not loaded.
    status: Mapped[SignupStatus] = mapped_column(
        _enum(SignupStatus, "signup_status"), active_history=True
    )
    source: Mapped[str] = mapped_column(String(16), default="self")  # self / walk_in / organizer
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    # Waitlist order: first come, first served. Set when the person joins the waitlist.
    queued_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reason: Mapped[str] = mapped_column(Text, default="")  # rejection / removal / cancellation
    reminder_sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    attendance: Mapped[Attendance | None] = mapped_column(_enum(Attendance, "attendance"))
    checked_in_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    checked_out_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    checkin_method: Mapped[CheckinMethod | None] = mapped_column(
        _enum(CheckinMethod, "checkin_method")
    )
    hours: Mapped[Decimal | None] = mapped_column(Numeric(4, 1))
    hours_confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    hours_confirmed_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    hours_note: Mapped[str] = mapped_column(Text, default="")

    shift: Mapped[Shift] = relationship()
    user: Mapped[User] = relationship(foreign_keys=[user_id])

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_STATUSES

    def __repr__(self) -> str:
        return f"<Signup {self.id} shift={self.shift_id} user={self.user_id} {self.status}>"


# --- the shift's counters --------------------------------------------------------------------
#
# ``Shift.taken_count`` and ``Shift.waitlist_count`` follow every sign-up change that goes
# through a session flush: a new sign-up, a status change, a deleted row. The change is sent
# as ``UPDATE shifts SET taken_count = taken_count + :d`` in the same transaction, so it is
# exact under concurrency, and loaded Shift objects have the two attributes expired
# afterwards so they re-read the stored value. (Bulk UPDATE statements on ``signups.status``
# would bypass this; the portal issues none, and a test checks the counters against a count.)


def _counts_of(status) -> tuple[int, int]:
    if status is None:
        return 0, 0
    return int(status in PLACE_HOLDING_STATUSES), int(status == SignupStatus.WAITLISTED)


def _counter_deltas(session) -> dict[int, list[int]]:
    deltas: dict[int, list[int]] = defaultdict(lambda: [0, 0])

    def add(shift_id, status, sign):
        taken, waiting = _counts_of(status)
        deltas[shift_id][0] += sign * taken
        deltas[shift_id][1] += sign * waiting

    for obj in session.new:
        if isinstance(obj, Signup):
            add(obj.shift_id, obj.status, +1)
    for obj in session.deleted:
        if isinstance(obj, Signup):
            history = inspect(obj).attrs.status.history
            add(obj.shift_id, history.deleted[0] if history.deleted else obj.status, -1)
    for obj in session.dirty:
        if isinstance(obj, Signup) and obj not in session.deleted:
            history = inspect(obj).attrs.status.history
            if history.added:
                old = history.deleted[0] if history.deleted else None
                add(obj.shift_id, old, -1)
                add(obj.shift_id, history.added[0], +1)
    return {k: v for k, v in deltas.items() if v != [0, 0] and k is not None}


@event.listens_for(Session, "after_flush")
def _keep_shift_counters(session, _flush_context) -> None:
    deltas = _counter_deltas(session)
    if not deltas:
        return
    shifts = Shift.__table__
    connection = session.connection()
    for shift_id in sorted(deltas):
        taken, waiting = deltas[shift_id]
        connection.execute(
            update(shifts)
            .where(shifts.c.id == shift_id)
            .values(
                taken_count=shifts.c.taken_count + taken,
                waitlist_count=shifts.c.waitlist_count + waiting,
                # Places are not part of the shift's calendar event: keep ``updated_at`` (and
                # so public feeds' ETags) as it was; feeds that show places probe the counts.
                updated_at=shifts.c.updated_at,
            )
        )
    session.info.setdefault("portal_stale_counters", set()).update(deltas)


@event.listens_for(Session, "after_flush_postexec")
def _expire_counters(session, _flush_context) -> None:
    for shift_id in session.info.pop("portal_stale_counters", ()):
        shift = session.identity_map.get(identity_key(Shift, shift_id))
        if shift is not None:
            session.expire(shift, ["taken_count", "waitlist_count"])


def counter_mismatches(session) -> list[tuple[int, int, int, int, int]]:
    """Return (shift id, stored taken, counted taken, stored waiting, counted waiting) for
    every shift whose counters disagree with its sign-ups; empty when all is well."""
    counted = (
        select(
            Signup.shift_id.label("shift_id"),
            func.sum(case((Signup.status.in_(PLACE_HOLDING_STATUSES), 1), else_=0)).label("t"),
            func.sum(case((Signup.status == SignupStatus.WAITLISTED, 1), else_=0)).label("w"),
        )
        .group_by(Signup.shift_id)
        .subquery()
    )
    taken = func.coalesce(counted.c.t, 0)
    waiting = func.coalesce(counted.c.w, 0)
    rows = session.execute(
        select(Shift.id, Shift.taken_count, taken, Shift.waitlist_count, waiting)
        .outerjoin(counted, counted.c.shift_id == Shift.id)
        .where((Shift.taken_count != taken) | (Shift.waitlist_count != waiting))
        .order_by(Shift.id)
    ).all()
    return [tuple(r) for r in rows]

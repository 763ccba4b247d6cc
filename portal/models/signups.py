"""Sign-ups: a person on a shift, with status, waitlist order, attendance and hours."""

from __future__ import annotations

import enum
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
    func,
    select,
    text,
)
from sqlalchemy.orm import Mapped, column_property, mapped_column, relationship

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
    status: Mapped[SignupStatus] = mapped_column(_enum(SignupStatus, "signup_status"))
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


# Counts every shift query carries along as correlated subqueries, so that a page listing
# many shifts still issues a fixed number of statements.
Shift.taken_count = column_property(
    select(func.count(Signup.id))
    .where(Signup.shift_id == Shift.id, Signup.status.in_(PLACE_HOLDING_STATUSES))
    .correlate_except(Signup)
    .scalar_subquery()
)
Shift.waitlist_count = column_property(
    select(func.count(Signup.id))
    .where(Signup.shift_id == Shift.id, Signup.status == SignupStatus.WAITLISTED)
    .correlate_except(Signup)
    .scalar_subquery()
)

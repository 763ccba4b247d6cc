"""Service records' history and certificates (《志愿服务记录与证明出具办法（试行）》).

A service record is a sign-up on a volunteer activity with attendance and hours
(``Signup.hours``, confirmed when ``Signup.hours_confirmed_at`` is set). Every change of a
record's hours after the default is kept here as an adjustment; a certificate is a numbered,
verifiable statement of a person's confirmed hours over a period, with a snapshot of the
records it lists.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy import JSON, CheckConstraint, Date, ForeignKey, Integer, Numeric, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.models.base import Base, UTCDateTime, utcnow

if TYPE_CHECKING:
    from portal.models.people import User
    from portal.models.signups import Signup


class HoursAdjustment(Base):
    """One change of a service record's hours: old value, new value, reason, who and when."""

    __tablename__ = "hours_adjustments"

    id: Mapped[int] = mapped_column(primary_key=True)
    signup_id: Mapped[int] = mapped_column(ForeignKey("signups.id", ondelete="CASCADE"), index=True)
    old_hours: Mapped[Decimal | None] = mapped_column(Numeric(4, 1))
    new_hours: Mapped[Decimal | None] = mapped_column(Numeric(4, 1))
    reason: Mapped[str] = mapped_column(Text, default="")
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    signup: Mapped[Signup] = relationship()
    actor: Mapped[User | None] = relationship()


class Certificate(Base):
    """A numbered statement of a person's confirmed volunteer hours over a period."""

    __tablename__ = "certificates"
    __table_args__ = (
        CheckConstraint("period_end >= period_start", name="period_order"),
        CheckConstraint("total_hours >= 0", name="total_not_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(32), unique=True)  # e.g. ZS-2026-000123
    code: Mapped[str] = mapped_column(String(32), unique=True)  # verification code (secret-ish)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    period_start: Mapped[date] = mapped_column(Date)
    period_end: Mapped[date] = mapped_column(Date)
    total_hours: Mapped[Decimal] = mapped_column(Numeric(7, 1))
    record_count: Mapped[int] = mapped_column(Integer)
    # The records as certified (activity, date, place, content, hours, unit, person in
    # charge — Art. 7), so a later edit of an activity does not change an issued certificate.
    records: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    issuer: Mapped[str] = mapped_column(String(120))
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    revoke_reason: Mapped[str] = mapped_column(Text, default="")

    user: Mapped[User] = relationship(foreign_keys=[user_id])

    @property
    def is_valid(self) -> bool:
        return self.revoked_at is None

"""Activities and their shifts (班次)."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
)
from sqlalchemy.ext.hybrid import hybrid_property
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.models.base import Base, UTCDateTime, utcnow

if TYPE_CHECKING:
    from portal.models.people import User
    from portal.models.places import Programme, Unit, Zone

MAX_CAPACITY = 10_000


def _enum(cls, name: str, length: int = 16) -> Enum:
    return Enum(
        cls,
        native_enum=False,
        create_constraint=True,
        length=length,
        values_callable=lambda e: [m.value for m in e],
        name=name,
        validate_strings=True,
    )


activity_programmes = Table(
    "activity_programmes",
    Base.metadata,
    Column("activity_id", ForeignKey("activities.id", ondelete="CASCADE"), primary_key=True),
    Column(
        "programme_id",
        ForeignKey("programmes.id", ondelete="RESTRICT"),
        primary_key=True,
        index=True,
    ),
)


class ActivityKind(enum.StrEnum):
    VOLUNTEER = "volunteer"  # volunteer service: earns recorded hours
    COMMUNITY = "community"  # community attendance: no volunteer hours (records rules Art. 19)


class ActivityStatus(enum.StrEnum):
    DRAFT = "draft"
    PUBLISHED = "published"
    CANCELLED = "cancelled"
    FINISHED = "finished"


# Activities anyone may see: everything but drafts (cancelled ones stay visible, as cancelled).
PUBLIC_ACTIVITY_STATUSES = (
    ActivityStatus.PUBLISHED,
    ActivityStatus.CANCELLED,
    ActivityStatus.FINISHED,
)


class Activity(Base):
    """What a resident sees first; it has one or more shifts."""

    __tablename__ = "activities"
    __table_args__ = (
        CheckConstraint(
            "cancellation_deadline_hours >= 0 AND cancellation_deadline_hours <= 720",
            name="cancellation_deadline_range",
        ),
        Index("ix_activities_status_zone", "status", "zone_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(120))
    description: Mapped[str] = mapped_column(Text, default="")
    kind: Mapped[ActivityKind] = mapped_column(_enum(ActivityKind, "activity_kind"))
    status: Mapped[ActivityStatus] = mapped_column(
        _enum(ActivityStatus, "activity_status"), default=ActivityStatus.DRAFT
    )
    zone_id: Mapped[int] = mapped_column(ForeignKey("zones.id", ondelete="RESTRICT"), index=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id", ondelete="RESTRICT"), index=True)
    place: Mapped[str] = mapped_column(String(200))
    latitude: Mapped[float | None] = mapped_column(Float)
    longitude: Mapped[float | None] = mapped_column(Float)
    contact_name: Mapped[str] = mapped_column(String(40), default="")
    contact_phone: Mapped[str] = mapped_column(String(30), default="")
    requirements: Mapped[str] = mapped_column(Text, default="")
    risk_notice: Mapped[str] = mapped_column(Text, default="")
    cancellation_deadline_hours: Mapped[int] = mapped_column(Integer, default=2)
    cancel_reason: Mapped[str] = mapped_column(Text, default="")
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    zone: Mapped[Zone] = relationship()
    unit: Mapped[Unit] = relationship()
    created_by: Mapped[User | None] = relationship()
    programmes: Mapped[list[Programme]] = relationship(
        secondary=activity_programmes, order_by="Programme.position"
    )
    shifts: Mapped[list[Shift]] = relationship(
        back_populates="activity",
        order_by="Shift.starts_at",
        cascade="all, delete-orphan",
        passive_deletes=True,
    )

    @property
    def is_published(self) -> bool:
        return self.status == ActivityStatus.PUBLISHED

    @hybrid_property
    def is_public(self) -> bool:
        """Visible to everyone: published, cancelled or finished (not a draft)."""
        return self.status in PUBLIC_ACTIVITY_STATUSES

    @is_public.inplace.expression
    @classmethod
    def _is_public_expression(cls):
        return cls.status.in_(PUBLIC_ACTIVITY_STATUSES)

    @property
    def is_cancelled(self) -> bool:
        return self.status == ActivityStatus.CANCELLED

    @property
    def is_volunteer(self) -> bool:
        return self.kind == ActivityKind.VOLUNTEER

    def __repr__(self) -> str:
        return f"<Activity {self.id} {self.title!r}>"


class ShiftStatus(enum.StrEnum):
    SCHEDULED = "scheduled"
    CANCELLED = "cancelled"


class Shift(Base):
    """A time slot of an activity with its own capacity, roster and sign-up window."""

    __tablename__ = "shifts"
    __table_args__ = (
        CheckConstraint("ends_at > starts_at", name="ends_after_start"),
        CheckConstraint(f"capacity >= 1 AND capacity <= {MAX_CAPACITY}", name="capacity_range"),
        CheckConstraint(
            "signup_closes_at IS NULL OR signup_opens_at IS NULL "
            "OR signup_closes_at > signup_opens_at",
            name="signup_window_order",
        ),
        CheckConstraint("sequence >= 0", name="sequence_not_negative"),
        CheckConstraint("taken_count >= 0 AND waitlist_count >= 0", name="counters_not_negative"),
        Index("ix_shifts_activity_start", "activity_id", "starts_at"),
        # The list page and the API (portal.browse.queries): upcoming shifts in time order,
        # and one activity's live shifts with their places, both read from the index alone.
        Index("ix_shifts_status_start", "status", "starts_at", "activity_id"),
        Index(
            "ix_shifts_activity_status_start",
            "activity_id",
            "status",
            "starts_at",
            "capacity",
            "taken_count",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    activity_id: Mapped[int] = mapped_column(ForeignKey("activities.id", ondelete="CASCADE"))
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime)
    capacity: Mapped[int] = mapped_column(Integer)
    post_name: Mapped[str] = mapped_column(String(60), default="")
    signup_opens_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    signup_closes_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    requires_approval: Mapped[bool] = mapped_column(Boolean, default=False)
    waitlist_enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    status: Mapped[ShiftStatus] = mapped_column(
        _enum(ShiftStatus, "shift_status"), default=ShiftStatus.SCHEDULED
    )
    cancel_reason: Mapped[str] = mapped_column(Text, default="")
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Calendar SEQUENCE: raised whenever a change matters to someone's calendar.
    sequence: Mapped[int] = mapped_column(Integer, default=0)
    # Places taken (confirmed + pending) and people waiting. Kept by the database session
    # itself whenever a sign-up is added, deleted or changes status (portal.models.signups
    # ``_keep_shift_counters``), so that lists never count sign-ups. Never set them by hand.
    taken_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    waitlist_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # Attendance sums of its sign-ups, kept by database triggers for the dashboard
    # (portal/models/participation.py): never written by the app.
    attended_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    no_show_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    record_tenths: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    activity: Mapped[Activity] = relationship(back_populates="shifts")

    @property
    def is_cancelled(self) -> bool:
        return self.status == ShiftStatus.CANCELLED

    @property
    def is_off(self) -> bool:
        """The shift will not take place: it or its whole activity is cancelled."""
        return self.status == ShiftStatus.CANCELLED or self.activity.is_cancelled

    @property
    def spots_left(self) -> int:
        return max(self.capacity - self.taken_count, 0)

    @property
    def is_full(self) -> bool:
        return self.spots_left == 0

    @property
    def fill_ratio(self) -> float:
        return min(self.taken_count / self.capacity, 1.0) if self.capacity else 1.0

    @property
    def duration_hours(self) -> float:
        return (self.ends_at - self.starts_at).total_seconds() / 3600

    def __repr__(self) -> str:
        return f"<Shift {self.id} {self.starts_at:%Y-%m-%d %H:%M}>"


def shift_is_live():
    """SQL for "the shift takes place" (the opposite of :attr:`Shift.is_off`).

    The statement must join :class:`Activity`.
    """
    from sqlalchemy import and_

    return and_(Shift.status == ShiftStatus.SCHEDULED, Activity.status != ActivityStatus.CANCELLED)

"""The command centre's own records: zone leaders' visits to their zones (领导包片)."""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING

from sqlalchemy import Date, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.models.base import Base, UTCDateTime, utcnow

if TYPE_CHECKING:
    from portal.models.activities import Activity
    from portal.models.people import User
    from portal.models.places import Zone


class LeaderVisit(Base):
    """A zone leader's visit to one of their zones (进片区), recorded by the leader.

    ``visited_on`` is the local (Asia/Shanghai) date of the visit; the dashboard counts
    visits per leader per calendar month against ``LEADER_VISITS_PER_MONTH``. A visit made
    by checking in at an activity in the zone names that activity.
    """

    __tablename__ = "leader_visits"
    __table_args__ = (Index("ix_leader_visits_zone_date", "zone_id", "visited_on"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    leader_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    zone_id: Mapped[int] = mapped_column(ForeignKey("zones.id", ondelete="CASCADE"))
    activity_id: Mapped[int | None] = mapped_column(
        ForeignKey("activities.id", ondelete="SET NULL"), index=True
    )
    visited_on: Mapped[date] = mapped_column(Date)
    place: Mapped[str] = mapped_column(String(120), default="")
    notes: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    leader: Mapped[User | None] = relationship()
    zone: Mapped[Zone] = relationship()
    activity: Mapped[Activity | None] = relationship()

    def __repr__(self) -> str:
        return f"<LeaderVisit {self.id} zone={self.zone_id} on={self.visited_on}>"

"""Where things happen and who is responsible: zones, units and the programme tree."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import CheckConstraint, Column, Enum, ForeignKey, Integer, String, Table, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.models.base import Base, UTCDateTime, utcnow

if TYPE_CHECKING:
    from portal.models.people import User

zone_leaders = Table(
    "zone_leaders",
    Base.metadata,
    Column("zone_id", ForeignKey("zones.id", ondelete="CASCADE"), primary_key=True),
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
)

unit_organizers = Table(
    "unit_organizers",
    Base.metadata,
    Column("unit_id", ForeignKey("units.id", ondelete="CASCADE"), primary_key=True),
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
)


class Zone(Base):
    """A grid zone (片区) with its resident population and assigned leaders."""

    __tablename__ = "zones"
    __table_args__ = (CheckConstraint("population >= 0", name="population_not_negative"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(60), unique=True)
    street: Mapped[str] = mapped_column(String(60), default="")
    population: Mapped[int] = mapped_column(Integer, default=0)
    description: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    leaders: Mapped[list[User]] = relationship(secondary=zone_leaders, back_populates="led_zones")

    def __repr__(self) -> str:
        return f"<Zone {self.name}>"


class UnitKind(enum.StrEnum):
    DEPARTMENT = "department"
    STREET_OFFICE = "street_office"
    COMMUNITY = "community"
    VOLUNTEER_TEAM = "volunteer_team"


class Unit(Base):
    """A responsible unit (责任单位): department, street office, community or team."""

    __tablename__ = "units"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(80), unique=True)
    kind: Mapped[UnitKind] = mapped_column(
        Enum(
            UnitKind,
            native_enum=False,
            create_constraint=True,
            length=20,
            values_callable=lambda e: [m.value for m in e],
            name="unit_kind",
        )
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    organizers: Mapped[list[User]] = relationship(secondary=unit_organizers, back_populates="units")

    def __repr__(self) -> str:
        return f"<Unit {self.name}>"


class Programme(Base):
    """A node of the programme tree (五进, 八大专项整治, 十大文明工程, 省运会 …)."""

    __tablename__ = "programmes"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(60))
    parent_id: Mapped[int | None] = mapped_column(
        ForeignKey("programmes.id", ondelete="RESTRICT"), index=True
    )
    position: Mapped[int] = mapped_column(Integer, default=0)
    description: Mapped[str] = mapped_column(Text, default="")

    parent: Mapped[Programme | None] = relationship(remote_side=[id], back_populates="children")
    children: Mapped[list[Programme]] = relationship(
        back_populates="parent", order_by="Programme.position"
    )

    def __repr__(self) -> str:
        return f"<Programme {self.code}>"

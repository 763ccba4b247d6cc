"""People: residents, organizers, zone leaders and administrators."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from flask_login import UserMixin
from sqlalchemy import Boolean, String, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.models.base import Base, UTCDateTime, utcnow
from portal.models.places import unit_organizers, zone_leaders

if TYPE_CHECKING:
    from portal.models.places import Unit, Zone


class User(UserMixin, Base):
    """A registered person; every user is a resident, some hold further roles.

    Roles: ``is_admin`` (command centre), organizer of the units in ``units``, leader of
    the zones in ``led_zones``. What a role may do is decided in :mod:`portal.permissions`.
    """

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    phone: Mapped[str | None] = mapped_column(String(20), unique=True)
    real_name: Mapped[str] = mapped_column(String(40))
    # Optional: notices and reminders are also e-mailed when SMTP is configured.
    email: Mapped[str | None] = mapped_column(String(254))
    password_hash: Mapped[str | None] = mapped_column(String(255))
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    consent_version: Mapped[str | None] = mapped_column(String(20))
    consent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Raised on password change and on deletion so old sessions and remember cookies die.
    session_version: Mapped[int] = mapped_column(default=1)
    # Set when an admin or organizer gives a one-time password at the counter: the person
    # must choose their own password at the next login.
    must_change_password: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=false()
    )
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    units: Mapped[list[Unit]] = relationship(secondary=unit_organizers, back_populates="organizers")
    led_zones: Mapped[list[Zone]] = relationship(secondary=zone_leaders, back_populates="leaders")

    @property
    def is_active(self) -> bool:  # Flask-Login
        return self.active and self.deleted_at is None

    def get_id(self) -> str:
        """Flask-Login's id: the session token (see portal.auth.services.new_session_token)."""
        token = getattr(self, "_session_token", None)
        if not token or token.split(":")[1:2] != [str(self.session_version)]:
            from portal.auth.services import new_session_token

            token = self._session_token = new_session_token(self, remember=False)
        return token

    @property
    def masked_name(self) -> str:
        from portal.privacy import mask_name

        return mask_name(self.real_name)

    @property
    def masked_phone(self) -> str:
        from portal.privacy import mask_phone

        return mask_phone(self.phone or "")

    def __repr__(self) -> str:
        return f"<User {self.id}>"

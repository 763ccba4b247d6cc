"""In-app notifications (the inbox) and the audit log."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.models.base import Base, UTCDateTime, utcnow
from portal.models.people import User


class Notification(Base):
    """A message in a person's inbox: promotion, approval, change, cancellation, notice.

    It is also the e-mail outbox: a notification for someone with an address (while mail is
    configured) gets ``email_to`` and ``email_next_try_at``; ``flask deliver`` sends it later
    and sets ``emailed_at``, or on failure counts ``email_attempts``, keeps ``email_error`` and
    moves ``email_next_try_at`` on; when it gives up, ``email_next_try_at`` is cleared. A row
    is waiting for delivery exactly while ``email_next_try_at`` is set.
    """

    __tablename__ = "notifications"
    __table_args__ = (Index("ix_notifications_user_read", "user_id", "read_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(32))
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text, default="")
    link: Mapped[str] = mapped_column(String(300), default="")
    # The message in the other languages, written at the same time from the same msgids and
    # values: {"en": {"title": …, "body": …}}. ``title``/``body`` hold the Chinese; the inbox
    # shows the reader's language and falls back to the Chinese (rows from before this).
    texts: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The outbox (see the class docstring); the address is the one the person had when the
    # notification was written, checked again just before sending.
    email_to: Mapped[str | None] = mapped_column(String(254))
    email_attempts: Mapped[int] = mapped_column(default=0, server_default="0")
    email_next_try_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    email_error: Mapped[str | None] = mapped_column(String(500))
    emailed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship()

    def text_in(self, language: str) -> tuple[str, str]:
        """(title, body) in ``language`` ("en", "zh"), or the Chinese when there is none."""
        other = (self.texts or {}).get(language)
        if other:
            return other.get("title") or self.title, other.get("body", self.body)
        return self.title, self.body


class AuditEntry(Base):
    """Who did what to which record, and when; kept at least six months (网络安全法)."""

    __tablename__ = "audit_entries"
    __table_args__ = (
        Index("ix_audit_entries_target", "target_type", "target_id"),
        Index("ix_audit_entries_action_created", "action", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    actor_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    action: Mapped[str] = mapped_column(String(64))
    target_type: Mapped[str] = mapped_column(String(32), default="")
    target_id: Mapped[int | None] = mapped_column()
    # The unit the target belongs to (an activity's, a shift's, a sign-up's unit), so the
    # log can be filtered by unit; empty for district-wide records such as zones or people.
    unit_id: Mapped[int | None] = mapped_column(
        ForeignKey("units.id", ondelete="SET NULL"), index=True
    )
    summary: Mapped[str] = mapped_column(Text, default="")
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    ip: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)

    actor: Mapped[User | None] = relationship()


class CalendarToken(Base):
    """A secret for personal (and unit) feeds, separate from the password.

    Only a SHA-256 hash is stored. Resetting revokes the old token; a revoked or unknown
    token gets 410 Gone.
    """

    __tablename__ = "calendar_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    alarm_minutes: Mapped[int | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship()

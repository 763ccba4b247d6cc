"""Keeping personal data no longer than needed (《个人信息保护法》 Art. 19) — and logs long enough
(网络安全法: at least six months).

``flask --app portal purge-expired`` (daily from cron):

- sign-ups for **community** activities (not volunteer service: those are service records the
  volunteer rules keep) whose shift ended more than ``COMMUNITY_SIGNUP_RETENTION_DAYS`` ago are
  anonymised: each is moved to an anonymous placeholder person of its own (no name, no phone,
  cannot log in), and its free-text notes are cleared. Counts and statistics stay right; who
  took part is gone.
- audit entries older than ``AUDIT_RETENTION_DAYS`` are deleted; the setting cannot be below
  180 days (:data:`MIN_AUDIT_DAYS`), so nothing younger is ever purged.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import click
from flask import Flask, current_app
from sqlalchemy import delete, select

from portal.extensions import db
from portal.models import Activity, ActivityKind, AuditEntry, Shift, Signup, User, utcnow

MIN_AUDIT_DAYS = 180
ANONYMOUS_NAME = "匿名参与者"  # stored data, not UI text: what old community rosters show


@dataclass
class PurgeResult:
    signups_anonymised: int
    audit_entries_deleted: int


def audit_retention_days() -> int:
    days = int(current_app.config.get("AUDIT_RETENTION_DAYS", 365))
    if days < MIN_AUDIT_DAYS:
        raise ValueError(
            f"AUDIT_RETENTION_DAYS={days}: audit entries must be kept at least "
            f"{MIN_AUDIT_DAYS} days"
        )
    return days


def purge_expired(now: datetime | None = None) -> PurgeResult:
    """Anonymise old community sign-ups and drop audit entries past retention (caller commits)."""
    from portal.audit.services import record

    now = now or utcnow()
    audit_days = audit_retention_days()  # refuse a bad setting before touching anything
    cutoff = now - timedelta(days=int(current_app.config["COMMUNITY_SIGNUP_RETENTION_DAYS"]))
    expired = db.session.scalars(
        select(Signup)
        .join(Shift, Signup.shift_id == Shift.id)
        .join(Activity, Shift.activity_id == Activity.id)
        .join(User, Signup.user_id == User.id)
        .where(Activity.kind == ActivityKind.COMMUNITY, Shift.ends_at < cutoff)
        .where(~((User.real_name == ANONYMOUS_NAME) & User.phone.is_(None)))
        .order_by(Signup.id)
    ).all()
    for signup in expired:
        placeholder = User(
            real_name=ANONYMOUS_NAME,
            phone=None,
            email=None,
            password_hash=None,
            active=False,
            deleted_at=now,
            consent_version=None,
        )
        db.session.add(placeholder)
        signup.user = placeholder
        signup.reason = ""
        signup.hours_note = ""
    db.session.flush()
    deleted = (
        db.session.execute(
            delete(AuditEntry).where(AuditEntry.created_at < now - timedelta(days=audit_days))
        ).rowcount
        or 0
    )
    if expired or deleted:
        summary = (
            f"社区活动报名匿名化 {len(expired)} 条；删除超过 {audit_days} 天的操作日志 {deleted} 条"
        )
        record("retention.purge", None, summary)
    return PurgeResult(len(expired), deleted)


def register_retention_cli(app: Flask) -> None:
    @app.cli.command("purge-expired")
    def purge_expired_command() -> None:
        """Anonymise community sign-ups past retention; drop audit entries past retention."""
        try:
            result = purge_expired()
        except ValueError as exc:
            raise click.ClickException(str(exc)) from exc
        db.session.commit()
        click.echo(
            f"Community sign-ups anonymised: {result.signups_anonymised}; "
            f"audit entries deleted: {result.audit_entries_deleted}"
        )

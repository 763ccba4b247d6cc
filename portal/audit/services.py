"""The audit log: organizer and admin actions, exports, views of full personal data."""

from __future__ import annotations

from typing import Any

from flask import has_request_context, request
from flask_login import current_user

from portal.extensions import db
from portal.models import AuditEntry, User


def record(
    action: str,
    target: Any = None,
    summary: str = "",
    before: dict | None = None,
    after: dict | None = None,
    actor: User | None = None,
) -> AuditEntry:
    """Add an audit entry for ``action`` on ``target``; the request's commit saves it.

    :param action: a dotted verb such as ``activity.publish`` or ``roster.view_full``.
    :param target: a model instance (its table and id are recorded) or ``None``.
    """
    if actor is None and has_request_context() and current_user.is_authenticated:
        actor = current_user
    entry = AuditEntry(
        actor_id=actor.id if actor is not None else None,
        action=action,
        target_type=getattr(target, "__tablename__", "") if target is not None else "",
        target_id=getattr(target, "id", None),
        summary=summary,
        before=before,
        after=after,
        ip=(request.remote_addr or "") if has_request_context() else "",
    )
    db.session.add(entry)
    return entry

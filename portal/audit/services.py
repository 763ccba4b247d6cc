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
    unit_id: int | None = None,
) -> AuditEntry:
    """Add an audit entry for ``action`` on ``target``; the request's commit saves it.

    :param action: a dotted verb such as ``activity.publish`` or ``roster.view_full``.
    :param target: a model instance (its table and id are recorded) or ``None``.
    :param unit_id: the unit the entry belongs to; by default the target's (an activity's,
        a shift's or a sign-up's unit, a unit itself), so the log can be filtered by unit.
    """
    if actor is None and has_request_context() and current_user.is_authenticated:
        actor = current_user
    entry = AuditEntry(
        actor_id=actor.id if actor is not None else None,
        action=action,
        target_type=getattr(target, "__tablename__", "") if target is not None else "",
        target_id=getattr(target, "id", None),
        unit_id=unit_id if unit_id is not None else unit_of(target),
        summary=summary,
        before=before,
        after=after,
        ip=(request.remote_addr or "") if has_request_context() else "",
    )
    db.session.add(entry)
    return entry


def unit_of(target: Any) -> int | None:
    """The unit an activity, shift, sign-up (or a unit itself) belongs to, else ``None``.

    Reads loaded rows from the session first; at most two small queries otherwise. Never
    flushes, so it is safe in the middle of a change.
    """
    from portal.models import Activity, Shift, Signup, Unit

    try:
        with db.session.no_autoflush:
            if isinstance(target, Unit):
                return target.id
            shift_id = activity_id = None
            if isinstance(target, Signup):
                shift_id = target.shift_id or (target.shift.id if target.shift else None)
            if isinstance(target, Shift):
                activity_id = target.activity_id or (
                    target.activity.id if target.activity else None
                )
            if shift_id is not None:
                shift = db.session.get(Shift, shift_id)
                activity_id = shift.activity_id if shift is not None else None
            if isinstance(target, Activity):
                return target.unit_id or (target.unit.id if target.unit else None)
            if activity_id is not None:
                activity = db.session.get(Activity, activity_id)
                return activity.unit_id if activity is not None else None
    except Exception:  # noqa: BLE001 - the audit entry matters more than its unit
        return None
    return None

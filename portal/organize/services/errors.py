"""What organizer services share: their domain error and per-request limits."""

from __future__ import annotations

from portal.domain import DomainError

MAX_SHIFTS_PER_REQUEST = 500


class OrganizeError(DomainError):
    """An organizer request that breaks a rule; ``str(exc)`` is the message to show."""


def diff(before: dict, after: dict) -> tuple[dict, dict]:
    """Return the old and new values of the keys that changed."""
    keys = [k for k in after if before.get(k) != after.get(k)]
    return {k: before.get(k) for k in keys}, {k: after.get(k) for k in keys}

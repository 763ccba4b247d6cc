"""URL helpers."""

from __future__ import annotations

from urllib.parse import urlsplit


def is_safe_next(target: str | None) -> bool:
    """Only follow ``next`` when it is a path on this site (no scheme, no host)."""
    if not target:
        return False
    if target.startswith("//") or target.startswith("\\") or "\\" in target:
        return False
    parts = urlsplit(target)
    return not parts.scheme and not parts.netloc and target.startswith("/")

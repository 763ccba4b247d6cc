"""Masking of personal data for everyone who does not need the full value (PIPL)."""

from __future__ import annotations


def mask_name(name: str) -> str:
    """Keep the first character and one star: 张三 → 张*, 陈志强 → 陈*, 欧阳修 → 欧*.

    One star whatever the length, so that the mask reads the same everywhere and does not
    tell how long the name is; empty stays empty, a single character becomes ``*``.
    """
    name = (name or "").strip()
    if not name:
        return ""
    if len(name) == 1:
        return "*"
    return name[0] + "*"


def mask_phone(phone: str) -> str:
    """Show the first three and last four digits: 13812345678 → 138****5678."""
    digits = (phone or "").strip()
    if len(digits) < 7:
        return "*" * len(digits)
    return digits[:3] + "*" * (len(digits) - 7) + digits[-4:]

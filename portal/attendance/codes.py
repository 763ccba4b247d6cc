"""Signed, short-lived check-in codes for the screen at the gate (pure: no app, no database).

A code names one shift and one time step of :data:`STEP` seconds and carries an HMAC over
both, keyed with the app's secret and a purpose of its own (so no other signed value of
the portal can pass for a code). The screen shows a fresh code every step; a code is
accepted during its own step and the next one, so a code read just before the change still
works, and a photo of the screen is useless two minutes later. Codes are accepted only while
check-in is open; the caller says when that is (``opens``, ``closes``: for a shift, from
:func:`portal.attendance.services.checkin_opens_at` until its end).

Opening a link does not check anybody in by itself (link previewers and prefetchers open
links too): the page shows a button, and the button sends a *ticket* — the same kind of
signature, bound to the person — that stays good for :data:`TICKET_MAX_AGE`, so a slow tap
after the code has rotated still counts, while the ticket is no use to anybody else.

Every function takes ``now`` (an aware datetime): the caller owns the clock, tests control it.
"""

from __future__ import annotations

import base64
import enum
import hashlib
import hmac
from datetime import datetime, timedelta

STEP = 60  # seconds a code is shown before the next one replaces it
TICKET_MAX_AGE = timedelta(minutes=10)  # the confirm button's ticket, after a valid code
_MAC_BYTES = 10  # 80 bits: unguessable in the two minutes a code lives, short in a QR code
_CODE_PURPOSE = b"portal.attendance.checkin-code"
_TICKET_PURPOSE = b"portal.attendance.checkin-ticket"


class Refusal(enum.StrEnum):
    """Why a code (or ticket) was refused; the service turns each into a sentence."""

    MALFORMED = "malformed"  # not a code at all, or its signature does not match: tampered
    OTHER_SHIFT = "other_shift"  # a genuine code, but of another shift
    EXPIRED = "expired"  # a genuine code of this shift, from an earlier step
    NOT_YET = "not_yet"  # check-in has not opened yet
    CLOSED = "closed"  # the shift is over


class CodeRefused(Exception):
    """A code or ticket cannot be used; ``reason`` says why."""

    def __init__(self, reason: Refusal):
        super().__init__(reason.value)
        self.reason = reason


def step_of(now: datetime) -> int:
    """The number of the time step ``now`` falls in."""
    return int(now.timestamp()) // STEP


def seconds_left(now: datetime) -> int:
    """Seconds until the current step ends and the screen should show the next code."""
    return STEP - int(now.timestamp()) % STEP


def check_window(opens: datetime, closes: datetime, now: datetime) -> None:
    """:raises CodeRefused: NOT_YET before ``opens``, CLOSED after ``closes`` (both inclusive)."""
    if now < opens:
        raise CodeRefused(Refusal.NOT_YET)
    if now > closes:
        raise CodeRefused(Refusal.CLOSED)


def _mac(secret: str | bytes, purpose: bytes, message: str) -> str:
    key = secret.encode() if isinstance(secret, str) else secret
    derived = hmac.new(key, purpose, hashlib.sha256).digest()
    digest = hmac.new(derived, message.encode(), hashlib.sha256).digest()[:_MAC_BYTES]
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def make_code(shift_id: int, secret: str | bytes, now: datetime) -> str:
    """The code the screen shows at ``now``: ``<shift>.<step>.<signature>`` (URL-safe)."""
    step = step_of(now)
    return f"{shift_id}.{step}.{_mac(secret, _CODE_PURPOSE, f'{shift_id}.{step}')}"


def _parse(code: str, secret: str | bytes, purpose: bytes) -> list[int]:
    parts = code.split(".") if isinstance(code, str) and len(code) <= 100 else []
    if len(parts) < 3 or not all(p.isascii() and p.isdigit() for p in parts[:-1]):
        raise CodeRefused(Refusal.MALFORMED)
    body = ".".join(parts[:-1])
    if not hmac.compare_digest(_mac(secret, purpose, body), parts[-1]):
        raise CodeRefused(Refusal.MALFORMED)
    return [int(p) for p in parts[:-1]]


def verify_code(
    code: str,
    *,
    shift_id: int,
    opens: datetime,
    closes: datetime,
    secret: str | bytes,
    now: datetime,
) -> None:
    """Accept a code for this shift at ``now``, or say why not.

    :raises CodeRefused: MALFORMED (tampered or not a code), OTHER_SHIFT, EXPIRED (older
        than the previous step, or from the future), NOT_YET / CLOSED (outside the window).
    """
    values = _parse(code, secret, _CODE_PURPOSE)
    if len(values) != 2:
        raise CodeRefused(Refusal.MALFORMED)
    code_shift, step = values
    if code_shift != shift_id:
        raise CodeRefused(Refusal.OTHER_SHIFT)
    check_window(opens, closes, now)
    if step not in (step_of(now), step_of(now) - 1):
        raise CodeRefused(Refusal.EXPIRED)


def make_ticket(shift_id: int, user_id: int, secret: str | bytes, now: datetime) -> str:
    """The confirm button's ticket: this person, this shift, issued at ``now``."""
    issued = int(now.timestamp())
    body = f"{shift_id}.{user_id}.{issued}"
    return f"{body}.{_mac(secret, _TICKET_PURPOSE, body)}"


def verify_ticket(
    ticket: str,
    *,
    shift_id: int,
    user_id: int,
    opens: datetime,
    closes: datetime,
    secret: str | bytes,
    now: datetime,
) -> None:
    """Accept a ticket for this person and shift at ``now``, or say why not.

    :raises CodeRefused: MALFORMED (tampered, or another person's), OTHER_SHIFT, EXPIRED
        (older than :data:`TICKET_MAX_AGE`), NOT_YET / CLOSED (outside the window).
    """
    values = _parse(ticket, secret, _TICKET_PURPOSE)
    if len(values) != 3 or values[1] != user_id:
        raise CodeRefused(Refusal.MALFORMED)
    ticket_shift, _user, issued = values
    if ticket_shift != shift_id:
        raise CodeRefused(Refusal.OTHER_SHIFT)
    check_window(opens, closes, now)
    age = int(now.timestamp()) - issued
    if not 0 <= age <= TICKET_MAX_AGE.total_seconds():
        raise CodeRefused(Refusal.EXPIRED)

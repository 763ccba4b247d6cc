"""The e-mail outbox: notifications wait on their row until ``flask deliver`` sends them.

:func:`queue_email` (called by :func:`~portal.notifications.services.notify`) marks a new
notification for e-mail in the request's own transaction, so a request that rolls back
mails nothing, and a request never waits for the mail server. :func:`deliver` sends later,
and is safe to run from cron on several machines at once. Per batch:

1. **Claim** in a short write transaction (:func:`~portal.database.begin_write`: SQLite's
   write lock; on PostgreSQL ``SELECT … FOR UPDATE SKIP LOCKED``, so concurrent runs take
   different rows and never wait for one another): count the attempt and move
   ``email_next_try_at`` to the end of a lease. Commit.
2. **Send** outside any transaction, over one SMTP connection, so a slow or dead server
   holds no lock that requests need. A run stops sending a batch once half the lease is
   gone; the lease therefore never runs out while its holder may still send.
3. **Record** in a second short write transaction, on rows whose lease is still ours:
   ``emailed_at`` when sent; otherwise the error and the next try after a back-off
   (1, 5, 15, 60, 240 minutes), until ``MAIL_MAX_ATTEMPTS`` attempts, then give up and keep
   the error.

A message goes out twice only if a run dies between the server's "250 OK" and step 3: its
lease then runs out and another run sends it again (SMTP offers no exactly-once).
"""

from __future__ import annotations

import smtplib
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import func, select

from portal.database import begin_write
from portal.extensions import db
from portal.models import Notification, User, utcnow
from portal.notifications import mail

BACKOFF = tuple(timedelta(minutes=m) for m in (1, 5, 15, 60, 240))  # after attempt 1, 2, …
DEFAULT_MAX_ATTEMPTS = 6
DEFAULT_MAX_AGE_HOURS = 48  # a reminder for "tomorrow" that arrives days late misleads
DEFAULT_BATCH_SIZE = 20
LEASE = timedelta(minutes=10)
# The server answered (and refused): the connection is still usable for the next message.
_ANSWERED = (smtplib.SMTPResponseException, smtplib.SMTPRecipientsRefused)


def queue_email(note: Notification, user: User) -> bool:
    """Mark a new notification to be e-mailed later, if mail is on and the person has an address.

    Deleted people and people without an address get none. Return whether it was queued.
    """
    address = (user.email or "").strip()
    if not mail.mail_enabled() or user.deleted_at is not None or not address:
        return False
    note.email_to = address
    note.email_next_try_at = utcnow()
    return True


def pending_count() -> int:
    """Count the e-mails still waiting to be sent (due now or later)."""
    return (
        db.session.scalar(
            select(func.count(Notification.id)).where(Notification.email_next_try_at.is_not(None))
        )
        or 0
    )


@dataclass
class DeliveryReport:
    """What one ``deliver`` run did."""

    sent: int = 0
    retrying: int = 0  # failed, another try is scheduled
    gave_up: int = 0  # failed for good (permanent refusal or too many attempts)
    dropped: int = 0  # not sent: the person was deleted, removed the address, or it is too old
    handled: int = 0  # rows claimed in this run


@dataclass
class _Outgoing:
    id: int
    to: str
    subject: str
    body: str
    lease: datetime
    outcome: str = "released"  # sent / failed / released (not tried: half the lease gone)
    error: str = ""
    permanent: bool = False


def deliver(
    limit: int | None = None, batch_size: int = DEFAULT_BATCH_SIZE, now: datetime | None = None
) -> DeliveryReport:
    """Send the e-mails that are due, batch by batch; return what happened.

    :param limit: handle at most this many messages in this run (default: all that are due).
    :param batch_size: messages claimed, sent and recorded together.
    :param now: a fixed clock for the whole run (tests); the real time otherwise.
    """
    report = DeliveryReport()
    if not mail.mail_enabled():
        return report
    db.session.commit()  # start from a clean transaction: begin_write refuses after writes
    while limit is None or report.handled < limit:
        size = batch_size if limit is None else min(batch_size, limit - report.handled)
        batch, claimed = _claim(size, now or utcnow(), report)
        if not claimed:
            break
        if batch:
            _send(batch)
            _record(batch, now or utcnow(), report)
    return report


def _claim(size: int, now: datetime, report: DeliveryReport) -> tuple[list[_Outgoing], int]:
    session = db.session()
    begin_write(session)
    notes = list(
        session.scalars(
            select(Notification)
            .where(Notification.email_next_try_at <= now, Notification.emailed_at.is_(None))
            .order_by(Notification.email_next_try_at, Notification.id)
            .limit(size)
            .with_for_update(skip_locked=True)
        )
    )
    people = {
        u.id: u
        for u in session.scalars(select(User).where(User.id.in_({n.user_id for n in notes})))
    }
    max_age = timedelta(hours=current_app.config.get("MAIL_MAX_AGE_HOURS", DEFAULT_MAX_AGE_HOURS))
    batch = []
    for note in notes:
        user = people[note.user_id]
        # The person's current choice wins: an address removed meanwhile gets nothing.
        address = (user.email or "").strip()
        if user.deleted_at is not None or not address:
            _drop(note, "recipient has no e-mail address any more", report)
        elif note.created_at < now - max_age:
            _drop(note, "too old to send", report)
        else:
            note.email_to = address
            note.email_attempts += 1
            note.email_next_try_at = now + LEASE
            batch.append(
                _Outgoing(note.id, address, note.title, _mail_body(note), note.email_next_try_at)
            )
    report.handled += len(notes)
    session.commit()
    return batch, len(notes)


def _drop(note: Notification, reason: str, report: DeliveryReport) -> None:
    note.email_next_try_at = None
    note.email_error = reason
    report.dropped += 1


def _mail_body(note: Notification) -> str:
    text = note.body or note.title
    if note.link.startswith("/"):
        scheme = current_app.config.get("PREFERRED_URL_SCHEME") or "https"
        text += f"\n\n{scheme}://{current_app.config['PORTAL_HOST']}{note.link}"
    return text


def _send(batch: list[_Outgoing]) -> None:
    started = time.monotonic()
    smtp = None
    try:
        for index, item in enumerate(batch):
            if index and time.monotonic() - started > LEASE.total_seconds() / 2:
                break  # the rest stay "released" and are due again at once
            try:
                if smtp is None:
                    smtp = mail.connect()
                smtp.send_message(mail.build_message(item.to, item.subject, item.body))
                item.outcome = "sent"
            except (OSError, smtplib.SMTPException) as exc:
                current_app.logger.warning("Mail %s to %s failed: %s", item.id, item.to, exc)
                item.outcome, item.error = "failed", _describe(exc)
                item.permanent = mail.is_permanent(exc)
                if not isinstance(exc, _ANSWERED):
                    # No usable connection (refused, timed out, dropped): the rest of the
                    # batch fails alike rather than waiting for a timeout each.
                    for rest in batch[index + 1 :]:
                        rest.outcome, rest.error = "failed", item.error
                    break
    finally:
        if smtp is not None:
            try:
                smtp.quit()
            except (OSError, smtplib.SMTPException):
                smtp.close()


def _describe(exc: Exception) -> str:
    return f"{type(exc).__name__}: {exc}"[:500]


def _record(batch: list[_Outgoing], now: datetime, report: DeliveryReport) -> None:
    session = db.session()
    begin_write(session)
    notes = {
        n.id: n
        for n in session.scalars(
            select(Notification)
            .where(Notification.id.in_([item.id for item in batch]))
            .order_by(Notification.id)
            .with_for_update()
        )
    }
    max_attempts = current_app.config.get("MAIL_MAX_ATTEMPTS", DEFAULT_MAX_ATTEMPTS)
    for item in batch:
        note = notes.get(item.id)
        if note is None or note.emailed_at is not None or note.email_next_try_at != item.lease:
            # Deleted with its person meanwhile, or (only after a stall longer than the
            # lease) taken over by another run.
            if item.outcome == "sent":
                current_app.logger.warning("Mail %s was sent after its lease ended", item.id)
            continue
        if item.outcome == "sent":
            note.emailed_at = now
            note.email_next_try_at = None
            note.email_error = None
            report.sent += 1
        elif item.outcome == "released":
            note.email_attempts -= 1
            note.email_next_try_at = now
        else:
            note.email_error = item.error
            if item.permanent or note.email_attempts >= max_attempts:
                note.email_next_try_at = None
                report.gave_up += 1
            else:
                note.email_next_try_at = now + BACKOFF[min(note.email_attempts, len(BACKOFF)) - 1]
                report.retrying += 1
    session.commit()

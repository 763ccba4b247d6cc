"""Telling people what changed: the in-app inbox, and through it the e-mail outbox.

Every notification is written in the caller's transaction. For a person with an e-mail
address (when mail is configured) it is also queued for e-mail, which ``flask deliver``
sends after the commit (:mod:`portal.notifications.outbox`); nothing here talks to SMTP.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import func, select, update

from portal.extensions import db
from portal.models import Notification, User, utcnow


def notify(user: User | int, kind: str, title: str, body: str = "", link: str = "") -> Notification:
    """Put a message in one person's inbox and queue its e-mail; the caller commits both."""
    from portal.notifications.outbox import queue_email

    person = db.session.get(User, user) if isinstance(user, int) else user
    note = Notification(user_id=person.id, kind=kind, title=title, body=body, link=link)
    queue_email(note, person)
    db.session.add(note)
    return note


def notify_many(
    users: Iterable[User | int], kind: str, title: str, body: str = "", link: str = ""
) -> int:
    """Send the same message to several people; return how many got it."""
    count = 0
    for user in users:
        notify(user, kind, title, body, link)
        count += 1
    return count


def unread_count(user: User) -> int:
    return (
        db.session.scalar(
            select(func.count(Notification.id)).where(
                Notification.user_id == user.id, Notification.read_at.is_(None)
            )
        )
        or 0
    )


def inbox(user: User, limit: int = 100) -> list[Notification]:
    return list(
        db.session.scalars(
            select(Notification)
            .where(Notification.user_id == user.id)
            .order_by(Notification.created_at.desc(), Notification.id.desc())
            .limit(limit)
        )
    )


def mark_all_read(user: User) -> None:
    db.session.execute(
        update(Notification)
        .where(Notification.user_id == user.id, Notification.read_at.is_(None))
        .values(read_at=utcnow())
    )

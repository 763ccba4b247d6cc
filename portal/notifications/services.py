"""Telling people what changed: the in-app inbox, and through it the e-mail outbox.

Every notification is written in the caller's transaction. For a person with an e-mail
address (when mail is configured) it is also queued for e-mail, which ``flask deliver``
sends after the commit (:mod:`portal.notifications.outbox`); nothing here talks to SMTP.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from babel import Locale
from flask import current_app
from flask_babel import force_locale
from sqlalchemy import func, select, update

from portal.extensions import db
from portal.models import Notification, User, utcnow

# Builds a message's (title, body) with ``_()``; called once per language of the portal.
Compose = Callable[[], tuple[str, str]]


def in_every_language(compose: Compose) -> tuple[str, str, dict]:
    """Write a message in each language: (Chinese title, Chinese body, {"en": {…}}).

    The reader may use another language than the person whose action sends the message (an
    organizer in English promotes a resident who reads Chinese), so the message is written
    from the same msgids and values once per language, not in the sender's language.
    """
    languages = current_app.config["LANGUAGES"]
    default = current_app.config["BABEL_DEFAULT_LOCALE"]
    title, body, texts = "", "", {}
    for code in languages:
        with force_locale(code):
            t, b = compose()
        if code == default:
            title, body = str(t), str(b)
        else:
            texts[Locale.parse(code).language] = {"title": str(t), "body": str(b)}
    return title, body, texts


def notify(
    user: User | int,
    kind: str,
    title: str = "",
    body: str = "",
    link: str = "",
    *,
    compose: Compose | None = None,
    texts: dict | None = None,
) -> Notification:
    """Put a message in one person's inbox and queue its e-mail; the caller commits both.

    Pass ``compose`` (see :func:`in_every_language`) so each reader gets their language;
    plain ``title``/``body`` are for text people wrote themselves (an organizer's notice).
    """
    from portal.notifications.outbox import queue_email

    if compose is not None:
        title, body, texts = in_every_language(compose)
    person = db.session.get(User, user) if isinstance(user, int) else user
    note = Notification(
        user_id=person.id, kind=kind, title=title, body=body, link=link, texts=texts or None
    )
    queue_email(note, person)
    db.session.add(note)
    return note


def notify_many(
    users: Iterable[User | int],
    kind: str,
    title: str = "",
    body: str = "",
    link: str = "",
    *,
    compose: Compose | None = None,
) -> int:
    """Send the same message to several people; return how many got it."""
    texts = None
    if compose is not None:
        title, body, texts = in_every_language(compose)
    count = 0
    for user in users:
        notify(user, kind, title, body, link, texts=texts)
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

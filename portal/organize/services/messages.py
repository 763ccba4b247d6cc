"""Notices to everyone on a shift or activity, and the day-before reminders."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from flask import url_for
from flask_babel import gettext as _
from sqlalchemy import select

from portal.audit import services as audit
from portal.database import begin_write
from portal.extensions import db
from portal.models import (
    Activity,
    ActivityStatus,
    Shift,
    ShiftStatus,
    Signup,
    SignupStatus,
    User,
)
from portal.notifications.services import notify
from portal.organize.services.errors import OrganizeError
from portal.timeutil import fmt_range, fmt_short, now_utc

# --- messages --------------------------------------------------------------------------------


def recipients(shifts: Sequence[Shift]) -> list[User]:
    """Return the distinct people with an active sign-up on any of these shifts."""
    from portal.signups.places import recipients as people_on

    return people_on([s.id for s in shifts])


def send_notice(actor: User, target: Activity | Shift, title: str, body: str) -> int:
    """Send a notice to everyone on a shift or an activity; return how many got it.

    Each gets it in the inbox; those with an e-mail address also get it by e-mail, queued
    here and sent by ``flask deliver`` after the commit.
    """
    if isinstance(target, Shift):
        shifts = [target]
        activity = target.activity
        prefix = f"{activity.title} {fmt_short(target.starts_at)}"
    else:
        shifts = list(target.shifts)
        activity = target
        prefix = activity.title
    people = recipients(shifts)
    if not people:
        raise OrganizeError(_("目前没有人报名，消息没有发出。"))
    link = url_for("browse.activity", activity_id=activity.id)
    full_title = f"【{prefix}】{title}"[:200]
    notes = [notify(person, "notice", full_title, body, link) for person in people]
    queued = sum(1 for note in notes if note.email_next_try_at is not None)
    count = len(notes)
    audit.record(
        "message.send",
        target,
        title,
        after={"recipients": count, "email_queued": queued, "title": title, "body": body[:500]},
        actor=actor,
    )
    return count


# --- reminders -------------------------------------------------------------------------------

REMINDER_LEAD = timedelta(hours=25)


def _reminder(shift, activity):
    def compose() -> tuple[str, str]:
        return _("明天提醒：%(title)s", title=activity.title), _(
            "你报名的班次 %(when)s 在 %(place)s，请准时到达。如不能参加，请尽早在“我的”中取消。",
            when=fmt_range(shift.starts_at, shift.ends_at),
            place=activity.place,
        )

    return compose


def send_due_reminders(now: datetime | None = None) -> int:
    """Remind each confirmed volunteer once, within 25 hours before their shift starts.

    Safe to run as often as cron likes: a sign-up with ``reminder_sent_at`` set is skipped,
    and shifts that already started, cancelled shifts and unpublished activities get none.
    The inbox notification (which queues the e-mail) and ``reminder_sent_at`` are written in
    the caller's one transaction: a failed commit leaves neither, and the next run tries
    again. Two runs at once: SQLite's write lock (taken first) serialises them; PostgreSQL
    skips the sign-ups another run has locked.
    """
    now = now or now_utc()
    begin_write(db.session())
    due = list(
        db.session.scalars(
            select(Signup)
            .join(Shift, Signup.shift_id == Shift.id)
            .join(Activity, Shift.activity_id == Activity.id)
            .where(
                Signup.status == SignupStatus.CONFIRMED,
                Signup.reminder_sent_at.is_(None),
                Shift.status == ShiftStatus.SCHEDULED,
                Activity.status == ActivityStatus.PUBLISHED,
                Shift.starts_at > now,
                Shift.starts_at <= now + REMINDER_LEAD,
            )
            .order_by(Shift.starts_at, Signup.id)
            .with_for_update(skip_locked=True, of=Signup)
        )
    )
    for signup in due:
        shift = signup.shift
        activity = shift.activity
        notify(
            signup.user,
            "reminder",
            link=f"/activities/{activity.id}#shift-{shift.id}",
            compose=_reminder(shift, activity),
        )
        signup.reminder_sent_at = now
    db.session.flush()
    return len(due)

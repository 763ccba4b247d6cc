"""What counts as a confirmed service record, and what it says (records rules Art. 7, 19).

The one home of the rule used by "my hours", star levels, certificates and dashboards: a
record counts when the person attended a shift of a *volunteer* activity (community
attendance is never volunteer service, Art. 19), its hours are set and above zero, and the
organizer confirmed them (``hours_confirmed_at``). Periods are calendar dates in the site
time zone, by the shift's start.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from flask import current_app
from sqlalchemy import and_, func, select
from sqlalchemy.orm import joinedload

from portal.extensions import db
from portal.models import Activity, ActivityKind, Attendance, Shift, Signup, shift_is_live
from portal.timeutil import local_to_utc, to_local


def _attended_with_hours():
    return (
        Signup.attendance == Attendance.ATTENDED,
        Signup.hours.is_not(None),
        Signup.hours > 0,
        Activity.kind == ActivityKind.VOLUNTEER,
    )


def counts_as_record():
    """SQL: the sign-up is a confirmed volunteer service record (needs Shift and Activity)."""
    return and_(*_attended_with_hours(), Signup.hours_confirmed_at.is_not(None))


def _period(stmt, start: date | None, end: date | None):
    if start is not None:
        stmt = stmt.where(Shift.starts_at >= local_to_utc(start, time(0, 0)))
    if end is not None:
        stmt = stmt.where(Shift.starts_at < local_to_utc(end + timedelta(days=1), time(0, 0)))
    return stmt


def confirmed_records(
    user_id: int, start: date | None = None, end: date | None = None
) -> list[Signup]:
    """The person's confirmed service records, oldest first, with shift, activity and unit."""
    stmt = (
        select(Signup)
        .join(Shift, Shift.id == Signup.shift_id)
        .join(Activity, Activity.id == Shift.activity_id)
        .where(Signup.user_id == user_id, counts_as_record())
        .options(joinedload(Signup.shift).joinedload(Shift.activity).joinedload(Activity.unit))
        .order_by(Shift.starts_at, Signup.id)
    )
    return list(db.session.scalars(_period(stmt, start, end)))


def confirmed_hours(user_id: int, start: date | None = None, end: date | None = None) -> Decimal:
    """The sum of the person's confirmed hours (in the period, if given)."""
    stmt = (
        select(func.coalesce(func.sum(Signup.hours), 0))
        .join(Shift, Shift.id == Signup.shift_id)
        .join(Activity, Activity.id == Shift.activity_id)
        .where(Signup.user_id == user_id, counts_as_record())
    )
    return Decimal(str(db.session.scalar(_period(stmt, start, end)) or 0))


def star_level(total: Decimal | float) -> tuple[int, int | None]:
    """Return (stars 0–5, hours needed for the next star or None at the top).

    Thresholds come from ``STAR_THRESHOLDS`` (default 100 / 300 / 600 / 1000 / 1500).
    """
    thresholds: Sequence[int] = current_app.config["STAR_THRESHOLDS"]
    stars = sum(1 for t in thresholds if total >= t)
    following = thresholds[stars] if stars < len(thresholds) else None
    return stars, following


def record_fields(signup: Signup) -> dict:
    """The Art. 7 fields of a record: activity, date, place, content, hours, unit, in charge."""
    shift = signup.shift
    activity = shift.activity
    content = shift.post_name or activity.title
    return {
        "signup_id": signup.id,
        "activity": activity.title,
        "date": to_local(shift.starts_at).date().isoformat(),
        "place": activity.place,
        "content": content,
        "hours": float(signup.hours or 0),
        "unit": activity.unit.name if activity.unit else "",
        "in_charge": activity.contact_name or "",
    }


def local_day(value: datetime) -> date:
    return to_local(value).date()


def pending_record():
    """SQL: attended on a volunteer activity with hours, not yet confirmed by the organizer.

    Pending hours are shown apart from confirmed ones and never count for stars or
    certificates (needs Shift and Activity in the query).
    """
    return and_(*_attended_with_hours(), Signup.hours_confirmed_at.is_(None), shift_is_live())


def pending_hours(user_id: int) -> Decimal:
    """The sum of the person's attended but not yet confirmed volunteer hours."""
    stmt = (
        select(func.coalesce(func.sum(Signup.hours), 0))
        .join(Shift, Shift.id == Signup.shift_id)
        .join(Activity, Activity.id == Shift.activity_id)
        .where(Signup.user_id == user_id, pending_record())
    )
    return Decimal(str(db.session.scalar(stmt) or 0))


def star_progress(total: Decimal | float) -> dict:
    """Stars, the previous and next threshold, the hours still needed and a 0–100 percent."""
    thresholds: Sequence[int] = current_app.config["STAR_THRESHOLDS"]
    stars, following = star_level(total)
    previous = thresholds[stars - 1] if stars else 0
    if following is None:
        return {
            "stars": stars,
            "previous": previous,
            "next": None,
            "needed": Decimal(0),
            "percent": 100,
        }
    total = Decimal(str(total))
    span = Decimal(following - previous)
    percent = int((total - previous) * 100 / span) if span > 0 else 0
    return {
        "stars": stars,
        "previous": previous,
        "next": following,
        "needed": Decimal(following) - total,
        "percent": max(0, min(percent, 100)),
    }

"""``flask send-reminders``: one reminder per confirmed volunteer about 24 hours ahead, never twice."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from portal.models import ActivityStatus, Notification, ShiftStatus, Signup, SignupStatus
from portal.organize.services import send_due_reminders

NOW = datetime(2030, 3, 1, 1, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("starts_in", "status", "shift_status", "activity_status", "already", "reminded"),
    [
        (timedelta(hours=24), SignupStatus.CONFIRMED, ShiftStatus.SCHEDULED, ActivityStatus.PUBLISHED, False, True),
        (timedelta(hours=23), SignupStatus.CONFIRMED, ShiftStatus.SCHEDULED, ActivityStatus.PUBLISHED, False, True),
        (timedelta(hours=25), SignupStatus.CONFIRMED, ShiftStatus.SCHEDULED, ActivityStatus.PUBLISHED, False, True),
        (timedelta(hours=2), SignupStatus.CONFIRMED, ShiftStatus.SCHEDULED, ActivityStatus.PUBLISHED, False, True),
        (timedelta(hours=25, minutes=1), SignupStatus.CONFIRMED, ShiftStatus.SCHEDULED, ActivityStatus.PUBLISHED, False, False),
        (timedelta(days=3), SignupStatus.CONFIRMED, ShiftStatus.SCHEDULED, ActivityStatus.PUBLISHED, False, False),
        (timedelta(hours=-1), SignupStatus.CONFIRMED, ShiftStatus.SCHEDULED, ActivityStatus.PUBLISHED, False, False),
        (timedelta(0), SignupStatus.CONFIRMED, ShiftStatus.SCHEDULED, ActivityStatus.PUBLISHED, False, False),
        (timedelta(hours=24), SignupStatus.CONFIRMED, ShiftStatus.SCHEDULED, ActivityStatus.PUBLISHED, True, False),
        (timedelta(hours=24), SignupStatus.PENDING, ShiftStatus.SCHEDULED, ActivityStatus.PUBLISHED, False, False),
        (timedelta(hours=24), SignupStatus.WAITLISTED, ShiftStatus.SCHEDULED, ActivityStatus.PUBLISHED, False, False),
        (timedelta(hours=24), SignupStatus.CANCELLED, ShiftStatus.SCHEDULED, ActivityStatus.PUBLISHED, False, False),
        (timedelta(hours=24), SignupStatus.REJECTED, ShiftStatus.SCHEDULED, ActivityStatus.PUBLISHED, False, False),
        (timedelta(hours=24), SignupStatus.CONFIRMED, ShiftStatus.CANCELLED, ActivityStatus.PUBLISHED, False, False),
        (timedelta(hours=24), SignupStatus.CONFIRMED, ShiftStatus.SCHEDULED, ActivityStatus.CANCELLED, False, False),
        (timedelta(hours=24), SignupStatus.CONFIRMED, ShiftStatus.SCHEDULED, ActivityStatus.DRAFT, False, False),
    ],
)
def test_who_gets_a_reminder(
    db, make_activity, make_shift, make_signup,
    starts_in, status, shift_status, activity_status, already, reminded,
):
    activity = make_activity(status=activity_status)
    shift = make_shift(activity=activity, starts_at=NOW + starts_in, status=shift_status)
    signup = make_signup(shift, status=status,
                         reminder_sent_at=NOW - timedelta(hours=1) if already else None)
    sent = send_due_reminders(NOW)
    db.session.commit()
    assert sent == (1 if reminded else 0)
    notes = db.session.scalars(
        select(Notification).where(Notification.user_id == signup.user_id,
                                   Notification.kind == "reminder")
    ).all()
    assert len(notes) == (1 if reminded else 0)
    if reminded:
        assert activity.title in notes[0].title
        assert db.session.get(Signup, signup.id).reminder_sent_at == NOW


def test_repeated_runs_send_one_reminder_each(db, make_shift, make_signup):
    shift = make_shift(starts_at=NOW + timedelta(hours=24))
    people = [make_signup(shift).user_id for _ in range(3)]
    later = make_shift(starts_at=NOW + timedelta(hours=30))
    late_person = make_signup(later).user_id
    runs = []
    for step in range(0, 12):  # cron every 30 minutes for six hours
        runs.append(send_due_reminders(NOW + timedelta(minutes=30 * step)))
        db.session.commit()
    assert sum(runs) == 4 and runs[0] == 3
    for uid in [*people, late_person]:
        assert db.session.query(Notification).filter_by(user_id=uid, kind="reminder").count() == 1


def test_cli_command(db, runner, make_shift, make_signup):
    shift = make_shift(starts_in=timedelta(hours=20))
    make_signup(shift)
    result = runner.invoke(args=["send-reminders"])
    assert result.exit_code == 0 and "Reminders sent: 1" in result.output
    result = runner.invoke(args=["send-reminders"])
    assert "Reminders sent: 0" in result.output

"""``flask send-reminders``: one reminder per confirmed volunteer about 24 h ahead, never twice."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from portal.models import ActivityStatus, Notification, ShiftStatus, Signup, SignupStatus
from portal.organize.services import send_due_reminders

pytestmark = pytest.mark.both_databases


@pytest.fixture
def app_config(request) -> dict:
    """Per-test configuration through ``indirect`` parametrization (mail for one test)."""
    return getattr(request, "param", {})


NOW = datetime(2030, 3, 1, 1, 0, tzinfo=UTC)


H = timedelta(hours=1)


@pytest.mark.parametrize(
    ("starts_in", "status", "shift_status", "activity_status", "already", "reminded"),
    [
        (24 * H, "confirmed", "scheduled", "published", False, True),
        (23 * H, "confirmed", "scheduled", "published", False, True),
        (25 * H, "confirmed", "scheduled", "published", False, True),
        (2 * H, "confirmed", "scheduled", "published", False, True),  # signed up late
        (25 * H + timedelta(minutes=1), "confirmed", "scheduled", "published", False, False),
        (72 * H, "confirmed", "scheduled", "published", False, False),
        (-1 * H, "confirmed", "scheduled", "published", False, False),  # already started
        (0 * H, "confirmed", "scheduled", "published", False, False),
        (24 * H, "confirmed", "scheduled", "published", True, False),  # never twice
        (24 * H, "pending", "scheduled", "published", False, False),
        (24 * H, "waitlisted", "scheduled", "published", False, False),
        (24 * H, "cancelled", "scheduled", "published", False, False),
        (24 * H, "rejected", "scheduled", "published", False, False),
        (24 * H, "confirmed", "cancelled", "published", False, False),
        (24 * H, "confirmed", "scheduled", "cancelled", False, False),
        (24 * H, "confirmed", "scheduled", "draft", False, False),
    ],
)
def test_who_gets_a_reminder(
    db,
    make_activity,
    make_shift,
    make_signup,
    starts_in,
    status,
    shift_status,
    activity_status,
    already,
    reminded,
):
    activity = make_activity(status=ActivityStatus(activity_status))
    shift = make_shift(
        activity=activity, starts_at=NOW + starts_in, status=ShiftStatus(shift_status)
    )
    signup = make_signup(
        shift,
        status=SignupStatus(status),
        reminder_sent_at=NOW - timedelta(hours=1) if already else None,
    )
    sent = send_due_reminders(NOW)
    db.session.commit()
    assert sent == (1 if reminded else 0)
    notes = db.session.scalars(
        select(Notification).where(
            Notification.user_id == signup.user_id, Notification.kind == "reminder"
        )
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


@pytest.mark.parametrize(
    ("move", "reminded_again"),
    [
        (timedelta(hours=24), True),  # moved a day later: remind again a day before
        (timedelta(0), False),  # only the capacity changed: no second reminder
    ],
)
def test_moving_a_shift_re_arms_its_reminder(
    db, make_user, make_shift, make_signup, move, reminded_again
):
    from portal.organize.services import SHIFT_FIELDS, update_shift

    shift = make_shift(starts_at=NOW + timedelta(hours=24), capacity=3)
    signup = make_signup(shift)
    cancelled = make_signup(shift, status=SignupStatus.CANCELLED, reminder_sent_at=NOW)
    assert send_due_reminders(NOW) == 1
    db.session.commit()
    values = {field: getattr(shift, field) for field in SHIFT_FIELDS}
    values.update(starts_at=shift.starts_at + move, ends_at=shift.ends_at + move, capacity=4)
    update_shift(make_user(), shift, values)
    db.session.commit()
    assert (db.session.get(Signup, signup.id).reminder_sent_at is None) is reminded_again
    assert db.session.get(Signup, cancelled.id).reminder_sent_at == NOW
    assert send_due_reminders(NOW + move) == (1 if reminded_again else 0)
    db.session.commit()
    notes = db.session.scalars(
        select(Notification).where(
            Notification.user_id == signup.user_id, Notification.kind == "reminder"
        )
    ).all()
    assert len(notes) == (2 if reminded_again else 1)


def test_cli_command(db, runner, make_shift, make_signup):
    shift = make_shift(starts_in=timedelta(hours=20))
    make_signup(shift)
    result = runner.invoke(args=["send-reminders"])
    assert result.exit_code == 0 and "Reminders sent: 1" in result.output
    result = runner.invoke(args=["send-reminders"])
    assert "Reminders sent: 0" in result.output


MAIL = {"MAIL_SERVER": "127.0.0.1", "MAIL_PORT": 2525, "MAIL_FROM": "noreply@portal.test"}


@pytest.mark.parametrize("app_config", [MAIL], indirect=True)
def test_a_failed_commit_reminds_nobody_and_the_next_run_does(
    db, monkeypatch, make_user, make_shift, make_signup
):
    """The inbox note, its queued e-mail and ``reminder_sent_at`` live or die together."""
    import smtplib

    monkeypatch.setattr(smtplib, "SMTP", lambda *a, **kw: pytest.fail("SMTP in a reminder run"))
    signup = make_signup(make_shift(starts_at=NOW + 20 * H), user=make_user(email="a@example.org"))
    assert send_due_reminders(NOW) == 1
    db.session.rollback()  # the commit did not happen
    assert db.session.scalars(select(Notification)).all() == []
    assert db.session.get(Signup, signup.id).reminder_sent_at is None

    assert send_due_reminders(NOW) == 1
    db.session.commit()
    (note,) = db.session.scalars(select(Notification)).all()
    assert note.kind == "reminder" and note.email_to == "a@example.org"
    assert note.email_next_try_at is not None and note.emailed_at is None
    assert db.session.get(Signup, signup.id).reminder_sent_at == NOW
    assert send_due_reminders(NOW) == 0

"""The e-mail outbox: requests only queue mail; ``flask deliver`` sends it after the commit.

Against a real local SMTP server (aiosmtpd) that each test starts when it wants the mail
server "back"; until then nothing listens on the configured port.
"""

from __future__ import annotations

import os
import smtplib
import subprocess
import sys
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from portal.models import Notification, SignupStatus, utcnow
from portal.notifications import outbox
from portal.notifications.outbox import BACKOFF, deliver
from portal.notifications.services import notify
from tests.test_mail import SmtpServer, free_port

pytestmark = pytest.mark.both_databases

ROOT = Path(__file__).resolve().parents[1]
PORT = free_port()
MAIL = {"MAIL_SERVER": "127.0.0.1", "MAIL_PORT": PORT, "MAIL_FROM": "noreply@portal.test"}


@pytest.fixture
def app_config(request) -> dict:
    """Mail is configured unless a test passes other settings (``indirect``)."""
    return getattr(request, "param", MAIL)


@pytest.fixture
def smtp_server():
    """The mail server, not yet started: ``smtp_server.start()`` brings it "back"."""
    server = SmtpServer(PORT)
    yield server
    server.stop()


@pytest.fixture
def smtp(smtp_server):
    return smtp_server.start()


def _notes(db) -> list[Notification]:
    db.session.expire_all()
    return list(db.session.scalars(select(Notification).order_by(Notification.id)))


def test_notice_request_does_not_try_smtp_and_mail_goes_out_once_the_server_is_back(
    db,
    client,
    login,
    monkeypatch,
    smtp_server,
    make_unit,
    make_user,
    make_activity,
    make_shift,
    make_signup,
):
    unit = make_unit()
    organizer = make_user("组织者", units=[unit])
    shift = make_shift(activity=make_activity(unit=unit))
    make_signup(shift, user=make_user("有邮箱", email="volunteer@example.org"))
    connections = []
    monkeypatch.setattr(smtplib, "SMTP", lambda *a, **kw: connections.append(a) or 1 / 0)

    login(organizer)
    response = client.post(
        f"/organize/shifts/{shift.id}/message",
        data={"title": "集合地点改到北门", "body": "请提前十分钟到。"},
    )
    assert response.status_code == 302
    assert connections == []  # the request never opened an SMTP connection
    (note,) = _notes(db)
    assert note.email_to == "volunteer@example.org" and note.emailed_at is None
    assert note.email_next_try_at is not None and note.email_attempts == 0
    monkeypatch.undo()

    # Server still down (nothing listening): one failed attempt, retried a minute later.
    t0 = utcnow()
    report = deliver(now=t0)
    assert (report.sent, report.retrying) == (0, 1)
    (note,) = _notes(db)
    assert note.email_attempts == 1 and note.email_error
    assert note.email_next_try_at == t0 + BACKOFF[0]

    smtp_server.start()
    assert deliver(now=t0 + timedelta(seconds=30)).sent == 0  # not due yet
    assert deliver(now=t0 + timedelta(minutes=2)).sent == 1
    assert deliver(now=t0 + timedelta(hours=1)).sent == 0
    assert len(smtp_server.messages) == 1
    assert smtp_server.messages[0][0] == ["volunteer@example.org"]
    (note,) = _notes(db)
    assert note.emailed_at == t0 + timedelta(minutes=2)
    assert note.email_next_try_at is None and note.email_error is None
    assert note.email_attempts == 2


@pytest.mark.parametrize("app_config", [{**MAIL, "MAIL_MAX_ATTEMPTS": 4}], indirect=True)
def test_retries_back_off_then_give_up_keeping_the_error(db, smtp_server, make_user):
    notify(make_user(email="a@example.org"), "notice", "标题", "正文")
    db.session.commit()
    now = utcnow()
    for attempt in range(1, 4):
        report = deliver(now=now)
        assert report.retrying == 1, attempt
        (note,) = _notes(db)
        assert note.email_attempts == attempt
        assert note.email_next_try_at == now + BACKOFF[attempt - 1]
        assert deliver(now=note.email_next_try_at - timedelta(seconds=1)).handled == 0
        now = note.email_next_try_at
    assert deliver(now=now).gave_up == 1  # the fourth and last attempt
    (note,) = _notes(db)
    assert note.email_attempts == 4 and note.email_next_try_at is None
    assert note.emailed_at is None and note.email_error
    smtp_server.start()
    assert deliver(now=now + timedelta(days=1)).handled == 0
    assert smtp_server.messages == []


@pytest.mark.parametrize(
    ("email", "deleted", "queued"),
    [
        ("a@example.org", False, True),
        (None, False, False),
        ("", False, False),
        ("a@example.org", True, False),
    ],
)
def test_who_gets_an_email(db, make_user, email, deleted, queued):
    person = make_user(email=email, deleted_at=utcnow() if deleted else None)
    notify(person.id, "notice", "标题", "正文")  # by id, as the sign-up rules call it
    db.session.commit()
    (note,) = _notes(db)
    assert (note.email_next_try_at is not None) is queued
    assert (note.email_to == "a@example.org") is queued


@pytest.mark.parametrize("app_config", [{}], indirect=True)
def test_no_mail_server_queues_nothing(db, runner, make_user):
    notify(make_user(email="a@example.org"), "notice", "标题", "正文")
    db.session.commit()
    (note,) = _notes(db)
    assert note.email_next_try_at is None
    result = runner.invoke(args=["deliver"])
    assert "Mail is not configured" in result.output


@pytest.mark.parametrize("change", ["address_removed", "deleted", "too_old"])
def test_queued_mail_is_dropped_when_it_should_no_longer_go(db, smtp, make_user, change):
    person = make_user(email="a@example.org")
    notify(person, "notice", "标题", "正文")
    db.session.commit()
    now = utcnow()
    if change == "address_removed":
        person.email = None
    elif change == "deleted":
        person.deleted_at = now
    else:
        now += timedelta(days=3)
    db.session.commit()
    report = deliver(now=now)
    assert (report.sent, report.dropped) == (0, 1)
    (note,) = _notes(db)
    assert note.email_next_try_at is None and note.emailed_at is None and note.email_error
    assert smtp.messages == []


def test_delivery_goes_to_the_current_address(db, smtp, make_user):
    person = make_user(email="old@example.org")
    notify(person, "notice", "标题", "正文")
    person.email = "new@example.org"
    db.session.commit()
    assert deliver().sent == 1
    assert smtp.messages[0][0] == ["new@example.org"]
    assert _notes(db)[0].email_to == "new@example.org"


def test_promotion_and_approval_reach_email(db, smtp, make_user, make_shift, make_signup):
    from portal.signups import services as signups

    shift = make_shift(capacity=1)
    first = make_user("甲", email="first@example.org")
    second = make_user("乙", email="second@example.org")
    mine = signups.sign_up(first, shift.id)
    db.session.commit()
    assert signups.sign_up(second, shift.id).outcome == signups.Outcome.WAITLISTED
    db.session.commit()
    signups.cancel_signup(first, mine.signup.id)
    db.session.commit()

    checked = make_shift(requires_approval=True)
    pending = make_signup(
        checked, user=make_user("丙", email="third@example.org"), status=SignupStatus.PENDING
    )
    signups.approve(make_user("组织者"), pending)
    db.session.commit()

    assert deliver().sent == 2
    got = {rcpts[0]: msg["Subject"] for rcpts, msg in smtp.messages}
    assert set(got) == {"second@example.org", "third@example.org"}
    assert "候补成功" in got["second@example.org"]
    assert "报名已通过" in got["third@example.org"]


def test_limit_and_batches(db, smtp, runner, make_user):
    for i in range(5):
        notify(make_user(email=f"p{i}@example.org"), "notice", f"通知{i}", "正文")
    db.session.commit()
    result = runner.invoke(args=["deliver", "--limit", "3", "--batch-size", "2"])
    assert result.exit_code == 0, result.output
    assert "E-mails sent: 3" in result.output and "still waiting: 2" in result.output
    result = runner.invoke(args=["deliver"])
    assert "E-mails sent: 2" in result.output and "still waiting: 0" in result.output
    assert len(smtp.messages) == 5


def test_each_batch_is_committed_before_the_next(db, smtp, monkeypatch, make_user):
    for i in range(4):
        notify(make_user(email=f"p{i}@example.org"), "notice", f"通知{i}", "正文")
    db.session.commit()
    real_send, batches = outbox._send, []

    def send_then_crash(batch):
        batches.append(batch)
        if len(batches) == 2:
            raise KeyboardInterrupt  # the run dies in its second batch
        real_send(batch)

    monkeypatch.setattr(outbox, "_send", send_then_crash)
    with pytest.raises(KeyboardInterrupt):
        deliver(batch_size=2)
    db.session.rollback()
    notes = _notes(db)
    assert [n.emailed_at is not None for n in notes] == [True, True, False, False]
    # The second batch is claimed (its lease runs) and goes out once the lease is over.
    monkeypatch.undo()
    assert deliver().handled == 0
    assert deliver(now=utcnow() + outbox.LEASE + timedelta(seconds=1)).sent == 2
    assert Counter(rcpts[0] for rcpts, _ in smtp.messages) == {
        f"p{i}@example.org": 1 for i in range(4)
    }


@pytest.mark.slow
def test_two_deliver_processes_at_once_send_each_message_once(db, app, smtp, make_user):
    people = [make_user(f"志愿者{i}", email=f"p{i}@example.org") for i in range(40)]
    for i, person in enumerate(people):
        notify(person, "notice", f"通知 {i}", "正文")
    db.session.commit()
    smtp.inbox.delay = 0.02  # slow enough that the two runs overlap
    env = {
        **os.environ,
        "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
        "SECRET_KEY": "outbox-test",
        "PORTAL_MAIL_SERVER": "127.0.0.1",
        "PORTAL_MAIL_PORT": str(PORT),
        "PORTAL_MAIL_FROM": "noreply@portal.test",
    }
    flask = Path(sys.executable).with_name("flask")
    runs = [
        subprocess.Popen(
            [str(flask), "--app", "portal", "deliver", "--batch-size", "3"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outputs = [run.communicate(timeout=120) for run in runs]
    for run, (_out, err) in zip(runs, outputs, strict=True):
        assert run.returncode == 0, err
    sent = [int(out.split("E-mails sent: ")[1].split(",")[0]) for out, _ in outputs]
    print("sent by each run:", sent)
    assert sum(sent) == 40
    received = Counter(rcpts[0] for rcpts, _ in smtp.messages)
    assert received == {f"p{i}@example.org": 1 for i in range(40)}
    assert all(n.emailed_at is not None and n.email_attempts == 1 for n in _notes(db))

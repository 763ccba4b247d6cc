"""E-mail against a real local SMTP server (aiosmtpd): requests queue it, ``deliver`` sends it.

The SMTP helpers here (:class:`SmtpServer`, :func:`free_port`) are shared with
``tests/test_outbox.py``, which tests the delivery protocol itself.
"""

from __future__ import annotations

import asyncio
import socket
from datetime import timedelta
from email import message_from_bytes, policy

import pytest
from sqlalchemy import select

from portal.models import AuditEntry, Notification
from portal.notifications.outbox import deliver
from portal.organize.services import send_due_reminders


class Inbox:
    """An aiosmtpd handler that keeps what it received; refuses some addresses with 550."""

    def __init__(self):
        self.messages = []
        self.refuse: set[str] = set()
        self.delay = 0.0

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refuse:
            return "550 5.1.1 No such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.delay:
            await asyncio.sleep(self.delay)
        self.messages.append(
            (envelope.rcpt_tos, message_from_bytes(envelope.content, policy=policy.default))
        )
        return "250 OK"


class SmtpServer:
    """A local SMTP server on a fixed port that a test can start (and stop) when it likes."""

    def __init__(self, port: int):
        self.port = port
        self.inbox = Inbox()
        self._controller = None

    @property
    def messages(self):
        return self.inbox.messages

    def start(self) -> SmtpServer:
        from aiosmtpd.controller import Controller

        self._controller = Controller(self.inbox, hostname="127.0.0.1", port=self.port)
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


PORT = free_port()
MAIL = {"MAIL_SERVER": "127.0.0.1", "MAIL_PORT": PORT, "MAIL_FROM": "noreply@portal.test"}


@pytest.fixture
def smtp():
    server = SmtpServer(PORT).start()
    yield server
    server.stop()


@pytest.fixture
def app_config(request) -> dict:
    """Per-test configuration through ``indirect`` parametrization."""
    return getattr(request, "param", {})


@pytest.mark.parametrize("app_config", [MAIL], indirect=True)
def test_notice_is_emailed_to_people_with_an_address(
    db, client, login, smtp, make_unit, make_user, make_activity, make_shift, make_signup
):
    unit = make_unit()
    organizer = make_user("组织者", units=[unit])
    shift = make_shift(activity=make_activity(unit=unit))
    with_mail = make_user("有邮箱", email="volunteer@example.org")
    make_signup(shift, user=with_mail)
    make_signup(shift, user=make_user("无邮箱"))
    login(organizer)
    response = client.post(
        f"/organize/shifts/{shift.id}/message",
        data={"title": "集合地点改到北门", "body": "请提前十分钟到。"},
    )
    assert response.status_code == 302
    assert len(db.session.scalars(select(Notification)).all()) == 2
    assert smtp.messages == []  # the request only queued it
    entry = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "message.send")).one()
    assert entry.after["recipients"] == 2 and entry.after["email_queued"] == 1

    assert deliver().sent == 1
    assert len(smtp.messages) == 1
    rcpts, msg = smtp.messages[0]
    assert rcpts == ["volunteer@example.org"]
    assert "集合地点改到北门" in msg["Subject"]
    assert "请提前十分钟到" in msg.get_content()
    assert f"http://portal.test/activities/{shift.activity_id}" in msg.get_content()


@pytest.mark.parametrize("app_config", [MAIL], indirect=True)
def test_reminder_is_emailed_once(db, smtp, make_user, make_shift, make_signup):
    shift = make_shift(starts_in=timedelta(hours=22))
    make_signup(shift, user=make_user("有邮箱", email="a@example.org"))
    assert send_due_reminders() == 1
    db.session.commit()
    assert deliver().sent == 1
    assert send_due_reminders() == 0
    db.session.commit()
    assert deliver().sent == 0
    assert len(smtp.messages) == 1 and "明天提醒" in smtp.messages[0][1]["Subject"]


def test_without_mail_server_nothing_is_queued_and_deliver_says_so(
    db, runner, make_user, make_shift, make_signup
):
    make_signup(
        make_shift(starts_in=timedelta(hours=22)), user=make_user("有邮箱", email="a@example.org")
    )
    assert send_due_reminders() == 1
    db.session.commit()
    note = db.session.scalars(select(Notification)).one()
    assert note.email_to is None and note.email_next_try_at is None
    result = runner.invoke(args=["deliver"])
    assert result.exit_code == 0 and "Mail is not configured" in result.output


@pytest.mark.parametrize("app_config", [MAIL], indirect=True)
def test_unreachable_server_fails_the_attempt_not_the_run(db, runner, make_user):
    from portal.notifications.services import notify

    notify(make_user(email="a@example.org"), "notice", "标题", "正文")
    db.session.commit()
    result = runner.invoke(args=["deliver"])  # nothing listens on PORT
    assert result.exit_code == 0, result.output
    assert "E-mails sent: 0, to retry: 1" in result.output
    note = db.session.scalars(select(Notification)).one()
    assert note.emailed_at is None and note.email_attempts == 1
    assert "Connection" in note.email_error or "Errno" in note.email_error


@pytest.mark.parametrize("app_config", [MAIL], indirect=True)
def test_refused_address_gives_up_at_once_and_others_still_go(db, smtp, make_user):
    from portal.notifications.services import notify

    smtp.inbox.refuse.add("gone@example.org")
    notify(make_user(email="gone@example.org"), "notice", "标题", "正文")
    notify(make_user(email="here@example.org"), "notice", "标题", "正文")
    db.session.commit()
    report = deliver()
    assert (report.sent, report.gave_up, report.retrying) == (1, 1, 0)
    gone = db.session.scalars(
        select(Notification).where(Notification.email_to == "gone@example.org")
    ).one()
    assert gone.email_next_try_at is None and gone.emailed_at is None
    assert "550" in gone.email_error
    assert [rcpts for rcpts, _ in smtp.messages] == [["here@example.org"]]

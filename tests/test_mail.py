"""E-mail delivery against a real local SMTP server (aiosmtpd) started by the test."""

from __future__ import annotations

import socket
from datetime import timedelta
from email import message_from_bytes, policy

import pytest
from sqlalchemy import select

from portal.models import Notification
from portal.notifications import mail
from portal.organize.services import send_due_reminders


class Inbox:
    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append((envelope.rcpt_tos, message_from_bytes(envelope.content,
                                                                    policy=policy.default)))
        return "250 OK"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


PORT = _free_port()


@pytest.fixture
def smtp():
    from aiosmtpd.controller import Controller

    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=PORT)
    controller.start()
    yield inbox
    controller.stop()


@pytest.fixture
def app_config(request) -> dict:
    """Per-test configuration through ``indirect`` parametrization."""
    return getattr(request, "param", {})


MAIL = {"MAIL_SERVER": "127.0.0.1", "MAIL_PORT": PORT, "MAIL_FROM": "noreply@portal.test"}


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
    response = client.post(f"/organize/shifts/{shift.id}/message",
                           data={"title": "集合地点改到北门", "body": "请提前十分钟到。"})
    assert response.status_code == 302
    assert len(db.session.scalars(select(Notification)).all()) == 2
    assert len(smtp.messages) == 1
    rcpts, msg = smtp.messages[0]
    assert rcpts == ["volunteer@example.org"]
    assert "集合地点改到北门" in msg["Subject"]
    assert "请提前十分钟到" in msg.get_content()


@pytest.mark.parametrize("app_config", [MAIL], indirect=True)
def test_reminder_is_emailed_once(db, smtp, make_user, make_shift, make_signup):
    shift = make_shift(starts_in=timedelta(hours=22))
    make_signup(shift, user=make_user("有邮箱", email="a@example.org"))
    assert send_due_reminders() == 1
    db.session.commit()
    assert send_due_reminders() == 0
    assert len(smtp.messages) == 1 and "明天提醒" in smtp.messages[0][1]["Subject"]


def test_without_mail_server_nothing_is_sent(app):
    assert mail.send_mail(["a@example.org"], "x", "y") == 0


@pytest.mark.parametrize(
    "app_config", [{"MAIL_SERVER": "127.0.0.1", "MAIL_PORT": _free_port()}], indirect=True
)
def test_unreachable_server_does_not_break_the_request(app):
    assert mail.send_mail(["a@example.org"], "x", "y") == 0

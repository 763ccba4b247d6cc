"""忘记密码 and a new phone number: a reset link by e-mail end to end against a real local SMTP
server (aiosmtpd) — the link works once, expires, and an unknown phone or address gets the
same answer as a known one; without mail, the counter; changing the phone with the password."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from portal.models import AuditEntry, Notification, User
from portal.notifications.outbox import deliver
from portal.recovery import services
from tests.conftest import TEST_PASSWORD
from tests.test_mail import MAIL, PORT, SmtpServer

NEW = "Fuhai-creek-2026"


@pytest.fixture
def smtp():
    server = SmtpServer(PORT).start()
    yield server
    server.stop()


@pytest.fixture
def app_config(request) -> dict:
    return getattr(request, "param", {})


def _link(smtp) -> str:
    ((_rcpts, msg),) = smtp.messages
    found = re.search(r"https?://[^/\s]+(/account/reset/\S+)", msg.get_content())
    assert found, msg.get_content()
    return found.group(1)


def _answer(resp) -> str:
    html = resp.get_data(as_text=True)
    return re.search(
        r'<div class="flash flash-success" role="status">(.*?)</div>', html, re.S
    ).group(1)


@pytest.mark.parametrize("app_config", [MAIL], indirect=True)
def test_reset_by_email_end_to_end_works_once(db, client, smtp, make_user):
    user = make_user("陈晓梅", phone="13812345678", email="chen@example.org")
    resp = client.post("/account/forgot", data={"who": "138 1234 5678"})
    assert resp.status_code == 200
    known = _answer(resp)
    assert smtp.messages == []  # the request only queued it; the outbox sends
    assert deliver().sent == 1
    ((rcpts, msg),) = smtp.messages
    assert rcpts == ["chen@example.org"] and "重设密码" in msg["Subject"]
    link = _link(smtp)

    page = client.get(link)
    assert page.status_code == 200 and 'name="new"' in page.get_data(as_text=True)
    resp = client.post(link, data={"new": NEW, "new2": NEW})
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/account/login")
    db.session.refresh(user)
    login = client.post("/account/login", data={"phone": "13812345678", "password": NEW})
    assert login.status_code == 302
    client.post("/account/logout")
    # used up: the same link now says so, and cannot set a password again
    again = client.post(link, data={"new": "Another-pass-77", "new2": "Another-pass-77"})
    assert again.status_code == 410 and "链接已失效" in again.get_data(as_text=True)
    actions = db.session.scalars(select(AuditEntry.action)).all()
    assert "user.password_reset_requested" in actions and "user.password_reset" in actions

    # an unknown phone, an unknown address and a known person without an address all get
    # exactly the same answer, and no mail
    make_user("无邮箱", phone="13900000001")
    for who in ("13999999999", "nobody@example.org", "13900000001", "chen@example.org"):
        resp = client.post("/account/forgot", data={"who": who})
        assert resp.status_code == 200 and _answer(resp) == known, who
    assert deliver().sent == 1  # only chen@example.org's second request


@pytest.mark.parametrize("app_config", [MAIL], indirect=True)
def test_reset_link_expires(app, db, client, smtp, make_user):
    make_user(phone="13812345678", email="chen@example.org")
    client.post("/account/forgot", data={"who": "CHEN@example.org"})  # address, any case
    deliver()
    link = _link(smtp)
    app.config["PASSWORD_RESET_MINUTES"] = 0  # every token is now older than its lifetime
    import time

    time.sleep(1.1)
    resp = client.get(link)
    assert resp.status_code == 410 and "已过期" in resp.get_data(as_text=True)


@pytest.mark.parametrize("app_config", [MAIL], indirect=True)
def test_reset_link_dies_when_the_password_changes_otherwise(db, client, login, smtp, make_user):
    user = make_user(phone="13812345678", email="chen@example.org")
    client.post("/account/forgot", data={"who": "13812345678"})
    deliver()
    link = _link(smtp)
    login(user)
    client.post("/account/password", data={"current": TEST_PASSWORD, "new": NEW, "new2": NEW})
    client.post("/account/logout")
    assert client.get(link).status_code == 410


@pytest.mark.parametrize(
    "token", ["", "x", "eyJ1IjoxfQ.bad.sig", "a" * 300, "%00", "..%2F..%2Fetc"]
)
def test_forged_tokens_are_refused(db, client, token):
    resp = client.get(f"/account/reset/{token}x")
    assert resp.status_code in (404, 410)


@pytest.mark.parametrize("app_config", [MAIL], indirect=True)
@pytest.mark.parametrize(
    ("new", "new2", "message"),
    [
        ("short", "short", "至少需要 8 位"),
        ("19560312", "19560312", "生日"),
        ("13812345678", "13812345678", "手机号"),
        (NEW, NEW + "x", "两次输入的密码不一致"),
        ("", "", "请设置新密码"),
    ],
)
def test_reset_bad_input_changes_nothing(db, client, smtp, make_user, new, new2, message):
    user = make_user(phone="13812345678", email="chen@example.org")
    old_hash = user.password_hash
    client.post("/account/forgot", data={"who": "13812345678"})
    deliver()
    link = _link(smtp)
    resp = client.post(link, data={"new": new, "new2": new2})
    assert resp.status_code == 200
    html = resp.get_data(as_text=True)
    assert message in html and "autofocus" in html
    db.session.refresh(user)
    assert user.password_hash == old_hash
    assert client.get(link).status_code == 200  # still usable


def test_without_mail_the_page_sends_people_to_the_counter(db, client, make_user):
    make_user(phone="13812345678", email="chen@example.org")
    html = client.get("/account/forgot").get_data(as_text=True)
    assert "社区服务窗口" in html and "一次性密码" in html
    assert 'name="who"' not in html  # no e-mail form when no mail server is configured
    assert db.session.scalar(select(func.count(Notification.id))) == 0


def test_login_page_offers_forgot_password(client):
    assert 'href="/account/forgot"' in client.get("/account/login").get_data(as_text=True)


@pytest.mark.parametrize("app_config", [MAIL], indirect=True)
@pytest.mark.parametrize("who", ["", "   ", "x" * 300, ["13812345678", "a"]])
def test_forgot_bad_input(db, client, smtp, who):
    resp = client.post("/account/forgot", data={"who": who})
    assert resp.status_code == 200
    assert db.session.scalar(select(func.count(Notification.id))) == 0


# --- changing the phone number --------------------------------------------------------------


def test_change_phone_with_password(db, client, login, make_user):
    user = login(make_user(phone="13812345678"))
    resp = client.post(
        "/account/phone", data={"phone": "１３９ ００００ ２２２２", "password": TEST_PASSWORD}
    )
    assert resp.status_code == 302
    db.session.refresh(user)
    assert user.phone == "13900002222"
    entry = db.session.scalars(
        select(AuditEntry).where(AuditEntry.action == "user.phone_changed")
    ).one()
    assert "138****5678" in entry.summary and "13812345678" not in entry.summary
    client.post("/account/logout")
    ok = client.post("/account/login", data={"phone": "13900002222", "password": TEST_PASSWORD})
    assert ok.status_code == 302


@pytest.mark.parametrize(
    ("phone", "password", "message", "focus"),
    [
        ("13900002222", "wrong-password", "当前密码不正确", "password"),
        ("12345", TEST_PASSWORD, "请输入11位中国大陆手机号", "phone"),
        ("13812345678", TEST_PASSWORD, "无需修改", "phone"),
        ("13700001111", TEST_PASSWORD, "另一个账号使用", "phone"),
        ("", TEST_PASSWORD, "请填写新手机号", "phone"),
        ("13900002222", "", "请输入当前密码", "password"),
    ],
)
def test_change_phone_bad_input(db, client, login, make_user, phone, password, message, focus):
    make_user("别人", phone="13700001111")
    user = login(make_user(phone="13812345678"))
    resp = client.post("/account/phone", data={"phone": phone, "password": password})
    assert resp.status_code == 200
    html = resp.get_data(as_text=True)
    assert message in html
    assert re.search(
        rf'<input[^>]*\bautofocus\b[^>]*name="{focus}"|<input[^>]*name="{focus}"'
        rf"[^>]*\bautofocus\b",
        html,
    )
    db.session.refresh(user)
    assert user.phone == "13812345678"
    assert db.session.scalar(select(func.count(User.id)).where(User.phone == "13900002222")) == 0


def test_tokens_name_the_person_and_their_password(app, db, make_user):
    a, b = make_user(), make_user()
    with app.test_request_context():
        ta = services.make_token(a)
        assert services.user_for_token(ta) == a
        assert services.user_for_token(services.make_token(b)) == b
        a.session_version += 1  # "log out everywhere" also retires the link
        assert services.user_for_token(ta) is None

"""Accounts: register (with consent), log in (remember me, safe redirects), profile, password."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from portal.auth import services
from portal.models import User
from tests.conftest import TEST_PASSWORD

GOOD = {
    "real_name": "陈晓梅",
    "phone": "138 1234 5678",
    "password": "Fuhai-creek-2026",
    "password2": "Fuhai-creek-2026",
    "consent": "y",
}


def _users(db) -> int:
    return db.session.scalar(select(func.count(User.id)))


def _follow(client, resp):
    while resp.status_code in (301, 302, 303):
        resp = client.get(resp.headers["Location"])
    return resp


# --- registration ---------------------------------------------------------------------------


def test_register_stores_consent_and_logs_in(db, client, app):
    before = datetime.now(UTC) - timedelta(seconds=1)
    resp = client.post("/account/register", data=GOOD)
    assert resp.status_code == 302
    user = db.session.scalar(select(User))
    assert user.phone == "13812345678"  # normalised
    assert user.real_name == "陈晓梅"
    assert user.consent_version == app.config["PRIVACY_NOTICE_VERSION"]
    assert user.consent_at is not None and user.consent_at >= before
    assert user.password_hash.startswith("$argon2id$")
    assert "Fuhai-creek-2026" not in user.password_hash
    html = _follow(client, client.get("/account/profile")).get_data(as_text=True)
    assert "13812345678" in html and app.config["PRIVACY_NOTICE_VERSION"] in html


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"phone": "12345"}, "请输入11位中国大陆手机号"),
        ({"phone": "12812345678"}, "请输入11位中国大陆手机号"),
        ({"phone": "1381234567a"}, "请输入11位中国大陆手机号"),
        ({"phone": "+1 415 555 0100"}, "请输入11位中国大陆手机号"),
        ({"phone": ""}, "请填写手机号"),
        ({"real_name": ""}, "请填写真实姓名"),
        ({"real_name": "张" * 41}, "姓名最多 20 个字"),
        ({"password": "Ab1-xyz", "password2": "Ab1-xyz"}, "密码至少需要 8 位"),
        ({"password": "12345678", "password2": "12345678"}, "太常见"),
        ({"password": "password", "password2": "password"}, "太常见"),
        ({"password": "woaini1314", "password2": "woaini1314"}, "太常见"),
        ({"password": "aaaaaaaaaa", "password2": "aaaaaaaaaa"}, "太常见"),
        ({"password": "x13812345678", "password2": "x13812345678"}, "不能包含手机号"),
        ({"password2": "something-else-1"}, "两次输入的密码不一致"),
        ({"consent": None}, "需要阅读并同意个人信息保护说明"),
    ],
)
def test_register_bad_input(db, client, change, message):
    data = {k: v for k, v in {**GOOD, **change}.items() if v is not None}
    resp = client.post("/account/register", data=data)
    assert resp.status_code == 200
    html = resp.get_data(as_text=True)
    assert message in html
    assert _users(db) == 0
    # what was typed is kept (except passwords)
    if data.get("real_name") and len(data["real_name"]) <= 40:
        assert data["real_name"] in html


def test_register_phone_already_registered(db, client, make_user):
    make_user(phone="13812345678")
    resp = client.post("/account/register", data={**GOOD, "phone": "+86 138-1234-5678"})
    assert "这个手机号已经注册过" in resp.get_data(as_text=True)
    assert _users(db) == 1


def test_register_service_refuses_the_same(db, app):
    with pytest.raises(services.AccountError, match="同意"):
        services.register(services.Registration("陈晓梅", "13812345678", GOOD["password"], False))
    with pytest.raises(services.AccountError, match="手机号"):
        services.register(services.Registration("陈晓梅", "10086", GOOD["password"], True))
    with pytest.raises(services.AccountError, match="8 位"):
        services.register(services.Registration("陈晓梅", "13812345678", "short", True))
    assert _users(db) == 0


def test_register_double_submit_makes_one_account(db, client):
    client.post("/account/register", data=GOOD)
    client.post("/account/logout")
    resp = client.post("/account/register", data=GOOD)
    assert "这个手机号已经注册过" in resp.get_data(as_text=True)
    assert _users(db) == 1


@pytest.mark.parametrize("app_config", [{"WTF_CSRF_ENABLED": True}])
def test_register_without_csrf_token_is_refused(db, client):
    resp = client.post("/account/register", data=GOOD)
    assert resp.status_code == 400
    assert "页面已过期" in resp.get_data(as_text=True)
    assert _users(db) == 0


# --- login ----------------------------------------------------------------------------------


def test_login_and_logout(db, client, make_user):
    make_user(phone="13900000001")
    resp = client.post("/account/login", data={"phone": "139 0000 0001", "password": TEST_PASSWORD})
    assert resp.status_code == 302
    assert client.get("/account/profile").status_code == 200
    assert "remember_token" not in resp.headers.get("Set-Cookie", "")
    client.post("/account/logout")
    assert client.get("/account/profile").status_code == 302


def test_remember_me_sets_a_lasting_cookie(db, client, make_user):
    make_user(phone="13900000002")
    resp = client.post(
        "/account/login",
        data={"phone": "13900000002", "password": TEST_PASSWORD, "remember": "y"},
    )
    cookies = resp.headers.getlist("Set-Cookie")
    remember = [c for c in cookies if c.startswith("remember_token=")]
    assert remember and "Expires=" in remember[0] and "HttpOnly" in remember[0]


@pytest.mark.parametrize(
    ("phone", "password"),
    [("13900000003", "wrong-password"), ("13999999999", TEST_PASSWORD), ("abc", "x")],
)
def test_login_failures_say_so_without_telling_which(db, client, make_user, phone, password):
    make_user(phone="13900000003")
    resp = client.post("/account/login", data={"phone": phone, "password": password})
    assert resp.status_code == 200
    assert "手机号或密码不正确" in resp.get_data(as_text=True)
    assert client.get("/account/profile").status_code == 302


def test_inactive_account_cannot_log_in(db, client, make_user):
    make_user(phone="13900000004", active=False)
    resp = client.post("/account/login", data={"phone": "13900000004", "password": TEST_PASSWORD})
    assert "手机号或密码不正确" in resp.get_data(as_text=True)


@pytest.mark.parametrize(
    ("next_url", "expected"),
    [
        ("/me", "/me"),
        ("/activities/3#shift-4", "/activities/3#shift-4"),
        ("https://evil.example/", "/"),
        ("//evil.example/", "/"),
        ("\\\\evil.example", "/"),
        ("/\\evil.example", "/"),
        ("javascript:alert(1)", "/"),
        ("", "/"),
    ],
)
def test_login_redirects_only_to_this_site(db, client, make_user, next_url, expected):
    make_user(phone="13900000005")
    resp = client.post(
        f"/account/login?next={next_url}" if next_url and "#" not in next_url else "/account/login",
        data={"phone": "13900000005", "password": TEST_PASSWORD, "next": next_url},
    )
    assert resp.status_code == 302
    assert resp.headers["Location"] == expected


def test_logged_in_user_visiting_login_goes_on(db, client, login, make_user):
    login(make_user())
    assert client.get("/account/login?next=/me").headers["Location"] == "/me"
    assert client.get("/account/register").status_code == 302


def test_logout_needs_post(db, client, login, make_user):
    login(make_user())
    assert client.get("/account/logout").status_code == 405
    assert client.get("/account/profile").status_code == 200


# --- profile and password -------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/account/profile", "/account/password"])
def test_anonymous_is_sent_to_login(db, client, path):
    resp = client.get(path)
    assert resp.status_code == 302
    assert "/account/login" in resp.headers["Location"]
    assert "next=" in resp.headers["Location"]


@pytest.mark.parametrize("path", ["/account/privacy", "/account/login", "/account/register"])
def test_public_account_pages(db, client, path):
    assert client.get(path).status_code == 200


def test_profile_shows_own_data(db, client, login, make_user):
    login(make_user(name="陈晓梅", phone="13900000006"))
    html = client.get("/account/profile").get_data(as_text=True)
    assert "陈晓梅" in html and "13900000006" in html and "2026-11" in html


def test_change_password_ends_other_sessions(db, client, app, make_user):
    user = make_user(phone="13900000007")
    other = app.test_client()
    for c in (client, other):
        c.post("/account/login", data={"phone": "13900000007", "password": TEST_PASSWORD})
    resp = client.post(
        "/account/password",
        data={"current": TEST_PASSWORD, "new": "New-Horse-77", "new2": "New-Horse-77"},
    )
    assert resp.status_code == 302
    assert client.get("/account/profile").status_code == 200  # this session stays
    assert other.get("/account/profile").status_code == 302  # the other one ended
    db.session.refresh(user)
    assert services.authenticate("13900000007", "New-Horse-77") is not None


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"current": "wrong-one", "new": "New-Horse-77", "new2": "New-Horse-77"}, "当前密码不正确"),
        ({"current": TEST_PASSWORD, "new": "short", "new2": "short"}, "至少需要 8 位"),
        ({"current": TEST_PASSWORD, "new": "password", "new2": "password"}, "太常见"),
        ({"current": TEST_PASSWORD, "new": "New-Horse-77", "new2": "New-Horse-78"}, "不一致"),
        ({"current": "", "new": "", "new2": ""}, "请输入当前密码"),
    ],
)
def test_change_password_bad_input(db, client, login, make_user, data, message):
    user = login(make_user())
    old_hash = user.password_hash
    resp = client.post("/account/password", data=data)
    assert resp.status_code == 200
    assert message in resp.get_data(as_text=True)
    db.session.refresh(user)
    assert user.password_hash == old_hash


@pytest.mark.parametrize(
    ("raw", "normal", "valid"),
    [
        ("13812345678", "13812345678", True),
        ("+86 138 1234 5678", "13812345678", True),
        ("0086-138-1234-5678", "13812345678", True),
        ("19912345678", "19912345678", True),
        ("12812345678", "12812345678", False),
        ("1381234567", "1381234567", False),
        ("138123456789", "138123456789", False),
        ("０１３８", "0138", False),  # full-width digits are folded (then too short)
        ("１３８１２３４５６７８", "13812345678", True),
    ],
)
def test_phone_rules(raw, normal, valid):
    assert services.normalise_phone(raw) == normal
    assert services.is_valid_phone(services.normalise_phone(raw)) is valid

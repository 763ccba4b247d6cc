"""Hardening (issue 11): sessions end when they should, limits hold per phone and per address,
every response carries the security headers, oversized requests and foreign hosts are refused,
proxies are believed only as configured, and names cannot hide control or bidi characters."""

from __future__ import annotations

import logging
import time
import uuid

import pytest

from tests.conftest import TEST_PASSWORD

PROFILE = "/account/profile"


def _login(client, user, remember=False, password=TEST_PASSWORD):
    data = {"phone": user.phone, "password": password}
    if remember:
        data["remember"] = "y"
    return client.post("/account/login", data=data)


def _logged_in(client) -> bool:
    return client.get(PROFILE).status_code == 200


@pytest.fixture
def second(app):
    """Another device of the same person: a separate client with its own cookies."""
    return app.test_client()


# --- sessions ---------------------------------------------------------------------------------


def test_logout_on_one_device_ends_the_other_sessions_too(client, second, make_user):
    user = make_user()
    assert _login(client, user).status_code == 302
    assert _login(second, user).status_code == 302
    assert _logged_in(client) and _logged_in(second)
    client.post("/account/logout")
    assert not _logged_in(client)
    assert not _logged_in(second)


def test_a_copy_of_the_logged_out_cookie_does_not_log_in(app, client, make_user):
    user = make_user()
    _login(client, user)
    stolen = client.get_cookie("session").value
    client.post("/account/logout")
    thief = app.test_client()
    thief.set_cookie("session", stolen)
    assert not _logged_in(thief)


def test_remember_token_changes_at_each_login_and_dies_at_logout(app, client, second, make_user):
    user = make_user()
    _login(client, user, remember=True)
    _login(second, user, remember=True)
    first_token = client.get_cookie("remember_token").value
    second_token = second.get_cookie("remember_token").value
    assert first_token != second_token
    # The cookie alone logs in (that is what it is for) …
    thief = app.test_client()
    thief.set_cookie("remember_token", first_token)
    assert _logged_in(thief)
    # … until the person logs out anywhere: then no copy of any of their cookies works.
    client.post("/account/logout")
    for token in (first_token, second_token):
        other = app.test_client()
        other.set_cookie("remember_token", token)
        assert not _logged_in(other)
    assert not _logged_in(second)


def test_password_change_keeps_this_device_and_ends_the_others(client, second, make_user):
    user = make_user()
    _login(client, user, remember=True)
    _login(second, user)
    response = client.post(
        "/account/password",
        data={"current": TEST_PASSWORD, "new": "Another-Horse-77", "new2": "Another-Horse-77"},
    )
    assert response.status_code == 302
    assert _logged_in(client)
    assert not _logged_in(second)


def test_log_out_everywhere_from_the_account_page(client, second, make_user):
    user = make_user()
    _login(client, user)
    _login(second, user, remember=True)
    page = client.get(PROFILE).get_data(as_text=True)
    assert 'action="/account/logout-everywhere"' in page and "在所有设备上退出登录" in page
    response = client.post("/account/logout-everywhere")
    assert response.status_code == 302 and response.headers["Location"] == "/account/login"
    assert not _logged_in(client)
    assert not _logged_in(second)


def test_idle_session_ends_with_a_message(app, client, make_user):
    user = make_user()
    _login(client, user)
    with client.session_transaction() as sess:
        sess["_seen"] = int(time.time()) - app.config["SESSION_IDLE_MINUTES"] * 60 - 5
    response = client.get(PROFILE)
    assert response.status_code == 302
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "登录已过期" in page


def test_activity_keeps_the_session_alive(app, client, make_user):
    user = make_user()
    _login(client, user)
    with client.session_transaction() as sess:
        sess["_seen"] = int(time.time()) - app.config["SESSION_IDLE_MINUTES"] * 60 + 120
    assert _logged_in(client)  # used in time: the idle clock starts again
    with client.session_transaction() as sess:
        assert sess["_seen"] >= int(time.time()) - 5


def test_session_ends_after_the_absolute_lifetime_even_when_used(app, client, make_user):
    user = make_user()
    _login(client, user)
    old = int(time.time()) - int(app.config["SESSION_MAX_HOURS"] * 3600) - 5
    with client.session_transaction() as sess:
        sess["_user_id"] = f"{user.id}:{user.session_version}:{old}:sOLD"
        sess["_seen"] = int(time.time())
    assert not _logged_in(client)


def test_remember_cookie_expires_after_remember_days_whatever_the_browser_keeps(
    app, client, make_user
):
    from flask_login.utils import encode_cookie

    user = make_user()
    old = int(time.time()) - app.config["REMEMBER_DAYS"] * 86400 - 5
    with app.test_request_context():
        forged_age = encode_cookie(f"{user.id}:{user.session_version}:{old}:rOLD")
        fresh = encode_cookie(f"{user.id}:{user.session_version}:{int(time.time())}:rNEW")
    client.set_cookie("remember_token", forged_age)
    assert not _logged_in(client)
    other = app.test_client()
    other.set_cookie("remember_token", fresh)
    assert _logged_in(other)


def test_old_style_ids_without_a_login_time_are_refused(client, make_user):
    user = make_user()
    with client.session_transaction() as sess:
        sess["_user_id"] = f"{user.id}:{user.session_version}"  # before this change
    assert not _logged_in(client)


@pytest.mark.parametrize("app_config", [{"PORTAL_HTTPS": True}])
def test_both_cookies_are_secure_in_production(client, make_user):
    user = make_user()
    response = _login(client, user, remember=True)
    cookies = response.headers.getlist("Set-Cookie")
    for name in ("session=", "remember_token="):
        (line,) = [c for c in cookies if c.startswith(name)]
        assert "Secure" in line and "HttpOnly" in line and "SameSite=Lax" in line


def test_cookies_are_not_secure_on_a_laptop(client, make_user):
    response = _login(client, make_user(), remember=True)
    assert all("Secure" not in c for c in response.headers.getlist("Set-Cookie"))


def test_https_switch_from_the_environment(monkeypatch, tmp_path):
    from tests.test_config import _app_in

    monkeypatch.setenv("PORTAL_HTTPS", "true")
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'x.sqlite3'}")
    monkeypatch.setenv("SECRET_KEY", "x" * 32)
    monkeypatch.setenv("PORTAL_RATELIMIT_LOGIN_PHONE", "3 per hour")
    monkeypatch.setenv("PORTAL_SESSION_IDLE_MINUTES", "15")
    app = _app_in(tmp_path, monkeypatch)
    assert app.config["SESSION_COOKIE_SECURE"] and app.config["REMEMBER_COOKIE_SECURE"]
    assert app.config["RATELIMITS"]["login_phone"] == "3 per hour"
    assert app.config["SESSION_IDLE_MINUTES"] == 15


# --- rate limits ------------------------------------------------------------------------------


def _limits(**values):
    from portal.config import DefaultConfig

    return {
        "RATELIMIT_ENABLED": True,
        "RATELIMIT_STORAGE_URI": "memory://",
        "RATELIMIT_KEY_PREFIX": f"t-{uuid.uuid4().hex}",
        "RATELIMITS": {**DefaultConfig.RATELIMITS, **values},
    }


def _fail(client, phone, addr="10.0.0.1"):
    return client.post(
        "/account/login",
        data={"phone": phone, "password": "wrong-password"},
        environ_base={"REMOTE_ADDR": addr},
    )


@pytest.mark.parametrize("app_config", [_limits(login_phone="3 per 15 minutes")])
def test_per_phone_limit_refuses_even_the_right_password_then_says_how_long(client, make_user):
    user, other = make_user(), make_user()
    assert [_fail(client, user.phone).status_code for _ in range(3)] == [200, 200, 200]
    refused = _login(client, user)
    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) > 0
    page = refused.get_data(as_text=True)
    assert "操作太频繁了，请在" in page and "分钟后再试" in page
    # Another number from the same address is not affected.
    assert _login(client, other).status_code == 302


@pytest.mark.parametrize(
    "app_config", [_limits(login_phone="100 per 15 minutes", login_address="4 per 15 minutes")]
)
def test_per_address_limit_never_refuses_a_right_password(app, client, make_user):
    user = make_user()
    statuses = [_fail(client, f"1380000{n:04d}").status_code for n in range(6)]
    assert statuses == [200, 200, 200, 200, 429, 429]
    # Someone else behind the same carrier address logs in all the same.
    neighbour = app.test_client()
    assert _login(neighbour, user).status_code == 302
    # From another address, wrong passwords are answered normally.
    assert _fail(client, "13800009999", addr="10.0.0.2").status_code == 200


@pytest.mark.parametrize("app_config", [_limits()])
def test_failed_logins_are_logged_masked_and_without_the_password(client, make_user, caplog):
    user = make_user(phone="13912345678")
    with caplog.at_level(logging.WARNING, logger="portal.security"):
        client.post("/account/login", data={"phone": user.phone, "password": "S3cret-guess-1"})
    text = caplog.text
    assert "login failed for 139****5678" in text
    assert "S3cret-guess-1" not in text and "13912345678" not in text


@pytest.mark.parametrize("app_config", [_limits(register="2 per hour")])
def test_registration_is_limited_per_address(client):
    data = {"real_name": "王五", "phone": "137", "password": "x", "password2": "x"}
    assert [client.post("/account/register", data=data).status_code for _ in range(3)] == [
        200,
        200,
        429,
    ]


@pytest.mark.parametrize("app_config", [_limits(signup="2 per hour")])
def test_sign_ups_are_limited_per_person(client, login, make_user, make_shift):
    login(make_user())
    shifts = [make_shift() for _ in range(3)]
    statuses = [client.post(f"/shifts/{s.id}/signup").status_code for s in shifts]
    assert statuses[:2] != [429, 429] and statuses[2] == 429


@pytest.mark.parametrize("app_config", [_limits(feeds="2 per hour")])
def test_feeds_are_limited_per_address_and_the_429_has_the_headers(client):
    statuses = [client.get("/calendar/all.ics").status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
    refused = client.get("/calendar/all.ics")
    assert refused.headers["X-Content-Type-Options"] == "nosniff"
    assert int(refused.headers["Retry-After"]) > 0


@pytest.mark.parametrize(
    "app_config",
    [{**_limits(login_phone="1 per hour", feeds="1 per hour"), "RATELIMIT_ENABLED": False}],
)
def test_one_switch_turns_every_limit_off_for_load_tests(client, make_user):
    user = make_user()
    assert all(_fail(client, user.phone).status_code == 200 for _ in range(5))
    assert _login(client, user).status_code == 302
    assert all(client.get("/calendar/all.ics").status_code == 200 for _ in range(4))


# --- headers ----------------------------------------------------------------------------------


def _assert_security_headers(response):
    h = response.headers
    csp = h["Content-Security-Policy"]
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert "frame-ancestors 'none'" in csp
    assert h["X-Content-Type-Options"] == "nosniff"
    assert h["X-Frame-Options"] == "DENY"
    assert h["Referrer-Policy"] == "strict-origin-when-cross-origin"


@pytest.mark.parametrize(
    "url",
    [
        "/",
        "/activities",
        "/no-such-page",
        "/static/css/site.css",
        "/static/js/page.js",
        "/calendar/all.ics",
        "/calendar/me/not-a-token.ics",
        "/api/v1/activities",
        "/api/v1/openapi.json",
        "/api/v1/nothing-here",
        "/account/login",
    ],
)
def test_every_kind_of_response_has_the_headers(client, url):
    response = client.get(url)
    response.close()
    assert response.status_code < 500
    _assert_security_headers(response)
    assert "Strict-Transport-Security" not in response.headers  # plain http: no HSTS


def test_headers_on_a_server_error(app, client):
    from werkzeug.exceptions import InternalServerError  # noqa: F401

    @app.route("/boom-for-test")
    def boom():
        raise RuntimeError("boom")

    response = client.get("/boom-for-test")
    assert response.status_code == 500
    _assert_security_headers(response)


def test_hsts_over_https(client):
    response = client.get("/", base_url="https://localhost")
    assert response.headers["Strict-Transport-Security"].startswith("max-age=31536000")


def test_pages_with_personal_data_are_never_stored(client, login, make_user):
    assert "no-store" not in client.get("/activities").headers.get("Cache-Control", "")
    assert client.get("/calendar/all.ics").headers["Cache-Control"].startswith("public")
    login(make_user())
    for url in ("/account/profile", "/me", "/activities", "/account/export.csv"):
        response = client.get(url)
        assert response.headers["Cache-Control"] == "no-store", url
    static = client.get("/static/css/site.css")
    static.close()
    assert "no-store" not in static.headers.get("Cache-Control", "")
    # Public feeds and the API are the same bytes for everyone: cacheable even when the
    # one asking happens to be logged in, and never varying by cookie.
    for url in ("/calendar/all.ics", "/api/v1/activities", "/healthz"):
        response = client.get(url)
        assert "no-store" not in response.headers.get("Cache-Control", ""), url
        assert "Cookie" not in response.headers.get("Vary", ""), url


def test_personal_feed_is_never_stored(client, login, make_user):
    import re

    login(make_user())
    client.post("/calendar/subscribe/new")
    page = client.get("/calendar/subscribe").get_data(as_text=True)
    feed = re.search(r'value="https?://[^/"]+(/calendar/me/[A-Za-z0-9_-]+\.ics)"', page).group(1)
    anonymous = client.application.test_client()
    response = anonymous.get(feed)
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "private, no-store"  # CALENDAR.md 13


def test_csp_nonce_is_fresh_per_response(app, client):
    from flask import render_template_string

    @app.route("/nonce-for-test")
    def nonce():
        return render_template_string("<script nonce='{{ csp_nonce() }}'>1</script>")

    first, second = client.get("/nonce-for-test"), client.get("/nonce-for-test")
    n1 = first.get_data(as_text=True).split("'")[1]
    assert f"'nonce-{n1}'" in first.headers["Content-Security-Policy"]
    assert n1 not in second.headers["Content-Security-Policy"]


# --- request size -----------------------------------------------------------------------------


@pytest.mark.parametrize("app_config", [{"MAX_CONTENT_LENGTH": 64 * 1024}])
def test_an_oversized_post_is_a_friendly_413_and_saves_nothing(client, db):
    from portal.models import User

    response = client.post(
        "/account/register",
        data={
            "real_name": "王" * 100_000,
            "phone": "13700001111",
            "password": TEST_PASSWORD,
            "password2": TEST_PASSWORD,
            "consent": "y",
        },
    )
    assert response.status_code == 413
    page = response.get_data(as_text=True)
    assert "提交的内容太大了（最多 64 KB）" in page
    _assert_security_headers(response)
    assert db.session.scalar(db.select(db.func.count(User.id))) == 0


def test_default_limit_refuses_a_50_mb_field(client):
    response = client.post("/account/login", data={"phone": "1" * (50 * 1024 * 1024)})
    assert response.status_code == 413


# --- hosts and proxies ------------------------------------------------------------------------


def test_foreign_host_header_is_refused(client):
    response = client.get("/api/v1/activities", headers={"Host": "evil.example"})
    assert response.status_code == 400
    assert b"evil.example" not in response.data
    _assert_security_headers(response)
    page = client.get("/", headers={"Host": "evil.example"})
    assert page.status_code == 400 and b"evil.example" not in page.data


def test_links_use_portal_host_never_the_request_host(client, make_activity, make_shift):
    make_shift(make_activity())
    for headers in ({}, {"Host": "127.0.0.1:8000"}, {"X-Forwarded-Host": "evil.example"}):
        body = client.get("/api/v1/activities", headers=headers).get_data(as_text=True)
        assert "http://portal.test/activities/" in body
        assert "evil.example" not in body and "127.0.0.1" not in body and "localhost" not in body
    feed = client.get("/calendar/all.ics", headers={"X-Forwarded-Host": "evil.example"})
    assert b"evil.example" not in feed.data


@pytest.mark.parametrize("app_config", [{"TRUSTED_HOSTS": ["volunteer.example.gov.cn"]}])
def test_configured_trusted_hosts_replace_the_defaults(client):
    assert client.get("/").status_code == 400  # localhost is no longer served
    assert client.get("/", headers={"Host": "volunteer.example.gov.cn"}).status_code == 200


def _address_seen(app, client, headers):
    """Which address the app believes: log one failed login and read the log line."""
    records = []
    handler = logging.Handler()
    handler.emit = records.append
    logger = logging.getLogger("portal.security")
    logger.addHandler(handler)
    old = logger.level
    logger.setLevel(logging.WARNING)
    try:
        client.post(
            "/account/login",
            data={"phone": "13800001234", "password": "nope-nope"},
            headers=headers,
            environ_base={"REMOTE_ADDR": "10.9.9.9"},
        )
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old)
    return records[-1].getMessage().rsplit(" ", 1)[-1]


def test_forwarded_headers_are_ignored_without_configured_proxies(app, client):
    headers = {"X-Forwarded-For": "1.2.3.4", "X-Forwarded-Proto": "https"}
    assert _address_seen(app, client, headers) == "10.9.9.9"
    assert "Strict-Transport-Security" not in client.get("/", headers=headers).headers


@pytest.mark.parametrize("app_config", [{"PROXY_FIX_HOPS": 1}])
def test_one_configured_proxy_hop_is_believed_and_no_more(app, client):
    headers = {"X-Forwarded-For": "6.6.6.6, 1.2.3.4", "X-Forwarded-Proto": "https"}
    # The proxy appended the real client (1.2.3.4); what the client claimed (6.6.6.6) is ignored.
    assert _address_seen(app, client, headers) == "1.2.3.4"
    assert "Strict-Transport-Security" in client.get("/", headers=headers).headers


# --- text input -------------------------------------------------------------------------------

REFUSED = [
    ("王\u202e五", "right-to-left override"),
    ("王\u2066五\u2069", "bidi isolate"),
    ("王\u200f五", "right-to-left mark"),
    ("王\x07五", "bell"),
    ("王\x1b[31m五", "escape sequence"),
    ("王\x00五", "NUL"),
]
# Line breaks and other white space in a name: the real-name rule (portal/auth/validators.py)
# folds them into one plain space before the shared filter looks; either way none is stored.
FOLDED = [
    ("王五\r\n伪造的一行", "CR/LF"),
    ("王\n五", "LF"),
    ("王\t五", "tab"),
    ("王\u0085五", "C1 next line"),
    ("王\u2028五", "line separator"),
]
STRIPPED = [
    ("王\u200b五", "王五"),
    ("\ufeff王五", "王五"),
    ("王\u200d五", "王五"),
    ("王\u00ad五", "王五"),
    ("王\u2060五", "王五"),
]


def _register(client, name, phone="13700001111"):
    return client.post(
        "/account/register",
        data={
            "real_name": name,
            "phone": phone,
            "password": TEST_PASSWORD,
            "password2": TEST_PASSWORD,
            "consent": "y",
        },
    )


@pytest.mark.parametrize(("name", "why"), REFUSED, ids=[w for _, w in REFUSED])
def test_names_with_control_or_bidi_characters_are_refused(client, db, name, why):
    from portal.models import User

    response = _register(client, name)
    assert response.status_code in (200, 400)
    if response.status_code == 200:
        assert "请删掉换行、制表符或看不见的特殊字符" in response.get_data(as_text=True)
    assert db.session.scalar(db.select(db.func.count(User.id))) == 0


@pytest.mark.parametrize(("name", "why"), FOLDED, ids=[w for _, w in FOLDED])
def test_line_breaks_in_names_are_never_stored(client, db, name, why):
    from portal.forms import unsafe_characters
    from portal.models import User

    response = _register(client, name)
    stored = db.session.scalar(db.select(User.real_name))
    if response.status_code == 200:  # refused, with the reason
        assert stored is None
    else:
        assert response.status_code == 302
        assert unsafe_characters(stored) == [] and "\n" not in stored and "\r" not in stored


@pytest.mark.parametrize(("name", "saved"), STRIPPED)
def test_zero_width_characters_are_stripped_from_names(client, db, name, saved):
    from portal.models import User

    assert _register(client, name).status_code == 302
    assert db.session.scalar(db.select(User.real_name)) == saved


@pytest.mark.parametrize(("name", "why"), REFUSED[:5], ids=[w for _, w in REFUSED[:5]])
def test_profile_name_refuses_the_same(client, db, login, make_user, name, why):
    user = login(make_user(name="李四"))
    response = client.post("/account/profile/edit", data={"real_name": name, "email": ""})
    assert "看不见的特殊字符" in response.get_data(as_text=True)
    db.session.refresh(user)
    assert user.real_name == "李四"


def test_every_single_line_field_of_every_form_gets_the_rules(app):
    """The shared rules reach forms by construction: each text field has them once built."""
    from flask_wtf import FlaskForm
    from wtforms import PasswordField, StringField, TextAreaField
    from wtforms.validators import Length

    from portal.forms import PlainText, clean_block, clean_line

    forms = _all_form_classes(FlaskForm)
    assert len(forms) >= 10
    checked = 0
    with app.test_request_context():
        for cls in forms:
            try:
                form = cls(meta={"csrf": False})
            except TypeError:
                continue  # forms that need constructor arguments are built by their views
            for field in form:
                if not isinstance(field, StringField) or field.name == "csrf_token":
                    continue
                assert any(isinstance(v, Length) for v in field.validators), (cls, field.name)
                if isinstance(field, PasswordField):
                    continue
                want = clean_block if isinstance(field, TextAreaField) else clean_line
                assert want in field.filters, (cls, field.name)
                assert any(isinstance(v, PlainText) for v in field.validators), (cls, field.name)
                checked += 1
    assert checked >= 10


def _all_form_classes(base):
    import importlib
    import pkgutil

    import portal

    for info in pkgutil.walk_packages(portal.__path__, "portal."):
        if info.name.endswith(("forms", ".views")) or ".forms" in info.name:
            try:
                importlib.import_module(info.name)
            except Exception:  # noqa: BLE001 - a helper's half-written module
                continue
    found, todo = [], [base]
    while todo:
        for sub in todo.pop().__subclasses__():
            if sub.__module__.startswith("portal."):
                found.append(sub)
            todo.append(sub)
    return found


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("张三", True),
        ("O'Brien-Smith", True),
        ("阿卜杜拉·买买提", True),
        ("😀", True),
        ("a\u202eb", False),
        ("a\x00b", False),
        ("a\rb", False),
        ("a\u200bb", True),
    ],
)
def test_unsafe_characters_table(value, ok):
    from portal.forms import clean_line, unsafe_characters

    assert (unsafe_characters(clean_line(value)) == []) is ok


def test_multiline_fields_keep_line_breaks_but_not_bidi():
    from portal.forms import clean_block, unsafe_characters

    assert clean_block("第一行\r\n第二行\r第三行") == "第一行\n第二行\n第三行"
    assert unsafe_characters("第一行\n第二行\t缩进", multiline=True) == []
    assert unsafe_characters("注意\u202e反向", multiline=True) == ["U+202E"]


@pytest.mark.parametrize("app_config", [_limits(password_reset="2 per hour")])
def test_password_reset_routes_are_limited_per_address(app, client):
    routes = [
        r
        for r in app.url_map.iter_rules()
        if "password_reset" in r.endpoint and "POST" in (r.methods or ())
    ]
    if not routes:
        pytest.skip("no password-reset route in this build")
    url = "/account/forgot" if any(r.rule == "/account/forgot" for r in routes) else routes[0].rule
    statuses = [client.post(url, data={"phone": "13800001111"}).status_code for _ in range(3)]
    assert statuses[2] == 429 and 429 not in statuses[:2]


# --- withdrawing consent ----------------------------------------------------------------------


def test_withdrawing_consent_stops_what_needs_it_and_keeps_the_rest(
    app, client, db, login, make_user, make_shift, make_signup
):
    from portal.models import AuditEntry, Signup, User

    user = login(make_user(email="wang@example.cn"))
    kept = make_signup(make_shift(), user)
    client.post("/calendar/subscribe/new")
    page = client.get("/calendar/subscribe").get_data(as_text=True)
    import re

    feed = re.search(r'value="https?://[^/"]+(/calendar/me/[A-Za-z0-9_-]+\.ics)"', page).group(1)
    assert client.get(feed).status_code == 200
    page = client.get("/account/consent/withdraw").get_data(as_text=True)
    assert "撤回后停止的" in page and "撤回后保留的" in page
    response = client.post("/account/consent/withdraw")
    assert response.status_code == 302
    db.session.expire_all()
    user = db.session.get(User, user.id)
    assert user.consent_version is None and user.email is None
    assert client.get(feed).status_code == 410  # the personal calendar link is off
    assert db.session.get(Signup, kept.id).status == kept.status  # existing sign-up stays
    assert _logged_in(client)  # the account stays
    assert (
        db.session.scalar(
            db.select(AuditEntry.action).filter_by(action="account.consent_withdrawn")
        )
        == "account.consent_withdrawn"
    )
    # New sign-ups wait for consent again.
    other = make_shift()
    response = client.post(f"/shifts/{other.id}/signup")
    assert response.status_code == 302 and "/account/consent" in response.headers["Location"]
    assert db.session.scalar(db.select(db.func.count(Signup.id)).filter_by(shift_id=other.id)) == 0

"""The resident's own data: profile edit, consent, data export and account deletion."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from portal.account import services
from portal.auth.services import authenticate
from portal.models import (
    Attendance,
    AuditEntry,
    CalendarToken,
    Notification,
    ShiftStatus,
    Signup,
    SignupStatus,
    User,
)
from portal.notifications.services import notify
from tests.conftest import TEST_PASSWORD


@pytest.fixture
def make_person(db, make_user):
    """make_user with a chosen consent version (the shared builder fixes it to the current)."""

    def make(consent_version="2026-11", **kw) -> User:
        user = make_user(**kw)
        user.consent_version = consent_version
        db.session.commit()
        return user

    return make


def _audit(db, action: str) -> list[AuditEntry]:
    return list(db.session.scalars(select(AuditEntry).where(AuditEntry.action == action)))


# --- access ---------------------------------------------------------------------------------

ROUTES = [
    ("get", "/account/profile/edit"),
    ("post", "/account/profile/edit"),
    ("get", "/account/consent"),
    ("post", "/account/consent"),
    ("get", "/account/export"),
    ("get", "/account/export.json"),
    ("get", "/account/export.csv"),
    ("get", "/account/delete"),
    ("post", "/account/delete"),
]


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_anonymous_is_sent_to_login(db, client, method, path):
    resp = getattr(client, method)(path)
    assert resp.status_code == 302
    assert "/account/login" in resp.headers["Location"]
    assert not _audit(db, "account.export")


@pytest.mark.parametrize("path", [p for m, p in ROUTES if m == "get"])
@pytest.mark.parametrize("role", ["resident", "organizer", "leader"])
def test_every_role_sees_its_own_pages(
    db, client, login, make_user, make_unit, make_zone, path, role
):
    kw = {"organizer": {"units": [make_unit()]}, "leader": {"zones": [make_zone()]}}
    login(make_user(**kw.get(role, {})))
    assert client.get(path).status_code == 200


def test_unknown_export_format_is_404(db, client, login, make_user):
    login(make_user())
    assert client.get("/account/export.xml").status_code == 404
    assert not _audit(db, "account.export")


def test_profile_links_the_new_pages(db, client, login, make_user):
    login(make_user(email="chen@example.com"))
    html = client.get("/account/profile").get_data(as_text=True)
    for href in ("/account/profile/edit", "/account/export", "/account/delete"):
        assert f'href="{href}"' in html
    assert "chen@example.com" in html


# --- profile edit ---------------------------------------------------------------------------


def test_edit_profile_saves_name_and_email(db, client, login, make_user):
    user = login(make_user(name="陈晓梅"))
    resp = client.post(
        "/account/profile/edit", data={"real_name": "  陈晓梅梅 ", "email": " Chen@QQ.com "}
    )
    assert resp.status_code == 302 and resp.headers["Location"] == "/account/profile"
    db.session.refresh(user)
    assert (user.real_name, user.email) == ("陈晓梅梅", "Chen@QQ.com")
    entry = _audit(db, "account.profile")[0]
    assert entry.actor_id == user.id and entry.summary == "real_name, email"
    assert "陈晓梅" not in json.dumps([entry.before, entry.after, entry.summary])


def test_edit_profile_clears_email(db, client, login, make_user):
    user = login(make_user(email="a@example.com"))
    client.post("/account/profile/edit", data={"real_name": user.real_name, "email": ""})
    db.session.refresh(user)
    assert user.email is None


def test_edit_page_says_the_phone_cannot_change(db, client, login, make_user):
    login(make_user(phone="13900001111"))
    html = client.get("/account/profile/edit").get_data(as_text=True)
    assert "13900001111" in html and "在这里不能修改" in html
    assert 'name="phone"' not in html
    assert 'href="/account/phone"' in html  # its own page, with the password


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"real_name": ""}, "请填写真实姓名"),
        ({"real_name": "   "}, "请填写真实姓名"),
        ({"real_name": "张" * 41}, "姓名最多 20 个字"),
        ({"email": "not-an-address"}, "有效的电子邮箱"),
        ({"email": "a@b"}, "有效的电子邮箱"),
        ({"email": "a b@example.com"}, "有效的电子邮箱"),
        ({"email": "a@@example.com"}, "有效的电子邮箱"),
        ({"email": "a..b@example.com"}, "有效的电子邮箱"),
        ({"email": "陈@例子.中国"}, "有效的电子邮箱"),
        ({"email": "x" * 250 + "@qq.com"}, "最多 254 个字符"),
        ({"email": "x" * 65 + "@qq.com"}, "有效的电子邮箱"),
        ({"real_name": ["Ann", "b"]}, None),  # repeated field: first value wins, no 500
        ({"real_name": "123"}, "不能只有数字"),  # the registration's name rule holds here too
    ],
)
def test_edit_profile_bad_input_saves_nothing(db, client, login, make_user, data, message):
    user = login(make_user(name="陈晓梅", email="old@example.com"))
    resp = client.post("/account/profile/edit", data={"real_name": "李四", **data})
    if message is None:  # the first value is saved like any good one
        assert (resp.status_code, resp.headers["Location"]) == (302, "/account/profile")
        db.session.refresh(user)
        assert (user.real_name, user.email) == ("Ann", "old@example.com")
        return
    assert resp.status_code == 200
    html = resp.get_data(as_text=True)
    assert message in html
    db.session.refresh(user)
    assert (user.real_name, user.email) == ("陈晓梅", "old@example.com")
    assert not _audit(db, "account.profile")


@pytest.mark.parametrize(
    ("email", "valid"),
    [
        ("name@example.com", True),
        ("12345678@qq.com", True),
        ("first.last+tag@mail.example.org.cn", True),
        ("name@example", False),
        (".name@example.com", False),
        ("name.@example.com", False),
        ("name@-example.com", False),
        ("name@example..com", False),
        ("", False),
    ],
)
def test_email_rule(email, valid):
    assert services.is_valid_email(email) is valid


def test_update_profile_service_refuses_the_same(db, make_user):
    user = make_user(name="陈晓梅")
    for name, email, match in [("", None, "姓名"), ("张" * 41, None, "40"), ("王五", "x@", "邮箱")]:
        with pytest.raises(services.AccountError, match=match):
            services.update_profile(user, name, email)
    assert services.update_profile(user, "陈晓梅", "") == []


@pytest.mark.parametrize("app_config", [{"WTF_CSRF_ENABLED": True}])
@pytest.mark.parametrize(
    ("path", "data"),
    [
        ("/account/profile/edit", {"real_name": "李四", "email": "x@example.com"}),
        ("/account/consent", {}),
        ("/account/delete", {"password": TEST_PASSWORD}),
    ],
)
def test_posts_without_csrf_token_change_nothing(db, client, login, make_person, path, data):
    user = login(make_person(name="陈晓梅", consent_version="2025-01"))
    resp = client.post(path, data=data)
    assert resp.status_code == 400
    db.session.refresh(user)
    assert user.real_name == "陈晓梅" and user.email is None
    assert user.consent_version == "2025-01" and user.deleted_at is None
    assert db.session.scalar(select(func.count(AuditEntry.id))) == 0


# --- consent --------------------------------------------------------------------------------


def test_needs_consent_is_a_plain_comparison(app, make_person):
    assert services.needs_consent(make_person(consent_version="2026-11")) is False
    assert services.needs_consent(make_person(consent_version="2025-01")) is True
    assert services.needs_consent(make_person(consent_version=None)) is True

    class Anonymous:
        is_authenticated = False

    assert services.needs_consent(Anonymous()) is False


def test_profile_shows_consent_version_and_time(db, client, login, make_user):
    when = datetime(2026, 11, 2, 1, 30, tzinfo=UTC)
    login(make_user(consent_at=when))
    html = client.get("/account/profile").get_data(as_text=True)
    assert "2026-11" in html and "2026年11月2日" in html
    assert "请阅读并同意新版说明" not in html


def test_outdated_consent_blocks_sign_up_until_agreed(db, client, login, make_person, make_shift):
    user = login(make_person(consent_version="2025-01"))
    shift = make_shift()
    resp = client.post(
        f"/shifts/{shift.id}/signup", data={"next": f"/activities/{shift.activity_id}"}
    )
    assert resp.status_code == 302
    assert resp.headers["Location"].startswith("/account/consent?next=")
    assert db.session.scalar(select(func.count(Signup.id))) == 0

    page = client.get(resp.headers["Location"]).get_data(as_text=True)
    assert "2025-01" in page and "2026-11" in page and "我已阅读并同意" in page

    resp = client.post("/account/consent", data={"next": f"/activities/{shift.activity_id}"})
    assert resp.headers["Location"] == f"/activities/{shift.activity_id}"
    db.session.refresh(user)
    assert user.consent_version == "2026-11" and user.consent_at is not None
    assert _audit(db, "account.consent")[0].before == {"consent_version": "2025-01"}

    client.post(f"/shifts/{shift.id}/signup")
    assert db.session.scalar(select(func.count(Signup.id))) == 1


def test_outdated_consent_asks_once_per_session_on_pages(db, client, login, make_person):
    login(make_person(consent_version=None))
    resp = client.get("/activities?zone=1")
    assert resp.status_code == 302
    assert resp.headers["Location"] == "/account/consent?next=/activities?zone%3D1"
    # "later": browsing goes on; the profile keeps reminding
    assert client.get("/activities").status_code == 200
    assert "请阅读并同意新版说明" in client.get("/account/profile").get_data(as_text=True)


def test_current_consent_is_never_asked(db, client, login, make_user, make_shift):
    login(make_user())
    assert client.get("/activities").status_code == 200
    shift = make_shift()
    resp = client.post(f"/shifts/{shift.id}/signup")
    assert "/account/consent" not in resp.headers["Location"]
    html = client.get("/account/consent").get_data(as_text=True)
    assert "你已于" in html and "我已阅读并同意" not in html


def test_consent_check_costs_no_query(db, client, login, make_user, count_queries, app):
    login(make_user())
    client.get("/account/privacy")  # warm up
    with count_queries() as with_user:
        client.get("/account/profile")
    app.before_request_funcs[None].remove(
        next(f for f in app.before_request_funcs[None] if f.__name__ == "ask_for_current_consent")
    )
    with count_queries() as without_hook:
        client.get("/account/profile")
    assert len(with_user) == len(without_hook)


def test_consent_next_must_be_on_this_site(db, client, login, make_person):
    login(make_person(consent_version="2025-01"))
    resp = client.post("/account/consent", data={"next": "https://evil.example/"})
    assert resp.headers["Location"] == "/account/profile"


# --- export ---------------------------------------------------------------------------------


@pytest.fixture
def history(db, make_user, make_shift, make_signup, make_activity):
    """A person with a past attended shift, a future one, a notification and a feed token."""
    me = make_user(name="陈晓梅", phone="13900002222", email="chen@example.com")
    other = make_user(name="王五", phone="13900003333")
    past = make_shift(activity=make_activity(title="福洋溪清洁"), starts_in=timedelta(days=-3))
    future = make_shift(activity=make_activity(title="=HYPERLINK(1)"))
    make_signup(
        past,
        me,
        attendance=Attendance.ATTENDED,
        hours=Decimal("2.5"),
        hours_confirmed_at=datetime.now(UTC),
    )
    make_signup(future, me)
    make_signup(future, other)
    notify(me, "notice", "明天见", "七点集合")
    notify(other, "notice", "别人的消息")
    db.session.add(CalendarToken(user_id=me.id, token_hash="x" * 64))
    db.session.commit()
    return me


def test_export_json_holds_everything_about_the_person_only(db, client, login, history):
    login(history)
    resp = client.get("/account/export.json")
    assert resp.status_code == 200
    assert resp.headers["Content-Type"].startswith("application/json")
    assert "attachment" in resp.headers["Content-Disposition"]
    assert resp.headers["Cache-Control"] == "no-store"
    data = json.loads(resp.get_data(as_text=True))
    p = data["profile"]
    assert (p["real_name"], p["phone"], p["email"]) == ("陈晓梅", "13900002222", "chen@example.com")
    assert p["consent_version"] == "2026-11" and p["confirmed_volunteer_hours"] == 2.5
    assert [s["activity"] for s in data["signups"]] == ["福洋溪清洁", "=HYPERLINK(1)"]
    assert data["signups"][0]["attendance"] == "attended" and data["signups"][0]["hours"] == 2.5
    assert data["signups"][0]["starts_at"].endswith("+08:00")
    assert [n["title"] for n in data["notifications"]] == ["明天见"]
    assert len(data["calendar_links"]) == 1 and "token_hash" not in data["calendar_links"][0]
    text = json.dumps(data, ensure_ascii=False)
    assert "王五" not in text and "13900003333" not in text and "别人的消息" not in text
    entry = _audit(db, "account.export")[0]
    assert (entry.actor_id, entry.target_type, entry.target_id, entry.summary) == (
        history.id,
        "users",
        history.id,
        "json",
    )


def test_export_csv_opens_in_excel(db, client, login, history):
    login(history)
    resp = client.get("/account/export.csv")
    assert resp.status_code == 200
    assert resp.headers["Content-Type"] == "text/csv; charset=utf-8"
    body = resp.get_data()
    assert body.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    flat = [cell for row in rows for cell in row]
    assert "陈晓梅" in flat and "13900002222" in flat and "福洋溪清洁" in flat and "明天见" in flat
    assert "'=HYPERLINK(1)" in flat and "=HYPERLINK(1)" not in flat  # no formula injection
    assert "王五" not in body.decode("utf-8-sig")
    assert _audit(db, "account.export")[0].summary == "csv"


def test_export_in_english(db, client, login, history):
    login(history)
    client.set_cookie("lang", "en")
    body = client.get("/account/export.csv").get_data().decode("utf-8-sig")
    assert "Sign-ups" in body and "报名记录" not in body


# --- deletion -------------------------------------------------------------------------------


FUTURE, SOON, PAST = timedelta(days=2), timedelta(minutes=30), timedelta(days=-2)
ATTENDED = {"attendance": Attendance.ATTENDED, "hours": Decimal("2.0")}


@pytest.mark.parametrize(
    ("starts_in", "status", "shift_kw", "extra", "expected", "promoted"),
    [
        pytest.param(
            FUTURE,
            SignupStatus.CONFIRMED,
            {},
            {},
            SignupStatus.CANCELLED,
            True,
            id="future confirmed",
        ),
        pytest.param(
            FUTURE, SignupStatus.PENDING, {}, {}, SignupStatus.CANCELLED, True, id="future pending"
        ),
        pytest.param(
            FUTURE, SignupStatus.WAITLISTED, {}, {}, SignupStatus.CANCELLED, False, id="waitlisted"
        ),
        # the resident may no longer cancel; deletion removes them the organizer's way
        pytest.param(
            SOON,
            SignupStatus.CONFIRMED,
            {},
            {},
            SignupStatus.CANCELLED,
            True,
            id="inside the cancel deadline",
        ),
        pytest.param(
            FUTURE,
            SignupStatus.CONFIRMED,
            {"status": ShiftStatus.CANCELLED},
            {},
            SignupStatus.CANCELLED,
            False,
            id="future on a cancelled shift",
        ),
        pytest.param(
            PAST,
            SignupStatus.CONFIRMED,
            {},
            ATTENDED,
            SignupStatus.CONFIRMED,
            False,
            id="past attended",
        ),
        pytest.param(
            PAST, SignupStatus.CANCELLED, {}, {}, SignupStatus.CANCELLED, False, id="past cancelled"
        ),
    ],
)
def test_delete_account_over_signup_states(
    db,
    client,
    login,
    make_user,
    make_shift,
    make_signup,
    starts_in,
    status,
    shift_kw,
    extra,
    expected,
    promoted,
):
    me = login(make_user(name="陈晓梅", phone="13900004444", email="chen@example.com"))
    shift = make_shift(capacity=1, starts_in=starts_in, **shift_kw)
    waitlisted = status == SignupStatus.WAITLISTED
    if waitlisted:
        make_signup(shift, make_user(name="占位人"))  # the place is someone else's
    queued_at = datetime.now(UTC) - timedelta(hours=1) if waitlisted else None
    mine = make_signup(shift, me, status=status, queued_at=queued_at, **extra)
    waiting = make_user(name="候补者")
    behind = make_signup(
        shift, waiting, status=SignupStatus.WAITLISTED, queued_at=datetime.now(UTC)
    )

    resp = client.post("/account/delete", data={"password": TEST_PASSWORD})
    assert resp.status_code == 302 and resp.headers["Location"] == "/"

    db.session.refresh(mine)
    db.session.refresh(behind)
    assert mine.status == expected
    assert mine.user_id == me.id  # the record stays, linked to the anonymised row
    if extra:
        assert mine.hours == Decimal("2.0") and mine.attendance == Attendance.ATTENDED
    notes = db.session.scalars(select(Notification).where(Notification.user_id == waiting.id))
    if promoted:  # my place went to the first on the waitlist, who was told
        assert behind.status == SignupStatus.CONFIRMED
        assert [n.kind for n in notes] == ["waitlist_promoted"]
    else:
        assert behind.status == SignupStatus.WAITLISTED
        assert list(notes) == []


def test_delete_account_anonymises_and_logs_out_everywhere(
    db, client, app, make_user, make_shift, make_signup
):
    me = make_user(name="陈晓梅", phone="13900005555", email="chen@example.com")
    other_device = app.test_client()
    for c in (client, other_device):
        c.post("/account/login", data={"phone": "13900005555", "password": TEST_PASSWORD})
    notify(me, "notice", "私人消息")
    db.session.add(CalendarToken(user_id=me.id, token_hash="y" * 64))
    db.session.commit()
    version = me.session_version

    html = client.get("/account/delete").get_data(as_text=True)
    assert "再次输入密码" in html
    resp = client.post("/account/delete", data={"password": TEST_PASSWORD}, follow_redirects=True)
    assert "你的账号已注销" in resp.get_data(as_text=True)

    db.session.refresh(me)
    assert me.real_name == "已注销用户"
    assert (me.phone, me.email, me.password_hash) == (None, None, None)
    assert me.deleted_at is not None and me.session_version == version + 1
    assert not me.is_active
    tokens = db.session.scalars(select(CalendarToken).where(CalendarToken.user_id == me.id)).all()
    assert tokens and all(t.revoked_at is not None for t in tokens)
    assert (
        db.session.scalar(select(func.count(Notification.id)).where(Notification.user_id == me.id))
        == 0
    )
    entry = _audit(db, "account.delete")[0]
    assert entry.actor_id == me.id and "陈晓梅" not in entry.summary

    # logged out here and on the other device; cannot log in again
    assert client.get("/account/profile").status_code == 302
    assert other_device.get("/account/profile").status_code == 302
    resp = client.post("/account/login", data={"phone": "13900005555", "password": TEST_PASSWORD})
    assert "手机号或密码不正确" in resp.get_data(as_text=True)
    assert authenticate("13900005555", TEST_PASSWORD) is None

    # the phone can register again, as a new person
    resp = client.post(
        "/account/register",
        data={
            "real_name": "陈晓梅",
            "phone": "13900005555",
            "password": "Fuhai-creek-2026",
            "password2": "Fuhai-creek-2026",
            "consent": "y",
        },
    )
    assert resp.status_code == 302
    again = db.session.scalar(select(User).where(User.phone == "13900005555"))
    assert again is not None and again.id != me.id


def test_deleted_feed_token_is_gone(db, client, login, make_user):
    from portal.feeds.services import issue_token

    me = login(make_user())
    token = issue_token(me)
    db.session.commit()
    client.post("/account/delete", data={"password": TEST_PASSWORD})
    assert client.get(f"/calendar/me/{token}.ics").status_code == 410


def test_delete_account_clears_organizer_roles(db, client, login, make_user, make_unit, make_zone):
    me = login(make_user(units=[make_unit()], zones=[make_zone()]))
    client.post("/account/delete", data={"password": TEST_PASSWORD})
    db.session.refresh(me)
    assert me.units == [] and me.led_zones == [] and me.deleted_at is not None


@pytest.mark.parametrize(
    ("data", "message"),
    [({"password": "wrong-password"}, "密码不正确"), ({"password": ""}, "请输入当前密码")],
)
def test_delete_account_bad_password_changes_nothing(
    db, client, login, make_user, make_shift, make_signup, data, message
):
    me = login(make_user(name="陈晓梅"))
    signup = make_signup(make_shift(), me)
    resp = client.post("/account/delete", data=data)
    assert resp.status_code == 200
    assert message in resp.get_data(as_text=True)
    db.session.refresh(me)
    db.session.refresh(signup)
    assert me.real_name == "陈晓梅" and me.deleted_at is None and me.phone
    assert signup.status == SignupStatus.CONFIRMED
    assert not _audit(db, "account.delete")
    assert client.get("/account/profile").status_code == 200


def test_admin_account_is_not_deleted_here(db, client, login, make_user):
    me = login(make_user(is_admin=True))
    resp = client.post("/account/delete", data={"password": TEST_PASSWORD})
    assert resp.status_code == 200
    assert "管理员账号不能在这里注销" in resp.get_data(as_text=True)
    db.session.refresh(me)
    assert me.deleted_at is None


def test_delete_page_lists_what_will_be_cancelled(
    db, client, login, make_user, make_shift, make_signup, make_activity
):
    me = login(make_user())
    make_signup(make_shift(activity=make_activity(title="裕丰园市场劝导")), me)
    past = make_shift(activity=make_activity(title="过去的活动"), starts_in=timedelta(days=-1))
    make_signup(past, me)
    html = client.get("/account/delete").get_data(as_text=True)
    assert "裕丰园市场劝导" in html and "过去的活动" not in html


def test_delete_account_with_an_outdated_password_hash(
    db, client, login, make_user, make_shift, make_signup
):
    """Checking the password may upgrade its hash (a write) before the sign-up rules lock."""
    from argon2 import PasswordHasher

    me = make_user()
    me.password_hash = PasswordHasher(time_cost=1, memory_cost=8192).hash(TEST_PASSWORD)
    db.session.commit()
    login(me)
    signup = make_signup(make_shift(), me)
    resp = client.post("/account/delete", data={"password": TEST_PASSWORD})
    assert resp.status_code == 302
    db.session.refresh(me)
    db.session.refresh(signup)
    assert me.deleted_at is not None and me.password_hash is None
    assert signup.status == SignupStatus.CANCELLED


def test_delete_account_service_directly(db, make_user, make_shift, make_signup, app):
    me = make_user()
    signup = make_signup(make_shift(), me)
    with app.test_request_context():
        result = services.delete_account(me)
        db.session.commit()
    assert (result.cancelled, result.tokens_revoked, result.records_kept) == (1, 0, 0)
    db.session.refresh(signup)
    assert signup.status == SignupStatus.CANCELLED


@pytest.mark.parametrize(
    "path",
    [
        "/account/profile",
        "/account/profile/edit",
        "/account/consent",
        "/account/export",
        "/account/delete",
    ],
)
def test_pages_in_english_have_no_chinese_left(db, client, login, make_user, path):
    import re

    login(make_user(name="Chen"))
    client.set_cookie("lang", "en")
    html = client.get(path).get_data(as_text=True)
    # the logo mark and the language switch stay Chinese by design
    html = html.replace('aria-hidden="true">文明<', "").replace(">中文<", "")
    assert not re.findall(r"[\u4e00-\u9fff]+", html)

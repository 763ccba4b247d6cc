"""Registration rules as tables: phone numbers as typed, real names, weak passwords; and the
register form after an error (what is kept, where the cursor goes, what is said)."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from portal.auth.validators import name_problem, normalise_name, normalise_phone, password_problem
from portal.models import User

GOOD = {
    "real_name": "陈晓梅",
    "phone": "138 1234 5678",
    "password": "Fuhai-creek-2026",
    "password2": "Fuhai-creek-2026",
    "consent": "y",
}


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("13812345678", "13812345678"),
        ("１３８１２３４５６７８", "13812345678"),  # full-width digits (Chinese input method)
        ("１３８ １２３４ ５６７８", "13812345678"),  # full-width digits, ideographic spaces
        ("138-1234-5678", "13812345678"),
        ("138－1234－5678", "13812345678"),  # full-width dash
        ("138—1234—5678", "13812345678"),  # em dash
        ("138 1234 5678", "13812345678"),
        ("+86 138 1234 5678", "13812345678"),
        ("＋８６１３８１２３４５６７８", "13812345678"),
        ("0086-13812345678", "13812345678"),
        ("(138) 1234 5678", "13812345678"),
        ("", ""),
    ],
)
def test_phone_numbers_are_normalised(app, typed, stored):
    assert normalise_phone(typed) == stored


@pytest.mark.parametrize(
    ("typed", "ok"),
    [
        ("陈晓梅", True),
        ("王五", True),
        ("阿依古丽·买买提", True),
        ("阿依古丽•买买提", True),  # bullet typed for the middle dot: folded to ·
        ("Anna Schmidt", True),
        ("O'Neil", True),
        ("欧阳 娜娜", True),
        ("ＺＨＡＮＧ Ｗｅｉ", True),  # full-width letters folded
        ("123", False),
        ("张3", False),
        ("12345678901", False),
        ("张", False),  # one character
        ("……", False),
        ("@@", False),
        ("张" * 21, False),
        ("张" * 20, True),
        ("", False),
        ("   ", False),
        ("张_三", False),
    ],
)
def test_real_names(app, typed, ok):
    with app.test_request_context():
        assert (name_problem(normalise_name(typed)) is None) is ok, typed


def test_name_messages_say_what_is_expected(app):
    with app.test_request_context():
        assert "不能只有数字" in name_problem("123")
        assert "数字" in name_problem("张3")
        assert "至少 2 个字" in name_problem("张")
        assert "最多 20 个字" in name_problem("张" * 21)
        assert normalise_name("  阿依古丽 · 买买提 ") == "阿依古丽·买买提"


@pytest.mark.parametrize(
    ("password", "phone", "reason"),
    [
        ("Fuhai-creek-2026", "13812345678", None),
        ("我家在福海溪边", "13812345678", "8 位"),  # 7 characters
        ("我家住在福海溪边", "13812345678", None),  # 8 Chinese characters are fine
        ("19560312", "", "生日"),
        ("1956-03-12", "", "生日"),
        ("1956.03.12", "", "生日"),
        ("1956年03月12日", "", "生日"),
        ("12031956", "", "生日"),  # DDMMYYYY
        ("03121956", "", "生日"),  # MMDDYYYY
        ("20261301", "", None),  # not a date (month 13), not a run: allowed
        ("12345678", "", "太常见"),
        ("23456789", "", "连续数字"),
        ("98765432", "", "连续数字"),
        ("88888888", "", "太常见"),
        ("77777777", "", "太常见"),  # all one digit
        ("12121212", "", "太常见"),
        ("13812345678", "13812345678", "手机号"),
        ("x13812345678", "13812345678", "手机号"),
        ("12345678x", "13812345678", None),
        ("81234567", "13812345678", "手机号里的数字"),  # 8 digits of the phone
        ("１３８１２３４５６７８", "13812345678", "手机号"),  # full-width copy of the phone
        ("password", "", "太常见"),
    ],
)
def test_weak_passwords(app, password, phone, reason):
    with app.test_request_context():
        problem = password_problem(password, phone)
    if reason is None:
        assert problem is None, problem
    else:
        assert problem and reason in problem, (password, problem)


def _users(db) -> int:
    return db.session.scalar(select(func.count(User.id)))


@pytest.mark.parametrize(
    ("change", "message", "focus"),
    [
        ({"real_name": "123"}, "不能只有数字", "real_name"),
        ({"real_name": "张3"}, "不能有数字", "real_name"),
        ({"phone": "12345"}, "请输入11位中国大陆手机号", "phone"),
        ({"password": "19560312", "password2": "19560312"}, "生日", "password"),
        ({"password": "13812345678", "password2": "13812345678"}, "手机号", "password"),
        ({"password2": "Fuhai-creek-2027"}, "两次输入的密码不一致", "password2"),
        ({"consent": None}, "需要阅读并同意", "consent"),
        # two errors: the cursor goes to the first on the page
        (
            {"real_name": "123", "password": "19560312", "password2": "19560312"},
            "生日",
            "real_name",
        ),
    ],
)
def test_register_error_keeps_what_was_typed_and_focuses_first_error(
    db, client, change, message, focus
):
    data = {k: v for k, v in {**GOOD, **change}.items() if v is not None}
    resp = client.post("/account/register", data=data)
    assert resp.status_code == 200
    html = resp.get_data(as_text=True)
    assert message in html
    assert _users(db) == 0
    focused = re.findall(r"<(?:input|select|textarea)[^>]*\bautofocus\b[^>]*>", html)
    assert len(focused) == 1 and f'name="{focus}"' in focused[0], focused
    # the name and the phone stay as typed; passwords are never written back, and the page
    # says so next to them
    assert f'value="{data["real_name"]}"' in html
    assert "13812345678" in html or data["phone"] in html
    assert "Fuhai-creek" not in html and 'value="19560312"' not in html
    assert "密码不会保留" in html


def test_full_width_phone_registers(db, client):
    resp = client.post("/account/register", data={**GOOD, "phone": "１３８ １２３４ ５６７８"})
    assert resp.status_code == 302
    assert db.session.scalar(select(User.phone)) == "13812345678"


def test_a_first_visit_has_no_autofocus_and_no_password_note(client):
    html = client.get("/account/register").get_data(as_text=True)
    assert "autofocus" not in html and "密码不会保留" not in html


def test_registration_limit_says_how_long_to_wait(app, db, client):
    app.config["RATELIMIT_ENABLED"] = True
    app.config["RATELIMITS"] = {**app.config["RATELIMITS"], "register": "2 per hour"}
    for i in range(2):
        client.post("/account/register", data={**GOOD, "phone": f"1381234560{i}"})
        client.post("/account/logout")
    resp = client.post("/account/register", data={**GOOD, "phone": "13812345609"})
    assert resp.status_code == 429
    html = resp.get_data(as_text=True)
    assert re.search(r"请在 \d+ ?(分钟|秒|小时)", html), html[-1500:]
    assert int(resp.headers["Retry-After"]) > 0

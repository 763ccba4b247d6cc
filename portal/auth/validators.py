"""What a person types when registering: phone numbers, real names and passwords.

Pure functions (text in, normalised text or a problem sentence out), used by the forms, by
:func:`portal.auth.services.register` and by anything else that creates or renames an
account, so the rules live in one place. Table tests: tests/test_registration_rules.py.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date

from flask_babel import gettext as _

# Dashes people (and input methods) type inside a phone number, beyond ASCII "-".
_PHONE_SEPARATORS = re.compile(r"[\s\-\u2010-\u2015\u2212\u30fc\uff0d.()（）]")
PHONE_RE = re.compile(r"^1[3-9]\d{9}$")

MIN_NAME_LENGTH = 2
MAX_NAME_LENGTH = 20
# Middle dots in names such as 阿依古丽·买买提 arrive as any of these; one form is kept.
_NAME_DOTS = re.compile(r"[\u00b7\u2022\u2027\u30fb\uff65\u2219]")
_NAME_ALLOWED = re.compile(r"^[^\W\d_]+(?:[ ·'\-.][^\W\d_]+)*\.?$")

MIN_PASSWORD_LENGTH = 8
COMMON_PASSWORDS = frozenset(
    """12345678 123456789 1234567890 87654321 11111111 00000000 88888888 66666666 12341234
    password password1 passw0rd qwertyui qwerty123 abc12345 abcd1234 a1234567 1qaz2wsx
    iloveyou woaini1314 woaini520 5201314520 aaaaaaaa asdfghjk zxcvbnm1 admin123 admin888
    11223344 12121212 147258369 123123123 qq123456 q1w2e3r4 password123""".split()
)


# --- phone numbers -----------------------------------------------------------------------------


def normalise_phone(raw: str | None) -> str:
    """A phone number as typed → digits: full-width digits and spaces, dashes, +86 removed.

    ``"１３８ ００１３ ８０００"`` → ``"13800138000"``; ``"+86 138-0013-8000"`` → same.
    """
    phone = unicodedata.normalize("NFKC", raw or "")
    phone = _PHONE_SEPARATORS.sub("", phone)
    if phone.startswith("+86"):
        phone = phone[3:]
    elif phone.startswith("0086"):
        phone = phone[4:]
    return phone


def is_valid_phone(phone: str) -> bool:
    """Tell whether a normalised phone is a mainland mobile number."""
    return bool(PHONE_RE.match(phone))


# --- real names --------------------------------------------------------------------------------


def normalise_name(raw: str | None) -> str:
    """Full-width letters and spaces folded, runs of spaces made one, middle dots made ``·``."""
    name = unicodedata.normalize("NFKC", raw or "")
    name = _NAME_DOTS.sub("·", name)
    name = re.sub(r"\s*·\s*", "·", name)
    return " ".join(name.split())


def _is_cjk(ch: str) -> bool:
    return unicodedata.name(ch, "").startswith(("CJK UNIFIED", "CJK COMPATIBILITY IDEOGRAPH"))


def name_problem(name: str) -> str | None:
    """Why this (normalised) real name cannot be one, or ``None``.

    A real name is 2–20 characters of letters (any script, Chinese included) with single
    spaces, middle dots (阿依古丽·买买提), hyphens or apostrophes between them; no digits and
    no symbols, so "123", "张3" or "……" are refused with a sentence saying what is expected.
    """
    if not name:
        return _("请填写真实姓名。")
    if len(name) < MIN_NAME_LENGTH:
        return _("姓名至少 %(n)d 个字，请填写完整的真实姓名。", n=MIN_NAME_LENGTH)
    if len(name) > MAX_NAME_LENGTH:
        return _("姓名最多 %(n)d 个字。", n=MAX_NAME_LENGTH)
    if not any(ch.isalpha() or _is_cjk(ch) for ch in name):
        return _("请填写真实姓名（汉字或字母），不能只有数字或符号。")
    if any(ch.isdigit() for ch in name):
        return _("姓名里不能有数字，请填写身份证上的姓名。")
    if not _NAME_ALLOWED.match(name):
        return _("姓名只能包含汉字、字母，少数民族姓名可用“·”隔开。")
    return None


# --- passwords ---------------------------------------------------------------------------------


def _is_date(digits: str) -> bool:
    """YYYYMMDD, DDMMYYYY or MMDDYYYY of a plausible birthday (1900–2099)."""
    if len(digits) != 8:
        return False
    candidates = (
        (digits[:4], digits[4:6], digits[6:]),  # 19560312
        (digits[4:], digits[2:4], digits[:2]),  # 12031956
        (digits[4:], digits[:2], digits[2:4]),  # 03121956
    )
    for y, m, d in candidates:
        if 1900 <= int(y) <= 2099:
            try:
                date(int(y), int(m), int(d))
            except ValueError:
                continue
            return True
    return False


def _is_sequence(digits: str) -> bool:
    steps = {int(b) - int(a) for a, b in zip(digits, digits[1:], strict=False)}
    return len(steps) == 1 and steps <= {1, -1}


def password_problem(password: str, phone: str = "") -> str | None:
    """Why a password is too easy to guess, or ``None`` when it will do.

    Refused: shorter than 8; a well-known one; one or two characters repeated; a run of
    digits (12345678, 98765432); a date such as a birthday (19560312, 1956-03-12,
    12.03.1956); the phone number or any 8 of its digits in a row.
    """
    if len(password) < MIN_PASSWORD_LENGTH:
        return _("密码至少需要 %(n)d 位。", n=MIN_PASSWORD_LENGTH)
    folded = unicodedata.normalize("NFKC", password)
    if folded.lower() in COMMON_PASSWORDS or len(set(folded)) <= 2:
        return _("这个密码太常见，很容易被猜到，请换一个。")
    digits = re.sub(r"[\s\-/.年月日]", "", folded)
    if digits.isdigit():
        if _is_sequence(digits):
            return _("密码不能是连续数字，请换一个。")
        if _is_date(digits):
            return _("密码不能是生日或日期，请换一个。")
    phone = normalise_phone(phone)
    if phone:
        if phone in digits:
            return _("密码不能包含手机号。")
        if digits.isdigit() and digits in phone:
            return _("密码不能用手机号里的数字，请换一个。")
    return None

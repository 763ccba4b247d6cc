"""Sign-in and registration: phone numbers, password rules and hashing (argon2id), sessions."""

from __future__ import annotations

from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from flask import current_app
from sqlalchemy import select

from portal.auth.validators import (  # noqa: F401 - re-exported: forms, admin and CLI use them
    COMMON_PASSWORDS,
    MIN_PASSWORD_LENGTH,
    PHONE_RE,
    is_valid_phone,
    name_problem,
    normalise_name,
    normalise_phone,
    password_problem,
)
from portal.extensions import db
from portal.models import User, utcnow

_hasher = PasswordHasher()  # argon2id with the library's current recommended parameters


class AccountError(Exception):
    """An account problem (registration, login, own data), with a message for the person."""


def hash_password(password: str) -> str:
    """Hash a password with argon2id."""
    return _hasher.hash(password)


def check_password(user: User, password: str) -> bool:
    """Verify a password, upgrading the stored hash when its parameters are outdated."""
    if not user.password_hash:
        return False
    try:
        _hasher.verify(user.password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
    return True


def find_by_phone(phone: str) -> User | None:
    """Return the person with this phone number (as typed), else ``None``."""
    return db.session.scalar(select(User).where(User.phone == normalise_phone(phone)))


@dataclass
class Registration:
    real_name: str
    phone: str
    password: str
    consent: bool


def register(data: Registration) -> User:
    """Create a resident account after checking phone, password and consent.

    :raises AccountError: with a message naming the problem.
    """
    from flask_babel import gettext as _

    phone = normalise_phone(data.phone)
    if not is_valid_phone(phone):
        raise AccountError(_("请输入11位中国大陆手机号，例如 13812345678。"))
    real_name = normalise_name(data.real_name)
    problem = name_problem(real_name)
    if problem:
        raise AccountError(problem)
    if not data.consent:
        raise AccountError(_("需要阅读并同意个人信息保护说明才能注册。"))
    problem = password_problem(data.password, phone)
    if problem:
        raise AccountError(problem)
    existing = find_by_phone(phone)
    if existing is not None and not is_unclaimed(existing):
        raise AccountError(_("这个手机号已经注册过，请直接登录。"))
    if existing is not None:
        # An organizer wrote this person down on site (name and phone, no password). The
        # portal cannot prove that whoever registers now owns that phone (no SMS check), so
        # the on-site record is not handed over: it keeps its service history without the
        # phone, and the registration gets a fresh account.
        existing.phone = None
        db.session.flush()
        from portal.audit.services import record

        record("user.walk_in_detached", existing, "现场登记档案与手机号解除关联（该号码自行注册）")
    user = User(
        real_name=real_name,
        phone=phone,
        password_hash=hash_password(data.password),
        consent_version=current_app.config["PRIVACY_NOTICE_VERSION"],
        consent_at=utcnow(),
    )
    db.session.add(user)
    db.session.flush()
    return user


def is_unclaimed(user: User) -> bool:
    """Tell whether this is an organizer's walk-in record: a phone, no password, not deleted."""
    return user.password_hash is None and user.deleted_at is None and user.phone is not None


def authenticate(phone: str, password: str) -> User | None:
    """Return the active user with this phone and password, else ``None``."""
    user = find_by_phone(phone)
    if user is None or not user.is_active:
        # Spend the same time as a real check so timing does not reveal registered phones.
        _hasher.hash(password or "x")
        return None
    return user if check_password(user, password) else None


def login_attempt(phone: str, password: str, address: str) -> User | None:
    """Check a login under the two limits; return the person, ``None`` for a wrong password.

    - Per phone (``RATELIMITS["login_phone"]``): attempts for one number, from anywhere; over
      it, every attempt for that number is refused until the window ends, the right password
      too (that is what stops guessing one person's password from many addresses).
    - Per address (``RATELIMITS["login_address"]``): failed attempts from one address, all
      numbers together; over it, wrong passwords are answered 429, but the right password
      still logs in — people behind a carrier's shared address are never locked out because
      someone else failed from it.
    Both counts are atomic in the shared storage (Redis INCR), so parallel requests to several
    workers cannot slip past. Failures are logged with the masked number and the address,
    never the password.

    :raises portal.security.TooManyAttempts: with the seconds to wait.
    """
    from portal import security
    from portal.privacy import mask_phone

    key = normalise_phone(phone)[:32]
    state = security.hit("login_phone", key)
    if not state.allowed:
        security.log.warning("login refused (phone limit) for %s from %s", mask_phone(key), address)
        raise security.TooManyAttempts(state.retry_after)
    user = authenticate(key, password)
    if user is not None:
        return user
    security.log.warning(
        "login failed for %s (%s) from %s", mask_phone(key), _phone_digest(key), address
    )
    state = security.hit("login_address", address)
    if not state.allowed:
        raise security.TooManyAttempts(state.retry_after)
    return None


def _phone_digest(phone: str) -> str:
    """A short keyed digest of a number, so log lines about one number can be matched."""
    import hashlib
    import hmac

    key = str(current_app.config["SECRET_KEY"]).encode()
    return hmac.new(key, phone.encode(), hashlib.sha256).hexdigest()[:12]


def change_password(user: User, current: str, new: str) -> None:
    """Change a password; other sessions and remember-me cookies stop working.

    :raises AccountError: when the current password is wrong or the new one too weak.
    """
    from flask_babel import gettext as _

    if not check_password(user, current):
        raise AccountError(_("当前密码不正确。"))
    problem = password_problem(new, user.phone or "")
    if problem:
        raise AccountError(problem)
    user.password_hash = hash_password(new)
    # A one-time password from the counter (portal/admin/) is replaced now: let them in.
    user.must_change_password = False
    end_all_sessions(user)


# --- sessions ---------------------------------------------------------------------------------
# A session's user id is "id:version:issued:kind+random" (kind "r" when "keep me logged in" was
# ticked, else "s"). It is stored in the session cookie and, signed, in the remember cookie.
# - version: User.session_version; logout, "log out everywhere", a password change and a
#   deletion raise it, so every copy of every cookie of the person stops working at once;
# - issued: the login time, so the absolute lifetime holds even for a copied cookie;
# - random: a new value at each login, so the remember cookie is never the same twice.


def new_session_token(user: User, remember: bool) -> str:
    import secrets
    import time

    kind = "r" if remember else "s"
    return f"{user.id}:{user.session_version}:{int(time.time())}:{kind}{secrets.token_urlsafe(9)}"


def start_session(user: User, remember: bool = False) -> None:
    """Log ``user`` in on this device with a fresh token (and a fresh remember cookie)."""
    import time

    from flask import session
    from flask_login import login_user

    user._session_token = new_session_token(user, remember)
    session.pop("_remember", None)
    login_user(user, remember=remember)
    session["_seen"] = int(time.time())


def end_all_sessions(user: User) -> None:
    """End every session and remember cookie of ``user`` on every device (caller commits)."""
    user.session_version = (user.session_version or 0) + 1
    user._session_token = None


def session_is_remembered(user) -> bool:
    token = getattr(user, "_session_token", None) or ""
    parts = token.split(":")
    return len(parts) == 4 and parts[3].startswith("r")


def load_user(user_id: str) -> User | None:
    """Load the session's user for Flask-Login; refuse old versions and expired sessions."""
    import time

    from flask import session

    try:
        raw_id, raw_version, raw_issued, kind = user_id.split(":", 3)
        uid, version, issued = int(raw_id), int(raw_version), int(raw_issued)
    except (ValueError, AttributeError):
        return None  # includes ids from before tokens carried a login time
    user = db.session.get(User, uid)
    if user is None or user.session_version != version or not user.is_active:
        return None
    config = current_app.config
    now = time.time()
    if kind.startswith("r"):
        expired = now - issued > int(config["REMEMBER_DAYS"]) * 86400
    else:
        seen = session.get("_seen")
        expired = now - issued > float(config["SESSION_MAX_HOURS"]) * 3600 or (
            seen is not None and now - float(seen) > float(config["SESSION_IDLE_MINUTES"]) * 60
        )
    if expired:
        from flask import flash
        from flask_babel import gettext as _

        session.pop("_user_id", None)
        session.pop("_seen", None)
        flash(_("为了安全，登录已过期，请重新登录。"), "warning")
        return None
    user._session_token = user_id
    return user

"""Getting back into an account: a reset link by e-mail, and a new phone number.

The reset link carries an itsdangerous token signed with the app's secret. It names the
person and a fingerprint of their current password hash and session version, so it works
once (setting the password changes the hash and the version) and stops working as soon as the
password changes any other way, or the person logs out everywhere; it expires after
``PASSWORD_RESET_MINUTES``. Asking for a link answers the same whether or not the phone or
address belongs to anyone (no account enumeration); the mail goes through the outbox
(:mod:`portal.notifications.outbox`) like every other message, never from the request.
Without an address the way back is the counter: a one-time password from an organizer or an
admin (portal/admin/).
"""

from __future__ import annotations

import hashlib

from flask import current_app, url_for
from flask_babel import gettext as _
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import func, select

from portal.audit.services import record
from portal.auth.services import (
    check_password,
    end_all_sessions,
    hash_password,
    is_unclaimed,
    is_valid_phone,
    normalise_phone,
    password_problem,
)
from portal.domain import DomainError
from portal.extensions import db
from portal.models import User
from portal.notifications import mail
from portal.privacy import mask_phone

SALT = "password-reset"
DEFAULT_MINUTES = 60


def reset_minutes() -> int:
    return int(current_app.config.get("PASSWORD_RESET_MINUTES", DEFAULT_MINUTES))


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=SALT)


def _fingerprint(user: User) -> str:
    raw = f"{user.password_hash or ''}:{user.session_version or 0}".encode()
    return hashlib.sha256(raw).hexdigest()[:16]


def make_token(user: User) -> str:
    """A reset token for ``user`` as they are now (see the module docstring)."""
    return _serializer().dumps({"u": user.id, "f": _fingerprint(user)})


def user_for_token(token: str) -> User | None:
    """The person a valid, unused, unexpired token names, else ``None``."""
    try:
        data = _serializer().loads(token, max_age=reset_minutes() * 60)
    except (SignatureExpired, BadSignature):
        return None
    if not isinstance(data, dict) or not isinstance(data.get("u"), int):
        return None
    user = db.session.get(User, data["u"])
    if user is None or not user.is_active or user.deleted_at is not None:
        return None
    if data.get("f") != _fingerprint(user):
        return None
    return user


def find_for_reset(phone_or_email: str) -> User | None:
    """The active account this phone number or e-mail address belongs to, if any."""
    text = (phone_or_email or "").strip()
    if "@" in text:
        user = db.session.scalar(
            select(User).where(func.lower(User.email) == text.lower()).limit(1)
        )
    else:
        phone = normalise_phone(text)
        user = (
            db.session.scalar(select(User).where(User.phone == phone))
            if is_valid_phone(phone)
            else None
        )
    if user is None or not user.is_active or user.deleted_at is not None or is_unclaimed(user):
        return None
    return user


def request_reset(phone_or_email: str) -> bool:
    """Queue a reset mail when the account exists and has an address; return whether one was
    queued. Callers must not tell the person the result (no account enumeration)."""
    from portal.notifications.services import notify

    user = find_for_reset(phone_or_email)
    if user is None or not (user.email or "").strip() or not mail.mail_enabled():
        return False
    link = url_for("recovery.password_reset", token=make_token(user))
    notify(
        user,
        "password_reset",
        link=link,
        compose=lambda: (
            _("重设密码"),
            _(
                "有人（希望是你本人）申请重设这个账号的密码。请在 %(m)d 分钟内打开下面的链接设置新密码，链接只能用一次。如果不是你申请的，不用理会这封邮件，密码不会改变。",  # noqa: E501
                m=reset_minutes(),
            ),
        ),
    )
    record("user.password_reset_requested", user, "申请通过邮件重设密码", actor=user)
    return True


def reset_password(user: User, new: str) -> None:
    """Set a new password from a reset link; every session ends, the link is used up.

    :raises DomainError: (field ``new``) when the new password is too weak.
    """
    problem = password_problem(new, user.phone or "")
    if problem:
        raise DomainError(problem, "new")
    user.password_hash = hash_password(new)
    user.must_change_password = False
    end_all_sessions(user)
    record("user.password_reset", user, "通过邮件链接重设了密码", actor=user)


def change_phone(user: User, password: str, new_phone: str) -> str:
    """Change the login phone number after checking the password; return the new number.

    :raises DomainError: with the field it concerns: wrong password, not a mobile number,
        the same number, or a number another account uses (the message says what to do).
    """
    if not check_password(user, password or ""):
        raise DomainError(_("当前密码不正确。"), "password")
    phone = normalise_phone(new_phone)
    if not is_valid_phone(phone):
        raise DomainError(_("请输入11位中国大陆手机号，例如 13812345678。"), "phone")
    if phone == user.phone:
        raise DomainError(_("这就是你现在的手机号，无需修改。"), "phone")
    taken = db.session.scalar(select(User).where(User.phone == phone, User.id != user.id))
    if taken is not None:
        raise DomainError(
            _("这个手机号已被另一个账号使用。如果那也是你的账号，请到社区服务窗口请工作人员处理。"),
            "phone",
        )
    old = user.phone
    user.phone = phone
    db.session.flush()
    record(
        "user.phone_changed",
        user,
        f"{mask_phone(old or '')} → {mask_phone(phone)}",
        before={"phone": mask_phone(old or "")},
        after={"phone": mask_phone(phone)},
        actor=user,
    )
    return phone

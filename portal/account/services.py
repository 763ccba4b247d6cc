"""The person's own data: profile, e-mail, consent, data download and account deletion."""

from __future__ import annotations

import re
from dataclasses import dataclass

from flask import current_app
from sqlalchemy import func, select

from portal.account.export import account_csv, account_data
from portal.auth.services import AccountError, check_password
from portal.extensions import db
from portal.models import User, utcnow

# --- profile ----------------------------------------------------------------------------------

MAX_NAME_LENGTH = 40
MAX_EMAIL_LENGTH = 254
# A deliberately plain check (no extra dependency): one @, a dotted ASCII domain, no spaces.
_EMAIL_RE = re.compile(
    r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?\.)+[A-Za-z]{2,63}$"
)


def is_valid_email(email: str) -> bool:
    """Tell whether an address looks deliverable (format only; nothing is sent)."""
    if len(email) > MAX_EMAIL_LENGTH or not _EMAIL_RE.match(email):
        return False
    local = email.split("@", 1)[0]
    return len(local) <= 64


def update_profile(user: User, real_name: str, email: str | None) -> list[str]:
    """Change the person's real name and optional e-mail; return the names of changed fields.

    The phone number is the login and is not changed here.

    :raises AccountError: for an empty or over-long name or a malformed e-mail address.
    """
    from flask_babel import gettext as _

    from portal.audit.services import record

    name = (real_name or "").strip()
    address = (email or "").strip() or None
    if not name:
        raise AccountError(_("请填写真实姓名。"))
    if len(name) > MAX_NAME_LENGTH:
        raise AccountError(_("姓名最多 %(n)d 个字。", n=MAX_NAME_LENGTH))
    if address is not None and not is_valid_email(address):
        raise AccountError(_("请输入有效的电子邮箱地址，例如 name@example.com。"))
    changed = []
    if name != user.real_name:
        user.real_name = name
        changed.append("real_name")
    if address != user.email:
        user.email = address
        changed.append("email")
    if changed:
        # Which fields changed, never their values: the log outlives a deleted account.
        record("account.profile", user, ", ".join(changed), actor=user)
        db.session.flush()
    return changed


# --- consent ----------------------------------------------------------------------------------


def needs_consent(user) -> bool:
    """Tell whether a logged-in person has not yet agreed to the current privacy notice.

    Uses only the already loaded user row, so calling it on every request costs nothing.
    """
    if not getattr(user, "is_authenticated", False):
        return False
    return user.consent_version != current_app.config["PRIVACY_NOTICE_VERSION"]


def give_consent(user: User) -> None:
    """Record that the person agreed to the current privacy notice."""
    from portal.audit.services import record

    version = current_app.config["PRIVACY_NOTICE_VERSION"]
    before = {"consent_version": user.consent_version}
    user.consent_version = version
    user.consent_at = utcnow()
    record("account.consent", user, version, before, {"consent_version": version}, actor=user)
    db.session.flush()


# --- own data export --------------------------------------------------------------------------


def export_account(user: User, fmt: str) -> tuple[bytes, str]:
    """Build the person's own data download (``json`` or ``csv``) and log the export.

    :returns: the file's bytes and its MIME type.
    :raises ValueError: for an unknown format.
    """
    import json

    from portal.audit.services import record

    if fmt not in ("json", "csv"):
        raise ValueError(fmt)
    data = account_data(user)
    if fmt == "json":
        body = json.dumps(data, ensure_ascii=False, indent=2).encode("utf-8")
        mimetype = "application/json"
    else:
        body = account_csv(data)
        mimetype = "text/csv"
    record("account.export", user, fmt, actor=user)
    db.session.flush()
    return body, mimetype


# --- account deletion (PIPL Art. 47) ----------------------------------------------------------

DELETED_NAME = "已注销用户"  # stored data, not UI text: what rosters and records show afterwards


def _lock_for_deletion(user: User) -> None:
    """Take the write transaction and lock, in the sign-up lock order, the shifts of the
    person's future sign-ups (with the people waiting on them), then the person."""
    from portal.database import begin_write
    from portal.signups import places

    begin_write(db.session())
    shift_ids = {s.shift_id for s in future_signups(user)}
    places.lock(shift_ids, [user.id], with_waiting=True)


def future_signups(user: User, now=None) -> list:
    """List the person's active sign-ups on shifts not yet started: what deletion cancels."""
    from sqlalchemy.orm import joinedload

    from portal.models import ACTIVE_STATUSES, Shift, Signup

    return list(
        db.session.scalars(
            select(Signup)
            .join(Signup.shift)
            .where(
                Signup.user_id == user.id,
                Signup.status.in_(ACTIVE_STATUSES),
                Shift.starts_at > (now or utcnow()),
            )
            .options(joinedload(Signup.shift).joinedload(Shift.activity))
            .order_by(Shift.starts_at, Signup.id)
        )
    )


@dataclass
class Deletion:
    """What :func:`delete_account` did."""

    cancelled: int
    tokens_revoked: int
    records_kept: int


def delete_account(user: User) -> Deletion:
    """Close the person's account: free their future places, revoke feeds, anonymise the row.

    Future active sign-ups are cancelled through the sign-up rules (the waitlist moves up and
    is told); when the resident's own cancellation is refused (after the deadline, or on a
    shift the organizer cancelled) the sign-up is removed the organizer's way instead. Past
    sign-ups stay as anonymous service records (志愿服务记录办法); notifications are deleted.
    Services flush; the caller commits.

    :raises AccountError: for an administrator account (another admin must remove the role).
    """
    from flask_babel import gettext as _
    from sqlalchemy import delete, update

    from portal.audit.services import record
    from portal.models import CalendarToken, Notification, Signup
    from portal.signups import services as signups

    if user.is_admin:
        raise AccountError(_("管理员账号不能在这里注销。请先请另一位管理员取消你的管理员身份。"))
    # Hold the write lock, their shifts and the person's row from the start, so no sign-up
    # of theirs can slip in between; the sign-up rules called below join this transaction.
    _lock_for_deletion(user)
    now = utcnow()
    future = future_signups(user, now)
    reason = _("报名人已注销账号")
    for signup in future:
        try:
            signups.cancel_signup(user, signup.id, now=now)
        except signups.SignupError:
            fresh = db.session.get(Signup, signup.id)
            if fresh is not None and fresh.is_active:
                signups.remove(user, fresh, reason, now=now)

    tokens = db.session.execute(
        update(CalendarToken)
        .where(CalendarToken.user_id == user.id, CalendarToken.revoked_at.is_(None))
        .values(revoked_at=now)
    ).rowcount
    db.session.flush()
    db.session.execute(
        delete(Notification).where(Notification.user_id == user.id),
        execution_options={"synchronize_session": False},
    )
    kept = (
        db.session.scalar(
            select(func.count(Signup.id)).where(
                Signup.user_id == user.id, Signup.hours.is_not(None)
            )
        )
        or 0
    )

    user.real_name = DELETED_NAME
    user.phone = None
    user.email = None
    user.password_hash = None
    user.deleted_at = now
    user.session_version += 1
    user.units.clear()
    user.led_zones.clear()
    result = Deletion(cancelled=len(future), tokens_revoked=tokens or 0, records_kept=kept)
    record(
        "account.delete",
        user,
        _(
            "注销账号：取消 %(n)d 个未开始的报名，撤销 %(t)d 个日历链接，保留 %(k)d 条服务记录。",
            n=result.cancelled,
            t=result.tokens_revoked,
            k=result.records_kept,
        ),
        actor=user,
    )
    db.session.flush()
    return result


def close_account(user: User, password: str) -> Deletion:
    """Delete the person's own account after checking their password again.

    :raises AccountError: when the password is wrong (or as :func:`delete_account`).
    """
    from flask_babel import gettext as _

    _lock_for_deletion(user)  # before check_password, which may write an upgraded hash
    if not check_password(user, password or ""):
        raise AccountError(_("密码不正确，账号没有注销。"))
    return delete_account(user)


# --- withdrawing consent (PIPL Art. 15) ---------------------------------------------------------


def withdraw_consent(user: User) -> None:
    """Withdraw consent to the privacy notice: what needs it stops, what the law keeps stays.

    Stops: new sign-ups (refused until the person agrees again), the personal calendar link
    (revoked) and e-mail copies of notifications (the optional address is deleted). Stays: the
    account and its login, sign-ups already made (the person can still cancel them), and the
    volunteer service records and certificates, which the volunteer rules require to be kept.
    """
    from portal.audit.services import record
    from portal.models import CalendarToken

    before = {"consent_version": user.consent_version, "email": bool(user.email)}
    user.consent_version = None
    user.consent_at = None
    user.email = None
    now = utcnow()
    for token in db.session.scalars(
        select(CalendarToken).where(
            CalendarToken.user_id == user.id, CalendarToken.revoked_at.is_(None)
        )
    ):
        token.revoked_at = now
    record(
        "account.consent_withdrawn",
        user,
        "撤回个人信息处理同意",
        before,
        {"consent_version": None, "email": False},
        actor=user,
    )
    db.session.flush()

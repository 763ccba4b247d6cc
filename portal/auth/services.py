"""Accounts: registration, password hashing (argon2id), login and consent."""

from __future__ import annotations

import re
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from flask import current_app
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import User, utcnow

_hasher = PasswordHasher()  # argon2id with the library's current recommended parameters

# Mainland mobile numbers: 11 digits starting 13–19.
PHONE_RE = re.compile(r"^1[3-9]\d{9}$")
MIN_PASSWORD_LENGTH = 8
COMMON_PASSWORDS = frozenset(
    """12345678 123456789 1234567890 87654321 11111111 00000000 88888888 66666666 12341234
    password password1 passw0rd qwertyui qwerty123 abc12345 abcd1234 a1234567 1qaz2wsx
    iloveyou woaini1314 woaini520 5201314520 aaaaaaaa asdfghjk zxcvbnm1 admin123 admin888
    11223344 12121212 147258369 123123123 qq123456 q1w2e3r4 password123""".split()
)


class AccountError(Exception):
    """A registration or login problem, with a message for the person."""


def normalise_phone(raw: str) -> str:
    """Strip spaces, dashes and a +86 prefix from a phone number as typed."""
    phone = re.sub(r"[\s\-]", "", raw or "")
    if phone.startswith("+86"):
        phone = phone[3:]
    elif phone.startswith("0086"):
        phone = phone[4:]
    return phone


def is_valid_phone(phone: str) -> bool:
    return bool(PHONE_RE.match(phone))


def password_problem(password: str, phone: str = "") -> str | None:
    """Return why a password is too weak, or ``None`` when it is acceptable."""
    from flask_babel import gettext as _

    if len(password) < MIN_PASSWORD_LENGTH:
        return _("密码至少需要 %(n)d 位。", n=MIN_PASSWORD_LENGTH)
    if password.lower() in COMMON_PASSWORDS or len(set(password)) <= 2:
        return _("这个密码太常见，很容易被猜到，请换一个。")
    if phone and phone in password:
        return _("密码不能包含手机号。")
    return None


def hash_password(password: str) -> str:
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
    if not data.real_name.strip():
        raise AccountError(_("请填写真实姓名。"))
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
        real_name=data.real_name.strip(),
        phone=phone,
        password_hash=hash_password(data.password),
        consent_version=current_app.config["PRIVACY_NOTICE_VERSION"],
        consent_at=utcnow(),
    )
    db.session.add(user)
    db.session.flush()
    return user


def is_unclaimed(user: User) -> bool:
    """A record an organizer created for a walk-in: no password yet, not deleted."""
    return user.password_hash is None and user.deleted_at is None and user.phone is not None


def authenticate(phone: str, password: str) -> User | None:
    """Return the active user with this phone and password, else ``None``."""
    user = find_by_phone(phone)
    if user is None or not user.is_active:
        # Spend the same time as a real check so timing does not reveal registered phones.
        _hasher.hash(password or "x")
        return None
    return user if check_password(user, password) else None


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
    user.session_version += 1


def load_user(user_id: str) -> User | None:
    """Flask-Login loader: the id carries the session version (``"12:3"``)."""
    try:
        raw_id, raw_version = user_id.split(":", 1)
        uid, version = int(raw_id), int(raw_version)
    except ValueError:
        return None
    user = db.session.get(User, uid)
    if user is None or user.session_version != version or not user.is_active:
        return None
    return user


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


def _iso(value) -> str | None:
    """An aware datetime as ISO 8601 in the site time zone (with its offset)."""
    from portal.timeutil import to_local

    return to_local(value).replace(microsecond=0).isoformat() if value is not None else None


def account_data(user: User) -> dict:
    """Collect everything the portal holds about the person, as plain JSON-ready values."""
    from sqlalchemy.orm import joinedload, selectinload

    from portal.models import Activity, CalendarToken, Notification, Shift, Signup

    person = db.session.scalar(
        select(User)
        .where(User.id == user.id)
        .options(selectinload(User.units), selectinload(User.led_zones))
    )
    signups = db.session.scalars(
        select(Signup)
        .join(Signup.shift)
        .where(Signup.user_id == user.id)
        .options(
            joinedload(Signup.shift)
            .joinedload(Shift.activity)
            .options(joinedload(Activity.zone), joinedload(Activity.unit))
        )
        .order_by(Shift.starts_at, Signup.id)
    ).all()
    notes = db.session.scalars(
        select(Notification)
        .where(Notification.user_id == user.id)
        .order_by(Notification.created_at, Notification.id)
    ).all()
    tokens = db.session.scalars(
        select(CalendarToken)
        .where(CalendarToken.user_id == user.id)
        .order_by(CalendarToken.created_at, CalendarToken.id)
    ).all()
    confirmed = [s.hours for s in signups if s.hours is not None and s.hours_confirmed_at]
    return {
        "exported_at": _iso(utcnow()),
        "portal": current_app.config.get("PORTAL_NAME", ""),
        "profile": {
            "id": person.id,
            "real_name": person.real_name,
            "phone": person.phone,
            "email": person.email,
            "created_at": _iso(person.created_at),
            "consent_version": person.consent_version,
            "consent_at": _iso(person.consent_at),
            "is_admin": person.is_admin,
            "organizer_of_units": sorted(u.name for u in person.units),
            "leader_of_zones": sorted(z.name for z in person.led_zones),
            "confirmed_volunteer_hours": float(sum(confirmed)) if confirmed else 0.0,
        },
        "signups": [
            {
                "id": s.id,
                "activity_id": s.shift.activity_id,
                "activity": s.shift.activity.title,
                "activity_kind": str(s.shift.activity.kind),
                "zone": s.shift.activity.zone.name,
                "place": s.shift.activity.place,
                "organizing_unit": s.shift.activity.unit.name,
                "shift_id": s.shift_id,
                "post": s.shift.post_name,
                "starts_at": _iso(s.shift.starts_at),
                "ends_at": _iso(s.shift.ends_at),
                "shift_status": str(s.shift.status),
                "status": str(s.status),
                "source": s.source,
                "signed_up_at": _iso(s.created_at),
                "queued_at": _iso(s.queued_at),
                "cancelled_at": _iso(s.cancelled_at),
                "reason": s.reason,
                "attendance": str(s.attendance) if s.attendance else None,
                "checked_in_at": _iso(s.checked_in_at),
                "checked_out_at": _iso(s.checked_out_at),
                "checkin_method": str(s.checkin_method) if s.checkin_method else None,
                "hours": float(s.hours) if s.hours is not None else None,
                "hours_confirmed_at": _iso(s.hours_confirmed_at),
                "hours_note": s.hours_note,
            }
            for s in signups
        ],
        "notifications": [
            {
                "created_at": _iso(n.created_at),
                "kind": n.kind,
                "title": n.title,
                "body": n.body,
                "link": n.link,
                "read_at": _iso(n.read_at),
            }
            for n in notes
        ],
        "calendar_links": [
            {
                "created_at": _iso(t.created_at),
                "revoked_at": _iso(t.revoked_at),
                "alarm_minutes": t.alarm_minutes,
            }
            for t in tokens
        ],
    }


def _csv_cell(value):
    # Cells starting with = + - @ would run as formulas in Excel (CSV injection).
    if value is None:
        return ""
    if isinstance(value, bool):
        from flask_babel import gettext as _

        return _("是") if value else _("否")
    if isinstance(value, list):
        value = "、".join(str(v) for v in value)
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@"):
        return "'" + value
    return value


def _csv_labels() -> dict[str, str]:
    """Column names for the CSV export, in the reader's language (JSON keeps the keys)."""
    from flask_babel import gettext as _

    return {
        "id": _("编号"),
        "real_name": _("真实姓名"),
        "phone": _("手机号"),
        "email": _("电子邮箱"),
        "created_at": _("创建时间"),
        "consent_version": _("同意的说明版本"),
        "consent_at": _("同意时间"),
        "is_admin": _("管理员"),
        "organizer_of_units": _("组织的单位"),
        "leader_of_zones": _("联系的片区"),
        "confirmed_volunteer_hours": _("已确认的志愿服务时长（小时）"),
        "activity_id": _("活动编号"),
        "activity": _("活动"),
        "activity_kind": _("活动类型"),
        "zone": _("片区"),
        "place": _("地点"),
        "organizing_unit": _("组织单位"),
        "shift_id": _("班次编号"),
        "post": _("岗位"),
        "starts_at": _("开始时间"),
        "ends_at": _("结束时间"),
        "shift_status": _("班次状态"),
        "status": _("报名状态"),
        "source": _("报名方式"),
        "signed_up_at": _("报名时间"),
        "queued_at": _("候补排队时间"),
        "cancelled_at": _("取消时间"),
        "reason": _("原因"),
        "attendance": _("出勤"),
        "checked_in_at": _("签到时间"),
        "checked_out_at": _("签退时间"),
        "checkin_method": _("签到方式"),
        "hours": _("服务时长（小时）"),
        "hours_confirmed_at": _("时长确认时间"),
        "hours_note": _("时长说明"),
        "kind": _("类型"),
        "title": _("标题"),
        "body": _("内容"),
        "link": _("链接"),
        "read_at": _("阅读时间"),
        "revoked_at": _("撤销时间"),
        "alarm_minutes": _("提前提醒（分钟）"),
    }


def _csv_values() -> dict[str, dict[str, str]]:
    """Readable words for coded values in the CSV export."""
    from flask_babel import gettext as _

    return {
        "status": {
            "pending": _("待审核"),
            "confirmed": _("已报名"),
            "waitlisted": _("候补中"),
            "cancelled": _("已取消"),
            "rejected": _("未通过"),
        },
        "attendance": {"attended": _("已出勤"), "no_show": _("缺席")},
        "activity_kind": {"volunteer": _("志愿服务"), "community": _("社区活动")},
        "shift_status": {"scheduled": _("正常"), "cancelled": _("已取消")},
        "checkin_method": {"roster": _("组织方签到"), "qr": _("扫码签到")},
        "source": {"self": _("自行报名"), "walk_in": _("现场"), "organizer": _("组织方添加")},
    }


def account_csv(data: dict) -> bytes:
    """Render :func:`account_data` as one CSV in sections, with a UTF-8 BOM for Excel."""
    import csv
    import io

    from flask_babel import gettext as _

    buf = io.StringIO()
    out = csv.writer(buf, lineterminator="\r\n")
    labels = _csv_labels()
    words = _csv_values()

    def section(title: str, rows: list[dict]) -> None:
        out.writerow([title])
        if rows:
            out.writerow([labels.get(key, key) for key in rows[0]])
            for row in rows:
                out.writerow(
                    [_csv_cell(words.get(k, {}).get(v, v)) for k, v in row.items()]
                )
        else:
            out.writerow([_("（无）")])
        out.writerow([])

    out.writerow([_("我的数据"), data["portal"], data["exported_at"]])
    out.writerow([])
    out.writerow([_("个人资料")])
    for key, value in data["profile"].items():
        out.writerow([labels.get(key, key), _csv_cell(value)])
    out.writerow([])
    section(_("报名记录"), data["signups"])
    section(_("消息"), data["notifications"])
    section(_("日历订阅链接"), data["calendar_links"])
    return buf.getvalue().encode("utf-8-sig")


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


def _lock_person(user: User) -> None:
    """Start the write transaction (no-op if held) and lock the person's row."""
    from portal.database import begin_write, lock_rows

    session = db.session()
    begin_write(session)
    lock_rows(session, User, user.id)


def future_signups(user: User, now=None) -> list:
    """The person's active sign-ups on shifts that have not started: what deletion cancels."""
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
        raise AccountError(
            _("管理员账号不能在这里注销。请先请另一位管理员取消你的管理员身份。")
        )
    # Hold the write lock and the person's row from the start, so no sign-up of theirs can
    # slip in between; the sign-up rules called below join this transaction.
    _lock_person(user)
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
    kept = db.session.scalar(
        select(func.count(Signup.id)).where(Signup.user_id == user.id, Signup.hours.is_not(None))
    ) or 0

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

    _lock_person(user)  # before check_password, which may write an upgraded hash
    if not check_password(user, password or ""):
        raise AccountError(_("密码不正确，账号没有注销。"))
    return delete_account(user)

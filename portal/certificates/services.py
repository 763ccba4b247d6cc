"""Issuing, finding and revoking certificates (records rules Art. 15–17).

A certificate states a person's confirmed volunteer hours over a period. What counts is decided
once, in :mod:`portal.attendance.records`; a certificate keeps a snapshot of those records
(the Art. 7 fields) so that a later edit of an activity or of hours does not change what was
certified. It carries a readable number (``ZS-2026-000123``) and a secret verification code
for the public verification page.

Numbers come from the row's id, known after the insert is flushed inside the request's write
transaction, so two people asking at the same moment can never get the same number (no
"max + 1" race). Services flush; the calling view commits once.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from flask import current_app
from flask_babel import format_date, get_locale
from flask_babel import gettext as _
from sqlalchemy import select

from portal.attendance.records import confirmed_records, record_fields
from portal.audit.services import record as audit
from portal.database import begin_write, lock_rows
from portal.domain import DomainError
from portal.extensions import db
from portal.models import Certificate, User
from portal.timeutil import EARLIEST_DATE, local_today, now_utc

# No 0/O, 1/I/L: the code is read off paper and typed on a phone.
CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
CODE_LENGTH = 16  # 31**16 ≈ 2**79: not guessable, even without the rate limit
NUMBER_PREFIX = "ZS"
MAX_REASON_LENGTH = 500


class CertificateError(DomainError):
    """A certificate request or revocation was refused; ``str()`` is the message to show."""


@dataclass(frozen=True)
class Period:
    start: date
    end: date


def default_period(today: date | None = None) -> Period:
    """This year so far: 1 January to today (site time zone)."""
    today = today or local_today()
    return Period(date(today.year, 1, 1), today)


def check_period(start: date | None, end: date | None, today: date | None = None) -> Period:
    """Return the period, or raise :class:`CertificateError` naming the field that is wrong."""
    today = today or local_today()
    if start is None:
        raise CertificateError(_("请选择开始日期。"), field="start")
    if end is None:
        raise CertificateError(_("请选择结束日期。"), field="end")
    if start < EARLIEST_DATE:
        raise CertificateError(_("开始日期不能早于 2000 年 1 月 1 日，请检查年份。"), field="start")
    if end > today:
        raise CertificateError(_("结束日期不能晚于今天：证明只能写已经完成的服务。"), field="end")
    if end < start:
        raise CertificateError(_("结束日期不能早于开始日期。"), field="end")
    return Period(start, end)


def new_code() -> str:
    """An unguessable, URL-safe verification code without look-alike characters."""
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def normalise_code(text: str | None) -> str | None:
    """The code as stored, from what a person typed (case, spaces, dashes); None if not a code."""
    cleaned = "".join(ch for ch in (text or "").upper() if ch not in " -\t")
    if len(cleaned) != CODE_LENGTH or any(ch not in CODE_ALPHABET for ch in cleaned):
        return None
    return cleaned


def grouped(code: str) -> str:
    """ABCD-EFGH-JKMN-PQRS: easier to read aloud and to type."""
    return "-".join(code[i : i + 4] for i in range(0, len(code), 4))


def day_text(day: date) -> str:
    """2026年1月1日 (Chinese) or 1 Jan 2026 (English): a calendar date, no time zone."""
    locale = get_locale()
    chinese = locale is None or locale.language == "zh"
    return format_date(day, "y年M月d日" if chinese else "d MMM y")


def format_number(year: int, serial: int) -> str:
    return f"{NUMBER_PREFIX}-{year}-{serial:06d}"


def issue(user: User, start: date | None, end: date | None) -> Certificate:
    """Issue a certificate of the person's confirmed records in the period.

    :raises CertificateError: the period is wrong, or it holds no confirmed record (then
        nothing is saved).
    """
    period = check_period(start, end)
    begin_write(db.session())
    records = confirmed_records(user.id, period.start, period.end)
    if not records:
        raise CertificateError(
            _(
                "%(start)s 至 %(end)s 期间没有已确认的志愿服务时长，无法出具证明。"
                "时长由活动组织方确认后才会计入；社区活动不计入志愿服务时长。",
                start=day_text(period.start),
                end=day_text(period.end),
            )
        )
    total = sum((Decimal(r.hours) for r in records), Decimal("0"))
    issued_at = now_utc()
    code = new_code()
    cert = Certificate(
        # A unique placeholder until the id is known (the column is NOT NULL and UNIQUE).
        number=f"pending-{code}",
        code=code,
        user_id=user.id,
        period_start=period.start,
        period_end=period.end,
        total_hours=total,
        record_count=len(records),
        records=[record_fields(r) for r in records],
        issuer=current_app.config["CERTIFICATE_ISSUER"],
        issued_at=issued_at,
    )
    db.session.add(cert)
    db.session.flush()
    cert.number = format_number(issued_at.year, cert.id)
    audit("certificate.issue", cert, summary=f"{cert.number} {total} 小时", actor=user)
    db.session.flush()
    return cert


def by_code(text: str | None) -> Certificate | None:
    """The certificate with this verification code, or None (malformed and unknown alike)."""
    code = normalise_code(text)
    if code is None:
        return None
    return db.session.scalar(select(Certificate).where(Certificate.code == code))


def own_certificates(user: User) -> list[Certificate]:
    """The person's certificates, newest first."""
    return list(
        db.session.scalars(
            select(Certificate)
            .where(Certificate.user_id == user.id)
            .order_by(Certificate.issued_at.desc(), Certificate.id.desc())
        )
    )


def revoke(cert: Certificate, actor: User, reason: str) -> Certificate:
    """Revoke a certificate with a reason (admins; the view checks the permission).

    :raises CertificateError: no reason given, or it was already revoked.
    """
    begin_write(db.session())
    reason = (reason or "").strip()
    if not reason:
        raise CertificateError(_("请写明撤销原因，它会记入操作日志。"), field="reason")
    if len(reason) > MAX_REASON_LENGTH:
        raise CertificateError(_("撤销原因最多500个字。"), field="reason")
    lock_rows(db.session(), Certificate, cert.id)
    db.session.refresh(cert)
    if cert.revoked_at is not None:
        raise CertificateError(_("这份证明已经撤销过了。"))
    cert.revoked_at = now_utc()
    cert.revoked_by_id = actor.id
    cert.revoke_reason = reason
    audit(
        "certificate.revoke",
        cert,
        summary=f"{cert.number} 撤销：{reason}",
        before={"valid": True},
        after={"valid": False, "reason": reason},
        actor=actor,
    )
    db.session.flush()
    return cert

"""The roster of a shift, people added on site, and the roster export rows."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from portal import labels
from portal.audit import services as audit
from portal.extensions import db
from portal.models import (
    ACTIVE_STATUSES,
    Shift,
    Signup,
    SignupStatus,
    User,
)
from portal.organize.services.errors import OrganizeError
from portal.timeutil import to_local

# --- roster ----------------------------------------------------------------------------------

_STATUS_ORDER = {
    SignupStatus.CONFIRMED: 0,
    SignupStatus.PENDING: 1,
    SignupStatus.WAITLISTED: 2,
    SignupStatus.CANCELLED: 3,
    SignupStatus.REJECTED: 4,
}


def roster(shift: Shift) -> list[Signup]:
    """Return every sign-up of a shift: confirmed, pending, waitlist (in order), then the rest."""
    return rosters([shift]).get(shift.id, [])


def rosters(shifts: Sequence[Shift]) -> dict[int, list[Signup]]:
    """Return {shift_id: roster} for several shifts in two statements."""
    if not shifts:
        return {}
    rows = db.session.scalars(
        select(Signup)
        .where(Signup.shift_id.in_([s.id for s in shifts]))
        .options(selectinload(Signup.user))
    )
    grouped: dict[int, list[Signup]] = {s.id: [] for s in shifts}
    for signup in rows:
        grouped[signup.shift_id].append(signup)
    far = datetime.max.replace(tzinfo=UTC)
    for items in grouped.values():
        items.sort(
            key=lambda s: (_STATUS_ORDER.get(s.status, 9), s.queued_at or s.created_at or far, s.id)
        )
    return grouped


@dataclass
class WalkIn:
    """What adding a person on site did: who, whether their record is new, and the outcome
    (``already`` on the roster as confirmed, ``confirmed`` their pending or waitlisted
    sign-up, or ``added``)."""

    user: User
    created: bool
    outcome: str
    signup: Signup

    def __iter__(self):  # ``user, created = walk_in(...)`` as before
        return iter((self.user, self.created))

    @property
    def changed(self) -> bool:
        return self.outcome != "already"

    def message(self) -> str:
        """The sentence that says exactly what happened; the name masked (the organizer
        typed a phone number, which must not reveal whose it is)."""
        from portal.privacy import mask_name

        name = mask_name(self.user.real_name)
        if self.outcome == "already":
            return _("%(name)s 已在名单上（已确认），没有重复添加。", name=name)
        if self.outcome == "confirmed":
            return _("%(name)s 原本在待审核或候补中，现已改为已确认，已通知本人。", name=name)
        if self.created:
            return _("已把 %(name)s 加入名单（新建了简单档案），已通知本人。", name=name)
        return _("已把 %(name)s 加入名单，已通知本人。", name=name)


def walk_in(
    actor: User,
    shift: Shift,
    phone: str,
    name: str,
    over_capacity: bool = False,
    *,
    over_overlap: bool = False,
    reason: str = "",
) -> WalkIn:
    """Put a person who turned up on site on the roster; say what that changed.

    The write lock is taken before anything is written, so a refusal (shift cancelled, full)
    leaves no new person record behind when the view rolls back.
    """
    from portal.database import begin_write
    from portal.signups import places

    begin_write(db.session())
    user, created = find_or_create_walk_in(phone, name)
    signup, outcome = places.place_walk_in(
        actor, shift, user, over_capacity=over_capacity, over_overlap=over_overlap, reason=reason
    )
    return WalkIn(user, created, outcome, signup)


def find_or_create_walk_in(phone: str, name: str) -> tuple[User, bool]:
    """Find a person by phone, or create a minimal record (name + phone, no password)."""
    from portal.auth.services import find_by_phone

    user = find_by_phone(phone)
    if user is not None:
        return user, False
    name = (name or "").strip()
    if not name:
        raise OrganizeError(_("这个手机号还没有注册，请同时填写姓名，系统会为他建一个简单档案。"))
    user = User(phone=phone, real_name=name[:40], password_hash=None)
    db.session.add(user)
    db.session.flush()
    # The user id is enough to trace it; the phone stays out of the log (PIPL: minimum).
    audit.record("user.create_walk_in", user, _("现场登记"))
    return user, True


# --- exports ---------------------------------------------------------------------------------


def export_header() -> list[str]:
    """Return the column titles of roster and attendance exports."""
    return [
        _("活动"),
        _("班次开始"),
        _("班次结束"),
        _("岗位"),
        _("序号"),
        _("姓名"),
        _("手机号"),
        _("状态"),
        _("报名方式"),
        _("签到时间"),
        _("签退时间"),
        _("出勤"),
        _("时长（小时）"),
    ]


def export_rows(shifts: Sequence[Shift], active_only: bool = False) -> list[list]:
    """Return one row per sign-up of the shifts, in roster order.

    Times are naive datetimes in the site time zone (date cells in XLSX, text in CSV through
    :func:`portal.exports.text_cell`); a missing time is an empty cell.
    """
    rows: list[list] = []

    def local(value: datetime | None) -> datetime | str:
        return to_local(value).replace(tzinfo=None, second=0, microsecond=0) if value else ""

    by_shift = rosters(shifts)
    for shift in shifts:
        number = 0
        for signup in by_shift[shift.id]:
            if active_only and signup.status not in ACTIVE_STATUSES:
                continue
            number += 1
            rows.append(
                [
                    shift.activity.title,
                    local(shift.starts_at),
                    local(shift.ends_at),
                    shift.post_name,
                    number,
                    signup.user.real_name,
                    signup.user.phone or "",
                    labels.signup_status(signup.status),
                    labels.signup_source(signup.source),
                    local(signup.checked_in_at),
                    local(signup.checked_out_at),
                    labels.attendance(signup.attendance),
                    float(signup.hours) if signup.hours is not None else "",
                ]
            )
    return rows

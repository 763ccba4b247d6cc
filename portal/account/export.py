"""The person's own data download: collect it, render it as JSON-ready values or one CSV."""

from __future__ import annotations

from flask import current_app
from sqlalchemy import select

from portal.extensions import db
from portal.models import User, utcnow


def _iso(value) -> str | None:
    """Format an aware datetime as ISO 8601 in the site time zone (with its offset)."""
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
    """Turn a value into a CSV cell a person can read (exports.csv_bytes guards formulas)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        from flask_babel import gettext as _

        return _("是") if value else _("否")
    if isinstance(value, list):
        return "、".join(str(v) for v in value)
    return value


def _csv_labels() -> dict[str, str]:
    """Name the CSV columns in the reader's language (JSON keeps the keys)."""
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
    """Give readable words for coded values in the CSV export (states from portal.labels)."""
    from flask_babel import gettext as _

    from portal import labels
    from portal.models import Attendance, SignupStatus

    return {
        # The person's own sign-ups, in the words of their own pages.
        "status": {str(s): labels.own_signup_status(s) for s in SignupStatus},
        "attendance": {str(a): labels.attendance(a) for a in Attendance},
        "activity_kind": {"volunteer": _("志愿服务"), "community": _("社区活动")},
        "shift_status": {"scheduled": _("正常"), "cancelled": _("已取消")},
        "checkin_method": {"roster": _("组织方签到"), "qr": _("扫码签到")},
        "source": {s: labels.signup_source(s) for s in ("self", "walk_in", "organizer")},
    }


def account_csv(data: dict) -> bytes:
    """Render :func:`account_data` as one CSV in sections, with a UTF-8 BOM for Excel."""
    from flask_babel import gettext as _

    from portal.exports import csv_bytes

    out: list[list] = []
    labels = _csv_labels()
    words = _csv_values()

    def section(title: str, rows: list[dict]) -> None:
        out.append([title])
        if rows:
            out.append([labels.get(key, key) for key in rows[0]])
            for row in rows:
                out.append([_csv_cell(words.get(k, {}).get(v, v)) for k, v in row.items()])
        else:
            out.append([_("（无）")])
        out.append([])

    out.append([_("我的数据"), data["portal"], data["exported_at"]])
    out.append([])
    out.append([_("个人资料")])
    for key, value in data["profile"].items():
        out.append([labels.get(key, key), _csv_cell(value)])
    out.append([])
    section(_("报名记录"), data["signups"])
    section(_("消息"), data["notifications"])
    section(_("日历订阅链接"), data["calendar_links"])
    return csv_bytes(out)

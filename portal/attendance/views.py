"""Attendance pages: the organizer's marks and hours on the roster, overdue records, my hours.

Every organizer route loads its shift or sign-up with the permission loaders; every POST
goes through the write path (the services take the shift lock) and commits once, then
redirects back to the roster with a sentence saying what changed.
"""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from portal import permissions
from portal.attendance import hours, services
from portal.attendance.forms import AdjustHoursForm, MarkForm, UndoForm
from portal.attendance.services import AttendanceError
from portal.domain import DomainError
from portal.extensions import db
from portal.forms import attach_error, refuse
from portal.models import Attendance, Signup
from portal.privacy import mask_name
from portal.signups import places
from portal.timeutil import fmt_short, now_utc

bp = Blueprint("attendance", __name__)


@bp.app_template_global("overdue_hours_count")
def _overdue_hours_count(user) -> int:
    """For the organizer's home: how many records of their units are overdue."""
    return hours.overdue_count(user, now_utc())


@bp.app_template_global("my_hours_brief")
def _my_hours_brief(user) -> dict:
    """For "my schedule": confirmed total, stars and pending hours in one line."""
    from portal.attendance import records

    total = records.confirmed_hours(user.id)
    return {
        "total": total,
        "stars": records.star_level(total)[0],
        "pending": records.pending_hours(user.id),
    }


def _organizer() -> None:
    if not current_user.is_authenticated:
        from portal.extensions import login_manager

        abort(login_manager.unauthorized())
    if not permissions.is_organizer(current_user):
        abort(403)


def _back(shift_id: int, signup_id: int | None = None):
    anchor = f"signup-{signup_id}" if signup_id else None
    return redirect(url_for("organize.roster", shift_id=shift_id, _anchor=anchor))


def _who(signup: Signup) -> str:
    return mask_name(signup.user.real_name)


# --- marks ------------------------------------------------------------------------------------


def _signup_action(signup_id: int, act, message):
    _organizer()
    signup = permissions.get_signup_or_403(signup_id)
    shift_id = signup.shift_id
    if not MarkForm().validate_on_submit():
        flash(_("页面已过期，请刷新后再试。"), "error")
        return _back(shift_id, signup_id)
    try:
        signup = act(signup)
    except AttendanceError as exc:
        refuse(exc)
        return _back(shift_id, signup_id)
    db.session.commit()
    flash(message(signup), "success")
    return _back(shift_id, signup_id)


@bp.route("/organize/signups/<int:signup_id>/attended", methods=["POST"])
def mark_attended(signup_id: int):
    return _signup_action(
        signup_id,
        lambda s: services.mark_attended(current_user, s, now_utc()),
        lambda s: (
            _("已记 %(name)s 到场。", name=_who(s))
            + (_("默认时长 %(h)s 小时，可确认或调整。", h=s.hours) if s.hours is not None else "")
        ),
    )


@bp.route("/organize/signups/<int:signup_id>/no-show", methods=["POST"])
def mark_no_show(signup_id: int):
    return _signup_action(
        signup_id,
        lambda s: services.mark_no_show(current_user, s, now_utc()),
        lambda s: _("已记 %(name)s 缺席。如记错，可撤销并写明原因。", name=_who(s)),
    )


@bp.route("/organize/signups/<int:signup_id>/hours/confirm", methods=["POST"])
def confirm_hours(signup_id: int):
    return _signup_action(
        signup_id,
        lambda s: hours.confirm_hours(current_user, s, now_utc()),
        lambda s: _("已确认 %(name)s 的时长：%(h)s 小时。", name=_who(s), h=s.hours),
    )


@bp.route("/organize/signups/<int:signup_id>/attendance/undo", methods=["POST"])
def undo(signup_id: int):
    _organizer()
    signup = permissions.get_signup_or_403(signup_id)
    shift_id = signup.shift_id
    form = UndoForm()
    if not form.validate_on_submit():
        flash((form.reason.errors or [_("页面已过期，请刷新后再试。")])[0], "error")
        return _back(shift_id, signup_id)
    try:
        signup = services.undo_attendance(current_user, signup, form.reason.data, now_utc())
    except AttendanceError as exc:
        refuse(exc)
        return _back(shift_id, signup_id)
    db.session.commit()
    flash(_("已撤销 %(name)s 的出勤记录，原因已记入操作日志。", name=_who(signup)), "success")
    return _back(shift_id, signup_id)


@bp.route("/organize/signups/<int:signup_id>/hours", methods=["GET", "POST"])
def adjust_hours(signup_id: int):
    _organizer()
    signup = permissions.get_signup_or_403(signup_id)
    form = AdjustHoursForm()
    if form.validate_on_submit():
        try:
            signup = hours.adjust_hours(
                current_user, signup, form.hours.data, form.reason.data, now_utc()
            )
        except AttendanceError as exc:
            db.session.rollback()
            attach_error(form, exc)
        else:
            db.session.commit()
            flash(
                _(
                    "已把 %(name)s 的时长改为 %(h)s 小时并确认，原时长和原因已保存。",
                    name=_who(signup),
                    h=signup.hours,
                ),
                "success",
            )
            return _back(signup.shift_id, signup.id)
    elif not form.is_submitted() and signup.hours is not None:
        form.hours.data = str(signup.hours)
    return render_template(
        "attendance/adjust.html",
        signup=signup,
        shift=signup.shift,
        activity=signup.shift.activity,
        form=form,
        history=hours.adjustments([signup.id]).get(signup.id, []),
        default=services.default_hours(signup.shift, signup.checked_in_at, signup.checked_out_at),
    )


# --- the whole shift --------------------------------------------------------------------------


def _shift_action(shift_id: int, act, message):
    _organizer()
    shift = permissions.get_shift_or_403(shift_id)
    if not MarkForm().validate_on_submit():
        flash(_("页面已过期，请刷新后再试。"), "error")
        return _back(shift_id)
    try:
        n = act(shift)
    except AttendanceError as exc:
        refuse(exc)
        return _back(shift_id)
    db.session.commit()
    flash(message(n), "success" if n else "info")
    return _back(shift_id)


@bp.route("/organize/shifts/<int:shift_id>/attended-all", methods=["POST"])
def mark_all_attended(shift_id: int):
    return _shift_action(
        shift_id,
        lambda shift: services.mark_all_attended(current_user, shift, now_utc()),
        lambda n: (
            _("已把 %(n)d 位已确认的人记为到场。", n=n)
            if n
            else _("没有需要记为到场的人：已确认的人都已有出勤记录。")
        ),
    )


@bp.route("/organize/shifts/<int:shift_id>/hours/confirm-all", methods=["POST"])
def confirm_all_hours(shift_id: int):
    return _shift_action(
        shift_id,
        lambda shift: hours.confirm_all_hours(current_user, shift, now_utc()),
        lambda n: (
            _("已确认 %(n)d 人的时长。", n=n)
            if n
            else _("没有待确认的时长：先记到场，已确认的不会重复确认。")
        ),
    )


@bp.route("/organize/shifts/<int:shift_id>/walk-in-attended", methods=["POST"])
def walk_in_attended(shift_id: int):
    """Add a person on site and mark them attended in the same step (once check-in is open)."""
    from portal.organize.forms import WalkInForm
    from portal.organize.services import OrganizeError
    from portal.organize.services import walk_in as add_walk_in

    _organizer()
    shift = permissions.get_shift_or_403(shift_id)
    form = WalkInForm()
    if not form.validate_on_submit():
        for errors in form.errors.values():
            flash(errors[0], "error")
        return _back(shift_id)
    now = now_utc()
    try:
        added = add_walk_in(
            current_user,
            shift,
            form.phone.data,
            form.name.data,
            over_capacity=bool(form.over_capacity.data),
            over_overlap=bool(form.over_overlap.data),
            reason=form.override_reason.data or "",
        )
        user = added.user
        signup = places.active_signup(user.id, shift_id)
        attended = signup is not None and services.can_check_in(shift, now)
        if attended:
            signup = services.mark_attended(current_user, signup, now)
    except (DomainError, OrganizeError) as exc:
        refuse(exc)
        return _back(shift_id)
    db.session.commit()
    name = mask_name(user.real_name)
    if attended and not added.changed:
        flash(_("%(name)s 已在名单上，已记为到场。", name=name), "success")
    elif attended:
        flash(_("已把 %(name)s 加入名单并记为到场。", name=name), "success")
    elif not added.changed:
        flash(
            _(
                "%(name)s 已在名单上（已确认）；签到从 %(at)s 起开放，届时再记到场。",
                name=name,
                at=fmt_short(services.checkin_opens_at(shift)),
            ),
            "success",
        )
    else:
        flash(
            _(
                "已把 %(name)s 加入名单；签到从 %(at)s 起开放，届时再记到场。",
                name=name,
                at=fmt_short(services.checkin_opens_at(shift)),
            ),
            "success",
        )
    return _back(shift_id, signup.id if signup else None)


# --- overdue ----------------------------------------------------------------------------------


@bp.route("/organize/hours/overdue")
def overdue():
    _organizer()
    rows = hours.overdue_records(current_user, now_utc())
    return render_template("attendance/overdue.html", rows=rows, days=hours.WORKING_DAYS_TO_RECORD)


# --- my hours ---------------------------------------------------------------------------------


@bp.route("/me/hours")
@login_required
def my_hours():
    return render_template(
        "attendance/hours.html", summary=hours.my_hours(current_user.id), A=Attendance
    )

"""Organizer pages: my unit's activities, shifts, rosters, exports, messages, audit log."""

from __future__ import annotations

from datetime import date, time, timedelta

from flask import (
    Blueprint,
    abort,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select
from wtforms.fields.choices import SelectChoice

from portal import exports, permissions
from portal.audit import services as audit
from portal.database import writes
from portal.extensions import db
from portal.forms import refuse
from portal.models import (
    Activity,
    ActivityStatus,
    Programme,
    Shift,
    SignupStatus,
    Zone,
)
from portal.organize import services
from portal.organize.forms import (
    ActionForm,
    ActivityForm,
    BulkShiftForm,
    CancelForm,
    MessageForm,
    QueueForm,
    ReasonForm,
    ShiftForm,
    WalkInForm,
)
from portal.organize.services import OrganizeError
from portal.timeutil import local_to_utc, local_today, now_utc, to_local

bp = Blueprint("organize", __name__, url_prefix="/organize")


@bp.before_request
def _organizers_only():
    if not current_user.is_authenticated:
        from portal.extensions import login_manager

        return login_manager.unauthorized()
    if not permissions.is_organizer(current_user):
        abort(403)
    return None


# --- activities ------------------------------------------------------------------------------


@bp.route("/")
def index():
    status = request.args.get("status")
    if status not in {s.value for s in ActivityStatus}:
        status = None
    page = request.args.get("page", "1")
    if not page.isdigit() or not 1 <= int(page) <= 10_000:
        abort(404)
    page, size = int(page), 50
    activities = services.managed_activities(current_user, status, page, size)
    has_next = len(activities) > size
    activities = activities[:size]
    if page > 1 and not activities:
        abort(404)
    counts = services.shift_counts([a.id for a in activities])
    return render_template(
        "organize/index.html",
        activities=activities,
        counts=counts,
        pending=services.pending_count(current_user),
        today=services.day_shifts(current_user, local_today()).totals,
        status=status,
        page=page,
        has_next=has_next,
        units=services.managed_units(current_user),
    )


# --- the organizer's day ---------------------------------------------------------------------


@bp.route("/queue", methods=["GET", "POST"])
@writes  # the audit entry of a view of full names
def queue():
    """One 待审核 queue across every activity of my units, with bulk approve / reject."""
    form = QueueForm()
    if request.method == "POST":
        if form.validate_on_submit():
            try:
                result = services.decide_many(
                    current_user,
                    form.signup_ids.data or [],
                    form.decision.data,
                    form.reason.data or "",
                )
            except OrganizeError as exc:
                refuse(exc)
            else:
                db.session.commit()
                flash(result.message(), "success" if not result.failed else "warning")
                return redirect(url_for(".queue"))
        else:
            db.session.rollback()
            for errors in form.errors.values():
                flash(str(errors[0]), "error")
    from portal.attendance.hours import no_show_counts

    # Full names are shown: log the view (not after a refused POST, which saves nothing).
    # Committed before the queue is read, so that the commit does not expire what it shows.
    total = services.pending_count(current_user)
    if request.method == "GET":
        if total:
            audit.record("queue.view", None, _("待审核"), after={"rows": total})
            db.session.commit()
    pending = services.pending_queue(current_user)
    return render_template(
        "organize/queue.html",
        queue=pending,
        total=total,
        form=form,
        checked=set(form.signup_ids.data or []) if request.method == "POST" else set(),
        earlier_no_shows=no_show_counts({s.user_id for s in pending.signups}),
        several_units=permissions.is_admin(current_user) or len(current_user.units) > 1,
    )


def _day_arg() -> date:
    """The ?day= of the today page (YYYY-MM-DD), today in the site time zone otherwise."""
    from portal.timeutil import is_sane_date

    value = request.args.get("day", "")
    try:
        day = date.fromisoformat(value) if value else None
    except ValueError:
        day = None
    if day is None or not is_sane_date(day):
        return local_today()
    return day


@bp.route("/today")
def today():
    """Every shift of my units today (Asia/Shanghai), its fill and check-in state."""
    day = _day_arg()
    return render_template(
        "organize/today.html",
        day=services.day_shifts(current_user, day),
        noon=local_to_utc(day, time(12)),  # the day as a datetime, for the date filter
        is_today=day == local_today(),
        previous=day - timedelta(days=1),
        following=day + timedelta(days=1),
        several_units=permissions.is_admin(current_user) or len(current_user.units) > 1,
        now=now_utc(),
    )


def _activity_form(obj: Activity | None = None) -> ActivityForm:
    form = ActivityForm(obj=obj)
    if obj is not None and request.method == "GET":
        form.programme_ids.data = [p.id for p in obj.programmes]
        form.kind.data = str(obj.kind)
    form.unit_id.choices = [
        SelectChoice(u.id, u.name) for u in services.managed_units(current_user)
    ]
    form.zone_id.choices = [
        SelectChoice(z.id, z.name) for z in db.session.scalars(select(Zone).order_by(Zone.name))
    ]
    programmes = db.session.scalars(select(Programme).order_by(Programme.position, Programme.id))
    children: dict[int | None, list[Programme]] = {}
    for programme in programmes:
        children.setdefault(programme.parent_id, []).append(programme)

    def walk(parent_id: int | None, prefix: str):
        for programme in children.get(parent_id, []):
            yield SelectChoice(programme.id, prefix + programme.name)
            yield from walk(programme.id, prefix + programme.name + " · ")

    form.programme_ids.choices = list(walk(None, ""))
    return form


@bp.route("/activities/new", methods=["GET", "POST"])
def new_activity():
    form = _activity_form()
    if request.method == "GET":
        units = form.unit_id.choices
        if len(units) == 1:
            form.unit_id.data = units[0].value
    if not form.unit_id.choices:
        flash(_("你还没有负责的单位，请联系指挥中心。"), "error")
        return redirect(url_for(".index"))
    if form.validate_on_submit():
        try:
            activity = services.create_activity(current_user, form.data_for_service())
        except OrganizeError as exc:
            refuse(exc, form)
        else:
            db.session.commit()
            flash(_("活动已保存为草稿。下一步：添加班次，然后发布。"), "success")
            return redirect(url_for(".activity", activity_id=activity.id))
    return render_template("organize/activity_form.html", form=form, activity=None)


@bp.route("/activities/<int:activity_id>")
def activity(activity_id: int):
    activity = permissions.get_activity_or_403(activity_id)
    counts = services.shift_counts([activity.id])
    show_past = request.args.get("past") == "1"
    now = now_utc()
    past = [s for s in activity.shifts if s.ends_at <= now]
    shifts = activity.shifts if show_past else [s for s in activity.shifts if s.ends_at > now]
    return render_template(
        "organize/activity.html",
        activity=activity,
        shifts=shifts,
        past_count=len(past),
        show_past=show_past,
        counts=counts.get(activity.id, (0, 0, 0)),
        deletable=services.deletable(shifts),
        action_form=ActionForm(),
    )


@bp.route("/activities/<int:activity_id>/edit", methods=["GET", "POST"])
def edit_activity(activity_id: int):
    activity = permissions.get_activity_or_403(activity_id)
    if activity.status == ActivityStatus.CANCELLED:
        flash(_("活动已取消，不能再修改。"), "error")
        return redirect(url_for(".activity", activity_id=activity.id))
    form = _activity_form(activity)
    if form.validate_on_submit():
        try:
            changed = services.update_activity(current_user, activity, form.data_for_service())
        except OrganizeError as exc:
            refuse(exc, form)
        else:
            db.session.commit()
            flash(_("已保存修改。") if changed else _("没有修改任何内容。"), "success")
            return redirect(url_for(".activity", activity_id=activity.id))
    return render_template("organize/activity_form.html", form=form, activity=activity)


@bp.route("/activities/<int:activity_id>/publish", methods=["POST"])
def publish_activity(activity_id: int):
    activity = permissions.get_activity_or_403(activity_id)
    if ActionForm().validate_on_submit():
        try:
            services.publish_activity(current_user, activity)
        except OrganizeError as exc:
            refuse(exc)
        else:
            db.session.commit()
            flash(_("活动已发布，居民现在可以看到并报名。"), "success")
    return redirect(url_for(".activity", activity_id=activity_id))


@bp.route("/activities/<int:activity_id>/cancel", methods=["GET", "POST"])
def cancel_activity(activity_id: int):
    activity = permissions.get_activity_or_403(activity_id)
    form = CancelForm()
    if form.validate_on_submit():
        try:
            services.cancel_activity(current_user, activity, form.reason.data)
        except OrganizeError as exc:
            refuse(exc, form)
        else:
            db.session.commit()
            flash(_("活动已取消，所有报名的人都会收到通知，日历中显示为已取消。"), "success")
            return redirect(url_for(".activity", activity_id=activity_id))
    people = services.recipients(activity.shifts)
    return render_template(
        "organize/cancel.html", form=form, activity=activity, shift=None, people=len(people)
    )


@bp.route("/activities/<int:activity_id>/duplicate", methods=["POST"])
def duplicate_activity(activity_id: int):
    activity = permissions.get_activity_or_403(activity_id)
    if not ActionForm().validate_on_submit():
        return redirect(url_for(".activity", activity_id=activity_id))
    try:
        copy = services.duplicate_activity(current_user, activity)
    except OrganizeError as exc:
        refuse(exc)
        return redirect(url_for(".activity", activity_id=activity_id))
    db.session.commit()
    flash(
        _(
            "已复制为新的草稿（含 %(n)d 个未开始的班次，不含报名）。请修改后发布。",
            n=len(copy.shifts),
        ),
        "success",
    )
    return redirect(url_for(".activity", activity_id=copy.id))


# --- shifts ----------------------------------------------------------------------------------


@bp.route("/activities/<int:activity_id>/shifts/new", methods=["GET", "POST"])
def new_shift(activity_id: int):
    activity = permissions.get_activity_or_403(activity_id)
    form = ShiftForm()
    if form.validate_on_submit():
        try:
            shift = services.add_shift(
                current_user,
                activity,
                form.values(),
                allow_duplicate=bool(form.allow_duplicate.data),
            )
        except OrganizeError as exc:
            refuse(exc, form)
        else:
            db.session.commit()
            flash(_("已添加班次 %(range)s。", range=_range(shift)), "success")
            return redirect(url_for(".activity", activity_id=activity.id))
    return render_template("organize/shift_form.html", form=form, activity=activity, shift=None)


def _range(shift: Shift) -> str:
    from portal.timeutil import fmt_range

    return fmt_range(shift.starts_at, shift.ends_at)


@bp.route("/activities/<int:activity_id>/shifts/bulk", methods=["GET", "POST"])
def bulk_shifts(activity_id: int):
    activity = permissions.get_activity_or_403(activity_id)
    form = BulkShiftForm()
    if request.method == "GET":
        form.mode.data = "rule" if request.args.get("mode") == "rule" else "range"
    if form.validate_on_submit():
        allow = bool(form.allow_duplicates.data)
        if form.save.data and form.confirm.data == "1":
            try:
                shifts = services.create_shifts(
                    current_user,
                    activity,
                    form.occurrences,
                    form.options(),
                    allow_duplicates=allow,
                )
            except OrganizeError as exc:
                refuse(exc, form)
            else:
                db.session.commit()
                skipped = len(form.occurrences) - len(shifts)
                if skipped:
                    flash(
                        _(
                            "已创建 %(n)d 个班次；跳过了 %(m)d 个与已有班次完全相同的。",
                            n=len(shifts),
                            m=skipped,
                        ),
                        "success",
                    )
                else:
                    flash(_("已创建 %(n)d 个班次。", n=len(shifts)), "success")
                return redirect(url_for(".activity", activity_id=activity.id))
        form.confirm.data = "1"
        twins = services.duplicate_times(
            activity,
            [(o.starts_at, o.ends_at) for o in form.occurrences],
            form.post_name.data or "",
        )
        return render_template(
            "organize/bulk.html",
            form=form,
            activity=activity,
            preview=form.occurrences,
            twins=twins,
        )
    form.confirm.data = ""
    return render_template(
        "organize/bulk.html", form=form, activity=activity, preview=None, twins=set()
    )


@bp.route("/shifts/<int:shift_id>/edit", methods=["GET", "POST"])
def edit_shift(shift_id: int):
    shift = permissions.get_shift_or_403(shift_id)
    activity_id = shift.activity_id
    form = ShiftForm(obj=shift)
    if request.method == "GET":
        start, end = to_local(shift.starts_at), to_local(shift.ends_at)
        form.day.data, form.start.data, form.end.data = start.date(), start.time(), end.time()
        for field, value in (
            (form.signup_opens, shift.signup_opens_at),
            (form.signup_closes, shift.signup_closes_at),
        ):
            field.data = to_local(value).replace(tzinfo=None) if value else None
    if shift.is_cancelled:
        flash(_("班次已取消，不能再修改。"), "error")
        return redirect(url_for(".activity", activity_id=activity_id))
    if form.validate_on_submit():
        try:
            services.update_shift(
                current_user,
                shift,
                form.values(),
                over_overlap=bool(form.over_overlap.data),
                reason=form.override_reason.data or "",
                allow_duplicate=bool(form.allow_duplicate.data),
            )
        except OrganizeError as exc:
            refuse(exc, form)
            shift = db.session.get(Shift, shift_id)
        else:
            db.session.commit()
            flash(_("班次已更新；时间变动会通知班次上的每个人。"), "success")
            return redirect(url_for(".activity", activity_id=activity_id))
    return render_template(
        "organize/shift_form.html", form=form, activity=shift.activity, shift=shift
    )


@bp.route("/shifts/<int:shift_id>/cancel", methods=["GET", "POST"])
def cancel_shift(shift_id: int):
    shift = permissions.get_shift_or_403(shift_id)
    form = CancelForm()
    if form.validate_on_submit():
        try:
            services.cancel_shift(current_user, shift, form.reason.data)
        except OrganizeError as exc:
            refuse(exc, form)
        else:
            db.session.commit()
            flash(_("班次已取消，报名的人都会收到通知。"), "success")
            return redirect(url_for(".activity", activity_id=shift.activity_id))
    people = services.recipients([shift])
    return render_template(
        "organize/cancel.html", form=form, activity=shift.activity, shift=shift, people=len(people)
    )


@bp.route("/shifts/<int:shift_id>/delete", methods=["POST"])
def delete_shift(shift_id: int):
    shift = permissions.get_shift_or_403(shift_id)
    activity_id = shift.activity_id
    if ActionForm().validate_on_submit():
        try:
            services.delete_shift(current_user, shift)
        except OrganizeError as exc:
            refuse(exc)
        else:
            db.session.commit()
            flash(_("班次已删除。"), "success")
    return redirect(url_for(".activity", activity_id=activity_id))


# --- roster ----------------------------------------------------------------------------------


@bp.route("/shifts/<int:shift_id>/roster")
@writes  # the audit entry of a view of full personal data
def roster(shift_id: int):
    shift = permissions.get_shift_or_403(shift_id)
    from portal.attendance import hours as attendance_hours
    from portal.attendance import services as attendance
    from portal.signups.services import can_decide, waitlist_positions

    rows = services.roster(shift)
    positions = waitlist_positions(rows)
    audit.record("roster.view_full", shift, shift.activity.title, after={"rows": len(rows)})
    db.session.commit()
    now = now_utc()
    return render_template(
        "organize/roster.html",
        shift=shift,
        activity=shift.activity,
        rows=rows,
        positions=positions,
        can_decide=can_decide(shift),
        action_form=ActionForm(),
        reason_form=ReasonForm(),
        walk_in_form=WalkInForm(),
        S=SignupStatus,
        can_check_in=attendance.can_check_in(shift, now),
        can_mark_no_show=attendance.can_mark_no_show(shift, now),
        checkin_opens_at=attendance.checkin_opens_at(shift),
        earlier_no_shows=attendance_hours.no_show_counts(
            [s.user_id for s in rows], exclude_shift_id=shift.id
        ),
    )


def _roster_action(signup_id: int, action: str):
    from portal.signups import services as signups

    signup = permissions.get_signup_or_403(signup_id)
    shift_id = signup.shift_id
    back = redirect(url_for(".roster", shift_id=shift_id))
    if action in ("reject", "remove"):
        form = ReasonForm()
        if not form.validate_on_submit():
            flash((form.reason.errors or [_("请填写原因。")])[0], "error")
            return back
    else:
        form = ActionForm()
        if not form.validate_on_submit():
            return back
    name = signup.user.real_name
    try:
        if action == "approve":
            signups.approve(current_user, signup)
            message = _("已通过 %(name)s 的报名，已通知本人。", name=name)
        elif action == "reject":
            signups.reject(current_user, signup, form.reason.data.strip())
            message = _("已拒绝 %(name)s 的报名，已通知本人。", name=name)
        elif action == "promote":
            signups.promote(
                current_user,
                signup,
                over_capacity=bool(form.over_capacity.data),
                over_overlap=bool(form.over_overlap.data),
                reason=form.override_reason.data or "",
            )
            message = _("已把 %(name)s 从候补转为正式，已通知本人。", name=name)
        else:
            signups.remove(current_user, signup, form.reason.data.strip())
            message = _("已将 %(name)s 移出名单，已通知本人。", name=name)
    except signups.SignupError as exc:
        refuse(exc)
        return back
    db.session.commit()
    flash(message, "success")
    return back


@bp.route("/signups/<int:signup_id>/approve", methods=["POST"])
def approve(signup_id: int):
    return _roster_action(signup_id, "approve")


@bp.route("/signups/<int:signup_id>/reject", methods=["POST"])
def reject(signup_id: int):
    return _roster_action(signup_id, "reject")


@bp.route("/signups/<int:signup_id>/promote", methods=["POST"])
def promote(signup_id: int):
    return _roster_action(signup_id, "promote")


@bp.route("/signups/<int:signup_id>/remove", methods=["POST"])
def remove(signup_id: int):
    return _roster_action(signup_id, "remove")


@bp.route("/shifts/<int:shift_id>/walk-in", methods=["POST"])
def walk_in(shift_id: int):
    from portal.signups import services as signups

    shift = permissions.get_shift_or_403(shift_id)
    form = WalkInForm()
    back = redirect(url_for(".roster", shift_id=shift_id))
    if not form.validate_on_submit():
        for errors in form.errors.values():
            flash(errors[0], "error")
        return back
    try:
        added = services.walk_in(
            current_user,
            shift,
            form.phone.data,
            form.name.data,
            over_capacity=bool(form.over_capacity.data),
            over_overlap=bool(form.over_overlap.data),
            reason=form.override_reason.data or "",
        )
    except (OrganizeError, signups.SignupError) as exc:
        refuse(exc)
        return back
    db.session.commit()
    # The name masked: typing a phone number must not reveal whose it is.
    flash(added.message(), "success" if added.changed else "warning")
    return back


# --- exports ---------------------------------------------------------------------------------


def _export(target, shifts, kind: str, fmt: str, stem: str):
    header = services.export_header()
    rows = services.export_rows(shifts)
    audit.record(f"export.{kind}.{fmt}", target, stem, after={"rows": len(rows), "format": fmt})
    db.session.commit()
    if fmt == "xlsx":
        return exports.download(
            exports.to_xlsx(stem, header, rows),
            f"{stem}.xlsx",
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        )
    return exports.download(exports.to_csv(header, rows), f"{stem}.csv", "text/csv; charset=utf-8")


def _stem(shift: Shift) -> str:
    return f"roster-{shift.id}-{to_local(shift.starts_at):%Y%m%d-%H%M}"


@bp.route("/shifts/<int:shift_id>/roster.<any(xlsx, csv):fmt>")
@writes  # the audit entry of a view of full personal data
def export_roster(shift_id: int, fmt: str):
    shift = permissions.get_shift_or_403(shift_id)
    return _export(shift, [shift], "roster", fmt, _stem(shift))


@bp.route("/activities/<int:activity_id>/attendance.<any(xlsx, csv):fmt>")
@writes  # the audit entry of a view of full personal data
def export_attendance(activity_id: int, fmt: str):
    activity = permissions.get_activity_or_403(activity_id)
    stem = f"attendance-{activity.id}-{local_today():%Y%m%d}"
    return _export(activity, list(activity.shifts), "attendance", fmt, stem)


@bp.route("/shifts/<int:shift_id>/sign-in-sheet")
@writes  # the audit entry of a view of full personal data
def sign_in_sheet(shift_id: int):
    shift = permissions.get_shift_or_403(shift_id)
    rows = [s for s in services.roster(shift) if s.status == SignupStatus.CONFIRMED]
    audit.record("export.sign_in_sheet", shift, shift.activity.title, after={"rows": len(rows)})
    db.session.commit()
    blank = max(5, min(shift.capacity - len(rows), 10))
    return render_template(
        "organize/sign_in_sheet.html",
        shift=shift,
        activity=shift.activity,
        rows=rows,
        blank=blank,
    )


# --- messages --------------------------------------------------------------------------------


def _message(target, activity: Activity, shift: Shift | None):
    form = MessageForm()
    shifts = [shift] if shift is not None else list(activity.shifts)
    people = services.recipients(shifts)
    if form.validate_on_submit():
        try:
            count = services.send_notice(
                current_user, target, form.title.data.strip(), form.body.data.strip()
            )
        except OrganizeError as exc:
            refuse(exc, form)
        else:
            db.session.commit()
            flash(_("消息已发送给 %(n)d 人。", n=count), "success")
            if shift is not None:
                return redirect(url_for(".roster", shift_id=shift.id))
            return redirect(url_for(".activity", activity_id=activity.id))
    return render_template(
        "organize/message.html", form=form, activity=activity, shift=shift, people=len(people)
    )


@bp.route("/shifts/<int:shift_id>/message", methods=["GET", "POST"])
def message_shift(shift_id: int):
    shift = permissions.get_shift_or_403(shift_id)
    return _message(shift, shift.activity, shift)


@bp.route("/activities/<int:activity_id>/message", methods=["GET", "POST"])
def message_activity(activity_id: int):
    activity = permissions.get_activity_or_403(activity_id)
    return _message(activity, activity, None)


# --- audit log (admins) ----------------------------------------------------------------------


@bp.route("/audit")
def audit_log():
    """The audit log moved to /admin/audit (readable, filtered, CSV); old links land there."""
    if not permissions.is_admin(current_user):
        abort(403)
    return redirect(url_for("admin.audit"))

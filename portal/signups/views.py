"""Signing up, cancelling, "my schedule" and the notification inbox."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from portal import pagecache, permissions
from portal.database import locks_late, writes
from portal.extensions import db
from portal.models import ActivityStatus, Shift, Signup
from portal.notifications import services as notifications
from portal.signups import services
from portal.signups.forms import CancelForm, SignupForm
from portal.urls import is_safe_next

bp = Blueprint("signups", __name__)

_FLASH_CATEGORY = {
    services.Outcome.CONFIRMED: "success",
    services.Outcome.PENDING: "info",
    services.Outcome.WAITLISTED: "warning",
    services.Outcome.UNCHANGED: "info",
}


@bp.app_template_global()
def can_cancel(signup: Signup) -> bool:
    """Tell templates whether the person may still cancel this sign-up (the service's rule)."""
    return services.can_cancel(signup)


def _shift_page(shift: Shift) -> str:
    if permissions.can_view_activity(current_user, shift.activity):
        url = url_for("browse.activity", activity_id=shift.activity_id, shift=shift.id)
        return f"{url}#shift-{shift.id}"
    return url_for("browse.activities")


def _back(default: str) -> str:
    target = request.form.get("next")
    return target if is_safe_next(target) else default


@bp.route("/shifts/<int:shift_id>/signup", methods=["POST"])
@locks_late  # services.sign_up takes the write lock (places.lock) before it writes
@login_required
def sign_up(shift_id: int):
    form = SignupForm()
    if not form.validate_on_submit():  # pragma: no cover - CSRF errors are handled globally
        abort(400)
    shift = db.session.get(Shift, shift_id)
    if shift is None:
        abort(404)
    target = _back(_shift_page(shift))
    try:
        result = services.sign_up(current_user, shift_id)
    except services.SignupError as exc:
        db.session.rollback()
        flash(str(exc), "error")
        return redirect(target)
    db.session.commit()
    flash(result.message, _FLASH_CATEGORY[services.Outcome(result.outcome)])
    return redirect(target)


def _own_signup_or_404(signup_id: int) -> Signup:
    signup = db.session.get(Signup, signup_id)
    if signup is None or signup.user_id != current_user.id:
        abort(404)
    return signup


@bp.route("/shifts/<int:shift_id>/cancel")
@login_required
def cancel_for_shift(shift_id: int):
    shift = db.get_or_404(Shift, shift_id)
    mine = services.active_signups_by_shift(current_user, [shift.id]).get(shift.id)
    if mine is None:
        flash(_("你没有报名这个班次，无需取消。"), "info")
        return redirect(_shift_page(shift))
    return redirect(url_for("signups.cancel", signup_id=mine.id))


@bp.route("/signups/<int:signup_id>/cancel", methods=["GET", "POST"])
@login_required
def cancel(signup_id: int):
    signup = _own_signup_or_404(signup_id)
    form = CancelForm()
    if form.validate_on_submit():
        try:
            services.cancel_signup(current_user, signup_id)
        except services.SignupError as exc:
            db.session.rollback()
            flash(str(exc), "error")
            return redirect(url_for("signups.my_schedule"))
        db.session.commit()
        flash(_("已取消报名。感谢告知，名额会留给其他人。"), "success")
        return redirect(_back(url_for("signups.my_schedule")))
    if not signup.is_active:
        flash(_("这条报名已经取消了。"), "info")
        return redirect(url_for("signups.my_schedule"))
    form.next.data = request.args.get("next", "") if is_safe_next(request.args.get("next")) else ""
    return render_template(
        "signups/cancel.html",
        signup=signup,
        shift=signup.shift,
        form=form,
        allowed=services.can_cancel(signup),
        position=services.waitlist_position(signup),
    )


@bp.route("/me")
@login_required
def my_schedule():
    return pagecache.serve(_render_my_schedule)


def _render_my_schedule() -> str:
    schedule = services.my_schedule(current_user)
    pagecache.not_after_any(services.schedule_moments(schedule))
    return render_template(
        "signups/my_schedule.html",
        schedule=schedule,
        ActivityStatus=ActivityStatus,
    )


@bp.route("/me/inbox")
@writes  # opening the inbox marks its messages read
@login_required
def inbox():
    notes = notifications.inbox(current_user)
    unread = {n.id for n in notes if n.read_at is None}
    if unread:
        notifications.mark_all_read(current_user)
        db.session.commit()
    return render_template("signups/inbox.html", notes=notes, unread=unread)

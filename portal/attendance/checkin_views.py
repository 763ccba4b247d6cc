"""Self check-in on site: the organizer's screen at the gate and the volunteer's scan pages.

The screen (``/organize/shifts/<id>/checkin-screen``) shows a QR code of the current link and
the link as text; ``checkin.js`` fetches a fresh one from ``…/checkin-screen.json`` every
20 seconds, and without JavaScript the page reloads itself every minute.

The link (``/checkin/<shift>/<code>``) only *shows* what will happen (GET changes nothing, so
WeChat's link preview or a prefetcher cannot check anybody in); the big button POSTs the
check-in or check-out and the person lands on ``/checkin/<shift>``, which says what happened.
"""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from wtforms import HiddenField

from portal import permissions
from portal.attendance import selfcheck
from portal.attendance.selfcheck import SelfCheckError
from portal.extensions import db
from portal.models import Shift
from portal.signups import places
from portal.timeutil import now_utc

bp = Blueprint("checkin", __name__)

REFRESH_SECONDS = 20


class ConfirmForm(FlaskForm):
    """The big button: CSRF plus the ticket the scan page issued."""

    ticket = HiddenField()


def _private(response: Response) -> Response:
    # The URL carries a code: keep it out of caches and other sites' Referer headers.
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


def _qr_svg(url: str) -> str:
    import segno

    return segno.make(url, error="m").svg_inline(
        scale=8, border=2, omitsize=True, title=_("签到二维码")
    )


def _screen_data(shift: Shift) -> dict:
    now = now_utc()
    code = selfcheck.screen_code(shift, now)
    state, message = selfcheck.screen_state(shift, now)
    link = url_for("checkin.scan", shift_id=shift.id, code=code, _external=True) if code else None
    checked_in, confirmed = selfcheck.counts(shift)
    return {
        "state": state,
        "message": message,
        "link": link,
        "svg": _qr_svg(link) if link else None,
        "checked_in": checked_in,
        "confirmed": confirmed,
        "counts": _("已签到 %(n)d / 已确认 %(m)d", n=checked_in, m=confirmed),
        "refresh": REFRESH_SECONDS,
    }


# --- the organizer's screen -----------------------------------------------------------------


@bp.route("/organize/shifts/<int:shift_id>/checkin-screen")
@login_required
def screen(shift_id: int):
    shift = permissions.get_shift_or_403(shift_id)
    return _private(
        Response(
            render_template(
                "checkin/screen.html", shift=shift, activity=shift.activity, **_screen_data(shift)
            )
        )
    )


@bp.route("/organize/shifts/<int:shift_id>/checkin-screen.json")
@login_required
def screen_json(shift_id: int):
    shift = permissions.get_shift_or_403(shift_id)
    return _private(jsonify(_screen_data(shift)))


# --- the volunteer's side -------------------------------------------------------------------


@bp.route("/checkin/<int:shift_id>/<code>")
@login_required
def scan(shift_id: int, code: str):
    shift = db.get_or_404(Shift, shift_id)
    try:
        visit = selfcheck.open_link(current_user, shift, code, now_utc())
    except SelfCheckError as exc:
        return _private(Response(_result(shift, str(exc), ok=False)))
    form = ConfirmForm(ticket=visit.ticket)
    return _private(
        Response(
            render_template(
                "checkin/scan.html", shift=shift, visit=visit, form=form, A=selfcheck.Action
            )
        )
    )


@bp.route("/checkin/<int:shift_id>/<code>", methods=["POST"])
@login_required
def confirm(shift_id: int, code: str):
    shift = db.get_or_404(Shift, shift_id)
    form = ConfirmForm()
    if not form.validate_on_submit():
        return _private(Response(_result(shift, _("页面已过期，请重新扫码。"), ok=False)))
    try:
        selfcheck.confirm(current_user, shift_id, form.ticket.data, now_utc())
    except SelfCheckError as exc:
        db.session.rollback()
        return _private(Response(_result(shift, str(exc), ok=False)))
    db.session.commit()
    return redirect(url_for("checkin.status", shift_id=shift_id))


@bp.route("/checkin/<int:shift_id>")
@login_required
def status(shift_id: int):
    """Where the person stands on this shift (the page after the button)."""
    shift = db.get_or_404(Shift, shift_id)
    signup = places.active_signup(current_user.id, shift.id)
    if signup is None:
        return _result(shift, _("你没有报名这个班次。"), ok=False)
    return _result(shift, selfcheck.state_message(signup, shift), ok=True, signup=signup)


def _result(shift: Shift, message: str, ok: bool, signup=None) -> str:
    return render_template(
        "checkin/result.html", shift=shift, message=message, ok=ok, signup=signup
    )

"""Home page, health check, language and large-text switches."""

from __future__ import annotations

from datetime import timedelta

from flask import Blueprint, jsonify, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import text

from portal.browse import services as browse
from portal.extensions import db
from portal.signups.services import map_link, next_signup
from portal.timeutil import local_today
from portal.urls import is_safe_next

bp = Blueprint("main", __name__)

ONE_YEAR = 365 * 24 * 3600


@bp.route("/")
def home():
    today = local_today()
    # "This week" as the coming seven days: on a Saturday the calendar week is nearly over.
    this_week = browse.find_activities(
        browse.ActivityFilters(date_from=today, date_to=today + timedelta(days=6)),
        page=1,
        per_page=8,
    )
    mine = next_signup(current_user) if current_user.is_authenticated else None

    return render_template(
        "main/home.html",
        next_signup=mine,
        map_link=map_link,
        this_week=this_week,
        programmes=browse.programme_tree(),
        zones=browse.zones_overview(),
    )


@bp.route("/healthz")
def healthz():
    try:
        db.session.execute(text("SELECT 1"))
    except Exception:  # noqa: BLE001 - any database failure means unhealthy
        db.session.rollback()
        return jsonify(status="error", database="unreachable"), 503
    return jsonify(status="ok", database="ok")


def _back():
    target = request.form.get("next") or request.args.get("next")
    return redirect(target if is_safe_next(target) else url_for("main.home"))


@bp.route("/lang/<code>", methods=["POST"])
def set_language(code: str):
    from flask import current_app

    response = _back()
    if code in current_app.config["LANGUAGES"]:
        response.set_cookie("lang", code, max_age=ONE_YEAR, samesite="Lax", httponly=True)
    return response


@bp.route("/large-text", methods=["POST"])
def toggle_large_text():
    response = _back()
    turn_on = request.cookies.get("large") != "1"
    response.set_cookie("large", "1" if turn_on else "0", max_age=ONE_YEAR, samesite="Lax")
    return response

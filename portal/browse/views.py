"""Public browsing: the activity list with filters, activity, zone and programme pages."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, get_flashed_messages, render_template, request
from flask_login import current_user

from portal import pagecache, permissions
from portal.browse import services
from portal.browse import shift_rows as services_rows
from portal.browse.summary import date_span
from portal.extensions import db
from portal.models import Activity, Programme, Zone

bp = Blueprint("browse", __name__)
bp.add_app_template_global(date_span, "date_span")


def _list_page(template: str, **context):
    return pagecache.serve(lambda: _render_list_page(template, **context))


def _render_list_page(template: str, **context) -> str:
    filters = services.parse_filters(request.args)
    for key in ("zone_id", "programme_id"):
        if context.get(key):
            setattr(filters, key, context[key])
    page = services.parse_page(request.args.get("page"))
    if page is None:
        abort(404)
    result = services.find_activities(filters, page, current_app.config["PAGE_SIZE"])
    if page > 1 and not result.items:
        abort(404)
    args = {k: v for k, v in request.args.items() if k != "page"}
    # An upcoming shift leaves the list when it starts: the first start after the request
    # began, so one that starts while the list is worked out still bounds the page.
    pagecache.not_after(services.next_shift_start(pagecache.started_at()))
    return render_template(
        template,
        filters=filters,
        result=result,
        args=args,
        zones=db.session.scalars(db.select(Zone).order_by(Zone.name)).all(),
        programmes=services.programme_tree(),
        **context,
    )


@bp.route("/activities")
def activities():
    return _list_page("browse/activities.html")


@bp.route("/activities/<int:activity_id>")
def activity(activity_id: int):
    return pagecache.serve(lambda: _render_activity(activity_id))


def _render_activity(activity_id: int) -> str:
    activity = db.get_or_404(Activity, activity_id)
    if not permissions.can_view_activity(current_user, activity):
        abort(404)
    show_past = request.args.get("past") == "1"
    shifts = services.shifts_for_activity(activity, include_past=show_past)
    from portal.signups.services import shift_states_for, waitlist_positions

    states, mine = shift_states_for(current_user, shifts)
    by_signup = waitlist_positions(mine.values())  # one statement for every shift
    positions = {shift_id: by_signup[s.id] for shift_id, s in mine.items() if s.id in by_signup}
    flash_shift = services_rows.flash_target(request.args.get("shift"))
    days = services_rows.build_days(
        activity,
        shifts,
        states,
        mine,
        positions,
        user=current_user,
        flashes=tuple(get_flashed_messages(with_categories=True)) if flash_shift else (),
        flash_shift=flash_shift,
    )
    pagecache.not_after_any(services_rows.moments(activity, shifts))
    return render_template(
        "browse/activity.html",
        activity=activity,
        days=days,
        shift_count=len(shifts),
        show_past=show_past,
        day_labels=services_rows.day_labels,
    )


@bp.route("/zones")
def zones():
    return render_template("browse/zones.html", zones=services.zones_overview())


@bp.route("/zones/<int:zone_id>")
def zone(zone_id: int):
    zone = db.get_or_404(Zone, zone_id)
    return _list_page("browse/zone.html", zone=zone, zone_id=zone.id)


@bp.route("/programmes/<int:programme_id>")
def programme(programme_id: int):
    programme = db.get_or_404(Programme, programme_id)
    return _list_page("browse/programme.html", programme=programme, programme_id=programme.id)

"""Calendar feeds (bytes only; built in portal.feeds.ical) and the subscription page.

Feed responses never touch the Flask session (no Set-Cookie) and never render templates:
errors on feed URLs are short plain-text answers, so a calendar program gets a clear status.
"""

from __future__ import annotations

from datetime import datetime

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user, login_required
from sqlalchemy import select
from werkzeug.http import http_date

from portal import exports, permissions
from portal.extensions import db
from portal.feeds import services
from portal.feeds.forms import ReminderForm, ResetForm
from portal.feeds.services import FeedError, FeedScope
from portal.models import Activity, Programme, User, Zone

bp = Blueprint("feeds", __name__, url_prefix="/calendar")

CONTENT_TYPE = "text/calendar; charset=utf-8"
# Public feeds are the same for everyone: any cache may keep them for 15 minutes (calendar
# programs refresh hourly) and must then ask again with the ETag / Last-Modified.
PUBLIC_CACHE = "public, max-age=900"
# Personal feeds: only the person's own calendar program may keep a copy, and it must ask
# before each use (no-cache, not no-store: a kept copy is what makes the cheap 304 possible).
PRIVATE_CACHE = "private, no-cache"
_PLAIN_TOKEN_KEY = "feeds_new_token"


def _base_url() -> str:
    return request.host_url.rstrip("/")


def _plain(status: int, message: str) -> Response:
    response = Response(message + "\n", status=status, content_type="text/plain; charset=utf-8")
    response.headers["Cache-Control"] = "no-store"
    return response


def _not_modified(etag: str, last_modified: datetime | None) -> bool:
    """RFC 9110 13.2.2: If-None-Match when sent (weak comparison), else If-Modified-Since."""
    if request.if_none_match:
        return request.if_none_match.contains_weak(etag)
    since = request.if_modified_since
    return since is not None and last_modified is not None and last_modified <= since


def _calendar_response(
    body: bytes,
    etag: str,
    personal: bool,
    last_modified: datetime | None = None,
    filename: str | None = None,
):
    headers = {
        "ETag": f'"{etag}"',
        "Cache-Control": PRIVATE_CACHE if personal else PUBLIC_CACHE,
    }
    if last_modified is not None:
        headers["Last-Modified"] = http_date(last_modified)
    if personal:
        headers["X-Robots-Tag"] = "noindex, nofollow"
    if filename:
        headers["Content-Disposition"] = exports.attachment(filename)
    if _not_modified(etag, last_modified):
        return Response(status=304, headers=headers)
    return Response(body, status=200, content_type=CONTENT_TYPE, headers=headers)


def _serve(scope: FeedScope) -> Response:
    base = _base_url()
    # A client with an ETag is answered by it alone (RFC 9110 13.2.2): the cheapest probe.
    by_etag = bool(request.if_none_match)
    try:
        services.probe(scope, base, with_modified=not by_etag)
    except FeedError as error:
        return _plain(error.status, error.message)
    if by_etag and request.if_none_match.contains_weak(scope.etag):
        return _calendar_response(b"", scope.etag, scope.personal)
    if _not_modified(scope.etag, services.last_modified(scope)):
        return _calendar_response(b"", scope.etag, scope.personal, scope.last_modified)
    if scope.kind == "unit":
        # The probe checked the organizer in SQL; confirm with the named permission.
        owner = db.session.get(User, scope.user_id)
        if not permissions.can_manage_unit(owner_as_login(owner), scope.object_id):
            return _plain(403, _("你不是这个单位的组织者。"))
    body = services.feed_body(scope, base)
    return _calendar_response(body, scope.etag, scope.personal, scope.last_modified)


def owner_as_login(user: User | None):
    """Permissions expect a logged-in user object; the token stands in for the login."""
    if user is None or not user.is_active:
        return None
    return user


@bp.route("/all.ics")
def all_feed():
    return _serve(FeedScope("all"))


@bp.route("/zones/<int(max=2147483647):zone_id>.ics")
def zone_feed(zone_id: int):
    return _serve(FeedScope("zone", zone_id))


@bp.route("/programmes/<int(max=2147483647):programme_id>.ics")
def programme_feed(programme_id: int):
    return _serve(FeedScope("programme", programme_id))


@bp.route("/activities/<int(max=2147483647):activity_id>.ics")
def activity_feed(activity_id: int):
    return _serve(FeedScope("activity", activity_id))


@bp.route("/me/<token>.ics")
def personal_feed(token: str):
    return _serve(FeedScope("personal", token=token))


@bp.route("/units/<int(max=2147483647):unit_id>/<token>.ics")
def unit_feed(unit_id: int, token: str):
    return _serve(FeedScope("unit", unit_id, token=token))


@bp.route("/shifts/<int(max=2147483647):shift_id>.ics")
def shift_download(shift_id: int):
    try:
        shift = services.single_shift(shift_id)
    except FeedError as error:
        return _plain(error.status, error.message)
    body, etag = services.single_shift_body(shift, _base_url())
    return _calendar_response(
        body, etag, False, services.single_shift_modified(shift), filename=f"shift-{shift.id}.ics"
    )


# --- subscription page ----------------------------------------------------------------------


def platform_of(user_agent: str) -> str:
    """Pick the instructions to show first: wechat, iphone, xiaomi, android or desktop."""
    ua = user_agent or ""
    low = ua.lower()
    if "micromessenger" in low:
        return "wechat"
    if "iphone" in low or "ipad" in low:
        return "iphone"
    if any(k in low for k in ("xiaomi", "miui", "redmi", "hyperos", " mi ")):
        return "xiaomi"
    if "android" in low:
        return "android"
    return "desktop"


def _links(token: str) -> dict:
    https = url_for("feeds.personal_feed", token=token, _external=True)
    webcal = "webcal://" + https.split("://", 1)[1]
    return {"https": https, "webcal": webcal}


def _qr_svg(url: str) -> str:
    import segno

    return segno.make(url, error="m").svg_inline(scale=5, border=2, title=_("日历订阅二维码"))


@bp.route("/subscribe")
@login_required
def subscribe():
    token_row = services.active_token(current_user)
    plain = session.pop(_PLAIN_TOKEN_KEY, None)
    links = qr = None
    unit_links = []
    if plain and token_row is not None and services.hash_token(plain) == token_row.token_hash:
        links = _links(plain)
        qr = _qr_svg(links["https"])
        for unit in sorted(current_user.units, key=lambda u: u.name):
            https = url_for("feeds.unit_feed", unit_id=unit.id, token=plain, _external=True)
            unit_links.append((unit, https, "webcal://" + https.split("://", 1)[1]))
    reminder = ReminderForm(minutes=str((token_row.alarm_minutes or 0) if token_row else 0))
    response = current_app.make_response(
        render_template(
            "feeds/subscribe.html",
            token_row=token_row,
            links=links,
            qr=qr,
            unit_links=unit_links,
            platform=platform_of(request.user_agent.string),
            reminder=reminder,
            reset_form=ResetForm(),
            public_feed=url_for("feeds.all_feed", _external=True),
            window=services.WINDOWS["personal"],
        )
    )
    # The page may carry the secret link: keep it out of shared caches and history stores.
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


def _webcal(https: str) -> str:
    return "webcal://" + https.split("://", 1)[1]


@bp.route("/public", defaults={"kind": "all", "object_id": None})
@bp.route("/public/<any(zones, programmes, activities):kind>/<int(max=2147483647):object_id>")
def public_subscribe(kind: str, object_id: int | None):
    """Show visitors how to subscribe to a public feed: links, QR code, per-phone how-to."""
    if kind == "all":
        name, https = _("全部活动"), url_for("feeds.all_feed", _external=True)
    elif kind == "zones":
        zone = db.get_or_404(Zone, object_id)
        name = _("%(zone)s片区的活动", zone=zone.name)
        https = url_for("feeds.zone_feed", zone_id=zone.id, _external=True)
    elif kind == "programmes":
        programme = db.get_or_404(Programme, object_id)
        name, https = (
            programme.name,
            url_for("feeds.programme_feed", programme_id=programme.id, _external=True),
        )
    else:
        activity = db.get_or_404(Activity, object_id)
        if not permissions.can_view_activity(current_user, activity):
            abort(404)
        name, https = (
            activity.title,
            url_for("feeds.activity_feed", activity_id=activity.id, _external=True),
        )
    feed_kind = {"all": "all", "zones": "zone", "programmes": "programme"}.get(kind, "activity")
    choices = zones = None
    if kind in {"all", "zones"}:
        # A district-wide calendar is a lot: offer the narrower ones next to it.
        from portal.browse.services import programme_tree

        choices = programme_tree()
        if kind == "all":
            zones = db.session.scalars(select(Zone).order_by(Zone.name)).all()
    return render_template(
        "feeds/public_subscribe.html",
        name=name,
        kind=kind,
        window=services.WINDOWS[feed_kind],
        full_year=services.WINDOWS[feed_kind].days_ahead >= services.DAYS_AHEAD,
        programmes=choices,
        zones=zones,
        links={"https": https, "webcal": _webcal(https)},
        qr=_qr_svg(https),
        platform=platform_of(request.user_agent.string),
    )


@bp.route("/subscribe/new", methods=["POST"])
@login_required
def new_link():
    form = ResetForm()
    if not form.validate_on_submit():
        abort(400)
    had = services.active_token(current_user) is not None
    plain = services.issue_token(current_user)
    from portal.audit.services import record

    record(
        "calendar.token_reset" if had else "calendar.token_create",
        current_user,
        summary="日历订阅链接已重新生成" if had else "日历订阅链接已生成",
    )
    db.session.commit()
    session[_PLAIN_TOKEN_KEY] = plain
    flash(_("新的订阅链接已生成，旧链接立即失效。") if had else _("订阅链接已生成。"), "success")
    return redirect(url_for("feeds.subscribe"))


@bp.route("/subscribe/reminder", methods=["POST"])
@login_required
def reminder():
    form = ReminderForm()
    if not form.validate_on_submit():
        flash(_("请选择列表中的提醒时间。"), "error")
        return redirect(url_for("feeds.subscribe"))
    try:
        services.set_alarm(current_user, int(form.minutes.data))
    except FeedError as error:
        db.session.rollback()
        flash(error.message, "error")
        return redirect(url_for("feeds.subscribe"))
    db.session.commit()
    flash(_("提醒设置已保存，日历下次刷新时生效。"), "success")
    return redirect(url_for("feeds.subscribe"))


@bp.record_once
def _install_log_filter(state) -> None:
    import logging

    from portal.feeds import install_log_filter

    install_log_filter(
        logging.getLogger("werkzeug"), logging.getLogger("gunicorn.access"), state.app.logger
    )

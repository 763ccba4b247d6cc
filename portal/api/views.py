"""Read-only open data under /api/v1/: activities, shifts, zones, programmes.

No personal data: no names, phone numbers or sign-up lists; only counts. Filters are the
list page's (portal.browse.services), so the API and the website always agree.
"""

from __future__ import annotations

from datetime import datetime

from flask import Blueprint, Response, current_app, jsonify, request, url_for
from sqlalchemy import func, select
from sqlalchemy.orm import joinedload, selectinload

from portal import pagecache
from portal.api.openapi import document
from portal.browse import services as browse
from portal.extensions import db
from portal.models import (
    Activity,
    Programme,
    Shift,
    ShiftStatus,
    Signup,
    SignupStatus,
)

bp = Blueprint("api", __name__, url_prefix="/api/v1")

MAX_PER_PAGE = 100
DEFAULT_PER_PAGE = 20


class ApiError(Exception):
    def __init__(self, status: int, message: str, details: list[str] | None = None):
        super().__init__(message)
        self.status, self.message, self.details = status, message, details or []


@bp.errorhandler(ApiError)
def _api_error(error: ApiError):
    body = {"error": {"code": error.status, "message": error.message}}
    if error.details:
        body["error"]["details"] = error.details
    return jsonify(body), error.status


@bp.after_request
def _open_data_headers(response: Response) -> Response:
    response.headers["Access-Control-Allow-Origin"] = "*"
    response.headers.setdefault("Cache-Control", "public, max-age=60")
    return response


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _paging() -> tuple[int, int]:
    page = browse.parse_page(request.args.get("page"))
    if page is None:
        raise ApiError(400, "page must be an integer from 1 to 10000")
    raw = request.args.get("per_page")
    if raw in (None, ""):
        return page, DEFAULT_PER_PAGE
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_PER_PAGE:
        raise ApiError(400, f"per_page must be an integer from 1 to {MAX_PER_PAGE}")
    return page, int(raw)


def _page_body(items: list, page: int, per_page: int, total: int) -> dict:
    return {
        "items": items,
        "page": page,
        "per_page": per_page,
        "total": total,
        "pages": max((total + per_page - 1) // per_page, 1),
    }


def _ref(obj) -> dict:
    return {"id": obj.id, "name": obj.name}


def _activity(a: Activity) -> dict:
    return {
        "id": a.id,
        "title": a.title,
        "kind": a.kind.value,
        "status": a.status.value,
        "description": a.description or "",
        "place": a.place,
        "latitude": a.latitude,
        "longitude": a.longitude,
        "zone": _ref(a.zone),
        "unit": _ref(a.unit),
        "programmes": [{"id": p.id, "code": p.code, "name": p.name} for p in a.programmes],
        "url": url_for("browse.activity", activity_id=a.id, _external=True),
        "calendar_url": url_for("feeds.activity_feed", activity_id=a.id, _external=True),
    }


def _confirmed_counts(shift_ids: list[int]) -> dict[int, int]:
    if not shift_ids:
        return {}
    rows = db.session.execute(
        select(Signup.shift_id, func.count(Signup.id))
        .where(Signup.shift_id.in_(shift_ids), Signup.status == SignupStatus.CONFIRMED)
        .group_by(Signup.shift_id)
    ).all()
    return dict(rows)


def _shift(s: Shift, confirmed: dict[int, int], with_activity: bool = False) -> dict:
    body = {
        "id": s.id,
        "activity_id": s.activity_id,
        "starts_at": _iso(s.starts_at),
        "ends_at": _iso(s.ends_at),
        "post_name": s.post_name or "",
        "status": (ShiftStatus.CANCELLED if s.is_off else ShiftStatus.SCHEDULED).value,
        "capacity": s.capacity,
        "confirmed": confirmed.get(s.id, 0),
        "taken": s.taken_count,
        "waitlist": s.waitlist_count,
        "places_left": s.spots_left,
        "requires_approval": s.requires_approval,
        "waitlist_enabled": s.waitlist_enabled,
        "signup_opens_at": _iso(s.signup_opens_at),
        "signup_closes_at": _iso(s.signup_closes_at),
        "calendar_url": url_for("feeds.shift_download", shift_id=s.id, _external=True),
    }
    if with_activity:
        body["activity_title"] = s.activity.title
        body["zone"] = _ref(s.activity.zone)
    return body


def _filters():
    f = browse.parse_filters(request.args)
    if f.problems:
        raise ApiError(400, "invalid filter", [str(p) for p in f.problems])
    return f


@bp.route("/openapi.json")
def openapi():
    return jsonify(document())


@bp.route("/activities")
def activities():
    f = _filters()
    page, per_page = _paging()
    result = browse.find_activities(f, page, per_page)
    items = []
    for row in result.items:
        body = _activity(row.activity)
        body.update(
            next_start=_iso(row.next_start),
            shift_count=row.shift_count,
            places_left=row.places_left,
        )
        items.append(body)
    return jsonify(_page_body(items, page, per_page, result.total))


@bp.route("/activities/<int(max=2147483647):activity_id>")
def activity(activity_id: int):
    a = db.session.scalar(
        select(Activity)
        .where(Activity.id == activity_id, Activity.is_public)
        .options(
            selectinload(Activity.programmes), joinedload(Activity.zone), joinedload(Activity.unit)
        )
    )
    if a is None:
        raise ApiError(404, "no such activity")
    past = request.args.get("past", "0")
    if past not in {"0", "1"}:
        raise ApiError(400, "past must be 0 or 1")
    shifts = browse.shifts_for_activity(a, include_past=past == "1")
    confirmed = _confirmed_counts([s.id for s in shifts])
    body = _activity(a)
    body["shifts"] = [_shift(s, confirmed) for s in shifts]
    return jsonify(body)


@bp.route("/shifts")
def shifts():
    f = _filters()
    page, per_page = _paging()
    activity_id = None
    raw_activity = request.args.get("activity")
    if raw_activity:
        if not raw_activity.isdigit() or not 0 < int(raw_activity) < 2**31:
            raise ApiError(400, "activity must be a positive integer")
        activity_id = int(raw_activity)
    # The exact total counts every matching upcoming shift (~50,000 at S=1): the answer is
    # kept by the page cache until the data changes or the next shift starts.
    body = pagecache.serve(lambda: _shifts_body(f, page, per_page, activity_id))
    return Response(body, mimetype=current_app.json.mimetype)


def _shifts_body(f, page: int, per_page: int, activity_id: int | None) -> str:
    # A shift leaves the window when it starts (the first after the request began).
    pagecache.not_after(browse.next_start_of_any_shift(pagecache.started_at()))
    stmt = browse.shift_query(f, activity_id=activity_id)
    total = browse.count_shifts(f, activity_id=activity_id)
    rows = db.session.scalars(stmt.limit(per_page).offset((page - 1) * per_page)).unique().all()
    confirmed = _confirmed_counts([s.id for s in rows])
    items = [_shift(s, confirmed, with_activity=True) for s in rows]
    return jsonify(_page_body(items, page, per_page, total or 0)).get_data(as_text=True)


@bp.route("/shifts/<int(max=2147483647):shift_id>")
def shift(shift_id: int):
    s = db.session.scalar(
        select(Shift)
        .join(Shift.activity)
        .where(Shift.id == shift_id, Activity.is_public)
        .options(joinedload(Shift.activity).joinedload(Activity.zone))
    )
    if s is None:
        raise ApiError(404, "no such shift")
    return jsonify(_shift(s, _confirmed_counts([s.id]), with_activity=True))


@bp.route("/zones")
def zones():
    items = [
        {
            "id": z.id,
            "name": z.name,
            "street": z.street or "",
            "population": z.population,
            "upcoming_shifts": n,
            "calendar_url": url_for("feeds.zone_feed", zone_id=z.id, _external=True),
        }
        for z, n in browse.zones_overview()
    ]
    return jsonify({"items": items})


@bp.route("/programmes")
def programmes():
    rows = db.session.scalars(select(Programme).order_by(Programme.position, Programme.id)).all()
    items = [
        {
            "id": p.id,
            "code": p.code,
            "name": p.name,
            "parent_id": p.parent_id,
            "description": p.description or "",
            "calendar_url": url_for("feeds.programme_feed", programme_id=p.id, _external=True),
        }
        for p in rows
    ]
    return jsonify({"items": items})


@bp.route("/<path:anything>")
def not_found(anything: str):
    raise ApiError(404, "no such endpoint")

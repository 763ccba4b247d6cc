"""Feed tokens, feed queries, ETags and the in-process caches.

Each feed is described by a :class:`FeedScope`. Answering a request costs:
- one statement (:func:`probe`): token lookup, permission and a cheap aggregate (count and
  latest change of the rows in the feed) from which the strong ETag is computed. When the
  client already has that ETag, the view answers 304 right there;
- on a miss, the body cache keyed by the ETag; only when that misses too, the rows are loaded
  and each VEVENT's bytes come from the event cache unless that event changed.

The ETag covers: format version, feed kind and id, token id and reminder, the local day (the
window moves daily), host and base URL, the feed's name, and count + latest ``updated_at`` of
the shifts, activities (and sign-ups for personal and unit feeds) in the window; for the
personal feed also the person's attendance and hours (how many recorded, how many no-shows,
how many confirmed, the sum of hours and the latest confirmation), so a change of attendance
or hours changes the ETag even if it left ``updated_at`` alone. Renaming a
zone or unit (tables without ``updated_at``) reaches event text by the next day at the latest.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import ColumnElement, Select, and_, case, func, literal, or_, select, true
from sqlalchemy.orm import contains_eager, defer

from portal.extensions import db
from portal.feeds import ical
from portal.models import (
    ACTIVE_STATUSES,
    Activity,
    Attendance,
    CalendarToken,
    Programme,
    Shift,
    Signup,
    SignupStatus,
    Unit,
    User,
    Zone,
    activity_programmes,
    shift_is_live,
    unit_organizers,
)
from portal.timeutil import local_day_bounds, local_today, now_utc

FORMAT_VERSION = "6"  # bump when the rendering changes so every ETag changes too
DAYS_BACK = 60
DAYS_AHEAD = 365
ALARM_CHOICES = (0, 10, 15, 30, 60, 120, 1440)
TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{40,64}$")


class FeedError(Exception):
    """A feed request that cannot be answered; ``status`` is the HTTP status to send."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


# --- tokens ---------------------------------------------------------------------------------


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("ascii", "replace")).hexdigest()


def active_token(user: User) -> CalendarToken | None:
    """The person's live token row, if any."""
    return db.session.scalar(
        select(CalendarToken)
        .where(CalendarToken.user_id == user.id, CalendarToken.revoked_at.is_(None))
        .order_by(CalendarToken.id.desc())
        .limit(1)
    )


def issue_token(user: User, alarm_minutes: int | None = None) -> str:
    """Revoke the person's old links and return a new secret (only its hash is stored)."""
    now = now_utc()
    old = active_token(user)
    if old is not None and alarm_minutes is None:
        alarm_minutes = old.alarm_minutes
    for row in db.session.scalars(
        select(CalendarToken).where(
            CalendarToken.user_id == user.id, CalendarToken.revoked_at.is_(None)
        )
    ):
        row.revoked_at = now
    plain = secrets.token_urlsafe(32)  # 256 bits
    db.session.add(
        CalendarToken(user_id=user.id, token_hash=hash_token(plain), alarm_minutes=alarm_minutes)
    )
    db.session.flush()
    return plain


def set_alarm(user: User, minutes: int) -> CalendarToken:
    """Change the reminder on the person's feed (0 = no reminder)."""
    if minutes not in ALARM_CHOICES:
        raise FeedError(400, _("请选择列表中的提醒时间。"))
    token = active_token(user)
    if token is None:
        raise FeedError(400, _("请先生成日历订阅链接。"))
    token.alarm_minutes = minutes or None
    db.session.flush()
    return token


# --- scopes ---------------------------------------------------------------------------------


@dataclass
class FeedScope:
    """Which feed: ``kind`` is all / zone / programme / activity / personal / unit."""

    kind: str
    object_id: int | None = None
    token: str | None = None
    # Filled in by probe():
    etag: str = ""
    name: str = ""
    user_id: int | None = None
    alarm_minutes: int | None = None
    day: date | None = None
    extra: dict = field(default_factory=dict)

    @property
    def personal(self) -> bool:
        return self.kind in {"personal", "unit"}


@dataclass(frozen=True)
class Window:
    start: datetime  # shifts ending before this are out
    end: datetime  # shifts starting from this are out
    cancelled_cutoff: datetime  # cancelled shifts ending before this are out

    @classmethod
    def for_day(cls, day: date) -> Window:
        return cls(
            start=local_day_bounds(day - timedelta(days=DAYS_BACK))[0],
            end=local_day_bounds(day + timedelta(days=DAYS_AHEAD))[1],
            cancelled_cutoff=local_day_bounds(day - timedelta(days=1))[0],
        )


def _window_cond(w: Window) -> ColumnElement[bool]:
    return and_(
        Shift.ends_at >= w.start,
        Shift.starts_at < w.end,
        or_(shift_is_live(), Shift.ends_at >= w.cancelled_cutoff),
    )


def _programme_ids(scope: FeedScope):
    """A recursive CTE: the programme and every descendant (one statement, built once)."""
    if "ptree" not in scope.extra:
        tree = (
            select(Programme.id)
            .where(Programme.id == scope.object_id)
            .cte("ptree", recursive=True)
        )
        tree = tree.union_all(select(Programme.id).join(tree, Programme.parent_id == tree.c.id))
        scope.extra["ptree"] = tree
    return select(scope.extra["ptree"].c.id)


def _public_cond(scope: FeedScope) -> ColumnElement[bool]:
    cond = Activity.is_public
    if scope.kind == "zone":
        cond = and_(cond, Activity.zone_id == scope.object_id)
    elif scope.kind == "programme":
        cond = and_(
            cond,
            Activity.id.in_(
                select(activity_programmes.c.activity_id).where(
                    activity_programmes.c.programme_id.in_(_programme_ids(scope))
                )
            ),
        )
    elif scope.kind == "activity":
        cond = and_(cond, Activity.id == scope.object_id)
    elif scope.kind == "unit":
        cond = and_(Activity.is_public, Activity.unit_id == scope.object_id)
    return cond


def _personal_signup_cond(user_id) -> ColumnElement[bool]:
    return and_(
        Signup.user_id == user_id,
        Signup.status.in_((*ACTIVE_STATUSES, SignupStatus.CANCELLED, SignupStatus.REJECTED)),
        Activity.is_public,
    )


def _aggregate_columns(scope: FeedScope, w: Window, user_id) -> list:
    """Scalar subqueries: row count and latest changes of everything the feed shows."""

    def over(*exprs):
        if scope.kind == "personal":
            stmt = (
                select(*exprs)
                .select_from(Signup)
                .join(Shift, Signup.shift_id == Shift.id)
                .join(Activity, Shift.activity_id == Activity.id)
                .where(_personal_signup_cond(user_id), _window_cond(w))
            )
        else:
            stmt = (
                select(*exprs)
                .select_from(Shift)
                .join(Activity, Shift.activity_id == Activity.id)
                .where(_public_cond(scope), _window_cond(w))
            )
        return stmt.scalar_subquery()

    cols = [
        over(func.count(Shift.id)).label("a0"),
        over(func.max(Shift.updated_at)).label("a1"),
        over(func.max(Activity.updated_at)).label("a2"),
    ]
    if scope.kind == "personal":
        cols += [
            over(func.max(Signup.updated_at)).label("a3"),
            over(func.count(Signup.id)).label("a4"),
            # attendance and hours: what the person's events say about how it went
            over(func.count(Signup.attendance)).label("a5"),
            over(func.sum(case((Signup.attendance == Attendance.NO_SHOW, 1), else_=0))).label(
                "a6"
            ),
            over(func.count(Signup.hours_confirmed_at)).label("a7"),
            over(func.max(Signup.hours_confirmed_at)).label("a8"),
            over(func.sum(Signup.hours)).label("a9"),
        ]
    if scope.kind == "unit":
        in_feed = (
            select(Shift.id)
            .join(Activity, Shift.activity_id == Activity.id)
            .where(_public_cond(scope), _window_cond(w))
        )
        cols += [
            select(func.count(Signup.id))
            .where(Signup.shift_id.in_(in_feed))
            .scalar_subquery()
            .label("s0"),
            select(func.max(Signup.updated_at))
            .where(Signup.shift_id.in_(in_feed))
            .scalar_subquery()
            .label("s1"),
        ]
    return cols


def _probe_statement(scope: FeedScope, w: Window) -> Select:
    if scope.personal:
        token = CalendarToken
        user_id = token.user_id
        cols = [
            token.id,
            token.user_id,
            token.alarm_minutes,
            token.revoked_at,
            User.active,
            User.deleted_at,
            User.real_name,
        ]
        if scope.kind == "unit":
            managed = or_(
                User.is_admin == true(),
                select(unit_organizers.c.unit_id)
                .where(
                    unit_organizers.c.user_id == token.user_id,
                    unit_organizers.c.unit_id == scope.object_id,
                )
                .exists(),
            )
            cols += [
                managed.label("allowed"),
                select(Unit.name).where(Unit.id == scope.object_id).scalar_subquery().label("nm"),
            ]
        stmt = (
            select(*cols, *_aggregate_columns(scope, w, user_id))
            .select_from(token)
            .join(User, User.id == token.user_id)
            .where(token.token_hash == hash_token(scope.token or ""))
        )
        return stmt
    name_col = {
        "all": literal(""),
        "zone": select(Zone.name).where(Zone.id == scope.object_id).scalar_subquery(),
        "programme": select(Programme.name)
        .where(Programme.id == scope.object_id)
        .scalar_subquery(),
        "activity": select(Activity.title)
        .where(Activity.id == scope.object_id, Activity.is_public)
        .scalar_subquery(),
    }[scope.kind]
    return select(name_col.label("nm"), *_aggregate_columns(scope, w, None))


def _stamp(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def probe(scope: FeedScope, base_url: str) -> FeedScope:
    """Check access and compute the ETag in ONE statement; raise FeedError on refusal."""
    if scope.personal and not TOKEN_RE.match(scope.token or ""):
        raise FeedError(410, _("这个日历链接已失效，请登录后重新生成。"))
    day = local_today()
    w = Window.for_day(day)
    row = db.session.execute(_probe_statement(scope, w)).mappings().first()
    portal = current_app.config["PORTAL_NAME"]
    if scope.personal:
        if row is None or row["revoked_at"] is not None:
            raise FeedError(410, _("这个日历链接已失效，请登录后重新生成。"))
        if not row["active"] or row["deleted_at"] is not None:
            raise FeedError(410, _("这个日历链接已失效，请登录后重新生成。"))
        scope.user_id = row["user_id"]
        scope.alarm_minutes = row["alarm_minutes"]
        if scope.kind == "unit":
            if row["nm"] is None:
                raise FeedError(404, _("没有这个单位。"))
            if not row["allowed"]:
                raise FeedError(403, _("你不是这个单位的组织者。"))
            scope.name = f"{row['nm']} · 全部班次"
        else:
            scope.name = "我的志愿服务与活动"
        identity = f"t{row['id']}|a{row['alarm_minutes']}"
    else:
        if scope.kind != "all" and row["nm"] is None:
            raise FeedError(404, _("没有找到这个日历。"))
        scope.name = {
            "all": f"{portal} · 全部活动",
            "zone": f"{row['nm']}片区 · 活动日历",
            "programme": f"{row['nm']} · 活动日历",
            "activity": f"{row['nm']}",
        }[scope.kind]
        identity = "public"
    aggregates = "|".join(_stamp(row[k]) for k in row.keys() if k[:1] in "as" and k[1:].isdigit())
    raw = "|".join(
        [
            FORMAT_VERSION,
            scope.kind,
            str(scope.object_id),
            identity,
            day.isoformat(),
            current_app.config["PORTAL_HOST"],
            base_url,
            str(current_app.config["FEED_REFRESH_MINUTES"]),
            scope.name,
            aggregates,
        ]
    )
    scope.day = day
    scope.etag = hashlib.sha256(raw.encode()).hexdigest()[:40]
    return scope


# --- loading rows ---------------------------------------------------------------------------


def _shift_query(with_counts: bool) -> Select:
    stmt = (
        select(Shift)
        .join(Shift.activity)
        .options(
            contains_eager(Shift.activity).joinedload(Activity.zone),
            contains_eager(Shift.activity).joinedload(Activity.unit),
            # long texts the calendar never shows
            contains_eager(Shift.activity).defer(Activity.description),
            contains_eager(Shift.activity).defer(Activity.requirements),
            contains_eager(Shift.activity).defer(Activity.risk_notice),
        )
        .order_by(Shift.starts_at, Shift.id)
    )
    if not with_counts:
        stmt = stmt.options(defer(Shift.taken_count), defer(Shift.waitlist_count))
    return stmt


def feed_items(scope: FeedScope, base_url: str) -> list[tuple[Shift, ical.EventOptions]]:
    """The (shift, options) pairs of a probed feed, in time order."""
    host = current_app.config["PORTAL_HOST"]
    w = Window.for_day(scope.day or local_today())
    if scope.kind == "personal":
        return _personal_items(scope, w, host, base_url)
    stmt = _shift_query(scope.kind == "unit").where(_public_cond(scope), _window_cond(w))
    shifts = db.session.scalars(stmt).unique().all()
    items = []
    for s in shifts:
        counts = (s.taken_count, s.capacity, s.waitlist_count) if scope.kind == "unit" else None
        items.append((s, ical.EventOptions(host=host, base_url=base_url, counts=counts)))
    return items


def _cancelled_by_event(signup: Signup) -> bool:
    """A cancelled sign-up stays only when the shift's own cancellation ended it."""
    shift = signup.shift
    if not shift.is_off:
        return False
    off_at = shift.cancelled_at if shift.is_cancelled else shift.activity.cancelled_at
    if signup.cancelled_at is None or off_at is None:
        return True
    return signup.cancelled_at >= off_at - timedelta(minutes=1)


def _withdrawn_by_organizer(signup: Signup) -> bool:
    """Removed or rejected by someone else: the person should see it cancelled, not vanish."""
    return (
        signup.status in (SignupStatus.CANCELLED, SignupStatus.REJECTED)
        and signup.decided_by_id is not None
        and signup.decided_by_id != signup.user_id
    )


def _rank(signup: Signup) -> tuple[bool, bool]:
    """Which of a person's sign-ups on one shift the event shows (higher wins)."""
    return (signup.attendance is not None, signup.is_active)


def _personal_items(scope, w, host, base_url):
    stmt = (
        select(Signup)
        .join(Signup.shift)
        .join(Shift.activity)
        .options(
            contains_eager(Signup.shift)
            .contains_eager(Shift.activity)
            .joinedload(Activity.zone),
            contains_eager(Signup.shift).contains_eager(Shift.activity).joinedload(Activity.unit),
            contains_eager(Signup.shift).defer(Shift.taken_count),
            contains_eager(Signup.shift).defer(Shift.waitlist_count),
        )
        .where(_personal_signup_cond(scope.user_id), _window_cond(w))
        .order_by(Shift.starts_at, Shift.id, Signup.id)
    )
    chosen: dict[int, Signup] = {}
    for signup in db.session.scalars(stmt).unique():
        keep = (
            signup.is_active
            or signup.attendance is not None
            or _cancelled_by_event(signup)
            or _withdrawn_by_organizer(signup)
        )
        if not keep:
            continue
        current = chosen.get(signup.shift_id)
        # One event per shift: recorded attendance wins, then an active sign-up over an
        # older cancelled one.
        if current is None or _rank(signup) >= _rank(current):
            chosen[signup.shift_id] = signup
    items = []
    for signup in sorted(chosen.values(), key=lambda s: (s.shift.starts_at, s.shift_id)):
        status = signup.status if signup.is_active else None
        stamps = [t for t in (signup.updated_at, signup.hours_confirmed_at) if t is not None]
        items.append(
            (
                signup.shift,
                ical.EventOptions(
                    host=host,
                    base_url=base_url,
                    signup_status=status,
                    signup_changed_at=max(stamps) if stamps else None,
                    alarm_minutes=scope.alarm_minutes,
                    withdrawn_reason=(
                        signup.reason or "" if _withdrawn_by_organizer(signup) else None
                    ),
                    attendance=signup.attendance,
                    hours=signup.hours,
                    hours_confirmed=signup.hours_confirmed_at is not None,
                ),
            )
        )
    return items


# --- caches ---------------------------------------------------------------------------------


class LRU:
    """A tiny thread-safe LRU map."""

    def __init__(self, size: int):
        self.size = size
        self._data: OrderedDict = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key):
        with self._lock:
            value = self._data.get(key)
            if value is not None:
                self._data.move_to_end(key)
            return value

    def put(self, key, value) -> None:
        with self._lock:
            self._data[key] = value
            self._data.move_to_end(key)
            while len(self._data) > self.size:
                self._data.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._data.clear()

    def __len__(self) -> int:
        return len(self._data)


BODY_CACHE = LRU(64)  # ETag → feed body
EVENT_CACHE = LRU(20_000)  # event fingerprint → VEVENT bytes


def clear_caches() -> None:
    BODY_CACHE.clear()
    EVENT_CACHE.clear()
    ical.clear_memo()


def _fingerprint(shift: Shift, opts: ical.EventOptions) -> tuple:
    a = shift.activity
    return (
        FORMAT_VERSION,
        shift.id,
        shift.updated_at,
        shift.sequence,
        shift.status,
        shift.starts_at,
        shift.ends_at,
        shift.post_name,
        shift.cancel_reason,
        shift.cancelled_at,
        a.id,
        a.updated_at,
        a.status,
        a.kind,
        a.title,
        a.place,
        a.latitude,
        a.longitude,
        a.cancel_reason,
        a.cancelled_at,
        a.zone.name,
        a.unit.name,
        opts,
    )


def render_items(
    name: str, items: list[tuple[Shift, ical.EventOptions]], refresh_minutes: int
) -> bytes:
    """Serialize a feed, reusing the bytes of every event that did not change."""
    chunks = []
    for shift, opts in items:
        key = _fingerprint(shift, opts)
        chunk = EVENT_CACHE.get(key)
        if chunk is None:
            chunk = ical.event_bytes(shift, opts)
            EVENT_CACHE.put(key, chunk)
        chunks.append(chunk)
    frame = ical.calendar_frame(name, refresh_minutes=refresh_minutes)
    return ical.assemble(frame, chunks)


def feed_body(scope: FeedScope, base_url: str) -> bytes:
    """The body for a probed scope, from the body cache when its ETag was built before."""
    body = BODY_CACHE.get(scope.etag)
    if body is not None:
        return body
    items = feed_items(scope, base_url)
    body = render_items(scope.name, items, current_app.config["FEED_REFRESH_MINUTES"])
    BODY_CACHE.put(scope.etag, body)
    return body


# --- single shift ---------------------------------------------------------------------------


def single_shift(shift_id: int) -> Shift:
    """A shift of a public activity for the one-shot download, or FeedError(404)."""
    shift = db.session.scalars(
        _shift_query(False).where(
            Shift.id == shift_id, Activity.is_public
        )
    ).unique().first()
    if shift is None:
        raise FeedError(404, _("没有找到这个班次。"))
    return shift


def single_shift_body(shift: Shift, base_url: str) -> tuple[bytes, str]:
    host = current_app.config["PORTAL_HOST"]
    opts = ical.EventOptions(host=host, base_url=base_url)
    body = ical.to_bytes(ical.single_shift_calendar(shift, opts))
    etag = hashlib.sha256(FORMAT_VERSION.encode() + base_url.encode() + body).hexdigest()[:40]
    return body, etag

"""Feed tokens, feed windows, feed queries, ETags and the caches.

Each feed is described by a :class:`FeedScope` and shows a bounded window of events
(:data:`WINDOWS`): public feeds from today to 30 days ahead and at most 200 events (the first
ones in time), an activity's feed a year ahead, an organizer's unit feed a week back to 90
days ahead, a personal feed 60 days back to a year ahead; every body stays under
:data:`MAX_FEED_BYTES` (whole events are left off at the end, never cut). So subscribing
never floods a phone, and every build is bounded whatever the size of the district.

Answering a request costs:
- one statement (:func:`probe`): token lookup, permission and a cheap aggregate over the
  feed's own rows (count, id sums, latest changes; bounded by the window and ``LIMIT``) from
  which the strong ETag and the ``Last-Modified`` time are computed. When the client already
  has that ETag (or its copy is not older than ``Last-Modified``) the view answers 304 there;
- on a miss, the body cache keyed by the ETag (in this process, then in Redis when the
  portal has one: every worker and machine shares bodies built by another); only when that
  misses too, one statement selects the columns of the feed's rows (Core rows, no ORM
  objects) and each VEVENT comes from the event cache keyed by the row itself — every value
  the event shows, with the shift's and activity's ``updated_at`` and ``sequence`` — or is
  written by :mod:`portal.feeds.ical`.

The ETag covers: format version, feed kind and id, token id and reminder, the local day (the
window moves daily), host and base URL, the feed's name, and count, sum and sum of squares of
the shift ids + latest ``updated_at`` of the shifts and activities in the window (a shift
leaving and another entering changes the sums); for the unit feed the places taken and
waiting; for the personal feed also the sign-ups and the person's attendance and hours (how
many recorded, how many no-shows, how many confirmed, the sum of hours and the latest
confirmation). A renamed zone or unit raises the SEQUENCE (and ``updated_at``) of the shifts
that show it (portal.admin.services), so it reaches calendars at their next refresh.

``Last-Modified`` is the latest of those changes, the start of the local day, and the latest
audited change that can take an event out of a feed without leaving a newer row behind
(a deleted shift, an edit that moves a shift or activity out of a feed): so a copy "not
modified since" that time really is current.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Select,
    and_,
    bindparam,
    case,
    cast,
    func,
    literal,
    or_,
    select,
    true,
)
from sqlalchemy.orm import contains_eager, defer

from portal.dashboard import freshness
from portal.extensions import db
from portal.feeds import ical
from portal.models import (
    ACTIVE_STATUSES,
    Activity,
    ActivityStatus,
    Attendance,
    AuditEntry,
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

FORMAT_VERSION = "7"  # bump when the rendering changes so every ETag changes too
# Last-Modified is never older than the current format (a deploy that changes the rendering).
FORMAT_SINCE = datetime(2026, 12, 2, tzinfo=UTC)
DAYS_BACK = 60  # the furthest any feed reaches back (personal feeds)
DAYS_AHEAD = 365  # the furthest any feed reaches ahead
MAX_FEED_BYTES = 1_000_000  # CALENDAR.md 14: every body stays under 1 MB
# A shift starting this long before the window may still run into it (overnight shifts);
# the bound lets the database walk the start-time index from the window instead of from 0.
MAX_SHIFT_SPAN = timedelta(days=2)
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


# --- windows --------------------------------------------------------------------------------


@dataclass(frozen=True)
class WindowRule:
    """How much of the calendar a kind of feed carries (local days, counted from today)."""

    days_back: int  # shifts ending before the start of (today - days_back) are out
    days_ahead: int  # shifts starting from the end of (today + days_ahead) are out
    max_events: int  # at most this many events: the first ones in time


# Public feeds are for "what is coming up": a month, and never more events than a phone
# calendar can show without drowning the person's own (200: about a week of the demo
# district's 60 activities; the subscription page points to programme and zone calendars).
# An activity's own feed follows that one activity for a year; an organizer's unit feed
# keeps the last week for attendance and looks three months ahead; a person's own feed keeps
# 60 days of past shifts (attendance and hours) and a year ahead.
WINDOWS: dict[str, WindowRule] = {
    "all": WindowRule(days_back=0, days_ahead=30, max_events=200),
    "zone": WindowRule(days_back=0, days_ahead=30, max_events=200),
    "programme": WindowRule(days_back=0, days_ahead=30, max_events=200),
    "activity": WindowRule(days_back=0, days_ahead=DAYS_AHEAD, max_events=1000),
    "unit": WindowRule(days_back=7, days_ahead=90, max_events=1000),
    "personal": WindowRule(days_back=DAYS_BACK, days_ahead=DAYS_AHEAD, max_events=1000),
}


@dataclass(frozen=True)
class Window:
    start: datetime  # shifts ending before this are out
    end: datetime  # shifts starting from this are out
    cancelled_cutoff: datetime  # cancelled shifts ending before this are out
    max_events: int = WINDOWS["personal"].max_events

    @property
    def span_start(self) -> datetime:
        return self.start - MAX_SHIFT_SPAN

    @classmethod
    def for_day(cls, day: date, kind: str = "personal") -> Window:
        key = (day, kind, WINDOWS[kind], current_app.config["PORTAL_TIMEZONE"])
        window = _WINDOW_MEMO.get(key)
        if window is None:
            if len(_WINDOW_MEMO) > 64:
                _WINDOW_MEMO.clear()
            window = _WINDOW_MEMO[key] = cls._compute(day, kind)
        return window

    @classmethod
    def _compute(cls, day: date, kind: str) -> Window:
        rule = WINDOWS[kind]
        start = local_day_bounds(day - timedelta(days=rule.days_back))[0]
        # A cancelled shift stays until the day after it ended (CALENDAR.md 10), or until
        # it leaves the window, whichever comes first.
        cutoff = max(start, local_day_bounds(day - timedelta(days=1))[0])
        return cls(
            start=start,
            end=local_day_bounds(day + timedelta(days=rule.days_ahead))[1],
            cancelled_cutoff=cutoff,
            max_events=rule.max_events,
        )


_WINDOW_MEMO: dict[tuple, Window] = {}


def window_text(kind: str) -> str:
    """The window in plain Chinese, for the calendar's description and subscription pages."""
    rule = WINDOWS[kind]
    if rule.days_back:
        span = f"{rule.days_back}天前到{rule.days_ahead}天后"
    elif rule.days_ahead >= DAYS_AHEAD:
        span = "今天起一年内"
    else:
        span = f"今天起{rule.days_ahead}天内"
    return (
        f"包含{span}的班次，按时间先后最多{rule.max_events}个；"
        "已取消的班次标为“已取消”，结束后第二天移出。"
    )


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
    last_modified: datetime | None = None
    user_id: int | None = None
    alarm_minutes: int | None = None
    day: date | None = None
    extra: dict = field(default_factory=dict)

    @property
    def personal(self) -> bool:
        return self.kind in {"personal", "unit"}

    @property
    def window(self) -> Window:
        return Window.for_day(self.day or local_today(), self.kind)


class _Bound:
    """A window or scope whose values are bind parameters: statements are built once per
    kind of feed and reused (building one costs more than running it)."""

    def __init__(self, kind: str):
        stamp = Shift.starts_at.type
        self.kind = kind
        self.object_id = bindparam("oid")
        self.start = bindparam("w_start", type_=stamp)
        self.span_start = bindparam("w_span", type_=stamp)
        self.end = bindparam("w_end", type_=stamp)
        self.cancelled_cutoff = bindparam("w_cut", type_=stamp)
        self.max_events = WINDOWS[kind].max_events
        self.extra: dict = {}

    @property
    def personal(self) -> bool:
        return self.kind in {"personal", "unit"}


def _params(scope: FeedScope, w: Window) -> dict:
    return {
        "oid": scope.object_id,
        "w_start": w.start,
        "w_span": w.start - MAX_SHIFT_SPAN,
        "w_end": w.end,
        "w_cut": w.cancelled_cutoff,
        "th": hash_token(scope.token or ""),
    }


_STATEMENTS: dict[tuple[str, str], Select] = {}


def _statement(kind: str, purpose: str) -> Select:
    stmt = _STATEMENTS.get((kind, purpose))
    if stmt is None:
        bound = _Bound(kind)
        if purpose in {"probe", "probe_etag"}:
            stmt = _probe_statement(bound, bound, departures=purpose == "probe")
        elif purpose == "departures":
            stmt = select(*_departure_columns())
        else:
            stmt = _members(bound, bound, *_ROW_COLUMNS, named=True)
        _STATEMENTS[(kind, purpose)] = stmt
    return stmt


def _window_cond(w: Window) -> ColumnElement[bool]:
    return and_(
        Shift.starts_at >= w.span_start,  # lets the index on starts_at bound it
        Shift.ends_at >= w.start,
        Shift.starts_at < w.end,
        or_(shift_is_live(), Shift.ends_at >= w.cancelled_cutoff),
    )


def _programme_ids(scope: FeedScope):
    """A recursive CTE: the programme and every descendant (one statement, built once)."""
    if "ptree" not in scope.extra:
        tree = (
            select(Programme.id).where(Programme.id == scope.object_id).cte("ptree", recursive=True)
        )
        tree = tree.union_all(select(Programme.id).join(tree, Programme.parent_id == tree.c.id))
        scope.extra["ptree"] = tree
    return select(scope.extra["ptree"].c.id)


# Activity.is_public without an IN list (an expanding parameter is re-rendered on every run).
_IS_PUBLIC = Activity.status != ActivityStatus.DRAFT


def _public_cond(scope: FeedScope) -> ColumnElement[bool]:
    cond = _IS_PUBLIC
    if scope.kind == "zone":
        cond = and_(cond, Activity.zone_id == scope.object_id)
    elif scope.kind == "programme":
        # EXISTS per shift rather than an IN list of activities: the statement then walks the
        # window's shifts in time order and stops at the limit. (With the IN list SQLite
        # probed every activity of the programme tree and sorted: 8-13 ms at S=1, where a
        # programme like 五进 holds 4,000 activities; now 0.6-7 ms.)
        cond = and_(
            cond,
            select(activity_programmes.c.activity_id)
            .where(
                activity_programmes.c.activity_id == Shift.activity_id,
                activity_programmes.c.programme_id.in_(_programme_ids(scope)),
            )
            .exists(),
        )
    elif scope.kind == "activity":
        cond = and_(cond, Activity.id == scope.object_id)
    elif scope.kind == "unit":
        cond = and_(_IS_PUBLIC, Activity.unit_id == scope.object_id)
    return cond


def _personal_signup_cond(user_id) -> ColumnElement[bool]:
    return and_(
        Signup.user_id == user_id,
        Signup.status.in_((*ACTIVE_STATUSES, SignupStatus.CANCELLED, SignupStatus.REJECTED)),
        Activity.is_public,
    )


# The columns of a shift row in a public or unit feed: everything its event shows.
_ROW_COLUMNS = (
    Shift.id,
    Shift.activity_id,
    Shift.starts_at,
    Shift.ends_at,
    Shift.post_name,
    Shift.sequence,
    Shift.status,
    Shift.cancel_reason,
    Shift.cancelled_at,
    Shift.updated_at,
    Shift.capacity,
    Shift.taken_count,
    Shift.waitlist_count,
    Activity.title.label("a_title"),
    Activity.place.label("a_place"),
    Activity.latitude.label("a_latitude"),
    Activity.longitude.label("a_longitude"),
    Activity.kind.label("a_kind"),
    Activity.status.label("a_status"),
    Activity.cancel_reason.label("a_cancel_reason"),
    Activity.cancelled_at.label("a_cancelled_at"),
    Activity.updated_at.label("a_updated_at"),
    Zone.name.label("zone_name"),
    Unit.name.label("unit_name"),
)


def _members(scope: FeedScope, w: Window, *columns, named: bool = False) -> Select:
    """The feed's shifts in time order, at most ``w.max_events`` (public and unit feeds)."""
    stmt = select(*columns).select_from(Shift).join(Activity, Shift.activity_id == Activity.id)
    if named:
        stmt = stmt.join(Zone, Zone.id == Activity.zone_id).join(Unit, Unit.id == Activity.unit_id)
    return (
        stmt.where(_public_cond(scope), _window_cond(w))
        .order_by(Shift.starts_at, Shift.id)
        .limit(w.max_events)
    )


def _public_aggregates(scope: FeedScope, w: Window) -> Select:
    """One row: count, id sums and latest changes of the feed's (bounded) rows."""
    m = _members(
        scope,
        w,
        Shift.id.label("sid"),
        Shift.updated_at.label("su"),
        Activity.updated_at.label("au"),
        Shift.taken_count.label("tc"),
        Shift.waitlist_count.label("wc"),
    ).subquery("members")
    # Products in 64 bits: a shift id above 46,340 squared overflows PostgreSQL's integer.
    sid = cast(m.c.sid, BigInteger)
    cols = [
        func.count(m.c.sid).label("a0"),
        func.sum(m.c.sid).label("a1"),
        func.sum(sid * sid).label("a2"),
        func.max(m.c.su).label("a3"),
        func.max(m.c.au).label("a4"),
    ]
    if scope.kind == "unit":
        cols += [
            func.sum(m.c.tc).label("a5"),
            func.sum(m.c.wc).label("a6"),
            func.sum(m.c.tc * sid).label("a7"),
            func.sum(m.c.wc * sid).label("a8"),
        ]
    return select(*cols).select_from(m).subquery("agg")


def _personal_aggregates(w: Window) -> Select:
    """One row over the person's sign-ups in the window (a few dozen rows, one pass).

    Every sign-up of the person counts, whatever its status: a superset of what the feed
    shows (portal.models has no other statuses today), so any change moves the ETag.
    """
    user_id = (
        select(CalendarToken.user_id)
        .where(CalendarToken.token_hash == bindparam("th"))
        .scalar_subquery()
    )
    return (
        select(
            func.count(Shift.id).label("a0"),
            func.sum(Shift.id).label("a1"),
            func.max(Shift.updated_at).label("a2"),
            func.max(Activity.updated_at).label("a3"),
            func.max(Signup.updated_at).label("a4"),
            func.sum(Signup.id).label("a5"),
            # attendance and hours: what the person's events say about how it went
            func.count(Signup.attendance).label("a6"),
            func.sum(case((Signup.attendance == Attendance.NO_SHOW, 1), else_=0)).label("a7"),
            func.count(Signup.hours_confirmed_at).label("a8"),
            func.max(Signup.hours_confirmed_at).label("a9"),
            func.sum(Signup.hours).label("a10"),
        )
        .select_from(Signup)
        .join(Shift, Signup.shift_id == Shift.id)
        .join(Activity, Shift.activity_id == Activity.id)
        .where(Signup.user_id == user_id, _IS_PUBLIC, _window_cond(w))
        .subquery("agg")
    )


# Audited changes that can take an event out of a feed while leaving no newer row in it.
_DEPARTURES = (
    "shift.delete",
    "shift.update",
    "activity.update",
    "programme.update",
    "programme.delete",
    "zone.update",
    "unit.update",
)


def _departure_columns(wanted: bool = True) -> list:
    # One index lookup each (audit_entries (action, created_at)).
    if not wanted:
        return []
    return [
        select(func.max(AuditEntry.created_at))
        .where(AuditEntry.action == action)
        .scalar_subquery()
        .label(f"d{i}")
        for i, action in enumerate(_DEPARTURES)
    ]


def _probe_statement(scope: FeedScope, w: Window, departures: bool = True) -> Select:
    if scope.personal:
        token = CalendarToken
        cols = [
            token.id,
            token.user_id,
            token.alarm_minutes,
            token.revoked_at,
            User.active,
            User.deleted_at,
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
            agg = _public_aggregates(scope, w)
            cols += [
                managed.label("allowed"),
                select(Unit.name).where(Unit.id == scope.object_id).scalar_subquery().label("nm"),
                *agg.c,
            ]
            stmt = (
                select(*cols, *_departure_columns(departures))
                .select_from(token)
                .join(User, User.id == token.user_id)
                .join(agg, true())
            )
        else:
            agg = _personal_aggregates(w)
            stmt = (
                select(*cols, *agg.c, *_departure_columns(departures))
                .select_from(token)
                .join(User, User.id == token.user_id)
                .join(agg, true())
            )
        return stmt.where(token.token_hash == bindparam("th"))
    name_col = {
        "all": literal(""),
        "zone": select(Zone.name).where(Zone.id == scope.object_id).scalar_subquery(),
        "programme": select(Programme.name)
        .where(Programme.id == scope.object_id)
        .scalar_subquery(),
        "activity": select(Activity.title)
        .where(Activity.id == scope.object_id, _IS_PUBLIC)
        .scalar_subquery(),
    }[scope.kind]
    agg = _public_aggregates(scope, w)
    return select(name_col.label("nm"), *agg.c, *_departure_columns(departures)).select_from(agg)


def _stamp(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def _as_utc(value: datetime) -> datetime:
    """Aggregates bypass the column type on SQLite (naive text): read them back as UTC."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def _last_modified(row, day: date) -> datetime:
    stamps = [FORMAT_SINCE, local_day_bounds(day)[0]]
    for key, value in row.items():
        if key[:1] in "ad" and key[1:].isdigit() and value is not None:
            if isinstance(value, datetime) or (
                isinstance(value, str) and len(value) >= 19 and value[4] == "-"
            ):
                stamps.append(_as_utc(value))
    # HTTP dates have whole seconds: round up so that a change within this second counts.
    latest = max(stamps)
    if latest.microsecond:
        latest = latest.replace(microsecond=0) + timedelta(seconds=1)
    return latest


def probe(scope: FeedScope, base_url: str, with_modified: bool = True) -> FeedScope:
    """Check access and compute ETag and Last-Modified in ONE statement; FeedError on refusal.

    ``with_modified=False`` (a client that revalidates with its ETag) leaves Last-Modified
    to :func:`last_modified`, asked only when the body is sent.
    """
    if scope.personal and not TOKEN_RE.match(scope.token or ""):
        raise FeedError(410, _("这个日历链接已失效，请登录后重新生成。"))
    day = local_today()
    w = Window.for_day(day, scope.kind)
    row = _probe_row(scope, w, with_modified)
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
    aggregates = "|".join(_stamp(row[k]) for k in row.keys() if k[:1] == "a" and k[1:].isdigit())
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
    scope.last_modified = _last_modified(row, day) if with_modified else None
    scope.extra["stamps"] = {k: v for k, v in row.items() if k[:1] == "a"}
    return scope


def _probe_row(scope: FeedScope, w: Window, with_modified: bool) -> dict | None:
    """The probe statement's one row: from :data:`PROBE_CACHE` while the data version (read
    first, in this transaction) is the one it was worked out under, else from the database.

    Everything the row is made of lives in tables whose writes move the data version
    (:data:`portal.dashboard.freshness.WATCHED`: shifts, activities, sign-ups, people,
    calendar tokens, zones, units, programmes; the audit entries it reads for deletions and
    renames are written with those rows), and the window is part of the key, so a cached row
    is never older than the data. A hit costs one small statement instead of the probe. A
    row to keep is always the full probe (with the Last-Modified columns), so it serves the
    clients that revalidate by ETag and by date alike."""
    params = _params(scope, w)
    version = freshness.current_key(db.session) if _probe_cache_enabled() else None
    key = None
    if version is not None:
        key = (version, scope.kind, tuple(sorted(params.items())))
        found = PROBE_CACHE.get(key)
        if found is not None:
            return found[0]
        with_modified = True
    # Core execution on the session's connection: the ORM layer adds nothing to a select of
    # columns but costs as much as the statement itself on the 304 path.
    purpose = "probe" if with_modified else "probe_etag"
    found = db.session.connection().execute(_statement(scope.kind, purpose), params)
    row = found.mappings().first()
    row = dict(row) if row is not None else None
    if key is not None:
        PROBE_CACHE.put(key, (row,))
    return row


def _probe_cache_enabled() -> bool:
    return bool(current_app.config.get("FEED_PROBE_CACHE", True))


def last_modified(scope: FeedScope) -> datetime:
    """Last-Modified of a feed probed without it (one more statement)."""
    if scope.last_modified is None:
        row = db.session.connection().execute(_statement("all", "departures")).mappings().first()
        scope.last_modified = _last_modified({**scope.extra["stamps"], **row}, scope.day)
    return scope.last_modified


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


def shift_row(r) -> ical.ShiftRow:
    """A Core row of :data:`_ROW_COLUMNS` as the calendar module's row view."""
    activity = ical.ActivityRow(
        id=r.activity_id,
        title=r.a_title,
        place=r.a_place,
        latitude=r.a_latitude,
        longitude=r.a_longitude,
        kind=r.a_kind,
        status=r.a_status,
        cancel_reason=r.a_cancel_reason,
        cancelled_at=r.a_cancelled_at,
        updated_at=r.a_updated_at,
        zone=ical.Named(r.zone_name),
        unit=ical.Named(r.unit_name),
    )
    return ical.ShiftRow(
        id=r.id,
        activity_id=r.activity_id,
        starts_at=r.starts_at,
        ends_at=r.ends_at,
        post_name=r.post_name,
        sequence=r.sequence,
        status=r.status,
        cancel_reason=r.cancel_reason,
        cancelled_at=r.cancelled_at,
        updated_at=r.updated_at,
        activity=activity,
        capacity=r.capacity,
        taken_count=r.taken_count,
        waitlist_count=r.waitlist_count,
    )


def feed_rows(scope: FeedScope) -> list:
    """The Core rows of a probed public or unit feed, in time order (one statement)."""
    w = scope.window
    return db.session.connection().execute(_statement(scope.kind, "rows"), _params(scope, w)).all()


def feed_items(scope: FeedScope, base_url: str) -> list[tuple[object, ical.EventOptions]]:
    """The (shift, options) pairs of a probed feed, in time order."""
    host = current_app.config["PORTAL_HOST"]
    if scope.kind == "personal":
        return _personal_items(scope, scope.window, host, base_url)
    plain = ical.EventOptions(host=host, base_url=base_url)
    items = []
    for r in feed_rows(scope):
        opts = plain
        if scope.kind == "unit":
            counts = (r.taken_count, r.capacity, r.waitlist_count)
            opts = ical.EventOptions(host=host, base_url=base_url, counts=counts)
        items.append((shift_row(r), opts))
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
            contains_eager(Signup.shift).contains_eager(Shift.activity).joinedload(Activity.zone),
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
    """A tiny thread-safe LRU map, bounded by entries and (optionally) by total bytes."""

    def __init__(self, size: int, max_bytes: int | None = None):
        self.size = size
        self.max_bytes = max_bytes
        self.bytes = 0
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
            old = self._data.pop(key, None)
            if old is not None:
                self.bytes -= len(old)
            self._data[key] = value
            self.bytes += len(value)
            while len(self._data) > self.size or (
                self.max_bytes is not None and self.bytes > self.max_bytes and len(self._data) > 1
            ):
                _, dropped = self._data.popitem(last=False)
                self.bytes -= len(dropped)

    def clear(self) -> None:
        with self._lock:
            self._data.clear()
            self.bytes = 0

    def __len__(self) -> int:
        return len(self._data)


# (data version, feed, window) → the probe's row (see _probe_row); a few hundred bytes each.
PROBE_CACHE = LRU(4096)
# ETag → feed body. Bodies are under 1 MB; 32 MB keeps the busiest feeds of a worker.
BODY_CACHE = LRU(256, max_bytes=32_000_000)
# Event row → VEVENT bytes. Every feed has at most 1,000 events, so one feed never pushes its
# own events out (no thrashing); 20,000 hold every public event of the coming month at the
# big district's size (~8,000) with room for activity, unit and personal feeds.
EVENT_CACHE = LRU(20_000)


class SharedBodies:
    """Feed bodies shared by every worker and machine through Redis, when there is one.

    The portal's Redis is ``REDIS_URL`` (the rate limits' storage). Keys are the strong ETag,
    which already covers every change, so entries are never invalidated, only expire (the
    ETag holds the local day: a day is enough). Redis being down only costs a rebuild.
    """

    PREFIX = "portal:feed:"
    TTL_SECONDS = 2 * 24 * 3600

    RETRY_SECONDS = 30.0  # after a failure, do without Redis this long (no timeout per request)

    def __init__(self) -> None:
        self._clients: dict[str, object] = {}
        self._lock = threading.Lock()
        self._down_until = 0.0

    def _failed(self) -> None:
        self._down_until = time.monotonic() + self.RETRY_SECONDS
        current_app.logger.warning("feed cache: Redis unavailable", exc_info=True)

    def _client(self):
        if time.monotonic() < self._down_until:
            return None
        url = current_app.config.get("FEED_CACHE_URL") or current_app.config.get(
            "RATELIMIT_STORAGE_URI", ""
        )
        if not url or not str(url).startswith(("redis://", "rediss://", "unix://")):
            return None
        with self._lock:
            client = self._clients.get(url)
            if client is None:
                import redis

                client = redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)
                self._clients[url] = client
            return client

    def get(self, etag: str) -> bytes | None:
        client = self._client()
        if client is None:
            return None
        try:
            return client.get(self.PREFIX + etag)
        except Exception:  # noqa: BLE001 - a cache that fails is a cache miss
            self._failed()
            return None

    def put(self, etag: str, body: bytes) -> None:
        client = self._client()
        if client is None:
            return
        try:
            client.set(self.PREFIX + etag, body, ex=self.TTL_SECONDS)
        except Exception:  # noqa: BLE001
            self._failed()


SHARED_BODIES = SharedBodies()


def clear_caches() -> None:
    """Forget every cached body and event in this process (tests, the benchmark's "cold")."""
    BODY_CACHE.clear()
    EVENT_CACHE.clear()
    PROBE_CACHE.clear()
    _STATEMENTS.clear()
    SHARED_BODIES._down_until = 0.0
    ical.clear_memo()


def _event_key(shift, opts: ical.EventOptions) -> tuple:
    """Everything an event's bytes depend on (ORM shifts: the fields ical.py reads)."""
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


def _budget(frame: bytes) -> int:
    return MAX_FEED_BYTES - len(frame) - 1  # strictly under 1 MB


def _frame(name: str, refresh_minutes: int, kind: str | None) -> bytes:
    description = window_text(kind) if kind else None
    return ical.to_bytes(
        ical.calendar_frame(name, refresh_minutes=refresh_minutes, description=description)
    )


def render_items(
    name: str,
    items: list[tuple[object, ical.EventOptions]],
    refresh_minutes: int,
    kind: str | None = None,
) -> bytes:
    """Serialize a feed, reusing the bytes of every event that did not change.

    Events are taken in order while the body stays under :data:`MAX_FEED_BYTES`.
    """
    frame = _frame(name, refresh_minutes, kind)
    room = _budget(frame)
    limit = WINDOWS[kind].max_events if kind else len(items)
    chunks = []
    for shift, opts in items[:limit]:
        key = _event_key(shift, opts)
        chunk = EVENT_CACHE.get(key)
        if chunk is None:
            chunk = ical.event_bytes(shift, opts)
            EVENT_CACHE.put(key, chunk)
        if len(chunk) > room:
            break
        room -= len(chunk)
        chunks.append(chunk)
    return ical.splice(frame, chunks)


def _render_rows(scope: FeedScope, base_url: str, refresh_minutes: int) -> bytes:
    """Public and unit feeds straight from Core rows: a row view is built only for events
    that are not in the event cache."""
    host = current_app.config["PORTAL_HOST"]
    unit = scope.kind == "unit"
    variant = (FORMAT_VERSION, "rows", unit, host, base_url)
    plain = ical.EventOptions(host=host, base_url=base_url)
    frame = _frame(scope.name, refresh_minutes, scope.kind)
    room = _budget(frame)
    chunks = []
    for r in feed_rows(scope):
        key = (variant, tuple(r))
        chunk = EVENT_CACHE.get(key)
        if chunk is None:
            opts = plain
            if unit:
                opts = ical.EventOptions(
                    host=host,
                    base_url=base_url,
                    counts=(r.taken_count, r.capacity, r.waitlist_count),
                )
            chunk = ical.event_bytes(shift_row(r), opts)
            EVENT_CACHE.put(key, chunk)
        if len(chunk) > room:
            break
        room -= len(chunk)
        chunks.append(chunk)
    return ical.splice(frame, chunks)


def build_body(scope: FeedScope, base_url: str) -> bytes:
    """Build a probed feed's body (no body cache)."""
    refresh = current_app.config["FEED_REFRESH_MINUTES"]
    if scope.kind == "personal":
        return render_items(scope.name, feed_items(scope, base_url), refresh, scope.kind)
    return _render_rows(scope, base_url, refresh)


def feed_body(scope: FeedScope, base_url: str) -> bytes:
    """The body for a probed scope: from this process's cache, the shared cache, or built."""
    body = BODY_CACHE.get(scope.etag)
    if body is not None:
        return body
    body = SHARED_BODIES.get(scope.etag)
    if body is None:
        body = build_body(scope, base_url)
        SHARED_BODIES.put(scope.etag, body)
    BODY_CACHE.put(scope.etag, body)
    return body


# --- single shift ---------------------------------------------------------------------------


def single_shift(shift_id: int) -> Shift:
    """A shift of a public activity for the one-shot download, or FeedError(404)."""
    shift = (
        db.session.scalars(_shift_query(False).where(Shift.id == shift_id, Activity.is_public))
        .unique()
        .first()
    )
    if shift is None:
        raise FeedError(404, _("没有找到这个班次。"))
    return shift


def single_shift_body(shift: Shift, base_url: str) -> tuple[bytes, str]:
    host = current_app.config["PORTAL_HOST"]
    opts = ical.EventOptions(host=host, base_url=base_url)
    body = ical.to_bytes(ical.single_shift_calendar(shift, opts))
    etag = hashlib.sha256(FORMAT_VERSION.encode() + base_url.encode() + body).hexdigest()[:40]
    return body, etag


def single_shift_modified(shift: Shift) -> datetime:
    """Last-Modified of a single-shift download: the event's own last change."""
    return max(ical.changed_at(shift), FORMAT_SINCE)

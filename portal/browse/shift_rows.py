"""The activity page's shift list: shifts grouped by day, a day strip and one compact row each.

An activity can have hundreds of shifts (a games venue: 240 in a month). Rendering each one
through the full card template cost ~100 ms and ~42 translation lookups per shift, so a row
is now a pure function of a small tuple, :class:`Row` — exactly what the row shows (times,
post, places, state, the visitor's own sign-up facts, language, WeChat or not) and nothing
else. The ``shift_row`` macro (``templates/browse/_shift_row.html``) renders a tuple once; the
HTML is kept in a bounded per-process cache keyed by the tuple itself, so a row can never be
served stale: any change that matters (a place taken, a cancellation, the clock closing
sign-up) makes a different tuple. Rows hold nothing per session: their sign-up buttons submit
the page's one form, which carries the CSRF token (``form="signup-form"``).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import NamedTuple

from babel.dates import format_date
from flask import get_template_attribute, request
from flask_babel import get_locale
from markupsafe import Markup

from portal.signups.services import ShiftState, can_cancel
from portal.timeutil import local_today, site_tz

CACHE_SIZE = 20_000
OWN_STATES = frozenset({ShiftState.SIGNED_UP, ShiftState.PENDING, ShiftState.WAITLISTED})

_cache: OrderedDict[tuple, str] = OrderedDict()
_heads: OrderedDict[tuple, str] = OrderedDict()  # a day's heading around a slot for its rows


class Row(NamedTuple):
    """Everything one shift row shows; equal tuples render identical HTML."""

    shift_id: int
    start: str  # local "07:00"
    end: str  # local "09:00"
    overnight: bool
    post: str
    left: int
    waitlist: int
    approval: bool
    state: str
    opens_at: datetime | None  # shown while sign-up has not opened yet
    reason: str  # the cancellation reason (shift, else activity)
    position: int  # own place on the waitlist, 0 otherwise
    own_can_cancel: bool
    deadline_hours: int
    authenticated: bool
    wechat: bool
    locale: str
    path: str  # script root + path: the row's links and its way back after signing up


@dataclass
class Day:
    """One local day of shifts as the page shows it."""

    day: date
    rows: list[Row] = field(default_factory=list)
    html: Markup = Markup("")
    past: bool = False
    block: Markup = Markup("")  # heading and rows, as the page shows them

    @property
    def key(self) -> str:
        return self.day.isoformat()

    @property
    def count(self) -> int:
        return len(self.rows)

    @property
    def places_left(self) -> int:
        return sum(r.left for r in self.rows if r.state not in ("cancelled", "closed"))

    @property
    def all_off(self) -> bool:
        return all(r.state == "cancelled" for r in self.rows)


def _macro():
    return get_template_attribute("browse/_shift_row.html", "shift_row")


def render_row(row: Row, flashes: tuple = ()) -> str:
    """The HTML of one row (cached unless it carries this request's flash messages)."""
    if flashes:
        return str(_macro()(row, flashes))
    html = _cache.get(row)
    if html is None:
        html = str(_macro()(row, ()))
        _cache[row] = html
        if len(_cache) > CACHE_SIZE:
            _cache.popitem(last=False)
    return html


def clear_cache() -> None:
    _cache.clear()
    _heads.clear()


@lru_cache(maxsize=65_536)
def _local_times(starts_at: datetime, ends_at: datetime, tz) -> tuple[date, str, str, bool]:
    """(local day, "07:00", "09:00", ends the next day) — memoised: shifts repeat by the page."""
    start, end = starts_at.astimezone(tz), ends_at.astimezone(tz)
    return start.date(), start.strftime("%H:%M"), end.strftime("%H:%M"), end.date() != start.date()


def flash_target(value: str | None) -> int | None:
    """The shift id of ``?shift=`` (where the person just acted), if it is one."""
    return int(value) if value and value.isdigit() and len(value) < 10 else None


def build_days(
    activity,
    shifts,
    states,
    mine,
    positions,
    *,
    user,
    flashes=(),
    flash_shift: int | None = None,
    now: datetime | None = None,
) -> list[Day]:
    """Group the shifts by local day and render each day's rows (pure apart from the cache)."""
    tz = site_tz()
    today = local_today()
    locale = str(get_locale() or "zh_Hans_CN")
    wechat = "MicroMessenger" in (request.user_agent.string or "")
    authenticated = bool(getattr(user, "is_authenticated", False))
    activity_reason = activity.cancel_reason if activity.is_cancelled else ""
    deadline = activity.cancellation_deadline_hours
    path = request.script_root + request.path
    days: dict[date, Day] = {}
    for shift in shifts:
        d, start, end, overnight = _local_times(shift.starts_at, shift.ends_at, tz)
        state = states[shift.id]
        own = mine.get(shift.id) if state in OWN_STATES else None
        cancelled = state == ShiftState.CANCELLED
        row = Row(
            shift.id,
            start,
            end,
            overnight,
            shift.post_name or "",
            0 if cancelled else shift.spots_left,
            0 if cancelled else shift.waitlist_count,
            bool(shift.requires_approval),
            str(state),
            shift.signup_opens_at if state == ShiftState.NOT_YET_OPEN else None,
            (shift.cancel_reason or activity_reason) if cancelled else "",
            positions.get(shift.id, 1) if state == ShiftState.WAITLISTED else 0,
            bool(own is not None and can_cancel(own, now)),
            deadline if own is not None else 0,
            authenticated,
            wechat,
            locale,
            path,
        )
        bucket = days.get(d)
        if bucket is None:
            bucket = days[d] = Day(d, past=d < today)
        bucket.rows.append(row)
    for bucket in days.values():
        html = "".join(
            render_row(r, flashes if r.shift_id == flash_shift else ()) for r in bucket.rows
        )
        # Rows rendered by our own autoescaped template.
        bucket.html = Markup(html)  # nosec B704
    upcoming = sum(1 for b in days.values() if not b.past)
    heads: dict = {}
    for bucket in days.values():
        with_strip = upcoming > 1 and not bucket.past
        key = (bucket.day, bucket.count, with_strip, locale)
        head = heads.get(key) or _heads.get(key)
        if head is None:
            head = str(
                get_template_attribute("browse/_shift_row.html", "day_block")(
                    bucket.key, day_labels(bucket.day)[0], bucket.count, with_strip, "\x00"
                )
            )
            _heads[key] = head
            if len(_heads) > CACHE_SIZE:
                _heads.popitem(last=False)
        before, after = head.split("\x00", 1)
        bucket.block = Markup(before + str(bucket.html) + after)  # nosec B704
    return list(days.values())


def moments(activity, shifts) -> list[datetime | None]:
    """Every instant at which the clock changes what these shifts' rows show: sign-up opens or
    closes, the shift starts (closed) or ends (gone from the upcoming list), the own
    cancellation deadline passes."""
    hours = timedelta(hours=activity.cancellation_deadline_hours)
    found: list[datetime | None] = []
    for s in shifts:
        found += (
            s.signup_opens_at,
            s.signup_closes_at,
            s.starts_at,
            s.ends_at,
            s.starts_at - hours,
        )
    return found


def day_labels(d: date) -> tuple[str, str, str]:
    """(heading, strip date, weekday): 12月3日 星期四 / 12/3 / 周四, or Thu 3 Dec / 3 Dec / Thu."""
    return _day_labels(d, str(get_locale() or "zh_Hans_CN"))


@lru_cache(maxsize=4096)
def _day_labels(d: date, locale: str) -> tuple[str, str, str]:
    if locale.startswith("zh"):
        return (
            format_date(d, "M月d日 EEEE", locale=locale),
            f"{d.month}/{d.day}",
            format_date(d, "EEE", locale=locale),
        )
    return (
        format_date(d, "EEE d MMM", locale=locale),
        format_date(d, "d MMM", locale=locale),
        format_date(d, "EEE", locale=locale),
    )

"""Finding activities: filters, ordering and pagination shared by the list page and the API."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import selectinload
from sqlalchemy.orm.attributes import set_committed_value

from portal.browse import queries
from portal.extensions import db
from portal.models import (
    Activity,
    ActivityKind,
    ActivityStatus,
    Programme,
    Shift,
    ShiftStatus,
    Zone,
)
from portal.timeutil import is_sane_date, local_day_bounds, now_utc

MAX_QUERY_LENGTH = 50
MAX_PAGE = 10_000


@dataclass
class ActivityFilters:
    """What the visitor asked for; ``problems`` collects what was ignored and why."""

    zone_id: int | None = None
    programme_id: int | None = None
    kind: ActivityKind | None = None
    date_from: date | None = None
    date_to: date | None = None
    open_only: bool = False
    q: str = ""
    problems: list[str] = field(default_factory=list)

    @property
    def active(self) -> bool:
        return any(
            [
                self.zone_id,
                self.programme_id,
                self.kind,
                self.date_from,
                self.date_to,
                self.open_only,
                self.q,
            ]
        )


def _int(value: str | None) -> int | None:
    if value is None or value == "":
        return None
    try:
        number = int(value)
    except ValueError:
        return None
    return number if 0 < number < 2**31 else None


def _date(value: str | None) -> date | None | bool:
    if not value:
        return None
    try:
        parsed = date.fromisoformat(value)
    except ValueError:
        return False
    return parsed if is_sane_date(parsed) else False


def parse_filters(args: Any) -> ActivityFilters:
    """Read filters from query arguments; bad values are dropped with a message, never a 500."""
    from flask_babel import gettext as _

    f = ActivityFilters()
    raw_zone, raw_prog = args.get("zone"), args.get("programme")
    f.zone_id = _int(raw_zone)
    if raw_zone and f.zone_id is None:
        f.problems.append(_("片区参数无效，已忽略。"))
    f.programme_id = _int(raw_prog)
    if raw_prog and f.programme_id is None:
        f.problems.append(_("项目参数无效，已忽略。"))
    kind = args.get("kind") or ""
    if kind:
        try:
            f.kind = ActivityKind(kind)
        except ValueError:
            f.problems.append(_("活动类型无效，已忽略。"))
    for name in ("date_from", "date_to"):
        parsed = _date(args.get(name))
        if parsed is False:
            f.problems.append(_("日期格式应为 2026-12-01，已忽略。"))
            parsed = None
        setattr(f, name, parsed)
    if f.date_from and f.date_to and f.date_to < f.date_from:
        f.problems.append(_("结束日期早于开始日期，已交换。"))
        f.date_from, f.date_to = f.date_to, f.date_from
    f.open_only = args.get("open") in {"1", "on", "true", "y"}
    q = " ".join((args.get("q") or "").split())
    if len(q) > MAX_QUERY_LENGTH:
        f.problems.append(_("搜索词太长，只使用前 %(n)d 个字。", n=MAX_QUERY_LENGTH))
        q = q[:MAX_QUERY_LENGTH]
    f.q = q
    if f.zone_id and db.session.get(Zone, f.zone_id) is None:
        f.problems.append(_("没有这个片区，已显示全部片区。"))
        f.zone_id = None
    if f.programme_id and db.session.get(Programme, f.programme_id) is None:
        f.problems.append(_("没有这个项目，已显示全部项目。"))
        f.programme_id = None
    return f


def parse_page(value: str | None) -> int | None:
    """Return a page number from 1 to MAX_PAGE, or ``None`` when the value is not one."""
    if value in (None, ""):
        return 1
    number = _int(value)
    if number is None or number > MAX_PAGE:
        return None
    return number


def programme_ids_with_children(programme_id: int) -> list[int]:
    """A programme and all its descendants (the tree is shallow; one query)."""
    rows = db.session.execute(select(Programme.id, Programme.parent_id)).all()
    children: dict[int | None, list[int]] = {}
    for pid, parent in rows:
        children.setdefault(parent, []).append(pid)
    found, stack = [], [programme_id]
    while stack:
        current = stack.pop()
        found.append(current)
        stack.extend(children.get(current, []))
    return found


def shift_window(
    f: ActivityFilters, now: datetime | None = None
) -> tuple[datetime, datetime | None]:
    """The UTC interval of shift starts the filters ask for (default: from now on)."""
    now = now or now_utc()
    start = local_day_bounds(f.date_from)[0] if f.date_from else now
    end = local_day_bounds(f.date_to)[1] if f.date_to else None
    return start, end


def shift_query(
    f: ActivityFilters, now: datetime | None = None, activity_id: int | None = None
) -> Select:
    """Shifts of published activities starting in the window, soonest first (the API's list).

    The same activity conditions as the list page (portal.browse.queries); "open" means
    scheduled with places left.
    """
    start, end = shift_window(f, now)
    return queries.shift_statement(f, start, end, activity_id=activity_id)


def count_shifts(
    f: ActivityFilters, now: datetime | None = None, activity_id: int | None = None
) -> int:
    start, end = shift_window(f, now)
    return queries.count_shifts(f, start, end, activity_id=activity_id)


@dataclass
class ActivityRow:
    activity: Activity
    next_start: datetime
    shift_count: int
    places_left: int


@dataclass
class Page:
    items: list[ActivityRow]
    page: int
    per_page: int
    total: int

    @property
    def pages(self) -> int:
        return max((self.total + self.per_page - 1) // self.per_page, 1)

    @property
    def has_prev(self) -> bool:
        return self.page > 1

    @property
    def has_next(self) -> bool:
        return self.page < self.pages


def find_activities(f: ActivityFilters, page: int = 1, per_page: int = 20) -> Page:
    """One page of published activities with a shift in the window, soonest first.

    Two statements and the eager loads, whatever the data size (portal.browse.queries).
    """
    start, end = shift_window(f)
    total = queries.count_activities(f, start, end)
    rows = queries.page_rows(f, start, end, per_page, (page - 1) * per_page)
    items = [
        ActivityRow(activity=r[0], next_start=r[1], shift_count=r[2], places_left=int(r[3] or 0))
        for r in rows
    ]
    return Page(items=items, page=page, per_page=per_page, total=total)


def next_shift_start(now: datetime | None = None) -> datetime | None:
    """When the next scheduled shift starts (it then leaves the list of upcoming ones); one
    index seek (``ix_shifts_status_start``)."""
    now = now or now_utc()
    return db.session.scalar(
        select(func.min(Shift.starts_at)).where(
            Shift.status == ShiftStatus.SCHEDULED, Shift.starts_at >= now
        )
    )


def next_start_of_any_shift(now: datetime | None = None) -> datetime | None:
    """When the next shift of any status starts: the API's window (which lists cancelled
    shifts too) changes then. One index seek (``ix_shifts_starts_at``)."""
    now = now or now_utc()
    return db.session.scalar(select(func.min(Shift.starts_at)).where(Shift.starts_at >= now))


def shifts_for_activity(activity: Activity, include_past: bool = False) -> list[Shift]:
    """An activity's shifts in time order, with their counts loaded in the same statement."""
    stmt = select(Shift).where(Shift.activity_id == activity.id).order_by(Shift.starts_at)
    if not include_past:
        stmt = stmt.where(Shift.ends_at >= now_utc())
    shifts = list(db.session.scalars(stmt))
    for shift in shifts:  # every shift's activity is this one: spare 240 lazy-load lookups
        set_committed_value(shift, "activity", activity)
    return shifts


def programme_tree() -> list[Programme]:
    """Top-level programmes with their children loaded."""
    return list(
        db.session.scalars(
            select(Programme)
            .where(Programme.parent_id.is_(None))
            .options(selectinload(Programme.children))
            .order_by(Programme.position, Programme.id)
        )
    )


def zones_overview() -> list[tuple[Zone, int]]:
    """Zones with the number of upcoming published shifts in each."""
    counts = (
        select(Activity.zone_id, func.count(Shift.id).label("n"))
        .join(Shift, Shift.activity_id == Activity.id)
        .where(
            Activity.status == ActivityStatus.PUBLISHED,
            Shift.status == ShiftStatus.SCHEDULED,
            Shift.starts_at >= now_utc(),
        )
        .group_by(Activity.zone_id)
        .subquery()
    )
    rows = db.session.execute(
        select(Zone, func.coalesce(counts.c.n, 0))
        .outerjoin(counts, counts.c.zone_id == Zone.id)
        .order_by(Zone.name)
    ).all()
    return [(z, n) for z, n in rows]

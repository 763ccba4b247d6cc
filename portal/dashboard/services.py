"""The command centre's figures: periods, aggregates per zone / unit / programme, the ranking,
the weekly trend and leaders' visits.

Counting rules (shown on the page, documented in README):

- Every activity figure counts by the **shift's start in Asia/Shanghai** (the site time zone):
  a sign-up counts in the period its shift starts in, wherever it was made.
- Draft activities never count. *Activities held*, *shifts*, *fill rate* and *sign-ups* count
  only shifts that take place (neither the shift nor its activity cancelled,
  :func:`portal.models.shift_is_live`).
- *Fill rate* = places taken / capacity of those shifts. *Sign-ups* = places taken (confirmed
  or awaiting approval). *Unique participants* = distinct people holding those places.
- *Participation rate* = unique participants / the zone's population; a zone without a
  population has none ("—"), never a division by zero.
- *Confirmed hours*: exactly the rule of :func:`portal.attendance.records.counts_as_record`
  (attended, volunteer activity, hours above zero, confirmed by the organizer).
- *No-show rate* = no-shows / (attended + no-shows) among marked sign-ups of live shifts.
- *Leader visits*: :class:`LeaderVisit` rows by their local date; the target is
  ``LEADER_VISITS_PER_MONTH`` per leader per month.

Every figure is an SQL aggregate; the number of statements per page is fixed (one per table,
one for the trend, one for the leaders), whatever the size of the district.
"""

from __future__ import annotations

import calendar
import copy
import dataclasses
import math
from dataclasses import dataclass, field
from datetime import date, time, timedelta
from decimal import Decimal

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import Index, case, distinct, func, literal, select, union_all

from portal.audit.services import record
from portal.dashboard import freshness
from portal.domain import DomainError
from portal.extensions import db
from portal.models import (
    PLACE_HOLDING_STATUSES,
    Activity,
    ActivityKind,
    ActivityStatus,
    LeaderVisit,
    Programme,
    Shift,
    Signup,
    Unit,
    User,
    Zone,
    activity_programmes,
    participation,
    shift_is_live,
    zone_leaders,
)
from portal.timeutil import is_sane_date, local_to_utc, local_today


class DashboardError(DomainError):
    """A period or a visit the rules refuse."""


# --- periods ----------------------------------------------------------------------------------

PERIOD_KINDS = ("week", "month", "last_month", "custom")
MAX_PERIOD_DAYS = 366


@dataclass(frozen=True)
class Period:
    """Local calendar dates, both ends included."""

    kind: str
    start: date
    end: date

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    @property
    def months(self) -> int:
        """How many months of leader-visit targets the period holds (at least one)."""
        return max(1, round(self.days / 30.4))

    def utc_bounds(self):
        return local_to_utc(self.start, time.min), local_to_utc(
            self.end + timedelta(days=1), time.min
        )

    def previous(self) -> Period:
        """The period before: the previous week, the previous calendar month, or as many
        days just before a custom range."""
        if self.kind == "week":
            return Period("week", self.start - timedelta(days=7), self.start - timedelta(days=1))
        if self.kind in ("month", "last_month"):
            end = self.start - timedelta(days=1)
            return Period("last_month", end.replace(day=1), end)
        return Period(
            "custom", self.start - timedelta(days=self.days), self.start - timedelta(days=1)
        )


def month_of(day: date) -> Period:
    last = calendar.monthrange(day.year, day.month)[1]
    return Period("month", day.replace(day=1), day.replace(day=last))


def make_period(
    kind: str | None, start: date | None = None, end: date | None = None, today: date | None = None
) -> Period:
    """The period a request asks for; raise :class:`DashboardError` for a bad custom range."""
    today = today or local_today()
    kind = kind if kind in PERIOD_KINDS else "month"
    if kind == "week":
        monday = today - timedelta(days=today.weekday())
        return Period("week", monday, monday + timedelta(days=6))
    if kind == "month":
        return month_of(today)
    if kind == "last_month":
        previous = month_of(today.replace(day=1) - timedelta(days=1))
        return Period("last_month", previous.start, previous.end)
    if start is None or end is None:
        raise DashboardError(_("请填写开始和结束日期。"), "start" if start is None else "end")
    if not (is_sane_date(start) and is_sane_date(end)):
        raise DashboardError(_("日期超出可选范围。"), "start")
    if end < start:
        raise DashboardError(_("结束日期不能早于开始日期。"), "end")
    if (end - start).days + 1 > MAX_PERIOD_DAYS:
        raise DashboardError(_("时段最长一年（366天）。"), "end")
    return Period("custom", start, end)


# --- who sees what ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Scope:
    """What part of the district a person's dashboard shows.

    ``zone_ids`` / ``unit_ids`` of None mean "all". Leaders see their zones (ranked among all
    zones), organizers their units (no zone ranking), admins everything.
    """

    role: str  # "admin" | "leader" | "organizer"
    zone_ids: frozenset[int] | None = None
    unit_ids: frozenset[int] | None = None

    @property
    def shows_ranking(self) -> bool:
        return self.role in ("admin", "leader")


def scope_for(user) -> Scope | None:
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    if user.is_admin:
        return Scope("admin")
    if user.led_zones:
        return Scope("leader", zone_ids=frozenset(z.id for z in user.led_zones))
    if user.units:
        return Scope("organizer", unit_ids=frozenset(u.id for u in user.units))
    return None


def _scoped(stmt, scope: Scope, *, zones: bool = True):
    if zones and scope.zone_ids is not None:
        stmt = stmt.where(Activity.zone_id.in_(sorted(scope.zone_ids)))
    if scope.unit_ids is not None:
        stmt = stmt.where(Activity.unit_id.in_(sorted(scope.unit_ids)))
    return stmt


# --- the figures of one row -------------------------------------------------------------------


@dataclass
class Figures:
    key: int
    name: str
    extra: str = ""  # the street of a zone, the kind of a unit, the parent of a programme
    population: int | None = None
    activities: int = 0
    shifts: int = 0
    capacity: int = 0
    taken: int = 0
    signups: int = 0
    participants: int = 0
    hours: Decimal = Decimal(0)
    attended: int = 0
    no_shows: int = 0
    visits: int = 0
    leaders: int = 0
    # ranking (zones only)
    score: float = 0.0
    parts: dict = field(default_factory=dict)
    rank: int | None = None
    previous_rank: int | None = None
    bottom: bool = False

    @property
    def fill_rate(self) -> float | None:
        return self.taken / self.capacity if self.capacity else None

    @property
    def participation_rate(self) -> float | None:
        return self.participants / self.population if self.population else None

    @property
    def no_show_rate(self) -> float | None:
        marked = self.attended + self.no_shows
        return self.no_shows / marked if marked else None

    @property
    def hours_per_thousand(self) -> float | None:
        return float(self.hours) * 1000 / self.population if self.population else None

    @property
    def change(self) -> int | None:
        if self.rank is None or self.previous_rank is None:
            return None
        return self.previous_rank - self.rank

    @property
    def is_new(self) -> bool:
        return self.rank is not None and self.previous_rank is None


def totals(rows: list[Figures], population: bool = True) -> Figures:
    """A sum row. Unique participants are summed across zones (a person active in two
    zones counts in each), which the page says."""
    total = Figures(0, _("合计"))
    for r in rows:
        for c in (
            "activities",
            "shifts",
            "capacity",
            "taken",
            "signups",
            "participants",
            "hours",
            "attended",
            "no_shows",
            "visits",
            "leaders",
        ):
            setattr(total, c, getattr(total, c) + getattr(r, c))
        if population and r.population:
            total.population = (total.population or 0) + r.population
    return total


# --- the ranking ------------------------------------------------------------------------------

SCORE_PARTS = ("participation", "hours", "fill", "attendance", "visits")


def score_weights() -> dict[str, float]:
    weights = current_app.config["DASHBOARD_SCORE_WEIGHTS"]
    return {p: float(weights.get(p, 0)) for p in SCORE_PARTS}


def visit_target(fig: Figures, period: Period) -> int:
    return current_app.config["LEADER_VISITS_PER_MONTH"] * fig.leaders * period.months


def _parts(fig: Figures, best_participation: float, best_hours: float, period: Period):
    """Each part 0–100: participation and hours per 1,000 residents as a share of the best
    zone's; fill rate and attendance (1 − no-show rate) as they are; leader visits against
    the target. A missing figure (no population, nothing held) scores 0."""
    part = fig.participation_rate or 0.0
    hours = fig.hours_per_thousand or 0.0
    target = visit_target(fig, period)
    return {
        "participation": 100 * part / best_participation if best_participation else 0.0,
        "hours": 100 * hours / best_hours if best_hours else 0.0,
        "fill": 100 * (fig.fill_rate or 0.0),
        "attendance": 100 * (1 - fig.no_show_rate) if fig.no_show_rate is not None else 0.0,
        "visits": 100 * min(fig.visits / target, 1.0) if target else 0.0,
    }


def rank(rows: list[Figures], period: Period) -> list[Figures]:
    """Score and rank the zones: competition ranking (1, 1, 3) on the score rounded to one
    decimal; equal scores in name order. Returns the rows best first."""
    weights = score_weights()
    best_p = max((r.participation_rate or 0.0 for r in rows), default=0.0)
    best_h = max((r.hours_per_thousand or 0.0 for r in rows), default=0.0)
    for r in rows:
        r.parts = _parts(r, best_p, best_h, period)
        r.score = round(sum(weights[p] * r.parts[p] for p in SCORE_PARTS), 1)
    ordered = sorted(rows, key=lambda r: (-r.score, r.name, r.key))
    for i, r in enumerate(ordered):
        r.rank = ordered[i - 1].rank if i and ordered[i - 1].score == r.score else i + 1
    bottom_n = current_app.config["DASHBOARD_BOTTOM_ZONES"]
    if len(ordered) > bottom_n > 0:
        threshold = ordered[-bottom_n].score
        for r in ordered:
            r.bottom = r.score <= threshold
    return ordered


def had_anything(fig: Figures) -> bool:
    return bool(fig.shifts or fig.signups or fig.visits or fig.hours)


# --- the weekly trend -------------------------------------------------------------------------

TREND_MIN_WEEKS = 8
TREND_MAX_WEEKS = 26


@dataclass
class Week:
    start: date
    signups: int = 0
    hours: Decimal = Decimal(0)

    @property
    def end(self) -> date:
        return self.start + timedelta(days=6)


def trend_weeks(period: Period) -> list[date]:
    """Mondays of the weeks to chart: the period's weeks, at least eight (reaching back)."""
    last = period.end - timedelta(days=period.end.weekday())
    first = period.start - timedelta(days=period.start.weekday())
    n = (last - first).days // 7 + 1
    n = min(max(n, TREND_MIN_WEEKS), TREND_MAX_WEEKS)
    return [last - timedelta(weeks=n - 1 - i) for i in range(n)]


# --- one pass over the data: the board --------------------------------------------------------
#
# The page needs this period per zone, unit and programme, the previous period per zone (for
# last period's rank) and the weekly trend. All of them come from the same rows, so the time
# range covering all three is cut at every boundary (the periods' starts and ends, each
# Monday of the trend) into segments, and the additive figures are summed per (activity,
# segment) in SQL: one pass over the sign-ups and one over the shifts. Python then adds the
# segments up into zones, units, programmes, periods and weeks — a few thousand rows at most,
# whatever the number of sign-ups. Unique participants cannot be added up, so they have their
# own statements (zones over both periods; units; programmes).

# The pass over a period's sign-ups reads this index alone (no table rows): places,
# attendance, confirmed hours and the person (migration 0008).
Index(
    "ix_signups_dashboard",
    Signup.__table__.c.shift_id,
    Signup.__table__.c.status,
    Signup.__table__.c.user_id,
    Signup.__table__.c.attendance,
    Signup.__table__.c.hours,
    Signup.__table__.c.hours_confirmed_at,
)
_ADDITIVE = ("shifts", "capacity", "taken", "signups", "hours", "attended", "no_shows")


@dataclass
class _Segment:
    part: str | None  # "current", "previous" or None (trend only)
    week: int | None  # index into the trend's weeks


def _segments(period: Period, mondays: list[date]):
    """Boundaries (UTC instants, sorted) and what each segment between two of them is."""
    previous = period.previous()
    days = {
        previous.start,
        period.start,
        period.end + timedelta(days=1),
        previous.end + timedelta(days=1),
        *mondays,
        mondays[-1] + timedelta(days=7),
    }
    days = sorted(days)
    segments = []
    for day in days[:-1]:
        part = (
            "current"
            if period.start <= day <= period.end
            else "previous"
            if previous.start <= day <= previous.end
            else None
        )
        week = next((i for i, m in enumerate(mondays) if m <= day < m + timedelta(days=7)), None)
        segments.append(_Segment(part, week))
    return [local_to_utc(d, time.min) for d in days], segments


def _segment_of(bounds):
    """SQL: the segment index of a shift's start (bounds[0] <= start < bounds[-1])."""
    inner = bounds[1:-1]
    if not inner:
        return literal(0)
    return case(*[(Shift.starts_at < b, i) for i, b in enumerate(inner)], else_=len(inner))


@dataclass
class Board:
    zones: list[Figures]
    previous_zones: list[Figures]
    units: list[Figures]
    programmes: list[Figures]
    weeks: list[Week]

    def clone(self) -> Board:
        """A copy whose rows can be ranked and filtered in place (the cache keeps its own):
        each row copied with its dict of parts — about 20 times cheaper than deepcopy."""

        def rows(figs):
            return [dataclasses.replace(f, parts=dict(f.parts)) for f in figs]

        return Board(
            rows(self.zones),
            rows(self.previous_zones),
            rows(self.units),
            rows(self.programmes),
            [copy.copy(w) for w in self.weeks],
        )


def _add(fig: Figures, values: dict) -> None:
    for c in _ADDITIVE:
        setattr(fig, c, getattr(fig, c) + values.get(c, 0))


def board(period: Period, scope: Scope | None = None) -> Board:
    """Every figure of the page: from the cache when nothing was written since it was worked
    out (:mod:`portal.dashboard.freshness` — one statement reads the data version), else
    :func:`compute_board`."""
    scope = scope or Scope("admin")
    if not freshness.enabled():
        return compute_board(period, scope)
    version = freshness.current_key(db.session)  # read before computing: never stale
    if version is None:
        return compute_board(period, scope)
    key = (version, period, scope)
    found = freshness.get(key)
    if found is None:
        found = compute_board(period, scope)
        freshness.put(key, found)
    return found


def compute_board(period: Period, scope: Scope | None = None) -> Board:
    """Every figure of the page in a fixed number of statements (see above), uncached."""
    scope = scope or Scope("admin")
    mondays = trend_weeks(period)
    bounds, segments = _segments(period, mondays)
    seg = _segment_of(bounds)
    lo, hi = bounds[0], bounds[-1]
    rank_all = scope.shows_ranking  # leaders' zones are ranked among all zones

    def scoped(stmt, *, all_zones: bool):
        return _scoped(stmt, scope, zones=not all_zones)

    # One pass over the shifts in the range, summed per activity and segment in SQL (a few
    # thousand rows at S=1); no sign-up is read. Places taken are the shift's own counter,
    # which the one way into a place keeps equal to its place-holding sign-ups
    # (tests/test_places.py); attended, no-shows and confirmed hours are the shift's
    # attendance sums, kept by database triggers (portal/models/participation.py). Shifts
    # that do not take place count only for confirmed hours (the records rule).
    live = shift_is_live()
    volunteer = Activity.kind == ActivityKind.VOLUNTEER

    def live_sum(column):
        return func.sum(case((live, column), else_=0))

    shift_rows = db.session.execute(
        scoped(
            select(
                Shift.activity_id,
                seg.label("seg"),
                Activity.zone_id,
                Activity.unit_id,
                live_sum(1),
                live_sum(Shift.capacity),
                live_sum(Shift.taken_count),
                func.sum(case((volunteer, Shift.record_tenths), else_=0)),
                live_sum(Shift.attended_count),
                live_sum(Shift.no_show_count),
            )
            .select_from(Shift)
            .join(Activity, Activity.id == Shift.activity_id)
            .where(
                Shift.starts_at >= lo,
                Shift.starts_at < hi,
                Activity.status != ActivityStatus.DRAFT,
            )
            .group_by(Shift.activity_id, "seg", Activity.zone_id, Activity.unit_id),
            all_zones=rank_all,
        )
    ).all()

    # per activity and part (current / previous), and per week
    per_activity: dict[tuple[str, int], dict] = {}
    where: dict[int, tuple[int, int]] = {}
    weeks = [Week(m) for m in mondays]

    def values_of(aid, s, zone_id, unit_id):
        where[aid] = (zone_id, unit_id)
        segment = segments[int(s)]
        week = weeks[segment.week] if segment.week is not None else None
        if week is not None and scope.zone_ids is not None and zone_id not in scope.zone_ids:
            week = None
        d = None
        if segment.part:
            d = per_activity.get((segment.part, aid))
            if d is None:
                d = per_activity[(segment.part, aid)] = dict.fromkeys(_ADDITIVE, 0)
        return d, week

    for aid, s, zone_id, unit_id, shifts, cap, taken, tenths, attended, no_shows in shift_rows:
        d, week = values_of(aid, s, zone_id, unit_id)
        taken = int(taken or 0)
        hours = Decimal(int(tenths or 0)) / 10
        if week is not None:
            week.signups += taken
            week.hours += hours
        if d is not None:
            d["shifts"] += int(shifts or 0)
            d["capacity"] += int(cap or 0)
            d["taken"] += taken
            d["signups"] += taken
            d["hours"] += hours
            d["attended"] += int(attended or 0)
            d["no_shows"] += int(no_shows or 0)
    for w in weeks:
        w.hours = w.hours.quantize(Decimal("0.1"))

    # 3. unique participants: zones over both periods, units and programmes this period
    distinct_rows = _participants(period, scope, rank_all)

    zones = _zone_rows(period)
    previous_zones = _zone_rows(period.previous(), with_names=zones)
    by_zone = {"current": {z.key: z for z in zones}, "previous": {z.key: z for z in previous_zones}}
    in_my_zones = (
        (lambda zid: True) if scope.zone_ids is None else (lambda zid: zid in scope.zone_ids)
    )
    units = {u.key: u for u in _unit_rows(scope)}
    programme_links = _programme_links([aid for (part, aid) in per_activity if part == "current"])
    programmes: dict[int, Figures] = {}
    prog_names = _programme_names(programme_links)
    held: dict[tuple, set] = {}
    for (part, aid), values in per_activity.items():
        zone_id, unit_id = where[aid]
        zone = by_zone[part].get(zone_id)
        if zone is not None:
            _add(zone, values)
            if values.get("shifts"):
                held.setdefault(("z", part, zone_id), set()).add(aid)
        if part != "current" or not in_my_zones(zone_id):
            continue
        if unit_id in units:
            _add(units[unit_id], values)
            if values.get("shifts"):
                held.setdefault(("u", unit_id), set()).add(aid)
        for pid in programme_links.get(aid, ()):
            if pid not in programmes:
                name, parent, order = prog_names[pid]
                programmes[pid] = Figures(pid, name, parent)
                programmes[pid].parts = {"order": order}
            _add(programmes[pid], values)
            if values.get("shifts"):
                held.setdefault(("p", pid), set()).add(aid)
    for (kind, *key), activities in held.items():
        if kind == "z":
            by_zone[key[0]][key[1]].activities = len(activities)
        elif kind == "u":
            units[key[0]].activities = len(activities)
        else:
            programmes[key[0]].activities = len(activities)
    for kind, part, key, n in distinct_rows:
        if kind == "z" and key in by_zone[part]:
            by_zone[part][key].participants = int(n)
        elif kind == "u" and key in units:
            units[key].participants = int(n)
        elif kind == "p" and key in programmes:
            programmes[key].participants = int(n)
    for figs in (zones, previous_zones, units.values(), programmes.values()):
        for f in figs:
            f.hours = Decimal(f.hours).quantize(Decimal("0.1"))
    unit_list = sorted(units.values(), key=lambda u: (u.name, u.key))
    if scope.zone_ids is not None:
        unit_list = [u for u in unit_list if had_anything(u)]
    if scope.unit_ids is not None:
        zones = [z for z in zones if had_anything(z)]
    programme_list = sorted(programmes.values(), key=lambda p: (p.parts.pop("order"), p.key))
    return Board(zones, previous_zones, unit_list, programme_list, weeks)


def _participants(period: Period, scope: Scope, rank_all: bool):
    """(kind, part, key, n): distinct people holding a place on a live shift — per zone in
    this and the previous period, per unit and programme this period.

    A part that is one calendar month over all of its rows (every zone; every unit or the
    organizer's own units; every programme for an admin) is read from the monthly summary
    :mod:`portal.models.participation` (one index range per part, no sign-up read); any other
    part — a week, a custom range, a leader's units — is counted live from the sign-ups."""
    previous = period.previous()
    summary = participation.usable(current_app.config["PORTAL_TIMEZONE"])
    cur_month = _calendar_month(period) if summary else None
    prev_month = _calendar_month(previous) if summary else None
    everyone = scope.zone_ids is None and scope.unit_ids is None
    zones_summarised = scope.unit_ids is None and (rank_all or scope.zone_ids is None)
    units_summarised = scope.zone_ids is None  # an organizer's units are whole units
    from_summary = []  # (kind, part, month, keys or None)
    live = []  # (kind, part)
    for kind, part, month, summarised in (
        ("z", "current", cur_month, zones_summarised),
        ("z", "previous", prev_month, zones_summarised),
        ("u", "current", cur_month, units_summarised),
        ("p", "current", cur_month, everyone),
    ):
        if month and summarised:
            keys = scope.unit_ids if kind == "u" else None
            from_summary.append((kind, part, month, keys))
        else:
            live.append((kind, part))

    statements = []
    p = participation.participation
    for kind, part, month, keys in from_summary:
        stmt = (
            select(literal(kind), literal(part), p.c.key, func.count())
            .where(p.c.month == month, p.c.kind == kind, p.c.n > 0)
            .group_by(p.c.key)
        )
        if keys is not None:
            stmt = stmt.where(p.c.key.in_(sorted(keys)))
        statements.append(stmt)

    base_where = (
        Signup.status.in_(PLACE_HOLDING_STATUSES),
        shift_is_live(),
        Activity.status != ActivityStatus.DRAFT,
    )

    def base(*cols, start, end, all_zones=False):
        stmt = (
            select(*cols)
            .select_from(Signup)
            .join(Shift, Shift.id == Signup.shift_id)
            .join(Activity, Activity.id == Shift.activity_id)
            .where(Shift.starts_at >= start, Shift.starts_at < end, *base_where)
        )
        return _scoped(stmt, scope, zones=not all_zones)

    n = func.count(distinct(Signup.user_id))
    bounds = {"current": period.utc_bounds(), "previous": previous.utc_bounds()}
    for kind, part in live:
        start, end = bounds[part]
        if kind == "z":
            statements.append(
                base(
                    literal("z"),
                    literal(part),
                    Activity.zone_id,
                    n,
                    start=start,
                    end=end,
                    all_zones=rank_all,
                ).group_by(Activity.zone_id)
            )
        elif kind == "u":
            statements.append(
                base(
                    literal("u"), literal(part), Activity.unit_id, n, start=start, end=end
                ).group_by(Activity.unit_id)
            )
        else:
            statements.append(
                base(
                    literal("p"),
                    literal(part),
                    activity_programmes.c.programme_id,
                    n,
                    start=start,
                    end=end,
                )
                .join(activity_programmes, activity_programmes.c.activity_id == Activity.id)
                .group_by(activity_programmes.c.programme_id)
            )
    return db.session.execute(union_all(*statements)).all()


def _calendar_month(period: Period) -> str | None:
    """'YYYY-MM' when the period is exactly one calendar month, else None."""
    if period.start.day != 1 or period.end != month_of(period.start).end:
        return None
    return period.start.strftime("%Y-%m")


def _zone_rows(period: Period, with_names: list[Figures] | None = None) -> list[Figures]:
    """Every zone with its population, leaders and leader visits in the period (one
    statement); the activity figures are added by :func:`board`."""
    visits = (
        select(LeaderVisit.zone_id.label("k"), func.count(LeaderVisit.id).label("n"))
        .where(LeaderVisit.visited_on >= period.start, LeaderVisit.visited_on <= period.end)
        .group_by(LeaderVisit.zone_id)
        .subquery()
    )
    leaders = (
        select(zone_leaders.c.zone_id.label("k"), func.count().label("n"))
        .join(User, User.id == zone_leaders.c.user_id)
        .where(User.deleted_at.is_(None))
        .group_by(zone_leaders.c.zone_id)
        .subquery()
    )
    stmt = (
        select(
            Zone.id,
            Zone.name,
            Zone.street,
            Zone.population,
            func.coalesce(visits.c.n, 0),
            func.coalesce(leaders.c.n, 0),
        )
        .outerjoin(visits, visits.c.k == Zone.id)
        .outerjoin(leaders, leaders.c.k == Zone.id)
        .order_by(Zone.name, Zone.id)
    )
    out = []
    for zid, name, street, population, n_visits, n_leaders in db.session.execute(stmt):
        fig = Figures(zid, name, street or "", population=population or None)
        fig.visits, fig.leaders = int(n_visits), int(n_leaders)
        out.append(fig)
    return out


def _unit_rows(scope: Scope) -> list[Figures]:
    stmt = select(Unit.id, Unit.name, Unit.kind).order_by(Unit.name, Unit.id)
    if scope.unit_ids is not None:
        stmt = stmt.where(Unit.id.in_(sorted(scope.unit_ids)))
    return [Figures(uid, name, str(kind)) for uid, name, kind in db.session.execute(stmt)]


def _programme_links(activity_ids: list[int]) -> dict[int, list[int]]:
    links: dict[int, list[int]] = {}
    if not activity_ids:
        return links
    rows = db.session.execute(
        select(activity_programmes.c.activity_id, activity_programmes.c.programme_id).where(
            activity_programmes.c.activity_id.in_(sorted(set(activity_ids)))
        )
    )
    for aid, pid in rows:
        links.setdefault(aid, []).append(pid)
    return links


def _programme_names(links: dict[int, list[int]]) -> dict[int, tuple[str, str, tuple]]:
    """Programme id → (name, parent's name, tree order); the whole tree is small."""
    rows = db.session.execute(
        select(Programme.id, Programme.name, Programme.parent_id, Programme.position)
    ).all()
    by_id = {r[0]: r for r in rows}
    out = {}
    for pid, name, parent_id, position in rows:
        parent = by_id.get(parent_id)
        order = (parent[3], parent[0], position) if parent else (position, pid, -1)
        out[pid] = (name, parent[1] if parent else "", order)
    return out


def zone_figures(period: Period, scope: Scope | None = None) -> list[Figures]:
    return board(period, scope).zones


def unit_figures(period: Period, scope: Scope) -> list[Figures]:
    return board(period, scope).units


def programme_figures(period: Period, scope: Scope) -> list[Figures]:
    return board(period, scope).programmes


def trend(period: Period, scope: Scope) -> list[Week]:
    return board(period, scope).weeks


def ranked(result: Board, period: Period) -> list[Figures]:
    """This period's zones ranked, with last period's rank (None: 新 — nothing there then)."""
    current = rank(result.zones, period)
    before = [r for r in result.previous_zones if had_anything(r)]
    previous = {r.key: r.rank for r in rank(before, period.previous())}
    for r in current:
        r.previous_rank = previous.get(r.key)
    return current


def ranking(period: Period) -> list[Figures]:
    return ranked(board(period), period)


# --- leaders' visits --------------------------------------------------------------------------


@dataclass
class LeaderRow:
    leader_id: int
    name: str
    zones: list[str]
    months: list[tuple[date, int]]  # (first day of month, visits)

    @property
    def total(self) -> int:
        return sum(n for _, n in self.months)


def period_months(period: Period) -> list[date]:
    out, day = [], period.start.replace(day=1)
    while day <= period.end:
        out.append(day)
        day = (day.replace(day=28) + timedelta(days=4)).replace(day=1)
    return out[-12:]


def leader_rows(period: Period, scope: Scope) -> list[LeaderRow]:
    """Every zone leader in scope with their visits in each calendar month the period
    touches (whole months: the target is monthly). Two statements: leaders, visits."""
    months = period_months(period)
    stmt = (
        select(User.id, User.real_name, Zone.name)
        .join(zone_leaders, zone_leaders.c.user_id == User.id)
        .join(Zone, Zone.id == zone_leaders.c.zone_id)
        .where(User.deleted_at.is_(None))
        .order_by(User.real_name, User.id, Zone.name)
    )
    if scope.zone_ids is not None:
        stmt = stmt.where(Zone.id.in_(sorted(scope.zone_ids)))
    if scope.unit_ids is not None:
        return []
    leaders: dict[int, LeaderRow] = {}
    for uid, name, zone in db.session.execute(stmt):
        row = leaders.setdefault(uid, LeaderRow(uid, name, [], [(m, 0) for m in months]))
        row.zones.append(zone)
    if not leaders:
        return []
    next_month = (months[-1].replace(day=28) + timedelta(days=4)).replace(day=1)
    bucket = (
        case(
            *[(LeaderVisit.visited_on < m, i - 1) for i, m in enumerate(months[1:], start=1)],
            else_=len(months) - 1,
        )
        if len(months) > 1
        else literal(0)
    )
    counts = db.session.execute(
        select(LeaderVisit.leader_id, bucket, func.count(LeaderVisit.id))
        .where(
            LeaderVisit.leader_id.in_(sorted(leaders)),
            LeaderVisit.visited_on >= months[0],
            LeaderVisit.visited_on < next_month,
        )
        .group_by(LeaderVisit.leader_id, bucket)
    )
    for uid, i, n in counts:
        row = leaders[uid]
        row.months[int(i)] = (row.months[int(i)][0], int(n))
    return list(leaders.values())


# --- recording visits -------------------------------------------------------------------------

VISIT_BACKFILL_DAYS = 31
PLACE_MAX = 120
NOTES_MAX = 2000


def visit_zones(user) -> list[Zone]:
    """The zones a person may record visits in: a leader's zones (admins: every zone)."""
    if user.is_admin:
        return list(db.session.scalars(select(Zone).order_by(Zone.name)))
    return sorted(user.led_zones, key=lambda z: z.name)


def record_visit(
    leader: User,
    zone_id: int | None,
    visited_on: date | None,
    place: str,
    notes: str = "",
    today: date | None = None,
) -> LeaderVisit:
    """Record a leader's visit to one of their zones; the caller commits."""
    today = today or local_today()
    zone = next((z for z in visit_zones(leader) if z.id == zone_id), None)
    if zone is None:
        raise DashboardError(_("请选择你挂点的片区。"), "zone")
    if visited_on is None:
        raise DashboardError(_("请填写走访日期。"), "visited_on")
    if visited_on > today:
        raise DashboardError(_("走访日期不能晚于今天。"), "visited_on")
    if visited_on < today - timedelta(days=VISIT_BACKFILL_DAYS):
        raise DashboardError(_("只能补记%(n)d天内的走访。", n=VISIT_BACKFILL_DAYS), "visited_on")
    place = (place or "").strip()
    if not place:
        raise DashboardError(_("请写明走访地点，例如 县一小校门口。"), "place")
    if len(place) > PLACE_MAX:
        raise DashboardError(_("地点最多%(n)d个字。", n=PLACE_MAX), "place")
    notes = (notes or "").strip()
    if len(notes) > NOTES_MAX:
        raise DashboardError(_("情况记录最多%(n)d个字。", n=NOTES_MAX), "notes")
    duplicate = db.session.scalar(
        select(LeaderVisit.id).where(
            LeaderVisit.leader_id == leader.id,
            LeaderVisit.zone_id == zone.id,
            LeaderVisit.visited_on == visited_on,
            LeaderVisit.place == place,
        )
    )
    if duplicate is not None:
        raise DashboardError(_("这一天在这个地点的走访已经记过了。"), "place")
    visit = LeaderVisit(leader=leader, zone=zone, visited_on=visited_on, place=place, notes=notes)
    db.session.add(visit)
    db.session.flush()
    record(
        "leader_visit.create",
        visit,
        summary=f"{zone.name} {visited_on.isoformat()} {place}",
        after=_visit_fields(visit),
    )
    return visit


def todays_activities(user, today: date | None = None) -> list[Activity]:
    """Activities with a shift today in the person's zones: where they can check in."""
    today = today or local_today()
    zone_ids = [z.id for z in visit_zones(user)]
    if not zone_ids:
        return []
    lo, hi = local_to_utc(today, time.min), local_to_utc(today + timedelta(days=1), time.min)
    return list(
        db.session.scalars(
            select(Activity)
            .where(
                Activity.zone_id.in_(zone_ids),
                Activity.is_public,
                Activity.id.in_(
                    select(Shift.activity_id)
                    .join(Activity, Activity.id == Shift.activity_id)
                    .where(Shift.starts_at >= lo, Shift.starts_at < hi, shift_is_live())
                ),
            )
            .order_by(Activity.title, Activity.id)
        )
    )


def check_in(leader: User, activity: Activity, today: date | None = None) -> LeaderVisit:
    """A visit made by checking in at an activity in the leader's zone, dated today."""
    today = today or local_today()
    if activity.zone_id not in {z.id for z in visit_zones(leader)}:
        raise DashboardError(_("这个活动不在你挂点的片区。"))
    if activity.id not in {a.id for a in todays_activities(leader, today)}:
        raise DashboardError(_("这个活动今天没有班次，不能签到；可以手动记一次走访。"))
    done = db.session.scalar(
        select(LeaderVisit.id).where(
            LeaderVisit.leader_id == leader.id,
            LeaderVisit.activity_id == activity.id,
            LeaderVisit.visited_on == today,
        )
    )
    if done is not None:
        raise DashboardError(_("你今天已经在这个活动签到过了。"))
    visit = LeaderVisit(
        leader=leader,
        zone_id=activity.zone_id,
        activity=activity,
        visited_on=today,
        place=activity.place[:PLACE_MAX],
        notes=_("活动现场签到：%(title)s", title=activity.title),
    )
    db.session.add(visit)
    db.session.flush()
    record(
        "leader_visit.checkin",
        visit,
        summary=f"{activity.title} {today.isoformat()}",
        after=_visit_fields(visit),
    )
    return visit


def _visit_fields(visit: LeaderVisit) -> dict:
    return {
        "zone": visit.zone.name if visit.zone else visit.zone_id,
        "visited_on": visit.visited_on.isoformat(),
        "place": visit.place,
        "notes": visit.notes,
        "activity_id": visit.activity_id,
    }


def delete_visit(actor: User, visit: LeaderVisit) -> None:
    """Delete a visit (its leader or an admin; the permission check is the caller's)."""
    record(
        "leader_visit.delete",
        visit,
        summary=f"{visit.zone.name} {visit.visited_on.isoformat()} {visit.place}",
        before=_visit_fields(visit),
        actor=actor,
    )
    db.session.delete(visit)


def visits_of(user, limit: int = 200) -> list[LeaderVisit]:
    """A leader's own visits, newest first (admins: everybody's)."""
    from sqlalchemy.orm import joinedload

    stmt = (
        select(LeaderVisit)
        .options(
            joinedload(LeaderVisit.zone),
            joinedload(LeaderVisit.activity),
            joinedload(LeaderVisit.leader),
        )
        .order_by(LeaderVisit.visited_on.desc(), LeaderVisit.id.desc())
        .limit(limit)
    )
    if not user.is_admin:
        stmt = stmt.where(LeaderVisit.leader_id == user.id)
    return list(db.session.scalars(stmt))


def month_visits(user, today: date | None = None) -> int:
    today = today or local_today()
    m = month_of(today)
    return (
        db.session.scalar(
            select(func.count(LeaderVisit.id)).where(
                LeaderVisit.leader_id == user.id,
                LeaderVisit.visited_on >= m.start,
                LeaderVisit.visited_on <= m.end,
            )
        )
        or 0
    )


def ceil_div(a: int, b: int) -> int:
    return math.ceil(a / b) if b else 0


def landing_endpoint(user) -> str:
    """Where a person's work is: admins and zone leaders their dashboard, others home."""
    if (
        user is not None
        and getattr(user, "is_authenticated", False)
        and (user.is_admin or user.led_zones)
    ):
        return "dashboard.index"
    return "main.home"

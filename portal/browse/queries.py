"""The statements behind the activity list, its count and the API's shift list (issue 12).

Built to stay fast at 100× data (10,000 activities, 100,000 shifts, 1,000,000 sign-ups):

- Places come from the shift counters (``Shift.taken_count``, kept exact by the one way into
  a place); no statement here reads ``signups``.
- The list is ordered by each activity's next shift. Reading upcoming shifts in time order
  (index ``ix_shifts_status_start``), the first activities met are the first of the list, so
  a page only needs the shifts up to a cut-off: the K-th upcoming matching shift, with K a
  few times the rows wanted. Every shift at or before the cut-off is read, so an activity
  left out starts later than every activity kept: the page is exact. When the cut-off
  leaves fewer activities than the page needs (a rare filter, a deep page), the same
  statement runs again without it.
- Each row's shift count and places left come from that activity's live shifts in the
  window (index ``ix_shifts_activity_status_start``, read from the index alone).
- The count probes each matching activity once for a live shift in the window (same index).
- Text search: every word must match (AND); a word matches an activity's title, place or
  description through the text index (portal.models.search: FTS5 trigram on SQLite,
  pg_trgm on PostgreSQL), or the name of its zone, unit or programme (or that programme's
  parent). Words of one or two characters (common in Chinese) are below the trigram
  index's reach; they are matched by a plain substring test on the same text.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    Select,
    case,
    column,
    func,
    literal,
    literal_column,
    or_,
    select,
    text,
)
from sqlalchemy.orm import aliased, selectinload

from portal.extensions import db
from portal.models import (
    Activity,
    ActivityStatus,
    Programme,
    Shift,
    ShiftStatus,
    Unit,
    UTCDateTime,
    Zone,
    activity_programmes,
)
from portal.models.search import FTS_TABLE

MAX_WORDS = 6
FAR_FUTURE = datetime(9999, 12, 31, tzinfo=UTC)
_QUALIFIED_TEXT = "(activities.title || ' ' || activities.place || ' ' || activities.description)"


def escape_like(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def search_words(q: str) -> list[str]:
    """The words of a query, without repeats, at most MAX_WORDS."""
    words: list[str] = []
    for word in q.split():
        if word.lower() not in (w.lower() for w in words):
            words.append(word)
    return words[:MAX_WORDS]


def _fts_phrase(word: str) -> str:
    return '"' + word.replace('"', '""') + '"'


def word_condition(word: str, n: int = 0):
    """An activity matches one search word (see the module docstring)."""
    pattern = f"%{escape_like(word)}%"
    dialect = db.session.get_bind().dialect.name
    if dialect == "sqlite" and len(word) >= 3:
        name = f"fts_{n}"
        matched = (
            # The table name is a constant and the word a bound parameter.
            text(f"SELECT rowid FROM {FTS_TABLE} WHERE {FTS_TABLE} MATCH :{name}")  # nosec B608
            .bindparams(**{name: _fts_phrase(word)})
            .columns(column("rowid"))
        )
        own = Activity.id.in_(matched)
    else:
        own = literal_column(_QUALIFIED_TEXT).ilike(pattern, escape="\\")
    named_programmes = select(Programme.id).where(Programme.name.ilike(pattern, escape="\\"))
    return or_(
        own,
        Activity.zone_id.in_(select(Zone.id).where(Zone.name.ilike(pattern, escape="\\"))),
        Activity.unit_id.in_(select(Unit.id).where(Unit.name.ilike(pattern, escape="\\"))),
        Activity.id.in_(
            select(activity_programmes.c.activity_id).where(
                activity_programmes.c.programme_id.in_(
                    select(Programme.id).where(
                        or_(
                            Programme.id.in_(named_programmes),
                            Programme.parent_id.in_(named_programmes),
                        )
                    )
                )
            )
        ),
    )


def activity_conditions(f) -> list:
    """WHERE conditions on Activity: zone, kind, programme (with children) and the words."""
    from portal.browse.services import programme_ids_with_children

    conds: list = []
    if f.zone_id:
        conds.append(Activity.zone_id == f.zone_id)
    if f.kind:
        conds.append(Activity.kind == f.kind)
    if f.programme_id:
        ids = programme_ids_with_children(f.programme_id)
        conds.append(
            Activity.id.in_(
                select(activity_programmes.c.activity_id).where(
                    activity_programmes.c.programme_id.in_(ids)
                )
            )
        )
    for n, word in enumerate(search_words(f.q)):
        conds.append(word_condition(word, n))
    return conds


def window_conditions(shift, start: datetime, end: datetime | None) -> list:
    conds = [shift.starts_at >= start]
    if end is not None:
        conds.append(shift.starts_at < end)
    return conds


def _live(shift, start, end) -> list:
    return [shift.status == ShiftStatus.SCHEDULED, *window_conditions(shift, start, end)]


def _places_left(shift):
    return case((shift.capacity > shift.taken_count, shift.capacity - shift.taken_count), else_=0)


def _has_open_shift(start, end):
    s = aliased(Shift)
    return (
        select(literal(1))
        .where(s.activity_id == Activity.id, *_live(s, start, end), s.capacity > s.taken_count)
        .exists()
    )


def _has_live_shift(start, end):
    s = aliased(Shift)
    return select(literal(1)).where(s.activity_id == Activity.id, *_live(s, start, end)).exists()


def activity_page_statement(f, start, end, limit: int, offset: int, prefix: int | None) -> Select:
    """Rows ``(Activity, next_start, shift_count, places_left, cutoff)`` for one page.

    ``prefix``: read upcoming shifts only up to the ``prefix``-th matching one (``cutoff``,
    None when there are fewer); ``None`` reads them all.
    """
    conds = [Activity.status == ActivityStatus.PUBLISHED, *activity_conditions(f)]
    if prefix:
        # Shift-driven: upcoming shifts in time order up to the cut-off.
        cutoff = (
            select(Shift.starts_at)
            .join(Activity, Activity.id == Shift.activity_id)
            .where(*_live(Shift, start, end), *conds)
            .order_by(Shift.starts_at)
            .offset(prefix - 1)
            .limit(1)
            .scalar_subquery()
        )
        bound = Shift.starts_at <= func.coalesce(cutoff, literal(FAR_FUTURE, UTCDateTime))
        firsts = (
            select(
                Shift.activity_id.label("activity_id"),
                func.min(Shift.starts_at).label("next_start"),
            )
            .join(Activity, Activity.id == Shift.activity_id)
            .where(*_live(Shift, start, end), bound, *conds)
            .group_by(Shift.activity_id)
            .subquery()
        )
    else:
        # Activity-driven: each matching activity's next live shift, one index probe each.
        cutoff = literal(None, UTCDateTime)
        n = aliased(Shift)
        next_start = (
            select(func.min(n.starts_at))
            .where(n.activity_id == Activity.id, *_live(n, start, end))
            .correlate(Activity)
            .scalar_subquery()
        )
        inner = (
            select(Activity.id.label("activity_id"), next_start.label("next_start"))
            .where(*conds)
            .subquery()
        )
        firsts = (
            select(inner.c.activity_id, inner.c.next_start)
            .where(inner.c.next_start.is_not(None))
            .subquery()
        )
    s = aliased(Shift)
    mine = [s.activity_id == Activity.id, *_live(s, start, end)]
    shift_count = select(func.count()).where(*mine).correlate(Activity).scalar_subquery()
    places = (
        select(func.coalesce(func.sum(_places_left(s)), 0))
        .where(*mine)
        .correlate(Activity)
        .scalar_subquery()
    )
    stmt = (
        select(Activity, firsts.c.next_start, shift_count, places, cutoff.label("cutoff"))
        .join(firsts, firsts.c.activity_id == Activity.id)
        .options(
            selectinload(Activity.programmes),
            selectinload(Activity.zone),
            selectinload(Activity.unit),
        )
        .order_by(firsts.c.next_start, Activity.id)
        .limit(limit)
        .offset(offset)
    )
    if f.open_only:
        stmt = stmt.where(_has_open_shift(start, end))
    return stmt


DEEP_PAGE_ROWS = 400  # beyond this many rows, go straight to the activity-driven plan


def prefix_for(limit: int, offset: int) -> int | None:
    """Upcoming shifts to read for a page: a few per activity wanted, and some slack."""
    if limit + offset > DEEP_PAGE_ROWS:
        return None
    return 4 * (limit + offset) + 50


def page_rows(f, start, end, limit: int, offset: int) -> list:
    """One page of the list; one statement, or two when the cut-off was too early."""
    prefix = prefix_for(limit, offset)
    rows = db.session.execute(activity_page_statement(f, start, end, limit, offset, prefix)).all()
    truncated = prefix is not None and ((not rows) or rows[0].cutoff is not None)
    if len(rows) < limit and truncated:
        rows = db.session.execute(activity_page_statement(f, start, end, limit, offset, None)).all()
    return rows


def count_activities(f, start, end) -> int:
    """Matching published activities with a live shift in the window (or an open one)."""
    live = _has_live_shift(start, end)
    stmt = (
        select(func.count())
        .select_from(Activity)
        .where(Activity.status == ActivityStatus.PUBLISHED, *activity_conditions(f))
        .where(_has_open_shift(start, end) if f.open_only else live)
    )
    return db.session.scalar(stmt) or 0


def _matching_activity_ids(f):
    return select(Activity.id).where(
        Activity.status == ActivityStatus.PUBLISHED, *activity_conditions(f)
    )


def _shift_conditions(f, start, end, activity_id: int | None, in_time_order: bool = False) -> list:
    # In time order: "+shifts.activity_id" keeps the planner off the activity index, so it
    # reads shifts along starts_at and stops after the page instead of sorting them all.
    owner = literal_column("+shifts.activity_id") if in_time_order else Shift.activity_id
    conds = [*window_conditions(Shift, start, end), owner.in_(_matching_activity_ids(f))]
    if activity_id is not None:
        conds.append(Shift.activity_id == activity_id)
    if f.open_only:
        conds += [Shift.status == ShiftStatus.SCHEDULED, Shift.capacity > Shift.taken_count]
    return conds


def shift_statement(f, start, end, activity_id: int | None = None) -> Select:
    """Shifts of published activities starting in the window, soonest first: the API's list.

    The same activity conditions as the list page, as a list of activity ids, so the plan
    reads shifts in time order and stops at the page; "open" means scheduled with places left.
    """
    return (
        select(Shift)
        .where(*_shift_conditions(f, start, end, activity_id, in_time_order=True))
        .options(selectinload(Shift.activity).selectinload(Activity.zone))
        .order_by(Shift.starts_at, Shift.id)
    )


def count_shifts(f, start, end, activity_id: int | None = None) -> int:
    stmt = select(func.count(Shift.id)).where(*_shift_conditions(f, start, end, activity_id))
    return db.session.scalar(stmt) or 0

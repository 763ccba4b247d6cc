"""Who took part where, month by month: the summary behind the dashboard's unique participants.

The command centre counts *unique participants* — distinct people holding a place (confirmed
or awaiting approval) on a live shift (neither it nor its activity cancelled, the activity
not a draft) — per zone, unit and programme and period. Over the big district that is a
``COUNT(DISTINCT user_id)`` over ~150,000 sign-ups joined to their shifts and activities:
most of a second of database time after every write. This table keeps the answer's raw
material instead, one row per (local month of the shift's start, kind, key, person):

- ``kind`` ``z`` / ``u`` / ``p``: ``key`` is a zone, a unit or a programme id;
- ``n``: how many such places the person holds there that month (rows at 0 stay; readers
  count ``n > 0``).

Unique participants of zone Z in month M are then ``COUNT(*)`` over one contiguous range of
the primary key, read from the index alone (SQLite: a WITHOUT ROWID table; PostgreSQL: the key
INCLUDEs ``n``, an index-only scan once autovacuum has marked the pages all-visible).

**Kept by the database itself**, in the same statement as every write, by triggers on
``signups`` (insert, delete, change of status / shift / person), ``shifts`` (status, start,
activity), ``activities`` (status, zone, unit) and ``activity_programmes`` (links): no code
path — the one way into a place, an organizer's edit, a cascade, a retention purge, psql —
can leave it stale. Deleting a shift or an activity first deletes its sign-ups (then its
shifts) explicitly, in a BEFORE DELETE trigger, so their rows are subtracted while the shift
is still there to say which month and zone they were in; the foreign-key cascade that would
have removed them finds nothing left, so behaviour is unchanged.

The month is the shift's start in the site time zone. The triggers compute it in SQL
(PostgreSQL: ``AT TIME ZONE 'Asia/Shanghai'``; SQLite: ``+8 hours``, China has had no
daylight saving since 1991), so the dashboard uses the table only while ``PORTAL_TIMEZONE``
is ``Asia/Shanghai`` (:func:`usable`) and otherwise counts live.

:func:`problems` compares the table with the live count (tests, ``flask check-counters``);
:func:`rebuild` refills it (migration 0010, after the bench generator's bulk load, which
suspends the triggers while it writes a million rows).

Created with the ``signups`` table's metadata (``create_all`` in tests: the DDL hooks below)
and by migration 0010. A batch migration that recreates ``signups``, ``shifts``,
``activities`` or ``activity_programmes`` on SQLite drops their triggers: call
:func:`create_statements` again afterwards (tests/test_participation.py checks a migrated
database has them).
"""

from __future__ import annotations

from sqlalchemy import Column, Integer, PrimaryKeyConstraint, String, Table, event, text

from portal.models.base import Base

# Bandit's B608 (SQL built from strings) is silenced where the trigger bodies and rebuild
# statements are put together: every piece is a constant of this module or a table alias
# (NEW / OLD, s, sh, a); no value from a request or the database is ever formatted in.

TIMEZONE = "Asia/Shanghai"

participation = Table(
    "participation",
    Base.metadata,
    Column("month", String(7), nullable=False),  # 'YYYY-MM', local
    Column("kind", String(1), nullable=False),  # z / u / p
    Column("key", Integer, nullable=False, autoincrement=False),
    Column("user_id", Integer, nullable=False, autoincrement=False),
    Column("n", Integer, nullable=False),
    # Counting one (month, kind, key) range reads the key alone: SQLite keeps the rows in it
    # (WITHOUT ROWID); PostgreSQL carries n in it (INCLUDE) for an index-only scan.
    PrimaryKeyConstraint("month", "kind", "key", "user_id", postgresql_include=["n"]),
    sqlite_with_rowid=False,
)

_HOLDING = "('pending', 'confirmed')"  # PLACE_HOLDING_STATUSES (a test checks they agree)
_NOT_COUNTED = "('draft', 'cancelled')"  # activity statuses whose shifts never count
_MONTH = {
    "sqlite": "strftime('%Y-%m', {t}, '+8 hours')",
    "postgresql": "to_char(({t}) AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM')",
}


def _month(dialect: str, column: str) -> str:
    return _MONTH[dialect].format(t=column)


# --- the row sources: (month, zone_id, unit_id, activity_id, user_id, delta) ------------------


def _places(d: str, sign: int, *, sh: str, act: str, su: str, source: str, link: str) -> str:
    """The places (place-holding sign-ups of live shifts of counted activities) a row stands
    for: ``sh`` / ``act`` / ``su`` name the shift, activity and sign-up (a table alias, or
    NEW / OLD), ``source`` and ``link`` join the ones that are tables."""
    return (
        f"SELECT {_month(d, sh + '.starts_at')} AS month, {act}.zone_id AS zone_id, "  # nosec B608
        f"{act}.unit_id AS unit_id, {act}.id AS activity_id, {su}.user_id AS user_id, "
        f"{sign} AS delta FROM {source} "
        f"WHERE {link} AND {sh}.status = 'scheduled' AND {act}.status NOT IN {_NOT_COUNTED} "
        f"AND {su}.status IN {_HOLDING} AND {su}.user_id IS NOT NULL"
    )


def _one_signup(d: str, ref: str, sign: int) -> str:
    """The contribution of one sign-up row (NEW or OLD), looked up through its shift."""
    return _places(
        d,
        sign,
        sh="sh",
        act="a",
        su=ref,
        source="shifts sh JOIN activities a ON a.id = sh.activity_id",
        link=f"sh.id = {ref}.shift_id",
    )


def _one_shift(d: str, ref: str, sign: int) -> str:
    """Every place on one shift row (NEW or OLD: its start, status and activity)."""
    return _places(
        d,
        sign,
        sh=ref,
        act="a",
        su="s",
        source=f"signups s JOIN activities a ON a.id = {ref}.activity_id",
        link=f"s.shift_id = {ref}.id",
    )


def _one_activity(d: str, ref: str, sign: int) -> str:
    """Every place on one activity row (NEW or OLD: its status, zone and unit)."""
    return _places(
        d,
        sign,
        sh="sh",
        act=ref,
        su="s",
        source="shifts sh JOIN signups s ON s.shift_id = sh.id",
        link=f"sh.activity_id = {ref}.id",
    )


def _activity_places(d: str, activity: str, sign: int) -> str:
    """Every place on the activity with this id (as it is now)."""
    return _places(
        d,
        sign,
        sh="sh",
        act="a",
        su="s",
        source="activities a JOIN shifts sh ON sh.activity_id = a.id "
        "JOIN signups s ON s.shift_id = sh.id",
        link=f"a.id = {activity}",
    )


_UPSERT = (
    "INSERT INTO participation (month, kind, key, user_id, n) {select} "
    "ON CONFLICT (month, kind, key, user_id) DO UPDATE SET n = participation.n + excluded.n"
)


def _apply(rows: str) -> list[str]:
    """Add the rows' deltas to the zone, unit and programme rows."""
    return [
        _UPSERT.format(
            select=f"SELECT r.month, 'z', r.zone_id, r.user_id, SUM(r.delta) FROM ({rows}) r "  # nosec B608
            "WHERE true GROUP BY r.month, r.zone_id, r.user_id"
        ),
        _UPSERT.format(
            select=f"SELECT r.month, 'u', r.unit_id, r.user_id, SUM(r.delta) FROM ({rows}) r "  # nosec B608
            "WHERE true GROUP BY r.month, r.unit_id, r.user_id"
        ),
        _UPSERT.format(
            select="SELECT r.month, 'p', ap.programme_id, r.user_id, SUM(r.delta) "  # nosec B608
            f"FROM ({rows}) r JOIN activity_programmes ap ON ap.activity_id = r.activity_id "
            "WHERE true GROUP BY r.month, ap.programme_id, r.user_id"
        ),
    ]


def _apply_programme(rows: str, programme: str) -> list[str]:
    """Add the rows' deltas to one programme's rows (a link made or removed)."""
    return [
        _UPSERT.format(
            select=f"SELECT r.month, 'p', {programme}, r.user_id, SUM(r.delta) FROM ({rows}) r "  # nosec B608
            "WHERE true GROUP BY r.month, r.user_id"
        )
    ]


def _changed(d: str, columns: tuple[str, ...]) -> str:
    op = "IS NOT" if d == "sqlite" else "IS DISTINCT FROM"
    return " OR ".join(f"OLD.{c} {op} NEW.{c}" for c in columns)


# --- the triggers ----------------------------------------------------------------------------


def _triggers(d: str) -> list[tuple[str, str, str, str | None, list[str]]]:
    """(name, timing and event, table, WHEN condition, body statements)."""
    return [
        (
            "participation_signup_ins",
            "AFTER INSERT",
            "signups",
            None,
            _apply(_one_signup(d, "NEW", 1)),
        ),
        (
            "participation_signup_del",
            "AFTER DELETE",
            "signups",
            None,
            _apply(_one_signup(d, "OLD", -1)),
        ),
        (
            "participation_signup_upd",
            "AFTER UPDATE OF status, shift_id, user_id",
            "signups",
            _changed(d, ("status", "shift_id", "user_id")),
            _apply(_one_signup(d, "OLD", -1)) + _apply(_one_signup(d, "NEW", 1)),
        ),
        (
            "participation_shift_upd",
            "AFTER UPDATE OF status, starts_at, activity_id",
            "shifts",
            _changed(d, ("status", "starts_at", "activity_id")),
            _apply(_one_shift(d, "OLD", -1)) + _apply(_one_shift(d, "NEW", 1)),
        ),
        (
            "participation_shift_del",
            "BEFORE DELETE",
            "shifts",
            None,
            ["DELETE FROM signups WHERE shift_id = OLD.id"],
        ),
        (
            "participation_activity_upd",
            "AFTER UPDATE OF status, zone_id, unit_id",
            "activities",
            _changed(d, ("status", "zone_id", "unit_id")),
            _apply(_one_activity(d, "OLD", -1)) + _apply(_one_activity(d, "NEW", 1)),
        ),
        (
            "participation_activity_del",
            "BEFORE DELETE",
            "activities",
            None,
            ["DELETE FROM shifts WHERE activity_id = OLD.id"],
        ),
        (
            "participation_link_ins",
            "AFTER INSERT",
            "activity_programmes",
            None,
            _apply_programme(_activity_places(d, "NEW.activity_id", 1), "NEW.programme_id"),
        ),
        (
            "participation_link_del",
            "AFTER DELETE",
            "activity_programmes",
            None,
            _apply_programme(_activity_places(d, "OLD.activity_id", -1), "OLD.programme_id"),
        ),
        (
            "participation_link_upd",
            "AFTER UPDATE",
            "activity_programmes",
            None,
            _apply_programme(_activity_places(d, "OLD.activity_id", -1), "OLD.programme_id")
            + _apply_programme(_activity_places(d, "NEW.activity_id", 1), "NEW.programme_id"),
        ),
    ]


# --- per-shift attendance sums -----------------------------------------------------------
#
# The board's hours, attended and no-shows per shift, kept on the shift by the same kind of
# trigger (no sign-up read for them either): ``attended_count`` and ``no_show_count`` count
# sign-ups by their attendance mark; ``record_tenths`` sums, in tenths of an hour (integers:
# exact on both databases), the hours of attended sign-ups with hours above zero that the
# organizer confirmed — the records rule (portal.attendance.records.counts_as_record) but for
# the activity's kind, which the reader applies. Whether the shift takes place is also left
# to the reader.

_MARK_COLUMNS = ("attendance", "hours", "hours_confirmed_at", "shift_id")


def _marks(ref: str, sign: str) -> str:
    return (
        "UPDATE shifts SET "  # nosec B608
        f"attended_count = attended_count {sign} "
        f"(CASE WHEN {ref}.attendance = 'attended' THEN 1 ELSE 0 END), "
        f"no_show_count = no_show_count {sign} "
        f"(CASE WHEN {ref}.attendance = 'no_show' THEN 1 ELSE 0 END), "
        f"record_tenths = record_tenths {sign} "
        f"(CASE WHEN {ref}.attendance = 'attended' AND {ref}.hours > 0 "
        f"AND {ref}.hours_confirmed_at IS NOT NULL "
        f"THEN CAST(ROUND({ref}.hours * 10) AS INTEGER) ELSE 0 END) "
        f"WHERE id = {ref}.shift_id AND {ref}.attendance IS NOT NULL"
    )


def _mark_triggers(d: str) -> list[tuple[str, str, str, str | None, list[str]]]:
    return [
        ("shift_marks_signup_ins", "AFTER INSERT", "signups", None, [_marks("NEW", "+")]),
        ("shift_marks_signup_del", "AFTER DELETE", "signups", None, [_marks("OLD", "-")]),
        (
            "shift_marks_signup_upd",
            "AFTER UPDATE OF " + ", ".join(_MARK_COLUMNS),
            "signups",
            _changed(d, _MARK_COLUMNS),
            [_marks("OLD", "-"), _marks("NEW", "+")],
        ),
    ]


TRIGGER_NAMES = tuple(t[0] for t in _triggers("sqlite"))
MARK_TRIGGER_NAMES = tuple(t[0] for t in _mark_triggers("sqlite"))


def _all(dialect: str, which: str):
    if which == "participation":
        return _triggers(dialect)
    if which == "marks":
        return _mark_triggers(dialect)
    return _triggers(dialect) + _mark_triggers(dialect)


def create_statements(dialect: str, which: str = "participation") -> list[str]:
    """DDL of the triggers: ``participation`` (migration 0010), ``marks`` (0011), ``all``."""
    out = []
    for name, timing, table, when, body in _all(dialect, which):
        if dialect == "sqlite":
            cond = f" WHEN {when}" if when else ""
            out.append(
                f"CREATE TRIGGER IF NOT EXISTS {name} {timing} ON {table} FOR EACH ROW{cond} "
                "BEGIN " + " ".join(s + ";" for s in body) + " END"
            )
        else:
            result = "OLD" if timing.startswith("BEFORE") else "NULL"
            out.append(
                f"CREATE OR REPLACE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $body$ "
                "BEGIN " + " ".join(s + ";" for s in body) + f" RETURN {result}; END $body$"
            )
            cond = f" WHEN ({when})" if when else ""
            out.append(f"DROP TRIGGER IF EXISTS {name} ON {table}")
            out.append(
                f"CREATE TRIGGER {name} {timing} ON {table} FOR EACH ROW{cond} "
                f"EXECUTE FUNCTION {name}()"
            )
    return out


def drop_statements(dialect: str, which: str = "participation") -> list[str]:
    out = []
    for name, _timing, table, _when, _body in _all(dialect, which):
        if dialect == "sqlite":
            out.append(f"DROP TRIGGER IF EXISTS {name}")
        else:
            out.append(f"DROP TRIGGER IF EXISTS {name} ON {table}")
            out.append(f"DROP FUNCTION IF EXISTS {name}()")
    return out


_MARKS_TRUTH = (
    "SELECT s.shift_id AS shift_id, "
    "SUM(CASE WHEN s.attendance = 'attended' THEN 1 ELSE 0 END) AS a, "
    "SUM(CASE WHEN s.attendance = 'no_show' THEN 1 ELSE 0 END) AS ns, "
    "SUM(CASE WHEN s.attendance = 'attended' AND s.hours > 0 "
    "AND s.hours_confirmed_at IS NOT NULL THEN CAST(ROUND(s.hours * 10) AS INTEGER) ELSE 0 END) "
    "AS h "
    "FROM signups s WHERE s.attendance IS NOT NULL GROUP BY s.shift_id"
)


def rebuild_marks(connection) -> None:
    """Recount every shift's attendance sums from its sign-ups (migration 0011, bulk loads)."""
    connection.execute(
        text("UPDATE shifts SET attended_count = 0, no_show_count = 0, record_tenths = 0")
    )
    connection.execute(
        text(
            "UPDATE shifts SET attended_count = t.a, no_show_count = t.ns, record_tenths = t.h "  # nosec B608
            f"FROM ({_MARKS_TRUTH}) AS t WHERE shifts.id = t.shift_id"
        )
    )


def mark_problems(session, limit: int = 20) -> list[tuple]:
    """(shift, kept (attended, no-shows, tenths), counted) where they differ; empty if none."""
    true = {sid: (int(a), int(ns), int(h)) for sid, a, ns, h in session.execute(text(_MARKS_TRUTH))}
    out = []
    for sid, a, ns, h in session.execute(
        text("SELECT id, attended_count, no_show_count, record_tenths FROM shifts ORDER BY id")
    ):
        kept, counted = (a, ns, h), true.get(sid, (0, 0, 0))
        if kept != counted:
            out.append((sid, kept, counted))
            if len(out) >= limit:
                break
    return out


def truth_select(dialect: str) -> str:
    """(month, kind, key, user_id, n) counted live from the sign-ups: what the table must hold
    (rows with n > 0)."""
    month = _month(dialect, "sh.starts_at")
    base = (
        "FROM signups s JOIN shifts sh ON sh.id = s.shift_id "
        "JOIN activities a ON a.id = sh.activity_id {join}"
        f"WHERE s.status IN {_HOLDING} AND sh.status = 'scheduled' "
        f"AND a.status NOT IN {_NOT_COUNTED} AND s.user_id IS NOT NULL "
    )
    parts = [
        f"SELECT {month} AS month, 'z' AS kind, a.zone_id AS key, s.user_id AS user_id, "
        "COUNT(*) AS n " + base.format(join="") + f"GROUP BY {month}, a.zone_id, s.user_id",
        f"SELECT {month}, 'u', a.unit_id, s.user_id, COUNT(*) "
        + base.format(join="")
        + f"GROUP BY {month}, a.unit_id, s.user_id",
        f"SELECT {month}, 'p', ap.programme_id, s.user_id, COUNT(*) "
        + base.format(join="JOIN activity_programmes ap ON ap.activity_id = a.id ")
        + f"GROUP BY {month}, ap.programme_id, s.user_id",
    ]
    return " UNION ALL ".join(parts)


def rebuild(connection) -> None:
    """Refill the table from the sign-ups (a migration, a bulk load)."""
    dialect = connection.dialect.name
    connection.execute(text("DELETE FROM participation"))
    connection.execute(
        text(
            "INSERT INTO participation (month, kind, key, user_id, n) "  # nosec B608
            + truth_select(dialect)
        )
    )


def problems(session, limit: int = 20) -> list[tuple]:
    """Rows where the table and the live count differ: (month, kind, key, user, kept, true).
    Empty when they agree."""
    dialect = session.get_bind().dialect.name
    kept = {
        (m, k, key, u): n
        for m, k, key, u, n in session.execute(
            text("SELECT month, kind, key, user_id, n FROM participation WHERE n <> 0")
        )
    }
    true = {
        (m, k, key, u): n
        for m, k, key, u, n in session.execute(text(truth_select(dialect)))  # nosec B608
    }
    out = []
    for row in sorted(set(kept) | set(true)):
        if kept.get(row, 0) != true.get(row, 0):
            out.append((*row, kept.get(row, 0), true.get(row, 0)))
            if len(out) >= limit:
                break
    return out


def usable(timezone: str) -> bool:
    """The triggers' months are the site's months (see the module's docstring)."""
    return timezone == TIMEZONE


@event.listens_for(Base.metadata, "after_create")
def _create_triggers(_metadata, connection, **_kw) -> None:
    for statement in create_statements(connection.dialect.name, "all"):
        connection.execute(text(statement))


@event.listens_for(Base.metadata, "before_drop")
def _drop_triggers(_metadata, connection, **_kw) -> None:
    for statement in drop_statements(connection.dialect.name, "all"):
        connection.execute(text(statement))

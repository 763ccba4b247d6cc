"""The dashboard's result cache and the data version that keeps it exact.

Working out the board over the big district reads a couple of months of sign-ups (about
150,000 rows at S=1) and counts unique people per zone, unit and programme — close to a
second of database time. The figures only change when somebody writes, so the board is
cached in the process, keyed by the **data version**:

- ``dashboard_versions`` holds a few rows (``SHARDS``), each a random token. Every
  transaction that sends an INSERT, UPDATE or DELETE to a table the dashboard reads
  (:data:`WATCHED`) writes a new random token into one shard just before its COMMIT,
  **in the same transaction** (an engine hook sees every statement, so ORM flushes, bulk
  ``update()``, Core inserts and the shift counters are all noticed). The token commits or
  rolls back with the writes it stands for.
- The dashboard reads all shards *before* it computes anything. Figures computed after
  reading version V include at least every write committed up to V; any later commit
  changes a token, so nobody reads V again. A cached board can be newer than its key, never
  older — it can never show stale figures.
- Random tokens rather than counters: a restored backup or an emptied test database cannot
  come back to a key that once meant other data. Several shards rather than one row: writers
  in different transactions rarely wait on the same row lock (PostgreSQL).
- No rows (a database no write has touched since the table was made, e.g. bulk-loaded with
  COPY outside the engine): nothing is cached.

Writes that bypass the app's engine (psql, the raw COPY in ``seed-bench`` on PostgreSQL)
are not seen; after such a load, restart the app or write once through it.
"""

from __future__ import annotations

import copy
import os
import random
import re
import threading
import weakref
from collections import OrderedDict

from flask import current_app
from sqlalchemy import BigInteger, Column, Integer, Table, event, select
from sqlalchemy.engine import Engine

from portal.models.base import Base

SHARDS = 16
CACHE_SIZE = 32

versions = Table(
    "dashboard_versions",
    Base.metadata,
    Column("shard", Integer, primary_key=True, autoincrement=False),
    Column("token", BigInteger, nullable=False),
)

#: Every table the dashboard's figures, names and leader rows come from, and every table the
#: pages kept by :mod:`portal.pagecache` read (the list, an activity page, "my schedule" and
#: the navigation's role links: ``unit_organizers``). Notifications are not here: the one
#: figure of them on those pages, the unread badge, is part of the page cache's key.
WATCHED = frozenset(
    {
        "signups",
        "shifts",
        "activities",
        "activity_programmes",
        "programmes",
        "zones",
        "units",
        "zone_leaders",
        "users",
        "leader_visits",
        "unit_organizers",
        # the feeds' probe (portal.feeds.services._probe_row): a token revoked or its alarm
        # changed must show at once
        "calendar_tokens",
    }
)

_DML = re.compile(
    r"^\s*(?:INSERT\s+(?:OR\s+\w+\s+)?INTO|UPDATE(?:\s+OR\s+\w+)?|DELETE\s+FROM|"
    r"TRUNCATE(?:\s+TABLE)?|REPLACE\s+INTO)\s+(?:ONLY\s+)?[\"`]?(\w+)",
    re.IGNORECASE,
)
_WROTE = "dashboard_version_wrote"  # Connection.info: this transaction wrote a watched table
_rng = random.SystemRandom()
_states: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # engine → {"ready": bool}


def touches_watched(statement: str) -> bool:
    match = _DML.match(statement)
    if match is None:
        return False
    return match.group(1).lower() in WATCHED or statement.lstrip()[:8].upper() == "TRUNCATE"


def _table_exists(cursor, dialect: str) -> bool:
    if dialect == "sqlite":
        cursor.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'dashboard_versions'"
        )
        return cursor.fetchone() is not None
    cursor.execute("SELECT to_regclass('dashboard_versions') IS NOT NULL")
    return bool(cursor.fetchone()[0])


def install(engine: Engine) -> None:
    """Bump the data version in every transaction that writes a watched table."""
    if engine in _states:
        return
    state = _states[engine] = {"ready": False}  # the table exists (checked until it does)
    dialect = engine.dialect.name

    @event.listens_for(engine, "before_cursor_execute")
    def _note_write(conn, cursor, statement, _parameters, _context, _executemany):
        if conn.info.get(_WROTE) or not touches_watched(statement):
            return
        if not state["ready"]:
            raw = cursor.connection.cursor()
            try:
                state["ready"] = _table_exists(raw, dialect)
            finally:
                raw.close()
        if state["ready"]:
            conn.info[_WROTE] = True

    @event.listens_for(engine, "commit")
    def _bump(conn):
        # Just before COMMIT, inside the transaction: the new token commits with the writes.
        # Last, so the shard's row lock is held only for the commit itself (no lock-order
        # deadlock with the rows the transaction wrote).
        if not conn.info.pop(_WROTE, False):
            return
        raw = conn.connection.dbapi_connection.cursor()
        try:
            # Two integers of our own are the only values in this statement.
            raw.execute(
                "INSERT INTO dashboard_versions (shard, token) VALUES "  # nosec B608
                f"({_rng.randrange(SHARDS)}, {_rng.randrange(1, 2**62)}) "
                "ON CONFLICT (shard) DO UPDATE SET token = excluded.token"
            )
        finally:
            raw.close()

    def _forget(conn, *_args):
        conn.info.pop(_WROTE, None)

    # A rolled-back savepoint keeps the mark: bumping once too often is harmless.
    for name in ("begin", "rollback"):
        event.listen(engine, name, _forget)


def current_key(session) -> tuple | None:
    """The data version as this transaction sees it; None: do not cache."""
    engine = session.get_bind()
    state = _states.get(engine)
    if state is None:
        return None
    if not state["ready"]:
        with engine.connect() as conn:
            raw = conn.connection.dbapi_connection.cursor()
            try:
                state["ready"] = _table_exists(raw, engine.dialect.name)
            finally:
                raw.close()
        if not state["ready"]:
            return None
    rows = session.execute(
        select(versions.c.shard, versions.c.token).order_by(versions.c.shard)
    ).all()
    return tuple((int(s), int(t)) for s, t in rows) or None


# --- the cache, per app and process ----------------------------------------------------------

_lock = threading.Lock()


def _store() -> OrderedDict:
    store = current_app.extensions.get("dashboard_board_cache")
    if store is None:
        store = current_app.extensions.setdefault("dashboard_board_cache", OrderedDict())
    return store


def enabled() -> bool:
    """``DASHBOARD_CACHE`` (default on); ``PORTAL_DASHBOARD_CACHE=0`` turns it off for a
    benchmark of the uncached board."""
    if "DASHBOARD_CACHE" in current_app.config:
        return bool(current_app.config["DASHBOARD_CACHE"])
    return os.environ.get("PORTAL_DASHBOARD_CACHE", "1") not in ("0", "false", "no")


def get(key):
    with _lock:
        store = _store()
        found = store.get(key)
        if found is None:
            return None
        store.move_to_end(key)
    return _copy(found)  # callers rank and filter the rows in place


def put(key, value) -> None:
    """Keep a board under (data version, period, scope)."""
    value = _copy(value)
    with _lock:
        store = _store()
        for old in [k for k in store if k[0] != key[0]]:
            del store[old]  # boards of an older data version are never asked for again
        store[key] = value
        store.move_to_end(key)
        while len(store) > CACHE_SIZE:
            store.popitem(last=False)


def _copy(value):
    clone = getattr(value, "clone", None)
    return clone() if clone is not None else copy.deepcopy(value)


def clear() -> None:
    """Forget every cached board of this app (tests; a load that bypassed the engine)."""
    with _lock:
        _store().clear()

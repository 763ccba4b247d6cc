"""Engine behaviour that both databases need: SQLite pragmas and the one write path.

SQLite serialises writers with a file lock. A transaction that reads first and writes later
can fail at once with "database is locked" when another process wrote in between, without
waiting for the busy timeout. Rule-checking writes (sign-ups, roster changes) therefore start
their transaction with ``BEGIN IMMEDIATE`` through :func:`write_transaction`, which takes the
lock up front and waits for it (busy timeout). On PostgreSQL callers then lock the rows the
rule is about with ``SELECT … FOR UPDATE`` (:func:`lock_rows`).

Requests cannot forget it (:func:`install_write_path`): every POST and every GET view marked
:func:`writes` (an audit entry for a roster view, an inbox marked read) begins with the write
transaction, and a request that flushes anything outside it fails loudly instead of racing.
"""

from __future__ import annotations

from contextvars import ContextVar

from flask import Flask, g, has_request_context, request
from sqlalchemy import event, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

_immediate: ContextVar[bool] = ContextVar("sqlite_begin_immediate", default=False)


def configure_engine(engine: Engine) -> None:
    """Install the per-connection settings the portal relies on."""
    if engine.dialect.name != "sqlite":
        return

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):  # pragma: no cover - trivial
        # Let SQLAlchemy, not pysqlite, decide when a transaction starts.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):
        conn.exec_driver_sql("BEGIN IMMEDIATE" if _immediate.get() else "BEGIN")


def is_sqlite(session) -> bool:
    """Tell whether the session talks to SQLite."""
    return session.get_bind().dialect.name == "sqlite"


_WRITE_TX = "portal_write_tx"  # session.info key: the transaction begun by begin_write
_WROTE = "portal_wrote"  # session.info key: this transaction has sent writes


@event.listens_for(Session, "after_flush")
def _remember_write(session, _flush_context) -> None:
    session.info[_WROTE] = True


@event.listens_for(Session, "do_orm_execute")
def _remember_bulk_write(state) -> None:
    if state.is_update or state.is_delete or state.is_insert:
        state.session.info[_WROTE] = True


@event.listens_for(Session, "after_commit")
@event.listens_for(Session, "after_rollback")
def _forget_writes(session) -> None:
    session.info.pop(_WROTE, None)


def begin_write(session) -> None:
    """Make sure the request's transaction holds the write lock the rules need.

    Call it before the request writes anything: a read-only transaction is ended and a new
    one begun with ``BEGIN IMMEDIATE`` on SQLite (on PostgreSQL callers then lock rows with
    :func:`lock_rows`). Calling it again in the same transaction does nothing, so services
    can call it freely. Calling it after the request has already written is a bug — those
    writes would have to be committed half-way — and raises :class:`RuntimeError`.
    """
    tx = session.get_transaction()
    if tx is not None and session.info.get(_WRITE_TX) is tx:
        return
    if session.new or session.dirty or session.deleted or session.info.get(_WROTE):
        raise RuntimeError("begin_write() must come before the request's first write")
    if session.in_transaction():
        session.commit()  # only reads so far; ends the snapshot so the lock is fresh
    if is_sqlite(session):
        token = _immediate.set(True)
        try:
            session.connection()
        finally:
            _immediate.reset(token)
    else:
        session.connection()
    session.info[_WRITE_TX] = session.get_transaction()


def try_lock_row(session, model, row_id: int) -> bool:
    """Lock one row if nobody else holds it; tell whether we got it (never waits).

    For taking locks out of the usual order (a shift's lock is held and a person's is
    wanted): waiting there could deadlock, so a busy row is skipped instead. On SQLite the
    database-wide write lock is already held, so this is always true.
    """
    if is_sqlite(session):
        return True
    got = session.execute(
        select(model.id).where(model.id == row_id).with_for_update(skip_locked=True)
    ).first()
    return got is not None


def lock_rows(session, model, *ids) -> None:
    """Lock rows of ``model`` for the rest of the transaction (PostgreSQL row locks).

    On SQLite the whole database is already locked by :func:`begin_write`.
    """
    if is_sqlite(session) or not ids:
        return
    session.execute(
        select(model.id).where(model.id.in_(sorted(ids))).order_by(model.id).with_for_update()
    ).all()


# --- the write path of a request --------------------------------------------------------------

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def writes(view):
    """Mark a GET view that writes (an audit entry, marking messages read).

    Its request then takes the write transaction first, like every POST.
    """
    view.portal_writes = True
    return view


def locks_late(view):
    """Mark a POST view whose service takes the write transaction itself, just before its
    first write (:func:`portal.signups.places.lock` calls :func:`begin_write`).

    On SQLite the database-wide write lock is then not held while the request loads the
    person, checks the form and reads what it needs to answer (~30% of a sign-up's time
    under the lock); 40 people pressing 报名 at once queue for less. The request is policed as
    any other: a flush outside the write transaction still fails loudly.
    """
    view.portal_locks_late = True
    return view


def _request_writes(app: Flask) -> bool:
    view = app.view_functions.get(request.endpoint or "")
    if request.method not in SAFE_METHODS:
        return not getattr(view, "portal_locks_late", False)
    return bool(getattr(view, "portal_writes", False))


def install_write_path(app: Flask, db) -> None:
    """Begin the write transaction before anything else in requests that write.

    Runs as the first ``before_request`` (before blueprints' hooks read the person), so on
    SQLite the request waits for the write lock instead of failing later with "database is
    locked" when it upgrades a read to a write.
    """

    @app.before_request
    def _begin_write_if_needed():
        g.portal_policed = True
        if _request_writes(app):
            begin_write(db.session())

    app.before_request_funcs.setdefault(None, []).insert(0, app.before_request_funcs[None].pop())


@event.listens_for(Session, "before_flush")
def _refuse_flush_outside_write_path(session, _flush_context, _instances) -> None:
    changed = session.new or session.deleted or any(session.is_modified(o) for o in session.dirty)
    if changed:
        _check_write_path(session)


@event.listens_for(Session, "do_orm_execute")
def _refuse_bulk_write_outside_write_path(state) -> None:
    if state.is_update or state.is_delete or state.is_insert:
        _check_write_path(state.session)


def _check_write_path(session) -> None:
    if not has_request_context() or not g.get("portal_policed"):
        return  # CLI commands, tests' own builders
    tx = session.get_transaction()
    if tx is None or session.info.get(_WRITE_TX) is not tx:
        raise RuntimeError(
            f"{request.method} {request.endpoint} writes outside its write transaction: "
            "mark the view with portal.database.writes, or call begin_write() first"
        )

"""Every earlier migration revision, with data in it, upgrades to head keeping the data; head
downgrades one step and upgrades again. On SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from alembic.script import ScriptDirectory
from flask_migrate import downgrade, upgrade
from sqlalchemy import inspect, text

from portal import create_app
from portal.extensions import db
from tests.conftest import base_config
from tests.test_migrations import _empty_database

pytestmark = pytest.mark.both_databases

TABLES = ("zones", "units", "users", "activities")  # in foreign-key order
KNOWN = {
    ("units", "kind"): "department",
    ("activities", "kind"): "volunteer",
    ("activities", "status"): "published",
    ("users", "phone"): "13800007777",
    ("users", "real_name"): "王秀英",
}


def _revisions(app) -> list[str]:
    config = app.extensions["migrate"].migrate.get_config()
    script = ScriptDirectory.from_config(config)
    return [s.revision for s in reversed(list(script.walk_revisions()))]


def _value(table: str, column: dict, ids: dict):
    if (table, column["name"]) in KNOWN:
        return KNOWN[(table, column["name"])]
    if column["name"].endswith("_id") and column["name"][:-3] + "s" in ids:
        return ids[column["name"][:-3] + "s"]
    kind = type(column["type"]).__name__.upper()
    if "INT" in kind:
        return 1
    if "BOOL" in kind:
        return False
    if "DATETIME" in kind or "TIMESTAMP" in kind:
        return datetime(2026, 1, 1, tzinfo=UTC)
    if "DATE" in kind:
        return date(2026, 1, 1)
    if "FLOAT" in kind or "NUMERIC" in kind or "REAL" in kind:
        return 1.0
    return "x"


def _fill(conn) -> dict[str, int]:
    """One row in each of TABLES, every NOT NULL column filled; return the new ids."""
    ids: dict[str, int] = {}
    inspector = inspect(conn)
    for table in TABLES:
        columns = [c for c in inspector.get_columns(table) if c["name"] != "id"]
        values = {
            c["name"]: _value(table, c, ids)
            for c in columns
            if not c["nullable"] or (table, c["name"]) in KNOWN
        }
        names = ", ".join(values)
        marks = ", ".join(f":{n}" for n in values)
        conn.execute(text(f"INSERT INTO {table} ({names}) VALUES ({marks})"), values)  # nosec
        ids[table] = conn.execute(text(f"SELECT max(id) FROM {table}")).scalar_one()  # nosec
    return ids


def _rows(conn) -> dict[str, int]:
    return {t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one() for t in TABLES}


def test_every_revision_with_data_upgrades_to_head(backend, request, tmp_path):
    probe = create_app(base_config("sqlite://"))
    with probe.app_context():
        revisions = _revisions(probe)
    assert len(revisions) >= 6
    for revision in revisions[:-1]:
        url, drop = _empty_database(backend, request, tmp_path / revision)
        try:
            (tmp_path / revision).mkdir(exist_ok=True)
            app = create_app(base_config(url))
            with app.app_context():
                upgrade(revision=revision)
                with db.engine.begin() as conn:
                    ids = _fill(conn)
                upgrade()
                with db.engine.connect() as conn:
                    assert _rows(conn) == dict.fromkeys(TABLES, 1), revision
                    name = conn.execute(
                        text("SELECT real_name FROM users WHERE id = :i"), {"i": ids["users"]}
                    ).scalar_one()
                    assert name == "王秀英"
                db.session.remove()
                db.engine.dispose()
        finally:
            if drop:
                drop()


def test_head_downgrades_one_step_with_data_and_upgrades_again(backend, request, tmp_path):
    url, drop = _empty_database(backend, request, tmp_path)
    try:
        app = create_app(base_config(url))
        with app.app_context():
            upgrade()
            with db.engine.begin() as conn:
                _fill(conn)
            downgrade(revision="-1")
            with db.engine.connect() as conn:
                assert _rows(conn) == dict.fromkeys(TABLES, 1)
            upgrade()
            with db.engine.connect() as conn:
                assert _rows(conn) == dict.fromkeys(TABLES, 1)
            db.session.remove()
            db.engine.dispose()
    finally:
        if drop:
            drop()

"""The text index behind the activity search (issue 12/13): it works for Chinese.

SQLite: an FTS5 table with the trigram tokenizer over each activity's title, place and
description (external content: the text stays in ``activities``), kept in step by three
triggers in the same statement as every insert, update and delete of an activity.
PostgreSQL: a ``pg_trgm`` GIN index on the same text, which the database keeps itself.

Zone, unit and programme names are not copied into the index: those tables are small, the
search looks them up live (portal.browse.queries), so renaming a zone can never leave the
index stale. The objects are created with the ``activities`` table (``create_all`` in
tests) and by migration 0007; migrations/env.py and tests/test_migrations.py leave them out
of the autogenerate comparison (:func:`include_name`, :func:`include_object`).
"""

from __future__ import annotations

from sqlalchemy import event, text

from portal.models.activities import Activity

FTS_TABLE = "activity_fts"
TRGM_INDEX = "ix_activities_search_trgm"
# The text searched, as one expression (the PostgreSQL index is on exactly this).
SEARCH_TEXT_SQL = "(title || ' ' || place || ' ' || description)"
# FTS5 keeps its index in these shadow tables.
_SHADOW = ("", "_data", "_idx", "_docsize", "_config", "_content")
NOT_IN_MODELS = {FTS_TABLE + s for s in _SHADOW} | {TRGM_INDEX}

# The DDL is written out as plain literals (no string formatting builds SQL here).
SQLITE_CREATE = [
    "CREATE VIRTUAL TABLE IF NOT EXISTS activity_fts USING fts5(title, place, description, "
    "content='activities', content_rowid='id', tokenize='trigram')",
    """CREATE TRIGGER IF NOT EXISTS activity_fts_ai AFTER INSERT ON activities BEGIN
        INSERT INTO activity_fts(rowid, title, place, description)
        VALUES (new.id, new.title, new.place, new.description);
    END""",
    """CREATE TRIGGER IF NOT EXISTS activity_fts_ad AFTER DELETE ON activities BEGIN
        INSERT INTO activity_fts(activity_fts, rowid, title, place, description)
        VALUES ('delete', old.id, old.title, old.place, old.description);
    END""",
    """CREATE TRIGGER IF NOT EXISTS activity_fts_au
        AFTER UPDATE OF title, place, description ON activities BEGIN
        INSERT INTO activity_fts(activity_fts, rowid, title, place, description)
        VALUES ('delete', old.id, old.title, old.place, old.description);
        INSERT INTO activity_fts(rowid, title, place, description)
        VALUES (new.id, new.title, new.place, new.description);
    END""",
    "INSERT INTO activity_fts(activity_fts) VALUES ('rebuild')",
]
SQLITE_DROP = [
    f"DROP TRIGGER IF EXISTS {FTS_TABLE}_ai",
    f"DROP TRIGGER IF EXISTS {FTS_TABLE}_ad",
    f"DROP TRIGGER IF EXISTS {FTS_TABLE}_au",
    f"DROP TABLE IF EXISTS {FTS_TABLE}",
]
POSTGRES_CREATE = [
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    f"CREATE INDEX IF NOT EXISTS {TRGM_INDEX} ON activities "
    f"USING gin ({SEARCH_TEXT_SQL} gin_trgm_ops)",
]
POSTGRES_DROP = [f"DROP INDEX IF EXISTS {TRGM_INDEX}"]


def create_statements(dialect: str) -> list[str]:
    return SQLITE_CREATE if dialect == "sqlite" else POSTGRES_CREATE


def drop_statements(dialect: str) -> list[str]:
    return SQLITE_DROP if dialect == "sqlite" else POSTGRES_DROP


@event.listens_for(Activity.__table__, "after_create")
def _create_search_index(_table, connection, **_kw) -> None:
    for statement in create_statements(connection.dialect.name):
        connection.execute(text(statement))


@event.listens_for(Activity.__table__, "before_drop")
def _drop_search_index(_table, connection, **_kw) -> None:
    for statement in drop_statements(connection.dialect.name):
        connection.execute(text(statement))


def include_name(name, type_, _parent_names) -> bool:
    """Alembic: the search objects are not in the models; do not compare or drop them."""
    return not (type_ in {"table", "index"} and name in NOT_IN_MODELS)


def include_object(_obj, name, type_, _reflected, _compare_to) -> bool:
    return not (type_ in {"table", "index"} and name in NOT_IN_MODELS)


def integrity_problems(session) -> list[str]:
    """Empty when the index agrees with the activities (SQLite checks its FTS table)."""
    if session.get_bind().dialect.name != "sqlite":
        return []
    try:
        session.execute(
            text("INSERT INTO activity_fts(activity_fts, rank) VALUES ('integrity-check', 1)")
        )
    except Exception as exc:  # noqa: BLE001 - the message is the finding
        return [str(exc)]
    return []

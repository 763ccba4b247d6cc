"""Migrations are code: an empty database upgrades to head and matches the models."""

from __future__ import annotations

import uuid

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade
from sqlalchemy import create_engine, inspect, text

from portal import create_app
from portal.extensions import db
from portal.models import search
from tests.conftest import PG_ADMIN_URL, base_config

pytestmark = pytest.mark.both_databases


def _empty_database(backend, request, tmp_path):
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'migrate.sqlite3'}", None
    request.getfixturevalue("postgres_url")  # skips or fails when PostgreSQL is missing
    name = f"portal_mig_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))

    def drop():
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}", drop


def test_upgrade_empty_database_to_head_matches_models(backend, request, tmp_path):
    url, drop = _empty_database(backend, request, tmp_path)
    try:
        app = create_app(base_config(url))
        with app.app_context():
            upgrade()
            assert set(db.metadata.tables) <= set(inspect(db.engine).get_table_names())
            with db.engine.connect() as conn:
                ctx = MigrationContext.configure(
                    conn,
                    opts={
                        "compare_type": True,
                        # the search index is outside the models (portal/models/search.py)
                        "include_name": search.include_name,
                        "include_object": search.include_object,
                    },
                )
                diff = compare_metadata(ctx, db.metadata)
            assert diff == [], f"models and migrations disagree: {diff}"
            downgrade(revision="base")
            assert set(inspect(db.engine).get_table_names()) <= {"alembic_version"}
            db.engine.dispose()
    finally:
        if drop:
            drop()

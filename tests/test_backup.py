"""``flask backup`` / ``flask restore``: a round trip brings back exactly what was there, on
SQLite (online backup API) and on PostgreSQL (pg_dump / pg_restore, when installed)."""

from __future__ import annotations

import shutil

import pytest
from sqlalchemy import text

pytestmark = pytest.mark.both_databases


def _snapshot(db) -> dict[str, list[tuple]]:
    rows = {}
    with db.engine.connect() as conn:
        for table in db.metadata.sorted_tables:
            result = conn.execute(table.select().order_by(*table.primary_key.columns))
            rows[table.name] = [tuple(r) for r in result]
    return rows


def test_backup_and_restore_round_trip(
    app, db, backend, runner, tmp_path, make_signup, make_shift, make_user
):
    if backend == "postgresql" and not (shutil.which("pg_dump") and shutil.which("pg_restore")):
        pytest.skip("pg_dump / pg_restore not installed")
    shift = make_shift()
    make_signup(shift, make_user("王秀英", phone="13800001111"))
    make_user("李建国", email="li@example.cn")
    before = _snapshot(db)
    assert sum(map(len, before.values())) >= 6
    db.session.remove()

    target = tmp_path / "portal.backup"
    result = runner.invoke(args=["backup", str(target)])
    assert result.exit_code == 0, result.output
    assert target.stat().st_size > 0

    # Damage after the backup: a deletion and a new row.
    with db.engine.begin() as conn:
        conn.execute(text("DELETE FROM signups"))
        conn.execute(text("UPDATE users SET real_name = 'x'"))
    assert _snapshot(db) != before

    result = runner.invoke(args=["restore", str(target), "--yes"])
    assert result.exit_code == 0, result.output
    assert _snapshot(db) == before


def test_restore_asks_first_and_refuses_what_is_not_a_backup(
    app, db, backend, runner, tmp_path, make_user
):
    make_user()
    bogus = tmp_path / "not-a-backup"
    bogus.write_text("hello")
    result = runner.invoke(args=["restore", str(bogus)], input="n\n")
    assert result.exit_code != 0 and "replaced" in result.output
    if backend == "sqlite":
        result = runner.invoke(args=["restore", str(bogus), "--yes"])
        assert result.exit_code != 0 and "not an SQLite backup" in result.output
    assert db.session.scalar(text("SELECT count(*) FROM users")) == 1

"""Backup and restore: ``flask --app portal backup FILE`` and ``restore FILE``.

- SQLite: the online backup API (a consistent copy while the app keeps running; writers wait a
  moment), and the same API backwards to restore.
- PostgreSQL: ``pg_dump --format=custom`` and ``pg_restore --clean --if-exists`` (the client
  tools must be installed); the URL's password travels in ``PGPASSWORD``, never on the command
  line.

A restore replaces everything in the database with the backup: stop the app (and cron) first.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess  # nosec B404 - pg_dump / pg_restore, arguments never from a request
from pathlib import Path

import click
from flask import Flask, current_app
from sqlalchemy.engine import make_url


class BackupError(Exception):
    pass


def _url():
    return make_url(current_app.config["SQLALCHEMY_DATABASE_URI"])


def _sqlite_path(url) -> str:
    if not url.database or url.database == ":memory:":
        raise BackupError("an in-memory SQLite database cannot be backed up")
    return url.database


def _pg_args(url) -> tuple[list[str], dict[str, str]]:
    args = []
    if url.host:
        args += ["--host", url.host]
    if url.port:
        args += ["--port", str(url.port)]
    if url.username:
        args += ["--username", url.username]
    env = {**os.environ}
    if url.password:
        env["PGPASSWORD"] = url.password
    return args, env


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise BackupError(f"{name} is not installed (apt-get install postgresql-client)")
    return path


def backup(target: Path) -> None:
    """Write a consistent copy of the whole database to ``target``."""
    from portal.extensions import db

    url = _url()
    target = Path(target)
    if url.get_backend_name() == "sqlite":
        source = sqlite3.connect(_sqlite_path(url), timeout=30)
        dest = sqlite3.connect(target)
        try:
            with dest:
                source.backup(dest)
        finally:
            dest.close()
            source.close()
        return
    if url.get_backend_name() == "postgresql":
        db.session.remove()
        args, env = _pg_args(url)
        subprocess.run(  # nosec B603 - fixed tool, arguments from our own configuration
            [
                _tool("pg_dump"),
                "--format=custom",
                "--no-owner",
                *args,
                "--file",
                str(target),
                url.database or "",
            ],
            check=True,
            env=env,
        )
        return
    raise BackupError(f"no backup for {url.get_backend_name()}")


def restore(source: Path) -> None:
    """Replace the database's contents with the backup in ``source``."""
    from portal.extensions import db

    url = _url()
    source = Path(source)
    if not source.is_file():
        raise BackupError(f"{source} does not exist")
    db.session.remove()
    db.engine.dispose()  # no pooled connection may hold the old file or tables
    if url.get_backend_name() == "sqlite":
        backup_db = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
        live = sqlite3.connect(_sqlite_path(url), timeout=30)
        try:
            backup_db.execute("PRAGMA schema_version")  # fails early on a non-SQLite file
            with live:
                backup_db.backup(live)
        except sqlite3.DatabaseError as exc:
            raise BackupError(f"{source} is not an SQLite backup: {exc}") from exc
        finally:
            live.close()
            backup_db.close()
        return
    if url.get_backend_name() == "postgresql":
        args, env = _pg_args(url)
        subprocess.run(  # nosec B603 - fixed tool, arguments from our own configuration
            [
                _tool("pg_restore"),
                "--clean",
                "--if-exists",
                "--no-owner",
                "--single-transaction",
                *args,
                "--dbname",
                url.database or "",
                str(source),
            ],
            check=True,
            env=env,
        )
        return
    raise BackupError(f"no restore for {url.get_backend_name()}")


def register_backup_cli(app: Flask) -> None:
    """The data-lifecycle commands: backup, restore, purge-expired (portal/retention.py)."""
    from portal.retention import register_retention_cli

    register_retention_cli(app)

    @app.cli.command("backup")
    @click.argument("target", type=click.Path(dir_okay=False, path_type=Path))
    def backup_command(target: Path) -> None:
        """Write a consistent copy of the database to TARGET (safe while the app runs)."""
        try:
            backup(target)
        except (BackupError, subprocess.CalledProcessError) as exc:
            raise click.ClickException(str(exc)) from exc
        click.echo(f"Backup written to {target}")

    @app.cli.command("restore")
    @click.argument("source", type=click.Path(dir_okay=False, exists=True, path_type=Path))
    @click.option("--yes", is_flag=True, help="Do not ask: everything now in it is replaced.")
    def restore_command(source: Path, yes: bool) -> None:
        """Replace everything in the database with the backup SOURCE (stop the app first)."""
        if not yes:
            click.confirm(
                "Everything now in the database is replaced by the backup. Go on?", abort=True
            )
        try:
            restore(source)
        except (BackupError, subprocess.CalledProcessError) as exc:
            raise click.ClickException(str(exc)) from exc
        click.echo(f"Database restored from {source}")

"""Configuration: defaults, instance file, environment variables, generated secret."""

from __future__ import annotations

import re

import pytest

from portal import create_app
from portal.config import normalise_database_url


@pytest.fixture
def clean_env(monkeypatch):
    for name in ("DATABASE_URL", "SECRET_KEY", "PORTAL_TIMEZONE", "PORTAL_HOST", "REDIS_URL"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def _app_in(tmp_path, monkeypatch):
    """An app whose instance folder is ``tmp_path`` (so nothing touches the real one)."""
    import flask

    original = flask.Flask.__init__

    def init(self, *args, **kwargs):
        kwargs["instance_path"] = str(tmp_path)
        original(self, *args, **kwargs)

    monkeypatch.setattr(flask.Flask, "__init__", init)
    return create_app()


def test_defaults_use_sqlite_in_instance_and_shanghai(tmp_path, clean_env):
    app = _app_in(tmp_path, clean_env)
    assert app.config["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{tmp_path / 'portal.sqlite3'}"
    assert app.config["PORTAL_TIMEZONE"] == "Asia/Shanghai"
    assert app.config["BABEL_DEFAULT_LOCALE"] == "zh_Hans_CN"


def test_secret_generated_once_into_instance_and_kept(tmp_path, clean_env):
    first = _app_in(tmp_path, clean_env).config["SECRET_KEY"]
    second = _app_in(tmp_path, clean_env).config["SECRET_KEY"]
    assert len(first) >= 40
    assert first == second
    assert (tmp_path / "secret_key").read_text().strip() == first
    assert oct((tmp_path / "secret_key").stat().st_mode & 0o777) == "0o600"


def test_instance_file_then_environment_override(tmp_path, clean_env):
    (tmp_path / "config.py").write_text(
        "PORTAL_TIMEZONE = 'Asia/Urumqi'\nSECRET_KEY = 'from-file'\nPAGE_SIZE = 5\n"
    )
    app = _app_in(tmp_path, clean_env)
    assert app.config["SECRET_KEY"] == "from-file"
    assert app.config["PAGE_SIZE"] == 5
    clean_env.setenv("SECRET_KEY", "from-env")
    clean_env.setenv("PORTAL_TIMEZONE", "Asia/Shanghai")
    clean_env.setenv("DATABASE_URL", "postgres://u@db.example/portal")
    app = _app_in(tmp_path, clean_env)
    assert app.config["SECRET_KEY"] == "from-env"
    assert app.config["PORTAL_TIMEZONE"] == "Asia/Shanghai"
    assert app.config["SQLALCHEMY_DATABASE_URI"] == "postgresql+psycopg://u@db.example/portal"


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgres://a@h/db", "postgresql+psycopg://a@h/db"),
        ("postgresql://a@h/db", "postgresql+psycopg://a@h/db"),
        ("postgresql+psycopg://a@h/db", "postgresql+psycopg://a@h/db"),
        ("sqlite:////tmp/x.db", "sqlite:////tmp/x.db"),
    ],
)
def test_database_url_uses_psycopg3(given, expected):
    assert normalise_database_url(given) == expected


def test_sqlite_pragmas_are_on(tmp_path):
    from portal.extensions import db
    from tests.conftest import base_config

    app = create_app(base_config(f"sqlite:///{tmp_path / 'pragmas.sqlite3'}"))
    with app.app_context(), db.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30000
    with app.app_context():
        db.engine.dispose()


@pytest.fixture
def app_config(request) -> dict:
    """Per-test configuration through ``indirect`` parametrization."""
    return getattr(request, "param", {})


@pytest.mark.parametrize(
    ("app_config", "expected"),
    [({}, 2), ({"CANCELLATION_DEADLINE_HOURS": 6}, 6)],
    indirect=["app_config"],
)
def test_new_activity_form_offers_the_configured_cancellation_deadline(
    client, login, make_user, make_unit, expected
):
    login(make_user("组织者", units=[make_unit()]))
    page = client.get("/organize/activities/new").get_data(as_text=True)
    field = re.search(r'<input[^>]*name="cancellation_deadline_hours"[^>]*>', page).group(0)
    assert f'value="{expected}"' in field

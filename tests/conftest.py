"""Fixtures: an app with a fresh database per test, on SQLite and (where it matters) PostgreSQL.

Every test that uses ``app`` (or ``client``/``db``/``backend``) runs on SQLite. Tests marked
``both_databases`` (most often a whole module: ``pytestmark = pytest.mark.both_databases``)
run on PostgreSQL as well: the rules, queries, locks, migrations and races, where the two
databases can differ. The ids stay ``[sqlite]`` / ``[postgresql]``. A test in such a module
that the database cannot change -- a form refusing bad input before anything is stored,
routing, an access check that reads no rows, a page's markup -- is marked
``database_independent("why")`` and runs on SQLite only.

SQLite: the schema is built once per session into a template file, which each test copies
(far faster than ``create_all`` per test); a module's world of rows can be built once too
(:func:`built_once`). PostgreSQL: a throw-away database created for this
session, schema built once, tables truncated after each test; when no server answers those
tests are skipped, unless ``REQUIRE_POSTGRES=1`` makes that a failure.
"""

from __future__ import annotations

import contextvars
import itertools
import os
import shutil
import sqlite3
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask, has_app_context
from flask.testing import FlaskClient
from jinja2 import BytecodeCache
from sqlalchemy import create_engine, event, text
from werkzeug.routing.rules import Rule

from portal import create_app
from portal.extensions import db as _db
from portal.models import (
    Activity,
    ActivityKind,
    ActivityStatus,
    Programme,
    Shift,
    Signup,
    SignupStatus,
    Unit,
    UnitKind,
    User,
    Zone,
)

# --- the same compiled code for every test's app -------------------------------------------
#
# Each test builds its own app, and each new app compiled its templates and URL rules from
# scratch: about 20 ms for the rules in create_app and 20-50 ms for the templates of the first
# pages a test requests, most of a typical test's time. Both are pure functions of their
# source, so the test processes compile each once and every later app reuses the code.
# Nothing an app holds is shared: each still has its own Jinja environment (globals, filters,
# template cache) and its own URL map and converters.


class _SharedTemplateCode(BytecodeCache):
    """Compiled templates kept in memory for every app of this process.

    Jinja checks the source checksum on each load (an edited template is compiled again);
    the key also names the environment's compile options, so an app configured otherwise
    never gets another's code.
    """

    def __init__(self) -> None:
        self._code: dict[str, bytes] = {}

    def get_bucket(self, environment, name, filename, source):
        options = (
            tuple(sorted(environment.extensions)),
            environment.block_start_string,
            environment.variable_start_string,
            environment.comment_start_string,
            environment.line_statement_prefix,
            environment.trim_blocks,
            environment.lstrip_blocks,
            environment.newline_sequence,
            environment.keep_trailing_newline,
            environment.optimized,
            repr(environment.autoescape),
            repr(environment.finalize),
        )
        return super().get_bucket(environment, f"{name}|{options!r}", filename, source)

    def load_bytecode(self, bucket) -> None:
        code = self._code.get(bucket.key)
        if code is not None:
            bucket.bytecode_from_string(code)

    def dump_bytecode(self, bucket) -> None:
        self._code[bucket.key] = bucket.bytecode_to_string()

    def clear(self) -> None:
        self._code.clear()


Flask.jinja_options = {**Flask.jinja_options, "bytecode_cache": _SharedTemplateCode()}

_original_compile_builder = Rule._compile_builder
_builders: dict[tuple, object] = {}


def _shared_compile_builder(self: Rule, append_unknown: bool = True):
    """Werkzeug generates each rule's URL builder as Python source and compiles it; the code
    depends only on the rule's text and parsed parts (the converters are looked up on the
    rule when a URL is built), so one compiled function serves that rule in every app.
    Rules with defaults (folded into the code through their converter) are not shared."""
    if self.defaults:
        return _original_compile_builder(self, append_unknown)
    key = (self.rule, tuple(self._trace), append_unknown)
    builder = _builders.get(key)
    if builder is None:
        builder = _builders[key] = _original_compile_builder(self, append_unknown)
    return builder


Rule._compile_builder = _shared_compile_builder


def use_test_password_hashing() -> None:
    """Argon2id at its lowest cost for the test processes (and the servers they start).

    The portal hashes with the library's recommended cost: about 0.1 s of CPU per hash or
    check, by design. Tests register, log in and seed demo accounts thousands of times; what
    they check is the algorithm and the flows, not the cost. A server a test starts may call
    it too, so a hash made here is never found "outdated" and upgraded on sign-in.
    """
    from argon2 import PasswordHasher

    from portal.auth import services as auth_services

    auth_services._hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


@pytest.fixture(scope="session", autouse=True)
def _test_password_hashing():
    use_test_password_hashing()


PG_ADMIN_URL = os.environ.get(
    "PORTAL_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
TEST_PASSWORD = "Correct-Horse-42"
# A throw-away database need not survive a crash: a COMMIT returns without waiting for its
# WAL record to reach the disk (a few milliseconds each, and builders commit per object).
# Locks, visibility and isolation are exactly as with the default.
NO_COMMIT_FLUSH = 'ALTER DATABASE "{name}" SET synchronous_commit = off'


def _flag(name: str) -> bool:
    return os.environ.get(name, "").lower() in {"1", "true", "yes"}


@pytest.fixture(scope="session")
def password_hash() -> str:
    """One argon2id hash of TEST_PASSWORD, reused so builders stay fast."""
    from portal.auth.services import hash_password

    return hash_password(TEST_PASSWORD)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """Create a throw-away PostgreSQL database for this session and drop it afterwards."""
    name = f"portal_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    try:
        admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
            conn.execute(text(NO_COMMIT_FLUSH.format(name=name)))
    except Exception as exc:  # noqa: BLE001 - any failure means "no PostgreSQL here"
        if _flag("REQUIRE_POSTGRES"):
            pytest.fail(f"REQUIRE_POSTGRES=1 but PostgreSQL is unreachable: {exc}")
        pytest.skip(f"PostgreSQL not reachable: {exc}")
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    yield url
    with admin.connect() as conn:
        conn.execute(
            text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = :name AND pid <> pg_backend_pid()"
            ),
            {"name": name},
        )
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
    admin.dispose()


BOTH_DATABASES = ["sqlite", "postgresql"]


def pytest_configure(config):
    # The xdist controller hands out modules in the collected order (see
    # pytest_collection_modifyitems below) instead of re-sorting them by number of tests.
    if getattr(config.option, "loadscopereorder", False):
        config.option.loadscopereorder = False
    config.addinivalue_line(
        "markers",
        "database_independent(why): in a both_databases module, a test the database cannot "
        "change (form validation, routing, markup); runs on SQLite only",
    )


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config, items):
    """Modules that start servers or browsers first, then the rest by number of tests.

    ``make test`` hands whole modules to the xdist workers (``--dist loadfile``), by default
    in order of their number of tests, so the one- and two-test modules that each run for
    10-30 s (the gunicorn races, the browser journeys) came last and one worker finished
    them alone while the other idled. A test that starts servers or a browser (``slow``,
    ``browser``) counts as a hundred here; the order within a module is unchanged.
    """
    weight: dict[str, int] = {}
    for item in items:
        module = item.nodeid.split("::", 1)[0]
        heavy = item.get_closest_marker("slow") or item.get_closest_marker("browser")
        weight[module] = weight.get(module, 0) + (100 if heavy else 1)
    items.sort(key=lambda item: -weight[item.nodeid.split("::", 1)[0]])


def pytest_generate_tests(metafunc):
    """``backend`` is SQLite, plus PostgreSQL for tests marked ``both_databases`` (unless
    also marked ``database_independent``, which must say why)."""
    if "backend" in metafunc.fixturenames:
        both = metafunc.definition.get_closest_marker("both_databases") is not None
        independent = metafunc.definition.get_closest_marker("database_independent")
        if independent is not None:
            assert independent.args and independent.args[0], "say why the database cannot matter"
            both = False
        metafunc.parametrize(
            "backend", BOTH_DATABASES if both else ["sqlite"], indirect=True, scope="session"
        )


@pytest.fixture(scope="session")
def backend(request) -> str:
    return request.param


def base_config(database_url: str, **extra) -> dict:
    return {
        "TESTING": True,
        "SECRET_KEY": "test-secret",
        "SQLALCHEMY_DATABASE_URI": database_url,
        "WTF_CSRF_ENABLED": False,
        "RATELIMIT_ENABLED": False,
        "PORTAL_HOST": "portal.test",
        "SERVER_NAME": None,
        # The test world's people agreed to this notice version (builders set it).
        "PRIVACY_NOTICE_VERSION": "2026-11",
        **extra,
    }


_pg_schema_ready: set[str] = set()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory):
    """An SQLite file holding the empty schema, built once; tests copy it."""
    path = tmp_path_factory.mktemp("schema") / "template.sqlite3"
    app = create_app(base_config(f"sqlite:///{path}"))
    with app.app_context():
        _db.create_all()
        _db.session.remove()
        _db.engine.dispose()
    # The app opens SQLite in WAL mode; fold the log back in and leave one plain file to copy
    # (each copy is switched to WAL again when the app connects to it).
    conn = sqlite3.connect(path)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.execute("PRAGMA journal_mode=DELETE")
    finally:
        conn.close()
    for side in ("-wal", "-shm", "-journal"):
        assert not path.with_name(path.name + side).exists(), side
    return path


@pytest.fixture(scope="session")
def demo_sqlite_template(sqlite_template, tmp_path_factory):
    """The demo district seeded once per session into a copy of the schema; tests copy it."""
    from portal.demo import seed_demo

    path = tmp_path_factory.mktemp("demo-schema") / "demo.sqlite3"
    shutil.copyfile(sqlite_template, path)
    app = create_app(base_config(f"sqlite:///{path}"))
    with app.app_context():
        seed_demo()
        _db.session.commit()
        _db.session.remove()
        _db.engine.dispose()
    conn = sqlite3.connect(path)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.execute("PRAGMA journal_mode=DELETE")
    finally:
        conn.close()
    return path


@pytest.fixture
def app_config(request) -> dict:
    """Extra configuration for one test: ``@pytest.mark.parametrize`` or override."""
    return {}


@pytest.fixture
def app(backend, request, tmp_path, app_config):
    """A Flask app on a fresh, empty database of the current backend."""
    demo = request.node.get_closest_marker("demo_district") is not None
    if backend == "sqlite":
        path = tmp_path / "test.sqlite3"
        template = "demo_sqlite_template" if demo else "sqlite_template"
        shutil.copyfile(request.getfixturevalue(template), path)
        url = f"sqlite:///{path}"
    else:
        url = request.getfixturevalue("postgres_url")
    app = create_app(base_config(url, **app_config))
    with app.app_context():
        if backend == "postgresql" and url not in _pg_schema_ready:
            _db.create_all()
            _pg_schema_ready.add(url)
        if demo and backend == "postgresql":
            from portal.demo import seed_demo

            seed_demo()
            _db.session.commit()
        yield app
        _db.session.remove()
        if backend == "postgresql":
            _empty_postgres_tables()
        _db.engine.dispose()


def _empty_postgres_tables() -> None:
    """Empty every table and restart its ids, ready for the next test.

    DELETE on a test's handful of rows takes a few milliseconds where TRUNCATE takes about
    half a second (it rewrites every table's files) and waits for every other connection's
    lock; children go first, and the id sequences restart at 1 as after a fresh schema.
    """
    tables = _db.metadata.sorted_tables
    restart = ", ".join(
        f"setval(pg_get_serial_sequence('\"{t.name}\"', 'id'), 1, false)"
        for t in tables
        if "id" in t.c
    )
    try:
        with _db.engine.begin() as conn:
            # No triggers while emptying: the participation summary's would write rows for
            # sign-ups deleted after the summary itself (and every table is emptied anyway).
            conn.execute(text("SET LOCAL session_replication_role = replica"))
            for table in reversed(tables):
                conn.execute(text(f'DELETE FROM "{table.name}"'))
            conn.execute(text(f"SELECT {restart}"))
    except Exception:  # noqa: BLE001 - whatever got in the way, the slow way always works
        names = ", ".join(f'"{t.name}"' for t in tables)
        with _db.engine.begin() as conn:
            conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))


@pytest.fixture
def db(app):
    return _db


# --- a module's world, built once ----------------------------------------------------------

_built_worlds: dict[tuple, tuple[str, object]] = {}


def built_once(request, build):
    """The value of ``build()`` -- a fixture's world of rows -- built once per module.

    On SQLite the first test of the module builds it as before; the database it leaves is
    kept (SQLite's backup API) and every later test starts from a copy of it instead of
    running dozens of builder commits again, and gets the same objects, loaded by primary key
    into its own session. A world is data only: each test still has its own app, database
    file and session, and what one test writes never reaches another. PostgreSQL builds it
    per test (the tables are emptied after each).

    Only for a fixture whose rows depend on nothing but the builders, that runs before
    anything else in the test writes, and whose value is made of ORM objects and plain values
    in dicts, lists, tuples and dataclasses.
    """
    if request.getfixturevalue("backend") != "sqlite":
        return build()
    key = (
        request.node.module.__name__,
        request.fixturename,
        request.node.get_closest_marker("demo_district") is not None,
    )
    path = _db.engine.url.database
    if key not in _built_worlds:
        value = build()
        _db.session.commit()
        kept = f"{path}.world"
        _sqlite_copy(path, kept)
        _built_worlds[key] = (kept, _world_refs(value))
        return value
    kept, refs = _built_worlds[key]
    _db.session.remove()
    _sqlite_copy(kept, path)
    loaded = _load_rows(refs)
    return _world_objects(refs, loaded)


def _sqlite_copy(source: str, target: str) -> None:
    src, dst = sqlite3.connect(source), sqlite3.connect(target)
    try:
        src.backup(dst)
    finally:
        src.close()
        dst.close()


class _Row(tuple):
    """An ORM object kept as (class, primary key)."""


def _world_refs(value):
    from dataclasses import fields, is_dataclass

    from sqlalchemy import inspect as sa_inspect

    if hasattr(value, "_sa_instance_state"):
        return _Row((type(value), sa_inspect(value).identity))
    if isinstance(value, dict):
        return {k: _world_refs(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_world_refs(v) for v in value)
    if is_dataclass(value):
        return (
            _Dataclass,
            type(value),
            {f.name: _world_refs(getattr(value, f.name)) for f in fields(value)},
        )
    if value is None or isinstance(value, str | int | float | bytes):
        return value
    raise TypeError(f"built_once cannot keep a {type(value).__name__}")


class _Dataclass:
    pass


def _load_rows(refs) -> dict:
    """Load every row the world names with one query per class: {(class, identity): object}."""
    from sqlalchemy import inspect as sa_inspect
    from sqlalchemy import tuple_

    wanted: dict[type, set] = {}

    def collect(value):
        if isinstance(value, _Row):
            wanted.setdefault(value[0], set()).add(value[1])
        elif isinstance(value, tuple) and value and value[0] is _Dataclass:
            collect(value[2])
        elif isinstance(value, dict):
            for v in value.values():
                collect(v)
        elif isinstance(value, list | tuple):
            for v in value:
                collect(v)

    collect(refs)
    loaded = {}
    for cls, identities in wanted.items():
        keys = sa_inspect(cls).primary_key
        if len(keys) == 1:
            where = keys[0].in_([identity[0] for identity in identities])
        else:
            where = tuple_(*keys).in_(list(identities))
        for obj in _db.session.scalars(_db.select(cls).where(where)):
            loaded[(cls, sa_inspect(obj).identity)] = obj
    return loaded


def _world_objects(refs, loaded: dict):
    if isinstance(refs, _Row):
        found = loaded.get((refs[0], refs[1]))
        assert found is not None, refs
        return found
    if isinstance(refs, tuple) and refs and refs[0] is _Dataclass:
        _, cls, values = refs
        return cls(**{k: _world_objects(v, loaded) for k, v in values.items()})
    if isinstance(refs, dict):
        return {k: _world_objects(v, loaded) for k, v in refs.items()}
    if isinstance(refs, list | tuple):
        return type(refs)(_world_objects(v, loaded) for v in refs)
    return refs


class IsolatedClient(FlaskClient):
    """A test client whose requests run like real ones, apart from the test's own context.

    The test keeps an app context (and its own database session) open for builders and
    assertions. Each request instead gets a fresh app context — its own ``g``, its own
    session, removed at teardown — exactly as in production, so a view that forgets to
    commit fails its test. The test's session is committed first (releasing any database
    locks) and therefore expired, so reads after the request see what the request saved.
    """

    def open(self, *args, **kwargs):
        if not has_app_context():  # a redirect being followed, already isolated
            return super().open(*args, **kwargs)
        _db.session.commit()
        return contextvars.Context().run(super().open, *args, **kwargs)

    def session_transaction(self, *args, **kwargs):
        return _IsolatedSessionTransaction(super().session_transaction, args, kwargs)


class _IsolatedSessionTransaction:
    def __init__(self, factory, args, kwargs):
        self._context = contextvars.Context()
        self._cm = self._context.run(factory, *args, **kwargs)

    def __enter__(self):
        return self._context.run(self._cm.__enter__)

    def __exit__(self, *exc):
        return self._context.run(self._cm.__exit__, *exc)


@pytest.fixture
def client(app):
    app.test_client_class = IsolatedClient
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


# --- builders -------------------------------------------------------------------------------

_seq = itertools.count(1)


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.fixture
def make_zone(db):
    def make(name: str | None = None, population: int = 10_000, **kw) -> Zone:
        zone = Zone(name=name or f"片区{next(_seq)}", population=population, **kw)
        db.session.add(zone)
        db.session.commit()
        return zone

    return make


@pytest.fixture
def make_unit(db):
    def make(name: str | None = None, kind: UnitKind = UnitKind.DEPARTMENT, **kw) -> Unit:
        unit = Unit(name=name or f"单位{next(_seq)}", kind=kind, **kw)
        db.session.add(unit)
        db.session.commit()
        return unit

    return make


@pytest.fixture
def make_programme(db):
    def make(name: str | None = None, parent: Programme | None = None, **kw) -> Programme:
        n = next(_seq)
        prog = Programme(code=kw.pop("code", f"p{n}"), name=name or f"项目{n}", parent=parent, **kw)
        db.session.add(prog)
        db.session.commit()
        return prog

    return make


@pytest.fixture
def make_user(db, password_hash):
    def make(name: str = "张三", phone: str | None = None, units=(), zones=(), **kw) -> User:
        user = User(
            real_name=name,
            phone=phone or f"139{next(_seq):08d}",
            password_hash=password_hash,
            consent_version="2026-11",
            **kw,
        )
        user.units.extend(units)
        user.led_zones.extend(zones)
        db.session.add(user)
        db.session.commit()
        return user

    return make


@pytest.fixture
def make_activity(db, make_zone, make_unit):
    def make(
        title: str = "县一小校门口交通文明劝导",
        status: ActivityStatus = ActivityStatus.PUBLISHED,
        kind: ActivityKind = ActivityKind.VOLUNTEER,
        zone: Zone | None = None,
        unit: Unit | None = None,
        programmes=(),
        **kw,
    ) -> Activity:
        activity = Activity(
            title=title,
            status=status,
            kind=kind,
            zone=zone or make_zone(),
            unit=unit or make_unit(),
            place=kw.pop("place", "县一小校门口"),
            programmes=list(programmes),
            **kw,
        )
        db.session.add(activity)
        db.session.commit()
        return activity

    return make


@pytest.fixture
def make_shift(db, make_activity):
    def make(
        activity: Activity | None = None,
        starts_in: timedelta = timedelta(days=2),
        length: timedelta = timedelta(hours=2),
        capacity: int = 3,
        **kw,
    ) -> Shift:
        start = kw.pop("starts_at", None) or datetime.now(UTC).replace(microsecond=0) + starts_in
        shift = Shift(
            activity=activity or make_activity(),
            starts_at=start,
            ends_at=kw.pop("ends_at", None) or start + length,
            capacity=capacity,
            **kw,
        )
        db.session.add(shift)
        db.session.commit()
        return shift

    return make


@pytest.fixture
def make_signup(db, make_user):
    def make(shift: Shift, user: User | None = None, status=SignupStatus.CONFIRMED, **kw):
        signup = Signup(shift=shift, user=user or make_user(), status=status, **kw)
        db.session.add(signup)
        db.session.commit()
        return signup

    return make


@pytest.fixture
def login(client):
    """Log a user in on the test client (the login form itself is tested in test_auth)."""

    def do(user: User, on=None):
        target = on or client
        with target.session_transaction() as sess:
            sess["_user_id"] = user.get_id()
            sess["_fresh"] = True
        return user

    return do


class QueryCounter:
    def __init__(self):
        self.statements: list[str] = []

    def __len__(self) -> int:
        return len(self.statements)


@pytest.fixture
def count_queries(db):
    """Count SQL statements sent while the returned counter is active (``with`` block)."""
    from contextlib import contextmanager

    @contextmanager
    def counting():
        counter = QueryCounter()

        def before(conn, cursor, statement, *args):
            if not statement.lstrip().upper().startswith(("BEGIN", "COMMIT", "ROLLBACK", "PRAGMA")):
                counter.statements.append(statement)

        event.listen(db.engine, "before_cursor_execute", before)
        try:
            yield counter
        finally:
            event.remove(db.engine, "before_cursor_execute", before)

    return counting


@pytest.fixture(autouse=True)
def _fresh_feed_caches():
    """Built feed bodies are cached per process; no test may see another test's."""
    from portal.feeds import services as feed_services

    feed_services.clear_caches()
    yield
    feed_services.clear_caches()


@pytest.fixture
def token_for(db):
    """Issue a personal calendar token for a person and return the plain secret."""
    from portal.feeds import services as feed_services

    def make(user, alarm=None) -> str:
        plain = feed_services.issue_token(user, alarm_minutes=alarm)
        db.session.commit()
        return plain

    return make

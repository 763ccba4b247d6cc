"""The 40-way race: real gunicorn processes, real sessions, one shift with 5 places.

Each backend (SQLite file, PostgreSQL database) gets its own database and its own gunicorn
with several worker processes (and threads inside them). 40 people log in through the login
form; in each round all 40 post the sign-up form at the same instant (a thread barrier),
carrying their session cookie and the CSRF token from the page, as a phone would. The test
then checks the database and every message each person was shown.

The server is built by :func:`race_app`, an app factory configured by environment variables:
``RACE_DATABASE_URL`` and ``RACE_SECRET_KEY``. CSRF stays ON; only the login rate limit is
switched off (40 logins from one address in a minute would trip it). Run with ``pytest -s``
to see the figures.
"""

from __future__ import annotations

import http.client
import os
import re
import socket
import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlencode

import pytest

pytestmark = pytest.mark.both_databases


PEOPLE = 40
CAPACITY = 5
ROUNDS = 5
WORKERS = 3
THREADS = 4
ROOT = Path(__file__).resolve().parents[1]


def race_app():
    """Gunicorn entry point: ``tests.test_race_signups:race_app()``."""
    from portal import create_app
    from tests.conftest import use_test_password_hashing

    use_test_password_hashing()  # the racers' hashes were made so; logins stay cheap

    return create_app(
        {
            "SQLALCHEMY_DATABASE_URI": os.environ["RACE_DATABASE_URL"],
            "SECRET_KEY": os.environ["RACE_SECRET_KEY"],
            "WTF_CSRF_ENABLED": True,
            "RATELIMIT_ENABLED": False,  # 40 logins from 127.0.0.1 within seconds
            "PORTAL_HOST": "race.test",
            "PRIVACY_NOTICE_VERSION": "2026-11",  # the version the racers agreed to
        }
    )


# --- a tiny HTTP client with a cookie, as one phone --------------------------------------


_TOKEN_RE = re.compile(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"')
_FLASH_RE = re.compile(r'<p class="flash flash-(\w+)">([^<]*)</p>')


@dataclass
class Phone:
    port: int
    cookies: dict[str, str] = field(default_factory=dict)
    token: str = ""

    def request(self, method: str, path: str, form: dict | None = None):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        headers = {"User-Agent": "race-test"}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        body = None
        if form is not None:
            body = urlencode(form)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        conn.request(method, path, body=body, headers=headers)
        resp = conn.getresponse()
        data = resp.read().decode("utf-8", "replace")
        for name, value in resp.getheaders():
            if name.lower() == "set-cookie":
                key, _, rest = value.partition("=")
                self.cookies[key] = rest.split(";", 1)[0]
        conn.close()
        return resp.status, resp.getheader("Location") or "", data

    def login(self, phone: str, password: str) -> None:
        status, _, html = self.request("GET", "/account/login")
        assert status == 200
        token = _TOKEN_RE.search(html).group(1)
        status, location, _ = self.request(
            "POST",
            "/account/login",
            {"csrf_token": token, "phone": phone, "password": password, "next": "/me"},
        )
        assert status == 302 and location.endswith("/me"), (status, location)
        status, _, html = self.request("GET", "/me")
        assert status == 200
        self.token = _TOKEN_RE.search(html).group(1)


# --- the server ---------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, database_url: str, log: Path):
        self.port = _free_port()
        self.log = log
        env = {
            **os.environ,
            "RACE_DATABASE_URL": database_url,
            "RACE_SECRET_KEY": "race-secret-" + uuid.uuid4().hex,
            "PYTHONPATH": str(ROOT),
        }
        gunicorn = Path(sys.executable).with_name("gunicorn")
        self._log_fh = open(log, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [
                str(gunicorn),
                "--bind",
                f"127.0.0.1:{self.port}",
                "--workers",
                str(WORKERS),
                "--threads",
                str(THREADS),
                "--worker-class",
                "gthread",
                "--timeout",
                "60",
                "--chdir",
                str(ROOT),
                "tests.test_race_signups:race_app()",
            ],
            env=env,
            stdout=self._log_fh,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
        )
        self._wait_ready()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("gunicorn exited:\n" + self.log.read_text())
            try:
                status, _, _ = Phone(self.port).request("GET", "/healthz")
                if status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError("gunicorn did not answer in 60 s:\n" + self.log.read_text())

    def stop(self) -> str:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:  # pragma: no cover
            self.proc.kill()
            self.proc.wait()
        self._log_fh.close()
        return self.log.read_text(errors="replace")


# --- databases ----------------------------------------------------------------------------


@contextmanager
def own_database(backend: str, directory: Path):
    """A database of its own for a race (its URL), dropped afterwards."""
    if backend == "sqlite":
        yield f"sqlite:///{directory / 'race.sqlite3'}"
        return
    from sqlalchemy import create_engine, text

    from tests.conftest import PG_ADMIN_URL, _flag

    name = f"portal_race_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    try:
        admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # noqa: BLE001
        if _flag("REQUIRE_POSTGRES"):
            pytest.fail(f"REQUIRE_POSTGRES=1 but PostgreSQL is unreachable: {exc}")
        pytest.skip(f"PostgreSQL not reachable: {exc}")
    try:
        yield PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = :n AND pid <> pg_backend_pid()"
                ),
                {"n": name},
            )
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()


@pytest.fixture
def race_database(backend, tmp_path):
    with own_database(backend, tmp_path) as url:
        yield url


@dataclass
class Fixture:
    app: object
    activity_id: int
    phones: list[str]


def _prepare(url: str, password_hash: str) -> Fixture:
    from portal import create_app
    from portal.extensions import db
    from portal.models import Activity, ActivityKind, ActivityStatus, Unit, UnitKind, User, Zone
    from tests.conftest import base_config

    app = create_app(base_config(url))
    with app.app_context():
        db.create_all()
        zone = Zone(name="立后", population=20000)
        unit = Unit(name="区交警大队", kind=UnitKind.DEPARTMENT)
        activity = Activity(
            title="县一小校门口交通文明劝导",
            kind=ActivityKind.VOLUNTEER,
            status=ActivityStatus.PUBLISHED,
            zone=zone,
            unit=unit,
            place="县一小校门口",
        )
        phones = [f"137{n:08d}" for n in range(1, PEOPLE + 1)]
        db.session.add_all([zone, unit, activity])
        db.session.add_all(
            User(
                real_name=f"志愿者{n}",
                phone=p,
                password_hash=password_hash,
                consent_version="2026-11",
            )
            for n, p in enumerate(phones, 1)
        )
        db.session.commit()
        fixture = Fixture(app, activity.id, phones)
        db.session.remove()
    return fixture


def _new_shift(fx: Fixture, round_no: int, waitlist: bool) -> int:
    from portal.extensions import db
    from portal.models import Shift

    with fx.app.app_context():
        start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=2 + round_no)
        # One-hour shifts a day apart never overlap each other.
        shift = Shift(
            activity_id=fx.activity_id,
            starts_at=start,
            ends_at=start + timedelta(hours=1),
            capacity=CAPACITY,
            waitlist_enabled=waitlist,
        )
        db.session.add(shift)
        db.session.commit()
        shift_id = shift.id
        db.session.remove()
    return shift_id


def _counts(fx: Fixture, shift_id: int) -> dict[str, int]:
    from sqlalchemy import func, select

    from portal.extensions import db
    from portal.models import ACTIVE_STATUSES, Signup

    with fx.app.app_context():
        rows = db.session.execute(
            select(Signup.status, func.count(Signup.id))
            .where(Signup.shift_id == shift_id)
            .group_by(Signup.status)
        ).all()
        dupes = db.session.scalar(
            select(func.count()).select_from(
                select(Signup.user_id)
                .where(Signup.shift_id == shift_id, Signup.status.in_(ACTIVE_STATUSES))
                .group_by(Signup.user_id)
                .having(func.count() > 1)
                .subquery()
            )
        )
        db.session.remove()
    result = {str(status): n for status, n in rows}
    result["duplicates"] = dupes
    return result


@dataclass
class Answer:
    status: int
    seconds: float
    category: str
    message: str


def _round(phones: list[Phone], shift_id: int, activity_id: int) -> list[Answer]:
    barrier = threading.Barrier(len(phones))
    answers: list[Answer | None] = [None] * len(phones)
    back = f"/activities/{activity_id}#shift-{shift_id}"

    def go(i: int) -> None:
        phone = phones[i]
        barrier.wait()
        t0 = time.perf_counter()
        status, location, _ = phone.request(
            "POST", f"/shifts/{shift_id}/signup", {"csrf_token": phone.token, "next": back}
        )
        elapsed = time.perf_counter() - t0
        category = message = ""
        if status == 302:
            _, _, html = phone.request("GET", location.split("#", 1)[0] or "/")
            found = _FLASH_RE.findall(html)
            if found:
                category, message = found[0]
        answers[i] = Answer(status, elapsed, category, message)

    threads = [threading.Thread(target=go, args=(i,)) for i in range(len(phones))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert all(a is not None for a in answers), "a request never finished"
    return answers  # type: ignore[return-value]


@pytest.mark.slow
def test_forty_people_race_for_five_places(backend, race_database, tmp_path, password_hash):
    from tests.conftest import TEST_PASSWORD

    fx = _prepare(race_database, password_hash)
    server = Server(race_database, tmp_path / "gunicorn.log")
    figures: list[str] = []
    try:
        phones = [Phone(server.port) for _ in fx.phones]
        with ThreadPoolExecutor(max_workers=8) as pool:
            list(
                pool.map(
                    lambda pair: pair[0].login(pair[1], TEST_PASSWORD),
                    zip(phones, fx.phones, strict=True),
                )
            )

        slowest_overall = 0.0
        for waitlist in (True, False):
            for round_no in range(1, ROUNDS + 1):
                shift_id = _new_shift(fx, round_no + (0 if waitlist else ROUNDS), waitlist)
                answers = _round(phones, shift_id, fx.activity_id)
                counts = _counts(fx, shift_id)
                slowest = max(a.seconds for a in answers)
                slowest_overall = max(slowest_overall, slowest)
                confirmed = [a for a in answers if a.message.startswith("你已报名")]
                waitlisted = [a for a in answers if "已加入候补" in a.message]
                refused = [a for a in answers if "已满，且不设候补" in a.message]
                figures.append(
                    f"{backend:10} waitlist={'on ' if waitlist else 'off'} round {round_no}: "
                    f"confirmed={counts.get('confirmed', 0)} "
                    f"waitlisted={counts.get('waitlisted', 0)} refused={len(refused)} "
                    f"statuses={sorted({a.status for a in answers})} "
                    f"slowest={slowest:.3f}s "
                    f"median={sorted(a.seconds for a in answers)[len(answers) // 2]:.3f}s"
                )

                assert {a.status for a in answers} == {302}, [a.status for a in answers]
                assert counts.get("confirmed", 0) == CAPACITY
                assert counts["duplicates"] == 0
                assert len(confirmed) == CAPACITY
                if waitlist:
                    assert counts.get("waitlisted", 0) == PEOPLE - CAPACITY
                    assert len(waitlisted) == PEOPLE - CAPACITY
                    positions = sorted(
                        int(re.search(r"第 (\d+) 位", a.message).group(1)) for a in waitlisted
                    )
                    assert positions == list(range(1, PEOPLE - CAPACITY + 1))
                else:
                    assert counts.get("waitlisted", 0) == 0
                    assert len(refused) == PEOPLE - CAPACITY
                    assert {a.category for a in refused} == {"error"}
                assert sum(counts.get(k, 0) for k in ("pending", "cancelled", "rejected")) == 0

        # Double taps: every person sends the form twice at the same instant (80 requests).
        shift_id = _new_shift(fx, 2 * ROUNDS + 1, True)
        answers = _round(phones + phones, shift_id, fx.activity_id)
        counts = _counts(fx, shift_id)
        slowest = max(a.seconds for a in answers)
        slowest_overall = max(slowest_overall, slowest)
        figures.append(
            f"{backend:10} double taps ({2 * PEOPLE} requests): "
            f"confirmed={counts.get('confirmed', 0)} waitlisted={counts.get('waitlisted', 0)} "
            f"duplicates={counts['duplicates']} statuses={sorted({a.status for a in answers})} "
            f"slowest={slowest:.3f}s"
        )
        assert {a.status for a in answers} == {302}
        assert counts.get("confirmed", 0) == CAPACITY
        assert counts.get("waitlisted", 0) == PEOPLE - CAPACITY
        assert counts["duplicates"] == 0
    finally:
        log = server.stop()
        from portal.extensions import db

        with fx.app.app_context():
            db.engine.dispose()
        print("\n" + "\n".join(figures))
        print(
            f"{backend}: gunicorn {WORKERS} workers × {THREADS} threads, {PEOPLE} people, "
            f"capacity {CAPACITY}"
        )
    print(f"{backend}: slowest response over all rounds {slowest_overall:.3f}s")
    assert "database is locked" not in log
    assert "Traceback" not in log, log[-4000:]

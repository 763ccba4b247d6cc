"""Rate limits hold across app processes when they share Redis, as gunicorn workers do.

The per-route values are configuration (``RATELIMITS``); these tests set small ones. The
single-process rules (per phone, per address, the right password never refused because of
others, the one switch) are in tests/test_security.py.
"""

from __future__ import annotations

import http.client
import os
import socket
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlencode

import pytest
import redis

from portal import create_app
from tests.conftest import TEST_PASSWORD, base_config

REDIS_URL = os.environ.get("PORTAL_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
ROOT = Path(__file__).resolve().parents[1]
PHONE = "13800005555"


@pytest.fixture
def redis_url():
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
    except redis.RedisError as exc:
        if os.environ.get("REQUIRE_POSTGRES") or os.environ.get("CI"):
            pytest.fail(f"Redis unreachable at {REDIS_URL}: {exc}")
        pytest.skip(f"Redis unreachable: {exc}")
    return REDIS_URL


@pytest.fixture
def prefix(redis_url):
    value = f"portal-test-{uuid.uuid4().hex}"
    yield value
    client = redis.Redis.from_url(redis_url)
    keys = client.keys(f"*{value}*")
    if keys:
        client.delete(*keys)


def _limits(**values) -> dict:
    from portal.config import DefaultConfig

    return {**DefaultConfig.RATELIMITS, **values}


def test_login_limit_is_shared_between_two_app_instances(redis_url, prefix, tmp_path):
    config = base_config(
        f"sqlite:///{tmp_path / 'limits.sqlite3'}",
        RATELIMIT_ENABLED=True,
        RATELIMIT_STORAGE_URI=redis_url,
        RATELIMIT_KEY_PREFIX=prefix,
        RATELIMITS=_limits(login_phone="6 per 15 minutes"),
    )
    first, second = create_app(dict(config)), create_app(dict(config))
    for app in (first, second):
        with app.app_context():
            from portal.extensions import db

            db.create_all()
    clients = [first.test_client(), second.test_client()]
    statuses = [
        clients[i % 2].post("/account/login", data={"phone": PHONE, "password": "x"}).status_code
        for i in range(7)
    ]
    # 6 attempts in total, not 6 per process.
    assert statuses == [200] * 6 + [429]
    assert "操作太频繁" in clients[0].post(
        "/account/login", data={"phone": PHONE, "password": "x"}
    ).get_data(as_text=True)
    assert redis.Redis.from_url(redis_url).keys(f"*{prefix}*")


# --- two real gunicorn workers ------------------------------------------------------------


def limits_app():
    """Gunicorn entry point: ``tests.test_rate_limits:limits_app()`` (configured by env)."""
    app = create_app(
        base_config(
            os.environ["LIMITS_DATABASE_URL"],
            TESTING=False,
            RATELIMIT_ENABLED=True,
            RATELIMIT_STORAGE_URI=os.environ["LIMITS_STORAGE"],
            RATELIMIT_KEY_PREFIX=os.environ["LIMITS_PREFIX"],
            RATELIMITS=_limits(login_phone="100 per 15 minutes", login_address="6 per 15 minutes"),
        )
    )

    @app.after_request
    def _worker(response):  # which process answered, so the test sees both took part
        response.headers["X-Test-Worker"] = str(os.getpid())
        return response

    return app


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _post(port: int, phone: str, password: str):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    body = urlencode({"phone": phone, "password": password})
    conn.request(
        "POST",
        "/account/login",
        body=body,
        headers={"Content-Type": "application/x-www-form-urlencoded", "Connection": "close"},
    )
    resp = conn.getresponse()
    data = resp.read().decode("utf-8", "replace")
    conn.close()
    return resp.status, resp.getheader("X-Test-Worker"), resp.getheader("Retry-After"), data


def _world(url: str) -> None:
    app = create_app(base_config(url))
    with app.app_context():
        from argon2 import PasswordHasher

        from portal.extensions import db
        from portal.models import User

        db.create_all()
        db.session.add(
            User(
                real_name="王秀英",
                phone=PHONE,
                consent_version="2026-11",
                # At the portal's own cost, as the gunicorn workers check it (they keep the
                # portal's hashing): a login takes long enough that both workers take part.
                password_hash=PasswordHasher().hash(TEST_PASSWORD),
            )
        )
        db.session.commit()
        db.engine.dispose()


@pytest.mark.slow
def test_two_gunicorn_workers_share_the_address_limit_through_redis(redis_url, prefix, tmp_path):
    url = f"sqlite:///{tmp_path / 'gunicorn.sqlite3'}"
    _world(url)
    port = _free_port()
    log = tmp_path / "gunicorn.log"
    env = {
        **os.environ,
        "LIMITS_DATABASE_URL": url,
        "LIMITS_STORAGE": redis_url,
        "LIMITS_PREFIX": prefix,
        "PYTHONPATH": str(ROOT),
    }
    with open(log, "wb") as fh:
        proc = subprocess.Popen(
            [
                str(Path(sys.executable).with_name("gunicorn")),
                "--bind",
                f"127.0.0.1:{port}",
                "--workers",
                "2",
                "--timeout",
                "60",
                "--chdir",
                str(ROOT),
                "tests.test_rate_limits:limits_app()",
            ],
            env=env,
            stdout=fh,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
        )
        try:
            deadline = time.monotonic() + 60
            while True:
                assert proc.poll() is None, log.read_text()
                try:
                    _post(port, "13800000000", "warm-up")  # a failure: counts as one
                    break
                except OSError:
                    assert time.monotonic() < deadline, log.read_text()
                    time.sleep(0.2)
            # 20 wrong passwords for 20 numbers from one address, 6 at a time, each on a new
            # connection: both workers answer, and together they let exactly 6 - 1 through.
            with ThreadPoolExecutor(6) as pool:
                results = list(
                    pool.map(lambda n: _post(port, f"1390000{n:04d}", "wrong-one"), range(20))
                )
            statuses = sorted(r[0] for r in results)
            workers = {r[1] for r in results}
            assert statuses == [200] * 5 + [429] * 15, statuses
            assert len(workers) == 2, workers
            refused = next(r for r in results if r[0] == 429)
            assert int(refused[2]) > 0 and "分钟后再试" in refused[3]
            # The right password from the same address still logs in, on either worker.
            ok = [_post(port, PHONE, TEST_PASSWORD) for _ in range(4)]
            assert [r[0] for r in ok] == [302] * 4, [r[0] for r in ok]
        finally:
            proc.terminate()
            proc.wait(timeout=20)

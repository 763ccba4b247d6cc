"""Rate limits hold across app processes when they share Redis, as gunicorn workers do."""

from __future__ import annotations

import os
import uuid

import pytest
import redis

from portal import create_app
from tests.conftest import base_config

REDIS_URL = os.environ.get("PORTAL_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


@pytest.fixture
def redis_url():
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
    except redis.RedisError as exc:
        if os.environ.get("REQUIRE_POSTGRES") or os.environ.get("CI"):
            pytest.fail(f"Redis unreachable at {REDIS_URL}: {exc}")
        pytest.skip(f"Redis unreachable: {exc}")
    return REDIS_URL


def test_login_limit_is_shared_between_two_app_instances(redis_url, tmp_path):
    prefix = f"portal-test-{uuid.uuid4().hex}"
    config = base_config(
        f"sqlite:///{tmp_path / 'limits.sqlite3'}",
        RATELIMIT_ENABLED=True,
        RATELIMIT_STORAGE_URI=redis_url,
        RATELIMIT_KEY_PREFIX=prefix,
    )
    first, second = create_app(dict(config)), create_app(dict(config))
    for app in (first, second):
        with app.app_context():
            from portal.extensions import db

            db.create_all()
    clients = [first.test_client(), second.test_client()]
    statuses = [
        clients[i % 2].post("/account/login", data={"phone": "13900000000", "password": "x"})
        .status_code
        for i in range(21)
    ]
    # 20 per 15 minutes in total, not 20 per process.
    assert statuses[:20] == [200] * 20
    assert statuses[20] == 429
    assert "操作太频繁" in clients[0].post("/account/login").get_data(as_text=True)
    keys = redis.Redis.from_url(redis_url).keys(f"*{prefix}*")
    assert keys
    redis.Redis.from_url(redis_url).delete(*keys)

"""Time the command-centre dashboard over the big district: the first view after a write (the
board worked out afresh) and a repeated view (the board from its version-keyed cache).

Runs in-process through the app's own test client as the bench admin, on the database in
``DATABASE_URL`` (``make bench`` passes each S=1 district). Before each "after a write" view it
writes once through the app's engine — exactly what a sign-up does to the data version — so
the board cannot come from the cache. ``/healthz`` is timed in the same loop for scale.

    DATABASE_URL=sqlite:///instance/bench/bench-s1.sqlite3 .venv/bin/python bench/dashboard_bench.py
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import text  # noqa: E402

from portal import create_app  # noqa: E402
from portal.benchdata import BENCH_ACCOUNTS, BENCH_PASSWORD  # noqa: E402
from portal.extensions import db  # noqa: E402

RUNS = int(os.environ.get("BENCH_DASHBOARD_RUNS", "9"))
BASE = "http://bench.local"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> int:
    url = os.environ["DATABASE_URL"]
    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": url,
            "SECRET_KEY": "bench",
            "RATELIMIT_ENABLED": False,
            "WTF_CSRF_ENABLED": False,
            "PORTAL_HOST": "bench.local",
            "DASHBOARD_CACHE": True,
        }
    )
    admin = BENCH_ACCOUNTS["admin"]
    client = app.test_client()
    answer = client.post(
        "/account/login", data={"phone": admin, "password": BENCH_PASSWORD}, base_url=BASE
    )
    if answer.status_code != 302:
        print(f"login failed: {answer.status_code}")
        return 1

    def write() -> None:
        with app.app_context():
            # A no-op update of a watched table: the data version moves, as after a sign-up.
            db.session.execute(text("UPDATE zones SET name = name WHERE id = 1"))
            db.session.commit()

    def timed(path: str) -> float:
        started = time.perf_counter()
        response = client.get(path, base_url=BASE)
        elapsed = (time.perf_counter() - started) * 1000
        if response.status_code != 200:
            raise SystemExit(f"{path} answered {response.status_code}")
        return elapsed

    timed("/dashboard/")  # warm the templates and the connection pool
    fresh, cached, bare = [], [], []
    for _ in range(RUNS):
        write()
        fresh.append(timed("/dashboard/"))
        cached.append(timed("/dashboard/"))
        bare.append(timed("/healthz"))
    print(f"database: {url.split(':', 1)[0]}")
    for name, values in (("after a write", fresh), ("cached", cached), ("/healthz", bare)):
        print(
            f"dashboard {name}: median {statistics.median(values):.1f} ms, "
            f"p90 {percentile(values, 0.9):.1f} ms, max {max(values):.1f} ms"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

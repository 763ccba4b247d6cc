"""Time the public pages on the demo district (SQLite in a temp folder).

Run with `make bench`. Prints median and worst times over repeated requests; no assertion
here — the test suite asserts statement counts, this script measures speed.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from portal import create_app  # noqa: E402
from portal.demo import seed_demo  # noqa: E402
from portal.extensions import db  # noqa: E402

PAGES = ["/", "/activities", "/activities?zone=2&open=1", "/activities?q=劝导", "/activities/1",
         "/zones", "/zones/1", "/programmes/1"]
ROUNDS = 30


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        app = create_app({"SECRET_KEY": "bench", "SQLALCHEMY_DATABASE_URI":
                          f"sqlite:///{tmp}/bench.sqlite3", "RATELIMIT_ENABLED": False})
        with app.app_context():
            db.create_all()
            seed_demo()
            db.session.commit()
        client = app.test_client()
        print(f"{'page':<32} {'median ms':>10} {'max ms':>8}")
        for page in PAGES:
            client.get(page)  # warm templates
            times = []
            for _ in range(ROUNDS):
                start = time.perf_counter()
                response = client.get(page)
                times.append((time.perf_counter() - start) * 1000)
                assert response.status_code == 200, (page, response.status_code)
            print(f"{page:<32} {statistics.median(times):>10.1f} {max(times):>8.1f}")


if __name__ == "__main__":
    main()

"""The big-district benchmark (issue 12): ``make bench`` (full) and ``make bench-smoke``.

For each database (SQLite, and PostgreSQL when one answers on 127.0.0.1:5432) it builds — or
re-uses, when built today at the same scale — the big district with ``flask seed-bench``,
starts gunicorn with 2 sync workers and loads each key route with wrk, each run next to a run
of the bare route ``/healthz`` so the ratio compares like with like under the machine's load
of the moment. Then: the latency of each route on one connection at S=1 against S=0.01, a
40-way contended sign-up (p99, errors, counters checked afterwards), the dashboard after a
write and cached (bench/dashboard_bench.py) and the cold build of a 1,000-event feed
(bench/feed_bench.py). Everything goes to bench/results.json.

    .venv/bin/python bench/run.py                 # what `make bench` runs
    .venv/bin/python bench/run.py --smoke         # S=0.01, short runs (CI smoke)
    BENCH_REBUILD=1 … / --databases sqlite / --duration 5

Timing figures depend on the machine's load; nothing here fails on a slow figure, only on
errors (a route that does not answer 200/304, a failed sign-up, counters that disagree).
"""

from __future__ import annotations

import argparse
import http.cookiejar
import json
import os
import platform
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = ROOT / ".venv" / "bin"
DATA = ROOT / "instance" / "bench"
RESULTS = ROOT / "bench" / "results.json"
PG_ADMIN = os.environ.get(
    "BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
sys.path.insert(0, str(ROOT))

from portal.benchdata import BENCH_ACCOUNTS, BENCH_FEED_TOKEN, BENCH_PASSWORD  # noqa: E402

LUA = r"""
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "WRKJSON {\"requests\": %d, \"duration_us\": %d, \"p50_us\": %d, \"p99_us\": %d, " ..
    "\"errors\": %d, \"bytes\": %d}\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect + e.read + e.write + e.status + e.timeout, summary.bytes))
end
"""


@dataclass
class Route:
    name: str
    path: str
    who: str | None = None  # "resident", "admin": sent with that person's session cookie
    etag: bool = False  # send the ETag of a first response as If-None-Match (304 path)
    optional: bool = False  # skipped when it does not answer 200 (e.g. a route not merged yet)


def routes(scale: float) -> list[Route]:
    last_page = 200 if scale >= 0.5 else 2
    return [
        Route("activity list", "/activities"),
        Route("activity list, zone filter", "/activities?zone=3"),
        Route("activity list, text search", "/activities?q=" + urllib.parse.quote("交通 劝导")),
        Route("activity list, deep page", f"/activities?page={last_page}"),
        Route("activity page, 240 shifts", "/activities/1"),
        Route("my schedule", "/me", who="resident"),
        Route("personal feed 200", f"/calendar/me/{BENCH_FEED_TOKEN}.ics"),
        Route("personal feed 304", f"/calendar/me/{BENCH_FEED_TOKEN}.ics", etag=True),
        Route("zone feed", "/calendar/zones/3.ics"),
        # feeds (portal/feeds): every public kind, bounded by its window; 304s by ETag
        Route("all-activities feed", "/calendar/all.ics"),
        Route("all-activities feed 304", "/calendar/all.ics", etag=True),
        Route("programme feed", "/calendar/programmes/1.ics"),
        Route("activity feed, 240 shifts", "/calendar/activities/1.ics"),
        Route("dashboard", "/dashboard/", who="admin", optional=True),
        Route("api shifts", "/api/v1/shifts"),
        Route("api shifts, zone filter", "/api/v1/shifts?zone=3"),
    ]


# --- databases -------------------------------------------------------------------------------


def postgres_reachable() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=1):
            return True
    except OSError:
        return False


def _tag(scale: float) -> str:
    return f"s{scale:g}".replace(".", "_")


def database_url(database: str, scale: float) -> str:
    if database == "sqlite":
        return f"sqlite:///{DATA / f'bench-{_tag(scale)}.sqlite3'}"
    return PG_ADMIN.rsplit("/", 1)[0] + f"/portal_bench_{_tag(scale)}"


def flask(url: str, *args: str, quiet: bool = False) -> str:
    env = {**os.environ, "DATABASE_URL": url, "SECRET_KEY": "bench"}
    out = subprocess.run(
        [str(BIN / "flask"), "--app", "portal", *args],
        cwd=ROOT,
        env=env,
        check=True,
        stdout=subprocess.PIPE if quiet else None,
        stderr=subprocess.STDOUT if quiet else None,
        text=True,
    )
    return out.stdout or ""


def vacuum(url: str) -> None:
    """PostgreSQL: what autovacuum does soon after a bulk load or a migration — the visibility
    map that lets the dashboard's participation counts read the index alone."""
    if url.startswith("sqlite"):
        return
    from sqlalchemy import create_engine, text

    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text("VACUUM ANALYZE participation"))
    engine.dispose()


def ensure_district(database: str, scale: float) -> str:
    """Build the district at this scale unless one built today is there already."""
    DATA.mkdir(parents=True, exist_ok=True)
    url = database_url(database, scale)
    info_file = DATA / f"{database}-{_tag(scale)}.json"
    wanted = {"scale": scale, "built_on": date.today().isoformat(), "generator": 1}
    rebuild = os.environ.get("BENCH_REBUILD", "") in {"1", "true", "yes"}
    if not rebuild and info_file.exists() and json.loads(info_file.read_text()) == wanted:
        flask(url, "db", "upgrade", quiet=True)  # a newer migration applies to old data
        vacuum(url)
        print(f"   re-using the {database} district at S={scale:g} ({url})")
        return url
    print(f"   building the {database} district at S={scale:g} …", flush=True)
    if database == "sqlite":
        path = Path(url.removeprefix("sqlite:///"))
        for suffix in ("", "-wal", "-shm"):
            Path(str(path) + suffix).unlink(missing_ok=True)
    else:
        from sqlalchemy import create_engine, text

        name = url.rsplit("/", 1)[1]
        admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        admin.dispose()
    info_file.unlink(missing_ok=True)
    flask(url, "db", "upgrade", quiet=True)
    started = time.perf_counter()
    flask(url, "seed-bench", "--scale", f"{scale:g}")
    vacuum(url)
    print(f"   built in {time.perf_counter() - started:.0f} s")
    info_file.write_text(json.dumps(wanted))
    return url


# --- the server ------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, url: str):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        env = {
            **os.environ,
            "DATABASE_URL": url,
            "SECRET_KEY": "bench",
            "PORTAL_RATELIMIT_ENABLED": "false",
        }
        self.log = tempfile.NamedTemporaryFile(
            prefix="bench-gunicorn-", suffix=".log", delete=False
        )
        self.proc = subprocess.Popen(
            [
                str(BIN / "gunicorn"),
                "-w",
                "2",
                "-b",
                f"127.0.0.1:{self.port}",
                "--timeout",
                "120",
                "wsgi:app",
            ],
            cwd=ROOT,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        for _ in range(100):
            try:
                urllib.request.urlopen(self.base + "/healthz", timeout=2).read()
                break
            except OSError:
                time.sleep(0.2)
        else:
            self.stop()
            raise RuntimeError(f"gunicorn did not start; see {self.log.name}")
        for _ in range(4):  # warm both workers (imports, templates, first connections)
            urllib.request.urlopen(self.base + "/activities", timeout=60).read()

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()


class Browser:
    """One person's session against the server (cookies, CSRF token from a form)."""

    def __init__(self, base: str):
        self.base = base
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(self.jar), _NoRedirect()
        )

    def get(self, path: str, headers: dict | None = None) -> tuple[int, bytes, dict]:
        req = urllib.request.Request(self.base + path, headers=headers or {})
        try:
            with self.opener.open(req, timeout=60) as r:
                return r.status, r.read(), dict(r.headers)
        except urllib.error.HTTPError as e:
            return e.code, e.read(), dict(e.headers)

    def post(self, path: str, data: dict) -> int:
        req = urllib.request.Request(self.base + path, data=urllib.parse.urlencode(data).encode())
        try:
            with self.opener.open(req, timeout=60) as r:
                return r.status
        except urllib.error.HTTPError as e:
            return e.code

    def csrf(self, path: str) -> str:
        _status, body, _ = self.get(path)
        found = re.search(rb'name="csrf_token"[^>]*value="([^"]+)"', body)
        if not found:
            raise RuntimeError(f"no CSRF token on {path}")
        return found.group(1).decode()

    def login(self, phone: str) -> Browser:
        token = self.csrf("/account/login")
        status = self.post(
            "/account/login", {"csrf_token": token, "phone": phone, "password": BENCH_PASSWORD}
        )
        if status not in (302, 303):
            raise RuntimeError(f"login of {phone} answered {status}")
        # Like a browser, follow the redirect once: the welcome flash is shown and leaves the
        # session (else every later request would carry it and show it again).
        self.get("/")
        return self

    def cookie_header(self) -> str:
        return "; ".join(f"{c.name}={c.value}" for c in self.jar)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


# --- wrk --------------------------------------------------------------------------------------


def drain(base: str) -> None:
    """Wait until the workers have finished what a previous run left queued."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        t0 = time.perf_counter()
        try:
            urllib.request.urlopen(base + "/healthz", timeout=30).read()
        except OSError:
            continue
        if time.perf_counter() - t0 < 0.05:
            return
        time.sleep(0.2)


def wrk(base: str, path: str, seconds: float, connections: int, headers: dict) -> dict:
    drain(base)
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(LUA)
    threads = min(2, connections)
    cmd = [
        "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        "--timeout",
        "20s",
        "-s",
        f.name,
    ]
    for key, value in headers.items():
        cmd += ["-H", f"{key}: {value}"]
    out = subprocess.run(cmd + [base + path], capture_output=True, text=True, check=True).stdout
    os.unlink(f.name)
    line = next(x for x in out.splitlines() if x.startswith("WRKJSON "))
    data = json.loads(line.removeprefix("WRKJSON "))
    secs = data["duration_us"] / 1e6
    return {
        "rps": data["requests"] / secs if secs else 0.0,
        "p50_ms": data["p50_us"] / 1000,
        "p99_ms": data["p99_us"] / 1000,
        "errors": data["errors"],
        "requests": data["requests"],
        "bytes_per_request": data["bytes"] // max(data["requests"], 1),
    }


def prepare(server: Server, route: Route, sessions: dict) -> dict | None:
    headers: dict = {}
    if route.who:
        headers["Cookie"] = sessions[route.who].cookie_header()
    probe = Browser(server.base)
    status, _body, got = probe.get(route.path, headers)
    if status != 200:
        if route.optional:
            return None
        raise RuntimeError(f"{route.path} answered {status}")
    if route.etag:
        etag = got.get("ETag")
        if not etag:
            raise RuntimeError(f"{route.path} sends no ETag")
        headers["If-None-Match"] = etag
        if probe.get(route.path, headers)[0] != 304:
            raise RuntimeError(f"{route.path} does not answer 304 to its own ETag")
    return headers


def load_routes(
    server: Server,
    todo: list[Route],
    sessions: dict,
    seconds: float,
    bare_seconds: float,
    database: str,
    scale: float,
) -> list[dict]:
    """H R1 H R2 H …: each route's ratio is to the bare runs just before and after it."""
    rows, bare = [], wrk(server.base, "/healthz", bare_seconds, 16, {})
    for route in todo:
        try:
            headers = prepare(server, route, sessions)
        except RuntimeError as exc:  # a broken route is a finding, not the end of the run
            print(f"   {route.name:<32} FAILED: {exc}")
            rows.append(
                {
                    "name": route.name,
                    "path": route.path,
                    "kind": "load",
                    "database": database,
                    "scale": scale,
                    "rps": None,
                    "p50_ms": None,
                    "p99_ms": None,
                    "ratio": None,
                    "errors": 1,
                    "failure": str(exc),
                }
            )
            continue
        if headers is None:
            print(f"   {route.name:<32} skipped (does not answer 200 here)")
            continue
        got = wrk(server.base, route.path, seconds, 16, headers)
        after = wrk(server.base, "/healthz", bare_seconds, 16, {})
        bare_rps = (bare["rps"] + after["rps"]) / 2
        row = {
            "name": route.name,
            "path": route.path,
            "kind": "load",
            "database": database,
            "scale": scale,
            **{k: round(v, 2) if isinstance(v, float) else v for k, v in got.items()},
            "bare_rps": round(bare_rps, 1),
            "ratio": round(got["rps"] / bare_rps, 4) if bare_rps else None,
        }
        rows.append(row)
        print(
            f"   {route.name:<32} {row['rps']:8.1f} rps  p50 {row['p50_ms']:8.1f} ms  "
            f"p99 {row['p99_ms']:8.1f} ms  ratio {row['ratio'] or 0:.3f}  "
            f"(bare {bare_rps:.0f} rps)" + (f"  ERRORS {row['errors']}" if row["errors"] else ""),
            flush=True,
        )
        bare = after
    return rows


def serial_latency(server: Server, todo: list[Route], sessions: dict, seconds: float) -> dict:
    """Latency on one connection, no queueing: what one visitor waits (median of a few)."""
    found = {}
    for route in [Route("bare", "/healthz"), *todo]:
        try:
            headers = prepare(server, route, sessions)
        except RuntimeError:
            continue  # reported by the load run
        if headers is None:
            continue
        drain(server.base)
        probe = Browser(server.base)
        times: list[float] = []
        deadline = time.perf_counter() + seconds
        while len(times) < 3 or (time.perf_counter() < deadline and len(times) < 200):
            t0 = time.perf_counter()
            probe.get(route.path, headers)
            times.append((time.perf_counter() - t0) * 1000)
        times.sort()
        total = sum(times) / 1000
        found[route.name] = {
            "rps": len(times) / total if total else 0.0,
            "p50_ms": statistics.median(times),
            "p99_ms": times[min(len(times) - 1, int(len(times) * 0.99))],
        }
    return found


# --- contended sign-up ------------------------------------------------------------------------


def contended_signup(server: Server, url: str, people: int, rounds: int) -> dict:
    """``people`` residents press 报名 on the same shift at the same instant, ``rounds`` times."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url.replace("sqlite:///", "sqlite:///", 1))
    now = datetime.now(UTC)
    if engine.dialect.name == "sqlite":
        now_param = now.replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")
    else:
        now_param = now
    with engine.connect() as conn:
        shift_ids = [
            r[0]
            for r in conn.execute(
                text(
                    "SELECT s.id FROM shifts s JOIN activities a ON a.id = s.activity_id "
                    "WHERE a.status = 'published' AND s.status = 'scheduled' "
                    "AND s.starts_at > :now "
                    "AND NOT s.requires_approval AND s.signup_opens_at IS NULL "
                    "AND s.signup_closes_at IS NULL AND a.id <> 1 "
                    "ORDER BY s.starts_at LIMIT 50 OFFSET 20"
                ),
                {"now": now_param},
            )
        ][:rounds]
        # Ordinary residents with no sign-up on those shifts.
        taken = {
            r[0]
            for r in conn.execute(
                text(
                    "SELECT user_id FROM signups WHERE shift_id IN ("
                    + ",".join(str(i) for i in shift_ids)
                    + ")"
                )
            )
        }
        phones = [
            phone
            for uid, phone in conn.execute(
                text(
                    "SELECT id, phone FROM users WHERE phone LIKE '137%' ORDER BY id DESC LIMIT 400"
                )
            )
            if uid not in taken
        ][:people]
    browsers = [Browser(server.base).login(p) for p in phones]
    latencies, errors, outcomes = [], 0, {}
    for shift_id in shift_ids:
        activity_path = None
        with engine.connect() as conn:
            activity_id = conn.execute(
                text("SELECT activity_id FROM shifts WHERE id = :i"), {"i": shift_id}
            ).scalar()
            activity_path = f"/activities/{activity_id}"
        tokens = [b.csrf(activity_path) for b in browsers]
        barrier, lock = threading.Barrier(len(browsers)), threading.Lock()

        def press(
            b: Browser, token: str, shift_id: int, barrier: threading.Barrier, lock: threading.Lock
        ) -> None:
            nonlocal errors
            barrier.wait()
            t0 = time.perf_counter()
            try:
                status = b.post(f"/shifts/{shift_id}/signup", {"csrf_token": token})
            except OSError:
                status = 0
            elapsed = (time.perf_counter() - t0) * 1000
            with lock:
                latencies.append(elapsed)
                outcomes[status] = outcomes.get(status, 0) + 1
                if status not in (302, 303):
                    errors += 1

        threads = [
            threading.Thread(target=press, args=(b, t, shift_id, barrier, lock))
            for b, t in zip(browsers, tokens, strict=True)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    with engine.connect() as conn:
        bad = conn.execute(
            text(
                "SELECT s.id FROM shifts s WHERE s.id IN ("
                + ",".join(str(i) for i in shift_ids)
                + ") AND (s.taken_count <> (SELECT count(*) FROM signups g WHERE g.shift_id = s.id "
                "AND g.status IN ('pending', 'confirmed')) OR s.waitlist_count <> (SELECT count(*) "
                "FROM signups g WHERE g.shift_id = s.id AND g.status = 'waitlisted') "
                "OR s.taken_count > s.capacity)"
            )
        ).all()
    engine.dispose()
    latencies.sort()
    return {
        "requests": len(latencies),
        "errors": errors,
        "statuses": outcomes,
        "p50_ms": round(statistics.median(latencies), 1),
        "p99_ms": round(latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))], 1),
        "counters_ok": not bad,
    }


def dashboard(url: str, database: str, scale: float) -> list[dict]:
    """bench/dashboard_bench.py on this district: the page after a write and cached."""
    out = subprocess.run(
        [str(BIN / "python"), str(ROOT / "bench" / "dashboard_bench.py")],
        cwd=ROOT,
        env={**os.environ, "DATABASE_URL": url},
        capture_output=True,
        text=True,
    ).stdout
    print("   " + "\n   ".join(out.strip().splitlines()))
    rows = []
    pattern = r"dashboard (after a write|cached|/healthz): median ([\d.]+) ms, p90 ([\d.]+) ms"
    for name, median, p90 in re.findall(pattern, out):
        rows.append(
            {
                "name": f"dashboard, {name}",
                "kind": "dashboard",
                "database": database,
                "scale": scale,
                "rps": None,
                "ratio": None,
                "p50_ms": float(median),
                "p90_ms": float(p90),
            }
        )
    if not rows:
        rows.append(
            {
                "name": "dashboard",
                "kind": "dashboard",
                "database": database,
                "scale": scale,
                "rps": None,
                "ratio": None,
                "errors": 1,
            }
        )
    return rows


def cold_feed() -> dict:
    out = subprocess.run(
        [str(BIN / "python"), str(ROOT / "bench" / "feed_bench.py")],
        cwd=ROOT,
        capture_output=True,
        text=True,
    ).stdout
    print("   " + "\n   ".join(out.strip().splitlines()))
    found = re.search(r"cold build \(empty caches, median\):\s+([\d.]+) ms", out)
    size = re.search(r"feed: (\d+) events, ([\d,]+) bytes", out)
    return {
        "cold_ms": float(found.group(1)) if found else None,
        "events": int(size.group(1)) if size else None,
    }


# --- main -------------------------------------------------------------------------------------


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
        model = next(x.split(":", 1)[1].strip() for x in lines if x.startswith("model name"))
    except (OSError, StopIteration):
        model = cpu
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return f"{model}, {os.cpu_count()} CPUs, load {load}, {platform.system()} {platform.release()}"


def run(args) -> int:
    databases = args.databases or (["sqlite", "postgresql"] if postgres_reachable() else ["sqlite"])
    big = 0.01 if args.smoke else 1.0
    small = 0.01
    results: list[dict] = []
    started = time.perf_counter()
    print(f"== bench on {machine()}")
    for database in databases:
        try:
            bench_database(args, database, big, small, results)
        except Exception as exc:  # noqa: BLE001 - keep the other database's figures
            print(f"FAILED: {database}: {exc!r}")
            results.append(
                {
                    "name": "run",
                    "kind": "failure",
                    "database": database,
                    "scale": big,
                    "rps": None,
                    "p50_ms": None,
                    "p99_ms": None,
                    "ratio": None,
                    "errors": 1,
                    "failure": repr(exc),
                }
            )
    return finish(args, results, started)


def bench_database(args, database: str, big: float, small: float, results: list) -> None:
    print(f"== {database}")
    urls = {big: ensure_district(database, big)}
    if not args.smoke and "serial" in args.parts:
        urls[small] = ensure_district(database, small)
    serial = {}
    for scale in sorted(urls, reverse=True):
        server = Server(urls[scale])
        try:
            sessions = {
                "resident": Browser(server.base).login(BENCH_ACCOUNTS["resident"]),
                "admin": Browser(server.base).login(BENCH_ACCOUNTS["admin"]),
            }
            todo = [
                r for r in routes(scale) if not args.routes or any(w in r.name for w in args.routes)
            ]
            if scale == big and "load" in args.parts:
                print(f"-- load: wrk, 16 connections, {args.duration:g} s per route, S={scale:g}")
                results += load_routes(
                    server,
                    todo,
                    sessions,
                    args.duration,
                    max(2.0, args.duration / 2),
                    database,
                    scale,
                )
            serial[scale] = (
                serial_latency(server, todo, sessions, args.serial)
                if "serial" in args.parts
                else {}
            )
            if scale == big and "contended" in args.parts:
                print(f"-- contended sign-up: {args.people} people at once, {args.rounds} rounds")
                got = contended_signup(server, urls[scale], args.people, args.rounds)
                print(
                    f"   p50 {got['p50_ms']} ms, p99 {got['p99_ms']} ms, errors "
                    f"{got['errors']}, statuses {got['statuses']}, "
                    f"counters {'exact' if got['counters_ok'] else 'WRONG'}"
                )
                results.append(
                    {
                        "name": "contended sign-up",
                        "kind": "contended",
                        "database": database,
                        "scale": scale,
                        "rps": None,
                        "ratio": None,
                        **got,
                    }
                )
            if scale == big and "dashboard" in args.parts:
                print("-- dashboard: first view after a write, and cached (in-process)")
                results.extend(dashboard(urls[scale], database, scale))
        finally:
            server.stop()
    print(
        f"-- latency on one connection, p50: S={big:g}" + ("" if args.smoke else f" vs S={small:g}")
    )
    for name, at_big in serial.get(big, {}).items():
        at_small = serial.get(small, {}).get(name) if not args.smoke else None
        growth = (at_big["p50_ms"] / at_small["p50_ms"]) if at_small else None
        bare = serial[big]["bare"]["rps"]  # always measured first
        results.append(
            {
                "name": f"latency: {name}",
                "kind": "serial",
                "database": database,
                "scale": big,
                "rps": round(at_big["rps"], 1),
                "p50_ms": round(at_big["p50_ms"], 2),
                "p99_ms": round(at_big["p99_ms"], 2),
                "ratio": round(at_big["rps"] / bare, 4),
                "p50_ms_small": round(at_small["p50_ms"], 2) if at_small else None,
                "growth": round(growth, 2) if growth else None,
            }
        )
        print(
            f"   {name:<32} {at_big['p50_ms']:8.2f} ms"
            + (f"  vs {at_small['p50_ms']:7.2f} ms  = {growth:5.2f}x" if growth else "")
        )


def finish(args, results: list, started: float) -> int:
    if "feed" in args.parts:
        print("== cold build of a 1,000-event feed")
        feed = cold_feed()
        results.append(
            {
                "name": "cold 1,000-event feed",
                "kind": "feed",
                "database": "sqlite",
                "scale": None,
                "rps": None,
                "p50_ms": feed["cold_ms"],
                "p99_ms": None,
                "ratio": None,
                "events": feed["events"],
            }
        )
    out = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "smoke": args.smoke,
    }
    for row in results:
        row.setdefault("p50_ms", None)
        row.setdefault("p99_ms", None)
        row["run"] = out
    path = Path(args.output)
    path.write_text(json.dumps(results, ensure_ascii=False, indent=1) + "\n")
    print(f"== wrote {path} ({len(results)} rows) in {time.perf_counter() - started:.0f} s")
    failed = [r for r in results if r.get("errors") or r.get("counters_ok") is False]
    for r in failed:
        print(f"FAILED: {r['database']} {r['name']}: errors {r.get('errors')}")
    return 1 if failed else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--smoke", action="store_true", help="S=0.01 only, short runs")
    parser.add_argument("--databases", nargs="*", choices=["sqlite", "postgresql"])
    parser.add_argument("--duration", type=float, default=None, help="seconds of wrk per route")
    parser.add_argument("--serial", type=float, default=None, help="seconds per latency run")
    parser.add_argument("--people", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--output", default=str(RESULTS))
    parser.add_argument(
        "--routes", nargs="*", help="only the routes whose name contains one of these words"
    )
    parser.add_argument(
        "--parts",
        nargs="*",
        choices=["load", "serial", "contended", "dashboard", "feed"],
        default=["load", "serial", "contended", "dashboard", "feed"],
        help="which parts to run (default: all)",
    )
    args = parser.parse_args()
    args.duration = args.duration or (2.0 if args.smoke else 4.0)
    args.serial = args.serial or (1.0 if args.smoke else 2.0)
    args.rounds = args.rounds or (1 if args.smoke else 3)
    return run(args)


if __name__ == "__main__":
    sys.exit(main())

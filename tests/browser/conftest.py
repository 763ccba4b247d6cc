"""Browser tests: real Chromium (Debian's) driven by Playwright against a live server.

The server runs in a thread on a SQLite file seeded with the demo district. The demo district
is seeded once per session into a template file; each test module gets one server on its own
copy. Tests that only read share that server and database; as soon as a test writes (any
INSERT/UPDATE/DELETE reaches the database, from the browser or from the test itself), the
copy is replaced by a fresh one before the next test, so writers stay isolated and every test
starts from the untouched demo district. Without Chromium these tests skip, unless
``REQUIRE_BROWSER=1`` makes that a failure.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import threading
from pathlib import Path

import pytest
from sqlalchemy import event
from werkzeug.serving import make_server

from portal import create_app
from portal.demo import DEMO_ACCOUNTS
from portal.extensions import db
from tests.conftest import base_config

CHROMIUM = os.environ.get("PORTAL_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
OUTPUT = Path(__file__).resolve().parents[2] / "test-output"
PHONE = {"width": 390, "height": 844}


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/browser" in str(item.fspath):
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def chromium_path() -> str:
    path = shutil.which(CHROMIUM) or (CHROMIUM if os.path.exists(CHROMIUM) else None)
    if path is None:
        if os.environ.get("REQUIRE_BROWSER", "") in {"1", "true"}:
            pytest.fail(f"REQUIRE_BROWSER=1 but Chromium is not at {CHROMIUM}")
        pytest.skip("Chromium not installed (apt-get install chromium fonts-wqy-microhei)")
    return path


@pytest.fixture(scope="session")
def playwright_instance(chromium_path):
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        if os.environ.get("REQUIRE_BROWSER", "") in {"1", "true"}:
            pytest.fail("REQUIRE_BROWSER=1 but Playwright is not installed")
        pytest.skip("Playwright not installed")
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="session")
def browser(playwright_instance, chromium_path):
    browser = playwright_instance.chromium.launch(
        executable_path=chromium_path, headless=True, args=CHROMIUM_ARGS
    )
    yield browser
    browser.close()


WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE", "CREATE", "DROP", "ALTER", "WITH")


def _one_plain_file(path: Path) -> None:
    """Fold an SQLite file's WAL back in so the file alone is the database (safe to copy)."""
    conn = sqlite3.connect(path)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.execute("PRAGMA journal_mode=DELETE")
    finally:
        conn.close()


def _remove_database(path: Path) -> None:
    for name in (path.name, path.name + "-wal", path.name + "-shm", path.name + "-journal"):
        path.with_name(name).unlink(missing_ok=True)


def _live_config(path: Path) -> dict:
    return base_config(f"sqlite:///{path}", WTF_CSRF_ENABLED=True, TESTING=False)


@pytest.fixture(scope="session")
def demo_template(tmp_path_factory) -> Path:
    """The demo district, seeded once per session into a file that servers copy."""
    path = tmp_path_factory.mktemp("demo") / "demo.sqlite3"
    app = create_app(_live_config(path))
    with app.app_context():
        db.create_all()
        from portal.demo import seed_demo

        seed_demo()
        db.session.commit()
        db.session.remove()
        db.engine.dispose()
    _one_plain_file(path)
    return path


class LiveServer:
    def __init__(self, url: str, app):
        self.url = url
        self.app = app


class _ModuleServer:
    """One live server per test module, on a copy of the demo district it can renew."""

    def __init__(self, template: Path, path: Path):
        self.template, self.path = template, path
        shutil.copyfile(template, path)
        self.app = create_app(_live_config(path))
        self.dirty = False
        with self.app.app_context():
            event.listen(db.engine, "before_cursor_execute", self._watch)
        self.server = make_server("127.0.0.1", 0, self.app, threaded=True)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        # Links the app writes (QR codes, verification and feed URLs) name PORTAL_HOST.
        self.app.config["PORTAL_HOST"] = f"127.0.0.1:{self.server.server_port}"
        self.live = LiveServer(f"http://127.0.0.1:{self.server.server_port}", self.app)

    def _watch(self, conn, cursor, statement, *args) -> None:
        if statement.lstrip()[:7].upper().startswith(WRITES):
            self.dirty = True

    def renew(self) -> None:
        """Put the untouched demo district back (the last test wrote to it)."""
        with self.app.app_context():
            db.engine.dispose()  # nothing is in flight: the last test's pages are closed
        _remove_database(self.path)
        shutil.copyfile(self.template, self.path)
        self.dirty = False

    def stop(self) -> None:
        self.server.shutdown()
        self.thread.join(timeout=5)
        with self.app.app_context():
            db.engine.dispose()


@pytest.fixture(scope="module")
def module_server(tmp_path_factory, demo_template):
    server = _ModuleServer(demo_template, tmp_path_factory.mktemp("live") / "live.sqlite3")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def live_server(module_server):
    """The module's server on 127.0.0.1 (a free port), serving an untouched demo district;
    yield its base URL and app."""
    if module_server.dirty:
        module_server.renew()
    return module_server.live


@pytest.fixture
def phone_page(browser, request):
    """A page at phone size (390×844) in a fresh context, Chinese locale."""
    context = browser.new_context(
        viewport=PHONE, locale="zh-CN", device_scale_factor=2, is_mobile=True, has_touch=True
    )
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


def screenshot(page, name: str) -> Path:
    OUTPUT.mkdir(exist_ok=True)
    path = OUTPUT / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


DEMO_LOGINS = {role: (phone, password) for role, phone, password in DEMO_ACCOUNTS}


def log_in(page, base: str, role: str) -> None:
    """Log in through the real form as one of the demo district's accounts."""
    phone, password = DEMO_LOGINS[role]
    page.goto(base + "/account/login")
    page.fill("#phone", phone)
    page.fill("#password", password)
    page.get_by_role("button", name="登录").click()
    page.wait_for_url(lambda url: "/account/login" not in url)

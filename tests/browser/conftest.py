"""Browser tests: real Chromium (Debian's) driven by Playwright against a live server.

The server runs in a thread on a SQLite file seeded with the demo district. Without
Chromium these tests skip, unless ``REQUIRE_BROWSER=1`` makes that a failure.
"""

from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path

import pytest
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


@pytest.fixture
def live_server(tmp_path):
    """Serve a fresh demo district on 127.0.0.1 on a free port; yield its base URL and app."""
    app = create_app(
        base_config(f"sqlite:///{tmp_path / 'live.sqlite3'}", WTF_CSRF_ENABLED=True, TESTING=False)
    )
    with app.app_context():
        db.create_all()
        from portal.demo import seed_demo

        seed_demo()
        db.session.commit()
        db.session.remove()
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield LiveServer(f"http://127.0.0.1:{server.server_port}", app)
    finally:
        server.shutdown()
        thread.join(timeout=5)
        with app.app_context():
            db.engine.dispose()


class LiveServer:
    def __init__(self, url: str, app):
        self.url = url
        self.app = app


@pytest.fixture
def phone_page(browser, request):
    """A page at phone size (390×844) in a fresh context, Chinese locale."""
    context = browser.new_context(viewport=PHONE, locale="zh-CN", device_scale_factor=2,
                                  is_mobile=True, has_touch=True)
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

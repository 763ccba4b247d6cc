"""From the gate to a verified certificate: the organizer opens the check-in screen, the
resident opens its link and is checked in, the organizer confirms the hours, the resident
sees them in 我的时长, asks for a certificate, downloads its PDF and opens its verification
page — in Chromium, as they would."""

from __future__ import annotations

import shutil
import subprocess
from decimal import Decimal

import pytest
from sqlalchemy import select

from tests.browser.conftest import DEMO_LOGINS, log_in, screenshot
from tests.browser.test_checkin_journey import _shift_in_progress

expect = pytest.importorskip("playwright.sync_api").expect


def _confirmed_hours(app) -> Decimal:
    from portal.attendance.records import confirmed_hours
    from portal.extensions import db
    from portal.models import User

    with app.app_context():
        resident = db.session.scalar(select(User).where(User.phone == DEMO_LOGINS["resident"][0]))
        total = confirmed_hours(resident.id)
        db.session.remove()
    return total


def test_gate_to_verified_certificate(live_server, browser, phone_page, tmp_path):
    base = live_server.url
    before = _confirmed_hours(live_server.app)
    shift_id = _shift_in_progress(live_server.app)  # started 5 min ago, 2 h 05 min long

    organizer_context = browser.new_context(
        viewport={"width": 800, "height": 1280}, locale="zh-CN", accept_downloads=True
    )
    organizer = organizer_context.new_page()
    try:
        log_in(organizer, base, "organizer")
        organizer.goto(f"{base}/organize/shifts/{shift_id}/checkin-screen")
        link = organizer.locator("[data-link]").inner_text()

        resident = phone_page
        log_in(resident, base, "resident")
        resident.goto(link)
        resident.get_by_role("button", name="确认签到").click()
        expect(resident.locator(".checkin-big")).to_contain_text("已签到")

        # The organizer confirms the hours of the whole shift from the roster.
        organizer.goto(f"{base}/organize/shifts/{shift_id}/roster")
        organizer.get_by_role("button", name="确认全部时长").click()
        expect(organizer.locator(".flashes")).to_be_visible()
        screenshot(organizer, "record-01-roster-hours-confirmed")
        after = _confirmed_hours(live_server.app)
        assert after - before == Decimal("2.0")  # 2 h 05 min scheduled, in 0.5 h steps

        resident.goto(f"{base}/me/hours")
        expect(resident.locator("main")).to_contain_text(f"{after:.1f}")
        screenshot(resident, "record-02-my-hours")

        resident.goto(f"{base}/me/certificates")
        resident.get_by_role("button", name="申请证明").click()
        expect(resident.locator(".flashes")).to_contain_text("证明已出具")
        verify_url = resident.locator("a.cert-url").inner_text()
        assert "/verify/" in verify_url
        screenshot(resident, "record-03-certificate")

        with resident.expect_download() as info:
            resident.get_by_role("link", name="下载 PDF").click()
        pdf = tmp_path / "certificate.pdf"
        pdf.write_bytes(info.value.path().read_bytes())
        if shutil.which("pdftotext"):
            text = subprocess.run(
                ["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True
            ).stdout
            assert "王秀英" in text and verify_url in text.replace("\n", "")

        # Whoever receives the certificate checks it, signed out.
        checker_context = browser.new_context(locale="zh-CN")
        checker = checker_context.new_page()
        checker.goto(verify_url)
        expect(checker.locator(".verdict-valid")).to_be_visible()
        expect(checker.locator("main")).to_contain_text("王*")
        expect(checker.locator("main")).not_to_contain_text("王秀英")
        screenshot(checker, "record-04-verified")
        checker_context.close()
    finally:
        organizer_context.close()

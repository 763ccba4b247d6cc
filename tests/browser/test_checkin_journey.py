"""The organizer holds up the check-in screen; a resident scans its link on a phone, confirms
and reads 已签到; the screen's counts follow without a reload."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from tests.browser.conftest import DEMO_LOGINS, log_in, screenshot

expect = pytest.importorskip("playwright.sync_api").expect


def _shift_in_progress(app) -> int:
    """A shift of the organizer's unit that started five minutes ago, the resident on it."""
    from portal.extensions import db
    from portal.models import Activity, Shift, Signup, SignupStatus, User

    with app.app_context():
        organizer = db.session.scalar(select(User).where(User.phone == DEMO_LOGINS["organizer"][0]))
        resident = db.session.scalar(select(User).where(User.phone == DEMO_LOGINS["resident"][0]))
        activity = db.session.scalar(
            select(Activity)
            .where(Activity.unit_id.in_([u.id for u in organizer.units]))
            .order_by(Activity.id)
            .limit(1)
        )
        now = datetime.now(UTC).replace(microsecond=0)
        shift = Shift(
            activity=activity,
            starts_at=now - timedelta(minutes=5),
            ends_at=now + timedelta(hours=2),
            capacity=5,
            post_name="南门",
        )
        db.session.add(shift)
        db.session.add(Signup(shift=shift, user=resident, status=SignupStatus.CONFIRMED))
        db.session.commit()
        return shift.id


def test_resident_scans_the_gate_screen_and_is_checked_in(live_server, browser, phone_page):
    base = live_server.url
    shift_id = _shift_in_progress(live_server.app)
    tablet_context = browser.new_context(viewport={"width": 800, "height": 1280}, locale="zh-CN")
    tablet = tablet_context.new_page()
    try:
        log_in(tablet, base, "organizer")
        tablet.goto(f"{base}/organize/shifts/{shift_id}/roster")
        tablet.get_by_role("link", name="扫码签到屏").click()
        expect(tablet.locator("[data-qr] svg")).to_be_visible()
        expect(tablet.locator("[data-counts]")).to_have_text("已签到 0 / 已确认 1")
        link = tablet.locator("[data-link]").inner_text()
        assert link.startswith(base + f"/checkin/{shift_id}/")
        screenshot(tablet, "checkin-01-gate-screen")

        resident = phone_page
        resident.goto(link)  # not signed in: to the login page and back
        assert "/account/login" in resident.url
        resident.fill("#phone", DEMO_LOGINS["resident"][0])
        resident.fill("#password", DEMO_LOGINS["resident"][1])
        resident.get_by_role("button", name="登录").click()
        resident.wait_for_url(link)
        screenshot(resident, "checkin-02-confirm")
        resident.get_by_role("button", name="确认签到").click()
        expect(resident.locator(".checkin-big")).to_contain_text("已签到")
        screenshot(resident, "checkin-03-checked-in")

        # The screen refreshes itself (checkin.js, every 20 seconds), without a reload.
        tablet.evaluate("window.__same_page = true")
        expect(tablet.locator("[data-counts]")).to_have_text("已签到 1 / 已确认 1", timeout=30_000)
        assert tablet.evaluate("window.__same_page === true")
    finally:
        tablet_context.close()

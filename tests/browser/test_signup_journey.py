"""A resident on a phone registers, signs up for a shift, finds it in "my schedule", cancels."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from portal.extensions import db
from portal.models import Activity, ActivityStatus, Shift, ShiftStatus, Signup, SignupStatus, User
from tests.browser.conftest import OUTPUT, PHONE, screenshot


def _open_shift(app) -> tuple[int, int, str]:
    """A shift of the demo district that a newcomer can sign up for and still cancel."""
    with app.app_context():
        soon = datetime.now(UTC) + timedelta(hours=6)
        shifts = db.session.scalars(
            select(Shift)
            .join(Activity)
            .where(
                Activity.status == ActivityStatus.PUBLISHED,
                Shift.status == ShiftStatus.SCHEDULED,
                Shift.starts_at > soon,
                Shift.requires_approval.is_(False),
            )
            .order_by(Shift.starts_at)
        ).all()
        now = datetime.now(UTC)
        for shift in shifts:
            window_open = (shift.signup_opens_at is None or shift.signup_opens_at <= now) and (
                shift.signup_closes_at is None or shift.signup_closes_at > now
            )
            if window_open and not shift.is_full:
                result = shift.id, shift.activity_id, shift.activity.title
                db.session.remove()
                return result
    raise AssertionError("the demo district has no open shift")


def _view(page, name: str) -> None:
    """Save what the phone's screen shows right now (the full page is saved too)."""
    OUTPUT.mkdir(exist_ok=True)
    page.screenshot(path=str(OUTPUT / f"{name}-screen.png"))


def _no_sideways_scroll(page) -> None:
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]


def test_register_sign_up_find_and_cancel(live_server, phone_page):
    page = phone_page
    shift_id, activity_id, title = _open_shift(live_server.app)

    page.goto(f"{live_server.url}/activities/{activity_id}")
    card = page.locator(f"#shift-{shift_id}")
    card.get_by_role("link", name="报名").click()  # anonymous: the button leads to the login
    page.get_by_role("link", name="注册").last.click()
    page.fill("#real_name", "陈晓梅")
    page.fill("#phone", "138 0013 8000")
    page.fill("#password", "Fuhai-creek-2026")
    page.fill("#password2", "Fuhai-creek-2026")
    page.check("#consent")
    _no_sideways_scroll(page)
    screenshot(page, "signup-01-register")
    _view(page, "signup-01-register")
    with page.expect_navigation():
        page.get_by_role("button", name="注册").click()

    # Back on the activity page, logged in: sign up for the shift.
    page.wait_for_url(f"**/activities/{activity_id}**")
    card = page.locator(f"#shift-{shift_id}")
    with page.expect_navigation():
        card.get_by_role("button", name="报名").click()
    page.wait_for_load_state()
    assert f"shift={shift_id}" in page.url
    flash = page.locator(".flash-success").first.inner_text()
    assert flash.startswith("你已报名") and "不可取消" in flash
    assert "已报名" in page.locator(f"#shift-{shift_id} .state").inner_text()
    _no_sideways_scroll(page)
    screenshot(page, "signup-02-signed-up")
    _view(page, "signup-02a-flash")
    page.locator(f"#shift-{shift_id}").scroll_into_view_if_needed()
    _view(page, "signup-02b-shift")

    # My schedule lists it under upcoming.
    with page.expect_navigation():
        page.get_by_role("link", name="我的").first.click()
    page.wait_for_url("**/me")
    upcoming = page.locator("section[aria-labelledby=upcoming]")
    assert title in upcoming.inner_text()
    _no_sideways_scroll(page)
    screenshot(page, "signup-03-my-schedule")
    _view(page, "signup-03-my-schedule")

    # Cancelling asks first, then moves it to the cancelled list.
    with page.expect_navigation():
        upcoming.get_by_role("link", name="取消报名").first.click()
    page.get_by_role("button", name="确认取消报名").wait_for()
    page.set_viewport_size({"width": 360, "height": 740})  # the narrowest phones we design for
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    page.set_viewport_size(PHONE)
    _no_sideways_scroll(page)
    screenshot(page, "signup-04-confirm-cancel")
    _view(page, "signup-04-confirm-cancel")
    with page.expect_navigation():
        page.get_by_role("button", name="确认取消报名").click()
    page.wait_for_url("**/me")
    assert "已取消报名" in page.locator(".flash-success").first.inner_text()
    assert title in page.locator("section[aria-labelledby=cancelled]").inner_text()
    page.set_viewport_size({"width": 360, "height": 740})
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    page.goto(f"{live_server.url}/activities/{activity_id}")
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    page.go_back()
    page.set_viewport_size(PHONE)
    _no_sideways_scroll(page)
    screenshot(page, "signup-05-cancelled")
    _view(page, "signup-05-cancelled")

    with page.expect_navigation():
        page.get_by_role("link", name="消息").first.click()
    _no_sideways_scroll(page)
    screenshot(page, "signup-06-inbox")
    _view(page, "signup-06-inbox")

    with live_server.app.app_context():
        user = db.session.scalar(select(User).where(User.phone == "13800138000"))
        assert user is not None and user.consent_version
        statuses = db.session.scalars(select(Signup.status).where(Signup.user_id == user.id))
        assert list(statuses) == [SignupStatus.CANCELLED]
        db.session.remove()

"""A deleted account's past service records stay on rosters without contact data."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from portal.account.services import delete_account
from portal.models import SignupStatus

pytestmark = pytest.mark.both_databases


def test_roster_and_sheet_of_a_past_shift_with_a_deleted_person(
    db, client, login, make_user, make_activity, make_shift, make_signup
):
    activity = make_activity()
    past = make_shift(activity, starts_at=datetime.now(UTC) - timedelta(days=3))
    person = make_user("张三", phone="13712340000")
    make_signup(past, person, status=SignupStatus.CONFIRMED)
    delete_account(person)
    db.session.commit()
    login(make_user(units=[activity.unit]))
    for url in (f"/organize/shifts/{past.id}/roster", f"/organize/shifts/{past.id}/sign-in-sheet"):
        html = client.get(url).get_data(as_text=True)
        assert "已注销用户" in html
        assert "None" not in html and "tel:None" not in html
        assert "13712340000" not in html and "张三" not in html


def test_registering_a_walk_in_phone_gives_a_fresh_account_not_their_record(
    db, client, login, make_user, make_activity, make_shift
):
    """Without an SMS check the registrant may not own the phone: no history is handed over."""
    from portal.auth.services import authenticate
    from portal.models import Signup, User
    from tests.conftest import TEST_PASSWORD

    activity = make_activity()
    shift = make_shift(activity)
    login(make_user(units=[activity.unit]))
    client.post(
        f"/organize/shifts/{shift.id}/walk-in", data={"phone": "13566667777", "name": "现场甲"}
    )
    walk_in = db.session.scalar(db.select(User).where(User.phone == "13566667777"))
    assert walk_in is not None and walk_in.password_hash is None
    client.post("/account/logout")
    response = client.post(
        "/account/register",
        data={
            "real_name": "现场甲乙",
            "phone": "135 6666 7777",
            "password": TEST_PASSWORD,
            "password2": TEST_PASSWORD,
            "consent": "y",
        },
    )
    assert response.status_code == 302
    db.session.expire_all()
    account = authenticate("13566667777", TEST_PASSWORD)
    assert account is not None and account.id != walk_in.id
    assert db.session.scalar(db.select(Signup).where(Signup.user_id == account.id)) is None
    old = db.session.get(User, walk_in.id)
    assert old.phone is None and old.real_name == "现场甲"
    assert db.session.scalar(db.select(Signup).where(Signup.user_id == walk_in.id)) is not None
    html = client.get("/me").get_data(as_text=True)
    assert activity.title not in html


def test_a_registered_phone_still_cannot_be_registered_again(client, make_user):
    from tests.conftest import TEST_PASSWORD

    make_user("张三", phone="13512345678")
    response = client.post(
        "/account/register",
        data={
            "real_name": "冒名",
            "phone": "13512345678",
            "password": TEST_PASSWORD,
            "password2": TEST_PASSWORD,
            "consent": "y",
        },
    )
    assert response.status_code == 200
    assert "已经注册过" in response.get_data(as_text=True)

"""A deleted account's past service records stay on rosters without contact data."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from portal.auth.services import delete_account
from portal.models import SignupStatus


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


def test_a_walk_in_can_register_and_keeps_their_record(
    db, client, login, make_user, make_activity, make_shift
):
    from portal.auth.services import authenticate
    from portal.models import Signup, User
    from tests.conftest import TEST_PASSWORD

    activity = make_activity()
    shift = make_shift(activity)
    organizer = make_user(units=[activity.unit])
    login(organizer)
    client.post(f"/organize/shifts/{shift.id}/walk-in",
                data={"phone": "13566667777", "name": "现场甲"})
    walk_in = db.session.scalar(db.select(User).where(User.phone == "13566667777"))
    assert walk_in is not None and walk_in.password_hash is None
    client.post("/account/logout")
    response = client.post("/account/register", data={
        "real_name": "现场甲乙", "phone": "135 6666 7777", "password": TEST_PASSWORD,
        "password2": TEST_PASSWORD, "consent": "y"})
    assert response.status_code == 302
    db.session.expire_all()
    users = db.session.scalars(db.select(User).where(User.phone == "13566667777")).all()
    assert [u.id for u in users] == [walk_in.id]
    assert users[0].real_name == "现场甲乙" and users[0].consent_version
    assert db.session.scalar(db.select(Signup).where(Signup.user_id == walk_in.id)) is not None
    assert authenticate("13566667777", TEST_PASSWORD).id == walk_in.id


def test_a_registered_phone_still_cannot_be_registered_again(client, make_user):
    from tests.conftest import TEST_PASSWORD

    make_user("张三", phone="13512345678")
    response = client.post("/account/register", data={
        "real_name": "冒名", "phone": "13512345678", "password": TEST_PASSWORD,
        "password2": TEST_PASSWORD, "consent": "y"})
    assert response.status_code == 200
    assert "已经注册过" in response.get_data(as_text=True)

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

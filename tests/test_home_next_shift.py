"""The home page shows a signed-in resident their next shift, with the place opening a map."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import quote

import pytest

from portal.models import ActivityStatus, ShiftStatus, SignupStatus

# (the sign-up's status, the shift's state, shown on the home page?)
CASES = [
    (SignupStatus.CONFIRMED, "upcoming", True),
    (SignupStatus.PENDING, "upcoming", True),
    (SignupStatus.WAITLISTED, "upcoming", True),
    (SignupStatus.CONFIRMED, "under way", True),
    (SignupStatus.CANCELLED, "upcoming", False),
    (SignupStatus.REJECTED, "upcoming", False),
    (SignupStatus.CONFIRMED, "over", False),
    (SignupStatus.CONFIRMED, "shift cancelled", False),
    (SignupStatus.CONFIRMED, "activity cancelled", False),
]


@pytest.mark.parametrize("status,state,shown", CASES)
def test_next_shift_on_the_home_page(
    client, db, login, make_user, make_shift, make_signup, status, state, shown
):
    starts = {"under way": timedelta(minutes=-30), "over": timedelta(days=-1)}
    shift = make_shift(starts_in=starts.get(state, timedelta(days=2)))
    shift.activity.place = "县一小校门口"
    if state == "shift cancelled":
        shift.status = ShiftStatus.CANCELLED
    if state == "activity cancelled":
        shift.activity.status = ActivityStatus.CANCELLED
    person = make_user("王秀英")
    make_signup(shift, person, status=status)
    login(person)
    page = client.get("/").get_data(as_text=True)
    assert ("我的下一个班次" in page) is shown
    if shown:
        assert shift.activity.title in page
        assert "https://uri.amap.com/search?keyword=" + quote("县一小校门口") in page


def test_the_earliest_of_several_is_shown(client, login, make_user, make_shift, make_signup):
    person = make_user("王秀英")
    later = make_shift(starts_in=timedelta(days=5))
    later.activity.title = "福洋溪周末护河"
    sooner = make_shift(starts_in=timedelta(days=1))
    sooner.activity.title = "裕丰园市场秩序"
    make_signup(later, person)
    make_signup(sooner, person)
    login(person)
    page = client.get("/").get_data(as_text=True)
    card = page.split("我的下一个班次", 1)[1].split("</section>", 1)[0]
    assert "裕丰园市场秩序" in card and "福洋溪周末护河" not in card


def test_nobody_and_anonymous_see_no_card(client, login, make_user):
    assert "我的下一个班次" not in client.get("/").get_data(as_text=True)
    login(make_user("王秀英"))
    assert "我的下一个班次" not in client.get("/").get_data(as_text=True)

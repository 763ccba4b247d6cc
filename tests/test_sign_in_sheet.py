"""The printed 签到表 is signed by everyone on site: names to sign, phones masked (PIPL)."""

from __future__ import annotations

from datetime import UTC, datetime

from portal.models import SignupStatus

START = datetime(2030, 1, 6, 23, 0, tzinfo=UTC)  # 2030-01-07 07:00 in Asia/Shanghai


def test_sign_in_sheet_masks_every_phone_and_keeps_the_names(
    db, client, login, make_unit, make_user, make_activity, make_shift, make_signup
):
    unit = make_unit()
    organizer = make_user("组织者", units=[unit], phone="13900009999")
    shift = make_shift(activity=make_activity(unit=unit), starts_at=START, capacity=5)
    people = [make_user("张三丰", phone="13812345678"), make_user("李四", phone="13787654321")]
    for person in people:
        make_signup(shift, user=person)
    make_signup(shift, user=make_user("王五", phone="13611112222"), status=SignupStatus.PENDING)
    login(organizer)
    page = client.get(f"/organize/shifts/{shift.id}/sign-in-sheet").get_data(as_text=True)
    assert "张三丰" in page and "李四" in page  # each signs next to their own name
    assert "138****5678" in page and "137****4321" in page
    for phone in ("13812345678", "13787654321", "13611112222", "13900009999"):
        assert phone not in page
    for digits in ("12345678", "87654321", "1234", "8765"):  # no middle digits anywhere
        assert digits not in page
    assert "王五" not in page  # only confirmed people are on the sheet
    assert "手机号只显示前三位和后四位" in page


def test_sign_in_sheet_note_in_english(
    db, client, login, make_unit, make_user, make_activity, make_shift, make_signup
):
    unit = make_unit()
    organizer = make_user("组织者", units=[unit])
    shift = make_shift(activity=make_activity(unit=unit), starts_at=START)
    make_signup(shift, user=make_user("张三丰", phone="13812345678"))
    login(organizer)
    client.set_cookie("lang", "en")
    page = client.get(f"/organize/shifts/{shift.id}/sign-in-sheet").get_data(as_text=True)
    assert "13812345678" not in page and "138****5678" in page
    assert "phone numbers show only the first three and last four digits" in page

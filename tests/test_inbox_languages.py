"""Inbox messages in the reader's language, whatever language the sender used.

Every message the portal writes for people is written from its msgids once per language;
the inbox shows the reader's. A resident who reads Chinese gets Chinese even when the
organizer who approved them uses English, and the other way round.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from portal.models import Notification, SignupStatus
from portal.organize import services as organize
from portal.signups import places

pytestmark = pytest.mark.both_databases


def _inbox(client, lang: str) -> str:
    client.post(f"/lang/{lang}")
    return client.get("/me/inbox").get_data(as_text=True)


# (what the organizer does, Chinese title starts, English title starts)
CASES = [
    ("approve", "报名已通过", "Sign-up approved"),
    ("reject", "报名未通过", "Sign-up declined"),
    ("cancel_shift", "班次已取消", "Shift cancelled"),
]


@pytest.mark.parametrize("action,chinese,english", CASES)
@pytest.mark.parametrize("sender_lang", ["en", "zh_Hans_CN"])
def test_reader_gets_their_language(
    app,
    client,
    db,
    login,
    make_user,
    make_shift,
    make_signup,
    action,
    chinese,
    english,
    sender_lang,
):
    organizer = make_user("陈志强")
    shift = make_shift(starts_in=timedelta(days=3), capacity=5, requires_approval=True)
    organizer.units.append(shift.activity.unit)
    resident = make_user("王秀英")
    signup = make_signup(shift, resident, status=SignupStatus.PENDING)
    db.session.commit()
    with app.test_request_context(headers={"Cookie": f"lang={sender_lang}"}):
        if action == "approve":
            places.approve(organizer, signup)
        elif action == "reject":
            places.reject(organizer, signup, "名额已满")
        else:
            organize.cancel_shift(organizer, shift, "暴雨预警")
        db.session.commit()
    note = db.session.scalars(select(Notification).where(Notification.user_id == resident.id)).one()
    assert note.title.startswith(chinese)  # the stored fallback is always the Chinese
    login(resident)
    assert chinese in _inbox(client, "zh_Hans_CN")
    page = _inbox(client, "en")
    assert english in page and chinese not in page


def test_messages_from_before_keep_their_chinese(client, db, login, make_user):
    resident = make_user("王秀英")
    db.session.add(Notification(user_id=resident.id, kind="notice", title="旧消息", body="旧内容"))
    db.session.commit()
    login(resident)
    assert "旧消息" in _inbox(client, "en")

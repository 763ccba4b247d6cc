"""Organizer rules: activity lifecycle, shifts (single, bulk, recurring), roster, bad input."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from portal.models import (
    Activity,
    ActivityStatus,
    AuditEntry,
    Notification,
    Shift,
    ShiftStatus,
    Signup,
    SignupStatus,
    User,
)
from portal.organize import services
from portal.organize.services import OrganizeError, Slot

pytestmark = pytest.mark.both_databases
FORM_ONLY = pytest.mark.database_independent(
    "the form or the recurrence expansion refuses or computes before any row is written"
)


MONDAY = date(2030, 1, 7)  # a Monday well in the future
SEVEN_AM = datetime(2030, 1, 6, 23, 0, tzinfo=UTC)  # 2030-01-07 07:00 in Asia/Shanghai
SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.fixture
def org(db, make_zone, make_unit, make_user, make_programme):
    """An organizer of one unit, logged in on the client, with a zone and two programmes."""

    class Org:
        pass

    o = Org()
    o.zone = make_zone()
    o.unit = make_unit()
    o.user = make_user("组织者", units=[o.unit])
    o.programmes = [make_programme(), make_programme()]
    return o


@pytest.fixture
def as_org(client, login, org):
    login(org.user)
    return client


def _follow(client, response):
    """Follow one redirect (the isolated test client cannot follow redirects itself)."""
    if response.status_code in (301, 302, 303):
        return client.get(response.headers["Location"])
    return response


def _count(db, model) -> int:
    db.session.expire_all()
    return db.session.scalar(select(func.count(model.id)))


def _actions(db, prefix: str) -> list[AuditEntry]:
    return list(db.session.scalars(select(AuditEntry).where(AuditEntry.action.startswith(prefix))))


def _activity_form(org, **override) -> dict:
    data = {
        "title": "县一小校门口交通文明劝导",
        "kind": "volunteer",
        "description": "上学高峰劝导行人和非机动车。",
        "programme_ids": [p.id for p in org.programmes],
        "unit_id": org.unit.id,
        "zone_id": org.zone.id,
        "place": "县一小正门",
        "latitude": "24.9",
        "longitude": "118.6",
        "contact_name": "李老师",
        "contact_phone": "0595-1234567",
        "requirements": "穿志愿者马甲",
        "risk_notice": "注意来往车辆",
        "cancellation_deadline_hours": "4",
    }
    data.update(override)
    return {k: v for k, v in data.items() if v is not None}


# --- activities ------------------------------------------------------------------------------


def test_create_activity_with_every_field(db, as_org, org):
    response = as_org.post("/organize/activities/new", data=_activity_form(org))
    assert response.status_code == 302
    activity = db.session.scalars(select(Activity)).one()
    assert activity.status == ActivityStatus.DRAFT
    assert activity.unit_id == org.unit.id and activity.zone_id == org.zone.id
    assert {p.id for p in activity.programmes} == {p.id for p in org.programmes}
    assert (activity.latitude, activity.longitude) == (24.9, 118.6)
    assert activity.contact_phone == "0595-1234567"
    assert activity.cancellation_deadline_hours == 4
    assert activity.created_by_id == org.user.id
    entry = _actions(db, "activity.create")[0]
    assert entry.actor_id == org.user.id and entry.after["title"] == activity.title


@FORM_ONLY
@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"title": ""}, "请填写活动名称"),
        ({"title": "长" * 121}, "最多120个字"),
        ({"place": ""}, "请填写地点"),
        ({"place": "地" * 201}, "最多200个字"),
        ({"description": "字" * 5001}, "最多5000个字"),
        ({"latitude": "91"}, "纬度"),
        ({"longitude": "abc"}, "经度要在 -180 到 180 之间"),
        ({"cancellation_deadline_hours": "9999"}, "0 到 720"),
        ({"cancellation_deadline_hours": "-1"}, "0 到 720"),
        ({"kind": "party"}, "不是有效的选择"),
        ({"zone_id": "99999"}, "不是有效的选择"),
        ({"programme_ids": ["99999"]}, "不是有效的选择"),
        ({"contact_phone": "1" * 31}, "30个字符"),
    ],
)
def test_activity_form_bad_input(db, as_org, org, override, message):
    response = as_org.post("/organize/activities/new", data=_activity_form(org, **override))
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert 'class="error"' in page
    assert message in page
    assert _count(db, Activity) == 0


def test_cannot_create_for_a_unit_one_does_not_manage(db, as_org, org, make_unit):
    foreign = make_unit()
    response = as_org.post("/organize/activities/new", data=_activity_form(org, unit_id=foreign.id))
    assert response.status_code == 200
    assert _count(db, Activity) == 0


def test_script_in_title_is_escaped_everywhere(db, as_org, org, make_shift, client):
    evil = "<script>alert('x')</script>"
    as_org.post("/organize/activities/new", data=_activity_form(org, title=evil, place=evil))
    activity = db.session.scalars(select(Activity)).one()
    assert activity.title == evil  # stored as typed, escaped on output
    make_shift(activity=activity)
    as_org.post(f"/organize/activities/{activity.id}/publish")
    pages = [
        as_org.get("/organize/"),
        as_org.get(f"/organize/activities/{activity.id}"),
        as_org.get(f"/organize/shifts/{activity.shifts[0].id}/roster"),
        as_org.get(f"/organize/shifts/{activity.shifts[0].id}/sign-in-sheet"),
        client.get(f"/activities/{activity.id}"),
        client.get("/activities"),
    ]
    for response in pages:
        page = response.get_data(as_text=True)
        assert response.status_code == 200
        assert "<script>alert" not in page
    assert "&lt;script&gt;alert" in pages[4].get_data(as_text=True)
    assert "&lt;script&gt;alert" in pages[5].get_data(as_text=True)


def test_publish_needs_a_shift_then_works(db, as_org, org, make_activity, make_shift):
    activity = make_activity(status=ActivityStatus.DRAFT, unit=org.unit, zone=org.zone)
    response = _follow(as_org, as_org.post(f"/organize/activities/{activity.id}/publish"))
    assert "请先添加至少一个班次" in response.get_data(as_text=True)
    assert db.session.get(Activity, activity.id).status == ActivityStatus.DRAFT
    make_shift(activity=activity)
    as_org.post(f"/organize/activities/{activity.id}/publish")
    db.session.expire_all()
    assert db.session.get(Activity, activity.id).status == ActivityStatus.PUBLISHED
    assert _actions(db, "activity.publish")


def test_edit_activity_records_before_and_after(db, as_org, org, make_activity):
    activity = make_activity(unit=org.unit, zone=org.zone, title="旧标题")
    response = as_org.get(f"/organize/activities/{activity.id}/edit")
    assert "旧标题" in response.get_data(as_text=True)
    as_org.post(
        f"/organize/activities/{activity.id}/edit", data=_activity_form(org, title="新标题")
    )
    db.session.expire_all()
    assert db.session.get(Activity, activity.id).title == "新标题"
    entry = _actions(db, "activity.update")[0]
    assert entry.before["title"] == "旧标题" and entry.after["title"] == "新标题"


def test_cancel_activity_notifies_and_keeps_shifts_in_feeds(
    db, as_org, org, make_activity, make_shift, make_signup
):
    activity = make_activity(unit=org.unit, zone=org.zone)
    one = make_shift(activity=activity)
    two = make_shift(activity=activity, starts_in=timedelta(days=3))
    people = [
        make_signup(one).user,
        make_signup(two).user,
        make_signup(two, status=SignupStatus.WAITLISTED).user,
    ]
    response = as_org.post(f"/organize/activities/{activity.id}/cancel", data={"reason": ""})
    assert response.status_code == 200 and "请填写取消原因" in response.get_data(as_text=True)
    as_org.post(f"/organize/activities/{activity.id}/cancel", data={"reason": "台风预警"})
    db.session.expire_all()
    activity = db.session.get(Activity, activity.id)
    assert activity.status == ActivityStatus.CANCELLED and activity.cancel_reason == "台风预警"
    for shift in activity.shifts:
        assert shift.status == ShiftStatus.CANCELLED and shift.sequence == 1
    for person in people:
        notes = db.session.scalars(
            select(Notification).where(Notification.user_id == person.id)
        ).all()
        assert any("台风预警" in n.body for n in notes)
    # sign-ups keep their status so personal feeds show the event as cancelled
    assert _count(db, Signup) == 3
    assert {s.status for s in db.session.scalars(select(Signup))} == {
        SignupStatus.CONFIRMED,
        SignupStatus.WAITLISTED,
    }


def test_duplicate_copies_future_shifts_without_signups(
    db, as_org, org, make_activity, make_shift, make_signup
):
    activity = make_activity(unit=org.unit, zone=org.zone, programmes=org.programmes)
    future = make_shift(activity=activity, capacity=7, post_name="东门")
    make_shift(activity=activity, starts_in=timedelta(days=-3))
    make_signup(future)
    response = as_org.post(f"/organize/activities/{activity.id}/duplicate")
    assert response.status_code == 302
    copy = db.session.scalars(select(Activity).where(Activity.id != activity.id)).one()
    assert copy.status == ActivityStatus.DRAFT
    assert copy.title.endswith(activity.title)
    assert [(s.capacity, s.post_name, s.starts_at) for s in copy.shifts] == [
        (7, "东门", future.starts_at)
    ]
    assert (
        db.session.scalar(select(func.count(Signup.id)).where(Signup.shift_id == copy.shifts[0].id))
        == 0
    )
    assert {p.id for p in copy.programmes} == {p.id for p in org.programmes}


# --- shifts: one -----------------------------------------------------------------------------


def _shift_form(**override) -> dict:
    data = {
        "day": "2030-01-07",
        "start": "07:00",
        "end": "08:00",
        "capacity": "5",
        "post_name": "东门",
        "waitlist_enabled": "y",
    }
    data.update(override)
    return {k: v for k, v in data.items() if v is not None}


def test_add_one_shift_in_site_time(db, as_org, org, make_activity):
    activity = make_activity(unit=org.unit, zone=org.zone)
    response = as_org.post(f"/organize/activities/{activity.id}/shifts/new", data=_shift_form())
    assert response.status_code == 302
    shift = db.session.scalars(select(Shift)).one()
    assert shift.starts_at == datetime(2030, 1, 6, 23, 0, tzinfo=UTC)  # 07:00 Asia/Shanghai
    assert shift.ends_at == datetime(2030, 1, 7, 0, 0, tzinfo=UTC)
    assert (shift.capacity, shift.post_name, shift.waitlist_enabled) == (5, "东门", True)


@FORM_ONLY
@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"end": "06:00"}, "结束时间要晚于开始时间"),
        ({"end": "07:00"}, "结束时间要晚于开始时间"),
        ({"capacity": "0"}, "1 到 10000"),
        ({"capacity": "10001"}, "1 到 10000"),
        ({"capacity": "-5"}, "1 到 10000"),
        ({"capacity": "abc"}, "不是有效的整数"),
        ({"day": ""}, "请选择日期"),
        ({"day": "2030-02-30"}, "不是有效的日期值"),
        ({"start": "25:00"}, "不是有效的时间值"),
        ({"post_name": "岗" * 61}, "最多60个字"),
        (
            {"signup_opens": "2030-01-05T10:00", "signup_closes": "2030-01-04T10:00"},
            "报名截止要晚于",
        ),
    ],
)
def test_shift_form_bad_input(db, as_org, org, make_activity, override, message):
    activity = make_activity(unit=org.unit, zone=org.zone)
    response = as_org.post(
        f"/organize/activities/{activity.id}/shifts/new", data=_shift_form(**override)
    )
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert 'class="error"' in page and message in page
    assert _count(db, Shift) == 0


def test_shift_in_the_past_is_refused_and_nothing_saved(db, as_org, org, make_activity):
    activity = make_activity(unit=org.unit, zone=org.zone)
    response = as_org.post(
        f"/organize/activities/{activity.id}/shifts/new", data=_shift_form(day="2020-01-07")
    )
    assert response.status_code == 200
    assert "开始时间已经过去" in response.get_data(as_text=True)
    assert _count(db, Shift) == 0


def test_editing_a_shift_into_the_past_is_refused(db, as_org, org, make_activity, make_shift):
    shift = make_shift(activity=make_activity(unit=org.unit, zone=org.zone))
    before = shift.starts_at
    response = as_org.post(
        f"/organize/shifts/{shift.id}/edit", data=_shift_form(day="2020-01-08", capacity="3")
    )
    assert "开始时间已经过去" in response.get_data(as_text=True)
    db.session.refresh(shift)
    assert shift.starts_at == before


def test_time_change_notifies_and_raises_sequence(
    db, as_org, org, make_activity, make_shift, make_signup
):
    activity = make_activity(unit=org.unit, zone=org.zone)
    shift = make_shift(activity=activity, capacity=3)
    person = make_signup(shift).user
    response = as_org.post(
        f"/organize/shifts/{shift.id}/edit",
        data=_shift_form(day="2030-01-08", start="09:00", end="11:00", capacity="3"),
    )
    assert response.status_code == 302
    db.session.expire_all()
    shift = db.session.get(Shift, shift.id)
    assert shift.sequence == 1
    assert shift.starts_at == datetime(2030, 1, 8, 1, 0, tzinfo=UTC)
    notes = db.session.scalars(select(Notification).where(Notification.user_id == person.id)).all()
    assert [n.kind for n in notes] == ["shift_changed"]
    entry = _actions(db, "shift.update")[0]
    assert "starts_at" in entry.before and "starts_at" in entry.after


def test_capacity_only_change_keeps_sequence(db, as_org, org, make_activity, make_shift):
    activity = make_activity(unit=org.unit, zone=org.zone)
    # The form sends post_name "东门"; the post is part of the event's SUMMARY.
    shift = make_shift(activity=activity, capacity=3, starts_at=SEVEN_AM, post_name="东门")
    as_org.post(f"/organize/shifts/{shift.id}/edit", data=_shift_form(end="09:00", capacity="8"))
    db.session.expire_all()
    shift = db.session.get(Shift, shift.id)
    assert (shift.capacity, shift.sequence) == (8, 0)


@pytest.mark.parametrize(
    ("taken", "new_capacity", "ok"), [(3, 2, False), (3, 3, True), (2, 1, False), (0, 1, True)]
)
def test_lowering_capacity_never_evicts(
    db, as_org, org, make_activity, make_shift, make_signup, taken, new_capacity, ok
):
    activity = make_activity(unit=org.unit, zone=org.zone)
    shift = make_shift(activity=activity, capacity=4)
    for n in range(taken):
        make_signup(shift, status=SignupStatus.PENDING if n == 0 else SignupStatus.CONFIRMED)
    response = _follow(
        as_org,
        as_org.post(
            f"/organize/shifts/{shift.id}/edit",
            data=_shift_form(capacity=str(new_capacity)),
        ),
    )
    db.session.expire_all()
    shift = db.session.get(Shift, shift.id)
    if ok:
        assert shift.capacity == new_capacity
    else:
        assert shift.capacity == 4
        assert f"已有 {taken} 人报名" in response.get_data(as_text=True)
    assert (
        db.session.scalar(
            select(func.count(Signup.id)).where(Signup.status.in_(["confirmed", "pending"]))
        )
        == taken
    )


def test_raising_capacity_fills_from_waitlist(
    db, as_org, org, make_activity, make_shift, make_signup
):
    activity = make_activity(unit=org.unit, zone=org.zone)
    shift = make_shift(activity=activity, capacity=1, starts_at=SEVEN_AM)
    make_signup(shift)
    waiting = make_signup(shift, status=SignupStatus.WAITLISTED, queued_at=datetime.now(UTC))
    as_org.post(f"/organize/shifts/{shift.id}/edit", data=_shift_form(end="09:00", capacity="2"))
    db.session.expire_all()
    assert db.session.get(Signup, waiting.id).status == SignupStatus.CONFIRMED


def test_cancel_shift_with_reason_notifies_and_raises_sequence(
    db, as_org, org, make_activity, make_shift, make_signup
):
    activity = make_activity(unit=org.unit, zone=org.zone)
    shift = make_shift(activity=activity)
    person = make_signup(shift).user
    response = as_org.post(f"/organize/shifts/{shift.id}/cancel", data={"reason": "  "})
    assert response.status_code == 200
    assert db.session.get(Shift, shift.id).status == ShiftStatus.SCHEDULED
    as_org.post(f"/organize/shifts/{shift.id}/cancel", data={"reason": "暴雨"})
    db.session.expire_all()
    shift = db.session.get(Shift, shift.id)
    assert (shift.status, shift.sequence, shift.cancel_reason) == (ShiftStatus.CANCELLED, 1, "暴雨")
    notes = db.session.scalars(select(Notification).where(Notification.user_id == person.id)).all()
    assert [n.kind for n in notes] == ["shift_cancelled"]


@pytest.mark.parametrize(
    ("status", "deletable"),
    [
        (None, True),
        (SignupStatus.CANCELLED, False),
        (SignupStatus.REJECTED, False),
        (SignupStatus.CONFIRMED, False),
    ],
)
def test_delete_only_when_nobody_ever_signed_up(
    db, as_org, org, make_activity, make_shift, make_signup, status, deletable
):
    activity = make_activity(unit=org.unit, zone=org.zone)
    shift = make_shift(activity=activity)
    if status is not None:
        make_signup(shift, status=status)
    shift_id = shift.id
    response = _follow(as_org, as_org.post(f"/organize/shifts/{shift_id}/delete"))
    db.session.expire_all()
    assert (db.session.get(Shift, shift_id) is None) == deletable
    if not deletable:
        assert "不能删除" in response.get_data(as_text=True)


# --- shifts: bulk and recurring --------------------------------------------------------------


def _bulk_form(**override) -> dict:
    data = {
        "mode": "range",
        "first_date": "2030-01-07",
        "last_date": "2030-01-20",
        "weekdays": ["0", "2", "4"],
        "slots": "07:00-08:00, 16:30-17:30",
        "capacity": "4",
        "post_name": "校门",
        "waitlist_enabled": "y",
    }
    data.update(override)
    return {k: v for k, v in data.items() if v is not None}


def test_bulk_preview_then_confirm(db, as_org, org, make_activity):
    activity = make_activity(unit=org.unit, zone=org.zone)
    url = f"/organize/activities/{activity.id}/shifts/bulk"
    response = as_org.post(url, data={**_bulk_form(), "preview": "1"})
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "将创建 12 个班次" in page  # 2 weeks × Mon/Wed/Fri × 2 slots
    assert page.count("<li>2030") == 12
    assert 'name="confirm" value="1"' in page
    assert _count(db, Shift) == 0
    # "save" without the confirm flag only previews again
    as_org.post(url, data={**_bulk_form(), "save": "1"})
    assert _count(db, Shift) == 0
    response = as_org.post(url, data={**_bulk_form(), "confirm": "1", "save": "1"})
    assert response.status_code == 302
    shifts = db.session.scalars(select(Shift).order_by(Shift.starts_at)).all()
    assert len(shifts) == 12
    assert shifts[0].starts_at == datetime(2030, 1, 6, 23, 0, tzinfo=UTC)
    assert shifts[1].starts_at == datetime(2030, 1, 7, 8, 30, tzinfo=UTC)
    assert {s.capacity for s in shifts} == {4} and {s.post_name for s in shifts} == {"校门"}
    assert _actions(db, "shift.bulk_create")[0].after["count"] == 12


@FORM_ONLY
@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"last_date": "2031-12-31", "weekdays": [str(d) for d in range(7)]}, "最长一年"),
        ({"last_date": "2030-12-31", "weekdays": [str(d) for d in range(7)]}, "最多创建 500"),
        ({"last_date": "2030-01-01"}, "结束日期不能早于开始日期"),
        ({"weekdays": None}, "请至少选择一个星期几"),
        ({"last_date": "2030-01-08", "weekdays": ["6"]}, "没有可创建的班次"),
        ({"first_date": "2020-01-06", "last_date": "2020-01-20"}, "没有可创建的班次"),
        ({"mode": "rule", "rule": "FREQ=DAILY;COUNT=3", "first_date": "2020-01-06"}, "都已经过去"),
        ({"last_date": None}, "请选择结束日期"),
        ({"slots": ""}, "请至少填写一个时段"),
        ({"slots": "morning"}, "看不懂"),
        ({"slots": "25:00-26:00"}, "看不懂"),
        ({"slots": "09:00-08:00"}, "结束时间要晚于开始时间"),
        ({"slots": "07:00-08:00,07:00-08:00"}, "重复"),
        ({"capacity": "0"}, "1 到 10000"),
        ({"capacity": "100000"}, "1 到 10000"),
        ({"first_date": "not-a-date"}, "不是有效的日期值"),
        ({"mode": "rule", "rule": ""}, "请填写重复规则"),
        ({"mode": "rule", "rule": "nonsense"}, "看不懂"),
        ({"mode": "rule", "rule": "FREQ=WEEKLY;BYDAY=XX;COUNT=3"}, "看不懂"),
        ({"mode": "rule", "rule": "FREQ=WEEKLY;BYDAY=MO"}, "COUNT"),
        ({"mode": "rule", "rule": "FREQ=MINUTELY;COUNT=5"}, "只支持"),
        ({"mode": "rule", "rule": "FREQ=DAILY;COUNT=501"}, "最多创建 500 个班次"),
        ({"mode": "rule", "rule": "FREQ=DAILY;UNTIL=20290101"}, "没有任何日期"),
        ({"mode": "rule", "rule": "R" * 301}, "太长"),
    ],
)
def test_bulk_bad_input(db, as_org, org, make_activity, override, message):
    activity = make_activity(unit=org.unit, zone=org.zone)
    data = {**_bulk_form(**override), "confirm": "1", "save": "1"}
    response = as_org.post(f"/organize/activities/{activity.id}/shifts/bulk", data=data)
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert 'class="error"' in page and message in page
    assert "确认创建" not in page.split("<form")[1] if "预览：" in page else True
    assert _count(db, Shift) == 0


def test_recurrence_rule_expands_into_rows(db, as_org, org, make_activity):
    activity = make_activity(unit=org.unit, zone=org.zone)
    data = {
        "mode": "rule",
        "first_date": "2030-01-07",
        "rule": "FREQ=WEEKLY;BYDAY=MO,WE,FR;COUNT=12",
        "slots": "07:00-08:00",
        "capacity": "3",
        "confirm": "1",
        "save": "1",
    }
    response = as_org.post(f"/organize/activities/{activity.id}/shifts/bulk", data=data)
    assert response.status_code == 302
    shifts = db.session.scalars(select(Shift).order_by(Shift.starts_at)).all()
    assert len(shifts) == 12
    local = [s.starts_at.astimezone(SHANGHAI) for s in shifts]
    assert {d.weekday() for d in local} == {0, 2, 4}
    assert {d.time() for d in local} == {time(7, 0)}
    assert local[-1].date() == date(2030, 2, 1)


@FORM_ONLY
@pytest.mark.parametrize(
    ("rule", "slots", "count", "last"),
    [
        ("FREQ=WEEKLY;BYDAY=MO,WE,FR;COUNT=12", 1, 12, date(2030, 2, 1)),
        ("RRULE:FREQ=DAILY;UNTIL=20300110", 2, 8, date(2030, 1, 10)),
        ("FREQ=MONTHLY;BYMONTHDAY=1;COUNT=3", 1, 3, date(2030, 4, 1)),
        ("FREQ=WEEKLY;INTERVAL=2;BYDAY=SA;UNTIL=20300301T000000", 1, 4, date(2030, 2, 23)),
    ],
)
def test_expand_rule_table(app, rule, slots, count, last):
    slot_list = [Slot(time(7), time(8)), Slot(time(16), time(17))][:slots]
    result = services.expand_rule(rule, MONDAY, slot_list)
    assert len(result) == count
    assert result[-1].starts_at.astimezone(SHANGHAI).date() == last


@FORM_ONLY
def test_expand_bulk_caps_at_500(app):
    slots = [Slot(time(h), time(h, 30)) for h in (7, 9, 11)]
    assert len(services.expand_bulk(MONDAY, MONDAY + timedelta(days=165), range(7), slots)) == 498
    with pytest.raises(OrganizeError, match="500"):
        services.expand_bulk(MONDAY, MONDAY + timedelta(days=166), range(7), slots)


# --- roster ----------------------------------------------------------------------------------


def test_roster_shows_full_data_and_logs_the_view(
    db, as_org, org, make_activity, make_shift, make_signup, make_user
):
    activity = make_activity(unit=org.unit, zone=org.zone)
    shift = make_shift(activity=activity)
    person = make_user("王小明", phone="13711112222")
    make_signup(shift, user=person)
    page = as_org.get(f"/organize/shifts/{shift.id}/roster").get_data(as_text=True)
    assert "王小明" in page and "13711112222" in page
    entry = _actions(db, "roster.view_full")[0]
    assert (entry.actor_id, entry.target_type, entry.target_id) == (org.user.id, "shifts", shift.id)


def test_roster_actions_change_status_and_notify(
    db, as_org, org, make_activity, make_shift, make_signup
):
    activity = make_activity(unit=org.unit, zone=org.zone)
    shift = make_shift(activity=activity, capacity=2, requires_approval=True)
    pending = make_signup(shift, status=SignupStatus.PENDING)
    other = make_signup(shift, status=SignupStatus.PENDING)
    waiting = make_signup(shift, status=SignupStatus.WAITLISTED, queued_at=datetime.now(UTC))
    as_org.post(f"/organize/signups/{pending.id}/approve")
    response = _follow(
        as_org, as_org.post(f"/organize/signups/{other.id}/reject", data={"reason": ""})
    )
    assert "请填写原因" in response.get_data(as_text=True)
    as_org.post(f"/organize/signups/{other.id}/reject", data={"reason": "年龄不符"})
    db.session.expire_all()
    assert db.session.get(Signup, pending.id).status == SignupStatus.CONFIRMED
    assert db.session.get(Signup, other.id).status == SignupStatus.REJECTED
    # the freed place went to the waitlist (pending, as the shift needs approval)
    assert db.session.get(Signup, waiting.id).status == SignupStatus.PENDING
    as_org.post(f"/organize/signups/{pending.id}/remove", data={"reason": "本人电话要求"})
    db.session.expire_all()
    assert db.session.get(Signup, pending.id).status == SignupStatus.CANCELLED
    kinds = {n.kind for n in db.session.scalars(select(Notification))}
    assert {"signup_approved", "signup_rejected", "signup_removed"} <= kinds


def test_promote_refuses_when_full_unless_over_capacity(
    db, as_org, org, make_activity, make_shift, make_signup
):
    activity = make_activity(unit=org.unit, zone=org.zone)
    shift = make_shift(activity=activity, capacity=1)
    make_signup(shift)
    waiting = make_signup(shift, status=SignupStatus.WAITLISTED, queued_at=datetime.now(UTC))
    response = _follow(as_org, as_org.post(f"/organize/signups/{waiting.id}/promote"))
    assert "班次已满" in response.get_data(as_text=True)
    assert db.session.get(Signup, waiting.id).status == SignupStatus.WAITLISTED
    response = _follow(
        as_org, as_org.post(f"/organize/signups/{waiting.id}/promote", data={"over_capacity": "y"})
    )
    assert "请写明原因" in response.get_data(as_text=True)  # an override needs its reason
    db.session.expire_all()
    assert db.session.get(Signup, waiting.id).status == SignupStatus.WAITLISTED
    as_org.post(
        f"/organize/signups/{waiting.id}/promote",
        data={"over_capacity": "y", "override_reason": "领导安排加一人"},
    )
    db.session.expire_all()
    assert db.session.get(Signup, waiting.id).status == SignupStatus.CONFIRMED


@pytest.mark.parametrize("why", ["open", "shift_cancelled", "activity_cancelled", "started"])
def test_roster_hides_approve_and_promote_when_shift_cancelled_or_started(
    db, as_org, org, make_activity, make_shift, make_signup, why
):
    activity = make_activity(unit=org.unit, zone=org.zone)
    starts_in = timedelta(minutes=-10) if why == "started" else timedelta(days=2)
    shift = make_shift(activity=activity, capacity=1, requires_approval=True, starts_in=starts_in)
    make_signup(shift, status=SignupStatus.PENDING)
    make_signup(shift, status=SignupStatus.WAITLISTED, queued_at=datetime.now(UTC))
    if why == "shift_cancelled":
        shift.status = ShiftStatus.CANCELLED
    if why == "activity_cancelled":
        activity.status = ActivityStatus.CANCELLED
    db.session.commit()
    html = as_org.get(f"/organize/shifts/{shift.id}/roster").get_data(as_text=True)
    shown = why == "open"
    assert ("/approve" in html) is shown
    assert ("/promote" in html) is shown


@pytest.mark.parametrize(
    ("phone", "name", "existing", "full", "over", "outcome"),
    [
        ("13700001111", "", True, False, False, "added"),
        ("13700001111", "新人", False, False, False, "created"),
        ("13700001111", "", False, False, False, "needs_name"),
        ("12345", "某人", False, False, False, "bad_phone"),
        ("13700001111", "", True, True, False, "full"),
        ("13700001111", "", True, True, True, "added"),
        ("13700001111", "名" * 41, False, False, False, "bad_name"),
        # A refused walk-in of a new person leaves no person record behind.
        ("13700001111", "新人", False, True, False, "full"),
    ],
)
def test_walk_in(
    db,
    as_org,
    org,
    make_activity,
    make_shift,
    make_signup,
    make_user,
    phone,
    name,
    existing,
    full,
    over,
    outcome,
):
    activity = make_activity(unit=org.unit, zone=org.zone)
    shift = make_shift(activity=activity, capacity=1)
    if full:
        make_signup(shift)
    if existing:
        make_user("老住户", phone=phone)
    users_before = _count(db, User)
    data = {"phone": phone, "name": name}
    if over:
        data |= {"over_capacity": "y", "override_reason": "到场支援"}
    response = _follow(as_org, as_org.post(f"/organize/shifts/{shift.id}/walk-in", data=data))
    page = response.get_data(as_text=True)
    db.session.expire_all()
    walk = db.session.scalars(
        select(Signup)
        .join(User, Signup.user_id == User.id)
        .where(User.phone == phone, Signup.shift_id == shift.id)
    ).first()
    if outcome in ("added", "created"):
        assert walk is not None and walk.status == SignupStatus.CONFIRMED
        assert walk.source == "walk_in"
        assert _count(db, User) == users_before + (1 if outcome == "created" else 0)
        if outcome == "created":
            assert walk.user.password_hash is None and walk.user.real_name == "新人"
        assert (
            db.session.scalars(
                select(Notification).where(Notification.user_id == walk.user_id)
            ).first()
            is not None
        )
    else:
        assert walk is None
        assert _count(db, User) == users_before
        expected = {
            "needs_name": "请同时填写姓名",
            "bad_phone": "11位",
            "full": "班次已满",
            "bad_name": "最多40个字",
        }[outcome]
        assert expected in page


def test_walk_in_to_cancelled_shift_saves_no_new_person(db, as_org, org, make_activity, make_shift):
    shift = make_shift(
        activity=make_activity(unit=org.unit, zone=org.zone), status=ShiftStatus.CANCELLED
    )
    users, audits = _count(db, User), _count(db, AuditEntry)
    response = as_org.post(
        f"/organize/shifts/{shift.id}/walk-in", data={"phone": "13712345678", "name": "新人甲"}
    )
    assert (_count(db, User), _count(db, AuditEntry)) == (users, audits)
    assert "已取消" in _follow(as_org, response).get_data(as_text=True)


def test_walk_in_confirms_someone_already_pending_on_a_full_shift(
    db, as_org, org, make_activity, make_shift, make_signup, make_user
):
    shift = make_shift(
        activity=make_activity(unit=org.unit, zone=org.zone), capacity=2, requires_approval=True
    )
    make_signup(shift)
    pending = make_signup(
        shift, make_user("等审核", phone="13711112222"), status=SignupStatus.PENDING
    )
    as_org.post(f"/organize/shifts/{shift.id}/walk-in", data={"phone": "13711112222"})
    db.session.expire_all()
    assert db.session.get(Signup, pending.id).status == SignupStatus.CONFIRMED


def test_walk_in_message_masks_the_name(db, as_org, org, make_activity, make_shift, make_user):
    shift = make_shift(activity=make_activity(unit=org.unit, zone=org.zone))
    make_user("欧阳明月", phone="13788889999")
    page = _follow(
        as_org, as_org.post(f"/organize/shifts/{shift.id}/walk-in", data={"phone": "13788889999"})
    ).get_data(as_text=True)
    assert "已把 欧* 加入名单" in page and "已把 欧阳" not in page


def test_place_change_on_a_published_activity_tells_people(
    db, as_org, org, make_activity, make_shift, make_signup
):
    activity = make_activity(unit=org.unit, zone=org.zone, place="县一小正门")
    shift = make_shift(activity=activity)
    person = make_signup(shift).user
    as_org.post(
        f"/organize/activities/{activity.id}/edit",
        data=_activity_form(org, place="县一小北门", title=activity.title),
    )
    db.session.expire_all()
    assert db.session.get(Shift, shift.id).sequence == 1
    notes = db.session.scalars(select(Notification).where(Notification.user_id == person.id)).all()
    assert [n.kind for n in notes] == ["shift_changed"] and "县一小北门" in notes[0].body


def test_cancelled_activity_stays_in_its_feed_as_cancelled(
    db, as_org, org, make_activity, make_shift, make_signup, client
):
    from icalendar import Calendar

    evil = "<script>alert(1)</script>, 护学岗; 第二行"
    activity = make_activity(unit=org.unit, zone=org.zone, title=evil)
    make_signup(make_shift(activity=activity))
    as_org.post(f"/organize/activities/{activity.id}/cancel", data={"reason": "台风"})
    response = client.get(f"/calendar/activities/{activity.id}.ics")
    assert response.status_code == 200
    events = Calendar.from_ical(response.data).walk("VEVENT")
    assert len(events) == 1
    assert str(events[0]["STATUS"]) == "CANCELLED" and int(events[0]["SEQUENCE"]) >= 1
    assert evil in str(events[0]["SUMMARY"])  # exact text, iCalendar-escaped on the wire


def test_past_shifts_fold_away_and_waitlist_shows_positions(
    db, as_org, org, make_activity, make_shift, make_signup
):
    activity = make_activity(unit=org.unit, zone=org.zone)
    make_shift(activity=activity, starts_in=timedelta(days=-2), post_name="昨天的岗")
    shift = make_shift(activity=activity, capacity=1, post_name="明天的岗")
    make_signup(shift)
    for minutes in (1, 2):
        make_signup(
            shift,
            status=SignupStatus.WAITLISTED,
            queued_at=datetime.now(UTC) + timedelta(minutes=minutes),
        )
    page = as_org.get(f"/organize/activities/{activity.id}").get_data(as_text=True)
    assert "明天的岗" in page and "昨天的岗" not in page and "显示已结束的 1 个班次" in page
    page = as_org.get(f"/organize/activities/{activity.id}?past=1").get_data(as_text=True)
    assert "昨天的岗" in page
    page = as_org.get(f"/organize/shifts/{shift.id}/roster").get_data(as_text=True)
    assert "候补中 第 1 位" in page and "候补中 第 2 位" in page


def test_my_activities_page_uses_a_fixed_number_of_statements(
    db, as_org, org, make_activity, make_shift, make_unit, make_zone, count_queries
):
    def statements() -> int:
        with count_queries() as counter:
            assert as_org.get("/organize/").status_code == 200
        return len(counter)

    def another() -> None:
        unit = make_unit()
        org.user.units.append(unit)
        make_shift(activity=make_activity(unit=unit, zone=make_zone()))

    another()
    few = statements()
    for _ in range(5):
        another()
    assert statements() == few


@pytest.mark.parametrize(
    ("query", "status"),
    [("page=2", 404), ("page=0", 404), ("page=x", 404), ("page=1", 200), ("status=nonsense", 200)],
)
def test_my_activities_paging_and_filters_never_500(as_org, org, make_activity, query, status):
    make_activity(unit=org.unit, zone=org.zone)
    assert as_org.get(f"/organize/?{query}").status_code == status


def test_my_activities_pages_of_fifty(db, as_org, org, make_zone):
    zone = make_zone()
    db.session.add_all(
        Activity(title=f"活动{n}", kind="volunteer", zone=zone, unit=org.unit, place="某地")
        for n in range(51)
    )
    db.session.commit()
    first = as_org.get("/organize/").get_data(as_text=True)
    assert first.count('class="card-title"') == 50 and 'rel="next"' in first
    second = as_org.get("/organize/?page=2").get_data(as_text=True)
    assert second.count('class="card-title"') == 1 and 'rel="prev"' in second

"""The organizer's day: one approval queue with bulk decisions, the day's shifts, and the
organizer items of the phone-experience issue (weekly repeats by form, overnight shifts,
identical shifts, walk-in messages, masking, one reason box per action, real dates in XLSX,
the printed sign-in sheet)."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select

from portal.models import (
    ActivityStatus,
    Attendance,
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
from portal.privacy import mask_name

pytestmark = pytest.mark.both_databases

SHANGHAI = ZoneInfo("Asia/Shanghai")
DAY = date(2030, 1, 7)  # a Monday well in the future


def local(day: date, hour: int, minute: int = 0) -> datetime:
    """A wall-clock time in Asia/Shanghai as an aware UTC datetime."""
    return datetime.combine(day, time(hour, minute), tzinfo=SHANGHAI).astimezone(UTC)


@pytest.fixture
def org(db, make_zone, make_unit, make_user):
    class Org:
        pass

    o = Org()
    o.zone = make_zone()
    o.unit = make_unit("城关街道办事处")
    o.other_unit = make_unit("区城管局")
    o.user = make_user("组织者", units=[o.unit])
    return o


@pytest.fixture
def as_org(client, login, org):
    login(org.user)
    return client


def _follow(client, response):
    if response.status_code in (301, 302, 303):
        return client.get(response.headers["Location"])
    return response


def _count(db, model, *where) -> int:
    db.session.expire_all()
    return db.session.scalar(select(func.count(model.id)).where(*where))


def _state(db) -> tuple:
    """Everything a decision could change."""
    db.session.expire_all()
    return (
        tuple(db.session.execute(select(Signup.id, Signup.status).order_by(Signup.id))),
        _count(db, Notification),
        _count(db, AuditEntry),
        _count(db, User),
        _count(db, Shift),
    )


# --- the approval queue ----------------------------------------------------------------------


@pytest.fixture
def queue_world(db, org, make_activity, make_shift, make_signup, make_user):
    """Pending sign-ups on two activities of my unit, plus some that must not be in my queue."""

    class W:
        pass

    w = W()
    a1 = make_activity(title="县一小校门口交通劝导", unit=org.unit, zone=org.zone)
    a2 = make_activity(title="福洋溪护河", unit=org.unit, zone=org.zone)
    w.shift1 = make_shift(a1, starts_in=timedelta(days=2), capacity=5, requires_approval=True)
    w.shift2 = make_shift(
        a2, starts_in=timedelta(days=3), capacity=1, requires_approval=True, post_name="东岸"
    )
    w.mine = [
        make_signup(w.shift1, make_user("王秀英"), status=SignupStatus.PENDING),
        make_signup(w.shift1, make_user("李建国"), status=SignupStatus.PENDING),
        make_signup(w.shift2, make_user("陈志强"), status=SignupStatus.PENDING),
    ]
    other = make_activity(title="别的单位的活动", unit=org.other_unit, zone=org.zone)
    w.foreign = make_signup(
        make_shift(other, capacity=5, requires_approval=True),
        make_user("外单位"),
        status=SignupStatus.PENDING,
    )
    started = make_shift(a1, starts_in=timedelta(minutes=-30), capacity=5)
    w.started = make_signup(started, make_user("已开始"), status=SignupStatus.PENDING)
    cancelled = make_shift(
        a1, starts_in=timedelta(days=4), capacity=5, status=ShiftStatus.CANCELLED
    )
    w.cancelled = make_signup(cancelled, make_user("已取消班次"), status=SignupStatus.PENDING)
    return w


def test_queue_lists_every_pending_signup_of_my_units_soonest_first(db, as_org, org, queue_world):
    page = as_org.get("/organize/queue").get_data(as_text=True)
    for name in ("王秀英", "李建国", "陈志强"):
        assert name in page
    for name in ("外单位", "已开始", "已取消班次"):
        assert name not in page
    assert page.index("县一小校门口交通劝导") < page.index("福洋溪护河")
    assert "共 3 条报名等待审核" in page
    assert _count(db, AuditEntry, AuditEntry.action == "queue.view") == 1


def test_admin_sees_every_units_queue(db, client, login, make_user, queue_world):
    login(make_user("管理员", is_admin=True))
    page = client.get("/organize/queue").get_data(as_text=True)
    assert "外单位" in page and "王秀英" in page and "区城管局" in page


def test_bulk_approve_confirms_each_and_tells_them(db, as_org, queue_world):
    ids = [s.id for s in queue_world.mine]
    response = as_org.post("/organize/queue", data={"signup_ids": ids, "decision": "approve"})
    assert response.status_code == 302 and response.headers["Location"] == "/organize/queue"
    page = _follow(as_org, response).get_data(as_text=True)
    assert "已通过 3 人，已通知本人。" in page
    db.session.expire_all()
    assert {db.session.get(Signup, i).status for i in ids} == {SignupStatus.CONFIRMED}
    assert _count(db, Notification, Notification.kind == "signup_approved") == 3
    assert _count(db, AuditEntry, AuditEntry.action == "signup.approve") == 3
    assert "没有待审核的报名" in page


def test_bulk_approve_reports_partial_failure_and_keeps_the_rest(
    db, as_org, org, queue_world, make_activity, make_shift, make_signup
):
    w = queue_world
    # 陈志强's shift has one place; someone else takes it meanwhile (over capacity by hand).
    make_signup(w.shift2, status=SignupStatus.CONFIRMED)
    # 李建国 now holds an overlapping place elsewhere.
    elsewhere = make_shift(
        make_activity(unit=org.other_unit, zone=org.zone),
        starts_at=w.shift1.starts_at,
        ends_at=w.shift1.ends_at,
    )
    make_signup(elsewhere, w.mine[1].user, status=SignupStatus.CONFIRMED)
    ids = [s.id for s in w.mine] + [w.foreign.id, w.started.id]
    response = as_org.post("/organize/queue", data={"signup_ids": ids, "decision": "approve"})
    page = _follow(as_org, response).get_data(as_text=True)
    db.session.expire_all()
    status = {s.id: db.session.get(Signup, s.id).status for s in [*w.mine, w.foreign, w.started]}
    # 陈志强 already holds his (pending) place, so only the overlap, the started shift and the
    # other unit's sign-up are refused.
    assert status[w.mine[0].id] == SignupStatus.CONFIRMED
    assert status[w.mine[2].id] == SignupStatus.CONFIRMED
    assert status[w.mine[1].id] == SignupStatus.PENDING
    assert status[w.started.id] == SignupStatus.PENDING
    assert status[w.foreign.id] == SignupStatus.PENDING
    assert "已通过 2 人；3 人未能通过，仍在待审核：" in page
    assert "李建国（" in page and "时间冲突" in page
    assert "已开始（" in page and "已经开始" in page
    assert "没有找到这条报名记录" in page
    assert "外单位" not in page  # another unit's person is not named to me


def test_bulk_reject_with_one_reason_for_everyone(db, as_org, queue_world):
    ids = [s.id for s in queue_world.mine[:2]]
    response = as_org.post(
        "/organize/queue",
        data={"signup_ids": ids, "decision": "reject", "reason": "本次只招小学家长"},
    )
    assert "已拒绝 2 人，已通知本人。" in _follow(as_org, response).get_data(as_text=True)
    db.session.expire_all()
    for i in ids:
        signup = db.session.get(Signup, i)
        assert (signup.status, signup.reason) == (SignupStatus.REJECTED, "本次只招小学家长")
    bodies = db.session.scalars(
        select(Notification.body).where(Notification.kind == "signup_rejected")
    ).all()
    assert bodies == ["原因：本次只招小学家长"] * 2


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"decision": "approve"}, "请先勾选要处理的报名"),
        ({"decision": "reject", "signup_ids": "MINE"}, "不通过时请填写原因"),
        ({"decision": "reject", "signup_ids": "MINE", "reason": "   "}, "不通过时请填写原因"),
        ({"decision": "reject", "signup_ids": "MINE", "reason": "长" * 501}, "最多500个字"),
        ({"decision": "approve", "signup_ids": ["abc"]}, "选择的报名无效"),
        ({"decision": "approve", "signup_ids": ["-1"]}, "选择的报名无效"),
        ({"decision": "approve", "signup_ids": ["9" * 40]}, "选择的报名无效"),
        ({"decision": "maybe", "signup_ids": "MINE"}, "不是有效的选择"),
        ({"signup_ids": "MINE"}, "请选择“通过”或“不通过”"),
        ({"decision": "approve", "signup_ids": [str(n) for n in range(1, 400)]}, "一次最多处理"),
    ],
)
def test_queue_bad_input_saves_nothing(db, as_org, queue_world, data, message):
    if data.get("signup_ids") == "MINE":
        data = {**data, "signup_ids": [s.id for s in queue_world.mine]}
    before = _state(db)
    response = as_org.post("/organize/queue", data=data)
    assert response.status_code in (200, 302)
    page = _follow(as_org, response).get_data(as_text=True)
    assert message in page
    assert _state(db)[:2] == before[:2]  # no decision, no notification


def test_queue_keeps_the_ticks_and_reason_after_a_refusal(db, as_org, queue_world):
    ids = [s.id for s in queue_world.mine]
    page = as_org.post(
        "/organize/queue", data={"signup_ids": ids, "decision": "reject", "reason": "长" * 501}
    ).get_data(as_text=True)
    assert page.count(" checked>") == 3
    assert '<details class="queue-reject" open>' in page


def test_queue_statements_do_not_grow_with_the_queue(
    db, as_org, org, count_queries, make_activity, make_shift, make_signup, make_user
):
    def grow(n):
        for _ in range(n):
            activity = make_activity(unit=org.unit, zone=org.zone)
            shift = make_shift(activity, capacity=9, requires_approval=True)
            for _ in range(2):
                make_signup(shift, make_user("报名者"), status=SignupStatus.PENDING)

    counts = []
    for n in (2, 8):
        grow(n)
        db.session.expire_all()
        with count_queries() as counter:
            assert as_org.get("/organize/queue").status_code == 200
        counts.append(len(counter))
    assert counts[0] == counts[1], counts


# --- the day's shifts ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "end", "shown", "flags"),
    [
        (local(DAY, 0, 30), local(DAY, 2), True, (False, False)),  # 00:30 belongs to that day
        (local(DAY, 0, 0), local(DAY, 1), True, (False, False)),
        (local(DAY, 23, 59), local(DAY + timedelta(days=1), 1), True, (False, True)),
        (local(DAY - timedelta(days=1), 22), local(DAY, 2), True, (True, False)),  # overnight
        (local(DAY - timedelta(days=1), 20), local(DAY, 0, 0), False, None),  # ended at midnight
        (
            local(DAY - timedelta(days=1), 23, 30),
            local(DAY - timedelta(days=1), 23, 59),
            False,
            None,
        ),
        (local(DAY + timedelta(days=1), 0, 0), local(DAY + timedelta(days=1), 1), False, None),
    ],
)
def test_a_shift_belongs_to_its_local_day(
    db, org, make_activity, make_shift, start, end, shown, flags
):
    shift = make_shift(make_activity(unit=org.unit, zone=org.zone), starts_at=start, ends_at=end)
    day = services.day_shifts(org.user, DAY)
    found = [d for d in day.shifts if d.shift.id == shift.id]
    assert bool(found) is shown
    if shown:
        assert (found[0].started_before, found[0].ends_next_day) == flags


def test_day_page_shows_fill_and_checkin_state(
    db, as_org, org, make_activity, make_shift, make_signup
):
    activity = make_activity(title="裕丰园市场秩序劝导", unit=org.unit, zone=org.zone)
    shift = make_shift(
        activity, starts_at=local(DAY, 7), ends_at=local(DAY, 9), capacity=6, post_name="东门"
    )
    for attendance in (Attendance.ATTENDED, Attendance.ATTENDED, Attendance.NO_SHOW, None):
        make_signup(shift, attendance=attendance)
    make_signup(shift, status=SignupStatus.PENDING)
    make_signup(shift, status=SignupStatus.WAITLISTED, queued_at=datetime.now(UTC))
    make_shift(make_activity(title="外单位班次", unit=org.other_unit), starts_at=local(DAY, 8))
    off = make_shift(
        activity, starts_at=local(DAY, 15), status=ShiftStatus.CANCELLED, cancel_reason="大雨"
    )
    page = as_org.get("/organize/today?day=2030-01-07").get_data(as_text=True)
    assert "2030年1月7日 星期一" in page
    assert "裕丰园市场秩序劝导" in page and "东门" in page and "外单位班次" not in page
    assert "07:00–09:00" in page
    assert "5 / 6" in page  # taken (4 confirmed + 1 pending) / capacity
    assert "候补 1" in page
    assert "2 / 4" in page  # checked in / expected
    assert "1 个班次 · 应到 4 人 · 已签到 2 人 · 缺席 1 人" in page
    assert f"/organize/shifts/{shift.id}/roster" in page
    assert f"/organize/shifts/{shift.id}/checkin-screen" in page
    assert "大雨" in page and f"/organize/shifts/{off.id}/checkin-screen" not in page


@pytest.mark.parametrize("day", ["", "2030-02-30", "yesterday", "0001-01-01", "9999-12-31"])
def test_day_page_never_500s(as_org, day):
    response = as_org.get(f"/organize/today?day={day}")
    assert response.status_code == 200
    assert "今天的班次" in response.get_data(as_text=True)


def test_day_page_statements_do_not_grow_with_the_day(
    db, as_org, org, count_queries, make_activity, make_shift, make_signup
):
    counts = []
    for n in (2, 10):
        for i in range(n):
            shift = make_shift(
                make_activity(unit=org.unit, zone=org.zone),
                starts_at=local(DAY, 6 + i % 12),
                capacity=5,
            )
            make_signup(shift, attendance=Attendance.ATTENDED)
            make_signup(shift, status=SignupStatus.PENDING)
        db.session.expire_all()
        with count_queries() as counter:
            assert as_org.get("/organize/today?day=2030-01-07").status_code == 200
        counts.append(len(counter))
    assert counts[0] == counts[1], counts


def test_home_leads_to_today_and_the_queue(db, as_org, queue_world, count_queries):
    page = as_org.get("/organize/").get_data(as_text=True)
    assert 'href="/organize/today"' in page and 'href="/organize/queue"' in page
    head = page.split("org-day", 1)[1][:1500]
    assert "待审核" in head and ">3<" in head  # three wait in my queue


# --- weekly repeats by form ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("weekdays", "interval", "until", "count", "rule"),
    [
        ([2], 1, None, 4, "FREQ=WEEKLY;COUNT=4;BYDAY=WE"),
        (
            [0, 4],
            2,
            date(2030, 3, 1),
            None,
            "FREQ=WEEKLY;INTERVAL=2;UNTIL=20300301T000000;BYDAY=MO,FR",
        ),
        ([6, 0], 1, None, 3, "FREQ=WEEKLY;COUNT=3;BYDAY=MO,SU"),
    ],
)
def test_weekly_rule_is_built_by_dateutil(app, weekdays, interval, until, count, rule):
    assert services.weekly_rule(DAY, weekdays, interval, until, count) == rule


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"weekdays": []}, "weekdays"),
        ({"interval": 0}, "interval"),
        ({"interval": 9}, "interval"),
        ({"count": None}, "last_date"),
        ({"count": 4, "until": DAY}, "count"),
        ({"count": None, "until": DAY - timedelta(days=1)}, "last_date"),
        ({"count": None, "until": DAY + timedelta(days=400)}, "last_date"),
        ({"count": 0}, "count"),
        ({"count": 501}, "count"),
    ],
)
def test_weekly_rule_refusals_name_their_field(app, kwargs, field):
    args = {"weekdays": [2], "interval": 1, "until": None, "count": 4} | kwargs
    with pytest.raises(OrganizeError) as info:
        services.weekly_rule(DAY, args["weekdays"], args["interval"], args["until"], args["count"])
    assert info.value.field == field


def _weekly(**override) -> dict:
    data = {
        "mode": "range",
        "first_date": "2030-01-07",
        "weekdays": ["2"],
        "interval": "1",
        "end_by": "count",
        "count": "4",
        "slots": "09:00-11:00",
        "capacity": "4",
        "waitlist_enabled": "y",
    }
    data.update(override)
    return {k: v for k, v in data.items() if v is not None}


@pytest.mark.parametrize(
    ("override", "dates"),
    [
        ({}, [date(2030, 1, d) for d in (9, 16, 23, 30)]),  # every Wednesday, 4 times
        (
            {"interval": "2"},
            [date(2030, 1, 9), date(2030, 1, 23), date(2030, 2, 6), date(2030, 2, 20)],
        ),
        (
            {"end_by": "date", "count": None, "last_date": "2030-01-20"},
            [date(2030, 1, 9), date(2030, 1, 16)],
        ),
        (
            {
                "end_by": "date",
                "count": None,
                "last_date": "2030-02-05",
                "interval": "2",
                "weekdays": ["0", "2"],
            },
            [
                date(2030, 1, 7),
                date(2030, 1, 9),
                date(2030, 1, 21),
                date(2030, 1, 23),
                date(2030, 2, 4),
            ],
        ),
    ],
)
def test_weekly_form_without_raw_rule(db, as_org, org, make_activity, override, dates):
    activity = make_activity(unit=org.unit, zone=org.zone)
    url = f"/organize/activities/{activity.id}/shifts/bulk"
    preview = as_org.post(url, data={**_weekly(**override), "preview": "1"})
    assert f"将创建 {len(dates)} 个班次" in preview.get_data(as_text=True)
    assert _count(db, Shift) == 0
    response = as_org.post(url, data={**_weekly(**override), "confirm": "1", "save": "1"})
    assert response.status_code == 302
    shifts = db.session.scalars(select(Shift).order_by(Shift.starts_at)).all()
    assert [s.starts_at.astimezone(SHANGHAI).date() for s in shifts] == dates
    assert {s.starts_at.astimezone(SHANGHAI).time() for s in shifts} == {time(9)}


def test_weekly_preview_shows_the_rule_it_made(db, as_org, org, make_activity):
    activity = make_activity(unit=org.unit, zone=org.zone)
    page = as_org.post(
        f"/organize/activities/{activity.id}/shifts/bulk",
        data={**_weekly(interval="2"), "preview": "1"},
    ).get_data(as_text=True)
    assert "FREQ=WEEKLY;INTERVAL=2;COUNT=4;BYDAY=WE" in page
    assert 'name="interval" value="2"' in page and 'name="end_by" value="count"' in page


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"count": None}, "请填写次数"),
        ({"count": "0"}, "次数要在 1 到 500 之间"),
        ({"count": "abc"}, "不是有效的整数"),
        ({"interval": "9"}, "不是有效的选择"),
        ({"interval": "x"}, "不是有效的选择"),
        ({"weekdays": None}, "请至少选择一个星期几"),
        ({"end_by": "sometime"}, "不是有效的选择"),
        ({"end_by": "date", "count": None}, "请选择结束日期"),
        (
            {
                "count": "300",
                "weekdays": [str(d) for d in range(7)],
                "slots": "07:00-08:00,09:00-10:00",
            },
            "最多创建 500",
        ),
        ({"count": "60", "interval": "4"}, "最长一年"),
    ],
)
def test_weekly_form_bad_input(db, as_org, org, make_activity, override, message):
    activity = make_activity(unit=org.unit, zone=org.zone)
    response = as_org.post(
        f"/organize/activities/{activity.id}/shifts/bulk",
        data={**_weekly(**override), "confirm": "1", "save": "1"},
    )
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert message in page
    assert _count(db, Shift) == 0


# --- overnight shifts ------------------------------------------------------------------------


def _shift_form(**override) -> dict:
    data = {
        "day": "2030-01-07",
        "start": "22:00",
        "end": "02:00",
        "capacity": "5",
        "post_name": "夜巡",
        "waitlist_enabled": "y",
    }
    data.update(override)
    return {k: v for k, v in data.items() if v is not None}


def test_overnight_shift_ends_the_next_day_and_says_so(db, as_org, org, make_activity):
    activity = make_activity(unit=org.unit, zone=org.zone)
    response = as_org.post(f"/organize/activities/{activity.id}/shifts/new", data=_shift_form())
    assert response.status_code == 302
    shift = db.session.scalars(select(Shift)).one()
    assert (shift.starts_at, shift.ends_at) == (local(DAY, 22), local(DAY + timedelta(days=1), 2))
    page = _follow(as_org, response).get_data(as_text=True)
    assert "跨夜，次日结束" in page
    assert "2030年1月7日 星期一 22:00 – 2030年1月8日 星期二 02:00" in page
    # The edit form shows it as it was entered, and saving it again keeps it overnight.
    edit = as_org.get(f"/organize/shifts/{shift.id}/edit").get_data(as_text=True)
    assert 'value="22:00"' in edit and 'value="02:00"' in edit
    as_org.post(f"/organize/shifts/{shift.id}/edit", data=_shift_form(capacity="6"))
    db.session.expire_all()
    shift = db.session.get(Shift, shift.id)
    assert (shift.capacity, shift.ends_at) == (6, local(DAY + timedelta(days=1), 2))


@pytest.mark.parametrize(
    ("start", "end", "ok"),
    [
        ("22:00", "02:00", True),
        ("20:00", "08:00", True),
        ("23:30", "00:00", True),
        ("09:00", "08:00", False),
        ("19:59", "08:00", False),
        ("07:00", "07:00", False),
    ],
)
def test_overnight_slots_in_bulk_up_to_twelve_hours(app, start, end, ok):
    text = f"{start}-{end}"
    if ok:
        (slot,) = services.parse_slots(text)
        (occ,) = services.expand_bulk(DAY, DAY, [0], [slot])
        assert occ.ends_at.astimezone(SHANGHAI).date() == DAY + timedelta(days=1)
        assert timedelta(0) < occ.ends_at - occ.starts_at <= timedelta(hours=12)
    else:
        with pytest.raises(OrganizeError, match="结束时间要晚于开始时间"):
            services.parse_slots(text)


# --- identical shifts ------------------------------------------------------------------------


def test_identical_shift_is_warned_about_before_saving(db, as_org, org, make_activity, make_shift):
    activity = make_activity(unit=org.unit, zone=org.zone)
    make_shift(activity, starts_at=local(DAY, 7), ends_at=local(DAY, 8), post_name="东门")
    url = f"/organize/activities/{activity.id}/shifts/new"
    data = _shift_form(start="07:00", end="08:00", post_name="东门")
    response = as_org.post(url, data=data)
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "已有一个完全相同的班次" in page and 'name="allow_duplicate"' in page
    assert _count(db, Shift) == 1
    assert as_org.post(url, data={**data, "allow_duplicate": "y"}).status_code == 302
    assert _count(db, Shift) == 2


@pytest.mark.parametrize(
    ("override", "twin"),
    [
        ({}, True),
        ({"post_name": "西门"}, False),
        ({"end": "08:30"}, False),
        ({"day": "2030-01-08"}, False),
        ({"post_name": " 东门 "}, True),
    ],
)
def test_what_counts_as_an_identical_shift(
    db, as_org, org, make_activity, make_shift, override, twin
):
    activity = make_activity(unit=org.unit, zone=org.zone)
    make_shift(activity, starts_at=local(DAY, 7), ends_at=local(DAY, 8), post_name="东门")
    data = _shift_form(start="07:00", end="08:00", post_name="东门") | override
    response = as_org.post(f"/organize/activities/{activity.id}/shifts/new", data=data)
    assert (response.status_code == 200) is twin
    assert _count(db, Shift) == (1 if twin else 2)


def test_a_cancelled_twin_does_not_count(db, as_org, org, make_activity, make_shift):
    activity = make_activity(unit=org.unit, zone=org.zone)
    make_shift(
        activity,
        starts_at=local(DAY, 7),
        ends_at=local(DAY, 8),
        post_name="东门",
        status=ShiftStatus.CANCELLED,
    )
    response = as_org.post(
        f"/organize/activities/{activity.id}/shifts/new",
        data=_shift_form(start="07:00", end="08:00", post_name="东门"),
    )
    assert response.status_code == 302


def test_moving_a_shift_onto_its_twin_is_warned(db, as_org, org, make_activity, make_shift):
    activity = make_activity(unit=org.unit, zone=org.zone)
    make_shift(activity, starts_at=local(DAY, 7), ends_at=local(DAY, 8), post_name="东门")
    other = make_shift(activity, starts_at=local(DAY, 9), ends_at=local(DAY, 10), post_name="东门")
    data = _shift_form(start="07:00", end="08:00", post_name="东门")
    response = as_org.post(f"/organize/shifts/{other.id}/edit", data=data)
    assert "已有一个完全相同的班次" in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Shift, other.id).starts_at == local(DAY, 9)


def test_bulk_preview_marks_twins_and_skips_them_unless_asked(
    db, as_org, org, make_activity, make_shift
):
    activity = make_activity(unit=org.unit, zone=org.zone)
    make_shift(
        activity,
        starts_at=local(date(2030, 1, 9), 9),
        ends_at=local(date(2030, 1, 9), 11),
        post_name="东门",
    )
    url = f"/organize/activities/{activity.id}/shifts/bulk"
    form = _weekly(post_name="东门")
    page = as_org.post(url, data={**form, "preview": "1"}).get_data(as_text=True)
    assert "其中 1 个班次和这个活动已有的班次完全相同" in page
    assert page.count("与已有班次相同</span>") == 1
    assert "确认创建 3 个班次" in page
    response = as_org.post(url, data={**form, "confirm": "1", "save": "1"})
    assert "跳过了 1 个与已有班次完全相同的" in _follow(as_org, response).get_data(as_text=True)
    assert _count(db, Shift) == 4  # the old one and three new
    as_org.post(url, data={**form, "confirm": "1", "save": "1", "allow_duplicates": "y"})
    assert _count(db, Shift) == 8


def test_bulk_of_only_twins_saves_nothing(db, as_org, org, make_activity):
    activity = make_activity(unit=org.unit, zone=org.zone)
    url = f"/organize/activities/{activity.id}/shifts/bulk"
    as_org.post(url, data={**_weekly(), "confirm": "1", "save": "1"})
    assert _count(db, Shift) == 4
    response = as_org.post(url, data={**_weekly(), "confirm": "1", "save": "1"})
    assert response.status_code == 200
    assert "都和已有的班次完全相同" in response.get_data(as_text=True)
    assert _count(db, Shift) == 4


# --- walk-ins --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("before", "message", "status", "changes"),
    [
        (None, "已把 赵* 加入名单，已通知本人。", SignupStatus.CONFIRMED, True),
        (
            SignupStatus.CONFIRMED,
            "赵* 已在名单上（已确认），没有重复添加。",
            SignupStatus.CONFIRMED,
            False,
        ),
        (
            SignupStatus.PENDING,
            "赵* 原本在待审核或候补中，现已改为已确认",
            SignupStatus.CONFIRMED,
            True,
        ),
        (
            SignupStatus.WAITLISTED,
            "赵* 原本在待审核或候补中，现已改为已确认",
            SignupStatus.CONFIRMED,
            True,
        ),
    ],
)
def test_walk_in_says_exactly_what_happened(
    db,
    as_org,
    org,
    make_activity,
    make_shift,
    make_signup,
    make_user,
    before,
    message,
    status,
    changes,
):
    shift = make_shift(make_activity(unit=org.unit, zone=org.zone), capacity=3)
    person = make_user("赵淑芬", phone="13722223333")
    if before is not None:
        make_signup(
            shift,
            person,
            status=before,
            queued_at=datetime.now(UTC) if before == SignupStatus.WAITLISTED else None,
        )
    state = _state(db)
    response = as_org.post(f"/organize/shifts/{shift.id}/walk-in", data={"phone": "13722223333"})
    assert (_state(db) != state) is changes  # nothing written when nothing changed
    page = _follow(as_org, response).get_data(as_text=True)
    assert message in page
    assert "赵** " not in page
    db.session.expire_all()
    assert db.session.scalar(select(Signup.status).where(Signup.user_id == person.id)) == status


def test_walk_in_of_a_new_person_says_a_record_was_made(db, as_org, org, make_activity, make_shift):
    shift = make_shift(make_activity(unit=org.unit, zone=org.zone))
    page = _follow(
        as_org,
        as_org.post(
            f"/organize/shifts/{shift.id}/walk-in", data={"phone": "13733334444", "name": "钱小红"}
        ),
    ).get_data(as_text=True)
    assert "已把 钱* 加入名单（新建了简单档案），已通知本人。" in page


@pytest.mark.parametrize("why", ["full", "shift_cancelled", "activity_cancelled", "overlap"])
def test_walk_in_refusals_leave_no_record(
    db, as_org, org, make_activity, make_shift, make_signup, make_user, why
):
    activity = make_activity(unit=org.unit, zone=org.zone)
    shift = make_shift(activity, capacity=1)
    data = {"phone": "13744445555", "name": "孙新人"}
    if why == "full":
        make_signup(shift)
    elif why == "shift_cancelled":
        shift.status = ShiftStatus.CANCELLED
    elif why == "activity_cancelled":
        activity.status = ActivityStatus.CANCELLED
    else:
        person = make_user("孙老人", phone="13744445555")
        other = make_shift(
            make_activity(unit=org.other_unit), starts_at=shift.starts_at, ends_at=shift.ends_at
        )
        make_signup(other, person)
    db.session.commit()
    state = _state(db)
    response = as_org.post(f"/organize/shifts/{shift.id}/walk-in", data=data)
    assert response.status_code == 302
    assert _state(db) == state  # no person, sign-up, audit entry or notification
    page = _follow(as_org, response).get_data(as_text=True)
    assert {
        "full": "班次已满",
        "shift_cancelled": "已取消",
        "activity_cancelled": "已取消",
        "overlap": "时间冲突",
    }[why] in page


# --- rules that already held, now with a test each -------------------------------------------


@pytest.mark.parametrize("action", ["approve", "promote"])
@pytest.mark.parametrize("why", ["shift_cancelled", "activity_cancelled", "started"])
def test_approve_and_promote_are_refused_on_cancelled_or_started_shifts(
    db, org, make_activity, make_shift, make_signup, action, why
):
    from portal.signups import places

    activity = make_activity(unit=org.unit, zone=org.zone)
    starts_in = timedelta(minutes=-5) if why == "started" else timedelta(days=2)
    shift = make_shift(activity, capacity=3, starts_in=starts_in, requires_approval=True)
    status = SignupStatus.PENDING if action == "approve" else SignupStatus.WAITLISTED
    signup = make_signup(shift, status=status, queued_at=datetime.now(UTC))
    if why == "shift_cancelled":
        shift.status = ShiftStatus.CANCELLED
    if why == "activity_cancelled":
        activity.status = ActivityStatus.CANCELLED
    db.session.commit()
    with pytest.raises(places.SignupError, match="已取消|已经开始"):
        getattr(places, action)(org.user, signup)
    db.session.rollback()
    assert db.session.get(Signup, signup.id).status == status


def test_moving_a_shift_re_arms_its_reminders(
    db, as_org, org, make_activity, make_shift, make_signup
):
    shift = make_shift(
        make_activity(unit=org.unit, zone=org.zone), starts_at=local(DAY, 7), ends_at=local(DAY, 8)
    )
    signup = make_signup(shift, reminder_sent_at=datetime.now(UTC))
    as_org.post(
        f"/organize/shifts/{shift.id}/edit",
        data=_shift_form(start="09:00", end="10:00", post_name=""),
    )
    db.session.expire_all()
    assert db.session.get(Signup, signup.id).reminder_sent_at is None
    assert db.session.get(Shift, shift.id).sequence == 1


@pytest.mark.parametrize("change", ["zone", "unit"])
def test_moving_an_activity_to_another_zone_or_unit_raises_sequence(
    db, org, make_activity, make_shift, make_zone, make_user, change
):
    from portal.organize.services import activity_snapshot, update_activity

    admin = make_user("管理员", is_admin=True)
    activity = make_activity(unit=org.unit, zone=org.zone)
    shift = make_shift(activity)
    data = activity_snapshot(activity)
    if change == "zone":
        data["zone_id"] = make_zone("福海").id
    else:
        data["unit_id"] = org.other_unit.id
    update_activity(admin, activity, data)
    db.session.commit()
    db.session.expire_all()
    assert db.session.get(Shift, shift.id).sequence == 1


# --- masking ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "masked"),
    [
        ("张三", "张*"),
        ("陈志强", "陈*"),
        ("欧阳明月", "欧*"),
        ("王", "*"),
        ("", ""),
        ("  李四 ", "李*"),
    ],
)
def test_one_mask_for_every_name(name, masked):
    assert mask_name(name) == masked


def test_organize_messages_mask_like_everywhere_else(
    db, as_org, org, make_activity, make_shift, make_signup, make_user
):
    shift = make_shift(
        make_activity(unit=org.unit, zone=org.zone), starts_at=local(DAY, 7), ends_at=local(DAY, 8)
    )
    person = make_user("陈志强")
    make_signup(shift, person)
    other = make_shift(
        make_activity(unit=org.unit, zone=org.zone), starts_at=local(DAY, 9), ends_at=local(DAY, 10)
    )
    make_signup(other, person)
    page = as_org.post(
        f"/organize/shifts/{shift.id}/edit",
        data=_shift_form(start="09:00", end="10:00", post_name=""),
    ).get_data(as_text=True)
    assert "陈* 等 1 人" in page and "陈**" not in page


# --- the roster: one reason box per action ---------------------------------------------------


def test_roster_reason_boxes_open_per_action(
    db, as_org, org, make_activity, make_shift, make_signup
):
    shift = make_shift(
        make_activity(unit=org.unit, zone=org.zone), capacity=2, requires_approval=True
    )
    for status in (SignupStatus.CONFIRMED, SignupStatus.CONFIRMED, SignupStatus.PENDING):
        make_signup(shift, status=status)
    make_signup(shift, status=SignupStatus.WAITLISTED, queued_at=datetime.now(UTC))
    page = as_org.get(f"/organize/shifts/{shift.id}/roster").get_data(as_text=True)
    rows = page.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    # Every reason box sits folded inside its own action's <details>, never open on a row.
    outside = rows
    while "<details" in outside:
        before, rest = outside.split("<details", 1)
        outside = before + rest.split("</details>", 1)[1]
    assert 'name="reason"' not in outside and 'name="override_reason"' not in outside
    assert rows.count("<summary>移出…</summary>") == 4
    assert rows.count("<summary>拒绝…</summary>") == 1
    # Without JavaScript the forms still post: the reason still goes to the same route.
    assert rows.count('action="/organize/signups/') >= 6


# --- exports: real dates ---------------------------------------------------------------------


@pytest.mark.parametrize("which", ["roster", "attendance"])
def test_xlsx_exports_carry_real_dates(
    db, as_org, org, make_activity, make_shift, make_signup, which
):
    activity = make_activity(unit=org.unit, zone=org.zone)
    shift = make_shift(activity, starts_at=local(DAY, 7), ends_at=local(DAY, 9))
    make_signup(shift, attendance=Attendance.ATTENDED, checked_in_at=local(DAY, 6, 55))
    url = (
        f"/organize/shifts/{shift.id}/roster.xlsx"
        if which == "roster"
        else f"/organize/activities/{activity.id}/attendance.xlsx"
    )
    sheet = load_workbook(io.BytesIO(as_org.get(url).data)).active
    row = next(sheet.iter_rows(min_row=2, max_row=2))
    start, end, checked_in = row[1], row[2], row[9]
    assert start.value == datetime(2030, 1, 7, 7, 0) and start.is_date
    assert end.value == datetime(2030, 1, 7, 9, 0)
    assert checked_in.value == datetime(2030, 1, 7, 6, 55)
    assert {start.number_format, end.number_format, checked_in.number_format} == {
        "yyyy-mm-dd hh:mm"
    }
    assert row[10].value is None  # no check-out: an empty cell, not a text


def test_csv_keeps_readable_times(db, as_org, org, make_activity, make_shift, make_signup):
    shift = make_shift(
        make_activity(unit=org.unit, zone=org.zone), starts_at=local(DAY, 7), ends_at=local(DAY, 9)
    )
    make_signup(shift)
    text = as_org.get(f"/organize/shifts/{shift.id}/roster.csv").data.decode("utf-8-sig")
    assert ",2030-01-07 07:00,2030-01-07 09:00," in text


# --- the printed sign-in sheet ---------------------------------------------------------------


def test_sign_in_sheet_has_a_real_print_button_and_no_inline_code(
    db, as_org, org, make_activity, make_shift, make_signup
):
    shift = make_shift(make_activity(unit=org.unit, zone=org.zone))
    make_signup(shift)
    page = as_org.get(f"/organize/shifts/{shift.id}/sign-in-sheet").get_data(as_text=True)
    assert 'class="print-button" data-print' in page and "js/organize.js" in page
    assert "<style" not in page and "style=" not in page and "onclick" not in page
    assert "<script>" not in page
    assert "table-layout" not in page  # the layout lives in the stylesheet
    with as_org.get("/static/css/sign-in-sheet.css") as response:
        css = response.get_data(as_text=True)
    assert "table-layout: fixed" in css and "size: A4" in css


def test_slot_dataclass_knows_overnight():
    assert Slot(time(22), time(2)).overnight and not Slot(time(7), time(8)).overnight


def test_home_statements_do_not_grow_with_the_day_or_the_queue(
    db, as_org, org, count_queries, make_activity, make_shift, make_signup
):
    from portal.timeutil import local_today

    activity = make_activity(unit=org.unit, zone=org.zone)
    counts = []
    for n in (1, 6):
        for i in range(n):
            today = make_shift(
                activity,
                starts_at=local(local_today(), 23, 50),
                ends_at=local(local_today() + timedelta(days=1), 1),
            )
            make_signup(today, attendance=Attendance.ATTENDED)
            later = make_shift(activity, starts_in=timedelta(days=3 + i), requires_approval=True)
            make_signup(later, status=SignupStatus.PENDING)
        db.session.expire_all()
        with count_queries() as counter:
            page = as_org.get("/organize/").get_data(as_text=True)
        counts.append(len(counter))
    assert counts[0] == counts[1], counts
    assert ">7<" in page.split("org-day", 1)[1][:1500]  # the pending queue figure

"""Volunteer hours: the default rule as a table, confirming, adjusting, overdue, stars, my hours."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from portal.attendance import hours, records, services
from portal.attendance.services import AttendanceError
from portal.models import (
    ActivityKind,
    Attendance,
    HoursAdjustment,
    ShiftStatus,
    Signup,
    SignupStatus,
)

T0 = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)  # Tuesday 09:00 in Shanghai
H = timedelta(hours=1)
M = timedelta(minutes=1)


@pytest.fixture
def organizer(make_user):
    return make_user("陈志强", is_admin=True)


# --- the default, as a table --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("length", "checked_in", "checked_out", "want"),
    [
        (3 * H, None, None, "3.0"),  # scheduled length
        (2 * H + 20 * M, None, None, "2.0"),  # floored to 0.5
        (2 * H + 30 * M, None, None, "2.5"),
        (2 * H + 59 * M, None, None, "2.5"),
        (3 * H, T0 - 30 * M, T0 + 3 * H + 40 * M, "3.0"),  # early and late: clipped
        (3 * H, T0 + 40 * M, None, "3.0"),  # only a check-in: scheduled length
        (3 * H, T0 + 40 * M, T0 + 2 * H, "1.0"),  # 1h20 → 1.0
        (3 * H, T0 + 10 * M, T0 + 2 * H + 45 * M, "2.5"),
        (3 * H, T0 + 3 * H + 5 * M, T0 + 4 * H, "0.0"),  # all outside the shift
        (30 * H, None, None, "24.0"),  # never above 24
    ],
)
def test_default_hours(make_shift, length, checked_in, checked_out, want):
    shift = make_shift(starts_at=T0, length=length)
    assert str(services.default_hours(shift, checked_in, checked_out)) == want


def test_community_attendance_never_earns_hours(
    db, make_activity, make_shift, make_signup, organizer
):
    shift = make_shift(make_activity(kind=ActivityKind.COMMUNITY), starts_at=T0)
    signup = services.mark_attended(organizer, make_signup(shift), T0)
    assert signup.attendance == Attendance.ATTENDED and signup.hours is None
    with pytest.raises(AttendanceError, match="不计志愿服务时长"):
        hours.confirm_hours(organizer, signup, T0 + H)
    with pytest.raises(AttendanceError, match="不计志愿服务时长"):
        hours.adjust_hours(organizer, signup, "2", "补记", T0 + H)
    with pytest.raises(AttendanceError, match="不计志愿服务时长"):
        hours.confirm_all_hours(organizer, shift, T0 + H)


# --- confirming and adjusting --------------------------------------------------------------------


@pytest.mark.both_databases
def test_confirm_from_the_moment_attended_and_adjust_later(db, make_shift, make_signup, organizer):
    shift = make_shift(starts_at=T0, length=3 * H)
    signup = make_signup(shift)
    with pytest.raises(AttendanceError, match="先记为到场"):
        hours.confirm_hours(organizer, signup, T0)
    db.session.rollback()
    services.mark_attended(organizer, signup, T0)
    signup = hours.confirm_hours(organizer, signup, T0 + 2 * H)  # before the scheduled end
    db.session.commit()
    assert (signup.hours, signup.hours_confirmed_by_id) == (3, organizer.id)
    assert records.confirmed_hours(signup.user_id) == 3
    signup = hours.adjust_hours(organizer, signup, "2.5", "提前半小时离开", T0 + 4 * H)
    signup = hours.adjust_hours(organizer, signup, "2", "核对签到表", T0 + 5 * H)
    db.session.commit()
    rows = db.session.scalars(select(HoursAdjustment).order_by(HoursAdjustment.id)).all()
    assert [(r.old_hours, r.new_hours, r.reason, r.actor_id) for r in rows] == [
        (Decimal("3.0"), Decimal("2.5"), "提前半小时离开", organizer.id),
        (Decimal("2.5"), Decimal("2.0"), "核对签到表", organizer.id),
    ]
    assert rows[0].created_at == T0 + 4 * H
    assert records.confirmed_hours(signup.user_id) == 2  # counted once, the latest value


def test_a_hand_set_value_survives_a_later_check_out(db, make_shift, make_signup, organizer):
    from portal.models import CheckinMethod
    from portal.signups import places

    shift = make_shift(starts_at=T0, length=3 * H)
    signup = make_signup(shift)
    places.lock([shift.id], [signup.user_id])
    services.check_in(signup, CheckinMethod.QR, T0)
    # adjusted before confirming is a confirmation too
    hours.adjust_hours(organizer, signup, "1.5", "只在岗一个半小时", T0 + H)
    services.check_out(signup, T0 + 3 * H)
    assert signup.hours == Decimal("1.5") and signup.hours_confirmed_at is not None


def test_confirm_all_confirms_each_attended_once(db, make_shift, make_signup, organizer):
    shift = make_shift(starts_at=T0, capacity=5)
    a, b, c = make_signup(shift), make_signup(shift), make_signup(shift)
    services.mark_attended(organizer, a, T0)
    services.mark_attended(organizer, b, T0)
    services.mark_no_show(organizer, c, T0 + M)
    assert hours.confirm_all_hours(organizer, shift, T0 + H) == 2
    assert hours.confirm_all_hours(organizer, shift, T0 + H) == 0
    assert c.hours is None and c.hours_confirmed_at is None


@pytest.mark.parametrize(
    ("typed", "reason", "error"),
    [
        ("-1", "x", "0 到 24"),
        ("24.5", "x", "0 到 24"),
        ("2.3", "x", "0.5"),
        ("abc", "x", "0 到 24"),
        ("NaN", "x", "0 到 24"),
        ("1e400", "x", "0 到 24"),
        ("3", "x", "相同"),
        ("2", "   ", "原因"),
    ],
)
def test_adjust_refuses_bad_input(db, make_shift, make_signup, organizer, typed, reason, error):
    shift = make_shift(starts_at=T0, length=3 * H)
    signup = services.mark_attended(organizer, make_signup(shift), T0)
    db.session.commit()
    with pytest.raises(AttendanceError, match=error):
        hours.adjust_hours(organizer, signup, typed, reason, T0 + H)
    db.session.rollback()
    assert db.session.scalar(select(func.count(HoursAdjustment.id))) == 0


@pytest.mark.parametrize("typed", ["0", "0.5", "24", " 2.5 ", "7.0"])
def test_parse_hours_accepts_half_steps(typed):
    assert hours.parse_hours(typed) == Decimal(typed.strip())


# --- the adjust page ---------------------------------------------------------------------------


@pytest.fixture
def attended(db, make_user, make_unit, make_activity, make_shift, make_signup):
    unit = make_unit()
    organizer = make_user("陈志强", units=[unit])
    shift = make_shift(make_activity(unit=unit), starts_in=-3 * H, length=2 * H)
    signup = services.mark_attended(
        organizer, make_signup(shift, make_user("王秀英")), datetime.now(UTC)
    )
    db.session.commit()
    return organizer, shift, signup


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"hours": "", "reason": "x"}, "请填写时长"),
        ({"hours": "2.2", "reason": "x"}, "0.5 小时为单位"),
        ({"hours": "99999999999999999999", "reason": "x"}, "0 到 24"),
        ({"hours": "1", "reason": ""}, "请写明调整原因"),
        ({"hours": "1", "reason": "长" * 301}, "最多300个字"),
        ({"hours": "2", "reason": "x"}, "相同"),
    ],
)
def test_adjust_form_bad_input_says_why_and_saves_nothing(
    client, db, login, attended, data, message
):
    organizer, shift, signup = attended
    login(organizer)
    r = client.post(f"/organize/signups/{signup.id}/hours", data=data)
    assert r.status_code == 200
    page = r.get_data(as_text=True)
    assert message in page and 'class="error"' in page  # next to the field
    assert db.session.scalar(select(func.count(HoursAdjustment.id))) == 0


def test_adjust_form_saves_and_shows_history(client, db, login, attended):
    organizer, shift, signup = attended
    login(organizer)
    assert 'value="2.0"' in client.get(f"/organize/signups/{signup.id}/hours").get_data(
        as_text=True
    )
    r = client.post(
        f"/organize/signups/{signup.id}/hours", data={"hours": "1.5", "reason": "提前离开"}
    )
    assert r.status_code == 302
    page = client.get(f"/organize/signups/{signup.id}/hours").get_data(as_text=True)
    assert "提前离开" in page and "1.5" in page
    roster = client.get(f"/organize/shifts/{shift.id}/roster").get_data(as_text=True)
    assert "1.5 小时" in roster and "已确认" in roster


# --- overdue ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("end_day", "deadline"),
    [
        (date(2026, 12, 1), date(2026, 12, 15)),  # Tuesday → Tuesday two weeks on
        (date(2026, 12, 4), date(2026, 12, 18)),  # Friday → Friday
        (date(2026, 12, 5), date(2026, 12, 18)),  # Saturday → the Friday after next
        (date(2026, 12, 6), date(2026, 12, 18)),  # Sunday too
    ],
)
def test_ten_working_days(end_day, deadline):
    assert hours.add_working_days(end_day, 10) == deadline


@pytest.mark.both_databases
def test_overdue_records_by_working_days(
    db, make_unit, make_user, make_activity, make_shift, make_signup
):
    unit, other = make_unit(), make_unit()
    organizer = make_user("陈志强", units=[unit])
    admin = make_user("管理员", is_admin=True)
    shift = make_shift(make_activity(unit=unit), starts_at=T0)  # ends Tue 1 Dec 11:00
    unmarked = make_signup(shift)
    attended = make_signup(shift, attendance=Attendance.ATTENDED, hours=Decimal(2))
    make_signup(shift, attendance=Attendance.ATTENDED, hours=Decimal(2), hours_confirmed_at=T0)
    make_signup(shift, attendance=Attendance.NO_SHOW)
    make_signup(shift, status=SignupStatus.CANCELLED)
    foreign = make_shift(make_activity(unit=other), starts_at=T0)
    make_signup(foreign)
    community = make_shift(make_activity(unit=unit, kind=ActivityKind.COMMUNITY), starts_at=T0)
    make_signup(community)
    cancelled = make_shift(make_activity(unit=unit), starts_at=T0, status=ShiftStatus.CANCELLED)
    make_signup(cancelled)

    last_day = datetime(2026, 12, 15, 15, 59, tzinfo=UTC)  # Tue 15 Dec 23:59 local
    assert hours.overdue_records(organizer, last_day) == []
    assert hours.overdue_count(organizer, last_day) == 0
    next_day = last_day + 2 * M
    rows = hours.overdue_records(organizer, next_day)
    assert [(r.signup.id, r.unmarked) for r in rows] == [(unmarked.id, True), (attended.id, False)]
    assert hours.overdue_count(organizer, next_day) == 2
    assert hours.overdue_count(admin, next_day) == 3


def test_overdue_page_and_home_count(
    client, db, login, make_unit, make_user, make_activity, make_shift, make_signup
):
    unit = make_unit()
    organizer = make_user("陈志强", units=[unit])
    shift = make_shift(make_activity(unit=unit), starts_in=timedelta(days=-30))
    make_signup(shift, make_user("王秀英"), attendance=Attendance.ATTENDED, hours=Decimal(2))
    login(organizer)
    home = client.get("/organize/").get_data(as_text=True)
    assert "有 1 条服务记录超过 10 个工作日仍未确认时长" in home
    page = client.get("/organize/hours/overdue").get_data(as_text=True)
    assert "王*" in page and "王**" not in page and "时长待确认" in page


# --- no-shows ---------------------------------------------------------------------------------


def test_no_shows_counted_per_person(db, make_shift, make_signup, make_user):
    a, b = make_user(), make_user()
    s1, s2, s3 = (make_shift(starts_at=T0 + timedelta(days=i)) for i in range(3))
    make_signup(s1, a, attendance=Attendance.NO_SHOW)
    make_signup(s2, a, attendance=Attendance.NO_SHOW)
    make_signup(s3, b, attendance=Attendance.ATTENDED)
    assert hours.no_show_counts([a.id, b.id]) == {a.id: 2}
    assert hours.no_show_counts([a.id], exclude_shift_id=s1.id) == {a.id: 1}


# --- stars and my hours -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("total", "stars", "following"),
    [
        ("0", 0, 100),
        ("99.5", 0, 100),
        ("100", 1, 300),
        ("299.5", 1, 300),
        ("300", 2, 600),
        ("600", 3, 1000),
        ("1000", 4, 1500),
        ("1499.5", 4, 1500),
        ("1500", 5, None),
        ("4000", 5, None),
    ],
)
def test_star_levels_at_thresholds(app, total, stars, following):
    with app.app_context():
        assert records.star_level(Decimal(total)) == (stars, following)
        progress = records.star_progress(Decimal(total))
        assert progress["stars"] == stars and progress["next"] == following


def test_star_thresholds_come_from_config(app):
    app.config["STAR_THRESHOLDS"] = (10, 20)
    with app.app_context():
        assert records.star_level(Decimal(15)) == (1, 20)
        assert records.star_progress(Decimal(15))["percent"] == 50


def test_my_hours_page(client, db, login, make_user, make_activity, make_shift, make_signup):
    me = make_user("王秀英")
    volunteer = make_activity(title="福洋溪清理", contact_name="林组长")
    done = datetime(2025, 6, 1, 1, tzinfo=UTC)
    for days in (0, 10, 20, 400, 410):  # three records in 2025, two in 2026, 20 h each
        shift = make_shift(volunteer, starts_at=done + timedelta(days=days))
        make_signup(
            shift,
            me,
            attendance=Attendance.ATTENDED,
            hours=Decimal(20),
            hours_confirmed_at=shift.ends_at,
        )
    pending = make_shift(volunteer, starts_at=done + timedelta(days=300), length=3 * H)
    make_signup(pending, me, attendance=Attendance.ATTENDED, hours=Decimal("2.5"))
    community = make_shift(make_activity(kind=ActivityKind.COMMUNITY), starts_at=done)
    make_signup(
        community, me, attendance=Attendance.ATTENDED, hours=Decimal(9), hours_confirmed_at=done
    )
    missed = make_shift(volunteer, starts_at=done + timedelta(days=420))
    make_signup(missed, me, attendance=Attendance.NO_SHOW)
    login(me)
    page = client.get("/me/hours").get_data(as_text=True)
    assert "100.0 小时" in page or "100 小时" in page
    assert "1 星级志愿者" in page
    assert "再服务 200" in page and "2 星" in page
    assert "另有 2.5 小时待组织方确认" in page
    assert "未到场 1 次" in page
    assert "2025 年：60" in page and "2026 年：40" in page
    assert "林组长" in page and "福洋溪清理" in page
    schedule = client.get("/me").get_data(as_text=True)
    assert "已确认志愿服务时长 100" in schedule and "/me/hours" in schedule


def test_my_hours_empty(client, login, make_user):
    login(make_user())
    page = client.get("/me/hours").get_data(as_text=True)
    assert "还没有已确认的服务记录" in page and "尚未达到星级" in page


def test_my_hours_needs_login(client):
    r = client.get("/me/hours")
    assert r.status_code == 302 and "/account/login" in r.headers["Location"]


def test_undone_hours_leave_the_total(db, make_shift, make_signup, organizer):
    shift = make_shift(starts_at=T0)
    signup = services.mark_attended(organizer, make_signup(shift), T0)
    hours.confirm_hours(organizer, signup, T0 + H)
    assert records.confirmed_hours(signup.user_id) == 2
    services.undo_attendance(organizer, signup, "不是本人", T0 + 2 * H)
    assert records.confirmed_hours(signup.user_id) == 0
    assert db.session.get(Signup, signup.id).hours_confirmed_at is None

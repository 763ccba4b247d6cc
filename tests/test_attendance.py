"""Attendance: check-in and check-out, the organizer's marks, undo, bulk; windows by clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from portal.attendance import services
from portal.attendance.services import AttendanceError
from portal.models import (
    ActivityStatus,
    Attendance,
    AuditEntry,
    CheckinMethod,
    HoursAdjustment,
    ShiftStatus,
    Signup,
    SignupStatus,
)
from portal.signups import places

T0 = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)  # Tuesday 09:00 in Shanghai
MIN = timedelta(minutes=1)


def _audit(db, action):
    return list(db.session.scalars(select(AuditEntry).where(AuditEntry.action == action)))


@pytest.fixture
def organizer(make_user):
    return make_user("陈志强", is_admin=True)


# --- check_in / check_out (the QR path; the caller holds the lock) ------------------------------


@pytest.mark.both_databases
def test_check_in_then_out_sets_clipped_default_hours(db, make_shift, make_signup):
    shift = make_shift(starts_at=T0, length=timedelta(hours=3))
    signup = make_signup(shift)
    places.lock([shift.id], [signup.user_id])
    services.check_in(signup, CheckinMethod.QR, T0 - 20 * MIN)
    assert signup.attendance == Attendance.ATTENDED
    assert signup.hours == 3
    services.check_out(signup, T0 + timedelta(hours=2, minutes=50))
    db.session.commit()
    assert signup.checkin_method == CheckinMethod.QR
    assert signup.hours == Decimal("2.5")
    assert [e.after["hours"] for e in _audit(db, "attendance.check_out")] == ["2.5"]


@pytest.mark.both_databases
@pytest.mark.parametrize(
    ("at", "method", "error"),
    [
        (T0 - 31 * MIN, CheckinMethod.QR, "30分钟"),
        (T0 - 31 * MIN, CheckinMethod.ROSTER, "30分钟"),
        (T0 + timedelta(hours=2) + MIN, CheckinMethod.QR, "已经结束"),
    ],
)
def test_check_in_outside_the_window_changes_nothing(
    db, make_shift, make_signup, at, method, error
):
    shift = make_shift(starts_at=T0)
    signup = make_signup(shift)
    places.lock([shift.id], [signup.user_id])
    with pytest.raises(AttendanceError, match=error):
        services.check_in(signup, method, at)
    db.session.rollback()
    assert db.session.get(Signup, signup.id).attendance is None


@pytest.mark.both_databases
@pytest.mark.parametrize("at", [T0 - 30 * MIN, T0, T0 + timedelta(hours=2)])
def test_check_in_inside_the_window(db, make_shift, make_signup, at):
    shift = make_shift(starts_at=T0)
    signup = make_signup(shift)
    places.lock([shift.id], [signup.user_id])
    services.check_in(signup, CheckinMethod.QR, at)
    db.session.commit()
    assert signup.checked_in_at == at


@pytest.mark.both_databases
def test_check_in_twice_keeps_the_first_time(db, make_shift, make_signup):
    shift = make_shift(starts_at=T0)
    signup = make_signup(shift)
    places.lock([shift.id], [signup.user_id])
    services.check_in(signup, CheckinMethod.QR, T0)
    services.check_in(signup, CheckinMethod.QR, T0 + 10 * MIN)
    assert signup.checked_in_at == T0


@pytest.mark.both_databases
@pytest.mark.parametrize(
    ("status", "off"),
    [
        (SignupStatus.PENDING, None),
        (SignupStatus.WAITLISTED, None),
        (SignupStatus.CONFIRMED, "shift"),
        (SignupStatus.CONFIRMED, "activity"),
    ],
)
def test_only_confirmed_sign_ups_on_live_shifts(db, make_shift, make_signup, status, off):
    shift = make_shift(starts_at=T0)
    signup = make_signup(shift, status=status)
    if off == "shift":
        shift.status = ShiftStatus.CANCELLED
    elif off == "activity":
        shift.activity.status = ActivityStatus.CANCELLED
    db.session.commit()
    places.lock([shift.id], [signup.user_id])
    with pytest.raises(AttendanceError):
        services.check_in(signup, CheckinMethod.QR, T0)


def test_check_out_needs_a_check_in(db, make_shift, make_signup):
    shift = make_shift(starts_at=T0)
    signup = make_signup(shift)
    with pytest.raises(AttendanceError, match="还没有签到"):
        services.check_out(signup, T0)


def test_qr_check_in_replaces_a_no_show(db, make_shift, make_signup, organizer):
    shift = make_shift(starts_at=T0)
    signup = make_signup(shift)
    services.mark_no_show(organizer, signup, T0 + 5 * MIN)
    services.check_in(signup, CheckinMethod.QR, T0 + 20 * MIN)
    assert signup.attendance == Attendance.ATTENDED and signup.hours == 2


# --- the organizer's marks ----------------------------------------------------------------------


@pytest.mark.both_databases
def test_mark_attended_during_the_shift_records_the_time(db, make_shift, make_signup, organizer):
    shift = make_shift(starts_at=T0)
    signup = make_signup(shift)
    signup = services.mark_attended(organizer, signup, T0 + 5 * MIN)
    db.session.commit()
    assert (signup.attendance, signup.checkin_method, signup.checked_in_at) == (
        Attendance.ATTENDED,
        CheckinMethod.ROSTER,
        T0 + 5 * MIN,
    )
    assert signup.hours == 2
    [entry] = _audit(db, "attendance.attended")
    assert entry.before["attendance"] is None and entry.after["attendance"] == "attended"
    assert entry.actor_id == organizer.id


def test_mark_attended_after_the_end_invents_no_time(db, make_shift, make_signup, organizer):
    shift = make_shift(starts_at=T0)
    signup = services.mark_attended(organizer, make_signup(shift), T0 + timedelta(days=2))
    assert signup.checked_in_at is None and signup.hours == 2


@pytest.mark.parametrize(
    ("act", "at", "error"),
    [
        ("attended", T0 - 31 * MIN, "30分钟"),
        ("no_show", T0 - MIN, "开始后"),
    ],
)
def test_mark_windows(db, make_shift, make_signup, organizer, act, at, error):
    shift = make_shift(starts_at=T0)
    signup = make_signup(shift)
    fn = services.mark_attended if act == "attended" else services.mark_no_show
    with pytest.raises(AttendanceError, match=error):
        fn(organizer, signup, at)


def test_a_mark_is_changed_only_by_undo(db, make_shift, make_signup, organizer):
    shift = make_shift(starts_at=T0)
    signup = make_signup(shift)
    services.mark_attended(organizer, signup, T0)
    with pytest.raises(AttendanceError, match="先撤销"):
        services.mark_no_show(organizer, signup, T0 + MIN)


@pytest.mark.both_databases
def test_undo_needs_a_reason_and_keeps_before_and_after(db, make_shift, make_signup, organizer):
    shift = make_shift(starts_at=T0)
    signup = make_signup(shift)
    services.mark_attended(organizer, signup, T0)
    db.session.commit()
    with pytest.raises(AttendanceError, match="原因"):
        services.undo_attendance(organizer, signup, "  ", T0 + MIN)
    db.session.rollback()
    signup = services.undo_attendance(organizer, signup, "点错了人", T0 + MIN)
    db.session.commit()
    assert signup.attendance is None and signup.hours is None and signup.checked_in_at is None
    [entry] = _audit(db, "attendance.undo")
    assert entry.before["attendance"] == "attended" and entry.after["attendance"] is None
    assert entry.after["reason"] == "点错了人"
    [adj] = db.session.scalars(select(HoursAdjustment)).all()
    assert (adj.old_hours, adj.new_hours, adj.reason) == (2, None, "点错了人")
    # marked again: the default applies again
    signup = services.mark_attended(organizer, signup, T0 + 2 * MIN)
    assert signup.hours == 2


def test_undo_without_a_mark_is_refused(db, make_shift, make_signup, organizer):
    signup = make_signup(make_shift(starts_at=T0))
    with pytest.raises(AttendanceError, match="无需撤销"):
        services.undo_attendance(organizer, signup, "原因", T0)


@pytest.mark.both_databases
def test_all_confirmed_attended(db, make_shift, make_signup, organizer):
    shift = make_shift(starts_at=T0, capacity=5)
    a, b, c = make_signup(shift), make_signup(shift), make_signup(shift)
    pending = make_signup(shift, status=SignupStatus.PENDING)
    services.mark_no_show(organizer, c, T0 + MIN)
    assert services.mark_all_attended(organizer, shift, T0 + 2 * MIN) == 2
    db.session.commit()
    for s, want in (
        (a, Attendance.ATTENDED),
        (b, Attendance.ATTENDED),
        (c, Attendance.NO_SHOW),
        (pending, None),
    ):
        assert db.session.get(Signup, s.id).attendance == want
    assert services.mark_all_attended(organizer, shift, T0 + 3 * MIN) == 0


def test_all_attended_refused_before_check_in_opens(db, make_shift, make_signup, organizer):
    shift = make_shift(starts_at=T0)
    make_signup(shift)
    with pytest.raises(AttendanceError, match="30分钟"):
        services.mark_all_attended(organizer, shift, T0 - timedelta(hours=1))


# --- the pages -------------------------------------------------------------------------------


@pytest.fixture
def live(make_shift, make_signup, make_user, make_unit, make_activity):
    """A shift that started 10 minutes ago, run by an organizer, with one confirmed person."""
    unit = make_unit()
    organizer = make_user("陈志强", units=[unit])
    shift = make_shift(make_activity(unit=unit), starts_in=timedelta(minutes=-10))
    signup = make_signup(shift, make_user("王秀英"))
    return organizer, shift, signup


def test_roster_buttons_mark_and_undo(client, db, login, live):
    organizer, shift, signup = live
    login(organizer)
    page = client.get(f"/organize/shifts/{shift.id}/roster").get_data(as_text=True)
    assert "全部已确认的人到场" in page and "确认全部时长" in page and "缺席" in page
    r = client.post(f"/organize/signups/{signup.id}/attended", follow_redirects=True)
    assert "已记 王* 到场" in r.get_data(as_text=True)
    page = client.get(f"/organize/shifts/{shift.id}/roster").get_data(as_text=True)
    assert "已出勤" in page and "待确认" in page and "撤销出勤记录" in page
    r = client.post(
        f"/organize/signups/{signup.id}/attendance/undo", data={"reason": ""}, follow_redirects=True
    )
    assert r.status_code == 200 and "请写明撤销原因" in r.get_data(as_text=True)
    assert db.session.get(Signup, signup.id).attendance == Attendance.ATTENDED
    client.post(f"/organize/signups/{signup.id}/attendance/undo", data={"reason": "记错"})
    db.session.expire_all()
    assert db.session.get(Signup, signup.id).attendance is None


def test_roster_refusal_is_a_message(client, db, login, make_signup, live):
    organizer, shift, _ = live
    pending = make_signup(shift, status=SignupStatus.PENDING)
    login(organizer)
    r = client.post(f"/organize/signups/{pending.id}/attended", follow_redirects=True)
    assert r.status_code == 200 and "只有已确认的报名" in r.get_data(as_text=True)


def test_bulk_buttons(client, db, login, make_signup, live):
    organizer, shift, signup = live
    make_signup(shift)
    login(organizer)
    r = client.post(f"/organize/shifts/{shift.id}/attended-all", follow_redirects=True)
    assert "已把 2 位已确认的人记为到场" in r.get_data(as_text=True)
    r = client.post(f"/organize/shifts/{shift.id}/hours/confirm-all", follow_redirects=True)
    assert "已确认 2 人的时长" in r.get_data(as_text=True)


def test_walk_in_added_and_marked_in_one_step(client, db, login, live):
    organizer, shift, _ = live
    login(organizer)
    r = client.post(
        f"/organize/shifts/{shift.id}/walk-in-attended",
        data={"phone": "13800138000", "name": "林小红"},
        follow_redirects=True,
    )
    assert "加入名单并记为到场" in r.get_data(as_text=True)
    signup = db.session.scalar(select(Signup).where(Signup.source == "walk_in"))
    assert signup.attendance == Attendance.ATTENDED and signup.hours == 2


def test_walk_in_before_check_in_opens_is_only_added(
    client, db, login, make_user, make_unit, make_activity, make_shift
):
    unit = make_unit()
    organizer = make_user("陈志强", units=[unit])
    shift = make_shift(make_activity(unit=unit), starts_in=timedelta(hours=3))
    login(organizer)
    r = client.post(
        f"/organize/shifts/{shift.id}/walk-in-attended",
        data={"phone": "13800138000", "name": "林小红"},
        follow_redirects=True,
    )
    assert "签到从" in r.get_data(as_text=True)
    signup = db.session.scalar(select(Signup).where(Signup.source == "walk_in"))
    assert signup.status == SignupStatus.CONFIRMED and signup.attendance is None


def test_roster_shows_earlier_no_shows(client, db, login, make_shift, make_signup, live):
    organizer, shift, signup = live
    earlier = make_shift(shift.activity, starts_in=timedelta(days=-7))
    make_signup(earlier, signup.user, attendance=Attendance.NO_SHOW)
    login(organizer)
    page = client.get(f"/organize/shifts/{shift.id}/roster").get_data(as_text=True)
    assert "此前缺席 1 次" in page


def test_roster_export_fills_the_attendance_columns(client, db, login, live):
    organizer, shift, signup = live
    login(organizer)
    client.post(f"/organize/signups/{signup.id}/attended")
    body = client.get(f"/organize/shifts/{shift.id}/roster.csv").get_data().decode("utf-8-sig")
    header, row = body.splitlines()[:2]
    cells = dict(zip(header.split(","), row.split(","), strict=False))
    assert cells["出勤"] == "已出勤" and cells["时长（小时）"] == "2.0"
    assert cells["签到时间"]  # marked during the shift: that is the check-in time

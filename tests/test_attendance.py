"""Attendance: check-in and check-out, the organizer's marks, undo, bulk; windows by clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from portal.attendance import services
from portal.attendance.services import AttendanceError
from portal.models import Attendance, CheckinMethod
from portal.signups import places

T0 = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)  # 09:00 in Shanghai


@pytest.mark.both_databases
def test_check_in_then_out_sets_clipped_default_hours(db, make_shift, make_signup):
    shift = make_shift(starts_at=T0, length=timedelta(hours=3))
    signup = make_signup(shift)
    places.lock([shift.id], [signup.user_id])
    services.check_in(signup, CheckinMethod.QR, T0 - timedelta(minutes=20))
    assert signup.attendance == Attendance.ATTENDED
    assert signup.hours == 3
    services.check_out(signup, T0 + timedelta(hours=2, minutes=50))
    db.session.commit()
    assert signup.checkin_method == CheckinMethod.QR
    assert str(signup.hours) == "2.5"


@pytest.mark.both_databases
def test_check_in_too_early_changes_nothing(db, make_shift, make_signup):
    shift = make_shift(starts_at=T0)
    signup = make_signup(shift)
    places.lock([shift.id], [signup.user_id])
    with pytest.raises(AttendanceError, match="30分钟"):
        services.check_in(signup, CheckinMethod.QR, T0 - timedelta(minutes=31))
    db.session.rollback()
    assert signup.attendance is None

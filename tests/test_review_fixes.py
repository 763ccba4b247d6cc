"""Regression tests for the second review: locks, deleted people, the audit log."""

from __future__ import annotations

import pytest
from sqlalchemy import select, text, update

from portal.database import begin_write
from portal.models import AuditEntry, Notification, Signup, SignupStatus, User, Zone
from portal.signups import services as signups

pytestmark = pytest.mark.both_databases


def test_begin_write_after_a_bulk_update_is_refused(db, make_zone):
    make_zone("甲")
    session = db.session()
    session.execute(update(Zone).values(population=1))
    with pytest.raises(RuntimeError):
        begin_write(session)
    session.rollback()
    assert db.session.scalar(select(Zone.population)) != 1


def test_promotion_waits_for_a_busy_person_and_keeps_queue_order(
    backend, db, make_shift, make_user, make_signup
):
    """The first in line is promoted even while another request holds their row."""
    import threading

    shift = make_shift(capacity=1)
    holder = make_signup(shift)
    first = make_signup(shift, make_user("候补一"), status=SignupStatus.WAITLISTED)
    second = make_signup(shift, make_user("候补二"), status=SignupStatus.WAITLISTED)
    other = release = None
    if backend == "postgresql":
        # Another request is in the middle of something for the first person; it finishes
        # half a second later.
        other = db.engine.connect()
        other.begin()
        other.execute(text("SELECT id FROM users WHERE id = :id FOR UPDATE"), {"id": first.user_id})
        release = threading.Timer(0.5, other.rollback)
        release.start()
    try:
        signups.cancel_signup(holder.user, holder.id)
        db.session.commit()
    finally:
        if other is not None:
            release.join()
            other.close()
    db.session.expire_all()
    statuses = (db.session.get(Signup, first.id).status, db.session.get(Signup, second.id).status)
    assert statuses == (SignupStatus.CONFIRMED, SignupStatus.WAITLISTED)


def test_walk_in_audit_entry_holds_no_phone(
    db, client, login, make_user, make_activity, make_shift
):
    activity = make_activity()
    shift = make_shift(activity)
    login(make_user(units=[activity.unit]))
    client.post(
        f"/organize/shifts/{shift.id}/walk-in", data={"phone": "13566667777", "name": "现场甲"}
    )
    entries = db.session.scalars(select(AuditEntry)).all()
    assert any(e.action == "user.create_walk_in" for e in entries)
    for entry in entries:
        assert "13566667777" not in f"{entry.summary}{entry.before}{entry.after}"


def test_deleted_people_get_no_notices(app, db, make_activity, make_shift, make_user, make_signup):
    from portal.account.services import delete_account
    from portal.organize.services import recipients, send_notice

    activity = make_activity()
    shift = make_shift(activity)
    gone, stays = make_user("走了"), make_user("还在")
    make_signup(shift, gone)
    make_signup(shift, stays)
    # A deletion inside the cancellation deadline still removes the sign-up, but a
    # sign-up that stayed active (e.g. a shift in progress) must not reach the old account.
    delete_account(gone)
    db.session.execute(
        update(Signup).where(Signup.user_id == gone.id).values(status=SignupStatus.CONFIRMED)
    )
    db.session.commit()
    assert [u.id for u in recipients([shift])] == [stays.id]
    organizer = make_user(units=[activity.unit])
    db.session.execute(text("DELETE FROM notifications"))
    with app.test_request_context():
        assert send_notice(organizer, shift, "集合地点变更", "改到东门") == 1
        signups.notify_shift_changed(shift, lambda: "时间改为 9:00")
    db.session.commit()
    to = {n.user_id for n in db.session.scalars(select(Notification))}
    assert to == {stays.id}


@pytest.mark.parametrize("page", ["99999999999999999999999", "-5", "abc", "10001"])
def test_audit_log_odd_pages(client, login, make_user, page):
    login(make_user(is_admin=True))
    assert client.get(f"/admin/audit?page={page}").status_code == 200


def test_deleted_user_cannot_be_found_by_phone(db, make_user):
    from portal.account.services import delete_account
    from portal.auth.services import find_by_phone

    user = make_user(phone="13512340000")
    delete_account(user)
    db.session.commit()
    assert find_by_phone("13512340000") is None
    assert db.session.get(User, user.id).phone is None

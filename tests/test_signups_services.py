"""The sign-up rules at the service level, table-driven, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from portal.models import (
    ActivityStatus,
    AuditEntry,
    Notification,
    ShiftStatus,
    Signup,
    SignupStatus,
)
from portal.signups import places, services
from portal.signups.services import SignupError

pytestmark = pytest.mark.both_databases


NOW = datetime.now(UTC).replace(microsecond=0)


def _count(db, **where) -> int:
    q = select(func.count(Signup.id))
    for key, value in where.items():
        q = q.where(getattr(Signup, key) == value)
    return db.session.scalar(q)


def _notes(db, user, kind=None) -> list[Notification]:
    q = select(Notification).where(Notification.user_id == user.id)
    if kind:
        q = q.where(Notification.kind == kind)
    return list(db.session.scalars(q))


# --- the basic outcomes ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("shift_kw", "already", "outcome", "status", "message_part"),
    [
        ({}, 0, "confirmed", SignupStatus.CONFIRMED, "你已报名"),
        ({}, 2, "confirmed", SignupStatus.CONFIRMED, "开始前2小时内不可取消"),
        ({"requires_approval": True}, 0, "pending", SignupStatus.PENDING, "等待组织方审核"),
        ({}, 3, "waitlisted", SignupStatus.WAITLISTED, "第 1 位"),
        ({"requires_approval": True}, 3, "waitlisted", SignupStatus.WAITLISTED, "候补"),
    ],
)
def test_sign_up_outcomes(
    db, make_shift, make_user, make_signup, shift_kw, already, outcome, status, message_part
):
    shift = make_shift(capacity=3, **shift_kw)
    for _ in range(already):
        make_signup(shift)
    user = make_user()
    result = services.sign_up(user, shift.id)
    db.session.commit()
    assert result.outcome == outcome
    assert result.signup.status == status
    assert message_part in result.message
    assert _count(db, user_id=user.id) == 1


def test_confirmed_message_names_the_time_and_deadline(db, make_shift, make_user, make_activity):
    activity = make_activity(cancellation_deadline_hours=24)
    start = datetime(2031, 12, 2, 23, 0, tzinfo=UTC)  # 12月3日 07:00 in Asia/Shanghai
    shift = make_shift(activity=activity, starts_at=start)
    result = services.sign_up(make_user(), shift.id)
    assert result.message == "你已报名 12月3日 07:00 的班次；开始前24小时内不可取消。"


def test_waitlist_positions_count_up_first_come(db, make_shift, make_user, make_signup):
    shift = make_shift(capacity=1)
    make_signup(shift)
    results = [services.sign_up(make_user(), shift.id) for _ in range(3)]
    db.session.commit()
    for n, result in enumerate(results, start=1):
        assert f"第 {n} 位" in result.message
    assert [services.waitlist_position(r.signup) for r in results] == [1, 2, 3]


# --- refusals -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("case", "message_part"),
    [
        ("draft", "还没有发布"),
        ("activity_cancelled", "活动已取消"),
        ("finished", "活动已结束"),
        ("shift_cancelled", "班次已取消"),
        ("started", "已经开始或结束"),
        ("past", "已经开始或结束"),
        ("window_not_open", "报名将于"),
        ("window_closed", "报名已截止"),
        ("full_no_waitlist", "已满，且不设候补"),
        ("missing", "没有找到这个班次"),
    ],
)
def test_sign_up_refusals(
    db, make_activity, make_shift, make_user, make_signup, case, message_part
):
    activity_status = {
        "draft": ActivityStatus.DRAFT,
        "activity_cancelled": ActivityStatus.CANCELLED,
        "finished": ActivityStatus.FINISHED,
    }.get(case, ActivityStatus.PUBLISHED)
    activity = make_activity(status=activity_status)
    kw: dict = {}
    if case == "shift_cancelled":
        kw["status"] = ShiftStatus.CANCELLED
    if case == "started":
        kw["starts_in"] = timedelta(minutes=-10)
    if case == "past":
        kw["starts_in"] = timedelta(days=-3)
    if case == "window_not_open":
        kw["signup_opens_at"] = NOW + timedelta(days=1)
    if case == "window_closed":
        kw["signup_closes_at"] = NOW - timedelta(hours=1)
    if case == "full_no_waitlist":
        kw.update(capacity=1, waitlist_enabled=False)
    shift = make_shift(activity=activity, **kw)
    if case == "full_no_waitlist":
        make_signup(shift)
    user = make_user()
    shift_id = 999_999 if case == "missing" else shift.id
    with pytest.raises(SignupError) as exc:
        services.sign_up(user, shift_id)
    db.session.rollback()
    assert message_part in str(exc.value)
    assert _count(db, user_id=user.id) == 0


@pytest.mark.parametrize(
    ("other_offset", "other_length", "other_status", "clash"),
    [
        (timedelta(0), timedelta(hours=2), SignupStatus.CONFIRMED, True),
        (timedelta(hours=1), timedelta(hours=2), SignupStatus.PENDING, True),
        (timedelta(hours=-1), timedelta(hours=1, minutes=1), SignupStatus.CONFIRMED, True),
        (timedelta(hours=2), timedelta(hours=2), SignupStatus.CONFIRMED, False),  # back to back
        (timedelta(hours=-2), timedelta(hours=2), SignupStatus.CONFIRMED, False),
        (timedelta(0), timedelta(hours=2), SignupStatus.WAITLISTED, False),
        (timedelta(0), timedelta(hours=2), SignupStatus.CANCELLED, False),
        (timedelta(0), timedelta(hours=2), SignupStatus.REJECTED, False),
    ],
)
def test_overlap_refusal_names_the_other_shift(
    db,
    make_activity,
    make_shift,
    make_user,
    make_signup,
    other_offset,
    other_length,
    other_status,
    clash,
):
    start = NOW + timedelta(days=3)
    other_activity = make_activity(title="福洋溪河道清理")
    other = make_shift(activity=other_activity, starts_at=start + other_offset, length=other_length)
    user = make_user()
    make_signup(other, user=user, status=other_status)
    shift = make_shift(starts_at=start, length=timedelta(hours=2))
    if clash:
        with pytest.raises(SignupError) as exc:
            services.sign_up(user, shift.id)
        assert "福洋溪河道清理" in str(exc.value)
        assert "时间冲突" in str(exc.value)
    else:
        assert services.sign_up(user, shift.id).outcome == "confirmed"


def test_overlap_with_cancelled_shift_does_not_count(db, make_shift, make_user, make_signup):
    start = NOW + timedelta(days=3)
    other = make_shift(starts_at=start, status=ShiftStatus.CANCELLED)
    user = make_user()
    make_signup(other, user=user)
    shift = make_shift(starts_at=start)
    assert services.sign_up(user, shift.id).outcome == "confirmed"


# --- repeating and re-signing ---------------------------------------------------------------


@pytest.mark.parametrize("shift_kw", [{}, {"requires_approval": True}, {"capacity": 1}])
def test_repeat_is_unchanged_and_adds_no_row(db, make_shift, make_user, make_signup, shift_kw):
    shift = make_shift(**shift_kw)
    if shift_kw.get("capacity") == 1:
        make_signup(shift)
    user = make_user()
    first = services.sign_up(user, shift.id)
    db.session.commit()
    second = services.sign_up(user, shift.id)
    db.session.commit()
    assert second.outcome == "unchanged"
    assert second.signup.id == first.signup.id
    assert _count(db, user_id=user.id, shift_id=shift.id) == 1


def test_unique_index_backs_up_the_rule(db, make_shift, make_user):
    shift = make_shift()
    user = make_user()
    db.session.add(Signup(shift_id=shift.id, user_id=user.id, status=SignupStatus.CONFIRMED))
    db.session.commit()
    assert not places._insert(
        Signup(shift_id=shift.id, user_id=user.id, status=SignupStatus.WAITLISTED)
    )
    db.session.commit()
    assert _count(db, user_id=user.id) == 1


def test_sign_up_again_after_cancelling(db, make_shift, make_user):
    shift = make_shift()
    user = make_user()
    first = services.sign_up(user, shift.id)
    db.session.commit()
    services.cancel_signup(user, first.signup.id)
    db.session.commit()
    again = services.sign_up(user, shift.id)
    db.session.commit()
    assert again.outcome == "confirmed"
    assert again.signup.id != first.signup.id
    assert _count(db, user_id=user.id, status=SignupStatus.CANCELLED) == 1
    assert _count(db, user_id=user.id, status=SignupStatus.CONFIRMED) == 1


# --- cancelling -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("deadline_hours", "starts_in", "status", "allowed"),
    [
        (2, timedelta(hours=3), SignupStatus.CONFIRMED, True),
        (2, timedelta(hours=1, minutes=59), SignupStatus.CONFIRMED, False),
        (2, timedelta(hours=1), SignupStatus.PENDING, False),
        (0, timedelta(minutes=5), SignupStatus.CONFIRMED, True),
        (24, timedelta(hours=23), SignupStatus.CONFIRMED, False),
        (24, timedelta(hours=25), SignupStatus.PENDING, True),
        (2, timedelta(hours=1), SignupStatus.WAITLISTED, True),  # leaving the queue harms no one
        (2, timedelta(minutes=-5), SignupStatus.WAITLISTED, False),
    ],
)
def test_cancel_deadline(
    db,
    make_activity,
    make_shift,
    make_user,
    make_signup,
    deadline_hours,
    starts_in,
    status,
    allowed,
):
    activity = make_activity(cancellation_deadline_hours=deadline_hours)
    shift = make_shift(activity=activity, starts_in=starts_in)
    user = make_user()
    signup = make_signup(shift, user=user, status=status, queued_at=NOW)
    if allowed:
        services.cancel_signup(user, signup.id)
        db.session.commit()
        assert db.session.get(Signup, signup.id).status == SignupStatus.CANCELLED
    else:
        with pytest.raises(SignupError):
            services.cancel_signup(user, signup.id)
        db.session.rollback()
        assert db.session.get(Signup, signup.id).status == status


def test_cannot_cancel_someone_elses(db, make_shift, make_user, make_signup):
    signup = make_signup(make_shift())
    with pytest.raises(SignupError, match="没有找到"):
        services.cancel_signup(make_user(), signup.id)
    db.session.rollback()
    assert db.session.get(Signup, signup.id).status == SignupStatus.CONFIRMED


def test_cancel_twice_is_harmless(db, make_shift, make_user, make_signup):
    user = make_user()
    signup = make_signup(make_shift(), user=user)
    services.cancel_signup(user, signup.id)
    db.session.commit()
    assert services.cancel_signup(user, signup.id).status == SignupStatus.CANCELLED


def test_cancel_frees_place_for_first_on_waitlist(db, make_shift, make_user, make_signup):
    shift = make_shift(capacity=1)
    holder = make_user()
    first_signup = services.sign_up(holder, shift.id).signup
    db.session.commit()
    waiting = [make_user(name=f"候补{i}") for i in range(3)]
    for w in waiting:
        services.sign_up(w, shift.id)
        db.session.commit()
    services.cancel_signup(holder, first_signup.id)
    db.session.commit()
    statuses = [
        db.session.scalar(select(Signup.status).where(Signup.user_id == w.id)) for w in waiting
    ]
    assert statuses == [SignupStatus.CONFIRMED, SignupStatus.WAITLISTED, SignupStatus.WAITLISTED]
    notes = _notes(db, waiting[0], "waitlist_promoted")
    assert len(notes) == 1 and "候补成功" in notes[0].title
    assert not _notes(db, waiting[1])


def test_promotion_into_approval_shift_becomes_pending(db, make_shift, make_user, make_signup):
    shift = make_shift(capacity=1, requires_approval=True)
    holder = make_user()
    s = make_signup(shift, user=holder, status=SignupStatus.PENDING)
    w = make_user()
    make_signup(shift, user=w, status=SignupStatus.WAITLISTED, queued_at=NOW)
    services.cancel_signup(holder, s.id)
    db.session.commit()
    assert db.session.scalar(select(Signup.status).where(Signup.user_id == w.id)) == "pending"


def test_fill_skips_people_with_a_clash(db, make_shift, make_user, make_signup):
    start = NOW + timedelta(days=2)
    shift = make_shift(capacity=1, starts_at=start)
    busy, free = make_user(), make_user()
    make_signup(shift, user=busy, status=SignupStatus.WAITLISTED, queued_at=NOW)
    make_signup(
        shift, user=free, status=SignupStatus.WAITLISTED, queued_at=NOW + timedelta(seconds=1)
    )
    make_signup(make_shift(starts_at=start), user=busy)  # busy holds an overlapping place
    promoted = services.fill_from_waitlist(shift)
    db.session.commit()
    assert [p.user_id for p in promoted] == [free.id]


@pytest.mark.parametrize("free_places", [0, 1, 2, 5])
def test_fill_promotes_while_places_free(db, make_shift, make_user, make_signup, free_places):
    shift = make_shift(capacity=5)
    for _ in range(5 - free_places):
        make_signup(shift)
    for i in range(3):
        make_signup(shift, status=SignupStatus.WAITLISTED, queued_at=NOW + timedelta(seconds=i))
    promoted = services.fill_from_waitlist(shift)
    db.session.commit()
    assert len(promoted) == min(free_places, 3)
    assert _count(db, shift_id=shift.id, status=SignupStatus.CONFIRMED) == 5 - free_places + len(
        promoted
    )


# --- organizer side -------------------------------------------------------------------------


def test_approve_and_reject(db, make_shift, make_user, make_signup):
    organizer = make_user(name="组织者")
    shift = make_shift(capacity=2, requires_approval=True)
    a, b = (
        make_signup(shift, status=SignupStatus.PENDING),
        make_signup(shift, status=SignupStatus.PENDING),
    )
    w = make_signup(shift, status=SignupStatus.WAITLISTED, queued_at=NOW)
    services.approve(organizer, a)
    services.reject(organizer, b, "岗位需要持证人员")
    db.session.commit()
    assert db.session.get(Signup, a.id).status == SignupStatus.CONFIRMED
    rejected = db.session.get(Signup, b.id)
    assert rejected.status == SignupStatus.REJECTED and rejected.reason == "岗位需要持证人员"
    # b's place went to the waitlist (pending again, because the shift needs approval)
    assert db.session.get(Signup, w.id).status == SignupStatus.PENDING
    assert "报名已通过" in _notes(db, a.user, "signup_approved")[0].title
    assert "岗位需要持证人员" in _notes(db, b.user, "signup_rejected")[0].body
    actions = set(db.session.scalars(select(AuditEntry.action)))
    assert {"signup.approve", "signup.reject"} <= actions


@pytest.mark.parametrize(
    ("taken", "over", "ok"), [(1, False, True), (2, False, False), (2, True, True)]
)
def test_promote(db, make_shift, make_user, make_signup, taken, over, ok):
    organizer = make_user()
    shift = make_shift(capacity=2)
    for _ in range(taken):
        make_signup(shift)
    w = make_signup(shift, status=SignupStatus.WAITLISTED, queued_at=NOW)
    if ok:
        services.promote(organizer, w, over_capacity=over, reason="多一人维持秩序" if over else "")
        db.session.commit()
        assert db.session.get(Signup, w.id).status == SignupStatus.CONFIRMED
        assert _notes(db, w.user, "waitlist_promoted")
    else:
        with pytest.raises(SignupError, match="已满"):
            services.promote(organizer, w)
        db.session.rollback()
        assert db.session.get(Signup, w.id).status == SignupStatus.WAITLISTED


@pytest.mark.parametrize("action", ["approve", "promote"])
@pytest.mark.parametrize(
    ("why", "match"),
    [
        ("shift_cancelled", "已取消"),
        ("activity_cancelled", "已取消"),
        ("started", "已经开始"),
        ("ended", "已经开始"),
    ],
)
def test_approve_and_promote_refuse_cancelled_or_started_shift(
    db, make_shift, make_user, make_signup, action, why, match
):
    organizer = make_user(name="组织者")
    starts_in = {"started": timedelta(minutes=-30), "ended": timedelta(days=-1)}.get(
        why, timedelta(days=2)
    )
    shift = make_shift(capacity=3, requires_approval=True, starts_in=starts_in)
    if why == "shift_cancelled":
        shift.status = ShiftStatus.CANCELLED
    if why == "activity_cancelled":
        shift.activity.status = ActivityStatus.CANCELLED
    db.session.commit()
    if action == "approve":
        signup = make_signup(shift, status=SignupStatus.PENDING)
    else:
        signup = make_signup(shift, status=SignupStatus.WAITLISTED, queued_at=NOW)
    before = signup.status
    with pytest.raises(SignupError, match=match):
        getattr(services, action)(organizer, signup)
    db.session.rollback()
    assert db.session.get(Signup, signup.id).status == before
    assert _notes(db, signup.user) == []
    assert services.can_decide(db.session.get(Signup, signup.id).shift) is False


def test_remove_refills_and_notifies(db, make_shift, make_user, make_signup):
    organizer = make_user()
    shift = make_shift(capacity=1)
    s = make_signup(shift)
    w = make_signup(shift, status=SignupStatus.WAITLISTED, queued_at=NOW)
    services.remove(organizer, s, "重复报名")
    db.session.commit()
    assert db.session.get(Signup, s.id).status == SignupStatus.CANCELLED
    assert db.session.get(Signup, w.id).status == SignupStatus.CONFIRMED
    assert _notes(db, s.user, "signup_removed")
    assert db.session.scalar(select(AuditEntry).where(AuditEntry.action == "signup.remove"))


@pytest.mark.parametrize(
    ("shift_kw", "taken", "over", "ok"),
    [
        ({}, 0, False, True),
        ({"starts_in": timedelta(minutes=-30)}, 0, False, True),  # after start
        ({"signup_closes_at": NOW - timedelta(hours=1)}, 0, False, True),  # window closed
        ({}, 2, False, False),
        ({}, 2, True, True),
        ({"status": ShiftStatus.CANCELLED}, 0, False, False),
    ],
)
def test_add_walk_in(db, make_shift, make_user, make_signup, shift_kw, taken, over, ok):
    organizer = make_user()
    shift = make_shift(capacity=2, **shift_kw)
    for _ in range(taken):
        make_signup(shift)
    person = make_user()
    if ok:
        signup = services.add_walk_in(
            organizer, shift, person, over_capacity=over, reason="到场支援" if over else ""
        )
        db.session.commit()
        assert signup.status == SignupStatus.CONFIRMED and signup.source == "walk_in"
        assert _notes(db, person, "walk_in_added")
    else:
        with pytest.raises(SignupError):
            services.add_walk_in(organizer, shift, person)
        db.session.rollback()
        assert _count(db, user_id=person.id) == 0


def test_notify_changes_and_cancellations_keep_status(
    db, make_activity, make_shift, make_user, make_signup
):
    activity = make_activity()
    s1, s2 = make_shift(activity=activity), make_shift(activity=activity, starts_in=timedelta(3))
    a, b, gone = make_user(), make_user(), make_user()
    make_signup(s1, user=a)
    make_signup(s2, user=a)
    make_signup(s2, user=b, status=SignupStatus.WAITLISTED, queued_at=NOW)
    make_signup(s1, user=gone, status=SignupStatus.CANCELLED)
    assert services.notify_shift_changed(s1, lambda: "集合地点改为校门东侧") == 1
    assert services.notify_shift_cancelled(s2, "暴雨预警") == 2
    assert services.notify_activity_cancelled(activity, "暴雨预警") == 2
    db.session.commit()
    assert len(_notes(db, a)) == 3 and not _notes(db, gone)
    assert "校门东侧" in _notes(db, a, "shift_changed")[0].body
    assert _count(db, user_id=a.id, status=SignupStatus.CONFIRMED) == 2
    assert _count(db, user_id=b.id, status=SignupStatus.WAITLISTED) == 1


# --- reading --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("shift_kw", "taken", "mine", "expected"),
    [
        ({}, 0, None, "open"),
        ({}, 3, None, "full_waitlist"),
        ({"waitlist_enabled": False}, 3, None, "full"),
        ({}, 0, SignupStatus.CONFIRMED, "signed_up"),
        ({}, 0, SignupStatus.PENDING, "pending"),
        ({}, 3, SignupStatus.WAITLISTED, "waitlisted"),
        ({}, 0, SignupStatus.CANCELLED, "open"),
        ({"signup_closes_at": NOW - timedelta(hours=1)}, 0, None, "closed"),
        ({"starts_in": timedelta(days=-1)}, 0, None, "closed"),
        ({"signup_opens_at": NOW + timedelta(days=1)}, 0, None, "not_yet_open"),
        ({"status": ShiftStatus.CANCELLED}, 0, SignupStatus.CONFIRMED, "cancelled"),
    ],
)
def test_shift_states(db, make_shift, make_user, make_signup, shift_kw, taken, mine, expected):
    shift = make_shift(capacity=3, **shift_kw)
    for _ in range(taken):
        make_signup(shift)
    user = make_user()
    if mine is not None:
        make_signup(shift, user=user, status=mine, queued_at=NOW)
    db.session.expire_all()
    assert services.shift_states_for(user, [shift])[0][shift.id] == expected


@pytest.mark.parametrize(
    ("activity_status", "mine", "expected"),
    [
        (ActivityStatus.CANCELLED, None, "cancelled"),
        (ActivityStatus.CANCELLED, SignupStatus.CONFIRMED, "cancelled"),
        (ActivityStatus.FINISHED, None, "closed"),
        (ActivityStatus.FINISHED, SignupStatus.CONFIRMED, "signed_up"),
        (ActivityStatus.DRAFT, None, "not_yet_open"),
    ],
)
def test_shift_states_follow_the_activity(
    db, make_activity, make_shift, make_user, make_signup, activity_status, mine, expected
):
    shift = make_shift(activity=make_activity(status=activity_status))
    user = make_user()
    if mine is not None:
        make_signup(shift, user=user, status=mine)
    assert services.shift_states_for(user, [shift])[0][shift.id] == expected


def test_my_schedule_groups(db, make_activity, make_shift, make_user, make_signup):
    user = make_user()
    up = make_signup(make_shift(starts_in=timedelta(days=1)), user=user)
    full = make_shift(capacity=1, starts_in=timedelta(days=4))
    make_signup(full)
    make_signup(full, status=SignupStatus.WAITLISTED, queued_at=NOW)
    waiting = make_signup(
        full, user=user, status=SignupStatus.WAITLISTED, queued_at=NOW + timedelta(seconds=5)
    )
    past = make_signup(make_shift(starts_in=timedelta(days=-2)), user=user)
    gone = make_signup(
        make_shift(starts_in=timedelta(days=5)), user=user, status=SignupStatus.CANCELLED
    )
    cancelled_shift = make_signup(
        make_shift(starts_in=timedelta(days=6), status=ShiftStatus.CANCELLED), user=user
    )
    sched = services.my_schedule(user)
    assert [s.id for s in sched.upcoming] == [up.id, waiting.id]
    assert sched.positions == {waiting.id: 2}
    assert [s.id for s in sched.past] == [past.id]
    assert {s.id for s in sched.cancelled} == {gone.id, cancelled_shift.id}

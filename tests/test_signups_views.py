"""Sign-up pages: the activity page buttons, flashes, my schedule, cancelling, the inbox."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from portal.models import (
    ActivityStatus,
    Notification,
    ShiftStatus,
    Signup,
    SignupStatus,
)
from portal.notifications.services import notify

NOW = datetime.now(UTC).replace(microsecond=0)


def _signups(db, **where) -> int:
    q = select(func.count(Signup.id))
    for key, value in where.items():
        q = q.where(getattr(Signup, key) == value)
    return db.session.scalar(q)


def _follow(client, resp):
    """Follow redirects by hand (each request runs in its own context, see conftest)."""
    while resp.status_code in (301, 302, 303):
        resp = client.get(resp.headers["Location"])
    return resp


def _page(client, path) -> str:
    return _follow(client, client.get(path)).get_data(as_text=True)


# --- access ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/me"),
        ("get", "/me/inbox"),
        ("post", "/shifts/{shift}/signup"),
        ("get", "/shifts/{shift}/cancel"),
        ("get", "/signups/{signup}/cancel"),
        ("post", "/signups/{signup}/cancel"),
    ],
)
def test_anonymous_is_sent_to_login(db, client, make_shift, make_signup, method, path):
    shift = make_shift()
    signup = make_signup(shift)
    url = path.format(shift=shift.id, signup=signup.id)
    resp = getattr(client, method)(url)
    assert resp.status_code == 302
    assert "/account/login" in resp.headers["Location"]
    assert _signups(db) == 1
    assert db.session.get(Signup, signup.id).status == SignupStatus.CONFIRMED


@pytest.mark.parametrize(
    ("method", "path"),
    [("get", "/signups/{signup}/cancel"), ("post", "/signups/{signup}/cancel")],
)
def test_other_persons_signup_is_404(
    db, client, login, make_shift, make_signup, make_user, method, path
):
    signup = make_signup(make_shift())
    login(make_user(name="李四"))
    resp = getattr(client, method)(path.format(signup=signup.id))
    assert resp.status_code == 404
    assert db.session.get(Signup, signup.id).status == SignupStatus.CONFIRMED


@pytest.mark.parametrize(
    "path", ["/me", "/me/inbox", "/signups/999999/cancel", "/shifts/999999/cancel"]
)
def test_resident_routes(db, client, login, make_user, path):
    login(make_user())
    resp = client.get(path)
    expected = 404 if "999999" in path else 200
    assert resp.status_code == expected


@pytest.mark.parametrize(
    "path", ["/shifts/999999/signup", "/shifts/abc/signup", "/shifts/-1/signup"]
)
def test_tampered_shift_id_is_a_friendly_404(db, client, login, make_user, path):
    login(make_user())
    resp = client.post(path)
    assert resp.status_code == 404
    assert "没有找到" in resp.get_data(as_text=True)
    assert _signups(db) == 0


def test_get_on_signup_is_not_allowed(db, client, login, make_user, make_shift):
    login(make_user())
    shift = make_shift()
    assert client.get(f"/shifts/{shift.id}/signup").status_code == 405
    assert _signups(db) == 0


# --- the activity page ----------------------------------------------------------------------


def test_activity_page_shows_buttons_for_each_state(
    db, client, login, make_activity, make_shift, make_user, make_signup
):
    activity = make_activity()
    open_shift = make_shift(activity=activity, starts_in=timedelta(days=2))
    full = make_shift(activity=activity, capacity=1, starts_in=timedelta(days=3))
    make_signup(full)
    mine = make_shift(activity=activity, starts_in=timedelta(days=4))
    user = make_user()
    make_signup(mine, user=user)
    closed = make_shift(
        activity=activity, starts_in=timedelta(days=5), signup_closes_at=NOW - timedelta(hours=1)
    )
    anon = _page(client, f"/activities/{activity.id}")
    # anonymous: the row buttons lead to the login page and back to the shift
    assert f"/account/login?next=/activities/{activity.id}?shift%3D{open_shift.id}" in anon
    assert f"/account/login?next=/activities/{activity.id}?shift%3D{full.id}" in anon
    assert "报名要先登录" in anon

    login(user)
    html = _page(client, f"/activities/{activity.id}")
    assert f'action="/shifts/{open_shift.id}/signup"' in html
    assert "可报名" in html and "已满·可候补" in html and "已报名" in html and "已截止" in html
    assert "加入候补" in html
    assert f"/shifts/{mine.id}/cancel" in html
    assert f'action="/shifts/{closed.id}/signup"' not in html


def test_sign_up_from_page_flashes_what_happened(db, client, login, make_shift, make_user):
    shift = make_shift(capacity=1)
    user = login(make_user())
    back = f"/activities/{shift.activity_id}?shift={shift.id}#shift-{shift.id}"
    resp = client.post(f"/shifts/{shift.id}/signup", data={"next": back})
    assert resp.status_code == 302
    assert resp.headers["Location"] == back
    html = _page(client, back)
    # the message shows at the top and again inside the card the page scrolls to
    assert html.count("开始前2小时内不可取消") == 2
    card = html.split(f'id="shift-{shift.id}"', 1)[1]
    assert "你已报名" in card
    assert _signups(db, user_id=user.id, status=SignupStatus.CONFIRMED) == 1

    other = login(make_user(name="王五"))
    html = _page(client, f"/activities/{shift.activity_id}")  # logged in as other now
    client.post(f"/shifts/{shift.id}/signup")
    html = _page(client, f"/activities/{shift.activity_id}")
    assert "已加入候补，第 1 位" in html
    assert "你在候补名单中，第 1 位" in _page(client, f"/activities/{shift.activity_id}")
    assert _signups(db, user_id=other.id, status=SignupStatus.WAITLISTED) == 1


def test_double_submit_saves_one_row(db, client, login, make_shift, make_user):
    shift = make_shift()
    user = login(make_user())
    client.post(f"/shifts/{shift.id}/signup")
    client.post(f"/shifts/{shift.id}/signup")
    html = _page(client, "/me")
    assert "无需重复提交" in html
    assert _signups(db, user_id=user.id) == 1


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("past", "已经开始或结束"),
        ("cancelled", "班次已取消"),
        ("unpublished", "还没有发布"),
        ("activity_cancelled", "活动已取消"),
        ("full", "已满，且不设候补"),
    ],
)
def test_refused_sign_up_says_why_and_saves_nothing(
    db, client, login, make_activity, make_shift, make_user, make_signup, case, message
):
    status = {
        "unpublished": ActivityStatus.DRAFT,
        "activity_cancelled": ActivityStatus.CANCELLED,
    }.get(case, ActivityStatus.PUBLISHED)
    activity = make_activity(status=status)
    kw = {}
    if case == "past":
        kw["starts_in"] = timedelta(days=-1)
    if case == "cancelled":
        kw["status"] = ShiftStatus.CANCELLED
    if case == "full":
        kw.update(capacity=1, waitlist_enabled=False)
    shift = make_shift(activity=activity, **kw)
    if case == "full":
        make_signup(shift)
    user = login(make_user())
    resp = _follow(client, client.post(f"/shifts/{shift.id}/signup"))
    assert resp.status_code == 200
    assert message in resp.get_data(as_text=True)
    assert _signups(db, user_id=user.id) == 0


def test_unsafe_next_is_ignored(db, client, login, make_shift, make_user):
    shift = make_shift()
    login(make_user())
    resp = client.post(f"/shifts/{shift.id}/signup", data={"next": "https://evil.example/x"})
    assert resp.headers["Location"] == (
        f"/activities/{shift.activity_id}?shift={shift.id}#shift-{shift.id}"
    )


@pytest.mark.parametrize("app_config", [{"WTF_CSRF_ENABLED": True}])
def test_csrf_is_required(db, client, login, make_shift, make_user):
    shift = make_shift()
    login(make_user())
    resp = client.post(f"/shifts/{shift.id}/signup")
    assert resp.status_code == 400
    assert "页面已过期" in resp.get_data(as_text=True)
    assert _signups(db) == 0
    # with the token from the page the same request goes through
    html = _page(client, f"/activities/{shift.activity_id}")
    token = html.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    resp = client.post(f"/shifts/{shift.id}/signup", data={"csrf_token": token})
    assert resp.status_code == 302
    assert _signups(db) == 1


# --- my schedule and cancelling -------------------------------------------------------------


def test_my_schedule_lists_sections(
    db, client, login, make_activity, make_shift, make_user, make_signup
):
    user = login(make_user())
    make_signup(make_shift(activity=make_activity(title="下尾街路口交通劝导")), user=user)
    full = make_shift(activity=make_activity(title="富海市场秩序维护"), capacity=1)
    make_signup(full)
    make_signup(full, user=user, status=SignupStatus.WAITLISTED, queued_at=NOW)
    make_signup(
        make_shift(activity=make_activity(title="福洋溪清理"), starts_in=timedelta(days=-3)),
        user=user,
    )
    make_signup(
        make_shift(
            activity=make_activity(title="礼仪讲座"),
            status=ShiftStatus.CANCELLED,
            cancel_reason="暴雨",
        ),
        user=user,
    )
    html = _page(client, "/me")
    upcoming, rest = html.split('id="past"', 1)
    past, cancelled = rest.split('id="cancelled"', 1)
    assert "下尾街路口交通劝导" in upcoming and "富海市场秩序维护" in upcoming
    assert "第 1 位" in upcoming
    assert "福洋溪清理" in past
    assert "礼仪讲座" in cancelled and "暴雨" in cancelled


def test_cancel_asks_then_cancels_and_promotes(
    db, client, login, make_shift, make_user, make_signup
):
    shift = make_shift(capacity=1)
    user = login(make_user())
    signup = make_signup(shift, user=user)
    waiting = make_signup(shift, status=SignupStatus.WAITLISTED, queued_at=NOW)
    resp = client.get(f"/shifts/{shift.id}/cancel")
    assert resp.headers["Location"].endswith(f"/signups/{signup.id}/cancel")
    page = client.get(f"/signups/{signup.id}/cancel").get_data(as_text=True)
    assert "确认取消报名" in page
    assert db.session.get(Signup, signup.id).status == SignupStatus.CONFIRMED  # GET changes nothing
    resp = _follow(client, client.post(f"/signups/{signup.id}/cancel"))
    assert "已取消报名" in resp.get_data(as_text=True)
    assert db.session.get(Signup, signup.id).status == SignupStatus.CANCELLED
    assert db.session.get(Signup, waiting.id).status == SignupStatus.CONFIRMED
    note = db.session.scalar(select(Notification).where(Notification.user_id == waiting.user_id))
    assert note is not None and "候补成功" in note.title


def test_cancel_after_deadline_is_refused(db, client, login, make_shift, make_user, make_signup):
    shift = make_shift(starts_in=timedelta(hours=1))
    user = login(make_user())
    signup = make_signup(shift, user=user)
    page = client.get(f"/signups/{signup.id}/cancel").get_data(as_text=True)
    assert "不能在网上取消" in page and "确认取消报名" not in page
    resp = _follow(client, client.post(f"/signups/{signup.id}/cancel"))
    assert "不能在网上取消" in resp.get_data(as_text=True)
    assert db.session.get(Signup, signup.id).status == SignupStatus.CONFIRMED


def test_cancel_twice_is_friendly(db, client, login, make_shift, make_user, make_signup):
    user = login(make_user())
    signup = make_signup(make_shift(), user=user)
    client.post(f"/signups/{signup.id}/cancel")
    resp = _follow(client, client.post(f"/signups/{signup.id}/cancel"))
    assert resp.status_code == 200
    assert client.get(f"/signups/{signup.id}/cancel").status_code == 302


# --- inbox ----------------------------------------------------------------------------------


def test_inbox_shows_and_marks_read(db, client, login, make_user, app):
    user = login(make_user())
    other = make_user(name="赵六")
    notify(user, "waitlist_promoted", "候补成功：“交通劝导” 12月3日 07:00", "记得准时到岗")
    notify(other, "signup_approved", "别人的消息")
    db.session.commit()
    home = _page(client, "/")
    assert 'class="badge"' in home
    html = _page(client, "/me/inbox")
    assert "候补成功" in html and "记得准时到岗" in html and "别人的消息" not in html
    assert "1 条新消息" in html
    unread = db.session.scalar(
        select(func.count(Notification.id)).where(
            Notification.user_id == user.id, Notification.read_at.is_(None)
        )
    )
    assert unread == 0
    assert 'class="badge"' not in _page(client, "/")
    other_unread = db.session.scalar(
        select(func.count(Notification.id)).where(
            Notification.user_id == other.id, Notification.read_at.is_(None)
        )
    )
    assert other_unread == 1


# --- the activity page and "my schedule" ask the services -----------------------------------


def test_activity_page_statements_do_not_grow_with_waitlisted_shifts(
    db, client, login, count_queries, make_activity, make_shift, make_signup, make_user
):
    me = make_user("候补人")
    ahead = make_user("排前面")
    pages = {}
    for n in (3, 30):
        activity = make_activity(title=f"活动{n}")
        for i in range(n):
            shift = make_shift(activity=activity, capacity=1, starts_in=timedelta(days=2, hours=i))
            make_signup(shift)
            make_signup(shift, user=ahead, status=SignupStatus.WAITLISTED, queued_at=NOW)
            make_signup(
                shift, user=me, status=SignupStatus.WAITLISTED, queued_at=NOW + timedelta(seconds=1)
            )
        pages[n] = activity.id
    login(me)
    counts, bodies = {}, {}
    for n, activity_id in pages.items():
        client.get(f"/activities/{activity_id}")  # warm-up (session, flask-login)
        with count_queries() as counted:
            resp = client.get(f"/activities/{activity_id}")
        assert resp.status_code == 200
        counts[n], bodies[n] = len(counted), resp.get_data(as_text=True)
    assert counts[3] == counts[30], counts
    assert bodies[30].count("你在候补名单中，第 2 位") == 30


@pytest.mark.parametrize(
    ("status", "starts_in", "button"),
    [
        (SignupStatus.WAITLISTED, timedelta(days=2), "取消候补"),
        (SignupStatus.WAITLISTED, timedelta(minutes=-10), None),  # started, not yet ended
        (SignupStatus.CONFIRMED, timedelta(days=2), "取消报名"),
        (SignupStatus.CONFIRMED, timedelta(hours=1), None),  # inside the deadline
        (SignupStatus.PENDING, timedelta(minutes=-10), None),
    ],
)
def test_cancel_button_follows_the_service_rule(
    db, client, login, make_shift, make_signup, make_user, status, starts_in, button
):
    from portal.signups.services import can_cancel

    me = make_user("报名人")
    shift = make_shift(capacity=3, starts_in=starts_in, length=timedelta(hours=2))
    signup = make_signup(
        shift, user=me, status=status, queued_at=NOW if status == SignupStatus.WAITLISTED else None
    )
    assert can_cancel(signup) is (button is not None)
    login(me)
    activity_page = _page(client, f"/activities/{shift.activity_id}")
    schedule = _page(client, "/me")
    for html, link in (
        (activity_page, f"/shifts/{shift.id}/cancel"),
        (schedule, f"/signups/{signup.id}/cancel"),
    ):
        assert (link in html) is (button is not None)
        if button:
            assert f">{button}</a>" in html
        elif status == SignupStatus.WAITLISTED:
            assert ">取消候补</a>" not in html and "不能再取消候补" in html


def test_signing_up_takes_the_write_lock_only_for_the_rule_and_the_write(
    db, client, login, make_user, make_shift
):
    """On SQLite the write lock serialises every sign-up in the district: the request loads
    the person and the shift before it, so 40 people pressing 报名 at once queue for less."""
    from sqlalchemy import event

    shift = make_shift(capacity=2)
    login(make_user())
    seen: list[str] = []

    def note(_conn, _cursor, statement, *_args):
        seen.append(" ".join(statement.split())[:40])

    event.listen(db.engine, "before_cursor_execute", note)
    try:
        resp = client.post(f"/shifts/{shift.id}/signup")
    finally:
        event.remove(db.engine, "before_cursor_execute", note)
    assert resp.status_code == 302
    assert _signups(db, shift_id=shift.id, status=SignupStatus.CONFIRMED) == 1
    begin = seen.index("BEGIN IMMEDIATE")
    assert any(s.startswith("SELECT users.") for s in seen[:begin])  # the person, before it
    assert any(s.startswith("INSERT INTO signups") for s in seen[begin:])

"""The activity page as a resident reads it: shifts grouped by day behind a day strip, past
days folded, one compact row per shift, cancelled shifts that read cancelled, WeChat without
.ics downloads, English plurals; constant statements and a bounded size with 240 shifts.
Also the list's folded filter line."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import insert, select

from portal.browse import shift_rows
from portal.models import ActivityStatus, Shift, ShiftStatus, Signup, SignupStatus
from portal.timeutil import local_to_utc, local_today

WECHAT = (
    "Mozilla/5.0 (Linux; Android 10) AppleWebKit/537.36 Chrome/86 Mobile Safari/537.36 "
    "MicroMessenger/8.0.40"
)


def _html(resp) -> str:
    assert resp.status_code == 200, resp.status_code
    return resp.get_data(as_text=True)


def _row(html: str, shift_id: int) -> str:
    found = re.search(rf'<li class="srow [^"]*" id="shift-{shift_id}">.*?</li>', html, re.S)
    assert found, f"no row for shift {shift_id}"
    return found.group(0)


def _at(days: int, hour: int) -> datetime:
    return local_to_utc(
        local_today() + timedelta(days=days), datetime.min.time().replace(hour=hour)
    )


def test_shifts_are_grouped_by_day_behind_a_day_strip(client, make_activity, make_shift):
    activity = make_activity()
    shifts = {(d, h): make_shift(activity, starts_at=_at(d, h)) for d in (2, 3, 5) for h in (8, 14)}
    html = _html(client.get(f"/activities/{activity.id}"))
    days = [(local_today() + timedelta(days=d)).isoformat() for d in (2, 3, 5)]
    strip = re.search(r'<nav class="day-strip"[^>]*>(.*?)</nav>', html, re.S).group(1)
    assert re.findall(r'href="#day-([\d-]+)"', strip) == days
    for d, key in zip((2, 3, 5), days, strict=True):
        section = re.search(rf'<section class="day" id="day-{key}".*?</section>', html, re.S)
        ids = re.findall(r'id="shift-(\d+)"', section.group(0))
        assert ids == [str(shifts[(d, 8)].id), str(shifts[(d, 14)].id)]
        assert "2 个班次" in section.group(0)
    assert _row(html, shifts[(2, 8)].id).count("08:00–10:00") == 1


def test_one_day_needs_no_strip(client, make_activity, make_shift):
    activity = make_activity()
    make_shift(activity, starts_at=_at(2, 8))
    make_shift(activity, starts_at=_at(2, 10))
    html = _html(client.get(f"/activities/{activity.id}"))
    assert 'class="day-strip"' not in html and 'class="day"' in html


def test_past_days_are_folded(client, make_activity, make_shift):
    activity = make_activity()
    past = make_shift(activity, starts_at=_at(-3, 8))
    coming = make_shift(activity, starts_at=_at(2, 8))
    make_shift(activity, starts_at=_at(3, 8))
    html = _html(client.get(f"/activities/{activity.id}"))
    assert f'id="shift-{past.id}"' not in html  # not shown by default
    html = _html(client.get(f"/activities/{activity.id}?past=1"))
    folded = re.search(r'<details class="past-days">(.*?)</details>', html, re.S).group(1)
    assert f'id="shift-{past.id}"' in folded and f'id="shift-{coming.id}"' not in folded
    assert "已结束的班次（1 天）" in folded
    strip = re.search(r'<nav class="day-strip"[^>]*>(.*?)</nav>', html, re.S).group(1)
    assert (local_today() - timedelta(days=3)).isoformat() not in strip


def test_overnight_shift_says_next_day(client, make_activity, make_shift):
    activity = make_activity()
    night = make_shift(activity, starts_at=_at(2, 22), length=timedelta(hours=4))
    assert "22:00–次日02:00" in _row(_html(client.get(f"/activities/{activity.id}")), night.id)


@pytest.mark.parametrize("what", ["shift", "activity"])
def test_a_cancelled_shift_reads_cancelled(
    db, client, make_activity, make_shift, make_signup, what
):
    activity = make_activity()
    shift = make_shift(activity, starts_at=_at(2, 8), capacity=80)
    if what == "shift":
        shift.status, shift.cancel_reason = ShiftStatus.CANCELLED, "暴雨预警"
    else:
        activity.status, activity.cancel_reason = ActivityStatus.CANCELLED, "场地维修"
    db.session.commit()
    row = _row(_html(client.get(f"/activities/{activity.id}")), shift.id)
    assert "已取消" in row
    assert ("暴雨预警" if what == "shift" else "场地维修") in row
    for absent in ("余", "80", "bar", "<form", "登录后", ".ics", "已满"):
        assert absent not in row, absent


def test_own_rows_offer_the_ics_but_not_inside_wechat(
    client, login, make_activity, make_shift, make_signup, make_user
):
    activity = make_activity()
    mine = make_shift(activity, starts_at=_at(2, 8))
    other = make_shift(activity, starts_at=_at(3, 8))
    user = make_user()
    make_signup(mine, user=user)
    login(user)
    html = _html(client.get(f"/activities/{activity.id}"))
    assert f"/calendar/shifts/{mine.id}.ics" in _row(html, mine.id)
    assert ".ics" not in _row(html, other.id)  # one button per row; the .ics is for own shifts
    assert "微信里不能下载日历文件" not in html
    html = _html(client.get(f"/activities/{activity.id}", headers={"User-Agent": WECHAT}))
    assert ".ics" not in html.split('<section aria-labelledby="shifts"', 1)[1]
    assert "微信里不能下载日历文件" in html and "点击右上角 ··· 选择在浏览器打开" in html
    assert "订阅我的日历" in _row(html, mine.id)


def test_rows_follow_places_taken(db, client, make_activity, make_shift, make_signup):
    """Rows are cached by what they show: a place taken shows at once, never a stale row."""
    activity = make_activity()
    shift = make_shift(activity, starts_at=_at(2, 8), capacity=3)
    assert "余 3 位" in _row(_html(client.get(f"/activities/{activity.id}")), shift.id)
    make_signup(shift)
    assert "余 2 位" in _row(_html(client.get(f"/activities/{activity.id}")), shift.id)
    make_signup(shift)
    make_signup(shift)
    row = _row(_html(client.get(f"/activities/{activity.id}")), shift.id)
    assert "已满·可候补" in row and ">候补</a>" in row
    shift_rows.clear_cache()
    assert _row(_html(client.get(f"/activities/{activity.id}")), shift.id) == row


def test_rows_share_one_signup_form_so_cached_rows_hold_nothing_per_session(
    db, client, login, make_activity, make_shift, make_user
):
    activity = make_activity()
    shift = make_shift(activity, starts_at=_at(2, 8))
    user = login(make_user())
    html = _html(client.get(f"/activities/{activity.id}"))
    row = _row(html, shift.id)
    assert f'form="signup-form" formaction="/shifts/{shift.id}/signup"' in row
    assert "csrf" not in row
    form = re.search(r'<form id="signup-form" method="post" hidden>(.*?)</form>', html).group(1)
    assert 'name="csrf_token"' in form
    # the button's submission is an ordinary sign-up
    back = client.post(f"/shifts/{shift.id}/signup")
    assert back.status_code == 302
    assert "你已报名这个班次" in _row(_html(client.get(back.headers["Location"])), shift.id)
    assert db.session.scalar(select(Signup.user_id).where(Signup.shift_id == shift.id)) == user.id


@pytest.mark.parametrize(("left", "words"), [(1, "1 place left"), (3, "3 places left")])
def test_english_plurals(db, client, make_activity, make_shift, make_signup, left, words):
    activity = make_activity()
    shift = make_shift(activity, starts_at=_at(2, 8), capacity=3)
    for _ in range(3 - left):
        make_signup(shift)
    html = _html(client.get(f"/activities/{activity.id}?lang=en"))
    assert words in _row(html, shift.id)
    assert "<dt>Zone</dt>" in html and "Zones</dt>" not in html
    assert "1 shift" in html  # the day heading
    listing = _html(client.get("/activities?lang=en"))
    assert f"Open · {words}" in listing and "<dt>Zone</dt>" in listing


def _many(db, activity, n: int):
    base = _at(1, 0)
    db.session.execute(
        insert(Shift),
        [
            {
                "activity_id": activity.id,
                "starts_at": base + timedelta(hours=3 * i),
                "ends_at": base + timedelta(hours=3 * i + 2),
                "capacity": 10,
                "post_name": f"岗位{i % 8}",
                "created_at": datetime.now(UTC),
                "updated_at": datetime.now(UTC),
            }
            for i in range(n)
        ],
    )
    db.session.commit()


def test_statements_constant_and_size_bounded_with_240_shifts(
    db, client, login, count_queries, make_activity, make_shift, make_signup, make_user
):
    user = make_user("居民")
    small, big = make_activity(title="小"), make_activity(title="大")
    _many(db, small, 8)
    _many(db, big, 240)
    for activity in (small, big):  # the visitor holds a place and a waitlist spot on each
        first, second = activity.shifts[0], activity.shifts[1]
        make_signup(first, user=user)
        make_signup(second, user=user, status=SignupStatus.WAITLISTED)
    counts, sizes = {}, {}
    for who in ("anonymous", "resident"):
        if who == "resident":
            login(user)
        for activity in (small, big):
            client.get(f"/activities/{activity.id}")  # warm-up (session, flask-login)
            with count_queries() as counted:
                html = _html(client.get(f"/activities/{activity.id}"))
            counts[(who, activity.title)] = len(counted)
            sizes[(who, activity.title)] = len(html.encode())
            assert html.count('class="srow ') == len(activity.shifts)
        assert counts[(who, "小")] == counts[(who, "大")], counts
    # 240 rows in a page of about 100 KB (it was 208 KB): ~400 bytes a row for a resident
    assert sizes[("anonymous", "大")] < 90_000, sizes
    assert sizes[("resident", "大")] < 120_000, sizes


# --- the list's filter line -------------------------------------------------------------------


def test_filters_fold_into_a_line_naming_what_is_applied(
    client, make_activity, make_shift, make_zone
):
    zone = make_zone("立后")
    make_shift(make_activity(zone=zone), starts_at=_at(1, 8))
    today = local_today()
    monday = today - timedelta(days=today.weekday())
    html = _html(
        client.get(
            f"/activities?q=县一小&zone={zone.id}&kind=volunteer&date_from={monday}"
            f"&date_to={monday + timedelta(days=6)}"
        )
    )
    bar = re.search(
        r'<div class="filter-bar is-active">(.*?)</form>\s*</details>(.*?)</div>', html, re.S
    )
    assert bar, "no active filter line"
    assert '<details class="filters">' in bar.group(1)  # folded: not open
    summary = re.search(r'<span class="filter-summary">(.*?)</span>', bar.group(1)).group(1)
    assert summary == "“县一小” · 立后 · 志愿服务 · 本周"
    assert 'class="filter-clear" href="?"' in bar.group(2)
    assert html.index('class="filter-bar') < html.index('class="result-count"')


@pytest.mark.parametrize(
    ("query", "summary"),
    [
        ("open=1", "有名额"),
        ("kind=community", "社区活动"),
        ("date_from=2026-12-01&date_to=2026-12-07", "12月1日–12月7日"),
        ("date_from=2026-12-01", "12月1日起"),
        ("date_to=2026-12-07", "至12月7日"),
        ("q=<b>x</b>", "“&lt;b&gt;x&lt;/b&gt;”"),
    ],
)
def test_filter_line_words(client, query, summary):
    html = _html(client.get(f"/activities?{query}"))
    assert f'<span class="filter-summary">{summary}</span>' in html


def test_no_filter_no_clear_button(client):
    html = _html(client.get("/activities"))
    assert "filter-clear" not in html and "is-active" not in html

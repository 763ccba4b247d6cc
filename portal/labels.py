"""The words for every state a person sees: sign-ups, attendance, shifts, activities.

One home, so a status reads the same on the roster, in the exports, in the person's own
pages and in the calendar. Pages reach these functions as the Jinja global ``labels``
(``{{ labels.signup_status(s.status) }}``); exports call them directly. Each function returns
the word in the request's language (the strings are literal ``lazy_gettext`` calls, so Babel
extracts them); a value without a label comes back unchanged.

Two audiences, two wordings for a sign-up:
- :func:`signup_status` — organizers' rosters and every export of them: 已确认, 待审核 …
- :func:`own_signup_status` — the person's own pages and own data download, where a held
  place reads 已报名 ("you are signed up") and their own cancellation 已取消报名.
"""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

from portal.models import ActivityStatus, Attendance, SignupStatus
from portal.signups.services import ShiftState

_SIGNUP_STATUS = {
    SignupStatus.CONFIRMED: _l("已确认"),
    SignupStatus.PENDING: _l("待审核"),
    SignupStatus.WAITLISTED: _l("候补中"),
    SignupStatus.CANCELLED: _l("已取消"),
    SignupStatus.REJECTED: _l("未通过"),
}

_OWN_SIGNUP_STATUS = {
    **_SIGNUP_STATUS,
    SignupStatus.CONFIRMED: _l("已报名"),
    SignupStatus.CANCELLED: _l("已取消报名"),
}

_ATTENDANCE = {
    Attendance.ATTENDED: _l("已出勤"),
    Attendance.NO_SHOW: _l("缺席"),
}

_HOURS_STATE = {
    "pending": _l("待确认"),
    "confirmed": _l("已确认"),
    "not_counted": _l("不计时长"),
}

_SIGNUP_SOURCE = {
    "self": _l("自行报名"),
    "walk_in": _l("现场"),
    "organizer": _l("组织方添加"),
}

_SHIFT_STATE = {
    ShiftState.OPEN: _l("可报名"),
    ShiftState.FULL_WAITLIST: _l("已满·可候补"),
    ShiftState.FULL: _l("已满"),
    ShiftState.NOT_YET_OPEN: _l("未开始报名"),
    ShiftState.CLOSED: _l("已截止"),
    ShiftState.CANCELLED: _l("已取消"),
    ShiftState.SIGNED_UP: _l("已报名"),
    ShiftState.PENDING: _l("待审核"),
    ShiftState.WAITLISTED: _l("候补中"),
}

_ACTIVITY_STATUS = {
    ActivityStatus.DRAFT: _l("草稿"),
    ActivityStatus.PUBLISHED: _l("已发布"),
    ActivityStatus.CANCELLED: _l("已取消"),
    ActivityStatus.FINISHED: _l("已结束"),
}

# Calendar text is fixed Chinese (calendar programs send no language), so event titles carry
# the untranslated words above in brackets; tests/test_rule_homes.py keeps the two in step.
CALENDAR_PREFIX = {
    "cancelled": "【已取消】",
    "pending": "【待审核】",
    "waitlisted": "【候补中】",
}

# The person's attendance in their own calendar, fixed Chinese for the same reason: the
# prefix and the first word are the untranslated ``attendance()`` words (a test checks it).
CALENDAR_ATTENDANCE = {
    "no_show_prefix": "【缺席】",
    "attended": "已出勤",
    "no_show": "缺席",
    "hours": "服务时长",
    "hours_confirmed": "已确认",
    "hours_pending": "待确认",
}


def _word(table: dict, value) -> str:
    if value is None:
        return ""
    label = table.get(value)
    return str(label) if label is not None else str(value)


def signup_status(status) -> str:
    """The organizer's word for a sign-up status (rosters, exports)."""
    return _word(_SIGNUP_STATUS, status)


def own_signup_status(status) -> str:
    """The person's word for their own sign-up (my schedule, my data download)."""
    return _word(_OWN_SIGNUP_STATUS, status)


def attendance(value) -> str:
    """Attended or no-show; empty while nobody has recorded it."""
    return _word(_ATTENDANCE, value)


def hours_state_key(signup) -> str:
    """``confirmed``, ``pending`` or ``not_counted`` (a community activity) for an attended
    record; empty otherwise."""
    if signup.attendance != Attendance.ATTENDED:
        return ""
    if not signup.shift.activity.is_volunteer:
        return "not_counted"
    return "confirmed" if signup.hours_confirmed_at is not None else "pending"


def hours_state(signup) -> str:
    """The word for a record's hours: 已确认 / 待确认 / 不计时长 (community activity)."""
    return _word(_HOURS_STATE, hours_state_key(signup) or None)


def signup_source(source) -> str:
    """How the person came onto the roster: by themselves, on site, added by the organizer."""
    return _word(_SIGNUP_SOURCE, source or "self")


def shift_state(state) -> str:
    """What a visitor sees on a shift (:class:`~portal.signups.services.ShiftState`)."""
    return _word(_SHIFT_STATE, state)


def activity_status(status) -> str:
    """Draft, published, cancelled or finished."""
    return _word(_ACTIVITY_STATUS, status)


def activity_statuses() -> list[tuple[str, str]]:
    """Every activity status with its word, in lifecycle order (filters, legends)."""
    return [(str(s), str(label)) for s, label in _ACTIVITY_STATUS.items()]

"""One home per rule: status words, "the shift is off" and field errors read alike everywhere.

Each table row is one state; the test reads it back from every place that shows it (roster
page, CSV and XLSX export, the person's own pages and data download, feed, API) in Chinese
and in English, so a second wording or a forgotten copy of a rule fails here.
"""

from __future__ import annotations

import csv
import html
import io
import re
from datetime import UTC, datetime

import pytest
from flask_babel import force_locale
from icalendar import Calendar
from openpyxl import load_workbook

from portal import labels
from portal.domain import DomainError
from portal.forms import attach_error
from portal.models import ActivityStatus, Attendance, ShiftStatus, SignupStatus
from portal.organize.forms import BulkShiftForm
from portal.organize.services import OrganizeError, expand_bulk, expand_rule, parse_slots
from portal.organize.services.recurrence import Slot
from portal.signups.services import ShiftState

START = datetime(2030, 1, 6, 23, 0, tzinfo=UTC)  # 2030-01-07 07:00 in Asia/Shanghai
CJK = re.compile(r"[\u4e00-\u9fff]")


@pytest.fixture
def organizer(make_unit, make_user):
    unit = make_unit()
    return make_user("组织者", units=[unit]), unit


@pytest.fixture
def as_organizer(client, login, organizer):
    login(organizer[0])
    return client


def _text(response) -> str:
    assert response.status_code == 200, response.status_code
    return html.unescape(response.get_data(as_text=True))


def _csv_column(response, zh_or_en_title: str) -> list[str]:
    rows = list(csv.reader(io.StringIO(response.get_data().decode("utf-8-sig"))))
    col = rows[0].index(zh_or_en_title)
    return [row[col] for row in rows[1:]]


def _xlsx_column(response, title: str) -> list:
    rows = list(load_workbook(io.BytesIO(response.data)).active.iter_rows(values_only=True))
    col = rows[0].index(title)
    return [row[col] or "" for row in rows[1:]]


# --- status words -----------------------------------------------------------------------------

# (sign-up fields, export column zh / en, word zh / en, shown on the roster page)
ROSTER_WORDS = [
    ({"status": SignupStatus.CONFIRMED}, ("状态", "Status"), ("已确认", "Confirmed"), True),
    ({"status": SignupStatus.PENDING}, ("状态", "Status"), ("待审核", "Pending"), True),
    ({"status": SignupStatus.WAITLISTED}, ("状态", "Status"), ("候补中", "On the waitlist"), True),
    ({"status": SignupStatus.CANCELLED}, ("状态", "Status"), ("已取消", "Cancelled"), True),
    ({"status": SignupStatus.REJECTED}, ("状态", "Status"), ("未通过", "Declined"), True),
    # The roster page shows attendance since organizers mark it there.
    ({"attendance": Attendance.ATTENDED}, ("出勤", "Attendance"), ("已出勤", "Attended"), True),
    ({"attendance": Attendance.NO_SHOW}, ("出勤", "Attendance"), ("缺席", "No-show"), True),
    ({"source": "self"}, ("报名方式", "How signed up"), ("自行报名", "Self sign-up"), False),
    ({"source": "walk_in"}, ("报名方式", "How signed up"), ("现场", "On site"), True),
    (
        {"source": "organizer"},
        ("报名方式", "How signed up"),
        ("组织方添加", "Added by organizer"),
        True,
    ),
]


@pytest.mark.parametrize(("fields", "column", "word", "on_page"), ROSTER_WORDS)
@pytest.mark.parametrize("lang", ["zh_Hans_CN", "en"])
def test_roster_page_and_exports_use_the_same_word(
    db,
    as_organizer,
    organizer,
    make_activity,
    make_shift,
    make_signup,
    make_user,
    fields,
    column,
    word,
    on_page,
    lang,
):
    user, unit = organizer
    shift = make_shift(activity=make_activity(unit=unit), starts_at=START, capacity=5)
    signup = make_signup(shift, user=make_user("王秀英"), **fields)
    en = lang == "en"
    title, expected = column[en], word[en]

    page = _text(as_organizer.get(f"/organize/shifts/{shift.id}/roster?lang={lang}"))
    row = re.search(rf'<tr id="signup-{signup.id}".*?</tr>', page, re.S).group(0)
    assert (expected in row) is on_page
    csv_cells = _csv_column(
        as_organizer.get(f"/organize/shifts/{shift.id}/roster.csv?lang={lang}"), title
    )
    xlsx_cells = _xlsx_column(
        as_organizer.get(f"/organize/shifts/{shift.id}/roster.xlsx?lang={lang}"), title
    )
    assert csv_cells == xlsx_cells == [expected]


# The person's own words: a held place is 已报名, their own cancellation 已取消报名.
OWN_WORDS = [
    (SignupStatus.CONFIRMED, "已报名", "Signed up"),
    (SignupStatus.PENDING, "待审核", "Pending"),
    (SignupStatus.WAITLISTED, "候补中", "On the waitlist"),
    (SignupStatus.CANCELLED, "已取消报名", "Sign-up cancelled"),
    (SignupStatus.REJECTED, "未通过", "Declined"),
]


@pytest.mark.parametrize(("status", "zh", "en"), OWN_WORDS)
@pytest.mark.parametrize("lang", ["zh_Hans_CN", "en"])
def test_own_schedule_and_own_data_download_use_the_same_word(
    db, client, login, make_shift, make_signup, make_user, status, zh, en, lang
):
    me = login(make_user("陈晓梅"))
    make_signup(make_shift(starts_at=START), user=me, status=status)
    expected = en if lang == "en" else zh

    page = _text(client.get(f"/me?lang={lang}"))
    badges = re.findall(r'<span class="state [^"]*">([^<]*)</span>', page)
    assert badges == [expected]
    rows = list(
        csv.reader(
            io.StringIO(
                client.get(f"/account/export.csv?lang={lang}").get_data().decode("utf-8-sig")
            )
        )
    )
    header = next(r for r in rows if "Sign-up status" in r or "报名状态" in r)
    values = rows[rows.index(header) + 1]
    assert values[header.index("Sign-up status" if lang == "en" else "报名状态")] == expected


def test_every_state_has_a_word_in_both_languages(app):
    tables = [
        (labels.signup_status, SignupStatus),
        (labels.own_signup_status, SignupStatus),
        (labels.attendance, Attendance),
        (labels.shift_state, ShiftState),
        (labels.activity_status, ActivityStatus),
    ]
    for word, enum in tables:
        for value in enum:
            with app.test_request_context("/"), force_locale("en"):
                english = word(value)
            with app.test_request_context("/"), force_locale("zh_Hans_CN"):
                chinese = word(value)
            assert CJK.search(chinese), (word.__name__, value, chinese)
            assert english and not CJK.search(english), (word.__name__, value, english)


def test_calendar_prefixes_are_the_untranslated_words(app):
    with app.test_request_context("/"), force_locale("zh_Hans_CN"):
        assert labels.CALENDAR_PREFIX == {
            "cancelled": f"【{labels.shift_state(ShiftState.CANCELLED)}】",
            "pending": f"【{labels.own_signup_status(SignupStatus.PENDING)}】",
            "waitlisted": f"【{labels.own_signup_status(SignupStatus.WAITLISTED)}】",
        }
    for lang in ("zh_Hans_CN", "en"):  # the badge on a shift and the person's own status agree
        with app.test_request_context("/"), force_locale(lang):
            for state, status in (
                (ShiftState.SIGNED_UP, SignupStatus.CONFIRMED),
                (ShiftState.PENDING, SignupStatus.PENDING),
                (ShiftState.WAITLISTED, SignupStatus.WAITLISTED),
            ):
                assert labels.shift_state(state) == labels.own_signup_status(status)


# --- "the shift is off" -----------------------------------------------------------------------


@pytest.mark.parametrize("what", ["activity", "shift"])
def test_a_shift_that_is_off_reads_cancelled_everywhere(
    db, as_organizer, organizer, make_activity, make_shift, make_signup, what
):
    _user, unit = organizer
    activity = make_activity(unit=unit)
    shift = make_shift(activity=activity)  # soon: inside every feed's window
    make_signup(shift)
    if what == "activity":
        activity.status = ActivityStatus.CANCELLED
    else:
        shift.status = ShiftStatus.CANCELLED
    db.session.commit()

    feed = Calendar.from_ical(as_organizer.get(f"/calendar/activities/{activity.id}.ics").data)
    (event,) = feed.walk("VEVENT")
    assert str(event["STATUS"]) == "CANCELLED" and str(event["SUMMARY"]).startswith("【已取消】")
    single = Calendar.from_ical(as_organizer.get(f"/calendar/shifts/{shift.id}.ics").data)
    assert str(single.walk("VEVENT")[0]["STATUS"]) == "CANCELLED"

    assert as_organizer.get(f"/api/v1/shifts/{shift.id}").get_json()["status"] == "cancelled"
    body = as_organizer.get(f"/api/v1/activities/{activity.id}?past=1").get_json()
    assert [s["status"] for s in body["shifts"]] == ["cancelled"]

    for lang, word in (("zh_Hans_CN", "已取消"), ("en", "Cancelled")):
        public = _text(as_organizer.get(f"/activities/{activity.id}?lang={lang}"))
        card = re.search(
            rf'<li class="srow st-cancelled" id="shift-{shift.id}">.*?</li>', public, re.S
        )
        assert f'<span class="state state-cancelled">{word}</span>' in card.group(0)
        # no bar, no places, no button, no calendar download on a shift that will not happen
        for absent in ('class="bar"', "余", "places left", "<form", ".ics"):
            assert absent not in card.group(0), absent
        manage = _text(as_organizer.get(f"/organize/activities/{activity.id}?lang={lang}"))
        card = re.search(rf'<li class="card shift" id="shift-{shift.id}">.*?</li>', manage, re.S)
        assert f'<span class="state state-cancelled">{word}</span>' in card.group(0)
        assert f"/organize/shifts/{shift.id}/edit" not in card.group(0)
        roster = _text(as_organizer.get(f"/organize/shifts/{shift.id}/roster?lang={lang}"))
        assert f'<span class="state state-cancelled">{word}</span>' in roster
        assert f"/organize/shifts/{shift.id}/walk-in" not in roster


# --- errors know their field ------------------------------------------------------------------


def _field_error(page: str, field_id: str) -> str:
    found = re.search(rf'<p class="error" id="{field_id}-error">([^<]*)</p>', page)
    assert found, f"no error next to {field_id}"
    return found.group(1)


@pytest.mark.parametrize(
    ("lang", "message"),
    [
        ("zh_Hans_CN", "这个班次已有 2 人报名（已确认和待审核），人数上限不能低于 2。"),
        (
            "en",
            "2 people are already signed up for this shift (confirmed and pending), "
            "so the capacity cannot be lower than 2.",
        ),
    ],
)
def test_edit_shift_capacity_error_sits_next_to_capacity(
    db, as_organizer, organizer, make_activity, make_shift, make_signup, lang, message
):
    _user, unit = organizer
    shift = make_shift(activity=make_activity(unit=unit), starts_at=START, capacity=3)
    make_signup(shift)
    make_signup(shift, status=SignupStatus.PENDING)
    data = {"day": "2030-01-07", "start": "07:00", "end": "09:00", "capacity": "1"}
    page = _text(as_organizer.post(f"/organize/shifts/{shift.id}/edit?lang={lang}", data=data))
    assert message in _field_error(page, "capacity")
    assert 'id="end-error"' not in page and 'flash-error">' + message not in page
    db.session.refresh(shift)
    assert shift.capacity == 3


BULK = {
    "mode": "range",
    "first_date": "2030-01-07",
    "last_date": "2030-01-20",
    "slots": "07:00-08:00",
    "capacity": "4",
}


@pytest.mark.parametrize(
    ("override", "field", "zh", "en"),
    [
        ({}, "weekdays", "请至少选择一个星期几。", "Choose at least one day of the week."),
        (
            {"weekdays": ["6"], "last_date": "2030-01-08"},
            "weekdays",
            "没有可创建的班次",
            "there are no shifts to create",
        ),
        (
            {"weekdays": ["0"], "last_date": "2030-01-01"},
            "last_date",
            "结束日期不能早于开始日期",
            "The end date cannot be before the start date.",
        ),
        (
            {"weekdays": ["0"], "slots": "09:00-08:00"},
            "slots",
            "结束时间要晚于开始时间",
            "must end after it starts",
        ),
        (
            {"mode": "rule", "rule": "FREQ=WEEKLY;BYDAY=MO"},
            "rule",
            "COUNT",
            "needs COUNT (number of times) or UNTIL",
        ),
    ],
)
@pytest.mark.parametrize("lang", ["zh_Hans_CN", "en"])
def test_bulk_form_errors_sit_next_to_their_field(
    db, as_organizer, organizer, make_activity, override, field, zh, en, lang
):
    _user, unit = organizer
    activity = make_activity(unit=unit)
    response = as_organizer.post(
        f"/organize/activities/{activity.id}/shifts/bulk?lang={lang}",
        data={**BULK, **override, "preview": "1"},
    )
    assert (en if lang == "en" else zh) in _field_error(_text(response), field)


@pytest.mark.parametrize(
    "call",
    [
        lambda: parse_slots(""),
        lambda: parse_slots("morning"),
        lambda: parse_slots("25:00-26:00"),
        lambda: parse_slots("09:00-08:00"),
        lambda: parse_slots("07:00-08:00,07:00-08:00"),
        lambda: expand_bulk(datetime(2030, 1, 7).date(), datetime(2030, 1, 1).date(), [0], []),
        lambda: expand_bulk(datetime(2030, 1, 7).date(), datetime(2030, 1, 9).date(), [], []),
        lambda: expand_bulk(datetime(2030, 1, 7).date(), datetime(2031, 3, 1).date(), [0], []),
        lambda: expand_bulk(
            datetime(2030, 1, 1).date(),
            datetime(2030, 12, 31).date(),
            range(7),
            [Slot(datetime(2030, 1, 1, 7).time(), datetime(2030, 1, 1, 8).time())] * 2,
        ),
        lambda: expand_rule("nonsense", datetime(2030, 1, 7).date(), []),
        lambda: expand_rule("FREQ=MINUTELY;COUNT=3", datetime(2030, 1, 7).date(), []),
        lambda: expand_rule("FREQ=DAILY;UNTIL=20290101", datetime(2030, 1, 7).date(), []),
    ],
)
def test_every_recurrence_refusal_names_a_bulk_form_field(app, call):
    with app.test_request_context("/"):
        form = BulkShiftForm(meta={"csrf": False})
        with pytest.raises(OrganizeError) as caught:
            call()
        assert caught.value.field in form


def test_attach_error_flashes_what_has_no_field(app):
    from flask import get_flashed_messages

    with app.test_request_context("/"):
        form = BulkShiftForm(meta={"csrf": False})
        assert attach_error(form, DomainError("放在星期旁边", field="weekdays"))
        assert form.weekdays.errors == ["放在星期旁边"]
        assert not attach_error(form, DomainError("没有字段"))
        assert not attach_error(form, DomainError("字段不存在", field="nope"))
        assert get_flashed_messages(with_categories=True) == [
            ("error", "没有字段"),
            ("error", "字段不存在"),
        ]

"""Self check-in on site: the codes (pure, controlled clock), the service, and the pages."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import quote

import pytest

from portal.attendance import codes, selfcheck
from portal.attendance.codes import CodeRefused, Refusal
from portal.attendance.selfcheck import Action, SelfCheckError
from portal.models import Attendance, CheckinMethod, Signup, SignupStatus
from tests.conftest import TEST_PASSWORD

SECRET = "test-secret"  # the SECRET_KEY of the test app (tests.conftest.base_config)
START = datetime(2026, 12, 1, 0, 0, 30, tzinfo=UTC)  # 08:00:30 in Shanghai, mid-step
END = START + timedelta(hours=2)
OPENS, CLOSES = START - timedelta(minutes=30), END


def verify(code, now, shift_id=7):
    codes.verify_code(code, shift_id=shift_id, opens=OPENS, closes=CLOSES, secret=SECRET, now=now)


def refusal(code, now, shift_id=7) -> Refusal | None:
    try:
        verify(code, now, shift_id)
    except CodeRefused as exc:
        return exc.reason
    return None


# --- codes: pure, with a controlled clock -------------------------------------------------------


@pytest.mark.parametrize(
    ("at", "expected"),
    [
        (START - timedelta(minutes=30), None),  # check-in opens 30 minutes before the start
        (START - timedelta(minutes=31), Refusal.NOT_YET),
        (START + timedelta(minutes=45), None),
        (END, None),  # up to the end itself
        (END + timedelta(seconds=1), Refusal.CLOSED),
        (END + timedelta(hours=5), Refusal.CLOSED),
    ],
)
def test_a_fresh_code_works_only_inside_the_window(at, expected):
    assert refusal(codes.make_code(7, SECRET, at), at) == expected


@pytest.mark.parametrize(
    ("age_in_steps", "expected"),
    [(0, None), (1, None), (2, Refusal.EXPIRED), (10, Refusal.EXPIRED), (-1, Refusal.EXPIRED)],
)
def test_the_current_and_previous_step_are_accepted_older_ones_not(age_in_steps, expected):
    now = START + timedelta(minutes=10)
    shown_at = now - timedelta(seconds=codes.STEP * age_in_steps)
    assert refusal(codes.make_code(7, SECRET, shown_at), now) == expected


def test_the_code_changes_every_step():
    assert codes.make_code(7, SECRET, START) != codes.make_code(
        7, SECRET, START + timedelta(seconds=codes.STEP)
    )
    assert codes.seconds_left(START) == codes.STEP - 30


def test_a_code_of_another_shift_is_named_as_such():
    assert refusal(codes.make_code(8, SECRET, START), START, shift_id=7) == Refusal.OTHER_SHIFT


def tampered_codes():
    good = codes.make_code(7, SECRET, START)
    shift, step, mac = good.split(".")
    flipped = mac[:-1] + ("A" if mac[-1] != "A" else "B")
    return [
        f"{shift}.{step}.{flipped}",  # signature changed
        f"8.{step}.{mac}",  # shift changed, signature kept
        f"{shift}.{int(step) + 1}.{mac}",  # step moved forward to live longer
        f"{shift}.{step}",
        "",
        "not-a-code",
        "7.x.y",
        ".".join([shift, step, mac, "1"]),
        codes.make_code(7, "another-secret", START),  # signed with another key
        codes.make_ticket(7, 1, SECRET, START),  # a ticket is not a code
        "７.２９９３４７３０." + mac,  # full-width digits
        good * 10,
    ]


@pytest.mark.parametrize("code", tampered_codes())
def test_a_tampered_code_is_refused(code):
    assert refusal(code, START) == Refusal.MALFORMED


def test_a_ticket_is_bound_to_the_person_the_shift_and_ten_minutes():
    ticket = codes.make_ticket(7, 42, SECRET, START)

    def check(now=START, user_id=42, shift_id=7):
        codes.verify_ticket(
            ticket,
            shift_id=shift_id,
            user_id=user_id,
            opens=OPENS,
            closes=CLOSES,
            secret=SECRET,
            now=now,
        )

    check()
    check(START + codes.TICKET_MAX_AGE)
    for kwargs, reason in [
        ({"user_id": 43}, Refusal.MALFORMED),
        ({"shift_id": 8}, Refusal.OTHER_SHIFT),
        ({"now": START + codes.TICKET_MAX_AGE + timedelta(seconds=1)}, Refusal.EXPIRED),
        ({"now": END + timedelta(seconds=1)}, Refusal.CLOSED),
    ]:
        with pytest.raises(CodeRefused) as info:
            check(**kwargs)
        assert info.value.reason == reason


# --- the service (under the lock, both databases) ------------------------------------------------


@pytest.fixture
def gate(make_shift, make_user, make_signup):
    """A two-hour shift starting at START, a confirmed volunteer on it."""
    shift = make_shift(starts_at=START, length=timedelta(hours=2), capacity=5)
    person = make_user("王秀英")
    signup = make_signup(shift, person)
    return shift, person, signup


def scan(person, shift, now, code=None):
    code = code if code is not None else codes.make_code(shift.id, SECRET, now)
    return selfcheck.open_link(person, shift, code, now)


def tap(person, shift, now, code=None):
    visit = scan(person, shift, now, code)
    return selfcheck.confirm(person, shift.id, visit.ticket or "", now)


@pytest.mark.both_databases
def test_check_in_then_check_out_near_the_end(db, gate):
    shift, person, signup = gate
    arrived = START - timedelta(minutes=12)
    visit = scan(person, shift, arrived)
    assert visit.action == Action.CHECK_IN and visit.ticket
    assert db.session.get(Signup, signup.id).checked_in_at is None  # opening changes nothing

    action, _ = tap(person, shift, arrived)
    db.session.commit()
    assert action == Action.CHECK_IN
    row = db.session.get(Signup, signup.id)
    assert (row.attendance, row.checkin_method) == (Attendance.ATTENDED, CheckinMethod.QR)
    assert row.checked_in_at == arrived and row.checked_out_at is None

    # In between: already checked in, at 07:48 local time; nothing to press.
    middle = START + timedelta(minutes=50)
    visit = scan(person, shift, middle)
    assert visit.action is None and visit.ticket is None
    assert "你已于 07:48 签到" in visit.message and "09:30 起" in visit.message
    action, _ = selfcheck.confirm(
        person, shift.id, codes.make_ticket(shift.id, person.id, SECRET, middle), middle
    )
    assert action is None

    leaving = END - timedelta(minutes=20)
    assert scan(person, shift, leaving).action == Action.CHECK_OUT
    action, _ = tap(person, shift, leaving)
    db.session.commit()
    assert action == Action.CHECK_OUT
    row = db.session.get(Signup, signup.id)
    assert row.checked_out_at == leaving and row.checked_in_at == arrived
    visit = scan(person, shift, leaving + timedelta(minutes=5))
    assert visit.action is None and "签退" in visit.message


@pytest.mark.both_databases
def test_a_late_arrival_is_not_checked_out_by_a_second_scan(db, gate):
    shift, person, _signup = gate
    late = END - timedelta(minutes=15)
    tap(person, shift, late)
    db.session.commit()
    assert scan(person, shift, late + timedelta(minutes=1)).action is None
    assert scan(person, shift, late + selfcheck.MIN_STAY).action == Action.CHECK_OUT


@pytest.mark.both_databases
@pytest.mark.parametrize(
    ("status", "reason"),
    [
        (SignupStatus.WAITLISTED, "waitlisted"),
        (SignupStatus.PENDING, "pending"),
        (SignupStatus.CANCELLED, "no_place"),
        (None, "no_place"),
    ],
)
def test_only_a_confirmed_place_checks_in(db, make_shift, make_user, make_signup, status, reason):
    shift = make_shift(starts_at=START, capacity=5)
    person = make_user()
    if status is not None:
        make_signup(shift, person, status=status)
    now = START
    with pytest.raises(SelfCheckError) as info:
        scan(person, shift, now)
    assert info.value.reason == reason
    # A ticket from elsewhere does not help either: the POST re-checks the place.
    with pytest.raises(SelfCheckError) as info:
        selfcheck.confirm(
            person, shift.id, codes.make_ticket(shift.id, person.id, SECRET, now), now
        )
    assert info.value.reason == reason
    db.session.rollback()
    assert (
        db.session.scalar(
            db.select(db.func.count()).select_from(Signup).where(Signup.checked_in_at.is_not(None))
        )
        == 0
    )


@pytest.mark.both_databases
@pytest.mark.parametrize(
    ("code_of", "now", "reason"),
    [
        ("other", START, "other_shift"),
        ("this-old", START, "expired"),
        ("tampered", START, "malformed"),
        ("this", START - timedelta(minutes=31), "not_yet"),
        ("this", END + timedelta(minutes=1), "closed"),
    ],
)
def test_refused_codes_change_nothing(db, gate, make_shift, code_of, now, reason):
    shift, person, signup = gate
    other = make_shift(starts_at=START, capacity=5)
    code = {
        "other": codes.make_code(other.id, SECRET, now),
        "this-old": codes.make_code(shift.id, SECRET, now - timedelta(minutes=2)),
        "tampered": codes.make_code(shift.id, SECRET, now)[:-2] + "zz",
        "this": codes.make_code(shift.id, SECRET, now),
    }[code_of]
    with pytest.raises(SelfCheckError) as info:
        scan(person, shift, now, code)
    assert info.value.reason == reason
    assert str(info.value)  # a sentence for the person
    assert db.session.get(Signup, signup.id).checked_in_at is None


def test_the_screen_shows_a_code_only_while_check_in_is_open(app, gate):
    shift, _person, _signup = gate
    assert selfcheck.screen_code(shift, START - timedelta(minutes=31)) is None
    assert selfcheck.screen_state(shift, START - timedelta(minutes=31))[0] == "not_yet"
    assert selfcheck.screen_code(shift, START - timedelta(minutes=30))
    assert selfcheck.screen_code(shift, END + timedelta(seconds=1)) is None
    assert selfcheck.screen_state(shift, END + timedelta(seconds=1))[0] == "closed"


# --- the pages ------------------------------------------------------------------------------


@pytest.fixture
def live(make_shift, make_user, make_signup, make_unit, make_activity):
    """A shift that started 10 minutes ago (real clock), its organizer and a volunteer."""
    unit = make_unit("区交警大队")
    activity = make_activity(unit=unit, title="下尾街路口交通劝导")
    shift = make_shift(activity, starts_in=timedelta(minutes=-10), length=timedelta(hours=2))
    organizer = make_user("陈志强", units=[unit])
    person = make_user("王秀英", phone="13900000077")
    signup = make_signup(shift, person)
    return shift, organizer, person, signup


def link_of(client, shift) -> str:
    data = client.get(f"/organize/shifts/{shift.id}/checkin-screen.json").get_json()
    assert data["state"] == "open" and data["link"].startswith("http")
    return "/" + data["link"].split("/", 3)[3]


def test_the_organizer_screen_shows_qr_link_and_counts(client, login, live):
    shift, organizer, _person, _signup = live
    login(organizer)
    response = client.get(f"/organize/shifts/{shift.id}/checkin-screen")
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    html = response.get_data(as_text=True)
    assert "<svg" in html and f"/checkin/{shift.id}/{shift.id}." in html
    assert "已签到 0 / 已确认 1" in html
    assert 'http-equiv="refresh" content="60"' in html and "js/checkin.js" in html
    data = client.get(f"/organize/shifts/{shift.id}/checkin-screen.json").get_json()
    assert data["svg"].startswith("<svg") and data["confirmed"] == 1
    assert data["checked_in"] == 0 and data["refresh"] == 20


@pytest.mark.parametrize("who", ["resident", "other_organizer"])
def test_the_screen_and_its_json_are_for_the_shifts_organizers_only(
    client, login, live, make_user, make_unit, who
):
    shift, _organizer, person, _signup = live
    login(person if who == "resident" else make_user("李建国", units=[make_unit()]))
    for url in (
        f"/organize/shifts/{shift.id}/checkin-screen",
        f"/organize/shifts/{shift.id}/checkin-screen.json",
    ):
        assert client.get(url).status_code == 403


def test_a_volunteer_scans_confirms_and_sees_the_time(app, client, login, live, db):
    shift, organizer, person, signup = live
    login(organizer)
    link = link_of(client, shift)
    login(person)
    page = client.get(link)
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "确认签到" in html
    assert page.headers["Referrer-Policy"] == "no-referrer"
    assert db.session.get(Signup, signup.id).checked_in_at is None  # the GET changed nothing
    ticket = html.split('name="ticket" type="hidden" value="')[1].split('"')[0]
    done = client.post(link, data={"ticket": ticket})
    assert done.status_code == 302 and done.headers["Location"] == f"/checkin/{shift.id}"
    row = db.session.get(Signup, signup.id)
    assert row.attendance == Attendance.ATTENDED and row.checkin_method == CheckinMethod.QR
    result = client.get(f"/checkin/{shift.id}").get_data(as_text=True)
    with app.test_request_context():
        from portal.timeutil import fmt_time

        assert f"已签到 {fmt_time(row.checked_in_at)}" in result
    again = client.get(link).get_data(as_text=True)
    assert "你已于" in again and "确认签到" not in again
    login(organizer)
    assert (
        client.get(f"/organize/shifts/{shift.id}/checkin-screen.json").get_json()["checked_in"] == 1
    )


def test_refusals_read_in_chinese_and_in_english(client, login, live, make_shift):
    shift, _organizer, person, signup = live
    login(person)
    foreign = codes.make_code(shift.id + 1000, SECRET, datetime.now(UTC))
    zh = client.get(f"/checkin/{shift.id}/{foreign}").get_data(as_text=True)
    assert "这个签到码属于另一个班次" in zh
    en = client.get(f"/checkin/{shift.id}/{foreign}?lang=en").get_data(as_text=True)
    assert "This check-in code belongs to another shift" in en
    old = codes.make_code(shift.id, SECRET, datetime.now(UTC) - timedelta(minutes=3))
    assert "签到码已过期" in client.get(f"/checkin/{shift.id}/{old}").get_data(as_text=True)
    assert "has expired" in client.get(f"/checkin/{shift.id}/{old}?lang=en").get_data(as_text=True)
    bad = client.get(f"/checkin/{shift.id}/{shift.id}.1.AAAA?lang=en").get_data(as_text=True)
    assert "not valid" in bad
    assert client.post(f"/checkin/{shift.id}/x", data={"ticket": "forged"}).status_code == 200
    assert signup.checked_in_at is None


def test_someone_without_a_place_is_told_so(client, login, live, make_user):
    shift, _organizer, _person, _signup = live
    login(make_user("路人"))
    code = codes.make_code(shift.id, SECRET, datetime.now(UTC))
    zh = client.get(f"/checkin/{shift.id}/{code}").get_data(as_text=True)
    assert "你没有报名这个班次" in zh and "确认签到" not in zh
    en = client.get(f"/checkin/{shift.id}/{code}?lang=en").get_data(as_text=True)
    assert "You have not signed up for this shift" in en


def test_not_signed_in_goes_to_log_in_and_back(client, live):
    shift, _organizer, _person, _signup = live
    link = f"/checkin/{shift.id}/{codes.make_code(shift.id, SECRET, datetime.now(UTC))}"
    response = client.get(link)
    assert response.status_code == 302
    assert response.headers["Location"] == "/account/login?next=" + quote(link, safe="")
    back = client.post(
        "/account/login?next=" + quote(link, safe=""),
        data={"phone": "13900000077", "password": TEST_PASSWORD, "next": link},
    )
    assert back.status_code == 302 and back.headers["Location"] == link
    assert "确认签到" in client.get(link).get_data(as_text=True)

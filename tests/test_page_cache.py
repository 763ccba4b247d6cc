"""The rendered-page cache (portal/pagecache.py): the activity list, an activity page and
"my schedule" come from the cache, yet every page equals a fresh render after any write made
through the services (sign-up, cancellation, activity and shift edits, a zone renamed), on
both databases; per-response tokens, languages, people, flashed messages and the clock are
respected."""

from __future__ import annotations

import re
import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from portal import pagecache
from portal.admin.services import ZoneData, save_zone
from portal.database import begin_write
from portal.models import Signup
from portal.organize.services.activities import ACTIVITY_FIELDS, update_activity
from portal.organize.services.shifts import SHIFT_FIELDS, cancel_shift, update_shift
from portal.signups.services import cancel_signup, sign_up

pytestmark = pytest.mark.both_databases


def _same(html: str) -> str:
    """The page without what differs per response (CSRF tokens, CSP nonces)."""
    html = re.sub(r'name="csrf_token" value="[^"]*"', 'name="csrf_token" value=""', html)
    return re.sub(r'nonce="[^"]*"', 'nonce=""', html)


@pytest.fixture
def town(db, make_zone, make_unit, make_user, make_activity, make_shift, make_signup):
    zones = [make_zone("东门片区"), make_zone("西湖片区")]
    unit = make_unit("城关镇文明办")
    organizer = make_user("组织者", units=[unit])
    admin = make_user("管理员", is_admin=True)
    resident = make_user("王秀英")
    others = [make_user(f"居民{i}") for i in range(4)]
    traffic = make_activity("校门口交通劝导", zone=zones[0], unit=unit)
    clean = make_activity("河道清洁", zone=zones[1], unit=unit)
    shifts = [
        make_shift(traffic, starts_in=timedelta(days=1, hours=h), capacity=2) for h in (0, 3, 6)
    ] + [make_shift(clean, starts_in=timedelta(days=2), capacity=3)]
    mine = make_signup(shifts[0], resident)
    make_signup(shifts[1], others[0])
    db.session.commit()
    return {
        "zones": zones,
        "unit": unit,
        "organizer": organizer,
        "admin": admin,
        "resident": resident,
        "others": others,
        "activities": [traffic, clean],
        "shifts": shifts,
        "mine": mine,
    }


@pytest.fixture
def resident_client(app, client, login, town):
    other = app.test_client()
    login(town["resident"], on=other)
    return other


def _pages(town) -> list[tuple[str, str]]:
    traffic = town["activities"][0]
    return [
        ("anonymous", "/activities"),
        ("anonymous", f"/activities?zone={town['zones'][0].id}"),
        ("anonymous", "/activities?q=" + "交通 劝导"),
        ("anonymous", f"/zones/{town['zones'][1].id}"),
        ("anonymous", f"/activities/{traffic.id}"),
        ("anonymous", f"/activities/{traffic.id}?past=1"),
        ("resident", "/activities"),
        ("resident", f"/activities/{traffic.id}"),
        ("resident", "/me"),
    ]


def _get(app, clients, who: str, path: str, cached: bool = True) -> str:
    app.config["PAGE_CACHE"] = cached
    try:
        resp = clients[who].get(path)
    finally:
        app.config["PAGE_CACHE"] = True
    assert resp.status_code == 200, (who, path, resp.status_code)
    return _same(resp.get_data(as_text=True))


def _assert_fresh(app, clients, town) -> dict:
    seen = {}
    for who, path in _pages(town):
        first = _get(app, clients, who, path)
        again = _get(app, clients, who, path)  # a hit now, whatever the first was
        truth = _get(app, clients, who, path, cached=False)
        assert first == truth, (who, path)
        assert again == truth, (who, path)
        seen[(who, path)] = truth
    return seen


def _sign_up(town):
    sign_up(town["others"][1], town["shifts"][2].id)


def _cancel(town):
    cancel_signup(town["resident"], town["mine"].id)


def _sign_up_resident(town):
    sign_up(town["resident"], town["shifts"][3].id)


def _edit_activity(town):
    activity = town["activities"][0]
    data = {f: getattr(activity, f) for f in ACTIVITY_FIELDS}
    data["title"] = "校门口交通文明劝导（早）"
    data["place"] = "县一小南门"
    data["programme_ids"] = [p.id for p in activity.programmes]
    update_activity(town["organizer"], activity, data)


def _edit_shift(town):
    shift = town["shifts"][1]
    values = {f: getattr(shift, f) for f in SHIFT_FIELDS}
    values["capacity"] = 5
    values["post_name"] = "南门岗"
    update_shift(town["organizer"], shift, values)


def _move_shift(town):
    shift = town["shifts"][2]
    values = {f: getattr(shift, f) for f in SHIFT_FIELDS}
    values["starts_at"] = shift.starts_at + timedelta(days=3)
    values["ends_at"] = shift.ends_at + timedelta(days=3)
    update_shift(town["organizer"], shift, values)


def _cancel_shift(town):
    cancel_shift(town["organizer"], town["shifts"][0], "下雨")


def _rename_zone(town):
    zone = town["zones"][0]
    save_zone(
        town["admin"],
        zone,
        ZoneData(
            name="东门新区",
            street=zone.street or "",
            population=zone.population,
            description=zone.description or "",
            leader_ids=[u.id for u in zone.leaders],
        ),
    )


WRITES = [
    _sign_up,
    _cancel,
    _sign_up_resident,
    _edit_activity,
    _edit_shift,
    _move_shift,
    _cancel_shift,
    _rename_zone,
]


@pytest.mark.parametrize("write", WRITES, ids=[w.__name__.strip("_") for w in WRITES])
def test_every_cached_page_equals_a_fresh_render_after_a_write(
    app, db, client, resident_client, town, write
):
    clients = {"anonymous": client, "resident": resident_client}
    before = _assert_fresh(app, clients, town)  # all cached now
    db.session.commit()
    begin_write(db.session())
    write(town)
    db.session.commit()
    after = _assert_fresh(app, clients, town)
    assert after != before  # the write shows somewhere


def test_a_hit_skips_the_page_statements(app, client, resident_client, town, count_queries):
    traffic = town["activities"][0]
    for who, c, path in [
        ("anonymous", client, "/activities"),
        ("anonymous", client, f"/activities/{traffic.id}"),
        ("resident", resident_client, "/me"),
    ]:
        with count_queries() as miss:
            first = c.get(path).get_data(as_text=True)
        with count_queries() as hit:
            again = c.get(path).get_data(as_text=True)
        assert _same(first) == _same(again), path
        assert len(hit) < len(miss), path
        # Anonymous: the data version only. Logged in: the person and their unread count too.
        assert len(hit) <= (1 if who == "anonymous" else 3), (path, hit.statements)


def test_pages_differ_by_person_and_language(app, client, resident_client, town, make_user, login):
    traffic = town["activities"][0]
    path = f"/activities/{traffic.id}"
    mine = resident_client.get(path).get_data(as_text=True)
    anonymous = client.get(path).get_data(as_text=True)
    assert "你已报名这个班次" in mine
    assert "你已报名这个班次" not in anonymous
    stranger = app.test_client()
    login(town["others"][3], on=stranger)
    theirs = stranger.get(path).get_data(as_text=True)
    assert "你已报名这个班次" not in theirs
    assert "居民3" not in mine and "王秀英" not in theirs  # nobody sees another's page
    assert "王秀英" in resident_client.get("/me").get_data(as_text=True)
    assert "居民3" in stranger.get("/me").get_data(as_text=True)

    assert 'lang="zh-CN"' in client.get("/activities").get_data(as_text=True)
    client.set_cookie("lang", "en")
    english = client.get("/activities").get_data(as_text=True)
    assert '<html lang="en"' in english
    assert "Find activities" in english or "activities" in english.lower()
    client.delete_cookie("lang")
    assert 'lang="zh-CN"' in client.get("/activities").get_data(as_text=True)


@pytest.mark.parametrize("app_config", [{"WTF_CSRF_ENABLED": True}])
def test_each_response_gets_its_own_csrf_token_and_nonce(app, client, town, login):
    traffic = town["activities"][0]
    path = f"/activities/{traffic.id}"
    people = [town["others"][1], town["others"][2]]
    tokens = []
    for person in people:
        c = app.test_client()
        login(person, on=c)
        html = c.get(path).get_data(as_text=True)
        assert not re.search(r"pc[cn][0-9a-f]{24}", html)  # no placeholder left
        token = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
        tokens.append(token)
        # The token on the (possibly cached) page is this session's: the sign-up goes through.
        resp = c.post(f"/shifts/{town['shifts'][2].id}/signup", data={"csrf_token": token})
        assert resp.status_code == 302, resp.status_code
    assert tokens[0] != tokens[1]
    anonymous = [client.get("/activities"), app.test_client().get("/activities")]
    csp = [r.headers["Content-Security-Policy"] for r in anonymous]
    bodies = [r.get_data(as_text=True) for r in anonymous]
    for body in bodies:
        assert not re.search(r"pc[cn][0-9a-f]{24}", body)
    for header, body in zip(csp, bodies, strict=True):
        for nonce in re.findall(r'nonce="([^"]+)"', body):
            assert f"'nonce-{nonce}'" in header


def test_flashed_messages_are_shown_once_and_never_cached(app, db, resident_client, town):
    traffic = town["activities"][0]
    shift = town["shifts"][2]
    path = f"/activities/{traffic.id}"
    resident_client.get(path)  # cached
    resp = resident_client.post(f"/shifts/{shift.id}/signup", follow_redirects=True)
    html = resp.get_data(as_text=True)
    assert "报名成功" in html or "你已报名" in html
    flashes = re.findall(r'<p class="flash flash-success[^"]*">([^<]+)</p>', html)
    assert flashes
    later = resident_client.get(path).get_data(as_text=True)
    for message in flashes:
        assert message not in later
    app.config["PAGE_CACHE"] = False
    fresh = resident_client.get(path).get_data(as_text=True)
    app.config["PAGE_CACHE"] = True
    assert _same(later) == _same(fresh)


def test_headers_of_a_hit_are_those_of_a_fresh_page(app, client, resident_client, town):
    traffic = town["activities"][0]
    for c, path in [
        (client, "/activities"),
        (client, f"/activities/{traffic.id}"),
        (resident_client, f"/activities/{traffic.id}"),
        (resident_client, "/me"),
    ]:
        app.config["PAGE_CACHE"] = False
        fresh = c.get(path)
        app.config["PAGE_CACHE"] = True
        c.get(path)
        hit = c.get(path)
        for name in ("Cache-Control", "Vary", "ETag", "Content-Type", "Expires"):
            assert hit.headers.get(name) == fresh.headers.get(name), (path, name)


def _entries(app) -> list:
    return list(app.extensions["page_cache"].entries.items())


def test_a_list_page_is_kept_no_later_than_the_next_shift_start(app, client, town, monkeypatch):
    client.get("/activities")
    (key, entry), *_ = [(k, e) for k, e in _entries(app) if k[2] == "/activities?"]
    first = min(s.starts_at for s in town["shifts"])
    assert entry.valid_until <= first
    # Once that moment has come, the page is worked out again (it drops that shift).
    later = entry.valid_until + timedelta(seconds=1)
    monkeypatch.setattr(pagecache, "now_utc", lambda: later)
    client.get("/activities")
    (_k, again), *_ = [(k, e) for k, e in _entries(app) if k[2] == "/activities?"]
    assert again is not entry


def test_an_activity_page_is_kept_until_sign_up_closes(app, db, client, town):
    shift = town["shifts"][1]
    closes = datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=30)
    db.session.commit()
    begin_write(db.session())
    values = {f: getattr(shift, f) for f in SHIFT_FIELDS}
    values["signup_closes_at"] = closes
    update_shift(town["organizer"], shift, values)
    db.session.commit()
    client.get(f"/activities/{shift.activity_id}")
    (entry,) = [e for k, e in _entries(app) if k[2].startswith(f"/activities/{shift.activity_id}")]
    assert entry.valid_until == closes


def test_my_schedule_is_kept_until_the_next_cancellation_deadline(
    app, db, resident_client, town, make_activity, make_shift, make_signup
):
    soon = make_activity("社区义诊", cancellation_deadline_hours=2)
    shift = make_shift(soon, starts_in=timedelta(hours=2, minutes=20))
    make_signup(shift, town["resident"])
    html = resident_client.get("/me").get_data(as_text=True)
    assert "取消报名" in html  # still allowed: the deadline is 20 minutes away
    (entry,) = [e for k, e in _entries(app) if k[1] == "signups.my_schedule"]
    assert entry.valid_until == shift.starts_at - timedelta(hours=2)


def test_concurrent_sign_ups_and_edits_never_leave_a_stale_page(
    app, db, client, resident_client, town, make_user
):
    """Writers sign people up, cancel and edit while readers fill the cache; afterwards each
    cached page equals a fresh render."""
    people = [make_user(f"报名者{i}") for i in range(6)]
    db.session.commit()
    ids = {
        "people": [p.id for p in people],
        "shifts": [s.id for s in town["shifts"]],
        "organizer": town["organizer"].id,
    }
    errors: list[BaseException] = []
    stop = threading.Event()
    clients = {"anonymous": client, "resident": resident_client}

    def writer(n: int) -> None:
        from portal.extensions import db as _db
        from portal.models import Shift, User

        try:
            with app.app_context():
                for i in range(4):
                    person = _db.session.get(User, ids["people"][(n * 4 + i) % len(people)])
                    shift_id = ids["shifts"][(n + i) % len(ids["shifts"])]
                    begin_write(_db.session())
                    try:
                        sign_up(person, shift_id)
                    except Exception:  # noqa: BLE001 - a refused sign-up is fine here
                        _db.session.rollback()
                        continue
                    _db.session.commit()
                    begin_write(_db.session())
                    signup = _db.session.scalar(
                        select(Signup).where(
                            Signup.user_id == person.id, Signup.shift_id == shift_id
                        )
                    )
                    if i % 2 and signup is not None:
                        cancel_signup(person, signup.id)
                    else:
                        shift = _db.session.get(Shift, shift_id)
                        organizer = _db.session.get(User, ids["organizer"])
                        values = {f: getattr(shift, f) for f in SHIFT_FIELDS}
                        values["capacity"] = max(shift.taken_count, shift.capacity) + 1
                        update_shift(organizer, shift, values)
                    _db.session.commit()
                _db.session.remove()
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            errors.append(exc)

    def reader() -> None:
        try:
            with app.app_context():
                while not stop.is_set():
                    for who, path in _pages(town):
                        assert clients[who].get(path).status_code == 200
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            errors.append(exc)

    db.session.commit()
    readers = [threading.Thread(target=reader)]
    writers = [threading.Thread(target=writer, args=(n,)) for n in range(2)]
    for t in readers + writers:
        t.start()
    for t in writers:
        t.join()
    stop.set()
    for t in readers:
        t.join()
    assert not errors, errors
    db.session.expire_all()
    _assert_fresh(app, clients, town)


def test_a_write_between_loading_the_person_and_reading_the_version_is_not_lost(
    app, db, resident_client, town, monkeypatch
):
    """The person is loaded before the page reads the data version; a rename committed in
    between (PostgreSQL reads committed data statement by statement) must not be kept under
    the newer version with the older name."""
    from sqlalchemy import update

    from portal.dashboard import freshness
    from portal.models import User

    resident_id = town["resident"].id
    real = freshness.current_key
    calls = {"n": 0}

    def rename_first(session):
        calls["n"] += 1
        if calls["n"] == 1:
            with db.engine.begin() as conn:  # another request's transaction, committed now
                conn.execute(update(User).where(User.id == resident_id).values(real_name="王秀兰"))
        return real(session)

    monkeypatch.setattr(freshness, "current_key", rename_first)
    resident_client.get("/me")
    assert "王秀兰" in resident_client.get("/me").get_data(as_text=True)

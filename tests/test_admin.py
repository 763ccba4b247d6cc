"""Administration: zones, units, the programme tree, people and roles, the counter's one-time
password. Rules as tables against the services; every form's bad input through the pages
(clear message, nothing saved, never a 500); every change's audit entry."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from portal.admin import services
from portal.admin.services import AdminError, ProgrammeData, ZoneData
from portal.models import AuditEntry, Programme, Shift, Unit, User, Zone


def _count(db, model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def _entries(db, action: str) -> list[AuditEntry]:
    return list(
        db.session.scalars(
            select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)
        )
    )


@pytest.fixture
def admin(make_user):
    return make_user("指挥中心", is_admin=True)


def _state(db) -> tuple:
    """Everything an admin form could change, to show that a refused form changed nothing."""
    zones = [
        (z.name, z.street, z.population, z.description, sorted(u.id for u in z.leaders))
        for z in db.session.scalars(select(Zone).order_by(Zone.id))
    ]
    units = [(u.name, str(u.kind)) for u in db.session.scalars(select(Unit).order_by(Unit.id))]
    progs = [
        (p.code, p.name, p.parent_id, p.position)
        for p in db.session.scalars(select(Programme).order_by(Programme.id))
    ]
    people = [
        (
            u.is_admin,
            u.active,
            sorted(x.id for x in u.units),
            sorted(z.id for z in u.led_zones),
            u.password_hash,
        )
        for u in db.session.scalars(select(User).order_by(User.id))
    ]
    return zones, units, progs, people, _count(db, AuditEntry)


# --- zones ------------------------------------------------------------------------------------


def test_zone_create_and_edit_with_leaders_and_audit(app, db, admin, make_user):
    lin, wang = make_user("林建华"), make_user("王秀英")
    with app.test_request_context():
        zone = services.save_zone(admin, None, ZoneData("立后", "城关街道", 12000, "", [lin.id]))
        db.session.commit()
        assert [u.real_name for u in zone.leaders] == ["林建华"]
        assert zone in lin.led_zones
        services.save_zone(admin, zone, ZoneData("立后", "城关街道", 12500, "老城区", [wang.id]))
        db.session.commit()
    [created] = _entries(db, "zone.create")
    assert created.after["leaders"] == ["林建华"] and created.actor_id == admin.id
    [updated] = _entries(db, "zone.update")
    assert updated.before == {"population": 12000, "description": "", "leaders": ["林建华"]}
    assert updated.after == {"population": 12500, "description": "老城区", "leaders": ["王秀英"]}
    assert [z.name for z in wang.led_zones] == ["立后"] and lin.led_zones == []


@pytest.mark.parametrize(
    ("data", "field"),
    [
        (ZoneData("", "", 0), "name"),
        (ZoneData("   ", "", 0), "name"),
        (ZoneData("长" * 61, "", 0), "name"),
        (ZoneData("新区", "街" * 61, 0), "street"),
        (ZoneData("新区", "", -1), "population"),
        (ZoneData("新区", "", services.MAX_POPULATION + 1), "population"),
        (ZoneData("新区", "", 0, "说" * 2001), "description"),
        (ZoneData("已有", "", 0), "name"),  # the name is taken
        (ZoneData("新区", "", 0, "", [999_999]), "leaders"),  # nobody has that id
    ],
)
def test_zone_rules(app, db, admin, make_zone, data, field):
    make_zone("已有")
    before = _state(db)
    with app.test_request_context(), pytest.raises(AdminError) as err:
        services.save_zone(admin, None, data)
    db.session.rollback()
    assert err.value.field == field and str(err.value)
    assert _state(db) == before


def test_a_deactivated_person_cannot_become_a_leader(app, db, admin, make_user):
    gone = make_user("停用者", active=False)
    with app.test_request_context(), pytest.raises(AdminError):
        services.save_zone(admin, None, ZoneData("新区", "", 0, "", [gone.id]))


@pytest.mark.both_databases
@pytest.mark.parametrize("what", ["zone", "unit"])
def test_renaming_a_zone_or_unit_raises_the_calendar_sequence(
    app, db, admin, make_activity, make_shift, what
):
    activity = make_activity()
    upcoming = make_shift(activity, starts_in=timedelta(days=2))
    long_ago = make_shift(activity, starts_in=timedelta(days=-200))
    seq, old_seq, stamp = upcoming.sequence, long_ago.sequence, upcoming.updated_at
    with app.test_request_context():
        if what == "zone":
            z = activity.zone
            services.save_zone(admin, z, ZoneData(z.name + "新", z.street, z.population))
        else:
            services.save_unit(admin, activity.unit, activity.unit.name + "新", "department")
        db.session.commit()
    db.session.expire_all()
    fresh = db.session.get(Shift, upcoming.id)
    assert fresh.sequence == seq + 1
    assert fresh.updated_at > stamp  # what the feeds' ETags cover
    assert db.session.get(Shift, long_ago.id).sequence == old_seq  # in no feed any more


def test_a_zone_edit_without_rename_leaves_calendars_alone(app, db, admin, make_shift):
    shift = make_shift()
    seq, zone = shift.sequence, shift.activity.zone
    with app.test_request_context():
        services.save_zone(admin, zone, ZoneData(zone.name, "福海镇", 99))
        db.session.commit()
    db.session.expire_all()
    assert db.session.get(Shift, shift.id).sequence == seq


# --- units ------------------------------------------------------------------------------------


def test_unit_create_and_rename_are_audited(app, db, admin):
    with app.test_request_context():
        unit = services.save_unit(admin, None, "区文明办", "department")
        db.session.commit()
        services.save_unit(admin, unit, "区文明办（创城办）", "street_office")
        db.session.commit()
    assert _entries(db, "unit.create")[0].after == {"name": "区文明办", "kind": "department"}
    upd = _entries(db, "unit.update")[0]
    assert upd.before == {"name": "区文明办", "kind": "department"}
    assert upd.after == {"name": "区文明办（创城办）", "kind": "street_office"}
    assert upd.unit_id == unit.id


@pytest.mark.parametrize(
    ("name", "kind", "field"),
    [
        ("", "department", "name"),
        ("单" * 81, "department", "name"),
        ("区城管局", "department", "name"),
        ("新单位", "", "kind"),
        ("新单位", "ministry", "kind"),
    ],
)
def test_unit_rules(app, db, admin, make_unit, name, kind, field):
    make_unit("区城管局")
    before = _state(db)
    with app.test_request_context(), pytest.raises(AdminError) as err:
        services.save_unit(admin, None, name, kind)
    db.session.rollback()
    assert err.value.field == field
    assert _state(db) == before


# --- the programme tree -----------------------------------------------------------------------


@pytest.fixture
def tree(db, make_programme):
    """五进 → 进社区 → 社区议事；专项整治 alone."""
    root = make_programme("五进", code="wujin")
    mid = make_programme("进社区", parent=root, code="wujin-shequ")
    leaf = make_programme("社区议事", parent=mid, code="yishi")
    other = make_programme("专项整治", code="zhengzhi")
    return {"root": root, "mid": mid, "leaf": leaf, "other": other}


@pytest.mark.both_databases
@pytest.mark.parametrize(
    ("node", "new_parent", "allowed"),
    [
        ("root", "root", False),  # itself
        ("root", "mid", False),  # its child
        ("root", "leaf", False),  # its grandchild
        ("mid", "leaf", False),
        ("leaf", "other", True),
        ("mid", "other", True),  # the subtree moves with it
        ("other", "leaf", True),
        ("mid", None, True),  # becomes a top-level node
    ],
)
def test_programme_tree_has_no_cycles(app, db, admin, tree, node, new_parent, allowed):
    p = tree[node]
    parent_id = tree[new_parent].id if new_parent else None
    data = ProgrammeData(p.code, p.name, parent_id, p.position, p.description)
    before = _state(db)
    with app.test_request_context():
        if allowed:
            services.save_programme(admin, p, data)
            db.session.commit()
            assert p.parent_id == parent_id
            assert _entries(db, "programme.update")
        else:
            with pytest.raises(AdminError) as err:
                services.save_programme(admin, p, data)
            db.session.rollback()
            assert err.value.field == "parent_id"
            assert _state(db) == before


@pytest.mark.parametrize(
    ("code", "name", "position", "field"),
    [
        ("", "名", 0, "code"),
        ("Has Space", "名", 0, "code"),
        ("x" * 41, "名", 0, "code"),
        ("wujin", "名", 0, "code"),
        ("new", "", 0, "name"),
        ("new", "名", -1, "position"),
        ("new", "名", 10_000, "position"),
    ],
)
def test_programme_field_rules(app, db, admin, tree, code, name, position, field):
    before = _state(db)
    with app.test_request_context(), pytest.raises(AdminError) as err:
        services.save_programme(admin, None, ProgrammeData(code, name, None, position))
    db.session.rollback()
    assert err.value.field == field
    assert _state(db) == before


def test_tree_lists_parents_before_children(app, db, tree):
    with app.test_request_context():
        order = [(p.name, depth) for p, depth in services.programme_tree()]
    assert order.index(("五进", 0)) < order.index(("进社区", 1)) < order.index(("社区议事", 2))


@pytest.mark.parametrize(
    ("node", "refusal"),
    [("root", "下级项目"), ("mid", "下级项目"), ("used", "个活动"), ("other", None)],
)
def test_deleting_a_programme(app, db, admin, tree, make_activity, node, refusal):
    used = tree["leaf"]
    make_activity(programmes=[used])
    tree["used"] = used
    target = tree[node]
    target_id, name = target.id, target.name
    with app.test_request_context():
        if refusal:
            with pytest.raises(AdminError, match=refusal):
                services.delete_programme(admin, target)
            db.session.rollback()
            assert db.session.get(Programme, target_id) is not None
            assert not _entries(db, "programme.delete")
        else:
            services.delete_programme(admin, target)
            db.session.commit()
            assert db.session.get(Programme, target_id) is None
            [entry] = _entries(db, "programme.delete")
            assert entry.before["name"] == name


# --- people and roles -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "grant", "revoke", "action", "key"),
    [
        (
            "organizer",
            services.grant_organizer,
            services.revoke_organizer,
            "role.organizer",
            "units",
        ),
        (
            "leader",
            services.grant_zone_leader,
            services.revoke_zone_leader,
            "role.zone_leader",
            "zones",
        ),
    ],
)
def test_roles_granted_and_removed_with_audit(
    app, db, admin, make_user, make_unit, make_zone, role, grant, revoke, action, key
):
    person = make_user("陈志强")
    place = make_unit("区交警大队") if role == "organizer" else make_zone("立后")
    with app.test_request_context():
        grant(admin, person, place)
        db.session.commit()
        assert place in (person.units if role == "organizer" else person.led_zones)
        with pytest.raises(AdminError):  # twice is refused with a message
            grant(admin, person, place)
        db.session.rollback()
        revoke(admin, person, place)
        db.session.commit()
        assert place not in (person.units if role == "organizer" else person.led_zones)
        with pytest.raises(AdminError):
            revoke(admin, person, place)
        db.session.rollback()
    [granted] = _entries(db, action + ".grant")
    [revoked] = _entries(db, action + ".revoke")
    assert granted.before == {key: []} and granted.after == {key: [place.name]}
    assert revoked.before == {key: [place.name]} and revoked.after == {key: []}
    assert granted.target_id == person.id and granted.summary == place.name
    if role == "organizer":
        assert granted.unit_id == place.id  # the unit filter of the log finds it


@pytest.mark.both_databases
@pytest.mark.parametrize(
    ("admins", "actor_is_target", "allowed"),
    [
        (1, True, False),  # the last admin cannot remove themselves
        (2, True, True),  # with another admin left, they can
        (2, False, True),
    ],
)
def test_last_admin_rule(app, db, make_user, admins, actor_is_target, allowed):
    people = [make_user(f"管理员{i}", is_admin=True) for i in range(admins)]
    actor = people[0]
    target = actor if actor_is_target else people[1]
    with app.test_request_context():
        if allowed:
            services.revoke_admin(actor, target)
            db.session.commit()
            assert not target.is_admin
            assert _entries(db, "role.admin.revoke")[0].after == {"is_admin": False}
        else:
            with pytest.raises(AdminError, match="最后一位管理员"):
                services.revoke_admin(actor, target)
            db.session.rollback()
            assert target.is_admin


def test_deactivated_admins_do_not_count_as_the_remaining_admin(app, db, make_user):
    actor = make_user("在岗", is_admin=True)
    make_user("停用的管理员", is_admin=True, active=False)
    with app.test_request_context(), pytest.raises(AdminError):
        services.revoke_admin(actor, actor)


def test_grant_admin_and_deactivate_and_reactivate(app, db, admin, make_user):
    person = make_user("王秀英")
    version = person.session_version
    with app.test_request_context():
        services.grant_admin(admin, person)
        db.session.commit()
        assert person.is_admin
        services.deactivate(admin, person)
        db.session.commit()
        db.session.refresh(person)
        assert not person.active and person.session_version == version + 1
        with pytest.raises(AdminError):
            services.deactivate(admin, admin)  # not oneself
        db.session.rollback()
        services.reactivate(admin, person)
        db.session.commit()
        assert person.active
    assert [e.action for e in db.session.scalars(select(AuditEntry).order_by(AuditEntry.id))] == [
        "role.admin.grant",
        "user.deactivate",
        "user.reactivate",
    ]


def test_the_last_admin_cannot_be_deactivated(app, db, make_user):
    only, other = make_user("唯一管理员", is_admin=True), make_user("同事", is_admin=True)
    with app.test_request_context():
        services.deactivate(other, only)  # two admins: fine
        db.session.commit()
        services.reactivate(other, only)
        services.revoke_admin(only, other)
        db.session.commit()
        with pytest.raises(AdminError, match="最后一位管理员"):
            services.deactivate(other, only)  # other is no admin now but still the actor


@pytest.mark.both_databases
@pytest.mark.parametrize(
    ("query", "found"),
    [
        ("王", {"王秀英", "王建"}),
        ("秀", {"王秀英"}),
        ("5678", {"王秀英"}),
        ("138-0013-5678", {"王秀英"}),
        ("%", set()),
        ("_", set()),
        ("", set()),
        ("注销", set()),
    ],
)
def test_find_people(app, db, make_user, query, found):
    make_user("王秀英", phone="13800135678")
    make_user("王建", phone="13900001111")
    make_user(
        "李注销", phone=None, deleted_at=__import__("portal.models", fromlist=["utcnow"]).utcnow()
    )
    with app.test_request_context():
        assert {p.real_name for p in services.find_people(query)} == found


# --- the counter: one-time passwords ---------------------------------------------------------


@pytest.fixture
def counter_world(db, make_user, make_unit, make_activity, make_shift, make_signup):
    unit, other_unit = make_unit("区交警大队"), make_unit("区城管局")
    shift = make_shift(make_activity(unit=unit))
    resident = make_user("王秀英", phone="13800135678")
    make_signup(shift, resident)
    stranger = make_user("赵大妈")  # never signed up with the unit
    organizer = make_user("陈志强", units=[unit])
    colleague = make_user("刘组织", units=[unit])
    make_signup(shift, colleague)
    return {
        "unit": unit,
        "resident": resident,
        "stranger": stranger,
        "organizer": organizer,
        "colleague": colleague,
        "other": make_user("李建国", units=[other_unit]),
        "admin": make_user("指挥中心", is_admin=True),
        "inactive": make_user("停用", active=False),
        "leader": make_user("林建华", zones=[shift.activity.zone]),
    }


@pytest.mark.both_databases
@pytest.mark.parametrize(
    ("actor", "person", "allowed"),
    [
        ("admin", "resident", True),
        ("admin", "stranger", True),
        ("admin", "organizer", True),
        ("admin", "admin", False),  # their own: they change it themselves
        ("admin", "inactive", False),
        ("organizer", "resident", True),  # signed up with the organizer's unit
        ("organizer", "stranger", False),  # never did
        ("organizer", "colleague", False),  # holds a role: only an admin
        ("organizer", "organizer", False),
        ("other", "resident", False),  # another unit's organizer
        ("leader", "resident", False),
        ("resident", "stranger", False),
    ],
)
def test_who_may_set_a_one_time_password(app, db, counter_world, actor, person, allowed):
    from portal.permissions import can_set_one_time_password

    w = counter_world
    with app.test_request_context():
        assert can_set_one_time_password(w[actor], w[person]) is allowed
        if not allowed:
            with pytest.raises(AdminError):
                services.set_one_time_password(w[actor], w[person])


def test_one_time_password_is_readable_and_random():
    seen = {services.new_one_time_password() for _ in range(200)}
    assert len(seen) == 200
    for pw in seen:
        assert len(pw) == 9 and pw[4] == "-"
        assert not set(pw) & set("01iloO")


@pytest.mark.both_databases
def test_one_time_password_flow_forces_a_change_and_ends_old_sessions(
    app, db, client, login, counter_world
):
    w = counter_world
    resident = w["resident"]
    old_device = app.test_client()
    login(resident, on=old_device)
    assert old_device.get("/me").status_code == 200

    login(w["organizer"])
    page = client.get("/organize/counter/?q=13800135678").get_data(as_text=True)
    # the number typed stays in the search box (and the page's own address); results mask it
    assert "王秀英" in page and '<span class="muted">138****5678</span>' in page
    assert ">13800135678<" not in page
    # without the identity check nothing happens
    refused = client.post(f"/organize/counter/{resident.id}", data={})
    assert refused.status_code == 200 and "核对本人身份" in refused.get_data(as_text=True)
    db.session.refresh(resident)
    assert not resident.must_change_password
    shown = client.post(f"/organize/counter/{resident.id}", data={"identity_checked": "y"})
    assert shown.status_code == 200 and shown.headers["Cache-Control"] == "no-store"
    import re

    password = re.search(
        r'<p class="otp" lang="en"><strong>([^<]+)</strong>', shown.get_data(as_text=True)
    ).group(1)
    db.session.expire_all()
    resident = db.session.get(User, resident.id)
    assert resident.must_change_password
    # the old session has ended
    assert old_device.get("/me").status_code == 302
    [entry] = _entries(db, "user.one_time_password")
    assert entry.actor_id == w["organizer"].id and entry.target_id == resident.id
    assert password not in repr((entry.summary, entry.before, entry.after))

    # the resident logs in with it and is sent to change it before anything else
    fresh = app.test_client()
    r = fresh.post("/account/login", data={"phone": "13800135678", "password": password})
    assert r.status_code == 302
    for path in ("/me", "/", "/activities", "/organize/"):
        r = fresh.get(path)
        assert r.status_code == 302 and r.headers["Location"].endswith("/account/password"), path
    assert fresh.get("/account/password").status_code == 200
    r = fresh.post(
        "/account/password",
        data={"current": password, "new": "Qingshui-River-9", "new2": "Qingshui-River-9"},
    )
    assert r.status_code == 302
    db.session.expire_all()
    assert not db.session.get(User, resident.id).must_change_password
    assert fresh.get("/me").status_code == 200


def test_counter_search_for_an_organizer_finds_only_their_residents(
    db, client, login, counter_world
):
    login(counter_world["organizer"])
    page = client.get("/organize/counter/?q=赵").get_data(as_text=True)
    assert "赵大妈" not in page and "没有找到" in page
    assert client.get("/organize/counter/?q=").status_code == 200
    assert client.get("/organize/counter/?q=" + "长" * 80).status_code == 200


def test_another_units_organizer_gets_403_and_nothing_changes(db, client, login, counter_world):
    w = counter_world
    login(w["other"])
    hash_before = w["resident"].password_hash
    r = client.post(f"/organize/counter/{w['resident'].id}", data={"identity_checked": "y"})
    assert r.status_code == 403
    db.session.expire_all()
    assert db.session.get(User, w["resident"].id).password_hash == hash_before
    assert not _entries(db, "user.one_time_password")


def test_organizers_reach_the_counter_from_their_area(db, client, login, counter_world):
    login(counter_world["organizer"])
    assert "/organize/counter/" in client.get("/organize/").get_data(as_text=True)


# --- pages: bad input shows a message, saves nothing, never a 500 ----------------------------


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"name": "", "population": "0"}, "请填写片区名称"),
        ({"name": "新区", "population": "abc"}, "请填写一个整数"),
        ({"name": "新区", "population": "-5"}, "人口要在"),
        ({"name": "新区", "population": "99999999999"}, "人口要在"),
        ({"name": "新区"}, "请填写常住人口"),
        ({"name": "长" * 61, "population": "1"}, "最多 60 个字"),
        ({"name": "立后", "population": "1"}, "已经有叫"),
        ({"name": "新区", "population": "1", "add_leaders": "13999999999"}, "没有找到手机号"),
        ({"name": "新区", "population": "1", "add_leaders": "abc"}, "没有找到手机号"),
        (
            {"name": "新区", "population": "1", "leader_ids": "abc", "add_leaders": "x"},
            "没有找到手机号",
        ),
    ],
)
def test_zone_form_bad_input(db, client, login, admin, make_zone, form, message):
    make_zone("立后")
    login(admin)
    before = _state(db)
    r = client.post("/admin/zones/new", data=form)
    assert r.status_code == 200
    assert message in r.get_data(as_text=True)
    assert _state(db) == before


def test_zone_form_adds_a_leader_by_phone_and_keeps_the_ticked_ones(
    db, client, login, admin, make_zone, make_user
):
    kept, dropped = make_user("留下", phone="13811112222"), make_user("去掉")
    zone = make_zone("立后", street="城关街道")
    zone.leaders = [kept, dropped]
    db.session.commit()
    new = make_user("新来", phone="13833334444")
    login(admin)
    r = client.post(
        f"/admin/zones/{zone.id}/edit",
        data={
            "name": "立后",
            "street": "城关街道",
            "population": "8000",
            "leader_ids": [str(kept.id)],
            "add_leaders": "138 3333 4444",
        },
    )
    assert r.status_code == 302
    db.session.expire_all()
    assert {u.real_name for u in db.session.get(Zone, zone.id).leaders} == {"留下", "新来"}
    assert _entries(db, "zone.update")[0].after["leaders"] == ["新来", "留下"]
    del new


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"name": "", "kind": "department"}, "请填写单位名称"),
        ({"name": "新单位", "kind": ""}, "请选择单位类型"),
        ({"name": "新单位", "kind": "bogus"}, "请选择单位类型"),
        ({"name": "区城管局", "kind": "department"}, "已经有叫"),
    ],
)
def test_unit_form_bad_input(db, client, login, admin, make_unit, form, message):
    make_unit("区城管局")
    login(admin)
    before = _state(db)
    r = client.post("/admin/units/new", data=form)
    assert r.status_code == 200 and message in r.get_data(as_text=True)
    assert _state(db) == before


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"code": "", "name": "x", "position": "0", "parent_id": "0"}, "请填写代码"),
        ({"code": "A B", "name": "x", "position": "0", "parent_id": "0"}, "小写字母"),
        ({"code": "wujin", "name": "x", "position": "0", "parent_id": "0"}, "已被使用"),
        ({"code": "new", "name": "", "position": "0", "parent_id": "0"}, "请填写名称"),
        ({"code": "new", "name": "x", "position": "x", "parent_id": "0"}, "请填写一个整数"),
        ({"code": "new", "name": "x", "position": "0", "parent_id": "999999"}, "没有这个上级项目"),
        ({"code": "new", "name": "x", "position": "0", "parent_id": "abc"}, "没有这个上级项目"),
    ],
)
def test_programme_form_bad_input(db, client, login, admin, tree, form, message):
    login(admin)
    before = _state(db)
    r = client.post("/admin/programmes/new", data=form)
    assert r.status_code == 200 and message in r.get_data(as_text=True)
    assert _state(db) == before


def test_programme_form_refuses_a_cycle_on_the_page(db, client, login, admin, tree):
    login(admin)
    before = _state(db)
    root = tree["root"]
    r = client.post(
        f"/admin/programmes/{root.id}/edit",
        data={
            "code": root.code,
            "name": root.name,
            "position": "0",
            "parent_id": str(tree["leaf"].id),
        },
    )
    assert r.status_code == 200 and "不能把项目放到它自己或它的下级项目下面" in r.get_data(
        as_text=True
    )
    assert _state(db) == before


def test_programme_delete_refusal_is_shown(db, client, login, admin, tree):
    login(admin)
    r = client.post(f"/admin/programmes/{tree['root'].id}/delete", follow_redirects=True)
    assert "下面还有 1 个下级项目" in r.get_data(as_text=True)
    assert db.session.get(Programme, tree["root"].id) is not None


def test_programme_tree_page_and_pages_render(db, client, login, admin, tree, make_zone, make_unit):
    make_zone("立后")
    make_unit("区交警大队")
    login(admin)
    page = client.get("/admin/programmes").get_data(as_text=True)
    assert page.index("五进") < page.index("进社区") < page.index("社区议事")
    assert "depth-2" in page
    for url in (
        "/admin/",
        "/admin/zones",
        "/admin/units",
        "/admin/zones/new",
        "/admin/units/new",
        "/admin/programmes/new?parent=abc",
        f"/admin/programmes/new?parent={tree['mid'].id}",
        f"/admin/programmes/{tree['mid'].id}/edit",
    ):
        assert client.get(url).status_code == 200, url


@pytest.mark.parametrize(
    ("url", "form", "message"),
    [
        ("/units", {}, "请选择单位"),
        ("/units", {"unit_id": "abc"}, "请从列表中选择单位"),
        ("/units", {"unit_id": "999999"}, "请从列表中选择单位"),
        ("/zones", {}, "请选择片区"),
        ("/zones", {"zone_id": "999999"}, "请从列表中选择片区"),
        ("/admin", {}, "请先勾选确认"),
        ("/deactivate", {}, "请先勾选确认"),
        ("/admin/remove", {"confirm": "y"}, "不是管理员"),
        ("/reactivate", {}, "没有停用"),
    ],
)
def test_person_forms_bad_input(
    db, client, login, admin, make_user, make_unit, make_zone, url, form, message
):
    make_unit("区交警大队")
    make_zone("立后")
    person = make_user("王秀英")
    login(admin)
    before = _state(db)
    r = client.post(f"/admin/people/{person.id}{url}", data=form, follow_redirects=True)
    assert r.status_code == 200 and message in r.get_data(as_text=True)
    assert _state(db)[:4] == before[:4]  # only the page views' own audit entries were added
    assert not db.session.scalar(select(AuditEntry.id).where(AuditEntry.action.like("role.%")))


def test_person_page_roles_through_the_pages(
    db, client, login, admin, make_user, make_unit, make_zone
):
    unit, zone = make_unit("区交警大队"), make_zone("立后")
    person = make_user("王秀英", phone="13800135678")
    login(admin)
    base = f"/admin/people/{person.id}"
    assert client.post(base + "/units", data={"unit_id": unit.id}).status_code == 302
    assert client.post(base + "/zones", data={"zone_id": zone.id}).status_code == 302
    assert client.post(base + "/admin", data={"confirm": "y"}).status_code == 302
    db.session.expire_all()
    person = db.session.get(User, person.id)
    assert person.is_admin and person.units == [unit] and person.led_zones == [zone]
    assert client.post(f"{base}/units/{unit.id}/remove").status_code == 302
    assert client.post(f"{base}/zones/{zone.id}/remove").status_code == 302
    assert client.post(base + "/admin/remove", data={"confirm": "y"}).status_code == 302
    assert client.post(base + "/deactivate", data={"confirm": "y"}).status_code == 302
    db.session.expire_all()
    person = db.session.get(User, person.id)
    assert not person.is_admin and not person.units and not person.led_zones
    assert not person.active
    actions = [e.action for e in db.session.scalars(select(AuditEntry).order_by(AuditEntry.id))]
    assert actions == [
        "role.organizer.grant",
        "role.zone_leader.grant",
        "role.admin.grant",
        "role.organizer.revoke",
        "role.zone_leader.revoke",
        "role.admin.revoke",
        "user.deactivate",
    ]


def test_last_admin_page_says_so_and_refuses(db, client, login, admin):
    login(admin)
    page = client.get(f"/admin/people/{admin.id}").get_data(as_text=True)
    assert "这是最后一位管理员" in page
    r = client.post(
        f"/admin/people/{admin.id}/admin/remove", data={"confirm": "y"}, follow_redirects=True
    )
    assert "最后一位管理员" in r.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(User, admin.id).is_admin


def test_search_masks_phones_and_the_person_page_shows_it_once_logged(
    db, client, login, admin, make_user
):
    person = make_user("王秀英", phone="13800135678")
    login(admin)
    found = client.get("/admin/people?q=5678").get_data(as_text=True)
    assert "王秀英" in found and "138****5678" in found and "13800135678" not in found
    assert client.get("/admin/people?q=").status_code == 200
    assert "请输入姓名或手机号" in client.get("/admin/people?q=").get_data(as_text=True)
    page = client.get(f"/admin/people/{person.id}").get_data(as_text=True)
    assert "13800135678" not in page and "138****5678" in page  # masked until asked for
    assert not _entries(db, "user.view_full")
    page = client.get(f"/admin/people/{person.id}?phone=full").get_data(as_text=True)
    assert "13800135678" in page
    [viewed] = _entries(db, "user.view_full")
    assert viewed.actor_id == admin.id and viewed.target_id == person.id
    assert client.get("/admin/people/999999").status_code == 404


def test_admin_menu_and_home_links(db, client, login, admin, make_user):
    login(admin)
    home = client.get("/admin/").get_data(as_text=True)
    for link in (
        "/admin/zones",
        "/admin/units",
        "/admin/programmes",
        "/admin/people",
        "/admin/audit",
        "/organize/counter/",
    ):
        assert link in home
    assert 'href="/admin/"' in client.get("/me").get_data(as_text=True)
    login(make_user("居民"))
    assert 'href="/admin/"' not in client.get("/me").get_data(as_text=True)


@pytest.mark.parametrize("what", ["zone", "unit"])
def test_a_renamed_zone_or_unit_reaches_subscribed_calendars(
    db, client, login, admin, make_activity, make_shift, what
):
    activity = make_activity()
    make_shift(activity, starts_in=timedelta(days=3))
    url = f"/calendar/zones/{activity.zone_id}.ics"
    first = client.get(url)
    etag = first.headers["ETag"]
    assert client.get(url, headers={"If-None-Match": etag}).status_code == 304
    login(admin)
    if what == "zone":
        edit = (
            f"/admin/zones/{activity.zone_id}/edit",
            {"name": "滨江片区", "street": "", "population": "100"},
        )
    else:
        edit = (
            f"/admin/units/{activity.unit_id}/edit",
            {"name": "区公安局交警大队", "kind": "department"},
        )
    assert client.post(*edit[:1], data=edit[1]).status_code == 302
    again = client.get(url, headers={"If-None-Match": etag})
    assert again.status_code == 200  # the calendar fetches the new text
    body = again.get_data(as_text=True).replace("\r\n ", "")
    assert ("滨江片区" if what == "zone" else "区公安局交警大队") in body
    assert "SEQUENCE:1" in body


@pytest.mark.parametrize("who", ["admin", "organizer"])
def test_search_pages_use_a_fixed_number_of_statements(
    db, client, login, counter_world, make_user, make_signup, count_queries, who
):
    """Twelve more people found (some holding roles) cost no extra statement."""
    w = counter_world
    login(w[who])
    url = "/organize/counter/?q=王" if who == "organizer" else "/admin/people?q=王"

    def statements() -> int:
        client.get(url)
        with count_queries() as counter:
            assert client.get(url).status_code == 200
        return len(counter)

    small = statements()
    from portal.models import Signup

    first_signup = db.session.scalar(select(Signup).limit(1))
    for i in range(12):
        person = make_user(f"王{i}号", units=[w["unit"]] if i % 3 == 0 else [])
        make_signup(first_signup.shift, person)
    assert statements() == small

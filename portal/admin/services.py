"""Administration rules: zones, units, the programme tree, people and their roles.

Every function here checks its rule, changes the rows and writes one audit entry with the
state before and after; the caller (a view, the CLI, a test) commits. A refusal is an
:class:`AdminError` with the sentence to show and, where it belongs to one form field, the
field's name.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta

from flask_babel import gettext as _
from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import selectinload

from portal.audit.services import record
from portal.domain import DomainError
from portal.extensions import db
from portal.models import (
    Activity,
    Programme,
    Shift,
    Signup,
    Unit,
    UnitKind,
    User,
    Zone,
    activity_programmes,
)

MAX_POPULATION = 10_000_000
MAX_POSITION = 9999
CODE_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
SEARCH_LIMIT = 50


class AdminError(DomainError):
    """An administration rule refused the request."""


# --- feeds: a renamed zone or unit reaches the calendars --------------------------------------


def _raise_feeds(where) -> int:
    """Raise the SEQUENCE of every shift still in some feed's window whose activity matches.

    Calendar feeds reach back ``DAYS_BACK`` days; older shifts are in no feed. Raising the
    sequence also moves ``Shift.updated_at`` (its ``onupdate``), which is what the feeds'
    ETags cover, so subscribed calendars fetch the new name at their next refresh.
    """
    from portal.feeds.services import DAYS_BACK
    from portal.organize.services.shifts import raise_sequence
    from portal.timeutil import now_utc

    ids = db.session.scalars(
        select(Shift.id)
        .join(Activity, Activity.id == Shift.activity_id)
        .where(where, Shift.ends_at >= now_utc() - timedelta(days=DAYS_BACK + 1))
    ).all()
    raise_sequence(ids)
    return len(ids)


# --- zones ------------------------------------------------------------------------------------


@dataclass
class ZoneData:
    name: str
    street: str = ""
    population: int = 0
    description: str = ""
    leader_ids: Iterable[int] = ()


def zone_snapshot(zone: Zone) -> dict:
    return {
        "name": zone.name,
        "street": zone.street,
        "population": zone.population,
        "description": zone.description,
        "leaders": sorted(u.real_name for u in zone.leaders),
    }


def _diff(before: dict, after: dict) -> tuple[dict, dict]:
    keys = [k for k in after if before.get(k) != after.get(k)]
    return {k: before.get(k) for k in keys}, {k: after.get(k) for k in keys}


def _record_saved(
    kind: str, target, name: str, before: dict | None, after: dict, actor: User
) -> None:
    """Log ``<kind>.create`` with the new values, or ``<kind>.update`` with what changed."""
    if before is None:
        record(f"{kind}.create", target, name, after=after, actor=actor)
        return
    old, new = _diff(before, after)
    if old or new:
        record(f"{kind}.update", target, name, old, new, actor=actor)


def _check_name(name: str, limit: int, field: str = "name") -> str:
    name = (name or "").strip()
    if not name:
        raise AdminError(_("请填写名称。"), field=field)
    if len(name) > limit:
        raise AdminError(_("名称最多 %(n)d 个字。", n=limit), field=field)
    return name


def _people(ids: Iterable[int], field: str) -> list[User]:
    ids = sorted({int(i) for i in ids})
    if not ids:
        return []
    people = list(db.session.scalars(select(User).where(User.id.in_(ids))))
    if len(people) != len(ids) or any(not p.is_active for p in people):
        raise AdminError(_("所选的人中有账号不存在或已停用。"), field=field)
    return people


def save_zone(actor: User, zone: Zone | None, data: ZoneData) -> Zone:
    """Create a zone (``zone`` is None) or change one; its leaders become exactly those given."""
    name = _check_name(data.name, 60)
    street = (data.street or "").strip()
    if len(street) > 60:
        raise AdminError(_("街道/镇最多 60 个字。"), field="street")
    if data.population is None or not 0 <= data.population <= MAX_POPULATION:
        raise AdminError(_("人口要在 0 到 %(n)d 之间。", n=MAX_POPULATION), field="population")
    description = (data.description or "").strip()
    if len(description) > 2000:
        raise AdminError(_("说明最多 2000 个字。"), field="description")
    clash = db.session.scalar(
        select(Zone.id).where(Zone.name == name, Zone.id != (zone.id if zone else -1))
    )
    if clash is not None:
        raise AdminError(_("已经有叫“%(name)s”的片区了。", name=name), field="name")
    leaders = _people(data.leader_ids, "leaders")
    before = zone_snapshot(zone) if zone is not None else None
    renamed = zone is not None and zone.name != name
    if zone is None:
        zone = Zone(name=name)
        db.session.add(zone)
    zone.name, zone.street, zone.population, zone.description = (
        name,
        street,
        data.population,
        description,
    )
    zone.leaders = leaders
    db.session.flush()
    _record_saved("zone", zone, name, before, zone_snapshot(zone), actor)
    if renamed:
        _raise_feeds(Activity.zone_id == zone.id)
    return zone


# --- units ------------------------------------------------------------------------------------


def unit_snapshot(unit: Unit) -> dict:
    return {"name": unit.name, "kind": str(unit.kind) if unit.kind else None}


def save_unit(actor: User, unit: Unit | None, name: str, kind: str) -> Unit:
    """Create or change a responsible unit (name and kind)."""
    name = _check_name(name, 80)
    try:
        kind_value = UnitKind(kind)
    except ValueError:
        raise AdminError(_("请选择单位类型。"), field="kind") from None
    clash = db.session.scalar(
        select(Unit.id).where(Unit.name == name, Unit.id != (unit.id if unit else -1))
    )
    if clash is not None:
        raise AdminError(_("已经有叫“%(name)s”的单位了。", name=name), field="name")
    before = unit_snapshot(unit) if unit is not None else None
    renamed = unit is not None and unit.name != name
    if unit is None:
        unit = Unit(name=name, kind=kind_value)
        db.session.add(unit)
    unit.name, unit.kind = name, kind_value
    db.session.flush()
    _record_saved("unit", unit, name, before, unit_snapshot(unit), actor)
    if renamed:
        _raise_feeds(Activity.unit_id == unit.id)
    return unit


# --- the programme tree -----------------------------------------------------------------------


@dataclass
class ProgrammeData:
    code: str
    name: str
    parent_id: int | None = None
    position: int = 0
    description: str = ""


def programme_snapshot(p: Programme) -> dict:
    return {
        "code": p.code,
        "name": p.name,
        "parent": p.parent.name if p.parent is not None else None,
        "position": p.position,
        "description": p.description,
    }


def programme_tree() -> list[tuple[Programme, int]]:
    """Every programme with its depth, parents before children, siblings by position."""
    nodes = db.session.scalars(select(Programme).order_by(Programme.position, Programme.id)).all()
    children: dict[int | None, list[Programme]] = {}
    for node in nodes:
        children.setdefault(node.parent_id, []).append(node)
    out: list[tuple[Programme, int]] = []
    seen: set[int] = set()

    def walk(parent_id: int | None, depth: int) -> None:
        for node in children.get(parent_id, []):
            if node.id in seen:  # a cycle made outside the portal: show each node once
                continue
            seen.add(node.id)
            out.append((node, depth))
            walk(node.id, depth + 1)

    walk(None, 0)
    out.extend((n, 0) for n in nodes if n.id not in seen)  # orphans of such a cycle
    return out


def _ancestors(parent_id: int | None) -> set[int]:
    """The ids on the way from ``parent_id`` up to the root (one query for the whole table)."""
    parents = dict(db.session.execute(select(Programme.id, Programme.parent_id)).all())
    seen: set[int] = set()
    while parent_id is not None and parent_id not in seen:
        seen.add(parent_id)
        parent_id = parents.get(parent_id)
    return seen


def save_programme(actor: User, programme: Programme | None, data: ProgrammeData) -> Programme:
    """Create or change a node of the programme tree; a node never becomes its own ancestor."""
    code = (data.code or "").strip().lower()
    if not CODE_RE.match(code):
        raise AdminError(
            _("代码用小写字母、数字、- 或 _，最多 40 位，例如 wujin-shequ。"), field="code"
        )
    name = _check_name(data.name, 60)
    if data.position is None or not 0 <= data.position <= MAX_POSITION:
        raise AdminError(_("排序要在 0 到 %(n)d 之间。", n=MAX_POSITION), field="position")
    description = (data.description or "").strip()
    if len(description) > 2000:
        raise AdminError(_("说明最多 2000 个字。"), field="description")
    clash = db.session.scalar(
        select(Programme.id).where(
            Programme.code == code, Programme.id != (programme.id if programme else -1)
        )
    )
    if clash is not None:
        raise AdminError(_("代码“%(code)s”已被使用。", code=code), field="code")
    parent = None
    if data.parent_id is not None:
        parent = db.session.get(Programme, data.parent_id) if data.parent_id > 0 else None
        if parent is None:
            raise AdminError(_("没有这个上级项目。"), field="parent_id")
        if programme is not None and (
            parent.id == programme.id or programme.id in _ancestors(parent.id)
        ):
            raise AdminError(_("不能把项目放到它自己或它的下级项目下面。"), field="parent_id")
    before = programme_snapshot(programme) if programme is not None else None
    if programme is None:
        programme = Programme(code=code, name=name)
        db.session.add(programme)
    programme.code, programme.name, programme.position = code, name, data.position
    programme.description = description
    programme.parent = parent
    db.session.flush()
    _record_saved("programme", programme, name, before, programme_snapshot(programme), actor)
    return programme


def delete_programme(actor: User, programme: Programme) -> None:
    """Delete a node that has neither children nor activities; otherwise say which."""
    kids = db.session.scalar(
        select(func.count()).select_from(Programme).where(Programme.parent_id == programme.id)
    )
    if kids:
        raise AdminError(
            _(
                "“%(name)s”下面还有 %(n)d 个下级项目，请先移走或删除它们。",
                name=programme.name,
                n=kids,
            )
        )
    used = db.session.scalar(
        select(func.count())
        .select_from(activity_programmes)
        .where(activity_programmes.c.programme_id == programme.id)
    )
    if used:
        raise AdminError(
            _(
                "有 %(n)d 个活动属于“%(name)s”，不能删除。可以改名，或先把这些活动改到别的项目。",
                name=programme.name,
                n=used,
            )
        )
    record(
        "programme.delete",
        programme,
        programme.name,
        before=programme_snapshot(programme),
        actor=actor,
    )
    db.session.delete(programme)
    db.session.flush()


# --- people -----------------------------------------------------------------------------------


def _like(text: str) -> str:
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def find_people(query: str, *, within_units: Iterable[int] | None = None) -> list[User]:
    """People whose name contains ``query``, or whose phone contains its digits.

    ``within_units`` limits the search to people who signed up for an activity of those
    units (the counter for an organizer). Deleted accounts are not found.
    """
    text = (query or "").strip()[:40]
    if not text:
        return []
    digits = re.sub(r"[\s\-]", "", text)
    if digits.startswith("+86"):
        digits = digits[3:]
    conds = [User.real_name.like(_like(text), escape="\\")]
    if digits.isdigit():
        conds.append(User.phone.like(_like(digits), escape="\\"))
    stmt = (
        select(User)
        .where(or_(*conds), User.deleted_at.is_(None))
        .options(selectinload(User.units), selectinload(User.led_zones))
        .order_by(User.real_name, User.id)
        .limit(SEARCH_LIMIT + 1)
    )
    if within_units is not None:
        units = sorted(set(within_units))
        stmt = stmt.where(
            select(Signup.id)
            .join(Shift, Shift.id == Signup.shift_id)
            .join(Activity, Activity.id == Shift.activity_id)
            .where(Signup.user_id == User.id, Activity.unit_id.in_(units))
            .exists()
        )
    return list(db.session.scalars(stmt))


def roles_snapshot(person: User) -> dict:
    return {
        "is_admin": bool(person.is_admin),
        "units": sorted(u.name for u in person.units),
        "zones": sorted(z.name for z in person.led_zones),
        "active": bool(person.active),
    }


def _check_person(person: User) -> None:
    if person.deleted_at is not None:
        raise AdminError(_("这个账号已注销，不能再分配角色。"))


def grant_organizer(actor: User, person: User, unit: Unit) -> None:
    """Make ``person`` an organizer of ``unit``."""
    _check_person(person)
    if unit in person.units:
        raise AdminError(
            _("%(name)s 已经是 %(unit)s 的组织者。", name=person.real_name, unit=unit.name),
            field="unit_id",
        )
    before = roles_snapshot(person)
    person.units.append(unit)
    record(
        "role.organizer.grant",
        person,
        unit.name,
        {"units": before["units"]},
        {"units": roles_snapshot(person)["units"]},
        actor=actor,
        unit_id=unit.id,
    )


def revoke_organizer(actor: User, person: User, unit: Unit) -> None:
    if unit not in person.units:
        raise AdminError(
            _("%(name)s 不是 %(unit)s 的组织者。", name=person.real_name, unit=unit.name)
        )
    before = roles_snapshot(person)
    person.units.remove(unit)
    record(
        "role.organizer.revoke",
        person,
        unit.name,
        {"units": before["units"]},
        {"units": roles_snapshot(person)["units"]},
        actor=actor,
        unit_id=unit.id,
    )


def grant_zone_leader(actor: User, person: User, zone: Zone) -> None:
    """Make ``person`` a leader of ``zone``."""
    _check_person(person)
    if zone in person.led_zones:
        raise AdminError(
            _("%(name)s 已经是 %(zone)s 的片区负责人。", name=person.real_name, zone=zone.name),
            field="zone_id",
        )
    before = roles_snapshot(person)
    person.led_zones.append(zone)
    record(
        "role.zone_leader.grant",
        person,
        zone.name,
        {"zones": before["zones"]},
        {"zones": roles_snapshot(person)["zones"]},
        actor=actor,
    )


def revoke_zone_leader(actor: User, person: User, zone: Zone) -> None:
    if zone not in person.led_zones:
        raise AdminError(
            _("%(name)s 不是 %(zone)s 的片区负责人。", name=person.real_name, zone=zone.name)
        )
    before = roles_snapshot(person)
    person.led_zones.remove(zone)
    record(
        "role.zone_leader.revoke",
        person,
        zone.name,
        {"zones": before["zones"]},
        {"zones": roles_snapshot(person)["zones"]},
        actor=actor,
    )


def active_admin_count() -> int:
    return (
        db.session.scalar(
            select(func.count())
            .select_from(User)
            .where(User.is_admin.is_(True), User.active.is_(True), User.deleted_at.is_(None))
        )
        or 0
    )


def grant_admin(actor: User, person: User) -> None:
    _check_person(person)
    if person.is_admin:
        raise AdminError(_("%(name)s 已经是管理员。", name=person.real_name))
    if not person.is_active:
        raise AdminError(_("账号已停用，请先恢复再设为管理员。"))
    person.is_admin = True
    record(
        "role.admin.grant",
        person,
        person.real_name,
        {"is_admin": False},
        {"is_admin": True},
        actor=actor,
    )


def _refuse_last_admin(person: User) -> None:
    if person.is_admin and person.is_active and active_admin_count() <= 1:
        if person.id is not None:
            raise AdminError(
                _(
                    "%(name)s 是最后一位管理员。请先把另一个人设为管理员，再取消这个角色。",
                    name=person.real_name,
                )
            )


def revoke_admin(actor: User, person: User) -> None:
    """Take the admin role away; the last active admin keeps it."""
    if not person.is_admin:
        raise AdminError(_("%(name)s 不是管理员。", name=person.real_name))
    _refuse_last_admin(person)
    person.is_admin = False
    record(
        "role.admin.revoke",
        person,
        person.real_name,
        {"is_admin": True},
        {"is_admin": False},
        actor=actor,
    )


def _end_sessions(person: User) -> None:
    """End every session and remember-me cookie of ``person`` (in SQL: no increment lost)."""
    db.session.execute(
        update(User)
        .where(User.id == person.id)
        .values(session_version=User.session_version + 1)
        .execution_options(synchronize_session=False)
    )
    db.session.expire(person, ["session_version"])


def deactivate(actor: User, person: User) -> None:
    """Stop an account from logging in (its records stay); its sessions end at once."""
    _check_person(person)
    if person.id == actor.id:
        raise AdminError(_("不能停用自己的账号。"))
    if not person.active:
        raise AdminError(_("这个账号已经停用。"))
    _refuse_last_admin(person)
    person.active = False
    db.session.flush()
    _end_sessions(person)
    record(
        "user.deactivate",
        person,
        person.real_name,
        {"active": True},
        {"active": False},
        actor=actor,
    )


def reactivate(actor: User, person: User) -> None:
    _check_person(person)
    if person.active:
        raise AdminError(_("这个账号没有停用。"))
    person.active = True
    record(
        "user.reactivate",
        person,
        person.real_name,
        {"active": False},
        {"active": True},
        actor=actor,
    )


# --- one-time password at the counter ---------------------------------------------------------

# No 0/o, 1/l/i: read aloud or copied from the screen without mistakes.
_OTP_ALPHABET = "23456789abcdefghjkmnpqrstuvwxyz"


def new_one_time_password() -> str:
    """Eight readable characters in two groups, e.g. ``k7mp-4xq2``."""
    chars = [secrets.choice(_OTP_ALPHABET) for _ in range(8)]
    return "".join(chars[:4]) + "-" + "".join(chars[4:])


def set_one_time_password(actor: User, person: User) -> str:
    """Give ``person`` a one-time password and return it (shown once, stored only hashed).

    Who may: see :func:`portal.permissions.can_set_one_time_password`. The person's other
    sessions end, and at their next login they must choose their own password before
    anything else. The audit entry never holds the password.
    """
    from portal.auth.services import hash_password
    from portal.permissions import can_set_one_time_password

    if not can_set_one_time_password(actor, person):
        raise AdminError(_("你不能为这个人设置一次性密码。"))
    password = new_one_time_password()
    person.password_hash = hash_password(password)
    person.must_change_password = True
    db.session.flush()
    _end_sessions(person)
    record(
        "user.one_time_password",
        person,
        person.real_name,
        {"must_change_password": False},
        {"must_change_password": True},
        actor=actor,
    )
    return password

"""The audit log as people read it: one plain sentence per entry, labelled before/after fields.

:data:`ACTIONS` names every action the portal writes (its short name for the filter list and
the sentence); an action not listed still renders, as "X 执行了操作 <action>". Rendering a
page costs a fixed number of statements: the entries (with their actors), their count, one
query per kind of target on the page, and the zone, unit and programme names.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import joinedload

from portal import labels
from portal.extensions import db
from portal.models import (
    Activity,
    AuditEntry,
    Certificate,
    Programme,
    Shift,
    Signup,
    Unit,
    User,
    Zone,
)
from portal.privacy import mask_phone
from portal.timeutil import fmt_short, fmt_time, local_day_bounds, to_local

PAGE_SIZE = 50
EXPORT_LIMIT = 10_000

# action → (short name for the filter list, sentence). Sentences take %(actor)s (who),
# %(object)s (what it was done to) and %(detail)s (the entry's summary, e.g. a unit's name).
ACTIONS: dict[str, tuple] = {
    "activity.create": (_l("新建活动"), _l("%(actor)s 新建了活动 %(object)s")),
    "activity.update": (_l("修改活动"), _l("%(actor)s 修改了活动 %(object)s")),
    "activity.publish": (_l("发布活动"), _l("%(actor)s 发布了活动 %(object)s")),
    "activity.cancel": (_l("取消活动"), _l("%(actor)s 取消了活动 %(object)s")),
    "activity.duplicate": (_l("复制活动"), _l("%(actor)s 复制出活动 %(object)s")),
    "shift.create": (_l("新增班次"), _l("%(actor)s 新增了班次 %(object)s")),
    "shift.bulk_create": (_l("批量新增班次"), _l("%(actor)s 为活动 %(object)s 批量新增了班次")),
    "shift.update": (_l("修改班次"), _l("%(actor)s 修改了班次 %(object)s")),
    "shift.cancel": (_l("取消班次"), _l("%(actor)s 取消了班次 %(object)s")),
    "shift.delete": (_l("删除班次"), _l("%(actor)s 删除了班次 %(object)s")),
    "signup.approve": (_l("通过报名"), _l("%(actor)s 通过了报名：%(object)s")),
    "signup.reject": (_l("拒绝报名"), _l("%(actor)s 没有通过报名：%(object)s")),
    "signup.remove": (_l("移出名单"), _l("%(actor)s 把报名移出了名单：%(object)s")),
    "signup.promote": (_l("候补转正"), _l("%(actor)s 把候补转为正式：%(object)s")),
    "signup.walk_in": (_l("现场加入"), _l("%(actor)s 把人现场加入了名单：%(object)s")),
    "roster.view_full": (_l("查看完整名单"), _l("%(actor)s 查看了班次 %(object)s 的完整名单")),
    "attendance.check_in": (_l("签到"), _l("%(actor)s 签到：%(object)s")),
    "attendance.check_out": (_l("签退"), _l("%(actor)s 签退：%(object)s")),
    "attendance.attended": (_l("记为到场"), _l("%(actor)s 记为到场：%(object)s")),
    "attendance.no_show": (_l("记为缺席"), _l("%(actor)s 记为缺席：%(object)s")),
    "attendance.undo": (_l("撤销出勤记录"), _l("%(actor)s 撤销了出勤记录：%(object)s")),
    "hours.confirm": (_l("确认时长"), _l("%(actor)s 确认了服务时长：%(object)s")),
    "hours.adjust": (_l("调整时长"), _l("%(actor)s 调整了服务时长：%(object)s")),
    "message.send": (_l("发送通知"), _l("%(actor)s 向 %(object)s 发送了通知")),
    "export.roster.xlsx": (
        _l("导出名单（XLSX）"),
        _l("%(actor)s 导出了班次 %(object)s 的名单（XLSX）"),
    ),
    "export.roster.csv": (
        _l("导出名单（CSV）"),
        _l("%(actor)s 导出了班次 %(object)s 的名单（CSV）"),
    ),
    "export.attendance.xlsx": (
        _l("导出出勤表（XLSX）"),
        _l("%(actor)s 导出了活动 %(object)s 的出勤表（XLSX）"),
    ),
    "export.attendance.csv": (
        _l("导出出勤表（CSV）"),
        _l("%(actor)s 导出了活动 %(object)s 的出勤表（CSV）"),
    ),
    "export.sign_in_sheet": (_l("打印签到表"), _l("%(actor)s 打印了班次 %(object)s 的签到表")),
    "export.audit.csv": (_l("导出操作日志"), _l("%(actor)s 导出了操作日志（CSV）")),
    "user.create_walk_in": (
        _l("新建现场登记档案"),
        _l("%(actor)s 为 %(object)s 新建了现场登记档案"),
    ),
    "user.walk_in_detached": (
        _l("现场档案解除手机号"),
        _l("%(actor)s 让现场登记档案 %(object)s 与手机号解除了关联"),
    ),
    "user.view_full": (_l("查看个人完整信息"), _l("%(actor)s 查看了 %(object)s 的完整手机号")),
    "user.one_time_password": (
        _l("设置一次性密码"),
        _l("%(actor)s 为 %(object)s 设置了一次性密码"),
    ),
    "user.deactivate": (_l("停用账号"), _l("%(actor)s 停用了 %(object)s 的账号")),
    "user.reactivate": (_l("恢复账号"), _l("%(actor)s 恢复了 %(object)s 的账号")),
    "role.organizer.grant": (
        _l("设为组织者"),
        _l("%(actor)s 把 %(object)s 设为 %(detail)s 的组织者"),
    ),
    "role.organizer.revoke": (
        _l("取消组织者"),
        _l("%(actor)s 取消了 %(object)s 在 %(detail)s 的组织者角色"),
    ),
    "role.zone_leader.grant": (
        _l("设为片区负责人"),
        _l("%(actor)s 把 %(object)s 设为 %(detail)s 片区的负责人"),
    ),
    "role.zone_leader.revoke": (
        _l("取消片区负责人"),
        _l("%(actor)s 取消了 %(object)s 在 %(detail)s 片区的负责人角色"),
    ),
    "role.admin.grant": (_l("设为管理员"), _l("%(actor)s 把 %(object)s 设为管理员")),
    "role.admin.revoke": (_l("取消管理员"), _l("%(actor)s 取消了 %(object)s 的管理员角色")),
    "zone.create": (_l("新建片区"), _l("%(actor)s 新建了片区 %(object)s")),
    "zone.update": (_l("修改片区"), _l("%(actor)s 修改了片区 %(object)s")),
    "unit.create": (_l("新建单位"), _l("%(actor)s 新建了单位 %(object)s")),
    "unit.update": (_l("修改单位"), _l("%(actor)s 修改了单位 %(object)s")),
    "programme.create": (_l("新建项目"), _l("%(actor)s 新建了项目 %(object)s")),
    "programme.update": (_l("修改项目"), _l("%(actor)s 修改了项目 %(object)s")),
    "programme.delete": (_l("删除项目"), _l("%(actor)s 删除了项目 %(object)s")),
    "calendar.token_create": (_l("生成日历链接"), _l("%(actor)s 生成了个人日历订阅链接")),
    "calendar.token_reset": (_l("重置日历链接"), _l("%(actor)s 重置了个人日历订阅链接")),
    "account.profile": (_l("修改个人资料"), _l("%(actor)s 修改了个人资料")),
    "account.consent": (_l("同意个人信息说明"), _l("%(actor)s 同意了个人信息保护说明")),
    "account.export": (_l("下载本人数据"), _l("%(actor)s 下载了自己的数据")),
    "account.delete": (_l("注销账号"), _l("%(actor)s 注销了自己的账号")),
    "certificate.issue": (_l("开具证明"), _l("%(actor)s 申请了志愿服务证明 %(object)s")),
    "certificate.revoke": (_l("撤销证明"), _l("%(actor)s 撤销了志愿服务证明 %(object)s")),
    "leader_visit.create": (_l("记录走访"), _l("%(actor)s 记录了一次片区走访：%(detail)s")),
    "leader_visit.checkin": (
        _l("活动现场走访签到"),
        _l("%(actor)s 在活动现场签到，记为片区走访：%(detail)s"),
    ),
    "leader_visit.delete": (_l("删除走访记录"), _l("%(actor)s 删除了一条片区走访记录")),
    "queue.view": (_l("查看待审核名单"), _l("%(actor)s 查看了待审核的报名名单")),
    "user.password_reset_requested": (_l("申请重设密码"), _l("%(actor)s 申请通过邮件重设密码")),
    "user.password_reset": (_l("重设密码"), _l("%(actor)s 通过邮件链接重设了密码")),
    "user.phone_changed": (_l("更换手机号"), _l("%(actor)s 更换了手机号：%(detail)s")),
    # A family of actions (the part after the prefix varies): the filter matches the prefix.
    "export.dashboard.*": (_l("导出看板表格"), _l("%(actor)s 导出了看板表格 %(detail)s")),
}

FIELD_LABELS = {
    "title": _l("标题"),
    "description": _l("说明"),
    "kind": _l("类型"),
    "zone_id": _l("片区"),
    "unit_id": _l("单位"),
    "place": _l("地点"),
    "latitude": _l("纬度"),
    "longitude": _l("经度"),
    "contact_name": _l("联系人"),
    "contact_phone": _l("联系电话"),
    "requirements": _l("参与要求"),
    "risk_notice": _l("安全提示"),
    "cancellation_deadline_hours": _l("取消截止（开始前小时）"),
    "programme_ids": _l("所属项目"),
    "status": _l("状态"),
    "starts_at": _l("开始"),
    "ends_at": _l("结束"),
    "capacity": _l("人数上限"),
    "post_name": _l("岗位"),
    "signup_opens_at": _l("报名开始"),
    "signup_closes_at": _l("报名截止"),
    "requires_approval": _l("需要审核"),
    "waitlist_enabled": _l("允许候补"),
    "sequence": _l("日历版本"),
    "attendance": _l("出勤"),
    "checked_in_at": _l("签到时间"),
    "checked_out_at": _l("签退时间"),
    "method": _l("签到方式"),
    "hours": _l("时长（小时）"),
    "hours_confirmed_at": _l("时长确认时间"),
    "reason": _l("原因"),
    "rows": _l("行数"),
    "format": _l("格式"),
    "recipients": _l("收件人数"),
    "email_queued": _l("待发邮件"),
    "body": _l("正文"),
    "count": _l("数量"),
    "first": _l("第一个"),
    "last": _l("最后一个"),
    "consent_version": _l("说明版本"),
    "valid": _l("有效"),
    "name": _l("名称"),
    "street": _l("街道/镇"),
    "population": _l("人口"),
    "leaders": _l("片区负责人"),
    "code": _l("代码"),
    "parent": _l("上级项目"),
    "position": _l("排序"),
    "is_admin": _l("管理员"),
    "active": _l("账号可用"),
    "must_change_password": _l("下次登录须改密码"),
    "units": _l("组织者所在单位"),
    "zones": _l("负责的片区"),
    "override": _l("超限加入"),
    "override_reason": _l("超限原因"),
    "filters": _l("筛选条件"),
}
# Fields that only identify the row: never shown as a change.
HIDDEN_FIELDS = {"shift_id", "user_id"}

_SHIFT_STATUS = {"scheduled": _l("正常"), "cancelled": _l("已取消")}
_KIND = {
    "volunteer": _l("志愿服务"),
    "community": _l("社区活动"),
    "department": _l("部门"),
    "street_office": _l("街道办事处"),
    "community_unit": _l("社区"),
    "volunteer_team": _l("志愿服务队"),
}
_METHOD = {"qr": _l("扫码签到"), "roster": _l("组织者在名单上登记")}
_OVERRIDE = {"capacity": _l("超员"), "overlap": _l("时间冲突")}
_PHONE_RE = re.compile(r"(?<!\d)(1[3-9]\d)(\d{4})(\d{4})(?!\d)")


def mask_phones(text: str) -> str:
    """Every mainland mobile number inside ``text`` as 138****5678."""
    return _PHONE_RE.sub(lambda m: mask_phone(m.group(0)), text or "")


def _known(action: str):
    entry = ACTIONS.get(action)
    if entry is None and "." in action:
        entry = ACTIONS.get(action.rsplit(".", 1)[0] + ".*")
        if entry is None:
            entry = ACTIONS.get(".".join(action.split(".")[:2]) + ".*")
    return entry


def action_name(action: str) -> str:
    entry = _known(action)
    return str(entry[0]) if entry else action


def action_choices() -> list[tuple[str, str]]:
    """Every known action with its short name, for the filter's select list."""
    return [(key, str(value[0])) for key, value in ACTIONS.items()]


# --- filters ----------------------------------------------------------------------------------


@dataclass
class Filters:
    person: str = ""  # the actor's name or phone, partial
    action: str = ""
    unit_id: int | None = None
    date_from: date | None = None
    date_to: date | None = None

    def args(self) -> dict:
        """The query-string arguments that reproduce these filters (for links)."""
        out = {
            "person": self.person or None,
            "action": self.action or None,
            "unit": self.unit_id,
            "date_from": self.date_from.isoformat() if self.date_from else None,
            "date_to": self.date_to.isoformat() if self.date_to else None,
        }
        return {k: v for k, v in out.items() if v is not None}


def _like(text: str) -> str:
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def filtered(f: Filters) -> Select:
    stmt = select(AuditEntry)
    if f.person:
        digits = re.sub(r"[\s\-]", "", f.person)
        conds = [User.real_name.like(_like(f.person), escape="\\")]
        if digits.isdigit():
            conds.append(User.phone.like(_like(digits), escape="\\"))
        stmt = stmt.where(AuditEntry.actor_id.in_(select(User.id).where(or_(*conds))))
    if f.action.endswith(".*"):
        stmt = stmt.where(AuditEntry.action.startswith(f.action[:-1], autoescape=True))
    elif f.action:
        stmt = stmt.where(AuditEntry.action == f.action)
    if f.unit_id:
        stmt = stmt.where(AuditEntry.unit_id == f.unit_id)
    if f.date_from:
        stmt = stmt.where(AuditEntry.created_at >= local_day_bounds(f.date_from)[0])
    if f.date_to:
        stmt = stmt.where(AuditEntry.created_at < local_day_bounds(f.date_to)[1])
    return stmt


@dataclass
class Page:
    items: list
    page: int
    total: int
    size: int = PAGE_SIZE

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.size))

    @property
    def has_prev(self) -> bool:
        return self.page > 1

    @property
    def has_next(self) -> bool:
        return self.page < self.pages


def page_of(f: Filters, page: int) -> Page:
    """One page of readable entries, newest first, in a fixed number of statements."""
    base = filtered(f)
    total = db.session.scalar(select(func.count()).select_from(base.subquery())) or 0
    entries = _entries(base, offset=(page - 1) * PAGE_SIZE, limit=PAGE_SIZE)
    return Page(items=render(entries), page=page, total=total)


def export_rows(f: Filters) -> list:
    """Every matching entry (at most EXPORT_LIMIT), rendered, newest first."""
    return render(_entries(filtered(f), offset=0, limit=EXPORT_LIMIT))


def _entries(base: Select, offset: int, limit: int) -> list[AuditEntry]:
    stmt = (
        base.options(joinedload(AuditEntry.actor))
        .order_by(AuditEntry.created_at.desc(), AuditEntry.id.desc())
        .offset(offset)
        .limit(limit)
    )
    return list(db.session.scalars(stmt))


# --- rendering --------------------------------------------------------------------------------


@dataclass
class Change:
    label: str
    before: str | None
    after: str | None


@dataclass
class Readable:
    entry: AuditEntry
    sentence: str
    action_name: str
    actor: str
    unit: str
    reason: str = ""
    changes: list[Change] = field(default_factory=list)


@dataclass
class _Names:
    """Everything a page needs to name its targets, loaded once per page."""

    shifts: dict = field(default_factory=dict)
    activities: dict = field(default_factory=dict)
    signups: dict = field(default_factory=dict)
    users: dict = field(default_factory=dict)
    certificates: dict = field(default_factory=dict)
    zones: dict = field(default_factory=dict)
    units: dict = field(default_factory=dict)
    programmes: dict = field(default_factory=dict)


def _load_names(entries: list[AuditEntry]) -> _Names:
    ids: dict[str, set[int]] = {}
    for e in entries:
        if e.target_id is not None and e.target_type:
            ids.setdefault(e.target_type, set()).add(e.target_id)
    n = _Names()
    if ids.get("shifts"):
        n.shifts = {
            s.id: s
            for s in db.session.scalars(
                select(Shift).where(Shift.id.in_(ids["shifts"])).options(joinedload(Shift.activity))
            )
        }
    if ids.get("activities"):
        n.activities = dict(
            db.session.execute(
                select(Activity.id, Activity.title).where(Activity.id.in_(ids["activities"]))
            ).all()
        )
    if ids.get("signups"):
        n.signups = {
            s.id: s
            for s in db.session.scalars(
                select(Signup)
                .where(Signup.id.in_(ids["signups"]))
                .options(
                    joinedload(Signup.user), joinedload(Signup.shift).joinedload(Shift.activity)
                )
            )
        }
    if ids.get("users"):
        n.users = dict(
            db.session.execute(
                select(User.id, User.real_name).where(User.id.in_(ids["users"]))
            ).all()
        )
    if ids.get("certificates"):
        n.certificates = dict(
            db.session.execute(
                select(Certificate.id, Certificate.number).where(
                    Certificate.id.in_(ids["certificates"])
                )
            ).all()
        )
    # Small tables, named in targets and in before/after values (zone_id, programme_ids …).
    n.zones = dict(db.session.execute(select(Zone.id, Zone.name)).all())
    n.units = dict(db.session.execute(select(Unit.id, Unit.name)).all())
    n.programmes = dict(db.session.execute(select(Programme.id, Programme.name)).all())
    return n


def _shift_words(title: str, starts, ends) -> str:
    if starts is None:
        return title
    when = fmt_short(starts)
    if ends is not None and to_local(starts).date() == to_local(ends).date():
        when += "–" + fmt_time(ends)
    return f"{title} {when}".strip()


def _iso(value) -> datetime | None:
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return None
        return parsed if parsed.tzinfo is not None else None
    return None


def _object(e: AuditEntry, n: _Names) -> str:
    t, i = e.target_type, e.target_id
    snap = e.after or e.before or {}
    if t == "shifts":
        shift = n.shifts.get(i)
        if shift is not None:
            return _shift_words(shift.activity.title, shift.starts_at, shift.ends_at)
        title = e.summary if e.action in ("shift.delete", "shift.create", "shift.update") else ""
        return _shift_words(
            title or _("（已删除的班次）"), _iso(snap.get("starts_at")), _iso(snap.get("ends_at"))
        )
    if t == "activities":
        return n.activities.get(i) or e.summary or _("（已删除的活动）")
    if t == "signups":
        s = n.signups.get(i)
        if s is None:
            return _("（已删除的报名）")
        who = s.user.real_name if s.user else ""
        shift = s.shift
        return f"{who}（{_shift_words(shift.activity.title, shift.starts_at, shift.ends_at)}）"
    if t == "users":
        return n.users.get(i) or _("（已删除的账号）")
    if t == "certificates":
        return n.certificates.get(i) or ""
    if t in ("zones", "units", "programmes"):
        table = getattr(n, t)
        return table.get(i) or snap.get("name") or e.summary
    return e.summary or ""


def _word(table: dict, value) -> str:
    label = table.get(value)
    return str(label) if label is not None else str(value)


def _value(key: str, value, target_type: str, n: _Names) -> str:
    if value is None or value == "" or value == []:
        return "—"
    if isinstance(value, bool):
        return _("是") if value else _("否")
    if key == "status":
        if target_type == "signups":
            return labels.signup_status(value)
        if target_type == "activities":
            return labels.activity_status(value)
        if target_type == "shifts":
            return _word(_SHIFT_STATUS, value)
    if key == "attendance":
        return labels.attendance(value)
    if key == "kind":
        return _word(
            _KIND, "community_unit" if target_type == "units" and value == "community" else value
        )
    if key == "method":
        return _word(_METHOD, value)
    if key == "override" and isinstance(value, list):
        return "、".join(_word(_OVERRIDE, v) for v in value)
    if key == "zone_id":
        return n.zones.get(value, str(value))
    if key == "unit_id":
        return n.units.get(value, str(value))
    if key == "programme_ids" and isinstance(value, list):
        return "、".join(n.programmes.get(v, str(v)) for v in value) or "—"
    when = _iso(value)
    if when is not None:
        return fmt_short(when)
    if isinstance(value, list):
        return "、".join(mask_phones(str(v)) for v in value)
    if isinstance(value, dict):
        return "；".join(f"{_label(k)}：{mask_phones(str(v))}" for k, v in value.items())
    return mask_phones(str(value))


def _label(key: str) -> str:
    label = FIELD_LABELS.get(key)
    return str(label) if label is not None else key


def _changes(e: AuditEntry, n: _Names) -> list[Change]:
    before, after = e.before or {}, e.after or {}
    keys = [*before, *[k for k in after if k not in before]]
    keys = [k for k in keys if k not in HIDDEN_FIELDS]
    out = []
    for key in keys:
        if key == "reason":
            continue  # shown as the entry's reason
        old, new = before.get(key), after.get(key)
        if key in before and key in after and old == new:
            continue
        out.append(
            Change(
                _label(key),
                _value(key, old, e.target_type, n) if key in before else None,
                _value(key, new, e.target_type, n) if key in after else None,
            )
        )
    return out


_REASON_ACTIONS = {
    "shift.cancel",
    "activity.cancel",
    "signup.reject",
    "signup.remove",
    "attendance.undo",
    "hours.adjust",
}


def render(entries: list[AuditEntry]) -> list[Readable]:
    n = _load_names(entries)
    out = []
    for e in entries:
        actor = e.actor.real_name if e.actor else _("系统")
        obj = mask_phones(_object(e, n))
        known = _known(e.action)
        detail = mask_phones(e.summary or "")
        values = {"actor": actor, "object": obj, "detail": detail, "action": e.action}
        if known:
            sentence = str(known[1]) % values
        else:
            sentence = _("%(actor)s 执行了操作 %(action)s %(object)s") % values
        reason = ""
        if e.action in _REASON_ACTIONS:
            reason = mask_phones(e.summary or (e.after or {}).get("reason") or "")
        out.append(
            Readable(
                entry=e,
                sentence=" ".join(sentence.split()),
                action_name=action_name(e.action),
                actor=actor,
                unit=n.units.get(e.unit_id, "") if e.unit_id else "",
                reason=reason,
                changes=_changes(e, n),
            )
        )
    return out


def change_text(changes: list[Change], side: str) -> str:
    """The changes as one line for a spreadsheet cell: 标签：值；标签：值."""
    parts = []
    for c in changes:
        value = c.before if side == "before" else c.after
        if value is not None:
            parts.append(f"{c.label}：{value}")
    return "；".join(parts)

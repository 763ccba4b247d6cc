"""Administration pages (/admin, admins only) and the counter's one-time password.

- ``admin``: zones, units, the programme tree, people and roles, the readable audit log;
- ``counter`` (/organize/counter): an admin or an organizer gives a resident who forgot their
  password a one-time password (rule: :func:`portal.permissions.can_set_one_time_password`);
- a check before every request sends a person holding a one-time password to choose their
  own first (:func:`_must_change_password_first`).
"""

from __future__ import annotations

import re

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from portal import exports, permissions
from portal.admin import auditlog, services
from portal.admin.forms import (
    AuditFilterForm,
    ButtonForm,
    ConfirmForm,
    CounterForm,
    ProgrammeForm,
    SearchForm,
    UnitForm,
    UnitRoleForm,
    ZoneForm,
    ZoneRoleForm,
)
from portal.admin.services import AdminError
from portal.audit.services import record
from portal.database import writes
from portal.extensions import db
from portal.forms import refuse
from portal.models import Programme, Unit, UnitKind, User, Zone, activity_programmes
from portal.timeutil import local_today

bp = Blueprint("admin", __name__, url_prefix="/admin")
counter_bp = Blueprint("counter", __name__, url_prefix="/organize/counter")

UNIT_KINDS = {
    UnitKind.DEPARTMENT: _l("部门"),
    UnitKind.STREET_OFFICE: _l("街道办事处"),
    UnitKind.COMMUNITY: _l("社区"),
    UnitKind.VOLUNTEER_TEAM: _l("志愿服务队"),
}


def unit_kind_label(kind) -> str:
    label = UNIT_KINDS.get(kind)
    return str(label) if label is not None else str(kind or "")


@bp.app_context_processor
def _helpers():
    return {"unit_kind_label": unit_kind_label}


@bp.before_request
def _admins_only():
    if not current_user.is_authenticated:
        from portal.extensions import login_manager

        return login_manager.unauthorized()
    if not permissions.can_administer(current_user):
        abort(403)
    return None


@counter_bp.before_request
def _organizers_only():
    if not current_user.is_authenticated:
        from portal.extensions import login_manager

        return login_manager.unauthorized()
    if not permissions.is_organizer(current_user):
        abort(403)
    return None


# --- a one-time password must be replaced before anything else -------------------------------

_ALLOWED_WHILE_CHANGING = {
    "auth.change_password",
    "auth.logout",
    "auth.privacy",
    "static",
    "main.set_language",
    "main.toggle_large_text",
    "main.healthz",
}


@bp.before_app_request
def _must_change_password_first():
    """A person logged in with a one-time password goes to 修改密码 first.

    ``User.must_change_password`` is set at the counter and cleared by
    :func:`portal.auth.services.change_password`.
    """
    if request.endpoint in _ALLOWED_WHILE_CHANGING or request.endpoint is None:
        return None
    if not current_user.is_authenticated or not current_user.must_change_password:
        return None
    if request.blueprint in ("api", "feeds"):  # no pages: data for programs, not a person
        return None
    flash(
        _("你是用一次性密码登录的。请先设置你自己的新密码：“当前密码”处填写一次性密码。"), "error"
    )
    return redirect(url_for("auth.change_password"))


# --- home -------------------------------------------------------------------------------------


@bp.route("/")
def index():
    counts = {
        "zones": db.session.scalar(select(func.count()).select_from(Zone)),
        "units": db.session.scalar(select(func.count()).select_from(Unit)),
        "programmes": db.session.scalar(select(func.count()).select_from(Programme)),
        "admins": services.active_admin_count(),
    }
    return render_template("admin/index.html", counts=counts, search=SearchForm(formdata=None))


# --- zones ------------------------------------------------------------------------------------


@bp.route("/zones")
def zones():
    rows = db.session.scalars(
        select(Zone).options(selectinload(Zone.leaders)).order_by(Zone.street, Zone.name)
    ).all()
    return render_template("admin/zones.html", zones=rows)


_PHONE_SPLIT = re.compile(r"[,，、;；\n]+")


def _phones(text: str) -> list[str]:
    """Phone numbers as typed: separated by commas or new lines, or by spaces between whole
    numbers ("138 0013 5678" is one number, "13800135678 13900001111" two)."""
    out = []
    for chunk in _PHONE_SPLIT.split(text or ""):
        chunk = chunk.strip()
        if not chunk:
            continue
        words = chunk.split()
        if len(words) > 1 and all(len(re.sub(r"\D", "", w)) >= 11 for w in words):
            out.extend(words)
        else:
            out.append(chunk)
    return out


def _zone_form(zone: Zone | None):
    form = ZoneForm(obj=zone)
    current = list(zone.leaders) if zone is not None else []
    form.leader_ids.choices = [(u.id, f"{u.real_name} {u.masked_phone}") for u in current]
    if request.method == "GET":
        form.leader_ids.data = [u.id for u in current]
    if form.validate_on_submit():
        from portal.auth.services import find_by_phone

        ids = set(form.leader_ids.data or [])
        ids &= {u.id for u in current}  # only people who were shown can be kept
        phones = _phones(form.add_leaders.data or "")
        if len(phones) > 30:
            form.add_leaders.errors.append(_("一次最多填写 30 个手机号。"))
            return form, None
        for phone in phones:
            person = find_by_phone(phone)
            if person is None or not person.is_active:
                form.add_leaders.errors.append(
                    _("没有找到手机号为 %(p)s 的账号（需要先注册）。", p=phone[:20])
                )
                return form, None
            ids.add(person.id)
        data = services.ZoneData(
            name=form.name.data,
            street=form.street.data or "",
            population=form.population.data,
            description=form.description.data or "",
            leader_ids=ids,
        )
        try:
            saved = services.save_zone(current_user, zone, data)
        except AdminError as exc:
            refuse(exc, form)
            return form, None
        db.session.commit()
        return form, saved
    return form, None


@bp.route("/zones/new", methods=["GET", "POST"])
def new_zone():
    form, saved = _zone_form(None)
    if saved is not None:
        flash(_("已新建片区 %(name)s。", name=saved.name), "success")
        return redirect(url_for("admin.zones"))
    return render_template("admin/zone_form.html", form=form, zone=None)


@bp.route("/zones/<int:zone_id>/edit", methods=["GET", "POST"])
def edit_zone(zone_id: int):
    zone = db.get_or_404(Zone, zone_id)
    form, saved = _zone_form(zone)
    if saved is not None:
        flash(_("已保存片区 %(name)s。", name=saved.name), "success")
        return redirect(url_for("admin.zones"))
    return render_template("admin/zone_form.html", form=form, zone=zone)


# --- units ------------------------------------------------------------------------------------


@bp.route("/units")
def units():
    rows = db.session.scalars(
        select(Unit).options(selectinload(Unit.organizers)).order_by(Unit.kind, Unit.name)
    ).all()
    return render_template("admin/units.html", units=rows)


def _unit_form(unit: Unit | None):
    form = UnitForm(obj=unit)
    form.kind.choices = [("", _("请选择"))] + [(k.value, str(v)) for k, v in UNIT_KINDS.items()]
    if request.method == "GET" and unit is not None:
        form.kind.data = unit.kind.value
    if form.validate_on_submit():
        try:
            saved = services.save_unit(current_user, unit, form.name.data, form.kind.data)
        except AdminError as exc:
            refuse(exc, form)
            return form, None
        db.session.commit()
        return form, saved
    return form, None


@bp.route("/units/new", methods=["GET", "POST"])
def new_unit():
    form, saved = _unit_form(None)
    if saved is not None:
        flash(_("已新建单位 %(name)s。", name=saved.name), "success")
        return redirect(url_for("admin.units"))
    return render_template("admin/unit_form.html", form=form, unit=None)


@bp.route("/units/<int:unit_id>/edit", methods=["GET", "POST"])
def edit_unit(unit_id: int):
    unit = db.get_or_404(Unit, unit_id)
    form, saved = _unit_form(unit)
    if saved is not None:
        flash(_("已保存单位 %(name)s。", name=saved.name), "success")
        return redirect(url_for("admin.units"))
    return render_template("admin/unit_form.html", form=form, unit=unit)


# --- programmes -------------------------------------------------------------------------------


@bp.route("/programmes")
def programmes():
    tree = services.programme_tree()
    used = dict(
        db.session.execute(
            select(activity_programmes.c.programme_id, func.count()).group_by(
                activity_programmes.c.programme_id
            )
        ).all()
    )
    return render_template("admin/programmes.html", tree=tree, used=used, button=ButtonForm())


def _programme_form(programme: Programme | None):
    form = ProgrammeForm(obj=programme)
    choices = [(0, _("（无，作为顶级项目）"))]
    for node, depth in services.programme_tree():
        if programme is not None and node.id == programme.id:
            continue
        choices.append((node.id, "　" * depth + node.name))
    form.parent_id.choices = choices
    if request.method == "GET" and programme is not None:
        form.parent_id.data = programme.parent_id or 0
    elif request.method == "GET":
        wanted = request.args.get("parent", "")
        form.parent_id.data = int(wanted) if wanted.isdigit() and len(wanted) < 10 else 0
    if form.validate_on_submit():
        data = services.ProgrammeData(
            code=form.code.data,
            name=form.name.data,
            parent_id=form.parent_id.data if form.parent_id.data != 0 else None,
            position=form.position.data,
            description=form.description.data or "",
        )
        try:
            saved = services.save_programme(current_user, programme, data)
        except AdminError as exc:
            refuse(exc, form)
            return form, None
        db.session.commit()
        return form, saved
    return form, None


@bp.route("/programmes/new", methods=["GET", "POST"])
def new_programme():
    form, saved = _programme_form(None)
    if saved is not None:
        flash(_("已新建项目 %(name)s。", name=saved.name), "success")
        return redirect(url_for("admin.programmes"))
    return render_template("admin/programme_form.html", form=form, programme=None)


@bp.route("/programmes/<int:programme_id>/edit", methods=["GET", "POST"])
def edit_programme(programme_id: int):
    programme = db.get_or_404(Programme, programme_id)
    form, saved = _programme_form(programme)
    if saved is not None:
        flash(_("已保存项目 %(name)s。", name=saved.name), "success")
        return redirect(url_for("admin.programmes"))
    return render_template(
        "admin/programme_form.html", form=form, programme=programme, button=ButtonForm()
    )


@bp.route("/programmes/<int:programme_id>/delete", methods=["POST"])
def delete_programme(programme_id: int):
    programme = db.get_or_404(Programme, programme_id)
    form = ButtonForm()
    if not form.validate_on_submit():
        flash(_("页面已过期，请刷新后再试。"), "error")
        return redirect(url_for("admin.programmes"))
    name = programme.name
    try:
        services.delete_programme(current_user, programme)
    except AdminError as exc:
        refuse(exc)
        return redirect(url_for("admin.programmes"))
    db.session.commit()
    flash(_("已删除项目 %(name)s。", name=name), "success")
    return redirect(url_for("admin.programmes"))


# --- people and roles -------------------------------------------------------------------------


@bp.route("/people")
def people():
    form = SearchForm(request.args)
    found = None
    if "q" in request.args:
        found = services.find_people(form.q.data) if form.validate() else []
    return render_template("admin/people.html", form=form, found=found, limit=services.SEARCH_LIMIT)


def _person(user_id: int) -> User:
    person = db.get_or_404(User, user_id)
    return person


@bp.route("/people/<int:user_id>")
@writes  # the audit entry of a view of the full phone number
def person(user_id: int):
    """The person's roles; the phone masked until the admin asks for it (that view is logged)."""
    person = _person(user_id)
    full = request.args.get("phone") == "full"
    if full and person.phone and permissions.can_view_full_phone(current_user):
        record("user.view_full", person, person.real_name)
        db.session.commit()
    return _person_page(person, full_phone=full)


def _person_page(person: User, unit_form=None, zone_form=None, status=200, full_phone=False):
    unit_form = unit_form or UnitRoleForm(formdata=None)
    zone_form = zone_form or ZoneRoleForm(formdata=None)
    _role_choices(person, unit_form, zone_form)
    return render_template(
        "admin/person.html",
        person=person,
        unit_form=unit_form,
        zone_form=zone_form,
        confirm=ConfirmForm(formdata=None),
        button=ButtonForm(formdata=None),
        counter=CounterForm(formdata=None),
        last_admin=person.is_admin and services.active_admin_count() <= 1,
        full_phone=full_phone and permissions.can_view_full_phone(current_user),
    ), status


def _role_choices(person: User, unit_form, zone_form) -> None:
    have_units = {u.id for u in person.units}
    have_zones = {z.id for z in person.led_zones}
    unit_form.unit_id.choices = [(0, _("请选择单位"))] + [
        (u.id, u.name)
        for u in db.session.scalars(select(Unit).order_by(Unit.name))
        if u.id not in have_units
    ]
    zone_form.zone_id.choices = [(0, _("请选择片区"))] + [
        (z.id, z.name)
        for z in db.session.scalars(select(Zone).order_by(Zone.name))
        if z.id not in have_zones
    ]


def _back(person: User):
    return redirect(url_for("admin.person", user_id=person.id))


@bp.route("/people/<int:user_id>/units", methods=["POST"])
def grant_organizer(user_id: int):
    person = _person(user_id)
    form = UnitRoleForm()
    _role_choices(person, form, ZoneRoleForm(formdata=None))
    if form.validate_on_submit():
        unit = db.session.get(Unit, form.unit_id.data)
        if unit is None:
            form.unit_id.errors = [*form.unit_id.errors]
            form.unit_id.errors.append(_("请从列表中选择单位。"))
        else:
            try:
                services.grant_organizer(current_user, person, unit)
            except AdminError as exc:
                refuse(exc, form)
            else:
                db.session.commit()
                flash(
                    _("%(name)s 现在是 %(unit)s 的组织者。", name=person.real_name, unit=unit.name),
                    "success",
                )
                return _back(person)
    return _person_page(person, unit_form=form, status=200)


@bp.route("/people/<int:user_id>/units/<int:unit_id>/remove", methods=["POST"])
def revoke_organizer(user_id: int, unit_id: int):
    person = _person(user_id)
    unit = db.get_or_404(Unit, unit_id)
    return _simple(
        person,
        ButtonForm(),
        lambda: services.revoke_organizer(current_user, person, unit),
        _("已取消 %(name)s 在 %(unit)s 的组织者角色。", name=person.real_name, unit=unit.name),
    )


@bp.route("/people/<int:user_id>/zones", methods=["POST"])
def grant_zone_leader(user_id: int):
    person = _person(user_id)
    form = ZoneRoleForm()
    _role_choices(person, UnitRoleForm(formdata=None), form)
    if form.validate_on_submit():
        zone = db.session.get(Zone, form.zone_id.data)
        if zone is None:
            form.zone_id.errors = [*form.zone_id.errors]
            form.zone_id.errors.append(_("请从列表中选择片区。"))
        else:
            try:
                services.grant_zone_leader(current_user, person, zone)
            except AdminError as exc:
                refuse(exc, form)
            else:
                db.session.commit()
                flash(
                    _(
                        "%(name)s 现在是 %(zone)s 片区的负责人。",
                        name=person.real_name,
                        zone=zone.name,
                    ),
                    "success",
                )
                return _back(person)
    return _person_page(person, zone_form=form, status=200)


@bp.route("/people/<int:user_id>/zones/<int:zone_id>/remove", methods=["POST"])
def revoke_zone_leader(user_id: int, zone_id: int):
    person = _person(user_id)
    zone = db.get_or_404(Zone, zone_id)
    return _simple(
        person,
        ButtonForm(),
        lambda: services.revoke_zone_leader(current_user, person, zone),
        _("已取消 %(name)s 在 %(zone)s 片区的负责人角色。", name=person.real_name, zone=zone.name),
    )


def _simple(person: User, form, action, done: str):
    """Run a one-button action: on success flash ``done``; either way back to the person."""
    if not form.validate_on_submit():
        if getattr(form, "confirm", None) is not None and form.confirm.errors:
            flash(form.confirm.errors[0], "error")
        else:
            flash(_("页面已过期，请刷新后再试。"), "error")
        return _back(person)
    try:
        action()
    except AdminError as exc:
        refuse(exc)
        return _back(person)
    db.session.commit()
    flash(done, "success")
    return _back(person)


@bp.route("/people/<int:user_id>/admin", methods=["POST"])
def grant_admin(user_id: int):
    person = _person(user_id)
    return _simple(
        person,
        ConfirmForm(),
        lambda: services.grant_admin(current_user, person),
        _("%(name)s 现在是管理员。", name=person.real_name),
    )


@bp.route("/people/<int:user_id>/admin/remove", methods=["POST"])
def revoke_admin(user_id: int):
    person = _person(user_id)
    return _simple(
        person,
        ConfirmForm(),
        lambda: services.revoke_admin(current_user, person),
        _("已取消 %(name)s 的管理员角色。", name=person.real_name),
    )


@bp.route("/people/<int:user_id>/deactivate", methods=["POST"])
def deactivate(user_id: int):
    person = _person(user_id)
    return _simple(
        person,
        ConfirmForm(),
        lambda: services.deactivate(current_user, person),
        _("已停用 %(name)s 的账号，其登录已全部失效。", name=person.real_name),
    )


@bp.route("/people/<int:user_id>/reactivate", methods=["POST"])
def reactivate(user_id: int):
    person = _person(user_id)
    return _simple(
        person,
        ButtonForm(),
        lambda: services.reactivate(current_user, person),
        _("已恢复 %(name)s 的账号。", name=person.real_name),
    )


# --- the audit log ----------------------------------------------------------------------------


def _audit_filters():
    form = AuditFilterForm(request.args)
    form.action.choices = [("", _("全部操作"))] + auditlog.action_choices()
    units = db.session.execute(select(Unit.id, Unit.name).order_by(Unit.name)).all()
    form.unit.choices = [("", _("全部单位"))] + [(str(i), n) for i, n in units]
    filters = auditlog.Filters()
    ok = form.validate()
    if ok:
        filters = auditlog.Filters(
            person=form.person.data or "",
            action=form.action.data or "",
            unit_id=int(form.unit.data) if form.unit.data else None,
            date_from=form.date_from.data,
            date_to=form.date_to.data,
        )
    return form, filters, ok


@bp.route("/audit")
def audit():
    form, filters, ok = _audit_filters()
    raw = request.args.get("page", "1")
    page = int(raw) if raw.isdigit() and 1 <= int(raw) <= 10_000 else 1
    result = auditlog.page_of(filters, page) if ok else None
    return render_template(
        "admin/audit.html",
        form=form,
        result=result,
        args=filters.args(),
        export_limit=auditlog.EXPORT_LIMIT,
    )


@bp.route("/audit.csv")
@writes  # the export is itself logged
def audit_export():
    form, filters, ok = _audit_filters()
    if not ok:
        flash(_("筛选条件有误，请修改后再导出。"), "error")
        return redirect(url_for("admin.audit", **request.args))
    rows = auditlog.export_rows(filters)
    header = [
        _("时间"),
        _("操作人"),
        _("操作"),
        _("内容"),
        _("原因"),
        _("修改前"),
        _("修改后"),
        _("单位"),
        _("IP"),
    ]
    from portal.timeutil import to_local

    body = [
        [
            to_local(r.entry.created_at).strftime("%Y-%m-%d %H:%M:%S"),
            r.actor,
            r.action_name,
            r.sentence,
            r.reason,
            auditlog.change_text(r.changes, "before"),
            auditlog.change_text(r.changes, "after"),
            r.unit,
            r.entry.ip,
        ]
        for r in rows
    ]
    record("export.audit.csv", None, "", after={"rows": len(body), "filters": filters.args()})
    db.session.commit()
    return exports.download(
        exports.to_csv(header, body), f"audit-{local_today():%Y%m%d}.csv", "text/csv; charset=utf-8"
    )


# --- the counter: a one-time password ---------------------------------------------------------


@counter_bp.route("/")
def counter():
    form = SearchForm(request.args)
    found = None
    if "q" in request.args:
        within = None if permissions.is_admin(current_user) else [u.id for u in current_user.units]
        found = services.find_people(form.q.data, within_units=within) if form.validate() else []
        # the search above kept only people who signed up with the organizer's units
        found = [
            p
            for p in found
            if permissions.can_set_one_time_password(current_user, p, signed_up=True)
        ]
    return render_template(
        "admin/counter.html", form=form, found=found, counter=CounterForm(formdata=None)
    )


@counter_bp.route("/<int:user_id>", methods=["POST"])
def one_time_password(user_id: int):
    person = permissions.get_person_for_counter_or_403(user_id)
    form = CounterForm()
    if not form.validate_on_submit():
        message = (form.identity_checked.errors or [_("页面已过期，请刷新后再试。")])[0]
        return render_template(
            "admin/counter.html",
            form=SearchForm(formdata=None),
            found=[person],
            counter=form,
            error_for=person.id,
            error=message,
        ), 200
    try:
        password = services.set_one_time_password(current_user, person)
    except AdminError as exc:
        refuse(exc)
        abort(403)
    db.session.commit()
    # Shown on this response only: never stored, flashed or put in a URL.
    response = render_template("admin/one_time_password.html", person=person, password=password)
    return response, 200, {"Cache-Control": "no-store"}

"""The dashboard pages, their XLSX exports, and leaders' visits.

Who sees what (:func:`services.scope_for`): admins the whole district, zone leaders their
zones (ranked among all zones), organizers their units; residents get 403.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user, login_required
from wtforms.fields.choices import SelectChoice

from portal import exports, pagecache, permissions
from portal.audit.services import record
from portal.dashboard import charts, services
from portal.dashboard.forms import ActionForm, PeriodForm, VisitForm
from portal.dashboard.services import DashboardError
from portal.database import writes
from portal.extensions import db
from portal.forms import attach_error
from portal.models import Activity
from portal.privacy import mask_name
from portal.timeutil import fmt_day, local_today

bp = Blueprint("dashboard", __name__, url_prefix="/dashboard")

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
TABLES = ("zones", "units", "programmes", "leaders", "trend")


def _scope_or_403() -> services.Scope:
    scope = services.scope_for(current_user)
    if scope is None or not permissions.can_view_dashboard(current_user):
        abort(403)
    return scope


def _period(form: PeriodForm) -> services.Period:
    """The period asked for; a bad custom range is shown on the form and this month used."""
    kind = request.args.get("period") or "month"
    if kind == "custom" and not form.validate():  # a date that is not a date
        return services.make_period("month")
    try:
        return services.make_period(kind, form.start.data, form.end.data)
    except DashboardError as exc:
        attach_error(form, exc)
        return services.make_period("month")


def _build(scope: services.Scope, period: services.Period) -> dict:
    """Every table of the page; a fixed number of statements whatever the data size."""
    board = services.board(period, scope)
    if scope.shows_ranking:
        zones = services.ranked(board, period)
        if scope.zone_ids is not None:
            zones = [z for z in zones if z.key in scope.zone_ids]
    else:
        zones = board.zones
    return {
        "zones": zones,
        "units": board.units,
        "programmes": board.programmes,
        "weeks": board.weeks,
        "leaders": services.leader_rows(period, scope),
        "zone_count": len(board.zones) if scope.zone_ids is not None else None,
    }


def _week_label(day: date) -> str:
    return f"{day.month}/{day.day}"


@bp.route("/")
@login_required
def index():
    # The rendered page is kept by data version and person (portal/pagecache.py): at S=1 it
    # lists every unit and programme, ~200 KB that took ~20 ms to render even from a kept
    # board. "This month" changes at local midnight, which bounds every entry.
    return pagecache.serve(_render_index)


def _render_index() -> str:
    scope = _scope_or_403()
    form = PeriodForm(request.args, meta={"csrf": False})
    period = _period(form)
    form.period.data = period.kind
    if period.kind == "custom":
        form.start.data, form.end.data = period.start, period.end
    data = _build(scope, period)
    zones, weeks = data["zones"], data["weeks"]
    ranking_chart = None
    if scope.shows_ranking and zones:
        ranking_chart = charts.ranking_bars(
            "rank-chart",
            _("片区综合得分排名"),
            [
                charts.Bar(
                    f"{z.rank} {z.name}",
                    z.score,
                    f"{z.score:.1f}",
                    z.bottom,
                    _("排名靠后") if z.bottom else "",
                )
                for z in zones
            ],
        )
    labels = [_week_label(w.start) for w in weeks]
    signup_chart = charts.weekly_columns(
        "signups-chart",
        _("每周报名人次（按班次开始时间）"),
        labels,
        [w.signups for w in weeks],
        _("人次"),
    )
    hours_chart = charts.weekly_columns(
        "hours-chart",
        _("每周确认志愿服务时长（小时）"),
        labels,
        [float(w.hours) for w in weeks],
        _("小时"),
    )
    return render_template(
        "dashboard/index.html",
        form=form,
        period=period,
        scope=scope,
        **data,
        zone_total=services.totals(zones),
        unit_total=services.totals(data["units"], population=False),
        ranking_chart=ranking_chart,
        signup_chart=signup_chart,
        hours_chart=hours_chart,
        weights=services.score_weights(),
        parts=services.SCORE_PARTS,
        visits_per_month=current_app.config["LEADER_VISITS_PER_MONTH"],
        bottom_n=current_app.config["DASHBOARD_BOTTOM_ZONES"],
        export_args=_export_args(period),
        mask_name=mask_name,
    )


def _export_args(period: services.Period) -> dict:
    args = {"period": period.kind}
    if period.kind == "custom":
        args.update(start=period.start.isoformat(), end=period.end.isoformat())
    return args


# --- exports ----------------------------------------------------------------------------------


def _num(value) -> float | int | None:
    if value is None:
        return None
    if isinstance(value, Decimal):
        return float(value)
    return value


def _figure_header(first: list[str]) -> list[str]:
    return [
        *first,
        _("开始日期"),
        _("结束日期"),
        _("活动数"),
        _("班次数"),
        _("岗位数"),
        _("已报名岗位"),
        _("满员率"),
        _("报名人次"),
        _("参与人数"),
        _("确认时长（小时）"),
        _("出勤"),
        _("缺席"),
        _("缺席率"),
    ]


def _figure_cells(f: services.Figures, period: services.Period) -> list:
    return [
        period.start,
        period.end,
        f.activities,
        f.shifts,
        f.capacity,
        f.taken,
        _num(f.fill_rate),
        f.signups,
        f.participants,
        _num(f.hours),
        f.attended,
        f.no_shows,
        _num(f.no_show_rate),
    ]


def _table(name: str, scope: services.Scope, period: services.Period):
    data = _build(scope, period)
    if name == "zones":
        ranked = scope.shows_ranking
        header = _figure_header(
            [_("排名"), _("上期排名"), _("综合得分"), _("片区"), _("街道")]
            if ranked
            else [_("片区"), _("街道")]
        )
        header += [_("常住人口"), _("参与率"), _("挂片领导"), _("领导走访")]
        rows = []
        for z in data["zones"]:
            first = (
                [z.rank, z.previous_rank, z.score, z.name, z.extra] if ranked else [z.name, z.extra]
            )
            rows.append(
                [
                    *first,
                    *_figure_cells(z, period),
                    z.population,
                    _num(z.participation_rate),
                    z.leaders,
                    z.visits,
                ]
            )
        return _("片区"), header, rows
    if name == "units":
        return (
            _("责任单位"),
            _figure_header([_("责任单位")]),
            [[u.name, *_figure_cells(u, period)] for u in data["units"]],
        )
    if name == "programmes":
        return (
            _("项目"),
            _figure_header([_("上级项目"), _("项目")]),
            [[p.extra, p.name, *_figure_cells(p, period)] for p in data["programmes"]],
        )
    if name == "leaders":
        header = [_("挂片领导"), _("片区"), _("月份"), _("走访次数"), _("每月目标")]
        target = current_app.config["LEADER_VISITS_PER_MONTH"]
        rows = [
            [mask_name(r.name), "、".join(r.zones), month, n, target]
            for r in data["leaders"]
            for month, n in r.months
        ]
        return _("领导走访"), header, rows
    header = [_("周一"), _("周日"), _("报名人次"), _("确认时长（小时）")]
    rows = [[w.start, w.end, w.signups, _num(w.hours)] for w in data["weeks"]]
    return _("每周趋势"), header, rows


@bp.route("/export/<name>.xlsx")
@login_required
@writes
def export(name: str):
    """One table of the page as XLSX: numbers as numbers, rates as fractions, dates as
    dates. Logged, like every export."""
    scope = _scope_or_403()
    if name not in TABLES:
        abort(404)
    period = _period(PeriodForm(request.args, meta={"csrf": False}))
    title, header, rows = _table(name, scope, period)
    stem = f"{title}_{period.start.isoformat()}_{period.end.isoformat()}"
    record(
        f"export.dashboard.{name}.xlsx",
        None,
        stem,
        after={
            "rows": len(rows),
            "period": [period.start.isoformat(), period.end.isoformat()],
            "scope": scope.role,
        },
    )
    db.session.commit()
    return exports.download(exports.to_xlsx(title, header, rows), f"{stem}.xlsx", XLSX)


# --- leader visits ----------------------------------------------------------------------------


def _leader_or_403():
    if not permissions.can_record_visits(current_user):
        abort(403)


def _visit_form() -> VisitForm:
    form = VisitForm()
    form.zone.choices = [SelectChoice("", _("请选择片区"))] + [
        SelectChoice(str(z.id), z.name) for z in services.visit_zones(current_user)
    ]
    return form


@bp.route("/visits")
@login_required
def visits():
    _leader_or_403()
    return _visits_page(_visit_form())


def _visits_page(form: VisitForm, status: int = 200):
    visits = services.visits_of(current_user)
    return render_template(
        "dashboard/visits.html",
        form=form,
        visits=visits,
        action=ActionForm(),
        today_activities=services.todays_activities(current_user),
        month_count=services.month_visits(current_user),
        target=current_app.config["LEADER_VISITS_PER_MONTH"],
        zones=services.visit_zones(current_user),
        mask_name=mask_name,
    ), status


@bp.route("/visits/new", methods=["GET", "POST"])
@login_required
def new_visit():
    _leader_or_403()
    form = _visit_form()
    if request.method == "GET":
        form.visited_on.data = form.visited_on.data or local_today()
        return render_template("dashboard/visit_form.html", form=form)
    if form.validate_on_submit():
        zone_id = int(form.zone.data) if str(form.zone.data or "").isdigit() else None
        try:
            visit = services.record_visit(
                current_user, zone_id, form.visited_on.data, form.place.data, form.notes.data or ""
            )
        except DashboardError as exc:
            db.session.rollback()
            attach_error(form, exc)
        else:
            db.session.commit()
            flash(
                _(
                    "已记下 %(day)s 在%(zone)s的走访。本月你已走访 %(n)d 次（目标每月 %(t)d 次）。",
                    day=fmt_day(visit.visited_on),
                    zone=visit.zone.name,
                    n=services.month_visits(current_user),
                    t=current_app.config["LEADER_VISITS_PER_MONTH"],
                ),
                "success",
            )
            return redirect(url_for("dashboard.visits"))
    return render_template("dashboard/visit_form.html", form=form)


@bp.route("/visits/checkin/<int:activity_id>", methods=["POST"])
@login_required
def checkin(activity_id: int):
    _leader_or_403()
    activity = db.get_or_404(Activity, activity_id)
    if not ActionForm().validate_on_submit():
        flash(_("页面已过期，请重新操作。"), "error")
        return redirect(url_for("dashboard.visits"))
    try:
        services.check_in(current_user, activity)
    except DashboardError as exc:
        db.session.rollback()
        flash(str(exc), "error")
    else:
        db.session.commit()
        flash(
            _(
                "已签到：%(title)s，记为今天在%(zone)s的一次走访。",
                title=activity.title,
                zone=activity.zone.name,
            ),
            "success",
        )
    return redirect(url_for("dashboard.visits"))


@bp.route("/visits/<int:visit_id>/delete", methods=["POST"])
@login_required
def delete_visit(visit_id: int):
    _leader_or_403()
    visit = permissions.get_visit_or_403(visit_id)
    if not ActionForm().validate_on_submit():
        flash(_("页面已过期，请重新操作。"), "error")
        return redirect(url_for("dashboard.visits"))
    day = fmt_day(visit.visited_on)
    services.delete_visit(current_user, visit)
    db.session.commit()
    flash(_("已删除 %(day)s 的走访记录。", day=day), "success")
    return redirect(url_for("dashboard.visits"))

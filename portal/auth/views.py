"""Register, log in, log out, profile, password, consent, own data export and deletion."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user, login_required, logout_user
from sqlalchemy.exc import IntegrityError

from portal import exports
from portal.account import services as account
from portal.auth import services
from portal.auth.forms import (
    ChangePasswordForm,
    ConsentForm,
    DeleteAccountForm,
    LoginForm,
    ProfileForm,
    RegisterForm,
    WithdrawConsentForm,
)
from portal.database import writes
from portal.extensions import db, limiter
from portal.security import client_address
from portal.timeutil import local_today
from portal.urls import is_safe_next

bp = Blueprint("auth", __name__, url_prefix="/account")


def _next_url() -> str:
    target = request.args.get("next") or request.form.get("next")
    return target if is_safe_next(target) else url_for("main.home")


def _landing() -> str:
    """After logging in: where the person was going, else their work (admins and zone
    leaders: the dashboard), else the home page."""
    target = request.args.get("next") or request.form.get("next")
    if is_safe_next(target):
        return target
    from portal.dashboard.services import landing_endpoint

    return url_for(landing_endpoint(current_user))


@bp.route("/register", methods=["GET", "POST"])
def register():
    if current_user.is_authenticated:
        return redirect(url_for("main.home"))
    form = RegisterForm()
    if form.validate_on_submit():
        try:
            user = services.register(
                services.Registration(
                    real_name=form.real_name.data,
                    phone=form.phone.data,
                    password=form.password.data,
                    consent=form.consent.data,
                )
            )
        except services.AccountError as exc:
            db.session.rollback()
            flash(str(exc), "error")
        else:
            try:
                db.session.commit()
            except IntegrityError:  # the same phone registered a moment ago elsewhere
                db.session.rollback()
                form.phone.errors.append(_("这个手机号已经注册过，请直接登录。"))
                return render_template(
                    "auth/register.html", form=form, next=request.args.get("next", "")
                )
            services.start_session(user)
            flash(_("注册成功，欢迎加入！现在可以报名参加活动了。"), "success")
            return redirect(_next_url())
    return render_template("auth/register.html", form=form, next=request.args.get("next", ""))


@bp.route("/login", methods=["GET", "POST"])
def login():
    if current_user.is_authenticated:
        return redirect(_next_url())
    form = LoginForm()
    if form.validate_on_submit():
        # Limited per phone and per address (raises a 429 with the waiting time).
        user = services.login_attempt(form.phone.data, form.password.data, client_address())
        if user is None:
            flash(_("手机号或密码不正确。"), "error")
        else:
            db.session.commit()  # a rehashed password is saved
            services.start_session(user, remember=form.remember.data)
            flash(_("已登录。"), "success")
            return redirect(_landing())
    return render_template("auth/login.html", form=form, next=request.args.get("next", ""))


@bp.route("/logout", methods=["POST"])
def logout():
    # Every session and remember cookie of the person ends, so a copied cookie is worthless.
    if current_user.is_authenticated:
        services.end_all_sessions(current_user)
        db.session.commit()
    logout_user()
    flash(_("已退出登录。"), "success")
    return redirect(url_for("main.home"))


@bp.route("/logout-everywhere", methods=["POST"])
@login_required
def logout_everywhere():
    services.end_all_sessions(current_user)
    db.session.commit()
    logout_user()
    flash(_("已在所有设备上退出登录，包括这台设备。请重新登录。"), "success")
    return redirect(url_for("auth.login"))


@bp.route("/privacy")
def privacy():
    return render_template(
        "auth/privacy.html", version=current_app.config["PRIVACY_NOTICE_VERSION"]
    )


@bp.route("/profile")
@login_required
def profile():
    return render_template("auth/profile.html", consent_needed=account.needs_consent(current_user))


@bp.route("/password", methods=["GET", "POST"])
@login_required
def change_password():
    form = ChangePasswordForm()
    if form.validate_on_submit():
        try:
            services.change_password(current_user, form.current.data, form.new.data)
        except services.AccountError as exc:
            db.session.rollback()
            flash(str(exc), "error")
        else:
            remembered = services.session_is_remembered(current_user)
            db.session.commit()
            # Keep this device logged in with a new token; every other session has ended.
            services.start_session(current_user._get_current_object(), remember=remembered)
            flash(_("密码已修改，其他设备上的登录已失效。"), "success")
            return redirect(url_for("auth.profile"))
    return render_template("auth/password.html", form=form)


# --- profile ----------------------------------------------------------------------------------


@bp.route("/profile/edit", methods=["GET", "POST"])
@login_required
def edit_profile():
    form = ProfileForm(obj=current_user)
    if form.validate_on_submit():
        try:
            changed = account.update_profile(current_user, form.real_name.data, form.email.data)
        except account.AccountError as exc:
            db.session.rollback()
            flash(str(exc), "error")
        else:
            db.session.commit()
            flash(_("资料已保存。") if changed else _("资料没有变化。"), "success")
            return redirect(url_for("auth.profile"))
    return render_template("auth/edit_profile.html", form=form)


# --- consent ----------------------------------------------------------------------------------

# Requests that collect new personal data: refused until the current notice is accepted.
CONSENT_GATED_ENDPOINTS = frozenset({"signups.sign_up"})
# Pages that never show the "please agree" interstitial (the notice itself, logging out …).
_NO_INTERSTITIAL_PREFIXES = ("auth.", "static", "feeds.", "api.")


def _same_site_referrer() -> str | None:
    ref = request.referrer
    if not ref:
        return None
    parts = urlsplit(ref)
    if parts.netloc != request.host:
        return None
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    return target if is_safe_next(target) else None


@bp.before_app_request
def ask_for_current_consent():
    """Send a person who has not agreed to the current notice to the consent page.

    Sign-up POSTs always go there; other pages only once per session, so the person can say
    "later" and keep browsing. Costs no query: the user row is loaded for the page anyway.
    """
    endpoint = request.endpoint or ""
    if request.method == "POST" and endpoint in CONSENT_GATED_ENDPOINTS:
        if account.needs_consent(current_user):
            nxt = request.form.get("next")
            nxt = nxt if is_safe_next(nxt) else _same_site_referrer()
            flash(_("个人信息保护说明已更新，请阅读并同意后再报名。"), "warning")
            return redirect(url_for("auth.consent", next=nxt))
        return None
    if request.method != "GET" or not endpoint or endpoint.startswith(_NO_INTERSTITIAL_PREFIXES):
        return None
    version = current_app.config["PRIVACY_NOTICE_VERSION"]
    if session.get("consent_asked") == version or not account.needs_consent(current_user):
        return None
    session["consent_asked"] = version
    return redirect(url_for("auth.consent", next=request.full_path.rstrip("?")))


@bp.route("/consent", methods=["GET", "POST"])
@login_required
def consent():
    form = ConsentForm()
    nxt = form.next.data if request.method == "POST" else request.args.get("next")
    nxt = nxt if is_safe_next(nxt) else None
    if form.validate_on_submit():
        account.give_consent(current_user)
        db.session.commit()
        flash(_("已同意新版个人信息保护说明，谢谢。"), "success")
        return redirect(nxt or url_for("auth.profile"))
    form.next.data = nxt or ""
    return render_template(
        "auth/consent.html",
        form=form,
        version=current_app.config["PRIVACY_NOTICE_VERSION"],
        needed=account.needs_consent(current_user),
        later=nxt or url_for("main.home"),
    )


@bp.route("/consent/withdraw", methods=["GET", "POST"])
@login_required
def withdraw_consent():
    form = WithdrawConsentForm()
    if form.validate_on_submit():
        account.withdraw_consent(current_user)
        db.session.commit()
        session["consent_asked"] = current_app.config["PRIVACY_NOTICE_VERSION"]
        flash(
            _(
                "已撤回同意：不能再报名新的活动，个人日历链接已停用，电子邮箱已删除。"
                "已有的报名和服务记录保留。"
            ),
            "success",
        )
        return redirect(url_for("auth.profile"))
    return render_template(
        "auth/withdraw_consent.html", form=form, given=current_user.consent_version is not None
    )


# --- own data export --------------------------------------------------------------------------


@bp.route("/export")
@login_required
def export():
    return render_template("auth/export.html")


@bp.route("/export.<fmt>")
@writes  # the export is logged
@login_required
def export_download(fmt: str):
    if fmt not in ("json", "csv"):
        abort(404)
    body, mimetype = account.export_account(current_user, fmt)
    db.session.commit()
    return exports.download(
        body, f"my-data-{local_today().isoformat()}.{fmt}", f"{mimetype}; charset=utf-8"
    )


# --- account deletion -------------------------------------------------------------------------


@bp.route("/delete", methods=["GET", "POST"])
@login_required
@limiter.limit("10 per hour", methods=["POST"])
def delete_account():
    form = DeleteAccountForm()
    if form.validate_on_submit():
        try:
            result = account.close_account(current_user, form.password.data)
        except account.AccountError as exc:
            db.session.rollback()
            flash(str(exc), "error")
        else:
            db.session.commit()
            logout_user()
            session.pop("consent_asked", None)
            flash(
                _(
                    "你的账号已注销：联系方式已删除，%(n)d 个未开始的报名已取消。"
                    "过去的服务记录按规定匿名保存。感谢你的参与！",
                    n=result.cancelled,
                ),
                "success",
            )
            return redirect(url_for("main.home"))
    upcoming = account.future_signups(current_user)
    return render_template("auth/delete.html", form=form, upcoming=upcoming)

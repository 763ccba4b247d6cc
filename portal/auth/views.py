"""Register, log in, log out, profile and password."""

from __future__ import annotations

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required, login_user, logout_user
from sqlalchemy.exc import IntegrityError

from portal.auth import services
from portal.auth.forms import ChangePasswordForm, LoginForm, RegisterForm
from portal.extensions import db, limiter
from portal.urls import is_safe_next

bp = Blueprint("auth", __name__, url_prefix="/account")


def _next_url() -> str:
    target = request.args.get("next") or request.form.get("next")
    return target if is_safe_next(target) else url_for("main.home")


@bp.route("/register", methods=["GET", "POST"])
@limiter.limit("10 per hour", methods=["POST"])
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
            login_user(user)
            flash(_("注册成功，欢迎加入！现在可以报名参加活动了。"), "success")
            return redirect(_next_url())
    return render_template("auth/register.html", form=form, next=request.args.get("next", ""))


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit("20 per 15 minutes", methods=["POST"])
def login():
    if current_user.is_authenticated:
        return redirect(_next_url())
    form = LoginForm()
    if form.validate_on_submit():
        user = services.authenticate(form.phone.data, form.password.data)
        if user is None:
            flash(_("手机号或密码不正确。"), "error")
        else:
            db.session.commit()  # a rehashed password is saved
            login_user(user, remember=form.remember.data)
            flash(_("已登录。"), "success")
            return redirect(_next_url())
    return render_template("auth/login.html", form=form, next=request.args.get("next", ""))


@bp.route("/logout", methods=["POST"])
def logout():
    logout_user()
    flash(_("已退出登录。"), "success")
    return redirect(url_for("main.home"))


@bp.route("/privacy")
def privacy():
    return render_template(
        "auth/privacy.html", version=current_app.config["PRIVACY_NOTICE_VERSION"]
    )


@bp.route("/profile")
@login_required
def profile():
    return render_template("auth/profile.html")


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
            db.session.commit()
            login_user(current_user)  # keep this session; others end with the old version
            flash(_("密码已修改，其他设备上的登录已失效。"), "success")
            return redirect(url_for("auth.profile"))
    return render_template("auth/password.html", form=form)

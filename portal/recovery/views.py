"""忘记密码 (a reset link by e-mail, or the counter) and changing one's phone number."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required, logout_user

from portal.domain import DomainError
from portal.extensions import db
from portal.forms import attach_error
from portal.notifications import mail
from portal.recovery import services
from portal.recovery.forms import ChangePhoneForm, ForgotForm, ResetForm

bp = Blueprint("recovery", __name__, url_prefix="/account")


@bp.route("/forgot", methods=["GET", "POST"])
def password_reset_request():
    form = ForgotForm()
    sent = False
    if form.validate_on_submit():
        services.request_reset(form.who.data)  # the answer never depends on the result
        db.session.commit()
        sent = True
    return render_template(
        "recovery/forgot.html",
        form=form,
        sent=sent,
        mail_on=mail.mail_enabled(),
        minutes=services.reset_minutes(),
    )


@bp.route("/reset/<token>", methods=["GET", "POST"])
def password_reset(token: str):
    user = services.user_for_token(token)
    if user is None:
        return render_template("recovery/reset_invalid.html", minutes=services.reset_minutes()), 410
    form = ResetForm(phone=user.phone or "")
    if form.validate_on_submit():
        try:
            services.reset_password(user, form.new.data)
        except DomainError as exc:
            db.session.rollback()
            attach_error(form, exc)
        else:
            db.session.commit()
            if current_user.is_authenticated:
                logout_user()
            flash(_("密码已重设。请用新密码登录；其他设备上的登录都已退出。"), "success")
            return redirect(url_for("auth.login"))
    return render_template("recovery/reset.html", form=form)


@bp.route("/phone", methods=["GET", "POST"])
@login_required
def change_phone():
    form = ChangePhoneForm()
    if form.validate_on_submit():
        try:
            phone = services.change_phone(current_user, form.password.data, form.phone.data)
        except DomainError as exc:
            db.session.rollback()
            attach_error(form, exc)
        else:
            db.session.commit()
            flash(_("手机号已改为 %(phone)s，以后请用这个号码登录。", phone=phone), "success")
            return redirect(url_for("auth.profile"))
    return render_template("recovery/phone.html", form=form)

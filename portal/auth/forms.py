"""Account forms."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, HiddenField, PasswordField, StringField, SubmitField
from wtforms.fields import EmailField, TelField
from wtforms.validators import DataRequired, EqualTo, Length, Optional, ValidationError

from portal.account.services import MAX_EMAIL_LENGTH, is_valid_email
from portal.auth.services import (
    find_by_phone,
    is_unclaimed,
    is_valid_phone,
    name_problem,
    normalise_name,
    normalise_phone,
    password_problem,
)


class PhoneField(TelField):
    """A mainland mobile number field, normalised (spaces, dashes, +86 removed)."""

    def process_formdata(self, valuelist):
        super().process_formdata(valuelist)
        if self.data:
            self.data = normalise_phone(self.data)


def _real_name(form, field):
    problem = name_problem(field.data or "")
    if problem:
        raise ValidationError(problem)


def _normalise_name(value):
    return normalise_name(value) if isinstance(value, str) else value


def _valid_phone(form, field):
    if not is_valid_phone(field.data or ""):
        raise ValidationError(_l("请输入11位中国大陆手机号，例如 13812345678。"))


class RegisterForm(FlaskForm):
    real_name = StringField(
        _l("真实姓名"),
        filters=[_normalise_name],
        validators=[DataRequired(_l("请填写真实姓名。")), _real_name],
        description=_l("用于志愿服务记录和证明，其他人只会看到“张*”这样的遮挡形式。"),
        render_kw={"autocomplete": "name", "maxlength": 40},
    )
    phone = PhoneField(
        _l("手机号"),
        validators=[DataRequired(_l("请填写手机号。")), _valid_phone],
        description=_l("作为登录账号，不会公开显示。"),
        render_kw={"autocomplete": "tel", "inputmode": "numeric"},
    )
    password = PasswordField(
        _l("密码"),
        validators=[DataRequired(_l("请设置密码。")), Length(max=128)],
        description=_l("至少8位，不要用生日、连续数字或手机号。"),
        render_kw={"autocomplete": "new-password"},
    )
    password2 = PasswordField(
        _l("再次输入密码"),
        validators=[
            DataRequired(_l("请再次输入密码。")),
            EqualTo("password", _l("两次输入的密码不一致。")),
        ],
        render_kw={"autocomplete": "new-password"},
    )
    consent = BooleanField(
        _l("我已阅读并同意《个人信息保护说明》"),
        validators=[DataRequired(_l("需要阅读并同意个人信息保护说明才能注册。"))],
    )
    submit = SubmitField(_l("注册"))

    def validate_phone(self, field):
        existing = find_by_phone(field.data) if is_valid_phone(field.data or "") else None
        if existing is not None and not is_unclaimed(existing):
            raise ValidationError(_l("这个手机号已经注册过，请直接登录。"))

    def validate_password(self, field):
        problem = password_problem(field.data or "", self.phone.data or "")
        if problem:
            raise ValidationError(problem)


class LoginForm(FlaskForm):
    phone = PhoneField(
        _l("手机号"),
        validators=[DataRequired(_l("请填写手机号。"))],
        render_kw={"autocomplete": "tel", "inputmode": "numeric"},
    )
    password = PasswordField(
        _l("密码"),
        validators=[DataRequired(_l("请输入密码。")), Length(max=128)],
        render_kw={"autocomplete": "current-password"},
    )
    remember = BooleanField(_l("在这台设备上保持登录"))
    submit = SubmitField(_l("登录"))


class NewPasswordForm(FlaskForm):
    """A new password typed twice: changing one's password and resetting it share these."""

    new = PasswordField(
        _l("新密码"),
        validators=[DataRequired(_l("请设置新密码。")), Length(max=128)],
        description=_l("至少8位，不要用生日、连续数字或手机号。"),
        render_kw={"autocomplete": "new-password"},
    )
    new2 = PasswordField(
        _l("再次输入新密码"),
        validators=[
            DataRequired(_l("请再次输入新密码。")),
            EqualTo("new", _l("两次输入的密码不一致。")),
        ],
        render_kw={"autocomplete": "new-password"},
    )


class ChangePasswordForm(NewPasswordForm):
    current = PasswordField(
        _l("当前密码"),
        validators=[DataRequired(_l("请输入当前密码。"))],
        render_kw={"autocomplete": "current-password"},
    )
    submit = SubmitField(_l("修改密码"))


def _strip(value):
    return value.strip() if isinstance(value, str) else value


def _valid_email(form, field):
    if field.data and not is_valid_email(field.data):
        raise ValidationError(_l("请输入有效的电子邮箱地址，例如 name@example.com。"))


class ProfileForm(FlaskForm):
    real_name = StringField(
        _l("真实姓名"),
        filters=[_normalise_name],
        validators=[
            DataRequired(_l("请填写真实姓名。")),
            _real_name,  # 2–20 letters (portal/auth/validators.py), same as registration
        ],
        description=_l("用于志愿服务记录和证明，其他人只会看到“张*”这样的遮挡形式。"),
        render_kw={"autocomplete": "name"},
    )
    email = EmailField(
        _l("电子邮箱（选填）"),
        filters=[_strip],
        validators=[
            Optional(),
            Length(max=MAX_EMAIL_LENGTH, message=_l("邮箱地址最多 %(max)d 个字符。")),
            _valid_email,
        ],
        description=_l(
            "填写后，平台配置了邮件服务时，报名变动和提醒也会发到这个邮箱。不公开显示。"
        ),
        render_kw={"autocomplete": "email", "inputmode": "email"},
    )
    submit = SubmitField(_l("保存"))


class ConsentForm(FlaskForm):
    next = HiddenField()
    submit = SubmitField(_l("我已阅读并同意"))


class WithdrawConsentForm(FlaskForm):
    submit = SubmitField(_l("撤回同意"))


class DeleteAccountForm(FlaskForm):
    password = PasswordField(
        _l("当前密码"),
        validators=[DataRequired(_l("请输入当前密码。")), Length(max=128)],
        description=_l("为确认是你本人操作，请再次输入密码。"),
        render_kw={"autocomplete": "current-password"},
    )
    submit = SubmitField(_l("确认注销账号"))

"""Forms for getting back into an account and changing the phone number."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField, SubmitField
from wtforms.fields import TelField
from wtforms.validators import DataRequired, Length, ValidationError

from portal.auth.forms import NewPasswordForm
from portal.auth.services import password_problem


class ForgotForm(FlaskForm):
    who = StringField(
        _l("手机号或电子邮箱"),
        validators=[
            DataRequired(_l("请填写注册时用的手机号，或登记过的电子邮箱。")),
            Length(max=254),
        ],
        description=_l("如果账号登记了电子邮箱，我们会把重设密码的链接发到那个邮箱。"),
        render_kw={"autocomplete": "username"},
    )
    submit = SubmitField(_l("发送重设链接"))


class ResetForm(NewPasswordForm):
    submit = SubmitField(_l("设置新密码"))

    def __init__(self, *args, phone: str = "", **kwargs):
        super().__init__(*args, **kwargs)
        self._phone = phone

    def validate_new(self, field):
        problem = password_problem(field.data or "", self._phone)
        if problem:
            raise ValidationError(problem)


class ChangePhoneForm(FlaskForm):
    phone = TelField(
        _l("新手机号"),
        validators=[DataRequired(_l("请填写新手机号。")), Length(max=40)],
        description=_l("以后用这个号码登录。"),
        render_kw={"autocomplete": "tel", "inputmode": "numeric"},
    )
    password = PasswordField(
        _l("当前密码"),
        validators=[DataRequired(_l("请输入当前密码。")), Length(max=128)],
        description=_l("为确认是你本人操作，请输入密码。"),
        render_kw={"autocomplete": "current-password"},
    )
    submit = SubmitField(_l("修改手机号"))

"""Sign-up forms: each is only a CSRF-protected button (the rules live in services)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import HiddenField, SubmitField


class SignupForm(FlaskForm):
    next = HiddenField()
    submit = SubmitField(_l("报名"))


class CancelForm(FlaskForm):
    next = HiddenField()
    submit = SubmitField(_l("确认取消报名"))

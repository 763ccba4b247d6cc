"""Dashboard forms: the period to look at (a GET form) and a leader's visit."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import SelectField, StringField, SubmitField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired, Length, Optional

from portal.certificates.forms import DayField


class PeriodForm(FlaskForm):
    """Shareable URL (?period=custom&start=…&end=…); the rules are in services.make_period."""

    class Meta:
        csrf = False

    period = SelectField(
        _l("时段"),
        choices=[
            SelectChoice("week", _l("本周")),
            SelectChoice("month", _l("本月")),
            SelectChoice("last_month", _l("上月")),
            SelectChoice("custom", _l("自定义")),
        ],
        default="month",
    )
    start = DayField(_l("开始日期"), validators=[Optional()])
    end = DayField(
        _l("结束日期"), validators=[Optional()], description=_l("选“自定义”时填写，最长一年。")
    )
    submit = SubmitField(_l("查看"))


class VisitForm(FlaskForm):
    zone = SelectField(
        _l("片区"), validate_choice=False, validators=[InputRequired(_l("请选择你挂点的片区。"))]
    )
    visited_on = DayField(
        _l("走访日期"),
        validators=[InputRequired(_l("请填写走访日期。"))],
        description=_l("今天或31天内的日期。"),
    )
    place = StringField(
        _l("走访地点"),
        validators=[
            InputRequired(_l("请写明走访地点，例如 县一小校门口。")),
            Length(max=120, message=_l("地点最多120个字。")),
        ],
        description=_l("例如：县一小校门口、富海市场。"),
    )
    notes = TextAreaField(
        _l("情况记录"),
        validators=[Length(max=2000, message=_l("情况记录最多2000个字。"))],
        description=_l("看到的问题、督办的事项（选填）。"),
    )
    submit = SubmitField(_l("记下这次走访"))


class ActionForm(FlaskForm):
    """A button that posts (check in, delete): only the CSRF token."""

    submit = SubmitField(_l("确定"))

"""Certificate forms: the period to certify, the code to verify, the reason to revoke."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import DateField, StringField, SubmitField, TextAreaField
from wtforms.validators import InputRequired, Length


class DayField(DateField):
    """A date picker whose parse error reads in Chinese (WTForms' own has no translation)."""

    def process_formdata(self, valuelist):
        try:
            super().process_formdata(valuelist)
        except ValueError as exc:
            raise ValueError(_l("请按 年-月-日 填写日期，例如 2026-03-01。")) from exc


class PeriodForm(FlaskForm):
    """The period of a certificate; :func:`services.check_period` decides what is allowed."""

    start = DayField(_l("开始日期"), validators=[InputRequired(_l("请选择开始日期。"))])
    end = DayField(
        _l("结束日期"),
        validators=[InputRequired(_l("请选择结束日期。"))],
        description=_l("证明只列出这段时间内经组织单位确认的志愿服务时长。"),
    )
    submit = SubmitField(_l("申请证明"))


class VerifyForm(FlaskForm):
    """Typed in by a school or employer; a GET form, so no CSRF token and a shareable URL."""

    class Meta:
        csrf = False

    code = StringField(
        _l("核验码"),
        validators=[InputRequired(_l("请输入证明上的核验码。")), Length(max=40)],
        description=_l("16位字母和数字，印在证明下方，例如 ABCD-EFGH-JKMN-PQRS。"),
        render_kw={"autocomplete": "off", "autocapitalize": "characters", "spellcheck": "false"},
    )
    submit = SubmitField(_l("核验"))


class RevokeForm(FlaskForm):
    reason = TextAreaField(
        _l("撤销原因"),
        validators=[
            InputRequired(_l("请写明撤销原因，它会记入操作日志。")),
            Length(max=500, message=_l("撤销原因最多500个字。")),
        ],
        description=_l("撤销后核验页会显示“已撤销”和撤销时间，无法恢复。"),
    )
    submit = SubmitField(_l("撤销这份证明"))

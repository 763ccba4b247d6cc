"""Attendance forms: one-button marks, undo with a reason, adjusting hours with a reason."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import StringField
from wtforms.validators import DataRequired, Length, ValidationError

from portal.attendance.hours import parse_hours
from portal.domain import DomainError


class MarkForm(FlaskForm):
    """A bare form for one-button POST actions (CSRF only)."""


class UndoForm(FlaskForm):
    reason = StringField(
        _l("撤销原因"),
        validators=[
            DataRequired(_l("请写明撤销原因（会记入操作日志）。")),
            Length(max=300, message=_l("原因最多300个字。")),
        ],
    )


class AdjustHoursForm(FlaskForm):
    # Text with inputmode=decimal: a number input would drop "2,5" before we could say why.
    hours = StringField(
        _l("时长（小时）"),
        description=_l("0 到 24，以 0.5 小时为单位，例如 2.5。不含路途时间。"),
        validators=[DataRequired(_l("请填写时长。"))],
        render_kw={"inputmode": "decimal", "autocomplete": "off"},
    )
    reason = StringField(
        _l("调整原因"),
        description=_l("例如：提前离开、签退漏扫。会与原时长一起保存。"),
        validators=[
            DataRequired(_l("请写明调整原因。")),
            Length(max=300, message=_l("原因最多300个字。")),
        ],
    )

    def validate_hours(self, field) -> None:
        try:
            parse_hours(field.data)
        except DomainError as exc:
            raise ValidationError(str(exc)) from None

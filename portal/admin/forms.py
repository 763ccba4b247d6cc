"""Administration forms: zone, unit, programme, people search, roles, counter, audit filters.

The rules (unique names, no cycles, the last admin …) live in :mod:`portal.admin.services`;
these forms only check what a field alone can tell, in words a person understands.
"""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateField,
    IntegerField,
    SelectField,
    SelectMultipleField,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.validators import (
    DataRequired,
    InputRequired,
    Length,
    NumberRange,
    Optional,
    ValidationError,
)
from wtforms.widgets import CheckboxInput, ListWidget

from portal.admin.services import MAX_POPULATION, MAX_POSITION


def _strip(value):
    return value.strip() if isinstance(value, str) else value


def _id(value) -> int:
    """A select's id as sent; anything else (a typo, a probe) becomes -1, which no row has."""
    if isinstance(value, int):
        return value
    text = str(value or "").strip()
    return int(text) if text.isdigit() and len(text) < 10 else -1


def _choice(value) -> int:
    """Like :func:`_id`, but nothing chosen is 0 (the "please choose" entry)."""
    return 0 if value in (None, "") else _id(value)


class WholeNumberField(IntegerField):
    """A whole number whose parse error reads in Chinese (WTForms' own is English)."""

    def process_formdata(self, valuelist):
        try:
            super().process_formdata(valuelist)
        except ValueError as exc:
            raise ValueError(_l("请填写一个整数，例如 12000。")) from exc


class DayField(DateField):
    def process_formdata(self, valuelist):
        try:
            super().process_formdata(valuelist)
        except ValueError as exc:
            raise ValueError(_l("请按 年-月-日 填写日期，例如 2026-12-01。")) from exc


class CheckboxList(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()

    def pre_validate(self, form):  # unknown ids are refused by the service, with a message
        pass


class ZoneForm(FlaskForm):
    name = StringField(
        _l("片区名称"),
        filters=[_strip],
        validators=[
            DataRequired(_l("请填写片区名称。")),
            Length(max=60, message=_l("名称最多 60 个字。")),
        ],
    )
    street = StringField(
        _l("所属街道/镇"),
        filters=[_strip],
        validators=[Length(max=60, message=_l("街道/镇最多 60 个字。"))],
        description=_l("例如 城关街道、福海镇。"),
    )
    population = WholeNumberField(
        _l("常住人口"),
        default=0,
        validators=[
            InputRequired(_l("请填写常住人口（不知道可以先填 0）。")),
            NumberRange(0, MAX_POPULATION, _l("人口要在 0 到 %(n)d 之间。", n=MAX_POPULATION)),
        ],
        render_kw={"inputmode": "numeric", "min": 0},
        description=_l("用来计算参与率。"),
    )
    description = TextAreaField(
        _l("说明"),
        filters=[_strip],
        validators=[Length(max=2000, message=_l("说明最多 2000 个字。"))],
    )
    leader_ids = CheckboxList(_l("片区负责人（取消勾选即移除）"), coerce=_id, choices=[])
    add_leaders = StringField(
        _l("添加负责人（手机号）"),
        filters=[_strip],
        validators=[Length(max=400, message=_l("一次最多填写 30 个手机号。"))],
        description=_l("填写已注册的人的手机号，多个用空格或逗号分开。"),
        render_kw={"inputmode": "tel", "autocomplete": "off"},
    )
    submit = SubmitField(_l("保存"))


class UnitForm(FlaskForm):
    name = StringField(
        _l("单位名称"),
        filters=[_strip],
        validators=[
            DataRequired(_l("请填写单位名称。")),
            Length(max=80, message=_l("名称最多 80 个字。")),
        ],
    )
    kind = SelectField(
        _l("单位类型"),
        choices=[],
        validate_choice=False,
        validators=[DataRequired(_l("请选择单位类型。"))],
    )
    submit = SubmitField(_l("保存"))


class ProgrammeForm(FlaskForm):
    code = StringField(
        _l("代码"),
        filters=[_strip],
        validators=[
            DataRequired(_l("请填写代码。")),
            Length(max=40, message=_l("代码最多 40 位。")),
        ],
        description=_l("小写字母、数字、- 或 _，用在网址和日历里，例如 wujin-shequ。"),
        render_kw={"autocapitalize": "none", "spellcheck": "false"},
    )
    name = StringField(
        _l("名称"),
        filters=[_strip],
        validators=[
            DataRequired(_l("请填写名称。")),
            Length(max=60, message=_l("名称最多 60 个字。")),
        ],
    )
    parent_id = SelectField(_l("上级项目"), coerce=_choice, choices=[], validate_choice=False)
    position = WholeNumberField(
        _l("排序"),
        default=0,
        validators=[
            InputRequired(_l("请填写排序（数字越小越靠前）。")),
            NumberRange(0, MAX_POSITION, _l("排序要在 0 到 %(n)d 之间。", n=MAX_POSITION)),
        ],
        render_kw={"inputmode": "numeric", "min": 0},
        description=_l("同一级里数字越小越靠前。"),
    )
    description = TextAreaField(
        _l("说明"),
        filters=[_strip],
        validators=[Length(max=2000, message=_l("说明最多 2000 个字。"))],
    )
    submit = SubmitField(_l("保存"))


class SearchForm(FlaskForm):
    """Find a person: a GET form, so no CSRF token and a URL that can be reloaded."""

    class Meta:
        csrf = False

    q = StringField(
        _l("姓名或手机号"),
        filters=[_strip],
        validators=[
            DataRequired(_l("请输入姓名或手机号（可以只输入一部分）。")),
            Length(max=40, message=_l("最多 40 个字。")),
        ],
        render_kw={"autocomplete": "off", "enterkeyhint": "search"},
    )
    submit = SubmitField(_l("查找"))


class UnitRoleForm(FlaskForm):
    unit_id = SelectField(
        _l("单位"),
        coerce=_choice,
        choices=[],
        validate_choice=False,
        validators=[DataRequired(_l("请选择单位。"))],
    )
    submit = SubmitField(_l("设为这个单位的组织者"))


class ZoneRoleForm(FlaskForm):
    zone_id = SelectField(
        _l("片区"),
        coerce=_choice,
        choices=[],
        validate_choice=False,
        validators=[DataRequired(_l("请选择片区。"))],
    )
    submit = SubmitField(_l("设为这个片区的负责人"))


class ConfirmForm(FlaskForm):
    """A one-button action that must be ticked first (admin role, deactivation)."""

    confirm = BooleanField(_l("我确认要这样做"), validators=[DataRequired(_l("请先勾选确认。"))])


class ButtonForm(FlaskForm):
    """A one-button action (CSRF only)."""


class CounterForm(FlaskForm):
    identity_checked = BooleanField(
        _l("我已当面核对本人身份证件"),
        validators=[DataRequired(_l("请先当面核对本人身份证件，再勾选。"))],
    )
    submit = SubmitField(_l("生成一次性密码"))


class AuditFilterForm(FlaskForm):
    class Meta:
        csrf = False

    person = StringField(
        _l("操作人"),
        filters=[_strip],
        validators=[Optional(), Length(max=40, message=_l("最多 40 个字。"))],
        render_kw={"placeholder": _l("姓名或手机号")},
    )
    action = SelectField(_l("操作"), choices=[], validate_choice=False)
    unit = SelectField(_l("单位"), choices=[], validate_choice=False)
    date_from = DayField(_l("开始日期"), validators=[Optional()])
    date_to = DayField(_l("结束日期"), validators=[Optional()])
    submit = SubmitField(_l("筛选"))

    def validate_action(self, field):
        if field.data and field.data not in {value for value, _label in field.choices}:
            raise ValidationError(_l("请从列表中选择操作。"))

    def validate_unit(self, field):
        if field.data and field.data not in {value for value, _label in field.choices}:
            raise ValidationError(_l("请从列表中选择单位。"))

    def validate_date_from(self, field):
        _sane(field)

    def validate_date_to(self, field):
        _sane(field)
        if field.data and self.date_from.data and field.data < self.date_from.data:
            raise ValidationError(_l("结束日期不能早于开始日期。"))


def _sane(field) -> None:
    from portal.timeutil import is_sane_date

    if field.data and not is_sane_date(field.data):
        raise ValidationError(_l("日期要在 2000 年到 2099 年之间。"))

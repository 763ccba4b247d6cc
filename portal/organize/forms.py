"""Organizer forms: activity, shift, bulk/recurring shifts, cancel, message, walk-in."""

from __future__ import annotations

from datetime import datetime, timedelta

from flask import current_app
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateField,
    DateTimeLocalField,
    FloatField,
    HiddenField,
    IntegerField,
    RadioField,
    SelectField,
    SelectMultipleField,
    StringField,
    SubmitField,
    TextAreaField,
    TimeField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import (
    DataRequired,
    InputRequired,
    Length,
    NumberRange,
    Optional,
    ValidationError,
)
from wtforms.widgets import CheckboxInput, ListWidget

from portal.auth.forms import PhoneField, _valid_phone
from portal.forms import attach_error
from portal.models import MAX_CAPACITY
from portal.organize.services import (
    Occurrence,
    OrganizeError,
    check_slot_times,
    expand_bulk,
    expand_rule,
    expand_weekly,
    parse_slots,
)
from portal.timeutil import is_sane_date, local_to_utc

WEEKDAYS = [
    SelectChoice(n, label)
    for n, label in enumerate(
        [_l("周一"), _l("周二"), _l("周三"), _l("周四"), _l("周五"), _l("周六"), _l("周日")]
    )
]


class MultiCheckboxField(SelectMultipleField):
    """A multi-select shown as a list of checkboxes (usable on phones, no JS)."""

    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()

    def pre_validate(self, form):
        # WTForms' own message for this case has no Chinese translation.
        allowed = {str(value) for value, *_ in self.iter_choices()}
        if any(str(value) not in allowed for value in self.data or []):
            raise ValidationError(_l("不是有效的选择。"))


class _ChoiceOfNumbers(SelectField):
    """A select of whole numbers whose refusals read in plain words (no English from WTForms)."""

    def process_formdata(self, valuelist):
        if valuelist:
            try:
                self.data = int(valuelist[0])
            except (TypeError, ValueError):
                self.data = None
                raise ValueError(_l("不是有效的选择。")) from None

    def pre_validate(self, form):
        if self.data is not None and self.data not in {c[0] for c in self.iter_choices()}:
            raise ValidationError(_l("不是有效的选择。"))


class _Radio(RadioField):
    """Radio buttons whose refusal of a forged value reads in plain words."""

    def pre_validate(self, form):
        if self.data is not None and self.data not in {c[0] for c in self.iter_choices()}:
            raise ValidationError(_l("不是有效的选择。"))


def _capacity_field(default: int | None = None) -> IntegerField:
    return IntegerField(
        _l("人数上限"),
        default=default,
        validators=[
            InputRequired(_l("请填写人数上限。")),
            NumberRange(1, MAX_CAPACITY, _l("人数上限要在 1 到 %(max)d 之间。", max=MAX_CAPACITY)),
        ],
        render_kw={"inputmode": "numeric", "min": 1, "max": MAX_CAPACITY},
    )


def _sane_date(form, field) -> None:
    """Refuse dates outside 2000–2099 (a typo such as 0202 or 20266 in a year)."""
    value = field.data.date() if isinstance(field.data, datetime) else field.data
    if value is not None and not is_sane_date(value):
        raise ValidationError(_l("日期应在 2000 年到 2099 年之间，请检查年份。"))


def _utc(value: datetime | None) -> datetime | None:
    return local_to_utc(value.date(), value.time()) if value else None


class ActivityForm(FlaskForm):
    title = StringField(
        _l("活动名称"),
        validators=[
            DataRequired(_l("请填写活动名称。")),
            Length(max=120, message=_l("活动名称最多120个字。")),
        ],
    )
    kind = RadioField(
        _l("类型"),
        choices=[
            SelectChoice("volunteer", _l("志愿服务（记录志愿服务时长）")),
            SelectChoice("community", _l("社区活动（只记录参与，不计时长）")),
        ],
        default="volunteer",
        validators=[DataRequired(_l("请选择类型。"))],
    )
    description = TextAreaField(
        _l("活动内容"), validators=[Length(max=5000, message=_l("活动内容最多5000个字。"))]
    )
    programme_ids = MultiCheckboxField(
        _l("所属项目"),
        coerce=int,
        validators=[Optional()],
        description=_l("可多选：五进、专项整治、文明工程、省运会服务等。"),
    )
    unit_id = SelectField(
        _l("组织单位"),
        coerce=int,
        validators=[DataRequired(_l("请选择组织单位。"))],
        description=_l("只能选择你负责的单位。"),
    )
    zone_id = SelectField(_l("片区"), coerce=int, validators=[DataRequired(_l("请选择片区。"))])
    place = StringField(
        _l("地点"),
        validators=[
            DataRequired(_l("请填写地点。")),
            Length(max=200, message=_l("地点最多200个字。")),
        ],
        description=_l("写清楚集合位置，例如：县一小正门东侧。"),
    )
    latitude = FloatField(
        _l("纬度（可选）"),
        validators=[Optional(), NumberRange(-90, 90, _l("纬度要在 -90 到 90 之间。"))],
        render_kw={"inputmode": "decimal"},
    )
    longitude = FloatField(
        _l("经度（可选）"),
        validators=[Optional(), NumberRange(-180, 180, _l("经度要在 -180 到 180 之间。"))],
        render_kw={"inputmode": "decimal"},
    )
    contact_name = StringField(
        _l("负责人"), validators=[Length(max=40, message=_l("负责人姓名最多40个字。"))]
    )
    contact_phone = StringField(
        _l("联系电话"),
        validators=[Length(max=30, message=_l("联系电话最多30个字符。"))],
        render_kw={"type": "tel", "inputmode": "tel"},
        description=_l("会公开显示在活动页上，可填办公电话。"),
    )
    requirements = TextAreaField(
        _l("参加要求"), validators=[Length(max=2000, message=_l("参加要求最多2000个字。"))]
    )
    risk_notice = TextAreaField(
        _l("风险提示"), validators=[Length(max=2000, message=_l("风险提示最多2000个字。"))]
    )
    cancellation_deadline_hours = IntegerField(
        _l("取消报名截止（开始前几小时）"),
        default=lambda: current_app.config["CANCELLATION_DEADLINE_HOURS"],
        validators=[
            InputRequired(_l("请填写取消截止时间。")),
            NumberRange(0, 720, _l("要在 0 到 720 小时之间。")),
        ],
        render_kw={"inputmode": "numeric", "min": 0, "max": 720},
    )
    submit = SubmitField(_l("保存"))

    def data_for_service(self) -> dict:
        """Return the cleaned values the services expect."""
        return {
            "title": self.title.data.strip(),
            "kind": self.kind.data,
            "description": (self.description.data or "").strip(),
            "programme_ids": self.programme_ids.data or [],
            "unit_id": self.unit_id.data,
            "zone_id": self.zone_id.data,
            "place": self.place.data.strip(),
            "latitude": self.latitude.data,
            "longitude": self.longitude.data,
            "contact_name": (self.contact_name.data or "").strip(),
            "contact_phone": (self.contact_phone.data or "").strip(),
            "requirements": (self.requirements.data or "").strip(),
            "risk_notice": (self.risk_notice.data or "").strip(),
            "cancellation_deadline_hours": self.cancellation_deadline_hours.data,
        }


class _ShiftOptions:
    post_name = StringField(
        _l("岗位（可选）"),
        validators=[Length(max=60, message=_l("岗位名称最多60个字。"))],
        description=_l("例如：东门劝导岗、3号服务站。"),
    )
    requires_approval = BooleanField(_l("报名需要审核"))
    waitlist_enabled = BooleanField(_l("满员后允许候补"), default=True)

    def options(self) -> dict:
        return {
            "capacity": self.capacity.data,
            "post_name": (self.post_name.data or "").strip(),
            "requires_approval": bool(self.requires_approval.data),
            "waitlist_enabled": bool(self.waitlist_enabled.data),
        }


class ShiftForm(_ShiftOptions, FlaskForm):
    day = DateField(_l("日期"), validators=[InputRequired(_l("请选择日期。")), _sane_date])
    start = TimeField(_l("开始时间"), validators=[InputRequired(_l("请填写开始时间。"))])
    end = TimeField(
        _l("结束时间"),
        validators=[InputRequired(_l("请填写结束时间。"))],
        description=_l("早于开始时间表示到次日结束，例如夜班 22:00–02:00。"),
    )
    capacity = _capacity_field(5)
    signup_opens = DateTimeLocalField(
        _l("报名开始（可选）"),
        validators=[Optional(), _sane_date],
        description=_l("不填则发布后即可报名。"),
    )
    signup_closes = DateTimeLocalField(
        _l("报名截止（可选）"),
        validators=[Optional(), _sane_date],
        description=_l("不填则到班次开始为止。"),
    )
    # Only on the edit page: moving a shift may give someone two overlapping places.
    over_overlap = BooleanField(_l("时间冲突仍然保存"))
    override_reason = StringField(
        _l("时间冲突的原因"),
        validators=[Length(max=200, message=_l("原因最多200个字。"))],
        description=_l("勾选“时间冲突仍然保存”时必填，会记入操作日志。"),
    )
    # Shown once the service finds an identical shift (same start, end and post).
    allow_duplicate = BooleanField(_l("仍然添加"))
    submit = SubmitField(_l("保存班次"))

    def validate_end(self, field):
        if self.start.data and field.data:
            try:
                check_slot_times(self.start.data, field.data)
            except OrganizeError as exc:
                raise ValidationError(str(exc)) from None

    @property
    def overnight(self) -> bool:
        """The end time is on the next day (22:00–02:00)."""
        return bool(self.start.data and self.end.data and self.end.data <= self.start.data)

    def validate_signup_closes(self, field):
        if self.signup_opens.data and field.data and field.data <= self.signup_opens.data:
            raise ValidationError(_l("报名截止要晚于报名开始。"))

    def values(self) -> dict:
        return {
            "starts_at": local_to_utc(self.day.data, self.start.data),
            "ends_at": local_to_utc(
                self.day.data + timedelta(days=1 if self.overnight else 0), self.end.data
            ),
            "signup_opens_at": _utc(self.signup_opens.data),
            "signup_closes_at": _utc(self.signup_closes.data),
            **self.options(),
        }


class BulkShiftForm(_ShiftOptions, FlaskForm):
    """Weekdays (every N weeks, until a date or N times) × slots, or a typed RRULE × slots;
    preview before saving.

    The weekly form with every week and an end date is the plain date range × weekdays
    (``expand_bulk``); every other week or a count is built into an RRULE by python-dateutil.
    """

    mode = RadioField(
        _l("方式"),
        choices=[
            SelectChoice("range", _l("按星期重复")),
            SelectChoice("rule", _l("高级：手写重复规则（RRULE）")),
        ],
        default="range",
        validators=[DataRequired()],
    )
    first_date = DateField(
        _l("开始日期"), validators=[InputRequired(_l("请选择开始日期。")), _sane_date]
    )
    weekdays = MultiCheckboxField(_l("星期"), choices=WEEKDAYS, coerce=int, validators=[Optional()])
    interval = _ChoiceOfNumbers(
        _l("频率"),
        choices=[SelectChoice(1, _l("每周"))]
        + [SelectChoice(n, _l("每 %(n)d 周一次", n=n)) for n in range(2, 5)],
        coerce=int,
        default=1,
        validators=[Optional()],
    )
    end_by = _Radio(
        _l("到什么时候"),
        choices=[SelectChoice("date", _l("到某一天为止")), SelectChoice("count", _l("共几次"))],
        default="date",
        validators=[Optional()],
    )
    last_date = DateField(
        _l("结束日期"),
        validators=[Optional(), _sane_date],
        description=_l("包括这一天。"),
    )
    count = IntegerField(
        _l("次数"),
        validators=[Optional(), NumberRange(1, 500, _l("次数要在 1 到 %(max)d 之间。", max=500))],
        description=_l("一共几天，例如 4 表示重复 4 次；每天按下面的每个时段各建一个班次。"),
        render_kw={"inputmode": "numeric", "min": 1, "max": 500},
    )
    rule = StringField(
        _l("重复规则"),
        validators=[Length(max=300, message=_l("重复规则太长了。"))],
        description=_l(
            "按重复规则时必填，例如 FREQ=WEEKLY;BYDAY=MO,WE,FR;COUNT=12 或 "
            "FREQ=DAILY;UNTIL=20261231。"
        ),
        render_kw={"autocapitalize": "characters", "spellcheck": "false"},
    )
    slots = StringField(
        _l("时段"),
        validators=[DataRequired(_l("请至少填写一个时段。")), Length(max=500)],
        description=_l("一个或多个，用逗号分开，例如 07:00-08:00, 16:30-17:30。"),
    )
    capacity = _capacity_field(5)
    allow_duplicates = BooleanField(_l("仍然添加与已有班次相同的"))
    confirm = HiddenField()
    preview = SubmitField(_l("预览"))
    save = SubmitField(_l("确认创建"))

    occurrences: list[Occurrence]
    built_rule: str  # the RRULE the weekly form made ("" for a plain range or a typed rule)

    def validate(self, extra_validators=None) -> bool:
        self.occurrences = []
        self.built_rule = ""
        ok = super().validate(extra_validators)
        if not ok:
            return False
        try:
            slots = parse_slots(self.slots.data)
            if self.mode.data == "rule":
                if not (self.rule.data or "").strip():
                    self.rule.errors.append(str(_l("请填写重复规则。")))
                    return False
                self.occurrences = expand_rule(self.rule.data, self.first_date.data, slots)
            elif self.end_by.data == "count":
                if self.count.data is None:
                    self.count.errors.append(str(_l("请填写次数。")))
                    return False
                self.built_rule, self.occurrences = expand_weekly(
                    self.first_date.data,
                    self.weekdays.data or [],
                    slots,
                    self.interval.data or 1,
                    count=self.count.data,
                )
            else:
                if self.last_date.data is None:
                    self.last_date.errors.append(str(_l("请选择结束日期。")))
                    return False
                if (self.interval.data or 1) == 1:
                    self.occurrences = expand_bulk(
                        self.first_date.data, self.last_date.data, self.weekdays.data or [], slots
                    )
                else:
                    self.built_rule, self.occurrences = expand_weekly(
                        self.first_date.data,
                        self.weekdays.data or [],
                        slots,
                        self.interval.data,
                        until=self.last_date.data,
                    )
        except OrganizeError as exc:
            attach_error(self, exc)
            return False
        return True


class CancelForm(FlaskForm):
    reason = TextAreaField(
        _l("取消原因"),
        validators=[
            DataRequired(_l("请填写取消原因，报名的人会收到这条说明。")),
            Length(max=500, message=_l("取消原因最多500个字。")),
        ],
    )
    submit = SubmitField(_l("确认取消"))


class ReasonForm(FlaskForm):
    reason = StringField(
        _l("原因"),
        validators=[
            DataRequired(_l("请填写原因，对方会收到这条说明。")),
            Length(max=500, message=_l("原因最多500个字。")),
        ],
    )


class MessageForm(FlaskForm):
    title = StringField(
        _l("标题"),
        validators=[
            DataRequired(_l("请填写标题。")),
            Length(max=100, message=_l("标题最多100个字。")),
        ],
    )
    body = TextAreaField(
        _l("内容"),
        validators=[
            DataRequired(_l("请填写内容。")),
            Length(max=2000, message=_l("内容最多2000个字。")),
        ],
    )
    submit = SubmitField(_l("发送"))


class WalkInForm(FlaskForm):
    phone = PhoneField(
        _l("手机号"),
        validators=[DataRequired(_l("请填写手机号。")), _valid_phone],
        render_kw={"inputmode": "numeric", "autocomplete": "off"},
    )
    name = StringField(
        _l("姓名"),
        validators=[Length(max=40, message=_l("姓名最多40个字。"))],
        description=_l("手机号未注册时必填，会建一个只有姓名和手机号的简单档案。"),
    )
    over_capacity = BooleanField(_l("已满时仍然加入（超员）"))
    over_overlap = BooleanField(_l("时间冲突仍然加入"))
    override_reason = StringField(
        _l("超员或冲突的原因"),
        validators=[Length(max=200, message=_l("原因最多200个字。"))],
        description=_l("勾选超员或时间冲突时必填，会记入操作日志。"),
    )
    submit = SubmitField(_l("加入名单"))


class ActionForm(FlaskForm):
    """A bare form for one-button POST actions (CSRF only)."""

    over_capacity = BooleanField(_l("超员也加入"))
    over_overlap = BooleanField(_l("时间冲突也加入"))
    override_reason = StringField(
        _l("原因"), validators=[Length(max=200, message=_l("原因最多200个字。"))]
    )


class IdListField(SelectMultipleField):
    """Checked sign-up ids (``name=signup_ids`` checkboxes drawn by the template).

    Anything that is not a whole number is an error in plain words, never a 500.
    """

    def pre_validate(self, form):
        pass  # the choices are the queue itself, checked by the service under the lock

    def process_formdata(self, valuelist):
        self.data = []
        for value in valuelist:
            value = (value or "").strip()
            if not value.isdigit() or len(value) > 12:
                self.data = []
                raise ValueError(_l("选择的报名无效，请刷新后重试。"))
            self.data.append(int(value))


class QueueForm(FlaskForm):
    """Approve or reject the checked sign-ups of the approval queue at once."""

    signup_ids = IdListField(_l("选择报名"), validators=[Optional()])
    reason = StringField(
        _l("不通过的原因"),
        validators=[Length(max=500, message=_l("原因最多500个字。"))],
        description=_l("不通过时必填，所选的每个人都会收到这条说明。"),
    )
    decision = _Radio(
        _l("处理"),
        choices=[SelectChoice("approve", _l("通过")), SelectChoice("reject", _l("不通过"))],
        validators=[DataRequired(_l("请选择“通过”或“不通过”。"))],
    )

"""Forms of the subscription page."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import SelectField

from portal.feeds.services import ALARM_CHOICES


def _label(minutes: int) -> str:
    if minutes == 0:
        return str(_l("不提醒"))
    if minutes % 1440 == 0:
        return str(_l("提前 %(n)d 天", n=minutes // 1440))
    if minutes % 60 == 0:
        return str(_l("提前 %(n)d 小时", n=minutes // 60))
    return str(_l("提前 %(n)d 分钟", n=minutes))


class ReminderForm(FlaskForm):
    minutes = SelectField(_l("日历提醒"), choices=[], validate_choice=True)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.minutes.choices = [(str(m), _label(m)) for m in ALARM_CHOICES]
        self.minutes.description = _l("只在你的个人日历里加提醒；改动在日历下次刷新时生效。")


class ResetForm(FlaskForm):
    """Just the CSRF token: creating or resetting the link is a POST."""

"""Words for the folded filter line on the activity list ("“县一小” · 立后 · 本周")."""

from __future__ import annotations

from datetime import date, timedelta

from babel.dates import format_date
from flask_babel import get_locale
from flask_babel import gettext as _

from portal.timeutil import local_today


def _day(d: date) -> str:
    locale = str(get_locale() or "zh_Hans_CN")
    return format_date(d, "M月d日" if locale.startswith("zh") else "d MMM", locale=locale)


def date_span(start: date | None, end: date | None, today: date | None = None) -> str:
    """今天 / 本周 / 12月1日–12月7日 / 12月1日起 / 至12月7日 for a date filter."""
    today = today or local_today()
    monday = today - timedelta(days=today.weekday())
    if start == end == today:
        return _("今天")
    if start == monday and end == monday + timedelta(days=6):
        return _("本周")
    if start and end:
        return f"{_day(start)}–{_day(end)}"
    if start:
        return _("%(day)s起", day=_day(start))
    return _("至%(day)s", day=_day(end))

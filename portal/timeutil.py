"""Time zone handling: stored in UTC, shown in the site time zone (Asia/Shanghai)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from flask import current_app
from flask_babel import format_date, format_datetime, get_locale

# Dates the portal accepts anywhere (forms, filters, API): far outside this range is a typo
# or a probe, and at the very edges datetime arithmetic with time zones overflows.
EARLIEST_DATE = date(2000, 1, 1)
LATEST_DATE = date(2099, 12, 31)


def is_sane_date(value: date) -> bool:
    """Tell whether a date lies in the range the portal works with."""
    return EARLIEST_DATE <= value <= LATEST_DATE


def site_tz() -> ZoneInfo:
    """Return the configured site time zone."""
    return ZoneInfo(current_app.config["PORTAL_TIMEZONE"])


def now_utc() -> datetime:
    """Return the current time as an aware UTC datetime."""
    return datetime.now(UTC)


def to_local(value: datetime) -> datetime:
    """Convert an aware datetime to the site time zone."""
    return value.astimezone(site_tz())


def local_today() -> date:
    """Return today's date in the site time zone."""
    return now_utc().astimezone(site_tz()).date()


def local_to_utc(day: date, at: time) -> datetime:
    """Combine a local date and wall-clock time into an aware UTC datetime."""
    return datetime.combine(day, at, tzinfo=site_tz()).astimezone(UTC)


def local_day_bounds(day: date) -> tuple[datetime, datetime]:
    """Return the UTC instants where a local day starts and the next one starts."""
    start = local_to_utc(day, time.min)
    return start, local_to_utc(day + timedelta(days=1), time.min)


def _is_chinese() -> bool:
    locale = get_locale()
    return locale is None or locale.language == "zh"


def fmt_datetime(value: datetime | None) -> str:
    """2026年12月1日 星期二 09:00 (Chinese) or Tue 1 Dec 2026 09:00 (English)."""
    if value is None:
        return ""
    pattern = "y年M月d日 EEEE HH:mm" if _is_chinese() else "EEE d MMM y HH:mm"
    return format_datetime(value, pattern)


def fmt_date(value: datetime | None) -> str:
    if value is None:
        return ""
    pattern = "y年M月d日 EEEE" if _is_chinese() else "EEE d MMM y"
    return format_datetime(value, pattern)


def fmt_short(value: datetime | None) -> str:
    """12月3日 07:00 — for messages and compact cards."""
    if value is None:
        return ""
    pattern = "M月d日 HH:mm" if _is_chinese() else "d MMM HH:mm"
    return format_datetime(value, pattern)


def fmt_day(value: date | None) -> str:
    """12月5日 (Chinese) or 5 Dec (English) — a calendar date without year or weekday."""
    if value is None:
        return ""
    return format_date(value, "M月d日" if _is_chinese() else "d MMM")


def fmt_time(value: datetime | None) -> str:
    return format_datetime(value, "HH:mm") if value else ""


def fmt_range(start: datetime, end: datetime) -> str:
    """2026年12月1日 星期二 09:00–11:00, or both full when the range crosses midnight."""
    if to_local(start).date() == to_local(end).date():
        return f"{fmt_datetime(start)}–{fmt_time(end)}"
    return f"{fmt_datetime(start)} – {fmt_datetime(end)}"

"""Shift times from a date range × weekdays × slots, or from an RFC 5545 RRULE.

A slot whose end is not after its start ends the next day (22:00-02:00), up to
:data:`MAX_OVERNIGHT`; the weekly form (weekdays, every N weeks, an end date or a count) is
turned into an RRULE by python-dateutil (:func:`weekly_rule`) and expanded like a typed one.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from itertools import islice

from dateutil.rrule import DAILY, MONTHLY, WEEKLY, rrule, rrulestr
from flask_babel import gettext as _

from portal.organize.services.errors import MAX_SHIFTS_PER_REQUEST, OrganizeError
from portal.timeutil import local_to_utc, now_utc

# Rules are expanded up to this many occurrences before giving up (COUNT-less, UNTIL-less rules).
_RRULE_SCAN_LIMIT = 5000
# An end time before the start means the next day, for a shift of at most this length; a
# longer one (09:00-08:00) is a typo rather than a night shift.
MAX_OVERNIGHT = timedelta(hours=12)
# The weekly form: every 1 to MAX_INTERVAL weeks, at most MAX_COUNT dates.
MAX_INTERVAL = 8
MAX_COUNT = 500

# --- shifts: expansion -----------------------------------------------------------------------


@dataclass(frozen=True)
class Slot:
    """A local wall-clock time slot, e.g. 07:00–08:00."""

    start: time
    end: time

    @property
    def overnight(self) -> bool:
        """The slot ends on the next day (22:00-02:00)."""
        return self.end <= self.start

    def end_on(self, day: date) -> date:
        """The date the slot ends on when it starts on ``day``."""
        return day + timedelta(days=1) if self.overnight else day


def slot_length(start: time, end: time) -> timedelta:
    """How long a slot from ``start`` to ``end`` lasts, the end being the next day if earlier."""
    length = datetime.combine(date.min, end) - datetime.combine(date.min, start)
    return length if length > timedelta(0) else length + timedelta(days=1)


def check_slot_times(start: time, end: time) -> None:
    """Refuse a slot of no length, or an overnight one longer than :data:`MAX_OVERNIGHT`.

    :raises OrganizeError: without a field (the caller knows which one).
    """
    if end == start or (end < start and slot_length(start, end) > MAX_OVERNIGHT):
        raise OrganizeError(
            _(
                "结束时间要晚于开始时间。跨夜的班次（例如 22:00–02:00）结束在次日，"
                "最长 %(h)d 小时。",
                h=int(MAX_OVERNIGHT.total_seconds() // 3600),
            )
        )


@dataclass(frozen=True)
class Occurrence:
    """A concrete shift time in UTC."""

    starts_at: datetime
    ends_at: datetime


def parse_slots(text: str) -> list[Slot]:
    """Parse "07:00-08:00, 16:30-17:30" (one or more, comma or newline separated).

    :raises OrganizeError: on the ``slots`` field.
    """
    slots: list[Slot] = []
    parts = [p.strip() for p in text.replace("\n", ",").replace("，", ",").split(",")]
    for part in filter(None, parts):
        bits = part.replace("–", "-").replace("—", "-").replace("~", "-").split("-")
        if len(bits) != 2:
            raise OrganizeError(
                _("时段“%(s)s”看不懂，请写成 07:00-08:00。", s=part[:30]), field="slots"
            )
        try:
            start, end = (time.fromisoformat(b.strip().replace("：", ":")) for b in bits)
        except ValueError:
            raise OrganizeError(
                _("时段“%(s)s”看不懂，请写成 07:00-08:00。", s=part[:30]), field="slots"
            ) from None
        try:
            check_slot_times(start, end)
        except OrganizeError as exc:
            raise OrganizeError(
                _("时段“%(s)s”：%(why)s", s=part[:30], why=str(exc)), field="slots"
            ) from None
        slots.append(Slot(start, end))
    if not slots:
        raise OrganizeError(_("请至少填写一个时段，例如 07:00-08:00。"), field="slots")
    if len(set(slots)) != len(slots):
        raise OrganizeError(_("时段有重复，请检查。"), field="slots")
    return sorted(slots, key=lambda s: s.start)


def _occurrences(days: Iterable[date], slots: Sequence[Slot], field: str) -> list[Occurrence]:
    """Concrete times for each day × slot, leaving out those that have already started.

    :raises OrganizeError: on ``field`` (what set the days) when there would be too many.
    """
    result: list[Occurrence] = []
    now = now_utc()
    for day in days:
        for slot in slots:
            starts_at = local_to_utc(day, slot.start)
            if starts_at <= now:
                continue  # today's morning slot when planning at noon: nothing to staff
            result.append(Occurrence(starts_at, local_to_utc(slot.end_on(day), slot.end)))
            if len(result) > MAX_SHIFTS_PER_REQUEST:
                raise OrganizeError(
                    _(
                        "一次最多创建 %(max)d 个班次，这次会超过上限。"
                        "请缩短日期范围或减少时段，分几次创建。",
                        max=MAX_SHIFTS_PER_REQUEST,
                    ),
                    field=field,
                )
    return result


def expand_bulk(
    first: date, last: date, weekdays: Iterable[int], slots: Sequence[Slot]
) -> list[Occurrence]:
    """Expand a date range × weekdays (0 = Monday) × time slots into shift times.

    :raises OrganizeError: with ``field`` set to the form field at fault (``last_date`` or
        ``weekdays``).
    """
    weekdays = set(weekdays)
    if last < first:
        raise OrganizeError(_("结束日期不能早于开始日期。"), field="last_date")
    if not weekdays:
        raise OrganizeError(_("请至少选择一个星期几。"), field="weekdays")
    if (last - first).days > 366:
        raise OrganizeError(_("日期范围最长一年。"), field="last_date")
    days = (
        first + timedelta(days=n)
        for n in range((last - first).days + 1)
        if (first + timedelta(days=n)).weekday() in weekdays
    )
    result = _occurrences(days, slots, field="last_date")
    if not result:
        raise OrganizeError(
            _("这个日期范围里没有所选星期几的、尚未开始的时段，没有可创建的班次。"),
            field="weekdays",
        )
    return result


def expand_rule(rule: str, first: date, slots: Sequence[Slot]) -> list[Occurrence]:
    """Expand an RFC 5545 RRULE (FREQ=WEEKLY;BYDAY=MO,WE;COUNT=12) from ``first`` into times.

    Only the dates of the occurrences count; each date gets every slot. Rules must end
    (COUNT or UNTIL) within the per-request limit.

    :raises OrganizeError: on the ``rule`` field.
    """
    text = (rule or "").strip()
    if text.upper().startswith("RRULE:"):
        text = text[6:]
    if not text or len(text) > 300 or "\n" in text:
        raise OrganizeError(
            _("重复规则看不懂，请写成 FREQ=WEEKLY;BYDAY=MO,WE,FR;COUNT=12。"), field="rule"
        )
    try:
        parsed = rrulestr(text, dtstart=datetime.combine(first, time(0, 0)), ignoretz=True)
    except (ValueError, TypeError, OverflowError, AttributeError, KeyError):
        raise OrganizeError(
            _("重复规则看不懂，请写成 FREQ=WEEKLY;BYDAY=MO,WE,FR;COUNT=12。"), field="rule"
        ) from None
    upper = text.upper()
    if "COUNT=" not in upper and "UNTIL=" not in upper:
        raise OrganizeError(
            _("重复规则需要 COUNT（次数）或 UNTIL（截止日期），否则会无限重复。"), field="rule"
        )
    if getattr(parsed, "_freq", None) not in (DAILY, WEEKLY, MONTHLY):
        raise OrganizeError(
            _("重复规则只支持按天（DAILY）、按周（WEEKLY）或按月（MONTHLY）。"), field="rule"
        )
    try:
        seen: list[date] = []
        for occurrence in islice(parsed, _RRULE_SCAN_LIMIT + 1):
            day = occurrence.date()
            if not seen or seen[-1] != day:
                seen.append(day)
            if len(seen) * len(slots) > MAX_SHIFTS_PER_REQUEST:
                break
    except (ValueError, TypeError, OverflowError):
        raise OrganizeError(_("重复规则无法展开，请检查日期。"), field="rule") from None
    if not seen:
        raise OrganizeError(_("按这个重复规则没有任何日期，请检查。"), field="rule")
    result = _occurrences(seen, slots, field="rule")
    if not result:
        raise OrganizeError(_("按这个重复规则的时间都已经过去，没有可创建的班次。"), field="rule")
    return result


def weekly_rule(
    first: date,
    weekdays: Iterable[int],
    interval: int = 1,
    until: date | None = None,
    count: int | None = None,
) -> str:
    """Build the RRULE of "these weekdays, every ``interval`` weeks, until a date or N times".

    ``weekdays`` count from 0 = Monday. Exactly one of ``until`` (inclusive) and ``count``
    (number of dates) ends it. Returns the rule text (``FREQ=WEEKLY;INTERVAL=2;…``) for
    :func:`expand_rule`, built by python-dateutil so that it is a valid RFC 5545 rule.

    :raises OrganizeError: on the form field at fault (``weekdays``, ``interval``,
        ``last_date`` or ``count``).
    """
    days = sorted(set(weekdays))
    if not days:
        raise OrganizeError(_("请至少选择一个星期几。"), field="weekdays")
    if any(not 0 <= d <= 6 for d in days):
        raise OrganizeError(_("不是有效的选择。"), field="weekdays")
    if not 1 <= interval <= MAX_INTERVAL:
        raise OrganizeError(_("间隔要在 1 到 %(max)d 周之间。", max=MAX_INTERVAL), field="interval")
    if until is None and count is None:
        raise OrganizeError(_("请填写结束日期或次数。"), field="last_date")
    if until is not None and count is not None:
        raise OrganizeError(_("结束日期和次数只填一个。"), field="count")
    if until is not None:
        if until < first:
            raise OrganizeError(_("结束日期不能早于开始日期。"), field="last_date")
        if (until - first).days > 366:
            raise OrganizeError(_("日期范围最长一年。"), field="last_date")
    if count is not None and not 1 <= count <= MAX_COUNT:
        raise OrganizeError(_("次数要在 1 到 %(max)d 之间。", max=MAX_COUNT), field="count")
    rule = rrule(
        WEEKLY,
        dtstart=datetime.combine(first, time(0, 0)),
        interval=interval,
        byweekday=days,
        until=datetime.combine(until, time(0, 0)) if until is not None else None,
        count=count,
    )
    text = str(rule)
    return text.split("RRULE:", 1)[1].strip()


def expand_weekly(
    first: date,
    weekdays: Iterable[int],
    slots: Sequence[Slot],
    interval: int = 1,
    until: date | None = None,
    count: int | None = None,
) -> tuple[str, list[Occurrence]]:
    """Expand the weekly form into shift times; return the rule it made and the times.

    :raises OrganizeError: on the form field at fault.
    """
    rule = weekly_rule(first, weekdays, interval, until, count)
    try:
        occurrences = expand_rule(rule, first, slots)
    except OrganizeError as exc:
        # The rule was built here, not typed: point at what the organizer chose instead.
        raise OrganizeError(str(exc), field="count" if count else "weekdays") from None
    if (
        until is not None
        and (until - first).days > 366
        or occurrences
        and (occurrences[-1].starts_at - occurrences[0].starts_at) > timedelta(days=366)
    ):
        raise OrganizeError(_("日期范围最长一年。"), field="count" if count else "last_date")
    return rule, occurrences

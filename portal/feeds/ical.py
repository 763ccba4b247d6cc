"""The one calendar module: model objects in, ``icalendar.Calendar`` or bytes out.

Pure functions: no database, no request, no clock (only a memo of folded lines and shared
property values, which never changes what is written). Every feed (public, personal, unit and
the single-shift download) is produced here so that all of them obey CALENDAR.md alike.

"Model objects" are either ORM :class:`~portal.models.Shift` objects or the plain row views
:class:`ShiftRow` / :class:`ActivityRow` below, which have the same attribute names: large
feeds select columns (SQLAlchemy Core rows) instead of loading ORM objects, and the events
are still written by this one serializer (a test compares the bytes of both inputs).

Decisions (see CALENDAR.md):
- Times are written in UTC (``…Z``): no floating times, no VTIMEZONE to get wrong, no
  historic Shanghai daylight-saving block. Clients show them in the phone's own zone.
- DTSTAMP and LAST-MODIFIED are the event's last change, never "now", so an unchanged feed is
  byte-identical.
- Calendar-level NAME / X-WR-CALNAME / X-WR-CALDESC are set as ``vText``: icalendar 7.3.x
  writes them unescaped (and crashes on a newline) when set with ``Calendar.add``.
- Text for the calendar itself is Chinese and fixed: calendar programs send no language.
- Attendance (personal feeds): an attended shift says so in DESCRIPTION with its hours and
  whether they are confirmed; a no-show keeps STATUS:CONFIRMED (the event happened) and
  gets the 【缺席】 title. Recording attendance, either way, raises SEQUENCE by one: it is a
  revision of the person's event, and a later switch between attended and no-show keeps
  that SEQUENCE and is told apart by its later DTSTAMP (RFC 5546 §2.1.5), so SEQUENCE never
  goes down when the organizer corrects one. A change of hours touches DESCRIPTION only:
  LAST-MODIFIED and DTSTAMP move, SEQUENCE does not.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import lru_cache

from icalendar import Alarm, Calendar, Event, vCalAddress, vDatetime, vDuration, vGeo, vInt, vText
from icalendar.parser import Contentline, Parameters

from portal.labels import CALENDAR_ATTENDANCE, CALENDAR_PREFIX
from portal.models import Activity, Attendance, Shift, SignupStatus

PRODID = "-//Chuangwen Civic Portal//Volunteer Calendar Feeds 1.0//ZH"
SITE_TZ_HINT = "Asia/Shanghai"


@dataclass(frozen=True)
class EventOptions:
    """How to render one shift: where links point and what the viewer needs to see."""

    host: str  # PORTAL_HOST: UIDs and the ORGANIZER address
    base_url: str  # absolute site root for the event URL, e.g. "https://example.org"
    signup_status: SignupStatus | None = None  # personal feeds: the person's own status
    signup_changed_at: datetime | None = None
    counts: tuple[int, int, int] | None = None  # unit feeds: (taken, capacity, waitlist)
    alarm_minutes: int | None = None  # personal feeds: VALARM N minutes before
    # Personal feeds: the organizer removed or rejected the person; the reason, or "".
    withdrawn_reason: str | None = None
    # Personal feeds: attendance as recorded by the organizer, and the record's hours.
    attendance: Attendance | None = None
    hours: Decimal | None = None
    hours_confirmed: bool = False

    @property
    def withdrawn(self) -> bool:
        return self.withdrawn_reason is not None and self.attendance is None


@dataclass(frozen=True, slots=True)
class Named:
    """A zone or unit as the calendar needs it: its name."""

    name: str


@dataclass(frozen=True, slots=True)
class ActivityRow:
    """The columns of an activity that calendar events show (same names as the model)."""

    id: int
    title: str
    place: str
    latitude: float | None
    longitude: float | None
    kind: str
    status: str
    cancel_reason: str
    cancelled_at: datetime | None
    updated_at: datetime | None
    zone: Named
    unit: Named

    @property
    def is_cancelled(self) -> bool:
        return self.status == "cancelled"

    @property
    def is_volunteer(self) -> bool:
        return self.kind == "volunteer"


@dataclass(frozen=True, slots=True)
class ShiftRow:
    """The columns of a shift that calendar events show (same names as the model)."""

    id: int
    activity_id: int
    starts_at: datetime
    ends_at: datetime
    post_name: str
    sequence: int
    status: str
    cancel_reason: str
    cancelled_at: datetime | None
    updated_at: datetime | None
    activity: ActivityRow
    capacity: int = 0
    taken_count: int = 0
    waitlist_count: int = 0

    @property
    def is_cancelled(self) -> bool:
        return self.status == "cancelled"

    @property
    def is_off(self) -> bool:
        return self.status == "cancelled" or self.activity.is_cancelled


AnyShift = Shift | ShiftRow


def _utc(value: datetime) -> datetime:
    """Drop microseconds and convert to UTC (an aware datetime is required)."""
    if value.tzinfo is None:
        raise ValueError("naive datetime in a calendar event")
    return value.astimezone(UTC).replace(microsecond=0)


def sequence_of(
    shift: AnyShift, withdrawn: bool = False, attendance: Attendance | None = None
) -> int:
    """SEQUENCE: the stored counter, at least 1 once cancelled, one more once withdrawn or
    once the person's attendance is recorded (attended or no-show alike)."""
    seq = shift.sequence or 0
    if shift.is_off:
        return max(seq, 1)
    return seq + 1 if withdrawn or attendance is not None else seq


def changed_at(shift: AnyShift, extra: datetime | None = None) -> datetime:
    """The event's last change: the latest of shift, activity (and sign-up) updates."""
    stamps = [shift.updated_at, shift.activity.updated_at]
    if extra is not None:
        stamps.append(extra)
    return _utc(max(s for s in stamps if s is not None))


def _param_text(value: str) -> str:
    """A parameter value every parser reads alike: one line, no quote or caret escapes."""
    return " ".join(value.replace('"', "'").replace("^", " ").split())


def uid_of(shift: AnyShift, host: str) -> str:
    return f"shift-{shift.id}@{host}"


def summary_of(
    shift: AnyShift,
    signup_status: SignupStatus | None = None,
    withdrawn: bool = False,
    attendance: Attendance | None = None,
) -> str:
    """Title with the prefix that tells cancelled, pending, waitlisted and no-show apart."""
    title = shift.activity.title
    if shift.post_name:
        title = f"{title}（{shift.post_name}）"
    if shift.is_off or withdrawn:
        return CALENDAR_PREFIX["cancelled"] + title
    if attendance == Attendance.NO_SHOW:
        return CALENDAR_ATTENDANCE["no_show_prefix"] + title
    if attendance is None and signup_status in (SignupStatus.PENDING, SignupStatus.WAITLISTED):
        return CALENDAR_PREFIX[signup_status] + title
    return title


def status_of(
    shift: AnyShift,
    signup_status: SignupStatus | None = None,
    withdrawn: bool = False,
    attendance: Attendance | None = None,
) -> str:
    """CANCELLED, TENTATIVE or CONFIRMED; recorded attendance means the event took place."""
    if shift.is_off or withdrawn:
        return "CANCELLED"
    if attendance is None and signup_status in (SignupStatus.PENDING, SignupStatus.WAITLISTED):
        return "TENTATIVE"
    return "CONFIRMED"


def hours_text(hours: Decimal | float) -> str:
    """2.5 → "2.5", 3.0 → "3": the way hours read in Chinese text."""
    text = format(Decimal(str(hours)).quantize(Decimal("0.1")), "f")
    return text.removesuffix(".0")


def attendance_line(shift: AnyShift, opts: EventOptions) -> str | None:
    """The person's attendance in words: "已出勤 · 服务时长 2.5 小时（已确认）", or None."""
    words = CALENDAR_ATTENDANCE
    if opts.attendance == Attendance.NO_SHOW:
        return f"{words['no_show']}：组织方记录你未到岗。如有疑问，请联系组织方。"
    if opts.attendance != Attendance.ATTENDED:
        return None
    if not shift.activity.is_volunteer or opts.hours is None:
        return words["attended"]
    state = words["hours_confirmed"] if opts.hours_confirmed else words["hours_pending"]
    return f"{words['attended']} · {words['hours']} {hours_text(opts.hours)} 小时（{state}）"


def description_of(shift: AnyShift, opts: EventOptions) -> str:
    """Plain-text details: no names, phone numbers or e-mail addresses of people."""
    activity: Activity = shift.activity
    lines: list[str] = []
    if shift.is_off:
        reason = shift.cancel_reason if shift.is_cancelled else activity.cancel_reason
        lines.append("此班次已取消。" + (f"原因：{reason}" if reason else ""))
    elif opts.withdrawn:
        reason = opts.withdrawn_reason
        lines.append("你已不在这个班次的名单上。" + (f"原因：{reason}" if reason else ""))
    attended = attendance_line(shift, opts)
    if attended is not None:
        lines.append(attended)
    elif opts.signup_status == SignupStatus.PENDING:
        lines.append("你的报名正在等待组织方审核。")
    elif opts.signup_status == SignupStatus.WAITLISTED:
        lines.append("你在候补名单上，有空位时会通知你。")
    lines.append(f"片区：{activity.zone.name}")
    lines.append(f"组织单位：{activity.unit.name}")
    if opts.counts is not None:
        taken, capacity, waitlist = opts.counts
        lines.append(f"已报名：{taken}/{capacity}（含待审核）；候补：{waitlist}")
    lines.append(f"详情：{activity_url(shift, opts.base_url)}")
    return "\n".join(lines)


def activity_url(shift: AnyShift, base_url: str) -> str:
    return f"{base_url.rstrip('/')}/activities/{shift.activity_id}"


def event_url(shift: AnyShift, base_url: str) -> str:
    return f"{base_url.rstrip('/')}/activities/{shift.activity_id}#shift-{shift.id}"


@lru_cache(maxsize=4096)
def _organizer(host: str, unit_name: str) -> vCalAddress:
    """ORGANIZER: the portal's generic address with the unit's name (shared, never mutated)."""
    organizer = vCalAddress(f"mailto:noreply@{host}")
    organizer.params["CN"] = _param_text(unit_name)
    return organizer


@lru_cache(maxsize=16_384)
def _text(value: str) -> vText:
    return vText(value)


@lru_cache(maxsize=16_384)
def _stamp(value: datetime) -> vDatetime:
    return vDatetime(value)


_FOLDED: dict[str, bytes] = {}
_FOLDED_MAX = 50_000


def _folded(line: Contentline) -> bytes:
    """icalendar's own folding of one content line, remembered: feeds repeat many lines."""
    done = _FOLDED.get(line)
    if done is None:
        if len(_FOLDED) >= _FOLDED_MAX:
            _FOLDED.clear()
        done = _FOLDED[line] = _fold(line)
    return done


def _fold(line: Contentline) -> bytes:
    """``line.to_ical()``: icalendar folds only from 75 octets on, so a shorter line is
    written as it is (icalendar's folder looks at every character, even then)."""
    raw = str(line).encode("utf-8")
    return raw if len(raw) < 75 else line.to_ical()


class _FeedEvent(Event):
    """A VEVENT serialized exactly like ``Event.to_ical`` (a test compares the bytes).

    icalendar still builds and escapes every content line; only the folding of lines that
    repeat across events (title, place, organizer, description, stamps) is reused.
    """

    def content_line(self, name, value, sorted: bool = True):  # noqa: A002
        # Component.content_line builds a throw-away Parameters() even when the value has
        # its own; same result, without that cost on every line.
        params = value.params if hasattr(value, "params") else Parameters()
        return Contentline.from_parts(name, params, value, sorted=sorted)

    def to_ical(self, sorted: bool = True) -> bytes:  # noqa: A002 - icalendar's signature
        lines = self.content_lines(sorted=sorted)
        return b"\r\n".join(_folded(line) for line in lines if line) + b"\r\n"


_LINES: dict[tuple, bytes] = {}
_LINES_MAX = 100_000


def clear_memo() -> None:
    """Forget every remembered line and shared property (the benchmark's "cold")."""
    _FOLDED.clear()
    _LINES.clear()
    _organizer.cache_clear()
    _text.cache_clear()
    _stamp.cache_clear()


def _fields(shift: AnyShift, opts: EventOptions) -> list[tuple[str, object]]:
    """Every property of the shift's VEVENT as (NAME, plain value): the one definition of
    what an event says, used by :func:`shift_event` and :func:`event_bytes` alike."""
    activity = shift.activity
    stamp = changed_at(shift, opts.signup_changed_at)
    fields: list[tuple[str, object]] = [
        ("UID", uid_of(shift, opts.host)),
        ("DTSTAMP", stamp),
        ("LAST-MODIFIED", stamp),
        ("SEQUENCE", sequence_of(shift, opts.withdrawn, opts.attendance)),
        ("DTSTART", _utc(shift.starts_at)),
        ("DTEND", _utc(shift.ends_at)),
        ("SUMMARY", summary_of(shift, opts.signup_status, opts.withdrawn, opts.attendance)),
        ("LOCATION", activity.place),
        ("DESCRIPTION", description_of(shift, opts)),
        ("STATUS", status_of(shift, opts.signup_status, opts.withdrawn, opts.attendance)),
        ("URL", event_url(shift, opts.base_url)),
    ]
    if activity.latitude is not None and activity.longitude is not None:
        fields.append(("GEO", (activity.latitude, activity.longitude)))
    fields.append(("ORGANIZER", (opts.host, activity.unit.name)))
    return fields


def _value(name: str, raw):
    """The icalendar value of one field."""
    if name in {"DTSTAMP", "LAST-MODIFIED"}:
        return _stamp(raw)
    if name in {"DTSTART", "DTEND"}:
        return vDatetime(raw)
    if name == "SEQUENCE":
        return vInt(raw)
    if name == "GEO":
        return vGeo(raw)
    if name == "ORGANIZER":
        return _organizer(*raw)
    if name == "LOCATION":
        return _text(raw)
    return vText(raw)


def shift_event(shift: AnyShift, opts: EventOptions) -> Event:
    """One VEVENT for a shift; the shift's activity, zone and unit must be loaded."""
    event = _FeedEvent()
    for name, raw in _fields(shift, opts):
        event[name] = _value(name, raw)
    if _has_alarm(shift, opts):
        alarm = Alarm()
        alarm["ACTION"] = vText("DISPLAY")
        alarm["DESCRIPTION"] = vText(summary_of(shift, opts.signup_status))
        trigger = vDuration(-timedelta(minutes=opts.alarm_minutes))
        alarm["TRIGGER"] = trigger
        event.add_component(alarm)
    return event


def _has_alarm(shift: AnyShift, opts: EventOptions) -> bool:
    return bool(opts.alarm_minutes) and not shift.is_off and not opts.withdrawn


_ORDER: dict[frozenset, tuple[str, ...]] = {}
_BEGIN, _END_EVENT = Event().to_ical().split(b"\r\n")[:2]


def _line(name: str, raw) -> bytes:
    """One content line as icalendar writes it (``Component.content_line`` and
    ``Contentline.to_ical``: escaping, parameters, folding), remembered by its plain value."""
    key = (name, raw)
    line = _LINES.get(key)
    if line is None:
        value = _value(name, raw)
        params = value.params if hasattr(value, "params") else Parameters()
        line = _fold(Contentline.from_parts(name, params, value, sorted=True))
        if len(_LINES) >= _LINES_MAX:
            _LINES.clear()
        _LINES[key] = line
    return line


def event_bytes(shift: AnyShift, opts: EventOptions) -> bytes:
    """``shift_event(shift, opts).to_ical()``, byte for byte (a test compares them), without
    building the Event: every line is written by icalendar once and then remembered by its
    value, so a feed pays icalendar's price only for lines it has not written before."""
    if _has_alarm(shift, opts):
        return shift_event(shift, opts).to_ical()
    fields = dict(_fields(shift, opts))
    names = frozenset(fields)
    order = _ORDER.get(names)
    if order is None:
        probe = Event()
        for name in names:
            probe[name] = vText("")
        order = _ORDER[names] = tuple(probe.sorted_keys())
    lines = [_BEGIN]
    lines.extend(_line(name, fields[name]) for name in order)
    lines.append(_END_EVENT)
    return b"\r\n".join(lines) + b"\r\n"


def calendar_frame(
    name: str, *, refresh_minutes: int | None = None, description: str | None = None
) -> Calendar:
    """The VCALENDAR wrapper without events; refresh hints only for subscribed feeds."""
    cal = Calendar()
    cal["PRODID"] = vText(PRODID)
    cal["VERSION"] = vText("2.0")
    cal["CALSCALE"] = vText("GREGORIAN")
    cal["METHOD"] = vText("PUBLISH")
    cal["NAME"] = vText(name)
    cal["X-WR-CALNAME"] = vText(name)
    if description:
        cal["X-WR-CALDESC"] = vText(description)
    cal["X-WR-TIMEZONE"] = vText(SITE_TZ_HINT)
    if refresh_minutes:
        interval = vDuration(timedelta(minutes=refresh_minutes))
        interval.params["VALUE"] = "DURATION"
        cal["REFRESH-INTERVAL"] = interval
        cal["X-PUBLISHED-TTL"] = vDuration(timedelta(minutes=refresh_minutes))
    return cal


def feed_calendar(
    name: str,
    items: Iterable[tuple[AnyShift, EventOptions]],
    *,
    refresh_minutes: int = 60,
    description: str | None = None,
) -> Calendar:
    """A subscribable feed: the frame plus one VEVENT per (shift, options), in given order."""
    cal = calendar_frame(name, refresh_minutes=refresh_minutes, description=description)
    for shift, opts in items:
        cal.add_component(shift_event(shift, opts))
    return cal


def single_shift_calendar(shift: AnyShift, opts: EventOptions) -> Calendar:
    """A one-shot import file: one VEVENT, no refresh hints."""
    cal = calendar_frame(shift.activity.title)
    cal.add_component(shift_event(shift, opts))
    return cal


def to_bytes(cal: Calendar) -> bytes:
    """Serialize with icalendar (it escapes and folds at 75 octets, CRLF endings)."""
    return cal.to_ical()


_END = b"END:VCALENDAR\r\n"


def assemble(frame: Calendar, event_chunks: Sequence[bytes]) -> bytes:
    """Splice pre-serialized VEVENTs into a serialized frame.

    Gives exactly ``to_bytes`` of the full calendar (a test checks it) while letting the
    caller reuse each event's bytes across builds.
    """
    return splice(to_bytes(frame), event_chunks)


def splice(head: bytes, event_chunks: Sequence[bytes]) -> bytes:
    """:func:`assemble` for a frame already serialized with :func:`to_bytes`."""
    if not head.endswith(_END):  # pragma: no cover - icalendar always ends like this
        raise ValueError("unexpected calendar serialization")
    return head[: -len(_END)] + b"".join(event_chunks) + _END

"""The big district: ``flask --app portal seed-bench --scale S`` for the benchmark (issue 12).

At S=1: 40 zones, 300 units, 10,000 activities over a year (half of them past), 100,000
shifts, 100,000 people and 1,000,000 sign-ups — never over capacity, at most one per person
and shift — plus demo-like accounts (a resident with ~30 upcoming sign-ups and a feed token,
an organizer with ~200 activities, one activity with 240 upcoming shifts, an admin and a zone
leader). S=0.01 gives a small district of the same shape.

Rows are built in Python from a seeded random generator and written by bulk inserts: SQLAlchemy
Core ``insert`` executemany on SQLite, ``COPY … FROM STDIN`` on PostgreSQL. The shift counters
(``taken_count``, ``waitlist_count``) are computed from the generated sign-ups, so they equal
the truth (:func:`portal.models.signups.counter_mismatches` stays empty). Meant for an empty
database (after ``flask db upgrade``); never for production data.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from sqlalchemy import Table, func, insert, select, text

from portal.extensions import db
from portal.models import (
    Activity,
    CalendarToken,
    Programme,
    Shift,
    Signup,
    Unit,
    User,
    Zone,
    activity_programmes,
    participation,
    unit_organizers,
    zone_leaders,
)
from portal.timeutil import local_to_utc, site_tz

BENCH_PASSWORD = "Bench-pass-2026"
# A fixed feed token for the bench resident, so a re-used bench database keeps working.
BENCH_FEED_TOKEN = "bench-resident-feed-token-not-secret-0001"

# role, phone — every bench account's password is BENCH_PASSWORD.
BENCH_ACCOUNTS = {
    "admin": "13900000000",
    "organizer": "13900000001",
    "resident": "13900000002",
    "zone leader": "13900000003",
}

FULL = {
    "zones": 40,
    "units": 300,
    "activities": 10_000,
    "shifts": 100_000,
    "people": 100_000,
    "signups": 1_000_000,
}
LONG_ACTIVITY_SHIFTS = 240
RESIDENT_SIGNUPS = 30
ORGANIZER_ACTIVITIES = 200

ZONE_ROOTS = (
    "立后 福海 城东 城西 滨江 南门 新城 北岭 东湖 西山 "
    "桃源 凤凰 龙泉 望江 青山 玉屏 金沙 银湖 石桥 梅林"
).split()
UNIT_KINDS = ("department", "street_office", "community", "volunteer_team")
UNIT_STEMS = ("社区居委会", "志愿服务队", "街道办事处", "文明实践站", "网格工作组", "青年突击队")
TITLES = [
    ("{school}校门口交通文明劝导", "{school}校门口", "zz-jiaotong"),
    ("{road}路口文明交通劝导", "{road}与{road2}交叉路口", "zz-jiaotong"),
    ("{market}市场门口秩序维护", "{market}市场正门", "zz-nongmao"),
    ("{market}市场环境整治志愿服务", "{market}市场", "zz-weisheng"),
    ("{river}河道清洁行动", "{river}{zone}段", "zz-neihe"),
    ("{road}沿线门前三包督导", "{road}（集合点：{zone}街道办门口）", "zz-menqian"),
    ("{road}雨披遮阳布整治宣传", "{road}老街", "zz-yupi"),
    ("小型餐馆文明餐桌宣传（{zone}）", "{zone}美食街", "zz-canguan"),
    ("省运会城市志愿者服务站（{station}）", "{station}", "sy-zhandian"),
    ("文明礼仪课堂（{zone}）", "{zone}社区文化活动中心", "wujin-liyi"),
    ("法治讲座：身边的法律（{zone}）", "{zone}社区文化活动中心", "wujin-fazhi"),
    ("健康义诊进社区（{zone}）", "{zone}社区卫生服务站", "wujin-fuwu"),
    ("社区广场舞展演（{zone}）", "{zone}文化广场", "wujin-wenti"),
    ("垃圾分类宣传志愿服务", "{zone}{estate}小区", "gc-fengshang"),
    ("关爱空巢老人上门探访", "{zone}{estate}小区", "gc-gongyi"),
]
SCHOOLS = "县一小 县二小 实验小学 城关中学 滨江中学 新城小学 第三中学 育才小学".split()
ROADS = "人民路 下尾街 南门路 解放路 中山路 建设路 滨江路 新华路 环城路 国道".split()
MARKETS = "裕丰园 富海 东门 西街 新城 滨江".split()
RIVERS = "福洋溪 城西溪 南门河 东湖渠".split()
STATIONS = "高铁站 体育中心 人民广场 汽车站 滨江公园".split()
ESTATES = "阳光 幸福 和平 锦绣 金桂 翠竹 海景 书香".split()
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗郑梁谢宋唐许韩冯邓曹彭"
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华玉兰建国志强海燕"
SLOTS = [
    (time(7, 0), time(8, 30)),
    (time(8, 30), time(11, 30)),
    (time(14, 0), time(17, 0)),
    (time(16, 30), time(18, 0)),
    (time(19, 0), time(21, 0)),
]


@dataclass
class BenchReport:
    counts: dict[str, int] = field(default_factory=dict)
    accounts: list[tuple[str, str, str]] = field(default_factory=list)
    feed_token: str = BENCH_FEED_TOKEN
    long_activity_id: int = 0
    organizer_activities: int = 0
    resident_upcoming: int = 0


def sizes(scale: float) -> dict[str, int]:
    """Row counts at a scale (S=1 is the full district)."""
    got = {name: max(1, round(n * scale)) for name, n in FULL.items()}
    got["zones"] = max(got["zones"], 4)
    got["units"] = max(got["units"], 6)
    got["activities"] = max(got["activities"], 20)
    got["people"] = max(got["people"], 200)
    got["shifts"] = max(got["shifts"], got["activities"] + LONG_ACTIVITY_SHIFTS)
    return got


def _sqlite_insert(table: Table, columns: Sequence[str], rows: list[tuple]) -> None:
    db.session.execute(insert(table), [dict(zip(columns, row, strict=True)) for row in rows])


def _pg_copy(table: Table, columns: Sequence[str], rows: list[tuple]) -> None:
    raw = db.session.connection().connection.driver_connection
    with raw.cursor() as cursor:
        with cursor.copy(f"COPY {table.name} ({', '.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)


def _writer() -> Callable[[Table, Sequence[str], list[tuple]], None]:
    return _pg_copy if db.engine.dialect.name == "postgresql" else _sqlite_insert


def _chunks(rows: list[tuple], size: int) -> Iterable[list[tuple]]:
    for start in range(0, len(rows), size):
        yield rows[start : start + size]


def _local(day: date, at: time) -> datetime:
    return local_to_utc(day, at)


def _split(total: int, parts: int, rng: random.Random, low: int = 1) -> list[int]:
    """``parts`` positive sizes around total/parts that add up to exactly ``total``."""
    avg = total / parts
    sizes_ = [max(low, int(rng.uniform(0.2, 1.8) * avg)) for _ in range(parts)]
    diff = total - sum(sizes_)
    i = 0
    while diff != 0:
        j = i % parts
        if diff > 0:
            sizes_[j] += 1
            diff -= 1
        elif sizes_[j] > low:
            sizes_[j] -= 1
            diff += 1
        i += 1
    return sizes_


def seed_bench(
    scale: float = 1.0, seed: int = 20261202, progress=None, password_hash: str | None = None
) -> BenchReport:
    """Fill an empty database with the big district; returns counts and logins.

    ``progress(n)`` is called with the number of rows just written (for a progress bar).
    ``password_hash`` (one hash for every account) saves an argon2 computation in tests.
    """
    from flask import current_app

    from portal.auth.services import hash_password

    if db.session.scalar(select(func.count()).select_from(Zone)):
        raise RuntimeError("the database already has zones; seed-bench needs an empty one")
    rng = random.Random(seed)
    n = sizes(scale)
    write = _writer()
    # The dashboard summaries' triggers would cost several statements per row of a million
    # sign-ups: off during the load, the summary rebuilt in one pass at the end.
    dialect = db.engine.dialect.name
    for statement in participation.drop_statements(dialect, "all"):
        db.session.execute(text(statement))
    tick = progress or (lambda _n: None)
    report = BenchReport()
    now = datetime.now(UTC).replace(microsecond=0)
    today = now.astimezone(site_tz()).date()
    created = now - timedelta(days=200)
    consent = current_app.config.get("PRIVACY_NOTICE_VERSION")
    pw = password_hash or hash_password(BENCH_PASSWORD)

    def put(table: Table, columns: Sequence[str], rows: list[tuple], chunk: int = 20_000):
        for part in _chunks(rows, chunk):
            write(table, columns, part)
            tick(len(part))

    # --- places --------------------------------------------------------------------------
    zone_names = []
    for i in range(n["zones"]):
        root = ZONE_ROOTS[i % len(ZONE_ROOTS)]
        zone_names.append(root if i < len(ZONE_ROOTS) else f"{root}{i // len(ZONE_ROOTS) + 1}片")
    put(
        Zone.__table__,
        ("id", "name", "street", "population", "description", "created_at"),
        [
            (i + 1, name, f"{name[:2]}街道", rng.randint(5_000, 25_000), f"{name}片区。", created)
            for i, name in enumerate(zone_names)
        ],
    )
    units = []
    for i in range(n["units"]):
        zone = zone_names[i % len(zone_names)]
        stem = UNIT_STEMS[i % len(UNIT_STEMS)]
        units.append(
            (
                i + 1,
                f"{zone}{stem}{i // len(zone_names) + 1:02d}",
                UNIT_KINDS[i % len(UNIT_KINDS)],
                created,
            )
        )
    put(Unit.__table__, ("id", "name", "kind", "created_at"), units)

    from portal.demo import PROGRAMMES

    programme_rows, code_to_id, pid = [], {}, 0
    for pos, (code, name, children) in enumerate(PROGRAMMES):
        pid += 1
        top = pid
        code_to_id[code] = top
        programme_rows.append((top, code, name, None, pos, ""))
        for cpos, (ccode, cname) in enumerate(children):
            pid += 1
            code_to_id[ccode] = pid
            programme_rows.append((pid, ccode, cname, top, cpos, ""))
    # Parents first: the tree's foreign key points backwards.
    put(
        Programme.__table__,
        ("id", "code", "name", "parent_id", "position", "description"),
        programme_rows,
    )
    leaf_ids = [r[0] for r in programme_rows if r[3] is not None]

    # --- people ----------------------------------------------------------------------------
    people = n["people"]
    accounts = list(BENCH_ACCOUNTS.items())
    first_special = people - len(accounts) + 1  # the last ids are the demo-like accounts
    special = {role: first_special + k for k, (role, _phone) in enumerate(accounts)}
    user_rows = []
    for uid in range(1, people + 1):
        is_special = uid >= first_special
        role, phone = accounts[uid - first_special] if is_special else ("", f"137{uid:08d}")
        name = rng.choice(SURNAMES) + rng.choice(GIVEN) + (rng.choice(GIVEN) if uid % 3 else "")
        user_rows.append(
            (uid, phone, name, None, pw, role == "admin", True, consent, created, created, 1, False)
        )
    put(
        User.__table__,
        (
            "id",
            "phone",
            "real_name",
            "email",
            "password_hash",
            "is_admin",
            "active",
            "consent_version",
            "consent_at",
            "created_at",
            "session_version",
            "must_change_password",
        ),
        user_rows,
    )
    organizer_units = [1, 2, 3]
    put(
        unit_organizers,
        ("unit_id", "user_id"),
        [(u, special["organizer"]) for u in organizer_units],
    )
    leader = special["zone leader"]
    put(zone_leaders, ("zone_id", "user_id"), [(1, leader), (2, leader)])
    report.accounts = [(role, phone, BENCH_PASSWORD) for role, phone in accounts]

    # --- activities ------------------------------------------------------------------------
    acts = n["activities"]
    long_id = 1
    organizer_count = min(ORGANIZER_ACTIVITIES, acts // 2)
    activity_rows, act_start, act_programmes, act_status = [], {}, [], {}
    for aid in range(1, acts + 1):
        title_t, place_t, prog = TITLES[aid % len(TITLES)]
        zone_id = rng.randint(1, n["zones"])
        zone = zone_names[zone_id - 1]
        words = {
            "zone": zone,
            "school": rng.choice(SCHOOLS),
            "road": rng.choice(ROADS),
            "road2": rng.choice(ROADS),
            "market": rng.choice(MARKETS),
            "river": rng.choice(RIVERS),
            "station": rng.choice(STATIONS),
            "estate": rng.choice(ESTATES),
        }
        title = title_t.format(**words) + ("" if aid % 7 else f" 第{aid % 50 + 1}期")
        place = place_t.format(**words)
        if aid == long_id or aid <= organizer_count:
            unit_id, creator = organizer_units[aid % len(organizer_units)], special["organizer"]
        else:
            unit_id, creator = rng.randint(len(organizer_units) + 1, n["units"]), None
        # Starts spread over a year, half of it past; the long activity starts tomorrow.
        start_day = today + timedelta(days=1 if aid == long_id else rng.randint(-182, 181))
        act_start[aid] = start_day
        roll = rng.random()
        past = start_day < today
        if aid == long_id:
            status = "published"
        elif roll < 0.01:
            status = "draft"
        elif roll < 0.03:
            status = "cancelled"
        else:
            status = "finished" if past and roll > 0.5 else "published"
        act_status[aid] = status
        published_at = None if status == "draft" else created
        cancelled_at = created if status == "cancelled" else None
        activity_rows.append(
            (
                aid,
                title,
                f"{title}：协助现场秩序，宣传文明城市创建。",
                "community"
                if prog.startswith("wujin") and prog != "wujin-zhiyuan"
                else "volunteer",
                status,
                zone_id,
                unit_id,
                place,
                None,
                None,
                "联系人",
                "13800000000",
                "请穿着志愿者马甲（现场发放），提前10分钟到岗签到。",
                "",
                2,
                "天气原因取消" if status == "cancelled" else "",
                creator,
                created,
                created,
                published_at,
                cancelled_at,
            )
        )
        chosen = {code_to_id[prog], rng.choice(leaf_ids)}
        act_programmes.extend((aid, p) for p in sorted(chosen))
    put(
        Activity.__table__,
        (
            "id",
            "title",
            "description",
            "kind",
            "status",
            "zone_id",
            "unit_id",
            "place",
            "latitude",
            "longitude",
            "contact_name",
            "contact_phone",
            "requirements",
            "risk_notice",
            "cancellation_deadline_hours",
            "cancel_reason",
            "created_by_id",
            "created_at",
            "updated_at",
            "published_at",
            "cancelled_at",
        ),
        activity_rows,
        chunk=5_000,
    )
    put(activity_programmes, ("activity_id", "programme_id"), act_programmes)
    report.long_activity_id = long_id
    report.organizer_activities = organizer_count

    # --- shifts ----------------------------------------------------------------------------
    per_activity = [LONG_ACTIVITY_SHIFTS] + _split(
        n["shifts"] - LONG_ACTIVITY_SHIFTS, acts - 1, rng
    )
    shifts = []  # (id, activity_id, starts_at, ends_at, capacity, status, approval, waitlist)
    sid = 0
    for aid, count in enumerate(per_activity, start=1):
        day0 = act_start[aid]
        slots_per_day = 4 if aid == long_id else rng.choice((1, 2, 3))
        slot0 = rng.randrange(len(SLOTS))
        approval = rng.random() < 0.1
        waitlist = rng.random() < 0.8
        for k in range(count):
            sid += 1
            day = day0 + timedelta(days=k // slots_per_day)
            begin, end = SLOTS[(slot0 + k % slots_per_day) % len(SLOTS)]
            status = "cancelled" if rng.random() < 0.02 else "scheduled"
            shifts.append(
                (
                    sid,
                    aid,
                    _local(day, begin),
                    _local(day, end),
                    rng.randint(8, 30),
                    status,
                    approval,
                    waitlist,
                )
            )

    # --- sign-ups (computed before the shifts are written, for exact counters) ---------------
    resident = special["resident"]
    upcoming = [
        s
        for s in shifts
        if s[2] > now
        and s[5] == "scheduled"
        and act_status[s[1]] == "published"
        and s[1] != long_id
    ]
    resident_shifts = {s[0] for s in rng.sample(upcoming, min(RESIDENT_SIGNUPS, len(upcoming)))}
    report.resident_upcoming = len(resident_shifts)
    wanted = _split(n["signups"], len(shifts), rng, low=0)
    ordinary = first_special - 1  # ordinary people are 1..ordinary
    signup_rows, counters = [], []
    gid = 0
    spare = 0  # sign-ups a full shift could not take, offered to the next shifts
    for shift, want in zip(shifts, wanted, strict=True):
        sid_, aid, starts, ends, capacity, sstatus, approval, waitlist = shift
        want += spare
        room = capacity + (3 if waitlist else 0)
        take = min(want, room, ordinary)
        spare = want - take
        chosen = rng.sample(range(1, ordinary + 1), take)
        if sid_ in resident_shifts:
            if take:
                chosen[0] = resident
            else:
                chosen, spare = [resident], spare - 1
        past = ends < now
        taken = waiting = 0
        stamp = min(starts - timedelta(days=3), now)
        for person in chosen:
            gid += 1
            roll = rng.random()
            attendance = hours = None
            if taken >= capacity:
                status, queued = ("waitlisted", stamp) if not past else ("cancelled", None)
            elif person == resident:
                status, queued = "confirmed", None
            elif roll < 0.05:
                status, queued = "cancelled", None
            elif roll < 0.07:
                status, queued = "rejected", None
            elif approval and roll < 0.15 and not past:
                status, queued = "pending", None
            else:
                status, queued = "confirmed", None
            if status in ("confirmed", "pending"):
                taken += 1
            elif status == "waitlisted":
                waiting += 1
            if past and status == "confirmed" and roll < 0.85:
                attendance = "attended"
                hours = Decimal(str(round((ends - starts).total_seconds() / 3600, 1)))
            signup_rows.append(
                (
                    gid,
                    sid_,
                    person,
                    status,
                    "self",
                    stamp,
                    stamp,
                    queued,
                    None,
                    None,
                    stamp if status == "cancelled" else None,
                    "",
                    None,
                    attendance,
                    starts if attendance else None,
                    None,
                    "roster" if attendance else None,
                    hours,
                    ends if attendance else None,
                    None,
                    "",
                )
            )
        counters.append((taken, waiting))
    shift_rows = [
        (
            s[0],
            s[1],
            s[2],
            s[3],
            s[4],
            "",
            None,
            None,
            s[6],
            s[7],
            s[5],
            "天气原因" if s[5] == "cancelled" else "",
            created if s[5] == "cancelled" else None,
            0,
            taken,
            waiting,
            created,
            created,
        )
        for s, (taken, waiting) in zip(shifts, counters, strict=True)
    ]
    put(
        Shift.__table__,
        (
            "id",
            "activity_id",
            "starts_at",
            "ends_at",
            "capacity",
            "post_name",
            "signup_opens_at",
            "signup_closes_at",
            "requires_approval",
            "waitlist_enabled",
            "status",
            "cancel_reason",
            "cancelled_at",
            "sequence",
            "taken_count",
            "waitlist_count",
            "created_at",
            "updated_at",
        ),
        shift_rows,
    )
    put(
        Signup.__table__,
        (
            "id",
            "shift_id",
            "user_id",
            "status",
            "source",
            "created_at",
            "updated_at",
            "queued_at",
            "decided_by_id",
            "decided_at",
            "cancelled_at",
            "reason",
            "reminder_sent_at",
            "attendance",
            "checked_in_at",
            "checked_out_at",
            "checkin_method",
            "hours",
            "hours_confirmed_at",
            "hours_confirmed_by_id",
            "hours_note",
        ),
        signup_rows,
        chunk=50_000,
    )

    # --- the resident's feed token ------------------------------------------------------------
    from portal.feeds.services import hash_token

    put(
        CalendarToken.__table__,
        ("id", "user_id", "token_hash", "alarm_minutes", "created_at", "revoked_at"),
        [(1, resident, hash_token(BENCH_FEED_TOKEN), None, created, None)],
    )

    for statement in participation.create_statements(dialect, "all"):
        db.session.execute(text(statement))
    participation.rebuild(db.session.connection())
    participation.rebuild_marks(db.session.connection())

    if db.engine.dialect.name == "postgresql":
        for table in (
            "zones",
            "units",
            "programmes",
            "users",
            "activities",
            "shifts",
            "signups",
            "calendar_tokens",
        ):
            db.session.execute(
                text(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                    f"(SELECT COALESCE(MAX(id), 1) FROM {table}))"
                )
            )
    report.counts = {
        "zones": n["zones"],
        "units": n["units"],
        "programmes": len(programme_rows),
        "activities": acts,
        "shifts": len(shifts),
        "people": people,
        "signups": len(signup_rows),
    }
    return report


def total_rows(scale: float) -> int:
    """Rows :func:`seed_bench` writes (for the progress bar's length)."""
    n = sizes(scale)
    return (
        n["zones"]
        + n["units"]
        + n["people"]
        + n["activities"] * 3
        + n["shifts"]
        + n["signups"]
        + 40
    )


def analyze() -> None:
    """Fresh planner statistics after a bulk load."""
    db.session.execute(text("ANALYZE"))

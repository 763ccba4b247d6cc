"""The demo district: zones, units, programmes, activities and shifts from DOMAIN.md.

Every object has a natural key (zone and unit names, programme codes, activity titles,
demo phone numbers), so running the loader twice adds nothing the second time.

A few activities also have a past (:data:`HISTORY`): shifts over the last three months with
attendance as an organizer would have recorded it — mostly attended with confirmed hours,
some hours still waiting (a few past the 10-working-day limit, so the organizer's overdue
list has something in it), a few no-shows, and a community activity with attendance but no
hours. The demo resident gets real-looking "my hours" and one certificate. The past is
written straight into the models (no "no shifts in the past" rule applies to history); it
is added once per activity: an activity with any recorded attendance is left alone.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from flask import current_app
from sqlalchemy import func, select

from portal.attendance.records import confirmed_records
from portal.auth.services import hash_password
from portal.certificates.services import CertificateError, issue
from portal.database import begin_write
from portal.extensions import db
from portal.models import (
    Activity,
    ActivityKind,
    ActivityStatus,
    Attendance,
    Certificate,
    CheckinMethod,
    HoursAdjustment,
    LeaderVisit,
    Programme,
    Shift,
    Signup,
    SignupStatus,
    Unit,
    UnitKind,
    User,
    Zone,
    utcnow,
)
from portal.timeutil import local_to_utc, local_today

# role, phone, password — printed by `make run`. Demo only; never used in production data.
DEMO_ACCOUNTS = [
    ("admin", "13800000000", "Demo-admin-2026"),
    ("organizer", "13800000001", "Demo-organizer-2026"),
    ("zone leader", "13800000003", "Demo-leader-2026"),
    ("resident", "13800000002", "Demo-resident-2026"),
]

ZONES = [
    ("立后", "城关街道", 18600, "老城区核心片区，县一小周边、裕丰园市场所在地。"),
    ("福海", "福海街道", 21400, "富海市场、福洋溪流经的片区。"),
    ("城东", "城东街道", 15200, "国道沿线，汽修洗车店较集中。"),
    ("城西", "城西街道", 12800, "居民小区密集的老片区。"),
    ("滨江", "滨江街道", 17300, "沿江公园与省运会主场馆周边。"),
    ("南门", "城关街道", 9800, "下尾街路口与南门老街。"),
    ("新城", "新城镇", 22500, "新建小区和高铁站所在地。"),
]

UNITS = [
    ("区城管局", UnitKind.DEPARTMENT),
    ("区交警大队", UnitKind.DEPARTMENT),
    ("区市场监管局", UnitKind.DEPARTMENT),
    ("区文体旅局", UnitKind.DEPARTMENT),
    ("区司法局", UnitKind.DEPARTMENT),
    ("区教育局", UnitKind.DEPARTMENT),
    ("区卫健局", UnitKind.DEPARTMENT),
    ("团区委", UnitKind.DEPARTMENT),
    ("城关街道办事处", UnitKind.STREET_OFFICE),
    ("福海街道办事处", UnitKind.STREET_OFFICE),
    ("城东街道办事处", UnitKind.STREET_OFFICE),
    ("滨江街道办事处", UnitKind.STREET_OFFICE),
    ("区志愿者协会", UnitKind.VOLUNTEER_TEAM),
]

PROGRAMMES = [
    (
        "wujin",
        "五进",
        [
            ("wujin-liyi", "礼仪规范进片区"),
            ("wujin-wenti", "文化体育进片区"),
            ("wujin-fuwu", "优质服务进片区"),
            ("wujin-fazhi", "法治科教进片区"),
            ("wujin-zhiyuan", "志愿服务进片区"),
        ],
    ),
    (
        "zhengzhi",
        "八大专项整治",
        [
            ("zz-jiaotong", "交通秩序"),
            ("zz-weisheng", "卫生环境"),
            ("zz-yupi", "乱挂雨披遮阳布"),
            ("zz-neihe", "城区内河"),
            ("zz-menqian", "门前三包"),
            ("zz-canguan", "小型餐馆"),
            ("zz-zhandao", "占道经营"),
            ("zz-nongmao", "农贸市场"),
        ],
    ),
    (
        "gongcheng",
        "十大文明工程",
        [
            ("gc-suzhi", "市民素质"),
            ("gc-shehui", "社会管理"),
            ("gc-fuwu", "优质服务"),
            ("gc-fengshang", "文明风尚"),
            ("gc-pinzhi", "城市品质"),
            ("gc-tiyu", "体育文化"),
            ("gc-gongyi", "公益行动"),
            ("gc-shijin", "十进社区"),
            ("gc-yifeng", "移风易俗"),
            ("gc-zhiyuan", "社会志愿服务"),
        ],
    ),
    (
        "shengyun",
        "省运会城市志愿服务",
        [
            ("sy-zhandian", "城市志愿者站点"),
            ("sy-saihui", "赛会志愿服务"),
            ("sy-shehui", "社会志愿服务"),
        ],
    ),
]

SCHOOL_DAYS = (0, 1, 2, 3, 4)
WEEKEND = (5, 6)
EVERY_DAY = (0, 1, 2, 3, 4, 5, 6)


@dataclass
class Plan:
    """An activity to create and the pattern of its shifts over the next four weeks."""

    title: str
    kind: ActivityKind
    zone: str
    unit: str
    place: str
    programmes: list[str]
    description: str
    weekdays: tuple[int, ...]
    slots: list[tuple[time, time]]
    capacity: int
    post: str = ""
    requirements: str = ""
    risk: str = ""
    approval: bool = False
    waitlist: bool = True
    every_other_week: bool = False
    only_once_in_week: int | None = None  # 0-based week offset for one-off events
    fill: float = 0.4  # share of places taken by demo residents
    extra: dict = field(default_factory=dict)


T = time
VEST = "请穿着志愿者马甲（现场发放），提前10分钟到岗签到。"
TRAFFIC_RISK = "路口车辆较多，请站在安全岛或人行道内，听从交警指挥，不进入机动车道。"


def _plans() -> list[Plan]:
    plans = [
        Plan(
            "县一小校门口交通文明劝导",
            ActivityKind.VOLUNTEER,
            "立后",
            "区交警大队",
            "县一小校门口（人民路段）",
            ["zz-jiaotong", "wujin-zhiyuan", "gc-zhiyuan"],
            "上学、放学高峰在校门口劝导家长文明停车、行人走斑马线，协助疏导接送车辆，劝离校门口流动摊贩。",
            SCHOOL_DAYS,
            [(T(7, 0), T(8, 0)), (T(16, 30), T(17, 30))],
            4,
            post="校门口劝导岗",
            requirements=VEST,
            risk=TRAFFIC_RISK,
            fill=0.75,
        ),
        Plan(
            "下尾街路口文明交通劝导",
            ActivityKind.VOLUNTEER,
            "南门",
            "区交警大队",
            "下尾街与南门路交叉路口",
            ["zz-jiaotong", "wujin-zhiyuan"],
            "劝导闯红灯、非机动车逆行，提醒电动车驾乘人员佩戴头盔。",
            SCHOOL_DAYS,
            [(T(7, 30), T(9, 0)), (T(17, 0), T(18, 30))],
            3,
            post="路口劝导岗",
            requirements=VEST,
            risk=TRAFFIC_RISK,
            fill=0.6,
        ),
        Plan(
            "裕丰园市场门口秩序维护",
            ActivityKind.VOLUNTEER,
            "立后",
            "区市场监管局",
            "裕丰园市场正门",
            ["zz-nongmao", "zz-zhandao", "wujin-zhiyuan"],
            "劝导门口占道经营，引导车辆有序停放，宣传文明购物。",
            EVERY_DAY,
            [(T(7, 30), T(9, 30))],
            3,
            post="市场门口岗",
            requirements=VEST,
            fill=0.5,
        ),
        Plan(
            "富海市场环境整治志愿服务",
            ActivityKind.VOLUNTEER,
            "福海",
            "区城管局",
            "富海市场",
            ["zz-nongmao", "zz-weisheng", "wujin-zhiyuan"],
            "协助市场管理员清理通道杂物，劝导乱摆乱放，宣传垃圾分类。",
            (1, 3, 5),
            [(T(8, 0), T(10, 0))],
            5,
            requirements=VEST,
            fill=0.9,
        ),
        Plan(
            "福洋溪河道清洁行动",
            ActivityKind.VOLUNTEER,
            "福海",
            "团区委",
            "福洋溪福海桥段（集合点：福海桥东侧）",
            ["zz-neihe", "gc-gongyi", "wujin-zhiyuan"],
            "沿岸捡拾垃圾、清理漂浮物，配合河道清淤宣传。手套、夹子、垃圾袋现场发放。",
            (5,),
            [(T(8, 30), T(11, 30))],
            20,
            requirements="请穿防滑鞋，自带饮用水。未满14周岁须由监护人陪同。",
            risk="岸边湿滑，请勿下水；雨天活动取消并另行通知。",
            fill=1.0,
        ),
        Plan(
            "国道沿线门前三包督导",
            ActivityKind.VOLUNTEER,
            "城东",
            "城东街道办事处",
            "国道城东段（集合点：城东街道办门口）",
            ["zz-menqian", "zz-zhandao", "wujin-zhiyuan"],
            "走访沿线商铺，宣传门前三包责任，劝导占道洗车、修车。",
            (2, 4),
            [(T(9, 0), T(11, 0))],
            6,
            fill=0.3,
        ),
        Plan(
            "南门老街雨披遮阳布整治宣传",
            ActivityKind.VOLUNTEER,
            "南门",
            "区城管局",
            "南门老街",
            ["zz-yupi", "gc-pinzhi"],
            "入户宣传规范悬挂雨披遮阳布，登记需要协助拆除的商户。",
            (3,),
            [(T(15, 0), T(17, 0))],
            4,
            fill=0.25,
        ),
        Plan(
            "小型餐馆文明餐桌宣传",
            ActivityKind.VOLUNTEER,
            "城西",
            "区市场监管局",
            "城西美食街",
            ["zz-canguan", "gc-fengshang"],
            "向小型餐馆发放公筷公勺倡议书，宣传光盘行动和食品安全。",
            (4,),
            [(T(17, 30), T(19, 30))],
            4,
            fill=0.5,
        ),
    ]
    stations = [
        ("省运会城市志愿者服务站（高铁站）", "新城", "新城高铁站出站口"),
        ("省运会城市志愿者服务站（体育中心）", "滨江", "滨江体育中心南广场"),
        ("省运会城市志愿者服务站（人民广场）", "立后", "人民广场东侧"),
    ]
    for title, zone, place in stations:
        plans.append(
            Plan(
                title,
                ActivityKind.VOLUNTEER,
                zone,
                "区志愿者协会",
                place,
                ["sy-zhandian", "gc-zhiyuan", "wujin-zhiyuan"],
                "为来访宾客和市民提供问询指引、应急救助和文明引导。每班次2–3人。",
                EVERY_DAY,
                [(T(8, 0), T(11, 0)), (T(11, 0), T(14, 0)), (T(14, 0), T(17, 0))],
                3,
                post="城市志愿者站点",
                requirements="需参加过省运会城市志愿者通用培训。" + VEST,
                approval=True,
                fill=0.6,
            )
        )
    plans.append(
        Plan(
            "省运会赛会志愿者岗前培训",
            ActivityKind.VOLUNTEER,
            "滨江",
            "团区委",
            "滨江体育中心会议室",
            ["sy-saihui"],
            "赛会志愿者通用知识、礼仪和应急处置培训。",
            (6,),
            [(T(9, 0), T(12, 0))],
            60,
            only_once_in_week=1,
            fill=0.5,
        )
    )
    community = [
        (
            "文明礼仪课堂",
            "区文体旅局",
            ["wujin-liyi", "gc-suzhi"],
            "讲解日常礼仪、文明用语和公共场所行为规范。",
            (T(19, 0), T(20, 30)),
            40,
            2,
        ),
        (
            "法治讲座：身边的法律",
            "区司法局",
            ["wujin-fazhi", "gc-shehui"],
            "律师讲解婚姻家庭、邻里纠纷、防范电信诈骗。",
            (T(15, 0), T(16, 30)),
            50,
            3,
        ),
        (
            "健康义诊进社区",
            "区卫健局",
            ["wujin-fuwu", "gc-fuwu"],
            "量血压、测血糖、中医问诊和慢病咨询。",
            (T(8, 30), T(11, 30)),
            80,
            5,
        ),
        (
            "社区广场舞展演",
            "区文体旅局",
            ["wujin-wenti", "gc-tiyu"],
            "各小区广场舞队展演交流，欢迎居民观看参与。",
            (T(19, 0), T(21, 0)),
            100,
            4,
        ),
        (
            "科普进社区：防灾减灾",
            "区教育局",
            ["wujin-fazhi", "gc-shijin"],
            "防火、防汛、地震避险知识和应急包展示。",
            (T(9, 30), T(11, 0)),
            60,
            6,
        ),
    ]
    for zone, *_ in ZONES:
        for i, (title, unit, progs, desc, slot, cap, weekday) in enumerate(community):
            plans.append(
                Plan(
                    f"{title}（{zone}）",
                    ActivityKind.COMMUNITY,
                    zone,
                    unit,
                    f"{zone}社区文化活动中心",
                    progs,
                    desc,
                    (weekday,),
                    [slot],
                    cap,
                    only_once_in_week=(i + len(zone)) % 4,
                    fill=0.35 if i % 2 else 0.7,
                )
            )
    return plans


def database_is_empty() -> bool:
    return not db.session.scalar(select(func.count(Zone.id)))


def _get_or_create(model, defaults: dict | None = None, **keys):
    obj = db.session.scalar(select(model).filter_by(**keys))
    if obj is not None:
        return obj, False
    obj = model(**keys, **(defaults or {}))
    db.session.add(obj)
    return obj, True


def _user(phone: str, name: str, password: str | None, **extra) -> tuple[User, bool]:
    return _get_or_create(
        User,
        {
            "real_name": name,
            "password_hash": hash_password(password) if password else None,
            "consent_version": current_app.config["PRIVACY_NOTICE_VERSION"],
            "consent_at": utcnow(),
            **extra,
        },
        phone=phone,
    )


def seed_demo(today: date | None = None, seed: int = 20261128) -> dict[str, int]:
    """Create whatever part of the demo district is missing; return counts of new objects.

    Takes the write transaction first, like every writer (the certificate service needs it);
    the caller commits.
    """
    begin_write(db.session())
    rng = random.Random(seed)
    today = today or local_today()
    stats = {
        "zones": 0,
        "units": 0,
        "programmes": 0,
        "people": 0,
        "activities": 0,
        "shifts": 0,
        "sign-ups": 0,
    }

    zones: dict[str, Zone] = {}
    for name, street, population, desc in ZONES:
        zones[name], new = _get_or_create(
            Zone, {"street": street, "population": population, "description": desc}, name=name
        )
        stats["zones"] += new
    units: dict[str, Unit] = {}
    for name, kind in UNITS:
        units[name], new = _get_or_create(Unit, {"kind": kind}, name=name)
        stats["units"] += new
    programmes: dict[str, Programme] = {}
    for pos, (code, name, children) in enumerate(PROGRAMMES):
        parent, new = _get_or_create(Programme, {"name": name, "position": pos}, code=code)
        programmes[code] = parent
        stats["programmes"] += new
        for cpos, (ccode, cname) in enumerate(children):
            child, new = _get_or_create(
                Programme, {"name": cname, "position": cpos, "parent": parent}, code=ccode
            )
            programmes[ccode] = child
            stats["programmes"] += new
    db.session.flush()

    names = {
        "admin": "区创城指挥中心管理员",
        "organizer": "陈志强",
        "zone leader": "林建华",
        "resident": "王秀英",
    }
    people: dict[str, User] = {}
    for role, phone, password in DEMO_ACCOUNTS:
        people[role], new = _user(phone, names[role], password, is_admin=(role == "admin"))
        stats["people"] += new
    organizer = people["organizer"]
    for unit_name in ("区交警大队", "城关街道办事处", "区志愿者协会"):
        if units[unit_name] not in organizer.units:
            organizer.units.append(units[unit_name])
    leader = people["zone leader"]
    for zone_name in ("立后", "福海"):
        if zones[zone_name] not in leader.led_zones:
            leader.led_zones.append(zones[zone_name])

    surnames = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗郑"
    given = [
        "秀英",
        "建国",
        "丽华",
        "志明",
        "海燕",
        "伟",
        "芳",
        "军",
        "敏",
        "静",
        "强",
        "磊",
        "洋",
        "艳",
        "勇",
        "娟",
        "涛",
        "明",
        "超",
        "霞",
    ]
    residents: list[User] = []
    busy: dict[int, list[tuple]] = {}  # python id(user) -> booked intervals; no overlaps
    for i in range(80):
        user, new = _user(f"1390000{i:04d}", rng.choice(surnames) + rng.choice(given), None)
        residents.append(user)
        stats["people"] += new
    db.session.flush()

    for plan in _plans():
        existing = db.session.scalar(select(Activity).where(Activity.title == plan.title))
        if existing is not None:
            continue
        unit = units[plan.unit]
        activity = Activity(
            title=plan.title,
            kind=plan.kind,
            status=ActivityStatus.PUBLISHED,
            zone=zones[plan.zone],
            unit=unit,
            place=plan.place,
            description=plan.description,
            contact_name=rng.choice(surnames) + "老师"
            if plan.kind == ActivityKind.COMMUNITY
            else rng.choice(surnames) + "队长",
            contact_phone=f"0591-8{rng.randint(1000000, 9999999)}",
            requirements=plan.requirements,
            risk_notice=plan.risk,
            programmes=[programmes[c] for c in plan.programmes],
            created_by=organizer if unit in organizer.units else people["admin"],
            published_at=utcnow(),
        )
        db.session.add(activity)
        stats["activities"] += 1
        for offset in range(28):
            day = today + timedelta(days=offset)
            week = offset // 7
            if day.weekday() not in plan.weekdays:
                continue
            if plan.only_once_in_week is not None and week != plan.only_once_in_week:
                continue
            for start, end in plan.slots:
                starts_at = local_to_utc(day, start)
                if starts_at <= utcnow():
                    continue
                shift = Shift(
                    activity=activity,
                    starts_at=starts_at,
                    ends_at=local_to_utc(day, end),
                    capacity=plan.capacity,
                    post_name=plan.post,
                    requires_approval=plan.approval,
                    waitlist_enabled=plan.waitlist,
                )
                db.session.add(shift)
                stats["shifts"] += 1
                stats["sign-ups"] += _fill(shift, plan, residents, rng, busy)
    db.session.flush()
    stats["past shifts"], stats["records"] = _history(
        today, random.Random(seed + 1), people, residents, busy
    )
    stats["certificates"] = _certificate(today, people["resident"])
    stats["leader visits"] = _leader_visits(today, zones, leader)
    db.session.flush()
    return stats


def _fill(shift: Shift, plan: Plan, residents: list[User], rng: random.Random, busy: dict) -> int:
    """Give a demo shift some sign-ups: some half full, some full with a waitlist."""
    share = min(max(plan.fill + rng.uniform(-0.3, 0.3), 0.0), 1.0)
    taken = round(shift.capacity * share)
    waiting = rng.randint(1, 3) if taken >= shift.capacity and plan.waitlist else 0
    free = [
        r
        for r in residents
        if not any(s < shift.ends_at and shift.starts_at < e for s, e in busy.get(id(r), []))
    ]
    chosen = rng.sample(free, min(taken + waiting, len(free)))
    for person in chosen:
        busy.setdefault(id(person), []).append((shift.starts_at, shift.ends_at))
    now = utcnow()
    for i, person in enumerate(chosen):
        if i < taken:
            status = (
                SignupStatus.PENDING if plan.approval and i % 3 == 0 else SignupStatus.CONFIRMED
            )
            db.session.add(Signup(shift=shift, user=person, status=status, created_at=now))
        else:
            db.session.add(
                Signup(
                    shift=shift,
                    user=person,
                    status=SignupStatus.WAITLISTED,
                    created_at=now,
                    queued_at=now + timedelta(seconds=i),
                )
            )
    return len(chosen)


# --- the past -------------------------------------------------------------------------------


@dataclass(frozen=True)
class History:
    """Past shifts of one demo activity: which weekday, which slot, how often, who came."""

    title: str
    weekday: int
    slot: tuple[time, time]
    every: int = 1  # weeks between shifts
    volunteers: int = 3  # demo residents per shift besides the demo resident
    resident_every: int = 0  # the demo resident comes every N-th shift (0: never)


HISTORY_WEEKS = 13  # about three months back
HISTORY = [
    History("县一小校门口交通文明劝导", 1, (T(7, 0), T(8, 0)), volunteers=3, resident_every=2),
    History("县一小校门口交通文明劝导", 3, (T(16, 30), T(17, 30)), volunteers=3),
    History(
        "福洋溪河道清洁行动", 5, (T(8, 30), T(11, 30)), every=2, volunteers=12, resident_every=1
    ),
    History(
        "省运会城市志愿者服务站（人民广场）", 6, (T(8, 0), T(11, 0)), volunteers=2, resident_every=2
    ),
    History("富海市场环境整治志愿服务", 3, (T(8, 0), T(10, 0)), volunteers=4, resident_every=4),
    History(
        "健康义诊进社区（立后）",
        5,
        (T(14, 30), T(16, 30)),
        every=4,
        volunteers=15,
        resident_every=1,
    ),
    # The other zones' past, so the command centre's ranking has every zone in it.
    History("国道沿线门前三包督导", 2, (T(9, 0), T(11, 0)), volunteers=5),
    History("国道沿线门前三包督导", 4, (T(9, 0), T(11, 0)), volunteers=4),
    History("小型餐馆文明餐桌宣传", 4, (T(17, 30), T(19, 30)), volunteers=3),
    History("下尾街路口文明交通劝导", 1, (T(7, 30), T(9, 0)), volunteers=4),
    History("南门老街雨披遮阳布整治宣传", 3, (T(15, 0), T(17, 0)), volunteers=3),
    History("省运会城市志愿者服务站（高铁站）", 5, (T(8, 0), T(11, 0)), volunteers=3),
    History("省运会城市志愿者服务站（体育中心）", 6, (T(14, 0), T(17, 0)), volunteers=3),
    History("省运会城市志愿者服务站（体育中心）", 3, (T(14, 0), T(17, 0)), volunteers=3),
]
RECORDING_LIMIT = timedelta(days=14)  # past 10 working days, whatever the weekday


def _has_history(activity: Activity) -> bool:
    return (
        db.session.scalar(
            select(Signup.id)
            .join(Shift, Shift.id == Signup.shift_id)
            .where(Shift.activity_id == activity.id, Signup.attendance.is_not(None))
            .limit(1)
        )
        is not None
    )


def _history(
    today: date, rng: random.Random, people: dict[str, User], residents: list[User], busy: dict
) -> tuple[int, int]:
    """Add the past of every :data:`HISTORY` activity that has none; return (shifts, records)."""
    now = utcnow()
    shifts = records = 0
    done: dict[str, bool] = {}
    for past in HISTORY:
        activity = db.session.scalar(select(Activity).where(Activity.title == past.title))
        if activity is None:
            continue
        if past.title not in done:
            done[past.title] = _has_history(activity)
        if done[past.title]:
            continue
        organizer = people["organizer"]
        recorder = organizer if activity.unit in organizer.units else people["admin"]
        post = next((p.post for p in _plans() if p.title == activity.title), "")
        first = today - timedelta(weeks=HISTORY_WEEKS)
        first += timedelta(days=(past.weekday - first.weekday()) % 7)
        for n, day in enumerate(_every(first, today, past.every)):
            starts_at, ends_at = local_to_utc(day, past.slot[0]), local_to_utc(day, past.slot[1])
            if ends_at >= now:
                continue
            shift = Shift(
                activity=activity,
                starts_at=starts_at,
                ends_at=ends_at,
                capacity=max(past.volunteers + 2, 4),
                post_name=post,
                created_at=starts_at - timedelta(days=10),
            )
            db.session.add(shift)
            shifts += 1
            crowd = [r for r in residents if _free(busy, r, starts_at, ends_at)]
            chosen = rng.sample(crowd, min(past.volunteers, len(crowd)))
            if past.resident_every and n % past.resident_every == 0:
                chosen.insert(0, people["resident"])
            for i, person in enumerate(chosen):
                busy.setdefault(id(person), []).append((starts_at, ends_at))
                is_resident = person is people["resident"]
                # The demo resident came every time but once: one no-show on their record.
                missed = is_resident and past.title.startswith("县一小") and n == 6
                records += _past_signup(
                    shift, person, recorder, rng, now, i, is_resident=is_resident, missed=missed
                )
    return shifts, records


def _every(first: date, today: date, weeks: int):
    day = first
    while day <= today:
        yield day
        day += timedelta(weeks=weeks)


def _free(busy: dict, person: User, starts_at: datetime, ends_at: datetime) -> bool:
    return not any(s < ends_at and starts_at < e for s, e in busy.get(id(person), []))


def _past_signup(
    shift: Shift,
    person: User,
    recorder: User,
    rng: random.Random,
    now: datetime,
    i: int,
    *,
    is_resident: bool,
    missed: bool,
) -> int:
    """One past sign-up with its attendance as the organizer recorded it."""
    signup = Signup(
        shift=shift,
        user=person,
        status=SignupStatus.CONFIRMED,
        created_at=shift.starts_at - timedelta(days=rng.randint(2, 9)),
    )
    db.session.add(signup)
    volunteer = shift.activity.is_volunteer
    ended = now - shift.ends_at
    no_show = missed or (not is_resident and rng.random() < 0.07)
    if no_show:
        signup.attendance = Attendance.NO_SHOW
        signup.updated_at = shift.ends_at + timedelta(hours=1)
        return 1
    signup.attendance = Attendance.ATTENDED
    signup.checkin_method = CheckinMethod.QR if rng.random() < 0.6 else CheckinMethod.ROSTER
    signup.checked_in_at = shift.starts_at - timedelta(minutes=rng.randint(0, 12))
    signup.checked_out_at = shift.ends_at + timedelta(minutes=rng.randint(0, 8))
    signup.updated_at = signup.checked_out_at
    if not volunteer:
        return 1  # community attendance: recorded, never hours (records rules Art. 19)
    scheduled = Decimal((shift.ends_at - shift.starts_at).total_seconds() / 3600)
    signup.hours = scheduled.quantize(Decimal("0.1"))
    if ended < RECORDING_LIMIT:
        confirm = rng.random() < 0.3  # recent: most still waiting, within the limit
    else:
        # Older: confirmed, except now and then one left waiting past the limit (overdue).
        confirm = is_resident or not (i == 1 and rng.random() < 0.25)
    if not confirm:
        return 1
    confirmed_at = min(shift.ends_at + timedelta(days=rng.randint(0, 3), hours=2), now)
    if not is_resident and scheduled >= 3 and rng.random() < 0.15:
        db.session.add(
            HoursAdjustment(
                signup=signup,
                old_hours=signup.hours,
                new_hours=signup.hours - Decimal("0.5"),
                reason="提前半小时离开",
                actor_id=recorder.id,
                created_at=confirmed_at,
            )
        )
        signup.hours -= Decimal("0.5")
    signup.hours_confirmed_at = confirmed_at
    signup.hours_confirmed_by_id = recorder.id
    signup.updated_at = confirmed_at
    return 1


def _certificate(today: date, resident: User) -> int:
    """One certificate for the demo resident over their past, unless they have one.

    Issued by :func:`portal.certificates.services.issue`, as if the resident had asked for
    it: their confirmed records from the start of the history to two weeks ago.
    """
    if db.session.scalar(select(Certificate.id).where(Certificate.user_id == resident.id)):
        return 0
    start = today - timedelta(weeks=HISTORY_WEEKS)
    end = today - timedelta(days=RECORDING_LIMIT.days)
    if not confirmed_records(resident.id, start, end):
        return 0
    try:
        issue(resident, start, end)
    except CertificateError:  # pragma: no cover - checked just above
        return 0
    return 1


# --- zone leaders' visits (领导包片) ----------------------------------------------------------

# Leaders of the other zones: no login (demo only), each with their own habits.
ZONE_LEADERS = [
    ("13800000101", "郑海波", "滨江"),
    ("13800000102", "刘志远", "城东"),
    ("13800000103", "吴丽娟", "城西"),
    ("13800000104", "周明", "南门"),
    ("13800000105", "孙立新", "新城"),
]
# (leader's zone, days of last month, days of this month, place). The demo leader 林建华
# barely went to 立后 and 福海 last month — the zones the inspection ranked low — and goes
# twice this month; 郑海波 went every week (四次); 吴丽娟 has not been to 城西 since.
VISIT_PLAN = [
    ("立后", (18,), (1, 2), "县一小校门口"),
    ("福海", (), (1, 2), "富海市场"),
    ("滨江", (3, 10, 17, 24), (1,), "滨江体育中心南广场"),
    ("城东", (6, 20), (), "国道城东段"),
    ("城西", (12,), (), "城西美食街"),
    ("南门", (15, 29), (2,), "下尾街路口"),
    ("新城", (9, 23), (1,), "新城高铁站出站口"),
]
VISIT_NOTES = {
    "县一小校门口": "查看校门口流动摊贩劝离和家长停车秩序，要求交警大队高峰时段加派劝导岗。",
    "富海市场": "市场通道杂物已清理一半，督促城管局和市场方明确每日保洁责任人。",
    "滨江体育中心南广场": "检查省运会城市志愿者站点物资和排班。",
    "国道城东段": "沿线两家洗车店仍占道经营，已交城东街道办跟进。",
    "城西美食街": "走访小型餐馆，公筷公勺倡议书张贴率偏低。",
    "下尾街路口": "路口早高峰电动车逆行较多，建议增加劝导志愿者。",
    "新城高铁站出站口": "站点问询量大，建议增加一个班次。",
}


def _leader_visits(today: date, zones: dict[str, Zone], demo_leader: User) -> int:
    """Leaders on every zone and their visits over last month and this month so far."""
    leaders: dict[str, User] = {name: demo_leader for name in ("立后", "福海")}
    for phone, name, zone_name in ZONE_LEADERS:
        leader, _new = _user(phone, name, None)
        if zones[zone_name] not in leader.led_zones:
            leader.led_zones.append(zones[zone_name])
        leaders[zone_name] = leader
    db.session.flush()
    this_month = today.replace(day=1)
    last_month = (this_month - timedelta(days=1)).replace(day=1)
    gate = db.session.scalar(select(Activity).where(Activity.title == "县一小校门口交通文明劝导"))
    added = 0
    for zone_name, before, now, place in VISIT_PLAN:
        days = [last_month + timedelta(days=d - 1) for d in before if d - 1 < 28]
        days += [this_month + timedelta(days=d - 1) for d in now if d <= today.day]
        for day in days:
            visit, new = _get_or_create(
                LeaderVisit,
                {
                    "notes": VISIT_NOTES[place],
                    # One visit made by checking in at the school-gate activity on site.
                    "activity": gate if place == "县一小校门口" and day < this_month else None,
                },
                leader_id=leaders[zone_name].id,
                zone_id=zones[zone_name].id,
                visited_on=day,
                place=place,
            )
            added += new
    return added

"""Typed SQLAlchemy models, one module per aggregate."""

from portal.models import participation as _participation  # noqa: F401 - its triggers' DDL hooks
from portal.models import search as _search  # noqa: F401 - the text index's DDL hooks
from portal.models.activities import (
    MAX_CAPACITY,
    PUBLIC_ACTIVITY_STATUSES,
    Activity,
    ActivityKind,
    ActivityStatus,
    Shift,
    ShiftStatus,
    activity_programmes,
    shift_is_live,
)
from portal.models.base import Base, UTCDateTime, utcnow
from portal.models.command import LeaderVisit
from portal.models.notifications import AuditEntry, CalendarToken, Notification
from portal.models.people import User
from portal.models.places import Programme, Unit, UnitKind, Zone, unit_organizers, zone_leaders
from portal.models.records import Certificate, HoursAdjustment
from portal.models.signups import (
    ACTIVE_STATUSES,
    PLACE_HOLDING_STATUSES,
    Attendance,
    CheckinMethod,
    Signup,
    SignupStatus,
)

__all__ = [
    "ACTIVE_STATUSES",
    "MAX_CAPACITY",
    "PLACE_HOLDING_STATUSES",
    "PUBLIC_ACTIVITY_STATUSES",
    "Activity",
    "ActivityKind",
    "ActivityStatus",
    "Attendance",
    "AuditEntry",
    "Base",
    "CalendarToken",
    "Certificate",
    "CheckinMethod",
    "HoursAdjustment",
    "LeaderVisit",
    "Notification",
    "Programme",
    "Shift",
    "ShiftStatus",
    "Signup",
    "SignupStatus",
    "UTCDateTime",
    "Unit",
    "UnitKind",
    "User",
    "Zone",
    "activity_programmes",
    "shift_is_live",
    "unit_organizers",
    "utcnow",
    "zone_leaders",
]

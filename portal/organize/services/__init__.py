"""Organizer operations, one module per thing organizers work on.

- :mod:`.activities` — scope (my units' activities), create, edit, publish, cancel, duplicate
- :mod:`.recurrence` — shift times from date range × weekdays × slots, or an RRULE
- :mod:`.shifts` — add one or many shifts, change, cancel, delete
- :mod:`.roster` — who is on a shift, people added on site, roster export rows
- :mod:`.messages` — notices to everyone on a shift or activity, reminders
- :mod:`.day` — the organizer's day: one approval queue across the units, today's shifts

Every function flushes; the calling view (or CLI command) commits once. Domain problems
raise :class:`OrganizeError` with the message to show and, where it has one, its field.
"""

from portal.organize.services.activities import (  # noqa: F401
    ACTIVITY_FIELDS,
    activity_snapshot,
    cancel_activity,
    create_activity,
    duplicate_activity,
    managed_activities,
    managed_units,
    publish_activity,
    shift_counts,
    update_activity,
)
from portal.organize.services.day import (  # noqa: F401
    Decisions,
    day_shifts,
    decide_many,
    pending_count,
    pending_queue,
)
from portal.organize.services.errors import (  # noqa: F401
    MAX_SHIFTS_PER_REQUEST,
    OrganizeError,
)
from portal.organize.services.messages import (  # noqa: F401
    REMINDER_LEAD,
    recipients,
    send_due_reminders,
    send_notice,
)
from portal.organize.services.recurrence import (  # noqa: F401
    MAX_OVERNIGHT,
    Occurrence,
    Slot,
    check_slot_times,
    expand_bulk,
    expand_rule,
    expand_weekly,
    parse_slots,
    weekly_rule,
)
from portal.organize.services.roster import (  # noqa: F401
    WalkIn,
    export_header,
    export_rows,
    find_or_create_walk_in,
    roster,
    rosters,
    walk_in,
)
from portal.organize.services.shifts import (  # noqa: F401
    SHIFT_FIELDS,
    add_shift,
    cancel_shift,
    create_shifts,
    deletable,
    delete_shift,
    duplicate_times,
    ever_signed_up,
    shift_snapshot,
    update_shift,
)

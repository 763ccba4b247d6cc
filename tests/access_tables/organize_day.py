"""Access rows of the organizer's day: the approval queue and the day's shifts.

Both are for anyone who organizes for some unit (each sees their own units' work) and admins.
The queue's POST (bulk decisions) shares the endpoint; tests/test_organize_access.py and
tests/test_organize_day.py check who may decide what.
"""

ROUTES = {
    "organize.queue": ("organizer-area", "/organize/queue"),
    "organize.today": ("organizer-area", "/organize/today"),
}

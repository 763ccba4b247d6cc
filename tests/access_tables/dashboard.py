"""Access rows of the dashboard and leader visits (portal/dashboard/)."""

from __future__ import annotations

COMMAND, LEADER, POST_LEADER = "command", "leader", "post-leader"

ROUTES = {
    "dashboard.index": (COMMAND, "/dashboard/"),
    "dashboard.export": (COMMAND, "/dashboard/export/zones.xlsx"),
    "dashboard.visits": (LEADER, "/dashboard/visits"),
    "dashboard.new_visit": (LEADER, "/dashboard/visits/new"),
    "dashboard.checkin": (POST_LEADER, "/dashboard/visits/checkin/{activity}"),
    "dashboard.delete_visit": (POST_LEADER, "/dashboard/visits/{visit}/delete"),
}

REDIRECTS = {
    # A refused check-in (no shift today) is sent back to the list with the reason, too.
    "dashboard.checkin": "/dashboard/visits",
    "dashboard.delete_visit": "/dashboard/visits",
}


def world(people, ids):
    from datetime import date

    from portal.extensions import db
    from portal.models import LeaderVisit

    visit = LeaderVisit(
        leader=people["zone_leader"],
        zone_id=ids["zone"],
        visited_on=date(2026, 12, 1),
        place="县一小校门口",
        notes="",
    )
    db.session.add(visit)
    db.session.commit()
    ids["visit"] = visit.id

"""Organizers run their units' activities: shifts, rosters, exports, messages."""

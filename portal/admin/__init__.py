"""Administration: zones, units, programmes, people and roles, the readable audit log."""

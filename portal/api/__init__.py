"""Read-only open-data JSON API, version 1."""

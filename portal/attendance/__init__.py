"""Attendance, service records and volunteer hours."""

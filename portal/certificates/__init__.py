"""Volunteer service certificates: issue, print, PDF, public verification and revocation."""

"""Access rows for the session routes added by the hardening work (issue 11)."""

from __future__ import annotations

ROUTES = {
    # Ends every session of the person, this one included (run last but one by the matrix).
    "auth.logout_everywhere": ("post-login", "/account/logout-everywhere"),
}
REDIRECTS = {
    "auth.logout_everywhere": "/account/login",
}

ROUTES["auth.withdraw_consent"] = ("login", "/account/consent/withdraw")

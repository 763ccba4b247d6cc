"""Access rows for 忘记密码 (public) and changing one's phone number (logged in)."""

from __future__ import annotations

ROUTES = {
    "recovery.password_reset_request": ("public", "/account/forgot"),
    # a valid link opens the form for whoever holds it (it is the proof, not the session)
    "recovery.password_reset": ("public", "/account/reset/{reset_token}"),
    "recovery.change_phone": ("login", "/account/phone"),
}


def world(people: dict, ids: dict) -> None:
    from portal.recovery.services import make_token

    ids["reset_token"] = make_token(people["resident"])

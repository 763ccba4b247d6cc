"""E-mail delivery when ``MAIL_SERVER`` is configured (plain smtplib; the inbox is primary).

Sending never breaks the request that triggered it: the in-app notification is already
stored, so an SMTP failure is logged and the function reports how many messages left.
"""

from __future__ import annotations

import smtplib
from collections.abc import Iterable
from email.message import EmailMessage
from email.utils import formataddr

from flask import current_app


def mail_enabled() -> bool:
    """Tell whether an SMTP server is configured."""
    return bool(current_app.config.get("MAIL_SERVER"))


def _message(to: str, subject: str, body: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = formataddr(
        (current_app.config.get("PORTAL_NAME", ""), current_app.config["MAIL_FROM"])
    )
    msg["To"] = to
    msg["Subject"] = subject
    msg.set_content(body or subject)
    return msg


def send_mail(addresses: Iterable[str], subject: str, body: str) -> int:
    """Send one plain-text message to each address over one SMTP connection; return sent."""
    addresses = sorted({a.strip() for a in addresses if a and "@" in a})
    if not addresses or not mail_enabled():
        return 0
    config = current_app.config
    sent = 0
    try:
        with smtplib.SMTP(
            config["MAIL_SERVER"], int(config.get("MAIL_PORT") or 25), timeout=10
        ) as smtp:
            if config.get("MAIL_USE_TLS"):
                smtp.starttls()
            if config.get("MAIL_USERNAME"):
                smtp.login(config["MAIL_USERNAME"], config.get("MAIL_PASSWORD", ""))
            for address in addresses:
                try:
                    smtp.send_message(_message(address, subject, body))
                    sent += 1
                except smtplib.SMTPException:
                    current_app.logger.warning("Mail to %s refused", address, exc_info=True)
    except (OSError, smtplib.SMTPException):
        current_app.logger.warning("Mail server %s unavailable", config["MAIL_SERVER"],
                                   exc_info=True)
    return sent


def send_to_users(users: Iterable, subject: str, body: str) -> int:
    """E-mail the people who gave an address; return how many messages were sent."""
    if not mail_enabled():
        return 0
    return send_mail([getattr(u, "email", None) or "" for u in users], subject, body)

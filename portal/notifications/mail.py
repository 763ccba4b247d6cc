"""The SMTP side of e-mail: one connection, plain-text messages (plain smtplib).

Only the ``deliver`` job (:mod:`portal.notifications.outbox`) talks to the mail server; a
request never does. The connection keeps a 10 s timeout, which now only slows that job.
"""

from __future__ import annotations

import smtplib
from email.message import EmailMessage
from email.utils import formataddr

from flask import current_app

SMTP_TIMEOUT = 10  # seconds, per connect and per command


def mail_enabled() -> bool:
    """Tell whether an SMTP server is configured."""
    return bool(current_app.config.get("MAIL_SERVER"))


def build_message(to: str, subject: str, body: str) -> EmailMessage:
    """Build one plain-text message from the portal to ``to``."""
    msg = EmailMessage()
    msg["From"] = formataddr(
        (current_app.config.get("PORTAL_NAME", ""), current_app.config["MAIL_FROM"])
    )
    msg["To"] = to
    msg["Subject"] = subject
    msg.set_content(body or subject)
    return msg


def connect() -> smtplib.SMTP:
    """Open a connection to the configured server, with STARTTLS and login when set.

    :raises OSError: the server cannot be reached (refused, timed out, unknown host).
    :raises smtplib.SMTPException: it answered, but refused TLS or the login.
    """
    config = current_app.config
    smtp = smtplib.SMTP(
        config["MAIL_SERVER"], int(config.get("MAIL_PORT") or 25), timeout=SMTP_TIMEOUT
    )
    try:
        if config.get("MAIL_USE_TLS"):
            smtp.starttls()
        if config.get("MAIL_USERNAME"):
            smtp.login(config["MAIL_USERNAME"], config.get("MAIL_PASSWORD") or "")
    except BaseException:
        smtp.close()
        raise
    return smtp


def is_permanent(exc: Exception) -> bool:
    """Tell whether the server refused for good (a 5xx answer), so retrying is pointless."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return all(code >= 500 for code, _ in exc.recipients.values())
    if isinstance(exc, smtplib.SMTPResponseException):
        return exc.smtp_code >= 500
    return False

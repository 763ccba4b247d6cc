"""Calendar feeds: public, personal and unit feeds, single-shift downloads, subscription."""

from __future__ import annotations

import logging
import re

_TOKEN_IN_PATH = re.compile(r"(/calendar/(?:me|units/\d+)/)[A-Za-z0-9_\-%]+")


def redact(text: str) -> str:
    """Replace feed secrets in a URL or log line with ``***``."""
    return _TOKEN_IN_PATH.sub(r"\1***", text)


class RedactFeedTokens(logging.Filter):
    """Keep personal feed tokens out of logs (werkzeug's request log prints the path)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a broken record is not ours to fix
            return True
        if "/calendar/" in message:
            record.msg = redact(message)
            record.args = ()
        return True


_FILTER = RedactFeedTokens()


def install_log_filter(*loggers: logging.Logger) -> None:
    """Attach the redacting filter (once) to the given loggers and their handlers."""
    for logger in loggers:
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
        for handler in logger.handlers:
            if _FILTER not in handler.filters:
                handler.addFilter(_FILTER)

"""The base of every domain error: a rule refused a request, with the sentence to show.

Services raise a subclass (``SignupError``, ``OrganizeError`` …) with a translated message
and, when the problem belongs to one form field, that field's name. Views put the message
next to the field (:func:`portal.forms.attach_error`) or flash it; nobody matches the text.
"""

from __future__ import annotations


class DomainError(Exception):
    """A rule refused the request; ``str(exc)`` is the message, ``field`` where it belongs."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field

    def __str__(self) -> str:
        return self.message

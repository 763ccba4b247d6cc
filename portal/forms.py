"""What every form shares: putting a domain error where the person will read it."""

from __future__ import annotations

from flask import flash
from flask_wtf import FlaskForm

from portal.domain import DomainError


def attach_error(form: FlaskForm, exc: DomainError) -> bool:
    """Show the error next to ``form[exc.field]``, or flash it when the form has no such field.

    Return whether it went onto a field (the page's form summary then points to it).
    """
    name = getattr(exc, "field", None)
    if not name or name not in form:
        flash(str(exc), "error")
        return False
    field = form[name]
    # Before validation WTForms keeps errors as a tuple; leave a list behind either way.
    field.errors = [*field.errors, str(exc)]
    return True

"""What every form shares: a domain error where the person will read it, and clean text.

Every text field of every form (all ``FlaskForm`` subclasses, present and future: the rules are
attached when a form is built, see :func:`install_text_rules`) gets:

- zero-width characters (U+200B–U+200D, U+2060, U+FEFF, soft hyphen) removed and the text
  NFC-normalised (filter :func:`clean_line` / :func:`clean_block`);
- control characters (C0/C1, DEL), line breaks in one-line fields, bidi overrides and
  isolates (U+202A–U+202E, U+2066–U+2069, U+200E/U+200F, U+061C) and other invisible format
  characters refused with a clear message (validator :class:`PlainText`);
- a length limit when the field has none of its own (:data:`DEFAULT_MAX_LINE`,
  :data:`DEFAULT_MAX_BLOCK`).

Passwords are left as typed (apart from a length limit); a field can opt out with
``render_kw={"data-raw-text": True}``.
"""

from __future__ import annotations

import unicodedata

from flask import flash
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField, TextAreaField
from wtforms.fields.core import UnboundField
from wtforms.validators import Length, ValidationError

from portal.domain import DomainError

DEFAULT_MAX_LINE = 200
DEFAULT_MAX_BLOCK = 5000
DEFAULT_MAX_PASSWORD = 128

ZERO_WIDTH = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad\u180e"))
BIDI = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def clean_line(value):
    """Filter for one-line fields: drop zero-width characters, NFC-normalise."""
    if not isinstance(value, str):
        return value
    return unicodedata.normalize("NFC", value.translate(ZERO_WIDTH))


def clean_block(value):
    """Filter for multi-line fields: as :func:`clean_line`, and every line break becomes ``\\n``."""
    if not isinstance(value, str):
        return value
    value = value.replace("\r\n", "\n").replace("\r", "\n")
    value = value.replace("\u2028", "\n").replace("\u2029", "\n")
    return clean_line(value)


def unsafe_characters(value: str, multiline: bool = False) -> list[str]:
    """The characters of ``value`` a plain text field does not accept (as ``U+XXXX``)."""
    allowed = "\n\t" if multiline else ""
    found = []
    for ch in value:
        if ch in allowed:
            continue
        category = unicodedata.category(ch)
        if ch in BIDI or category in ("Cc", "Cf", "Cs", "Zl", "Zp"):
            found.append(f"U+{ord(ch):04X}")
    return found


class PlainText:
    """Refuse control, bidi and other invisible characters, saying so in plain words."""

    def __init__(self, multiline: bool = False):
        self.multiline = multiline

    def __call__(self, form, field):
        if not isinstance(field.data, str) or not field.data:
            return
        if unsafe_characters(field.data, self.multiline):
            if self.multiline:
                message = _l(
                    "内容里有看不见的特殊字符（比如文字方向控制符），可能是从别处复制来的。"
                    "请删掉后重新输入。"
                )
            else:
                message = _l(
                    "这里只能填一行普通文字：请删掉换行、制表符或看不见的特殊字符"
                    "（可能是从别处复制来的）后重新输入。"
                )
            raise ValidationError(message)


def _has_length_limit(validators) -> bool:
    return any(isinstance(v, Length) and (v.max or -1) >= 0 for v in validators)


def with_text_rules(unbound: UnboundField) -> UnboundField:
    """The same field with the shared filter, validator and default length limit added."""
    cls = unbound.field_class
    if not (isinstance(cls, type) and issubclass(cls, StringField)):
        return unbound
    if cls.__name__ == "CSRFTokenField":
        return unbound
    args = list(unbound.args)
    kwargs = dict(unbound.kwargs)
    if (kwargs.get("render_kw") or {}).get("data-raw-text"):
        return unbound
    # Field(label, validators, filters, …): take positional ones into keywords.
    if len(args) > 1 and "validators" not in kwargs:
        kwargs["validators"] = args[1]
    if len(args) > 2 and "filters" not in kwargs:
        kwargs["filters"] = args[2]
    args = args[:1]
    validators = list(kwargs.get("validators") or ())
    filters = list(kwargs.get("filters") or ())
    if issubclass(cls, PasswordField):
        if not _has_length_limit(validators):
            validators.append(Length(max=DEFAULT_MAX_PASSWORD, message=_l("最多 %(max)d 个字符。")))
    else:
        multiline = issubclass(cls, TextAreaField)
        filters.insert(0, clean_block if multiline else clean_line)
        validators.insert(0, PlainText(multiline))
        if not _has_length_limit(validators):
            limit = DEFAULT_MAX_BLOCK if multiline else DEFAULT_MAX_LINE
            validators.append(Length(max=limit, message=_l("最多 %(max)d 个字。")))
    kwargs["validators"] = validators
    kwargs["filters"] = filters
    return UnboundField(cls, *args, name=unbound.name, **kwargs)


def install_text_rules() -> None:
    """Attach :func:`with_text_rules` to every ``FlaskForm`` (idempotent)."""
    meta = FlaskForm.Meta
    if getattr(meta, "_portal_text_rules", False):
        return
    original = meta.bind_field

    def bind_field(self, form, unbound_field, options):
        return original(self, form, with_text_rules(unbound_field), options)

    meta.bind_field = bind_field
    meta._portal_text_rules = True


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


def refuse(exc: DomainError, form: FlaskForm | None = None) -> None:
    """A rule refused the request: roll the session back and show the message next to its
    field of ``form``, or as a flash."""
    from portal.extensions import db

    db.session.rollback()
    if form is None:
        flash(str(exc), "error")
    else:
        attach_error(form, exc)

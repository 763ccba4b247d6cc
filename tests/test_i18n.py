"""Every UI string goes through Babel and has an English translation."""

from __future__ import annotations

import re
from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[1]
PO = ROOT / "portal/translations/en/LC_MESSAGES/messages.po"
METHODS = [("portal/**.py", "python"), ("portal/templates/**.html", "jinja2")]
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "lazy_gettext": None, "_l": None}
CJK = re.compile(r"[\u4e00-\u9fff]")


def _source_messages() -> set[str]:
    found = set()
    for _file, _line, message, _comments, _ctx in extract_from_dir(
        str(ROOT), METHODS, keywords=KEYWORDS, options_map={"portal/templates/**.html": {}}
    ):
        found.add(message[0] if isinstance(message, tuple) else message)
    return found


def test_english_catalogue_translates_every_ui_string():
    with PO.open("rb") as fh:
        catalogue = read_po(fh)
    translated = {m.id for m in catalogue if m.id and m.string and not m.fuzzy}
    translated |= {m.id[0] for m in catalogue if isinstance(m.id, tuple) and m.string}
    missing = sorted(m for m in _source_messages() if m not in translated)
    assert not missing, f"{len(missing)} strings lack an English translation: {missing[:20]}"


def test_english_translations_contain_no_chinese():
    with PO.open("rb") as fh:
        catalogue = read_po(fh)
    # Proper names copied from the source (place names in an example) are fine;
    # Chinese prose the source does not contain means an untranslated or wrong entry.
    runs = re.compile(r"[\u4e00-\u9fff]+")
    leftovers = [
        m.id
        for m in catalogue
        if m.id
        and isinstance(m.string, str)
        and any(run not in m.id for run in runs.findall(m.string))
    ]
    leftovers += [
        m.id
        for m in catalogue
        if m.id and isinstance(m.string, str) and m.string == m.id and CJK.search(m.id)
    ]
    assert not leftovers, leftovers[:20]


def test_templates_have_no_bare_chinese_text():
    """Chinese outside {{ _('…') }} in templates would never be translated."""
    problems = []
    for path in (ROOT / "portal/templates").rglob("*.html"):
        text = path.read_text(encoding="utf-8")
        stripped = re.sub(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", "", text, flags=re.S)
        for lineno, line in enumerate(stripped.splitlines(), 1):
            # Language names stay in their own language; the logo mark is decoration.
            if CJK.search(line) and "lang=" not in line and 'aria-hidden="true"' not in line:
                problems.append(f"{path.relative_to(ROOT)}:{lineno}: {line.strip()[:60]}")
    assert not problems, "\n".join(problems[:30])

"""Rows of the access table (tests/test_access_matrix.py) kept beside the feature they cover.

Each module here may define:

- ``ROUTES``: endpoint → (kind, URL template), the kinds being those of the matrix;
- ``REDIRECTS``: endpoint → where an allowed request is sent on;
- ``world(people, ids)``: add records the templates need (``ids`` gains their ids).

They are merged into the matrix, so a feature adds its routes without editing a shared file.
"""

from __future__ import annotations

import importlib
import pkgutil

ROUTES: dict[str, tuple[str, str]] = {}
REDIRECTS: dict[str, str] = {}
_WORLDS = []

for _info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
    _module = importlib.import_module(f"{__name__}.{_info.name}")
    _clash = set(getattr(_module, "ROUTES", {})) & set(ROUTES)
    assert not _clash, f"endpoints listed twice in tests/access_tables: {_clash}"
    ROUTES.update(getattr(_module, "ROUTES", {}))
    REDIRECTS.update(getattr(_module, "REDIRECTS", {}))
    if hasattr(_module, "world"):
        _WORLDS.append(_module.world)


def extend_world(people: dict, ids: dict) -> None:
    for build in _WORLDS:
        build(people, ids)

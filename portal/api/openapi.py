"""The OpenAPI 3.0 document of /api/v1/ (tests validate every response against it)."""

from __future__ import annotations

from typing import Any

NULLABLE_TIME = {"type": "string", "format": "date-time", "nullable": True}
TIME = {"type": "string", "format": "date-time"}


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _obj(props: dict, required: list[str] | None = None) -> dict:
    return {
        "type": "object",
        "properties": props,
        "required": required if required is not None else list(props),
        "additionalProperties": False,
    }


def _page_of(name: str) -> dict:
    return _obj(
        {
            "items": {"type": "array", "items": _ref(name)},
            "page": {"type": "integer", "minimum": 1},
            "per_page": {"type": "integer", "minimum": 1, "maximum": 100},
            "total": {"type": "integer", "minimum": 0},
            "pages": {"type": "integer", "minimum": 1},
        }
    )


REF = _obj({"id": {"type": "integer"}, "name": {"type": "string"}})

ACTIVITY_PROPS = {
    "id": {"type": "integer"},
    "title": {"type": "string"},
    "kind": {"type": "string", "enum": ["volunteer", "community"]},
    "status": {"type": "string", "enum": ["published", "cancelled", "finished"]},
    "description": {"type": "string"},
    "place": {"type": "string"},
    "latitude": {"type": "number", "nullable": True},
    "longitude": {"type": "number", "nullable": True},
    "zone": _ref("Ref"),
    "unit": _ref("Ref"),
    "programmes": {
        "type": "array",
        "items": _obj(
            {"id": {"type": "integer"}, "code": {"type": "string"}, "name": {"type": "string"}}
        ),
    },
    "url": {"type": "string", "format": "uri"},
    "calendar_url": {"type": "string", "format": "uri"},
}

SHIFT_PROPS = {
    "id": {"type": "integer"},
    "activity_id": {"type": "integer"},
    "starts_at": TIME,
    "ends_at": TIME,
    "post_name": {"type": "string"},
    "status": {"type": "string", "enum": ["scheduled", "cancelled"]},
    "capacity": {"type": "integer", "minimum": 1},
    "confirmed": {"type": "integer", "minimum": 0, "description": "confirmed sign-ups"},
    "taken": {
        "type": "integer",
        "minimum": 0,
        "description": "places held: confirmed plus awaiting approval",
    },
    "waitlist": {"type": "integer", "minimum": 0, "description": "waitlist length"},
    "places_left": {"type": "integer", "minimum": 0},
    "requires_approval": {"type": "boolean"},
    "waitlist_enabled": {"type": "boolean"},
    "signup_opens_at": NULLABLE_TIME,
    "signup_closes_at": NULLABLE_TIME,
    "calendar_url": {
        "type": "string",
        "format": "uri",
        "description": "single-shift .ics download",
    },
}

SCHEMAS: dict[str, Any] = {
    "Ref": REF,
    "Error": _obj(
        {
            "error": _obj(
                {
                    "code": {"type": "integer"},
                    "message": {"type": "string"},
                    "details": {"type": "array", "items": {"type": "string"}},
                },
                required=["code", "message"],
            )
        }
    ),
    "ActivitySummary": _obj(
        {
            **ACTIVITY_PROPS,
            "next_start": TIME,
            "shift_count": {"type": "integer", "minimum": 0},
            "places_left": {"type": "integer", "minimum": 0},
        }
    ),
    "Shift": _obj(SHIFT_PROPS),
    "ShiftWithActivity": _obj(
        {**SHIFT_PROPS, "activity_title": {"type": "string"}, "zone": _ref("Ref")}
    ),
    "ActivityDetail": _obj({**ACTIVITY_PROPS, "shifts": {"type": "array", "items": _ref("Shift")}}),
    "ActivityPage": _page_of("ActivitySummary"),
    "ShiftPage": _page_of("ShiftWithActivity"),
    "Zone": _obj(
        {
            "id": {"type": "integer"},
            "name": {"type": "string"},
            "street": {"type": "string"},
            "population": {"type": "integer", "minimum": 0},
            "upcoming_shifts": {"type": "integer", "minimum": 0},
            "calendar_url": {"type": "string", "format": "uri"},
        }
    ),
    "ZoneList": _obj({"items": {"type": "array", "items": _ref("Zone")}}),
    "Programme": _obj(
        {
            "id": {"type": "integer"},
            "code": {"type": "string"},
            "name": {"type": "string"},
            "parent_id": {"type": "integer", "nullable": True},
            "description": {"type": "string"},
            "calendar_url": {"type": "string", "format": "uri"},
        }
    ),
    "ProgrammeList": _obj({"items": {"type": "array", "items": _ref("Programme")}}),
}


def _param(name: str, description: str, schema: dict) -> dict:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": schema,
    }


FILTER_PARAMS = [
    _param("zone", "zone id", {"type": "integer", "minimum": 1}),
    _param(
        "programme", "programme id (its sub-programmes included)", {"type": "integer", "minimum": 1}
    ),
    _param("kind", "activity kind", {"type": "string", "enum": ["volunteer", "community"]}),
    _param("date_from", "first local day (YYYY-MM-DD)", {"type": "string", "format": "date"}),
    _param("date_to", "last local day (YYYY-MM-DD)", {"type": "string", "format": "date"}),
    _param("open", "only with places left", {"type": "string", "enum": ["1", "true"]}),
    _param("q", "search words (at most 50 characters)", {"type": "string", "maxLength": 50}),
]
PAGE_PARAMS = [
    _param(
        "page", "page number", {"type": "integer", "minimum": 1, "maximum": 10000, "default": 1}
    ),
    _param(
        "per_page",
        "items per page",
        {"type": "integer", "minimum": 1, "maximum": 100, "default": 20},
    ),
]


def _json(schema: str, description: str = "OK") -> dict:
    return {"description": description, "content": {"application/json": {"schema": _ref(schema)}}}


ERRORS = {
    "400": _json("Error", "bad filter or page"),
    "404": _json("Error", "not found"),
}


def _id_param(name: str) -> dict:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "integer"}}


def document() -> dict:
    """The OpenAPI 3.0.3 description of every /api/v1/ endpoint."""
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "创文明城·迎省运会 open data",
            "version": "1.0.0",
            "description": (
                "Read-only public data: activities, shifts (with counts, never people), "
                "zones and programmes. Times are ISO 8601 in UTC. Errors are JSON."
            ),
        },
        "servers": [{"url": "/api/v1"}],
        "paths": {
            "/activities": {
                "get": {
                    "summary": "Published activities with a shift in the date range",
                    "parameters": FILTER_PARAMS + PAGE_PARAMS,
                    "responses": {"200": _json("ActivityPage"), **ERRORS},
                }
            },
            "/activities/{activity_id}": {
                "get": {
                    "summary": "One activity with its shifts",
                    "parameters": [
                        _id_param("activity_id"),
                        _param(
                            "past", "include ended shifts", {"type": "string", "enum": ["0", "1"]}
                        ),
                    ],
                    "responses": {"200": _json("ActivityDetail"), **ERRORS},
                }
            },
            "/shifts": {
                "get": {
                    "summary": "Upcoming shifts of published activities",
                    "parameters": FILTER_PARAMS
                    + [_param("activity", "activity id", {"type": "integer", "minimum": 1})]
                    + PAGE_PARAMS,
                    "responses": {"200": _json("ShiftPage"), **ERRORS},
                }
            },
            "/shifts/{shift_id}": {
                "get": {
                    "summary": "One shift",
                    "parameters": [_id_param("shift_id")],
                    "responses": {"200": _json("ShiftWithActivity"), **ERRORS},
                }
            },
            "/zones": {"get": {"summary": "Zones", "responses": {"200": _json("ZoneList")}}},
            "/programmes": {
                "get": {
                    "summary": "The programme tree, flat (parent_id links)",
                    "responses": {"200": _json("ProgrammeList")},
                }
            },
        },
        "components": {"schemas": SCHEMAS},
    }

"""Property-based run over /api/v1/openapi.json (in the spirit of schemathesis, with Hypothesis
and the validator the API tests already use): for every documented operation, parameters
drawn from their schemas, from just outside them, and hostile strings. Never a 500; every
answer is a documented status whose body matches the document. Bounded and derandomized."""

from __future__ import annotations

import os
from urllib.parse import urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openapi_schema_validator import OAS30Validator, oas30_format_checker

from tests.test_api import DOC, district, schema_for  # noqa: F401  (district is a fixture)

EXAMPLES = int(os.environ.get("PORTAL_FUZZ_EXAMPLES", "25"))
HOSTILE = st.one_of(
    st.text(max_size=80),
    st.sampled_from(
        [
            "",
            "-1",
            "0",
            "2147483648",
            "99999999999999999999",
            "1e9",
            "NaN",
            "2026-02-30",
            "0001-01-01",
            "9999-12-31",
            "<script>",
            "' OR 1=1 --",
            "%",
            "\u202e",
            "\r\nX: y",
            "a" * 500,
        ]
    ),
)


def _value(schema: dict):
    kind = schema.get("type")
    if "enum" in schema:
        valid = st.sampled_from(schema["enum"])
    elif kind == "integer":
        valid = st.integers(schema.get("minimum", -(2**40)), schema.get("maximum", 2**40))
    elif schema.get("format") == "date":
        valid = st.dates().map(lambda d: d.isoformat())
    else:
        valid = st.text(max_size=schema.get("maxLength", 50))
    return st.one_of(valid.map(str), HOSTILE)


def _request(template: str, operation: dict):
    params = operation.get("parameters", [])
    path_params = {p["name"]: _value(p["schema"]) for p in params if p["in"] == "path"}
    query = {p["name"]: st.none() | _value(p["schema"]) for p in params if p["in"] == "query"}
    return st.fixed_dictionaries(
        {"path": st.fixed_dictionaries(path_params), "query": st.fixed_dictionaries(query)}
    )


def _url(template: str, drawn: dict) -> str:
    from urllib.parse import quote

    path = template
    for name, value in drawn["path"].items():
        path = path.replace("{" + name + "}", quote(value, safe="") or "x")
    query = {k: v for k, v in drawn["query"].items() if v is not None}
    return "/api/v1" + path + ("?" + urlencode(query) if query else "")


@pytest.mark.parametrize("template", sorted(DOC["paths"]))
def test_every_operation_answers_as_documented(client, district, template):  # noqa: F811
    operation = DOC["paths"][template]["get"]

    @settings(
        max_examples=EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(drawn=_request(template, operation))
    def run(drawn):
        url = _url(template, drawn)
        response = client.get(url)
        assert response.status_code < 500, url
        assert response.headers["Content-Type"].startswith("application/json"), url
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        path = url.split("?", 1)[0]
        if "/" in path[len("/api/v1/") :] and response.status_code == 404:
            schema = {"$ref": "#/components/schemas/Error", "components": DOC["components"]}
        else:
            schema = schema_for(path, response.status_code)
        OAS30Validator(schema, format_checker=oas30_format_checker).validate(response.get_json())

    run()

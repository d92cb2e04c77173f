"""docs/openapi.yaml's request bodies are the pydantic models the routes parse them with: same fields, same
required ones, same types and enums, same maximum lengths. A model changed without the docs fails here."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from chalicelib.auth.schemas import LoginRequest, VisitorTokenRequest
from chalicelib.edge.learning import FaqFromGroup
from chalicelib.faq.schemas import FaqCreate, FaqImport, FaqUpdate, RobotSettingsUpdate, RobotTry
from chalicelib.learning.schemas import AddSimilar, WithGroups
from chalicelib.platform.http import BadRequest, Body, parse_body
from chalicelib.replies.schemas import ReplyCreate, ReplyUpdate
from chalicelib.tickets.schemas import CommentCreate, TicketCreate, TicketQuery, TicketUpdate

SPEC = yaml.safe_load((Path(__file__).parents[2] / "docs" / "openapi.yaml").read_text())

MODELS: dict[tuple[str, str], type[Body]] = {
    ("post", "/visitors/token"): VisitorTokenRequest,
    ("post", "/auth/login"): LoginRequest,
    ("post", "/faqs"): FaqCreate,
    ("put", "/faqs/{faq_id}"): FaqUpdate,
    ("post", "/faqs/import"): FaqImport,
    ("put", "/robot/settings"): RobotSettingsUpdate,
    ("post", "/robot/try"): RobotTry,
    ("post", "/tickets"): TicketCreate,
    ("patch", "/tickets/{ticket_id}"): TicketUpdate,
    ("post", "/tickets/{ticket_id}/comments"): CommentCreate,
    ("post", "/canned-replies"): ReplyCreate,
    ("post", "/robot/learning/{group_id}/similar"): AddSimilar,
    ("post", "/robot/learning/{group_id}/faq"): FaqFromGroup,
    ("post", "/robot/learning/{group_id}/off-topic"): WithGroups,
    ("put", "/canned-replies/{group_id}/{reply_id}"): ReplyUpdate,
}


def resolve(schema: dict[str, Any]) -> dict[str, Any]:
    """A schema with its $ref and single-entry allOf followed (the docs' way of naming shared types)."""
    while True:
        if "$ref" in schema:
            name = schema["$ref"].rsplit("/", 1)[1]
            schema = {**SPEC["components"]["schemas"][name], **{k: v for k, v in schema.items() if k != "$ref"}}
        elif len(schema.get("allOf", [])) == 1:
            schema = {**resolve(schema["allOf"][0]), **{k: v for k, v in schema.items() if k != "allOf"}}
        else:
            return schema


def model_property(schema: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    """A model field's schema without pydantic's ``anyOf [..., null]`` for optional fields."""
    options = [o for o in schema.get("anyOf", [schema]) if o.get("type") != "null"]
    assert len(options) == 1, schema
    option = options[0]
    if "$ref" in option:
        option = defs[option["$ref"].rsplit("/", 1)[1]]
    return option


def essentials(schema: dict[str, Any]) -> dict[str, Any]:
    return {key: schema.get(key) for key in ("type", "enum", "maxLength")}


def compare(documented: dict[str, Any], model: dict[str, Any], defs: dict[str, Any], where: str) -> None:
    documented = resolve(documented)
    assert set(documented["properties"]) == set(model["properties"]), where
    assert set(documented.get("required", [])) == set(model.get("required", [])), where
    assert documented.get("additionalProperties") is False, where
    for name, field in model["properties"].items():
        ours = model_property(field, defs)
        theirs = resolve(documented["properties"][name])
        if ours.get("type") == "object":
            compare(theirs, ours, defs, f"{where}.{name}")
            continue
        enum = [e for e in theirs.get("enum", []) if e is not None] or None
        assert essentials({**theirs, "enum": enum}) == essentials(ours), f"{where}.{name}"


def request_schema(method: str, path: str) -> dict[str, Any]:
    schema: dict[str, Any] = SPEC["paths"][path][method]["requestBody"]["content"]["application/json"]["schema"]
    return schema


@pytest.mark.parametrize(("method", "path"), list(MODELS))
def test_the_documented_body_is_the_model_the_route_parses(method: str, path: str) -> None:
    schema = MODELS[method, path].model_json_schema()
    compare(request_schema(method, path), schema, schema.get("$defs", {}), f"{method} {path}")


def test_every_json_body_the_docs_describe_has_a_model() -> None:
    documented = {(method, path) for path, item in SPEC["paths"].items() for method, op in item.items()
                  if isinstance(op, dict) and "application/json" in op.get("requestBody", {}).get("content", {})}
    assert documented == set(MODELS)


def test_the_ticket_list_query_parameters_are_the_models_fields() -> None:
    parameters = map(resolve, SPEC["paths"]["/tickets"]["get"]["parameters"])
    documented = {p["name"]: resolve(p.get("schema", {})) for p in parameters}
    assert set(documented) == set(TicketQuery.model_fields)
    schema = TicketQuery.model_json_schema()
    for name in ("status", "priority", "source"):
        assert documented[name].get("enum") == model_property(schema["properties"][name], {}).get("enum"), name


def test_a_refusal_names_the_bodys_own_unknown_field_before_a_nested_ones() -> None:
    with pytest.raises(BadRequest) as refused:
        parse_body(TicketCreate, {"subject": "a", "zz": 1, "customer": {"q": 1}})
    unknown = [{"field": f, "message": f"'{f}' is not a known field", "code": "unknown"} for f in ("zz", "customer.q")]
    assert refused.value.body() == {"code": "invalid_body", "message": "'zz' is not a known field", "field": "zz",
                                    "errors": unknown}


def test_the_report_query_parameters_are_the_models_fields() -> None:
    from chalicelib.reports.schemas import SLA_SECONDS, ReportQuery

    parameters = map(resolve, SPEC["paths"]["/reports"]["get"]["parameters"])
    documented = {p["name"]: resolve(p.get("schema", {})) for p in parameters}
    assert set(documented) == {f.alias or name for name, f in ReportQuery.model_fields.items()}
    assert tuple(documented["sla_seconds"]["enum"]) == SLA_SECONDS
    assert documented["channel"]["enum"] == ["app", "mini_program", "web"]

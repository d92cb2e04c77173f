"""docs/protocol.md against the models: a mobile developer writes a client from the document alone, so its tables
must say what the server's pydantic models take and send. For each action and event: every field, whether it is
optional (``?``), whether it is a list (``[]``), an object (``{...}``, with the object's own field names when the
doc lists them) or neither, and its values where the doc gives them (``: `a` \\| `b```) or the model has a fixed
set; and no model left out of the document, nor the other way round."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from chalicelib.im.events import MessageView
from chalicelib.im.schemas import FRAME_MODELS, ImageContent, OrderContent, ProductContent, TextContent
from chalicelib.sessions.schemas import SessionView
from tests.contracts import EVENT_MODELS

DOC = (Path(__file__).resolve().parents[3] / "docs" / "protocol.md").read_text()
# Fields whose values the document lists in a table of their own (checked by test_schemas).
LISTED_ELSEWHERE = {("error", "code")}


@dataclass(frozen=True)
class DocField:
    optional: bool
    kind: str  # "list", "object" or "scalar"
    members: frozenset[str]  # an object's field names, as the doc lists them (empty: not listed)
    values: frozenset[str]  # the values the doc gives (empty: none given)


def table(after: str, header: str) -> list[list[str]]:
    """The rows (cells) of the first table under ``after`` whose header row starts with ``header``."""
    section = DOC.split(after, 1)[1]
    block = section.split(header, 1)[1].split("\n\n", 1)[0]
    rows = []
    for line in block.splitlines()[2:]:
        cells = re.split(r"(?<!\\)\|", line.strip())[1:-1]
        rows.append([c.strip() for c in cells])
    return rows


def split_items(cell: str) -> list[str]:
    """Split at the commas that are outside brackets, braces, parentheses and backticks."""
    items, depth, quoted, current = [], 0, False, ""
    for ch in cell:
        if ch == "`":
            quoted = not quoted
        elif not quoted and ch in "([{":
            depth += 1
        elif not quoted and ch in ")]}":
            depth -= 1
        if ch == "," and depth == 0 and not quoted:
            items.append(current.strip())
            current = ""
        else:
            current += ch
    if current.strip():
        items.append(current.strip())
    return items


ITEM = re.compile(r"`(?P<name>[A-Za-z_.]+)`(?P<optional>\?)?(?P<rest>.*)", re.S)


def doc_fields(cell: str) -> dict[str, DocField]:
    if cell in ("–", "-"):
        return {}
    fields = {}
    for item in split_items(cell):
        m = ITEM.fullmatch(item)
        assert m, f"not a field in {cell!r}: {item!r}"
        rest = m["rest"].strip()
        kind, members, values = "scalar", frozenset[str](), frozenset[str]()
        if rest.startswith("[]"):
            kind = "list"
        elif rest.startswith("{"):
            kind = "object"
            members = frozenset(n.strip() for n in rest[1:rest.index("}")].split(",") if n.strip())
        elif rest.startswith(":"):
            values = frozenset(re.findall(r"`([^`]+)`", rest[1:].split(" (", 1)[0]))
        fields[m["name"]] = DocField(m["optional"] == "?", kind, members, values)
    return fields


def resolve(schema: dict[str, Any], defs: dict[str, Any]) -> list[dict[str, Any]]:
    """The non-null variants of a property's schema, references followed."""
    if "$ref" in schema:
        return resolve(defs[schema["$ref"].rsplit("/", 1)[1]], defs)
    variants: list[dict[str, Any]] = schema.get("anyOf") or schema.get("oneOf") or []
    if variants:
        return [v for s in variants for v in resolve(s, defs)]
    return [] if schema.get("type") == "null" else [schema]


def model_fields(model: type[BaseModel]) -> dict[str, DocField]:
    """The model's JSON Schema, in the doc's terms."""
    schema = model.model_json_schema(by_alias=True)
    defs = schema.get("$defs", {})
    out = {}
    for name, prop in schema["properties"].items():
        variants = resolve(prop, defs)
        types = {v.get("type") for v in variants}
        kind = "list" if "array" in types else "object" if "object" in types or "properties" in str(variants) \
            else "scalar"
        members = frozenset(n for v in variants for n in v.get("properties", {}))
        values = frozenset(str(x) for v in variants for x in v.get("enum", [v["const"]] if "const" in v else []))
        out[name] = DocField(name not in schema.get("required", []), kind, members, values)
    return out


def assert_matches(what: str, documented: dict[str, DocField], model: dict[str, DocField]) -> None:
    assert set(documented) == set(model), f"{what}: doc {sorted(documented)} != model {sorted(model)}"
    for name, doc in documented.items():
        real = model[name]
        where = f"{what}.{name}"
        assert doc.optional == real.optional, f"{where}: optional in the doc {doc.optional}, model {real.optional}"
        assert doc.kind == real.kind, f"{where}: a {doc.kind} in the doc, a {real.kind} in the model"
        if doc.members:
            assert doc.members == real.members, f"{where}: doc {sorted(doc.members)} != {sorted(real.members)}"
        if (what.split(" ")[-1], name) not in LISTED_ELSEWHERE and (doc.values or real.values):
            assert doc.values == real.values, f"{where}: doc {sorted(doc.values)} != model {sorted(real.values)}"


ACTIONS = {row[0].strip("`"): row[1] for row in table("### Client -> server", "| action | fields")}
EVENTS = {row[0].strip("`"): row[1] for row in table("### Server -> client", "| event | fields")}
EVENT_BY_NAME = {m.model_fields["event"].default: m for m in EVENT_MODELS}


def test_every_action_and_event_is_documented_and_no_other() -> None:
    assert set(ACTIONS) == set(FRAME_MODELS)
    assert set(EVENTS) == set(EVENT_BY_NAME)
    assert len(EVENT_MODELS) == len(EVENT_BY_NAME)  # one model per event


@pytest.mark.parametrize("action", sorted(FRAME_MODELS))
def test_each_action_s_fields_are_the_model_s(action: str) -> None:
    models = FRAME_MODELS[action]
    fields = model_fields(models[0])
    for other in models[1:]:  # send: one model per message type, the same fields but content
        assert set(model_fields(other)) == set(fields)
    fields.pop("action")
    assert_matches(f"action {action}", doc_fields(ACTIONS[action]), fields)


@pytest.mark.parametrize("event", sorted(EVENT_BY_NAME))
def test_each_event_s_fields_are_the_model_s(event: str) -> None:
    fields = model_fields(EVENT_BY_NAME[event])
    assert fields.pop("event").optional  # a default: built without it, sent with it
    assert_matches(f"event {event}", doc_fields(EVENTS[event]), fields)


def _content_fields(cell: str) -> dict[str, bool]:
    """``{"url", "alt"?}``: the names at the first level of braces, and whether each is optional."""
    out, depth = {}, 0
    for m in re.finditer(r'[{}\[\]]|"([a-z_]+)"(\?)?', cell):
        token = m.group(0)
        if token in "{[":
            depth += 1
        elif token in "}]":
            depth -= 1
        elif depth == 1:
            out[m.group(1)] = m.group(2) == "?"
    return out


@pytest.mark.parametrize(("kind", "model"), [("text", TextContent), ("image", ImageContent),
                                             ("product", ProductContent), ("order", OrderContent)])
def test_each_message_type_s_content_is_the_model_s(kind: str, model: type[BaseModel]) -> None:
    cells = {row[0].strip("`"): row[1] for row in table("### Message types", "| type | content")}
    assert set(cells) == set(FRAME_MODELS["send"][0].model_json_schema()["properties"]["type"]["enum"])
    assert _content_fields(cells[kind]) == {n: not f.is_required() for n, f in model.model_fields.items()}


@pytest.mark.parametrize(("heading", "model"), [("A **message** object", MessageView),
                                                ("A **session** object", SessionView)])
def test_the_message_and_session_objects_are_the_models(heading: str, model: type[BaseModel]) -> None:
    documented: dict[str, DocField] = {}
    for row in table(heading, "| field | meaning"):
        documented.update(doc_fields(row[0]))
    assert_matches(heading, documented, model_fields(model))


def test_the_check_reads_the_notation() -> None:
    fields = doc_fields("`a`, `b`? [] (x, y), `c` {p, q} (or null), `d`?: `on` \\| `off` (note, with `z`)")
    assert fields == {"a": DocField(False, "scalar", frozenset(), frozenset()),
                      "b": DocField(True, "list", frozenset(), frozenset()),
                      "c": DocField(False, "object", frozenset({"p", "q"}), frozenset()),
                      "d": DocField(True, "scalar", frozenset(), frozenset({"on", "off"}))}


def test_the_check_fails_on_a_drifted_field() -> None:
    model = {"after_seq": DocField(True, "scalar", frozenset(), frozenset())}
    with pytest.raises(AssertionError, match="optional"):
        assert_matches("action resume", doc_fields("`after_seq` (integer)"), model)
    with pytest.raises(AssertionError, match="doc"):
        assert_matches("action resume", doc_fields("`after_seq`?, `before_seq`?"), model)

"""The admin configuration documents (hours, groups, routing), validated and turned into the model.

Structure (types, ranges, required and unknown keys, defaults) lives in the JSON Schemas under
``schemas/`` and is checked with Powertools' validation utility; what a schema cannot say (spans
that overlap, a time zone that does not exist, a group that a rule names but no document defines)
is checked here. Either way the admin gets one ``ConfigError`` naming the document and the field.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterable, Mapping
from datetime import date
from functools import cache
from itertools import pairwise
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from aws_lambda_powertools.utilities.validation import validate
from aws_lambda_powertools.utilities.validation.exceptions import SchemaValidationError

from chalicelib.config.errors import ConfigError
from chalicelib.config.model import (
    SURVEY_TAGS,
    Group,
    Member,
    OverflowPolicy,
    QueuePolicy,
    RoutingConfig,
    Rule,
    Schedule,
    SessionPolicy,
    Span,
    SpecialPeriod,
    SurveyPolicy,
    WrapupPolicy,
    WrapupReason,
)
from chalicelib.i18n import LocalText, shipped

DOCUMENTS = ("hours", "groups", "routing")
SCHEMA_DIR = Path(__file__).resolve().parent / "schemas"
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DAY = 24 * 60

_PLAIN_KEY = re.compile(r"[A-Za-z0-9_-]+")
_TYPE_NAMES = {"string": "a string", "integer": "an integer", "number": "a number", "boolean": "true or false",
               "object": "an object", "array": "a list", "null": "null"}


@cache
def schema(document: str) -> dict[str, Any]:
    """The JSON Schema of ``document`` (one of ``DOCUMENTS``)."""
    loaded: dict[str, Any] = json.loads((SCHEMA_DIR / f"{document}.schema.json").read_text(encoding="utf-8"))
    return loaded


def parse(hours: Any, groups: Any, routing: Any) -> RoutingConfig:
    """Validate the three documents (as decoded from JSON) together and build the configuration.

    Raises ``ConfigError`` for the first problem found: structure first, document by document,
    then the rules that span documents.
    """
    hours, groups, routing = _structure("hours", hours), _structure("groups", groups), _structure("routing", routing)
    zone = _time_zone(hours["time_zone"], "time_zone")
    schedules = {name: _schedule(name, body, zone) for name, body in hours["schedules"].items()}
    agents = groups["agents"]
    _capacities(agents)
    built = _groups(groups["groups"], schedules)
    rules = _rules(routing["rules"], built)
    if routing["default_group"] not in built:
        raise ConfigError("routing", "default_group", _unknown("group", routing["default_group"], "groups", built))
    return RoutingConfig(
        groups=built,
        rules=rules,
        default_group=routing["default_group"],
        schedules=schedules,
        default_capacity=agents["default_capacity"],
        max_capacity=agents["max_capacity"],
        agent_capacity=dict(agents["capacity"]),
        sessions=_sessions(groups["sessions"]),
    )


def _sessions(body: dict[str, Any]) -> SessionPolicy:
    survey = body["survey"]
    return SessionPolicy(idle_warn_seconds=body["idle_warn_seconds"], idle_close_seconds=body["idle_close_seconds"],
                         reconnect_grace_seconds=body["reconnect_grace_seconds"],
                         agent_grace_seconds=body["agent_grace_seconds"],
                         survey=SurveyPolicy(robot_sessions=survey["robot_sessions"],
                                             answer_within_seconds=survey["answer_within_seconds"],
                                             tags=tuple(survey["tags"]) if "tags" in survey else SURVEY_TAGS,
                                             question=survey.get("question") or shipped("survey.question")))


def load_json(text: str, document: str, source: str) -> Any:
    """Decode one document; ``source`` (a file, an SSM parameter) names where it came from in errors."""
    try:
        return json.loads(text, object_pairs_hook=_unique_keys)
    except json.JSONDecodeError as exc:
        raise ConfigError(document, "", f"invalid JSON in {source} at line {exc.lineno}, column {exc.colno}: "
                                        f"{exc.msg}") from None
    except _DuplicateKeyError as exc:
        raise ConfigError(document, "", f'invalid JSON in {source}: key "{exc.key}" appears twice in one object '
                                        "(the first would be silently lost)") from None
    except RecursionError:
        raise ConfigError(document, "", f"invalid JSON in {source}: nested too deeply") from None


def load_file(path: Path, document: str) -> Any:
    """Read and decode one document file."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(document, "", f"missing file {path}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(document, "", f"{path} is not UTF-8 text (byte {exc.start})") from None
    except OSError as exc:
        raise ConfigError(document, "", f"cannot read {path}: {exc.strerror}") from None
    return load_json(text, document, str(path))


def load_directory(path: Path) -> dict[str, Any]:
    """``<path>/hours.json``, ``groups.json`` and ``routing.json``, decoded, by document name."""
    return {name: load_file(path / f"{name}.json", name) for name in DOCUMENTS}


class _DuplicateKeyError(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise _DuplicateKeyError(key)
        result[key] = value
    return result


# --- structure: the JSON Schemas, with fastjsonschema's findings reworded for admins ---


def _structure(document: str, value: Any) -> Any:
    data = copy.deepcopy(value)  # validation fills in the schema's defaults in place
    try:
        return validate(event=data, schema=schema(document))
    except SchemaValidationError as exc:
        raise _schema_error(document, data, exc) from None


def _schema_error(document: str, data: Any, exc: SchemaValidationError) -> ConfigError:
    rule = exc.rule or ""
    definition = exc.definition if isinstance(exc.definition, dict) else {}
    wording = definition.get("errorMessage", {}).get(rule)
    value: Any = exc.value
    limit: Any = exc.rule_definition
    steps = _steps(data, exc.path or [])
    if rule == "required" and not wording:
        steps.append(next(key for key in limit if key not in value))
        message = "is required"
    elif rule == "additionalProperties":
        allowed = list(definition.get("properties", {}))
        steps.append(next(key for key in value if key not in allowed))
        message = f"unknown key (allowed: {', '.join(allowed)})"
    elif rule == "propertyNames":
        names = _resolve(document, limit)
        steps.append(next(key for key in value if not re.search(names["pattern"], key)))
        wording = names.get("errorMessage", {}).get("pattern", f"must match {names['pattern']}")
        message = f"is not a valid name: {wording}"
    elif rule == "uniqueItems":
        first, again = _repeat(value)
        steps.append(again)
        message = f"repeats {_show(value[again])} (already at [{first}])"
    else:
        message = wording or _generic(rule, limit, value, exc)
        if rule in ("type", "enum", "pattern"):
            message += f" (got {_show(value)})"
    return ConfigError(document, _path(steps), message)


def _repeat(items: list[Any]) -> tuple[int, int]:
    """The indices of the first item that appears again, and of where it does."""
    seen: dict[str, int] = {}
    for index, item in enumerate(items):
        first = seen.setdefault(json.dumps(item, sort_keys=True), index)
        if first != index:
            return first, index
    raise ValueError("no repeated item")


def _generic(rule: str, limit: Any, value: Any, exc: SchemaValidationError) -> str:
    plural = "" if limit == 1 else "s"
    match rule:
        case "type":
            return "must be " + " or ".join(_TYPE_NAMES[t] for t in (limit if isinstance(limit, list) else [limit]))
        case "enum":
            return "must be one of " + ", ".join(_show(option) for option in limit)
        case "minimum":
            return f"must be at least {limit}"
        case "maximum":
            return f"must be at most {limit}"
        case "exclusiveMinimum":
            return f"must be more than {limit}"
        case "minLength":
            return "must not be empty" if limit == 1 else f"must be at least {limit} characters"
        case "maxLength":
            return f"must be at most {limit} characters (got {len(value)})"
        case "minItems":
            return "must not be empty" if limit == 1 else f"must have at least {limit} items"
        case "maxItems":
            return f"must have at most {limit} item{plural} (got {len(value)})"
        case "minProperties":
            return f"must have at least {limit} key{plural}"
        case "maxProperties":
            return f"must have at most {limit} key{plural} (got {len(value)})"
        case "pattern":
            return f"must match {limit}"
    # Any rule without wording of its own: fastjsonschema's, without its "data.x.y" prefix.
    return (exc.validation_message or "is not valid").removeprefix(f"{exc.name} ")


def _resolve(document: str, node: Mapping[str, Any]) -> Mapping[str, Any]:
    """Follow a local ``$ref`` (``#/definitions/id``) within the document's schema."""
    ref = node.get("$ref")
    if not ref:
        return node
    target: Any = schema(document)
    for part in ref.removeprefix("#/").split("/"):
        target = target[part]
    return _resolve(document, target)


def _steps(data: Any, path: list[Any]) -> list[str | int]:
    """fastjsonschema's path (``['data', 'groups', '1', ...]``) with list indices as numbers."""
    steps: list[str | int] = []
    node = data
    for part in path[1:]:
        if isinstance(node, list):
            index = int(part)
            steps.append(index)
            node = node[index] if index < len(node) else None
        else:
            steps.append(str(part))
            node = node.get(part) if isinstance(node, dict) else None
    return steps


def _path(steps: Iterable[str | int]) -> str:
    text = ""
    for step in steps:
        if isinstance(step, int):
            text += f"[{step}]"
        elif _PLAIN_KEY.fullmatch(step):
            text += f".{step}" if text else step
        else:
            text += f"[{json.dumps(step, ensure_ascii=False)}]"
    return text


def _show(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 60 else text[:57] + "..."


def _unknown(kind: str, name: str, where: str, known: Iterable[str]) -> str:
    names = list(known)
    listed = ", ".join(names[:10]) + (", ..." if len(names) > 10 else "")
    return f'no {kind} "{name}" in {where} (there: {listed})'


# --- meaning: what the schemas cannot say ---


def _time_zone(name: str, at: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError("hours", at, f'unknown time zone "{name}" (an IANA name such as Asia/Shanghai)') from None
    return name


def _date(text: str, at: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise ConfigError("hours", at, f"{text} is not a date ({exc})") from None


def _minutes(text: str) -> int:
    hours, minutes = text.split(":")
    return int(hours) * 60 + int(minutes)


def _spans(raw: list[list[str]], at: str) -> tuple[Span, ...]:
    spans: list[tuple[int, Span]] = []
    for index, (start_text, end_text) in enumerate(raw):
        start, end = _minutes(start_text), _minutes(end_text)
        if start == DAY:
            raise ConfigError("hours", f"{at}[{index}][0]", "a span cannot start at 24:00 (start at 00:00 instead)")
        if end == start:
            raise ConfigError("hours", f"{at}[{index}]", f"a span of no length ({start_text} to {end_text}); "
                                                         'for the whole day write ["00:00", "24:00"]')
        # An end before the start is on the next day: the span belongs to the day it starts.
        spans.append((index, Span(start, end if end > start else end + DAY)))
    spans.sort(key=lambda item: item[1].start)
    label = at.rsplit(".", 1)[-1]
    for (i, earlier), (j, later) in pairwise(spans):
        if later.start < earlier.end:
            first, second = sorted((i, j))
            raise ConfigError("hours", f"{at}[{second}]", f"overlaps {label}[{first}] {json.dumps(raw[first])}")
    return tuple(span for _, span in spans)


def _schedule(name: str, body: dict[str, Any], default_zone: str) -> Schedule:
    at = _path(["schedules", name])
    zone = _time_zone(body["time_zone"], f"{at}.time_zone") if "time_zone" in body else default_zone
    weekly: tuple[tuple[Span, ...], ...]
    if "daily" in body:
        weekly = (_spans(body["daily"], f"{at}.daily"),) * 7
    else:
        weekly = tuple(_spans(body["weekly"].get(day, []), f"{at}.weekly.{day}") for day in WEEKDAYS)
    return Schedule(
        name=name,
        time_zone=zone,
        weekly=weekly,
        special=_specials(body.get("special", []), f"{at}.special"),
        closed=frozenset(_date(text, f"{at}.closed[{i}]") for i, text in enumerate(body.get("closed", []))),
        closed_message=body["closed_message"],
    )


def _specials(raw: list[dict[str, Any]], at: str) -> tuple[SpecialPeriod, ...]:
    periods: list[SpecialPeriod] = []
    for index, item in enumerate(raw):
        here = f"{at}[{index}]"
        first, last = _date(item["from"], f"{here}.from"), _date(item["to"], f"{here}.to")
        if last < first:
            raise ConfigError("hours", f"{here}.to", f"{item['to']} is before from ({item['from']})")
        spans = _spans(item["hours"], f"{here}.hours")
        for other_index, other in enumerate(periods):
            # Overlapping periods would leave it open which hours apply on the shared dates.
            if first <= other.last and other.first <= last:
                raise ConfigError("hours", here, f'overlaps special[{other_index}] "{other.name}" '
                                                 f"({other.first} to {other.last})")
        periods.append(SpecialPeriod(name=item["name"], first=first, last=last, spans=spans))
    return tuple(periods)


def _groups(raw: list[dict[str, Any]], schedules: Mapping[str, Schedule]) -> dict[str, Group]:
    ids: dict[str, int] = {}
    for index, item in enumerate(raw):
        if item["id"] in ids:
            raise ConfigError("groups", f"groups[{index}].id",
                              f'duplicate group id "{item["id"]}" (also groups[{ids[item["id"]]}])')
        ids[item["id"]] = index
    return {item["id"]: _group(item, f"groups[{index}]", ids, schedules) for index, item in enumerate(raw)}


def _group(item: dict[str, Any], at: str, ids: Mapping[str, int], schedules: Mapping[str, Schedule]) -> Group:
    if item["hours"] not in schedules:
        raise ConfigError("groups", f"{at}.hours", _unknown("schedule", item["hours"], "hours", schedules))
    queue = item["queue"]
    return Group(
        group_id=item["id"],
        name=_name(item["name"], f"{at}.name"),
        schedule=item["hours"],
        allocation=item["allocation"],
        sticky=item["sticky"],
        members=_members(item["members"], f"{at}.members"),
        queue=QueuePolicy(max_waiting=queue["max_waiting"], timeout_seconds=queue["timeout_seconds"],
                          priority_tiers=frozenset(queue["priority_tiers"])),
        overflow=_overflow(item["overflow"], item["id"], f"{at}.overflow", ids) if "overflow" in item else None,
        avg_handle_seconds=item["avg_handle_seconds"],
        wrapup=_wrapup(item["wrapup"], f"{at}.wrapup") if "wrapup" in item else WrapupPolicy(),
    )


def _name(raw: str | dict[str, str], at: str) -> LocalText:
    """A group's name, trimmed: one text, or one per language (the schema requires both, as for a reason's label)."""
    if isinstance(raw, str):
        if not raw.strip():
            raise ConfigError("groups", at, "must not be blank")
        return raw.strip()
    names = {lang: text.strip() for lang, text in raw.items()}
    for lang, text in names.items():
        if not text:
            raise ConfigError("groups", f"{at}.{lang}", "must not be blank")
    return names


def _wrapup(raw: dict[str, Any], at: str) -> WrapupPolicy:
    seen: dict[str, int] = {}
    reasons: list[WrapupReason] = []
    for index, item in enumerate(raw["reasons"]):
        if item["code"] in seen:
            raise ConfigError("groups", f"{at}.reasons[{index}].code",
                              f'duplicate reason code "{item["code"]}" (also reasons[{seen[item["code"]]}])')
        seen[item["code"]] = index
        label = {lang: text.strip() for lang, text in item["label"].items()}
        for lang, text in label.items():
            if not text:
                raise ConfigError("groups", f"{at}.reasons[{index}].label.{lang}", "must not be blank")
        reasons.append(WrapupReason(item["code"], label))
    return WrapupPolicy(required=raw["required"], reasons=tuple(reasons))


def _members(raw: list[str | dict[str, Any]], at: str) -> tuple[Member, ...]:
    seen: dict[str, int] = {}
    members: list[Member] = []
    for index, item in enumerate(raw):
        member = Member(item) if isinstance(item, str) else Member(item["agent"], item["priority"])
        if member.agent_id in seen:
            raise ConfigError("groups", f"{at}[{index}]",
                              f'agent "{member.agent_id}" is already a member (members[{seen[member.agent_id]}])')
        seen[member.agent_id] = index
        members.append(member)
    return tuple(members)


def _overflow(raw: dict[str, Any], group_id: str, at: str, ids: Mapping[str, int]) -> OverflowPolicy:
    for index, target in enumerate(raw["to"]):
        if target == group_id:
            raise ConfigError("groups", f"{at}.to[{index}]", "a group cannot overflow to itself")
        if target not in ids:
            raise ConfigError("groups", f"{at}.to[{index}]", _unknown("group", target, "groups", ids))
    per_slot = raw.get("waiting_per_online_slot")
    return OverflowPolicy(
        waiting_at_least=raw.get("waiting_at_least"),
        waiting_per_online_slot=None if per_slot is None else float(per_slot),
        longest_wait_seconds=raw.get("longest_wait_seconds"),
        to=tuple(raw["to"]),
        notify=raw["notify"],
    )


def _capacities(agents: dict[str, Any]) -> None:
    most = agents["max_capacity"]
    found = [("agents.default_capacity", agents["default_capacity"])]
    found += [(_path(["agents", "capacity", agent]), value) for agent, value in agents["capacity"].items()]
    for at, value in found:
        if value > most:
            raise ConfigError("groups", at, f"must be at most agents.max_capacity, {most} (got {value})")


def _rules(raw: list[dict[str, Any]], groups: Mapping[str, Group]) -> tuple[Rule, ...]:
    names: dict[str, int] = {}
    rules: list[Rule] = []
    for index, item in enumerate(raw):
        at = f"rules[{index}]"
        if item["name"] in names:
            raise ConfigError("routing", f"{at}.name",
                              f'duplicate rule name "{item["name"]}" (also rules[{names[item["name"]]}])')
        names[item["name"]] = index
        if item["group"] not in groups:
            raise ConfigError("routing", f"{at}.group", _unknown("group", item["group"], "groups", groups))
        match = item["match"]
        rules.append(Rule(
            name=item["name"],
            group=item["group"],
            channel=_one_of(match, "channel"),
            source=tuple(match["source"]) if "source" in match else None,
            category=_one_of(match, "category"),
            tier=_one_of(match, "tier"),
            language=_one_of(match, "language"),
        ))
    return tuple(rules)


def _one_of(match: Mapping[str, list[str]], key: str) -> frozenset[str] | None:
    return frozenset(match[key]) if key in match else None

"""The configuration documents: the shipped defaults, and what each kind of mistake is told."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from chalicelib.config.documents import DOCUMENTS, load_directory, parse, schema
from chalicelib.config.errors import ConfigError
from chalicelib.config.model import LEAST_LOADED, ROUND_ROBIN, Member, OverflowPolicy, QueuePolicy, Span
from chalicelib.i18n import LANGUAGES, pick

ROOT = Path(__file__).resolve().parents[3]
DEFAULTS = load_directory(ROOT / "config")

Docs = dict[str, Any]


def _docs() -> Docs:
    return copy.deepcopy(DEFAULTS)


def _group(docs: Docs, group_id: str) -> dict[str, Any]:
    return next(g for g in docs["groups"]["groups"] if g["id"] == group_id)


def _standard(docs: Docs) -> dict[str, Any]:
    schedule: dict[str, Any] = docs["hours"]["schedules"]["standard"]
    return schedule


def _error(change: Callable[[Docs], Any]) -> ConfigError:
    docs = _docs()
    change(docs)
    with pytest.raises(ConfigError) as err:
        parse(**docs)
    return err.value


def test_the_shipped_defaults_parse() -> None:
    config = parse(**DEFAULTS)
    assert list(config.groups) == ["general", "shoes", "cosmetics", "electronics", "vip"]
    assert (config.default_capacity, config.max_capacity, config.agent_capacity) == (5, 20, {})
    general = config.groups["general"]
    assert (general.schedule, general.allocation, general.sticky) == ("always", LEAST_LOADED, True)
    assert [m.agent_id for m in general.members] == ["alice", "bob"] + [f"load{i:02d}" for i in range(1, 41)]
    shoes = config.groups["shoes"]
    assert shoes.members == (Member("alice", 1), Member("bob", 2))
    assert shoes.overflow == OverflowPolicy(waiting_at_least=10, to=("general",))
    assert config.groups["electronics"].allocation == ROUND_ROBIN
    assert config.groups["vip"].queue.priority_tiers == frozenset({"vip"})
    assert [(r.name, r.group) for r in config.rules] == [
        ("VIP customers", "vip"), ("Shoes", "shoes"), ("Cosmetics", "cosmetics"), ("3C electronics", "electronics")]
    assert config.rules[3].category == frozenset({"3c", "electronics", "phones"})
    assert config.default_group == "general"

    always, standard = config.schedules["always"], config.schedules["standard"]
    assert always.weekly == ((Span(0, 1440),),) * 7
    assert standard.time_zone == "Asia/Shanghai"
    assert standard.weekly == ((Span(480, 1440),),) * 7
    assert [(p.name, p.first, p.last, p.spans) for p in standard.special] == [
        ("11.11", date(2026, 11, 10), date(2026, 11, 12), (Span(480, 1560),)),
        ("618", date(2027, 6, 16), date(2027, 6, 18), (Span(480, 1560),)),
    ]
    assert standard.closed == {date(2027, 2, 5), date(2027, 2, 6)}
    assert "Spring Festival" in pick(standard.closed_message, "en")
    assert "春节" in pick(standard.closed_message, "zh-CN")


def test_the_shipped_defaults_fit_in_a_free_ssm_parameter() -> None:
    for name, doc in DEFAULTS.items():
        assert len(json.dumps(doc, separators=(",", ":")).encode()) <= 4096, name


def test_spans_past_midnight_and_to_24_00() -> None:
    docs = _docs()
    docs["hours"]["schedules"]["nights"] = {
        "time_zone": "Europe/Berlin",
        "weekly": {"mon": [["20:00", "02:00"], ["08:00", "12:00"]], "tue": [["22:00", "00:00"]],
                   "wed": [["00:00", "24:00"]], "fri": [["13:00", "24:00"]], "sat": []},
    }
    nights = parse(**docs).schedules["nights"]
    assert nights.time_zone == "Europe/Berlin"
    assert nights.weekly == (
        (Span(480, 720), Span(1200, 1560)),  # by start time
        (Span(1320, 1440),),
        (Span(0, 1440),),
        (),  # a day left out is closed
        (Span(780, 1440),),
        (),
        (),
    )


def test_the_schemas_fill_in_defaults_without_touching_the_input() -> None:
    docs = _docs()
    docs["groups"] = {"groups": [{"id": "general", "name": "General", "hours": "always", "members": ["alice"]},
                                 {"id": "night", "name": "Night", "hours": "always", "members": [],
                                  "overflow": {"longest_wait_seconds": 60}}]}
    docs["routing"] = {"rules": [], "default_group": "general"}
    before = copy.deepcopy(docs)
    config = parse(**docs)
    assert docs == before
    general = config.groups["general"]
    assert (general.allocation, general.sticky, general.avg_handle_seconds, general.overflow) == (
        LEAST_LOADED, False, 300, None)
    assert general.queue == QueuePolicy(max_waiting=100, timeout_seconds=900, priority_tiers=frozenset({"vip"}))
    assert general.members == (Member("alice", 1),)
    assert config.groups["night"].overflow == OverflowPolicy(longest_wait_seconds=60, to=(), notify=True)
    assert (config.default_capacity, config.max_capacity) == (5, 20)
    assert pick(config.schedules["standard"].closed_message, "en").startswith("Our team")
    assert config.schedules["always"].closed_message == ""


def test_per_agent_capacity() -> None:
    docs = _docs()
    docs["groups"]["agents"] = {"max_capacity": 8, "default_capacity": 3, "capacity": {"alice": 8, "j.doe@shop": 1}}
    config = parse(**docs)
    assert (config.capacity_of("alice"), config.capacity_of("j.doe@shop"), config.capacity_of("bob")) == (8, 1, 3)


def test_error_text_names_document_field_and_reason() -> None:
    err = _error(lambda d: d["groups"]["groups"][1]["queue"].update(max_waiting=0))
    assert str(err) == "groups: groups[1].queue.max_waiting: must be at least 1"
    assert str(ConfigError("routing", "", "must be an object")) == "routing: must be an object"


def _set(*path: Any, value: Any) -> Callable[[Docs], None]:
    def change(docs: Docs) -> None:
        node = docs
        for step in path[:-1]:
            node = node[step]
        node[path[-1]] = value
    return change


def _survey(**fields: Any) -> Callable[[Docs], None]:
    def change(docs: Docs) -> None:
        docs["groups"].setdefault("sessions", {}).setdefault("survey", {}).update(fields)
    return change


def test_shop_texts_per_language_or_one_for_all() -> None:
    docs = _docs()
    docs["hours"]["schedules"]["standard"]["closed_message"] = {"en": "Closed for the holiday.", "zh-CN": "节日休息。"}
    _survey(question={"zh-CN": "满意吗？"}, tags=[{"en": "quick", "zh-CN": "响应快"}, "OK"])(docs)
    config = parse(**docs)
    assert config.schedules["standard"].closed_message == {"en": "Closed for the holiday.", "zh-CN": "节日休息。"}
    assert config.sessions.survey.question == {"zh-CN": "满意吗？"}
    assert config.sessions.survey.tags == ({"en": "quick", "zh-CN": "响应快"}, "OK")


def test_the_survey_ships_in_both_languages() -> None:
    survey = parse(**_docs()).sessions.survey
    assert survey.question == {"en": "How satisfied are you with this chat?", "zh-CN": "您对本次服务满意吗？"}
    assert survey.tags[0] == {"en": "quick", "zh-CN": "响应快"}
    assert len(survey.tags) == 6


def _delete(*path: Any) -> Callable[[Docs], None]:
    def change(docs: Docs) -> None:
        node = docs
        for step in path[:-1]:
            node = node[step]
        del node[path[-1]]
    return change


STD = ("hours", "schedules", "standard")
SHOES = ("groups", "groups", 1)
RULE0 = ("routing", "rules", 0)

BAD = [
    # structure (the JSON Schemas)
    ("unknown key", _set(*SHOES, "colour", value="red"), "groups", "groups[1].colour", "unknown key (allowed: id, "),
    ("unknown top-level key", _set("routing", "fallback", value="general"), "routing", "fallback", "unknown key"),
    ("document not an object", _set("routing", value=[]), "routing", "", "must be an object (got [])"),
    ("wrong type", _set(*SHOES, "queue", "max_waiting", value="50"), "groups", "groups[1].queue.max_waiting",
     'must be an integer (got "50")'),
    ("boolean is not an integer", _set(*SHOES, "avg_handle_seconds", value=True), "groups",
     "groups[1].avg_handle_seconds", "must be an integer (got true)"),
    ("not a boolean", _set(*SHOES, "sticky", value="yes"), "groups", "groups[1].sticky", "must be true or false"),
    ("required field", _delete("groups", "groups", 0, "name"), "groups", "groups[0].name", "is required"),
    ("bad time", _set(*STD, "daily", value=[["08:00", "25:00"]]), "hours", "schedules.standard.daily[0][1]",
     'must be a time HH:MM from 00:00 to 24:00 (got "25:00")'),
    ("span of one time", _set(*STD, "daily", value=[["08:00"]]), "hours", "schedules.standard.daily[0]",
     "must be a span"),
    ("daily and weekly", _set(*STD, "weekly", value={"mon": []}), "hours", "schedules.standard",
     "has both daily and weekly"),
    ("neither daily nor weekly", _delete(*STD, "daily"), "hours", "schedules.standard", "needs daily"),
    ("misspelt daily", lambda d: _standard(d).update(dayly=_standard(d).pop("daily")), "hours",
     "schedules.standard.dayly", "unknown key"),
    ("bad weekday", _set(*STD, value={"weekly": {"monday": [["08:00", "18:00"]]}}), "hours",
     "schedules.standard.weekly.monday", "unknown key (allowed: mon, tue"),
    ("bad date format", _set(*STD, "closed", value=["2027/02/05"]), "hours", "schedules.standard.closed[0]",
     "must be a date YYYY-MM-DD"),
    ("repeated closed date", _set(*STD, "closed", value=["2027-02-05", "2027-02-05"]), "hours",
     "schedules.standard.closed[1]", 'repeats "2027-02-05" (already at [0])'),
    ("closed message too long", _set(*STD, "closed_message", value="x" * 501), "hours",
     "schedules.standard.closed_message", "must be at most 500 characters"),
    ("closed message in another language", _set(*STD, "closed_message", value={"fr": "Fermé"}), "hours",
     "schedules.standard.closed_message.fr", "unknown key (allowed: en, zh-CN)"),
    ("closed message of no language", _set(*STD, "closed_message", value={}), "hours",
     "schedules.standard.closed_message", "must have at least 1 key"),
    ("closed message not text", _set(*STD, "closed_message", value=5), "hours",
     "schedules.standard.closed_message", "must be a string or an object of languages (en, zh-CN) to strings (got 5)"),
    ("closed message empty in a language", _set(*STD, "closed_message", value={"zh-CN": ""}), "hours",
     "schedules.standard.closed_message.zh-CN", "must not be empty"),
    ("Chinese closed message too long", _set(*STD, "closed_message", value={"zh-CN": "关" * 501}), "hours",
     "schedules.standard.closed_message.zh-CN", "must be at most 500 characters"),
    ("survey tag in another language", _survey(tags=[{"en": "quick", "de": "schnell"}]), "groups",
     "sessions.survey.tags[0].de", "unknown key (allowed: en, zh-CN)"),
    ("survey tag not text", _survey(tags=[["quick"]]), "groups", "sessions.survey.tags[0]",
     "must be a string or an object of languages"),
    ("survey tag too long in Chinese", _survey(tags=[{"zh-CN": "快" * 41}]), "groups",
     "sessions.survey.tags[0].zh-CN", "must be at most 40 characters"),
    ("survey question of no language", _survey(question={}), "groups", "sessions.survey.question",
     "must have at least 1 key"),
    ("survey question a number", _survey(question=3), "groups", "sessions.survey.question",
     "must be a string or an object of languages (en, zh-CN) to strings (got 3)"),
    ("bad schedule name", lambda d: d["hours"]["schedules"].update({"Late Night": {"daily": []}}), "hours",
     'schedules["Late Night"]', "is not a valid name: must be 1 to 40 lowercase letters"),
    ("no groups", _set("groups", "groups", value=[]), "groups", "groups", "must not be empty"),
    ("bad group id", _set(*SHOES, "id", value="Shoes"), "groups", "groups[1].id", "must be 1 to 40 lowercase"),
    ("bad allocation", _set(*SHOES, "allocation", value="random"), "groups", "groups[1].allocation",
     'must be one of "least_loaded", "round_robin" (got "random")'),
    ("priority out of range", _set(*SHOES, "members", 1, "priority", value=10), "groups",
     "groups[1].members[1].priority", "must be at most 9"),
    ("priority zero", _set(*SHOES, "members", 1, "priority", value=0), "groups", "groups[1].members[1].priority",
     "must be at least 1"),
    ("member of wrong type", _set(*SHOES, "members", 0, value=7), "groups", "groups[1].members[0]",
     "must be an agent id or an object"),
    ("bad agent id", _set(*SHOES, "members", 0, value="Al Ice"), "groups", "groups[1].members[0]",
     "must be an agent id"),
    ("member without agent", _set(*SHOES, "members", 0, value={"priority": 1}), "groups",
     "groups[1].members[0].agent", "is required"),
    ("bad capacity key", _set("groups", "agents", "capacity", value={"bad key": 3}), "groups",
     'agents.capacity["bad key"]', "is not a valid name: must be an agent id"),
    ("max capacity zero", _set("groups", "agents", "max_capacity", value=0), "groups", "agents.max_capacity",
     "must be at least 1"),
    ("overflow without trigger", _set(*SHOES, "overflow", value={"to": ["general"]}), "groups",
     "groups[1].overflow", "needs at least one trigger"),
    ("misspelt trigger", _set(*SHOES, "overflow", value={"waiting_at_lest": 3}), "groups",
     "groups[1].overflow.waiting_at_lest", "unknown key"),
    ("ratio not above zero", _set(*SHOES, "overflow", "waiting_per_online_slot", value=0), "groups",
     "groups[1].overflow.waiting_per_online_slot", "must be more than 0"),
    ("empty match", _set(*RULE0, "match", value={}), "routing", "rules[0].match", "at least one condition"),
    ("bad channel", _set(*RULE0, "match", "channel", value=["sms"]), "routing", "rules[0].match.channel[0]",
     'must be one of "app", "mini_program", "web" (got "sms")'),
    ("empty match values", _set(*RULE0, "match", "tier", value=[]), "routing", "rules[0].match.tier",
     "must not be empty"),
    ("empty match value", _set(*RULE0, "match", "tier", value=[""]), "routing", "rules[0].match.tier[0]",
     "must not be empty"),
    ("unknown match field", _set(*RULE0, "match", "country", value=["CN"]), "routing", "rules[0].match.country",
     "unknown key (allowed: channel, source, category, tier, language)"),
    # meaning (checked after the schemas)
    ("span starting at 24:00", _set(*STD, "daily", value=[["24:00", "02:00"]]), "hours",
     "schedules.standard.daily[0][0]", "cannot start at 24:00"),
    ("span of no length", _set(*STD, "daily", value=[["08:00", "08:00"]]), "hours", "schedules.standard.daily[0]",
     "a span of no length"),
    ("overlapping spans", _set(*STD, "daily", value=[["13:00", "18:00"], ["08:00", "14:00"]]), "hours",
     "schedules.standard.daily[1]", 'overlaps daily[0] ["13:00", "18:00"]'),
    ("overlap past midnight", _set(*STD, "daily", value=[["20:00", "02:00"], ["23:00", "23:30"]]), "hours",
     "schedules.standard.daily[1]", "overlaps daily[0]"),
    ("overlap in special hours", _set(*STD, "special", 0, "hours", value=[["08:00", "02:00"], ["01:00", "09:00"]]),
     "hours", "schedules.standard.special[0].hours[1]", "overlaps hours[0]"),
    ("unknown time zone", _set("hours", "time_zone", value="Asia/Beijing"), "hours", "time_zone",
     'unknown time zone "Asia/Beijing"'),
    ("unknown schedule time zone", _set(*STD, "time_zone", value="Mars/Olympus_Mons"), "hours",
     "schedules.standard.time_zone", "unknown time zone"),
    ("from after to", _set(*STD, "special", 0, "from", value="2026-11-13"), "hours",
     "schedules.standard.special[0].to", "2026-11-12 is before from (2026-11-13)"),
    ("impossible date", _set(*STD, "closed", 1, value="2027-02-30"), "hours", "schedules.standard.closed[1]",
     "2027-02-30 is not a date"),
    ("overlapping special periods", _set(*STD, "special", 1, "from", value="2026-11-12"), "hours",
     "schedules.standard.special[1]", 'overlaps special[0] "11.11"'),
    ("duplicate group", _set("groups", "groups", 2, "id", value="shoes"), "groups", "groups[2].id",
     'duplicate group id "shoes" (also groups[1])'),
    ("duplicate member", lambda d: _group(d, "shoes")["members"].append("alice"), "groups",
     "groups[1].members[2]", 'agent "alice" is already a member (members[0])'),
    ("unknown schedule", _set(*SHOES, "hours", value="nights"), "groups", "groups[1].hours",
     'no schedule "nights" in hours (there: always, standard)'),
    ("overflow to itself", _set(*SHOES, "overflow", "to", value=["shoes"]), "groups", "groups[1].overflow.to[0]",
     "cannot overflow to itself"),
    ("overflow to unknown group", _set(*SHOES, "overflow", "to", value=["general", "backup"]), "groups",
     "groups[1].overflow.to[1]", 'no group "backup" in groups'),
    ("capacity over max", _set("groups", "agents", "capacity", value={"alice": 25}), "groups",
     "agents.capacity.alice", "must be at most agents.max_capacity, 20 (got 25)"),
    ("default capacity over max", _set("groups", "agents", "default_capacity", value=21), "groups",
     "agents.default_capacity", "must be at most agents.max_capacity, 20"),
    ("unknown rule group", _set(*RULE0, "group", value="vvip"), "routing", "rules[0].group", 'no group "vvip"'),
    ("unknown default group", _set("routing", "default_group", value="support"), "routing", "default_group",
     'no group "support" in groups (there: general, shoes'),
    ("duplicate rule name", _set("routing", "rules", 2, "name", value="Shoes"), "routing", "rules[2].name",
     'duplicate rule name "Shoes" (also rules[1])'),
    ("group name neither text nor languages", _set(*SHOES, "name", value=5), "groups", "groups[1].name",
     "must be a string or an object of languages (en, zh-CN) to strings (got 5)"),
    ("group name empty", _set(*SHOES, "name", value=""), "groups", "groups[1].name", "must not be empty"),
    ("group name blank", _set(*SHOES, "name", value="  "), "groups", "groups[1].name", "must not be blank"),
    ("group name too long", _set(*SHOES, "name", value="x" * 101), "groups", "groups[1].name",
     "must be at most 100 characters (got 101)"),
    ("group name in one language", _set(*SHOES, "name", value={"en": "Shoes"}), "groups", "groups[1].name.zh-CN",
     "is required"),
    ("group name in a third language", _set(*SHOES, "name", value={"en": "Shoes", "zh-CN": "鞋类", "fr": "C"}),
     "groups", "groups[1].name.fr", "unknown key (allowed: en, zh-CN)"),
    ("group name blank in one language", _set(*SHOES, "name", value={"en": "Shoes", "zh-CN": " "}), "groups",
     "groups[1].name.zh-CN", "must not be blank"),
    ("group name not text in one language", _set(*SHOES, "name", value={"en": "Shoes", "zh-CN": 3}), "groups",
     "groups[1].name.zh-CN", "must be a string (got 3)"),
    ("wrap-up without reasons", _set(*SHOES, "wrapup", value={"required": True}), "groups",
     "groups[1].wrapup.reasons", "is required"),
    ("wrap-up with an empty list", _set(*SHOES, "wrapup", "reasons", value=[]), "groups",
     "groups[1].wrapup.reasons", "must not be empty"),
    ("wrap-up reason code", _set(*SHOES, "wrapup", "reasons", 0, "code", value="Logistics!"), "groups",
     "groups[1].wrapup.reasons[0].code", "must be 1 to 40 lowercase letters"),
    ("wrap-up label in one language", _set(*SHOES, "wrapup", "reasons", 0, "label", value={"en": "Logistics"}),
     "groups", "groups[1].wrapup.reasons[0].label.zh-CN", "is required"),
    ("wrap-up label in a third language", _set(*SHOES, "wrapup", "reasons", 0, "label",
                                               value={"en": "A", "zh-CN": "乙", "fr": "C"}),
     "groups", "groups[1].wrapup.reasons[0].label.fr", "unknown key"),
    ("wrap-up label blank", _set(*SHOES, "wrapup", "reasons", 0, "label", value={"en": " ", "zh-CN": "物流"}),
     "groups", "groups[1].wrapup.reasons[0].label.en", "must not be blank"),
    ("wrap-up code twice", _set(*SHOES, "wrapup", "reasons", 1, "code", value="logistics"), "groups",
     "groups[1].wrapup.reasons[1].code", 'duplicate reason code "logistics" (also reasons[0])'),
    ("wrap-up required not a boolean", _set(*SHOES, "wrapup", "required", value="yes"), "groups",
     "groups[1].wrapup.required", "must be true or false"),
    ("wrap-up unknown key", _set(*SHOES, "wrapup", "optional", value=True), "groups",
     "groups[1].wrapup.optional", "unknown key"),
]


def test_a_group_name_is_one_text_or_one_per_language() -> None:
    docs = _docs()
    _group(docs, "shoes")["name"] = " Shoes "
    _group(docs, "cosmetics")["name"] = {"en": " Cosmetics ", "zh-CN": "美妆"}
    groups = parse(**docs).groups
    # A plain text is every language's name, as before; trimmed like a reason's label.
    assert groups["shoes"].name == "Shoes"
    assert groups["shoes"].names() == {"en": "Shoes", "zh-CN": "Shoes"}
    assert groups["cosmetics"].name == {"en": "Cosmetics", "zh-CN": "美妆"}
    assert [groups["cosmetics"].label(lang) for lang in (None, "en", "zh", "zh-Hans-CN", "fr")] == [
        "Cosmetics", "Cosmetics", "美妆", "美妆", "Cosmetics"]
    assert groups["cosmetics"].ref() == {"id": "cosmetics", "name": "Cosmetics",
                                         "names": {"en": "Cosmetics", "zh-CN": "美妆"}}


def test_the_shipped_groups_are_named_in_chinese_and_english() -> None:
    groups = parse(**_docs()).groups
    assert {g: groups[g].names()["zh-CN"] for g in groups} == {
        "general": "综合服务", "shoes": "鞋类专区", "cosmetics": "美妆护肤", "electronics": "3C 数码",
        "vip": "VIP 专属服务"}
    assert groups["general"].label() == "General support"


def test_the_shipped_wrapup_reasons_one_group_requires_one_asks_and_general_asks_none() -> None:
    config = parse(**_docs())
    shoes, electronics = config.groups["shoes"].wrapup, config.groups["electronics"].wrapup
    assert shoes.required and not electronics.required and config.groups["general"].wrapup.reasons == ()
    assert shoes.reason("logistics") is not None and shoes.reason("logistics").label == {  # type: ignore[union-attr]
        "zh-CN": "物流查询", "en": "Logistics"}
    assert {"logistics", "returns", "quality", "coupons", "orders", "other"} <= {r.code for r in shoes.reasons}
    assert shoes.reason("nope") is None


@pytest.mark.parametrize(("change", "document", "path", "fragment"), [case[1:] for case in BAD],
                         ids=[case[0] for case in BAD])
def test_bad_documents(change: Callable[[Docs], Any], document: str, path: str, fragment: str) -> None:
    err = _error(change)
    assert (err.document, err.path) == (document, path), str(err)
    assert fragment in err.message


def test_bad_json_names_the_file_and_line(tmp_path: Path) -> None:
    for name in DOCUMENTS:
        (tmp_path / f"{name}.json").write_text(json.dumps(DEFAULTS[name], indent=2))
    (tmp_path / "groups.json").write_text('{\n  "groups": [\n    {"id": "general",}\n  ]\n}\n')
    with pytest.raises(ConfigError) as err:
        load_directory(tmp_path)
    assert err.value.document == "groups"
    assert f"{tmp_path / 'groups.json'} at line 3, column 22" in str(err.value)


def test_a_key_given_twice_is_refused(tmp_path: Path) -> None:
    for name in DOCUMENTS:
        (tmp_path / f"{name}.json").write_text(json.dumps(DEFAULTS[name]))
    (tmp_path / "routing.json").write_text('{"rules": [], "default_group": "general", "default_group": "vip"}')
    with pytest.raises(ConfigError, match='key "default_group" appears twice'):
        load_directory(tmp_path)


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        load_directory(tmp_path)
    assert str(err.value) == f"hours: missing file {tmp_path / 'hours.json'}"


@pytest.fixture(params=DOCUMENTS)
def document(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


def test_each_schema_is_draft_07_and_accepts_the_defaults(document: str) -> None:
    # A second, independent validator: the schemas must mean the same to any tool that reads them.
    jsonschema.Draft7Validator.check_schema(schema(document))
    jsonschema.Draft7Validator(schema(document)).validate(DEFAULTS[document])


def _properties(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        yield from node.get("properties", {})
        for value in node.values():
            yield from _properties(value)
    elif isinstance(node, list):
        for value in node:
            yield from _properties(value)


def test_the_docs_describe_every_field(document: str) -> None:
    section = (ROOT / "docs" / "configuration.md").read_text().split("## Routing, service hours and queues", 1)[1]
    described = set(re.findall(r"`([a-z_]+)`", section))
    # A per-language text's keys are languages (``en``, ``zh-CN``), described once as such, not as fields.
    assert set(_properties(schema(document))) - described - set(LANGUAGES) == set()
    assert "`{\"en\": \"...\", \"zh-CN\": \"...\"}`" in section

"""The FAQ and robot-settings bodies refuse what the store refuses, naming the same field: the REST models
and chalicelib/faq/store.py (which file imports go through) cannot drift apart."""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib.faq import synonyms as syn
from chalicelib.faq.schemas import FaqCreate, FaqUpdate, RobotSettingsUpdate
from chalicelib.faq.store import FaqError, validate_faq, validate_robot_settings
from chalicelib.platform.http import BadRequest, Body, parse_body

REFUND = {"faq_id": "refund-time", "question": "How long does a refund take?", "answer": "3 to 5 working days."}


class _LeftOut:
    """A field left out of the body. Its name is fixed: every test worker must collect the same test ids."""

    def __repr__(self) -> str:
        return "LEFT_OUT"


LEFT_OUT = _LeftOut()

FAQS: list[dict[str, Any]] = [
    {"faq_id": LEFT_OUT}, {"question": LEFT_OUT}, {"faq_id": None}, {"faq_id": 5}, {"faq_id": "has space"},
    {"faq_id": "-dash"}, {"faq_id": "x" * 129}, {"faq_id": "x" * 128}, {"faq_id": "import"},
    {"question": ""}, {"question": "  "}, {"question": 5}, {"question": None}, {"question": " " + "q" * 500 + " "},
    {"question": "q" * 501}, {"enabled": "true"}, {"enabled": None}, {"answer": ""}, {"answer": None},
    {"answer": " ", "enabled": False}, {"answer": "a" * 5001}, {"language": "de"}, {"language": None},
    {"similar": "not a list"}, {"similar": None}, {"similar": ["ok", 3]}, {"similar": ["ok", " "]},
    {"similar": ["s" * 501]}, {"similar": ["a | b"]}, {"similar": [f"q{i}" for i in range(201)]},
    {"similar": [f"q{i}" for i in range(200)] + ["q1", REFUND["question"]]},  # repeats are not counted
    {"category": "c" * 61}, {"category": " "}, {"category": 5}, {"product_category": "c" * 61},
    {"tags": "orders"}, {"tags": ["t" * 41]}, {"tags": ["a|b"]}, {"tags": [f"t{i}" for i in range(21)]},
    {"tags": ["t"] * 30}, {"colour": "red"}, {"zz": 1, "question": ""}, {"faq_id": " "},
    {"faq_id": LEFT_OUT, "question": ""}, {"faq_id": None, "answer": None},
]
SETTINGS: list[dict[str, Any]] = [
    {"greeting": ""}, {"greeting": None}, {"greeting": "g" * 501}, {"greeting": " Hi "},
    {"threshold": 2}, {"threshold": -0.1}, {"threshold": True}, {"threshold": "0.5"}, {"threshold": 1e-200},
    {"threshold": 0}, {"threshold": None}, {"handoff_keywords": []}, {"handoff_keywords": None},
    {"handoff_keywords": [" "]}, {"handoff_keywords": ["k" * 41]}, {"handoff_keywords": [f"k{i}" for i in range(51)]},
    {"handoff_keywords": ["a|b"] * 60}, {"misses_before_handoff": 11}, {"misses_before_handoff": -1},
    {"misses_before_handoff": 1.5}, {"misses_before_handoff": True}, {"misses_before_handoff": None},
    {"suggestions": 0}, {"suggestions": 11}, {"suggestions": None}, {"suggested_questions": None},
    {"suggested_questions": [f"f{i}" for i in range(11)]}, {"suggested_questions": ["bad id"]},
    {"suggested_questions": [" ok "]}, {"mood": "x"}, {"synonyms": "a,b"}, {"synonyms": None}, {"synonyms": []},
    {"synonyms": [["a"]]}, {"synonyms": [["a", "a"]]}, {"synonyms": [["a", ""]]}, {"synonyms": [["a", 3]]},
    {"synonyms": [["a", "b" * 31]]}, {"synonyms": [[f"t{i}" for i in range(21)]]}, {"synonyms": ["ab"]},
    {"synonyms": [[f"a{i}", f"b{i}"] for i in range(201)]},
    # per-language texts: the part at fault is named (greeting.fr, phrases.miss.zh-CN...)
    {"greeting": {"fr": "Bonjour"}}, {"greeting": {}}, {"greeting": 5}, {"greeting": {"en": " "}},
    {"greeting": {"zh-CN": "您" * 501}}, {"greeting": {"en": "Hi", "zh-CN": "您好"}}, {"phrases": {"bye": "Bye"}},
    {"phrases": "Bye"}, {"phrases": None}, {"phrases": {"miss": {"zh-CN": ""}}}, {"phrases": {"thanks": 3}},
    {"phrases": {"miss": "Hm?", "handoff": {"zh-CN": "稍等"}}}, {"suggested_questions": {"de": ["a"]}},
    {"suggested_questions": {}}, {"suggested_questions": {"zh-CN": ["bad id"]}},
    {"suggested_questions": {"zh-CN": [f"f{i}" for i in range(11)]}}, {"suggested_questions": {"en": "a"}},
    {"suggested_questions": {"en": ["a"], "zh-CN": ["b"]}},
]


def refused_field(parse: Any, data: dict[str, Any]) -> str | None:
    """The field ``parse`` refuses ``data`` for, or "" if it takes it."""
    try:
        parse(data)
    except (BadRequest, FaqError) as err:
        return err.field
    return ""


def model(cls: type[Body]) -> Any:
    return lambda data: parse_body(cls, data)


@pytest.mark.parametrize("changes", FAQS, ids=lambda c: str(c)[:60])
def test_a_new_faq_is_refused_for_the_field_the_store_refuses_it_for(changes: dict[str, Any]) -> None:
    body = {k: v for k, v in {**REFUND, **changes}.items() if v is not LEFT_OUT}
    # Without an id (left out, null or blank) the API makes one before the store sees the FAQ.
    given = body.get("faq_id")
    stored = {**body, "faq_id": "made-1"} if given is None or (isinstance(given, str) and not given.strip()) else body
    assert refused_field(model(FaqCreate), body) == refused_field(validate_faq, stored)


# Not the rules the update leaves to the store or the path: a new faq_id, an enabled FAQ's answer.
@pytest.mark.parametrize("changes", [c for c in FAQS if "faq_id" not in c and c.get("answer", "x")
                                     and LEFT_OUT not in c.values()], ids=lambda c: str(c)[:60])
def test_a_faq_update_refuses_a_bad_value_for_the_field_the_store_refuses_it_for(changes: dict[str, Any]) -> None:
    body = {"question": REFUND["question"], **changes}
    assert refused_field(model(FaqUpdate), body) == refused_field(validate_faq, {**REFUND, **body})


@pytest.mark.parametrize("data", SETTINGS, ids=lambda d: str(d)[:60])
def test_robot_settings_are_refused_for_the_field_the_store_refuses_them_for(data: dict[str, Any]) -> None:
    assert refused_field(model(RobotSettingsUpdate), data) == refused_field(validate_robot_settings, data)


def test_a_synonym_in_two_groups_is_left_to_the_store_which_names_its_place() -> None:
    data = {"synonyms": [["parcel", "box"], ["package", "Parcel"]]}
    assert refused_field(model(RobotSettingsUpdate), data) == ""
    assert refused_field(validate_robot_settings, data) == "synonyms[1][1]"


def test_a_refusal_names_a_list_item_by_its_index_and_says_the_rule() -> None:
    with pytest.raises(BadRequest) as refused:
        parse_body(RobotSettingsUpdate, {"synonyms": [["a", "b"], ["c", " "]]})
    assert refused.value.field == "synonyms[1][1]"
    with pytest.raises(BadRequest) as reserved:
        parse_body(FaqCreate, {**REFUND, "faq_id": "export"})
    reason = "'faq_id' 'export' is reserved (a route of its own); choose another id"
    assert reserved.value.body() == {"code": "invalid_body", "field": "faq_id", "message": reason,
                                     "errors": [{"field": "faq_id", "message": reason, "code": "rule"}]}


def test_every_faulty_field_is_listed_and_the_first_is_still_named() -> None:
    with pytest.raises(BadRequest) as refused:
        parse_body(FaqCreate, {"faq_id": "has space", "question": " ", "answer": "a" * 5001, "similar": ["ok", 3],
                               "language": "de", "colour": "red"})
    body = refused.value.body()
    # Unknown fields first, then the body's fields in the model's order; field and message stay the first.
    assert (body["code"], body["field"], body["message"]) == ("invalid_body", "colour", "'colour' is not a known field")
    assert [(e["field"], e["message"]) for e in body["errors"]] == [
        ("colour", "'colour' is not a known field"),
        ("faq_id", "'faq_id' must be 1 to 128 letters, digits or _ . : / - and start with a letter or digit"),
        ("question", "'question' must be a non-empty string"),
        ("answer", "'answer' may be at most 5000 characters"),
        ("language", "'language' must be one of en, zh"),
        ("similar[1]", "'similar[1]' must be a non-empty string"),
    ]
    # The kind of each refusal as a code (with its limit), for a page or an app to say in its own language.
    assert [(e["code"], e.get("limit")) for e in body["errors"]] == [
        ("unknown", None), ("format", None), ("blank", None), ("too_long", 5000), ("choice", None),
        ("invalid", None)]


def test_a_list_over_its_limit_is_coded_too_many_with_the_limit() -> None:
    with pytest.raises(BadRequest) as refused:
        parse_body(RobotSettingsUpdate, {"synonyms": [["a", "b"]] * (syn.MAX_GROUPS + 1)})
    (fault,) = refused.value.body()["errors"]
    assert (fault["field"], fault["code"], fault["limit"]) == ("synonyms", "too_many", syn.MAX_GROUPS)
    with pytest.raises(BadRequest) as missing:
        parse_body(FaqCreate, {"answer": "a"})
    assert {(e["field"], e["code"]) for e in missing.value.body()["errors"]} >= {("question", "required")}


def test_a_new_faq_needs_no_id() -> None:
    for faq_id in (LEFT_OUT, None, "", "   "):
        body = {k: v for k, v in {**REFUND, "faq_id": faq_id}.items() if v is not LEFT_OUT}
        assert parse_body(FaqCreate, body).faq_id is None

"""FaqStore on moto: CRUD, versions, paging, batch writes and the robot's settings; validation of both."""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib.faq.model import DEFAULT_GREETING, Faq, RobotSettings
from chalicelib.faq.store import (
    FaqConflict,
    FaqError,
    FaqNotFound,
    FaqStore,
    validate_faq,
    validate_robot_settings,
)
from chalicelib.platform.clock import Clock as ServiceClock

RETURNS = Faq("returns", "How do I return an item?", "Within 7 days: https://shop.example.com/returns",
              similar=("can i send it back",), category="returns", tags=("policy",))


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        self.now += 1
        return self.now


@pytest.fixture
def store(aws: None) -> FaqStore:
    return FaqStore(clock=ServiceClock(Clock()))


def faq(faq_id: str, **kwargs: Any) -> Faq:
    fields: dict[str, Any] = {"question": f"Question {faq_id}?", "answer": f"Answer {faq_id}."}
    fields.update(kwargs)
    return Faq(faq_id, **fields)


# -- validation -----------------------------------------------------------------------------------

def valid(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {"faq_id": "shipping/time", "question": "How long does delivery take?",
                            "answer": "2-4 days."}
    data.update(changes)
    return data


def test_validation_trims_and_drops_repeated_similar_questions() -> None:
    checked = validate_faq(valid(question="  How long?  ", similar=[" how long? ", "How long?", "eta", "eta"],
                                 category="", tags=["a", "a"], language="zh"))
    assert checked == Faq("shipping/time", "How long?", "2-4 days.", similar=("how long?", "eta"),
                          category=None, tags=("a",), language="zh")


@pytest.mark.parametrize(("changes", "field"), [
    ({"faq_id": "-leading-dash"}, "faq_id"),
    ({"faq_id": "has space"}, "faq_id"),
    ({"faq_id": "x" * 129}, "faq_id"),
    ({"faq_id": "export"}, "faq_id"),
    ({"question": ""}, "question"),
    ({"question": "q" * 501}, "question"),
    ({"question": 5}, "question"),
    ({"answer": "a" * 5001}, "answer"),
    ({"answer": ""}, "answer"),
    ({"similar": "not a list"}, "similar"),
    ({"similar": ["ok", ""]}, "similar[1]"),
    ({"similar": ["s" * 501]}, "similar[0]"),
    ({"similar": ["a | b"]}, "similar[0]"),
    ({"similar": [f"q{i}" for i in range(201)]}, "similar"),
    ({"category": "c" * 61}, "category"),
    ({"product_category": "c" * 61}, "product_category"),
    ({"tags": [f"t{i}" for i in range(21)]}, "tags"),
    ({"tags": ["t" * 41]}, "tags[0]"),
    ({"language": "fr"}, "language"),
    ({"enabled": "yes"}, "enabled"),
    ({"colour": "red"}, "colour"),
])
def test_validation_names_the_bad_field(changes: dict[str, Any], field: str) -> None:
    with pytest.raises(FaqError) as raised:
        validate_faq(valid(**changes))
    assert raised.value.field == field
    assert field.split("[")[0] in raised.value.message


def test_only_a_disabled_faq_may_lack_an_answer() -> None:
    assert validate_faq(valid(answer="", enabled=False)).answer == ""
    assert validate_faq({"faq_id": "x", "question": "q?", "enabled": False}).answer == ""


def test_limits_at_their_edges_are_accepted() -> None:
    checked = validate_faq(valid(faq_id="a" * 128, question="q" * 500, answer="a" * 5000,
                                 similar=[f"s{i}" for i in range(200)], category="c" * 60,
                                 tags=["t" * 40] * 1 + [f"t{i}" for i in range(19)]))
    assert len(checked.similar) == 200
    assert len(checked.tags) == 20


# -- CRUD and versions ----------------------------------------------------------------------------

def test_create_get_update_delete(store: FaqStore) -> None:
    created = store.create(RETURNS)
    assert (created.version, created.faq) == (1, RETURNS)
    assert store.get("returns") == RETURNS
    assert store.get("nope") is None
    updated = store.update("returns", {"answer": "Within 14 days.", "tags": []})
    assert updated.version == 2
    assert updated.created_at == created.created_at < updated.updated_at
    assert store.get("returns") == Faq("returns", RETURNS.question, "Within 14 days.", similar=RETURNS.similar,
                                       category="returns")
    assert store.delete("returns") is True
    assert store.delete("returns") is False
    assert store.get("returns") is None


def test_create_refuses_a_taken_id(store: FaqStore) -> None:
    store.create(RETURNS)
    with pytest.raises(FaqConflict) as raised:
        store.create(faq("returns"))
    assert raised.value.field == "faq_id"
    assert store.get("returns") == RETURNS


def test_update_with_a_stale_version_is_a_conflict_and_changes_nothing(store: FaqStore) -> None:
    store.create(RETURNS)
    store.update("returns", {"answer": "First edit."}, expected_version=1)
    with pytest.raises(FaqConflict) as raised:
        store.update("returns", {"answer": "Second edit from an old copy."}, expected_version=1)
    assert raised.value.field == "version"
    record = store.get_record("returns")
    assert record is not None
    assert (record.version, record.faq.answer) == (2, "First edit.")


def test_update_validates_the_result_and_keeps_the_id(store: FaqStore) -> None:
    store.create(RETURNS)
    with pytest.raises(FaqError) as bad:
        store.update("returns", {"answer": "a" * 5001})
    assert bad.value.field == "answer"
    with pytest.raises(FaqError) as renamed:
        store.update("returns", {"faq_id": "other"})
    assert renamed.value.field == "faq_id"
    with pytest.raises(FaqNotFound):
        store.update("missing", {"answer": "x"})
    assert store.get("returns") == RETURNS


def test_put_creates_or_replaces_and_keeps_counting_versions(store: FaqStore) -> None:
    store.put(RETURNS)
    first = store.get_record("returns")
    store.put(faq("returns", category=None))
    second = store.get_record("returns")
    assert first is not None
    assert second is not None
    assert (first.version, second.version) == (1, 2)
    assert second.created_at == first.created_at
    assert second.faq == faq("returns")


def test_put_many_writes_in_batches_and_keeps_versions(store: FaqStore) -> None:
    store.create(faq("f000"))
    written: list[int] = []
    faqs = [faq(f"f{i:03d}", similar=(f"paraphrase {i}",)) for i in range(60)]
    assert store.put_many(faqs, written.append) == 60
    assert written == [25, 25, 10]
    assert sorted(store.all(), key=lambda f: f.faq_id) == faqs
    record = store.get_record("f000")
    assert record is not None
    assert record.version == 2
    assert store.get_many(["f001", "f059", "nope", "f001"]) == {"f001": faqs[1], "f059": faqs[59]}


# -- paging ---------------------------------------------------------------------------------------

def test_paging_visits_every_faq_once_with_filters(store: FaqStore) -> None:
    store.put_many([faq(f"en{i:02d}", category="shipping" if i % 3 == 0 else "returns") for i in range(23)]
                   + [faq(f"zh{i}", question=f"问题{i}", language="zh", category="shipping") for i in range(4)])
    seen: list[str] = []
    cursor = None
    for _ in range(10):
        records, cursor = store.page(limit=5, cursor=cursor)
        assert len(records) <= 5
        seen += [r.faq.faq_id for r in records]
        if cursor is None:
            break
    assert sorted(seen) == sorted({*seen}) and len(seen) == 27

    shipping, cursor = store.page(limit=100, category="shipping")
    assert cursor is None
    assert len(shipping) == 8 + 4
    chinese_shipping, _ = store.page(limit=100, category="shipping", language="zh")
    assert {r.faq.faq_id for r in chinese_shipping} == {"zh0", "zh1", "zh2", "zh3"}
    first, cursor = store.page(limit=3, category="shipping", language="en")
    rest, end = store.page(limit=100, cursor=cursor, category="shipping", language="en")
    assert end is None
    assert len(first) + len(rest) == 8


def test_a_forged_cursor_is_a_bad_request(store: FaqStore) -> None:
    with pytest.raises(FaqError) as raised:
        store.page(limit=5, cursor="not-a-cursor")
    assert raised.value.field == "cursor"


# -- robot settings -------------------------------------------------------------------------------

def test_robot_settings_default_until_saved(store: FaqStore) -> None:
    assert store.robot_settings() == RobotSettings()
    assert store.robot_settings().greeting == DEFAULT_GREETING
    saved = store.save_robot_settings(RobotSettings(greeting="Hello!", threshold=0.7, handoff_keywords=("agent",),
                                                    misses_before_handoff=0, suggestions=5,
                                                    suggested_questions=("returns",),
                                                    synonyms=(("优惠", "折扣"), ("parcel", "package", "box"))))
    assert store.robot_settings() == saved
    assert saved.threshold == 0.7
    assert saved.synonyms == (("优惠", "折扣"), ("parcel", "package", "box"))
    cleared = store.save_robot_settings(validate_robot_settings({"synonyms": []}, saved))
    assert store.robot_settings().synonyms == cleared.synonyms == ()


def test_robot_settings_merge_over_a_base_and_reset_the_threshold() -> None:
    base = RobotSettings(threshold=0.6, suggestions=4)
    merged = validate_robot_settings({"greeting": " Hi ", "threshold": None}, base)
    assert merged == RobotSettings(greeting="Hi", threshold=None, suggestions=4)


@pytest.mark.parametrize(("data", "field"), [
    ({"threshold": 1.5}, "threshold"),
    ({"threshold": -0.1}, "threshold"),
    ({"threshold": True}, "threshold"),
    ({"threshold": "0.5"}, "threshold"),
    ({"greeting": ""}, "greeting"),
    ({"greeting": "g" * 501}, "greeting"),
    ({"handoff_keywords": []}, "handoff_keywords"),
    ({"handoff_keywords": [f"k{i}" for i in range(51)]}, "handoff_keywords"),
    ({"handoff_keywords": ["k" * 41]}, "handoff_keywords[0]"),
    ({"misses_before_handoff": 11}, "misses_before_handoff"),
    ({"misses_before_handoff": -1}, "misses_before_handoff"),
    ({"misses_before_handoff": 1.5}, "misses_before_handoff"),
    ({"suggestions": 0}, "suggestions"),
    ({"suggestions": 11}, "suggestions"),
    ({"suggested_questions": [f"f{i}" for i in range(11)]}, "suggested_questions"),
    ({"suggested_questions": ["bad id"]}, "suggested_questions[0]"),
    ({"mood": "cheerful"}, "mood"),
    ({"synonyms": "优惠,折扣"}, "synonyms"),  # a list of groups, not a line
    ({"synonyms": [["优惠"]]}, "synonyms[0]"),  # a group of one says nothing
    ({"synonyms": [["优惠", "优惠"]]}, "synonyms[0]"),  # nor does one term twice
    ({"synonyms": [["a", ""]]}, "synonyms[0][1]"),
    ({"synonyms": [["a", "b" * 31]]}, "synonyms[0][1]"),
    ({"synonyms": [[f"t{i}" for i in range(21)]]}, "synonyms[0]"),
    ({"synonyms": [["优惠", "折扣"], ["打折", "优惠"]]}, "synonyms[1][1]"),  # one term, two meanings
    ({"synonyms": [["Parcel", "box"], ["parcel", "package"]]}, "synonyms[1][0]"),  # compared case-folded
    ({"synonyms": [["Parcel", "parcel"]]}, "synonyms[0][1]"),
    ({"synonyms": [[f"a{i}", f"b{i}"] for i in range(201)]}, "synonyms"),
])
def test_robot_settings_validation_names_the_bad_field(data: dict[str, Any], field: str) -> None:
    with pytest.raises(FaqError) as raised:
        validate_robot_settings(data)
    assert raised.value.field == field


def test_robot_settings_limits_at_their_edges_are_accepted() -> None:
    edge = validate_robot_settings({"threshold": 0, "misses_before_handoff": 10, "suggestions": 10,
                                    "handoff_keywords": [f"k{i}" for i in range(50)],
                                    "suggested_questions": [f"f{i}" for i in range(10)],
                                    "synonyms": [[f"{i:03}{j:02}" + "t" * 25 for j in range(20)] for i in range(200)]})
    assert (edge.threshold, edge.misses_before_handoff, edge.suggestions) == (0.0, 10, 10)
    assert len(edge.synonyms) == 200 and {len(g) for g in edge.synonyms} == {20}

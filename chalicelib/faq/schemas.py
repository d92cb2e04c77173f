"""Request bodies of the robot-management API (docs/openapi.yaml documents their JSON Schemas).

The FAQ and robot-settings bodies state the rules of chalicelib/faq/store.py (``validate_faq``,
``validate_robot_settings``): the same limits, text trimmed first, the same field named on a refusal. The
store still checks what it writes, for file imports come through it alone and a few rules need more than the
body (each model says which).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Annotated, Any, ClassVar, Literal, get_args

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    StringConstraints,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
)

from chalicelib.faq import synonyms as syn
from chalicelib.faq.model import LANGUAGES, ORDER_ACTIONS, ORDER_CHECKS, PHRASES
from chalicelib.faq.store import (
    FAQ_ID_PATTERN,
    LIST_BAR,
    MAX_ACTION_LABEL,
    MAX_ACTION_URL,
    MAX_ANSWER,
    MAX_CATEGORY,
    MAX_CHECK_ATTEMPTS,
    MAX_GREETING,
    MAX_KEYWORD,
    MAX_KEYWORDS,
    MAX_MISSES,
    MAX_PHRASE,
    MAX_QUESTION,
    MAX_RECENT_ORDERS,
    MAX_SIMILAR,
    MAX_STATUS,
    MAX_STATUSES,
    MAX_SUGGESTED_QUESTIONS,
    MAX_SUGGESTIONS,
    MAX_TAG,
    MAX_TAGS,
    MIN_THRESHOLD,
    RESERVED_IDS,
    FaqError,
    local_text,
    order_settings,
    order_settings_json,
    robot_phrases,
    suggested_questions,
)
from chalicelib.faq.transfer import FORMATS
from chalicelib.i18n import LANGUAGES as TEXT_LANGUAGES
from chalicelib.platform.http import Body, FieldRefusal, Missing, NonBlank

MAX_IMPORT_CHARS = 5_000_000  # API Gateway takes 10 MB a request; bigger files go through the CLI

Language = Literal["en", "zh"]
Format = Literal["jsonl", "csv"]
assert (get_args(Language), get_args(Format)) == (LANGUAGES, FORMATS)


class RobotTry(Body):
    """POST /robot/try: what the robot would do with ``query``."""

    MESSAGES: ClassVar[dict[str, str]] = {"language": f"'language' must be one of {', '.join(LANGUAGES)}"}

    query: NonBlank = Field(max_length=MAX_QUESTION)
    language: Language | None = None


class FaqImport(Body):
    """POST /faqs/import: a whole file, all rows or none."""

    MESSAGES: ClassVar[dict[str, str]] = {
        "format:required": f"'format' is required: one of {', '.join(FORMATS)}",
        "format": f"'format' must be one of {', '.join(FORMATS)}",
        "data:too_long": f"'data' may be at most {MAX_IMPORT_CHARS} characters; import bigger files with the CLI "
                         "(make faq-import)",
        "data": "'data' must be the file's text",
        "namespace": "'namespace' must be 1 to 60 letters, digits or _ . : / -",
    }

    format: Format
    data: NonBlank = Field(max_length=MAX_IMPORT_CHARS)
    namespace: str | None = Field(None, max_length=60, pattern=f"^{FAQ_ID_PATTERN}$")


# -- FAQs and the robot's settings ----------------------------------------------------------------
# A rule of a model raises ValueError with the predicate alone; the refusal puts the field's name first.

_FAQ_ID = re.compile(FAQ_ID_PATTERN)
FAQ_ID_RULE = "'faq_id' must be 1 to 128 letters, digits or _ . : / - and start with a letter or digit"


def _no_bar(text: str) -> str:
    if LIST_BAR in text:
        raise ValueError(f"may not contain '{LIST_BAR}' (it separates list items in CSV)")
    return text


def _not_reserved(faq_id: str) -> str:
    if faq_id in RESERVED_IDS:
        raise ValueError(f"'{faq_id}' is reserved (a route of its own); choose another id")
    return faq_id


def _not_null(value: Any) -> Any:
    """For fields that may be left out but not sent as null (the refusal says the field is required)."""
    if value is None:
        raise Missing("is required")
    return value


def _distinct(items: list[str] | None) -> list[str]:
    """The items without repeats, in order: limits on a list count these, as the store keeps them."""
    return list(dict.fromkeys(items or ()))


def _at_most(items: list[str], limit: int, what: str = "items") -> None:
    if len(items) > limit:
        raise ValueError(f"may have at most {limit} {what} (it has {len(items)})")


FaqId = Annotated[str, StringConstraints(max_length=128, pattern=f"^{FAQ_ID_PATTERN}$")]
# Text is trimmed before its length is checked; an optional text left blank means none.
Question = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_QUESTION)]
Answer = Annotated[str, StringConstraints(strip_whitespace=True, max_length=MAX_ANSWER)]
Category = Annotated[str, StringConstraints(strip_whitespace=True, max_length=MAX_CATEGORY)]
Similar = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_QUESTION),
                    AfterValidator(_no_bar)]
Tag = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_TAG),
                AfterValidator(_no_bar)]


def _store_rule(check: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """The store's own check of a field whose parts it names (``greeting.zh-CN``), as the body's rule; null is
    left to the field's other rules."""
    def run(value: Any) -> Any:
        if value is None:
            return None
        try:
            return check(value)
        except FaqError as err:
            raise FieldRefusal(err.field or "", err.message) from None
    return run


def _text_schema(max_length: int) -> dict[str, Any]:
    """A shop text's JSON Schema: one string, or one per language."""
    one = {"type": "string", "minLength": 1, "maxLength": max_length}
    return {"oneOf": [one, {"type": "object", "additionalProperties": False, "minProperties": 1,
                            "properties": dict.fromkeys(TEXT_LANGUAGES, one)}]}


Greeting = Annotated[Any, BeforeValidator(_store_rule(lambda v: local_text(v, "greeting", MAX_GREETING))),
                     WithJsonSchema(_text_schema(MAX_GREETING))]
Phrases = Annotated[Any, BeforeValidator(_store_rule(robot_phrases)),
                    WithJsonSchema({"type": "object", "additionalProperties": False,
                                    "properties": {name: _text_schema(MAX_PHRASE) for name in PHRASES}})]
_ACTION = {"type": "object", "additionalProperties": False, "properties": {
    "url": {"type": "string", "maxLength": MAX_ACTION_URL, "nullable": True},
    "handoff": {"type": "boolean"},
    "label": _text_schema(MAX_ACTION_LABEL),
    "statuses": {"type": "array", "maxItems": MAX_STATUSES, "items": {"type": "string", "maxLength": MAX_STATUS}}}}
# The store's check, answered as the store keeps it (every action, those not offered as null).
Orders = Annotated[Any, BeforeValidator(_store_rule(lambda v: order_settings_json(order_settings(v)))),
                   WithJsonSchema({"type": "object", "additionalProperties": False, "properties": {
                       "enabled": {"type": "boolean"}, "number_prefix": {"type": "string", "maxLength": 9},
                       "check": {"type": "string", "enum": list(ORDER_CHECKS), "nullable": True},
                       "check_attempts": {"type": "integer", "minimum": 1, "maximum": MAX_CHECK_ATTEMPTS},
                       "recent": {"type": "integer", "minimum": 1, "maximum": MAX_RECENT_ORDERS},
                       "actions": {"type": "object", "additionalProperties": False,
                                   "properties": {name: {**_ACTION, "nullable": True} for name in ORDER_ACTIONS}}}})]
_IDS = {"type": "array", "maxItems": MAX_SUGGESTED_QUESTIONS, "items": {"type": "string", "maxLength": 128}}
SuggestedQuestions = Annotated[Any, BeforeValidator(_store_rule(suggested_questions)), WithJsonSchema(
    {"oneOf": [_IDS, {"type": "object", "additionalProperties": False, "minProperties": 1,
                      "properties": dict.fromkeys(TEXT_LANGUAGES, _IDS)}]})]
Keyword = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_KEYWORD)]
Term = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=syn.MAX_TERM)]


def _synonym_group(terms: list[str]) -> list[str]:
    distinct = _distinct(terms)
    _at_most(distinct, syn.MAX_TERMS)
    if len(distinct) < 2:
        raise ValueError("needs at least two terms")
    return terms


SynonymGroup = Annotated[list[Term], AfterValidator(_synonym_group)]

_FAQ_MESSAGES = {
    **{f"faq_id:{kind}": FAQ_ID_RULE for kind in ("invalid", "format", "too_long")},
    "enabled": "'enabled' must be true or false",
    "language": f"'language' must be one of {', '.join(LANGUAGES)}",
    "similar:invalid": "'similar' must be a list of strings",
    "tags:invalid": "'tags' must be a list of strings",
}


class _FaqBody(Body):
    """What a new FAQ and an update check alike; the fields (and so the order of checks) are each class's own."""

    @field_validator("tags", check_fields=False)
    @classmethod
    def _few_tags(cls, tags: list[str] | None) -> list[str] | None:
        _at_most(_distinct(tags), MAX_TAGS)
        return tags


class FaqCreate(_FaqBody):
    """POST /faqs: a new FAQ. Similar questions that repeat the question or one another are dropped (by the
    store) and not counted."""

    MESSAGES: ClassVar[dict[str, str]] = _FAQ_MESSAGES

    # In the order the store checks them, so a body with several faults is refused for the same one.
    # Left out, null or blank: the server makes one from the question (chalicelib/faq/store.py new_faq_id).
    faq_id: Annotated[FaqId, AfterValidator(_not_reserved)] | None = None
    question: Question
    enabled: bool = True
    answer: Answer | None = Field(None, validate_default=True)
    language: Language = "en"
    similar: list[Similar] | None = None
    category: Category | None = None
    product_category: Category | None = None
    tags: list[Tag] | None = None

    @field_validator("faq_id", mode="before")
    @classmethod
    def _blank_is_none(cls, faq_id: Any) -> Any:
        return None if isinstance(faq_id, str) and not faq_id.strip() else faq_id

    @field_validator("answer")
    @classmethod
    def _answered(cls, answer: str | None, info: ValidationInfo) -> str | None:
        if not answer and info.data.get("enabled") is True:
            raise Missing("is required (only a disabled FAQ may be without one)")
        return answer

    @field_validator("similar")
    @classmethod
    def _few_similar(cls, similar: list[str] | None, info: ValidationInfo) -> list[str] | None:
        _at_most([s for s in _distinct(similar) if s != info.data.get("question")], MAX_SIMILAR, "questions")
        return similar


class FaqUpdate(_FaqBody):
    """PUT /faqs/{faq_id}: the fields given replace the stored ones (null clears an optional one); with
    ``version``, only if the FAQ is still at that version.

    Left to the store, which merges the body into the stored FAQ: an enabled FAQ's answer (it may come from
    the stored FAQ, or the stored FAQ may be the disabled one) and, when the question is not given, how many
    similar questions remain once the stored question is dropped from them. ``faq_id`` must be the path's
    (checked with the path, chalicelib/faq/api.py)."""

    MESSAGES: ClassVar[dict[str, str]] = {
        **_FAQ_MESSAGES, "version": "'version' must be a positive integer (the version you read)"}

    version: int | None = Field(None, ge=1)
    faq_id: FaqId | None = None
    question: Question | None = None
    enabled: bool | None = None
    answer: Answer | None = None
    language: Language | None = None
    similar: list[Similar] | None = None
    category: Category | None = None
    product_category: Category | None = None
    tags: list[Tag] | None = None

    @field_validator("question", "enabled", "language", mode="before")
    @classmethod
    def _given(cls, value: Any) -> Any:
        return _not_null(value)

    @field_validator("similar")
    @classmethod
    def _few_similar(cls, similar: list[str] | None, info: ValidationInfo) -> list[str] | None:
        question = info.data.get("question")
        if question is not None:
            _at_most([s for s in _distinct(similar) if s != question], MAX_SIMILAR, "questions")
        return similar


class RobotSettingsUpdate(Body):
    """PUT /robot/settings: the fields given replace the saved ones (``threshold`` null: the matcher's own).

    Left to the knowledge base: that each suggested question names a stored FAQ (a read), and that a synonym
    (compared case-folded) is in one group only, whose refusal names the term's place (``synonyms[i][j]``)
    as the term counted among its group's distinct terms."""

    MESSAGES: ClassVar[dict[str, str]] = {
        "threshold:invalid": "'threshold' must be a number from 0 to 1, or null for the default",
        "handoff_keywords:required": "'handoff_keywords' needs at least one keyword",
        "handoff_keywords:invalid": "'handoff_keywords' must be a list of strings",
        "misses_before_handoff": f"'misses_before_handoff' must be an integer from 0 to {MAX_MISSES}",
        "suggestions": f"'suggestions' must be an integer from 1 to {MAX_SUGGESTIONS}",
        "suggested_questions:invalid": "'suggested_questions' must be a list of strings",
        "synonyms:required": "'synonyms' must be a list of groups, each a list of terms",
        "synonyms:invalid": "'synonyms' must be a list of groups, each a list of terms",
        "synonyms:too_many": f"'synonyms' may have at most {syn.MAX_GROUPS} groups",
    }

    greeting: Greeting | None = None
    threshold: float | None = Field(None, ge=0.0, le=1.0)
    handoff_keywords: list[Keyword] | None = None
    misses_before_handoff: int | None = Field(None, ge=0, le=MAX_MISSES)
    suggestions: int | None = Field(None, ge=1, le=MAX_SUGGESTIONS)
    suggested_questions: SuggestedQuestions | None = None
    synonyms: list[SynonymGroup] | None = Field(None, max_length=syn.MAX_GROUPS)
    phrases: Phrases | None = None
    orders: Orders | None = None

    @field_validator("greeting", "handoff_keywords", "misses_before_handoff", "suggestions", "synonyms", "phrases",
                     "orders", mode="before")
    @classmethod
    def _given(cls, value: Any) -> Any:
        return _not_null(value)

    @field_validator("threshold")
    @classmethod
    def _storable(cls, threshold: float | None) -> float | None:
        # DynamoDB refuses numbers under 1e-130; a confidence that small is 0 in all but name.
        if threshold is not None and 0 < threshold < MIN_THRESHOLD:
            raise ValueError(f"must be 0 or at least {MIN_THRESHOLD:g}")
        return threshold

    @field_validator("handoff_keywords")
    @classmethod
    def _keywords(cls, keywords: list[str] | None) -> list[str] | None:
        distinct = _distinct(keywords)
        if not distinct:
            raise ValueError("needs at least one keyword")
        _at_most(distinct, MAX_KEYWORDS)
        return keywords


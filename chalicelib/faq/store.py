"""The knowledge base in DynamoDB: FAQs and the robot's settings, and the one place both are validated.

DynamoDB is the source of truth; the search index is derived from it (``kb.py`` keeps it in step).
Every write of a FAQ raises its ``version`` by one, so the console can update with
``expected_version`` and get a conflict instead of overwriting someone else's edit.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import secrets
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from itertools import islice
from typing import Any, ClassVar

from pynamodb.exceptions import DeleteError, DoesNotExist, PutError

from chalicelib.faq import synonyms as syn
from chalicelib.faq.model import (
    LANGUAGES,
    ORDER_ACTIONS,
    ORDER_CHECKS,
    PHRASES,
    Faq,
    OrderAction,
    OrderSettings,
    RobotSettings,
    default_order_actions,
    default_phrases,
)
from chalicelib.faq.models import ROBOT_SETTINGS_KEY, FaqItem, RobotSettingsItem
from chalicelib.i18n import EN, LocalText, TextError, as_json, check_text, pick
from chalicelib.i18n import LANGUAGES as TEXT_LANGUAGES
from chalicelib.platform.clock import SYSTEM_CLOCK, Clock
from chalicelib.platform.dynamo import is_condition_failed
from chalicelib.platform.errors import DomainError

FAQ_ID_PATTERN = r"[A-Za-z0-9][A-Za-z0-9_.:/-]{0,127}"
# Literal routes under /faqs/ win over /faqs/{faq_id}: a FAQ with one of these ids could not be reached.
RESERVED_IDS = frozenset({"import", "export", "reindex"})
FAQ_FIELDS = ("faq_id", "question", "similar", "answer", "category", "product_category", "tags", "enabled",
              "language")
MAX_QUESTION = 500
MAX_SIMILAR = 200
MAX_ANSWER = 5000
MAX_CATEGORY = 60
MAX_TAGS = 20
MAX_TAG = 40
# CSV keeps lists in one cell separated by " | ", so list items may not contain the bar.
LIST_BAR = "|"

MIN_THRESHOLD = 1e-6
SETTINGS_FIELDS = ("greeting", "threshold", "handoff_keywords", "misses_before_handoff", "suggestions",
                   "suggested_questions", "synonyms", "phrases", "orders")
MAX_GREETING = 500
MAX_PHRASE = 500
MAX_KEYWORDS = 50
MAX_KEYWORD = 40
MAX_MISSES = 10
MAX_SUGGESTIONS = 10
MAX_SUGGESTED_QUESTIONS = 10
ORDER_FIELDS = ("enabled", "number_prefix", "check", "check_attempts", "recent", "actions")
ACTION_FIELDS = ("url", "handoff", "label", "statuses")
MAX_CHECK_ATTEMPTS = 20
MAX_RECENT_ORDERS = 10
MAX_ACTION_LABEL = 40
MAX_ACTION_URL = 2048
MAX_STATUSES = 20
MAX_STATUS = 40
_PREFIX = re.compile(r"[A-Za-z][A-Za-z0-9]{0,7}[-_]?")
_STATUS = re.compile(r"[a-z][a-z0-9_]{0,39}")

RENAME_REFUSED = "'faq_id' cannot be changed; create a new FAQ and delete this one"

BATCH = 25  # BatchWriteItem's limit
_UPDATE_ATTEMPTS = 3  # an update without expected_version retries when a concurrent write slipped in


class FaqError(DomainError):
    """A request about the knowledge base that cannot be carried out.

    ``code`` is the API's error code (``invalid_body`` here: 400); ``field`` names the offending field
    (None when no single field is at fault); ``details`` go into the error body as they are.
    """

    code = "invalid_body"
    STATUS: ClassVar[dict[str, int]] = {"invalid_body": 400, "forbidden": 403, "not_found": 404, "conflict": 409}

    def __init__(self, field: str | None, message: str, **details: Any) -> None:
        # The subclass names the code (FaqNotFound, FaqConflict...): a class attribute, as before.
        super().__init__(type(self).code, message, field=field, **details)


class FaqNotFound(FaqError):
    code = "not_found"


class FaqConflict(FaqError):
    """The FAQ id is taken, or the FAQ changed since the version the caller read."""

    code = "conflict"


@dataclass(frozen=True)
class FaqRecord:
    """A stored FAQ with what the store keeps about it."""

    faq: Faq
    version: int
    created_at: int  # epoch milliseconds
    updated_at: int


# -- validation -----------------------------------------------------------------------------------

def _text(value: Any, field: str, max_len: int, *, required: bool) -> str | None:
    """A trimmed string of at most ``max_len`` characters; None (when allowed) for missing or blank."""
    if value is None:
        if required:
            raise FaqError(field, f"'{field}' is required")
        return None
    if not isinstance(value, str):
        raise FaqError(field, f"'{field}' must be a string")
    text = value.strip()
    if not text:
        if required:
            raise FaqError(field, f"'{field}' must not be empty")
        return None
    if len(text) > max_len:
        raise FaqError(field, f"'{field}' may be at most {max_len} characters (it has {len(text)})")
    return text


def _texts(value: Any, field: str, max_items: int | None, max_len: int, *, bar: bool = True) -> tuple[str, ...]:
    """A list of trimmed, non-empty strings without duplicates (order kept)."""
    if value is None:
        return ()
    if not isinstance(value, list | tuple):
        raise FaqError(field, f"'{field}' must be a list of strings")
    out: dict[str, None] = {}
    for i, item in enumerate(value):
        text = _text(item, f"{field}[{i}]", max_len, required=True)
        assert text is not None  # required
        if bar and LIST_BAR in text:
            raise FaqError(f"{field}[{i}]", f"'{field}[{i}]' may not contain '{LIST_BAR}' (it separates list "
                                            "items in CSV)")
        out[text] = None
    if max_items is not None and len(out) > max_items:
        raise FaqError(field, f"'{field}' may have at most {max_items} items (it has {len(out)})")
    return tuple(out)


def valid_faq_id(value: Any) -> bool:
    return isinstance(value, str) and re.fullmatch(FAQ_ID_PATTERN, value) is not None


_SLUG_WORDS = 48  # characters of the question's words in a made id, so the id stays readable in a list


def new_faq_id(question: str) -> str:
    """An id for a FAQ created without one: the question's Latin words and a random tail
    ("how-do-i-return-an-item-3fa9c2"), or ``faq-`` and the tail for a question without any (Chinese).
    Six hex digits make a clash with another made from the same words unlikely; the create's own condition
    turns one into a 409."""
    words = re.sub(r"[^a-z0-9]+", "-", question.lower()).strip("-")
    if len(words) > _SLUG_WORDS:
        words = words[:_SLUG_WORDS].rsplit("-", 1)[0] if "-" in words[:_SLUG_WORDS] else words[:_SLUG_WORDS]
    return f"{words or 'faq'}-{secrets.token_hex(3)}"


def validate_faq(data: Mapping[str, Any]) -> Faq:
    """The FAQ described by ``data`` (keys as in :data:`FAQ_FIELDS`), trimmed and checked.

    Raises :class:`FaqError` naming the first bad field. Similar questions that repeat the question or
    one another are dropped. The answer may be empty only on a disabled FAQ (one waiting for it).
    """
    unknown = sorted(set(data) - set(FAQ_FIELDS))
    if unknown:
        raise FaqError(unknown[0], f"'{unknown[0]}' is not a known field")
    faq_id = data.get("faq_id")
    if faq_id is None:
        raise FaqError("faq_id", "'faq_id' is required")
    if not valid_faq_id(faq_id):
        raise FaqError("faq_id", "'faq_id' must be 1 to 128 letters, digits or _ . : / - and start with a letter "
                                 "or digit")
    if faq_id in RESERVED_IDS:
        raise FaqError("faq_id", f"'faq_id' '{faq_id}' is reserved (a route of its own); choose another id")
    question = _text(data.get("question"), "question", MAX_QUESTION, required=True)
    assert question is not None  # required
    enabled = data.get("enabled", True)
    if not isinstance(enabled, bool):
        raise FaqError("enabled", "'enabled' must be true or false")
    answer = _text(data.get("answer"), "answer", MAX_ANSWER, required=False) or ""
    if not answer and enabled:
        raise FaqError("answer", "'answer' is required (only a disabled FAQ may be without one)")
    language = data.get("language", "en")
    if language not in LANGUAGES:
        raise FaqError("language", f"'language' must be one of {', '.join(LANGUAGES)}")
    similar = tuple(s for s in _texts(data.get("similar"), "similar", None, MAX_QUESTION) if s != question)
    if len(similar) > MAX_SIMILAR:
        raise FaqError("similar", f"'similar' may have at most {MAX_SIMILAR} questions (it has {len(similar)})")
    return Faq(
        faq_id=faq_id, question=question, answer=answer, similar=similar,
        category=_text(data.get("category"), "category", MAX_CATEGORY, required=False),
        product_category=_text(data.get("product_category"), "product_category", MAX_CATEGORY, required=False),
        tags=_texts(data.get("tags"), "tags", MAX_TAGS, MAX_TAG), enabled=enabled, language=language,
    )


def faq_fields(faq: Faq) -> dict[str, Any]:
    """``faq`` as a dict :func:`validate_faq` accepts (lists for tuples)."""
    return {**asdict(faq), "similar": list(faq.similar), "tags": list(faq.tags)}


def _int(value: Any, field: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise FaqError(field, f"'{field}' must be an integer from {low} to {high}")
    return value


def validate_robot_settings(data: Mapping[str, Any], base: RobotSettings | None = None) -> RobotSettings:
    """``base`` (default: the shipped settings) with the fields in ``data`` replaced, checked.

    ``threshold`` is a number from 0 to 1, or null for the matcher's own.
    """
    unknown = sorted(set(data) - set(SETTINGS_FIELDS))
    if unknown:
        raise FaqError(unknown[0], f"'{unknown[0]}' is not a known field")
    out = asdict(base or RobotSettings())
    if "greeting" in data:
        out["greeting"] = local_text(data["greeting"], "greeting", MAX_GREETING)
    if "phrases" in data:
        out["phrases"] = robot_phrases(data["phrases"])
    if "threshold" in data:
        threshold = data["threshold"]
        if threshold is not None and (isinstance(threshold, bool) or not isinstance(threshold, int | float)
                                      or not 0.0 <= threshold <= 1.0):
            raise FaqError("threshold", "'threshold' must be a number from 0 to 1, or null for the default")
        if threshold is not None and 0 < threshold < MIN_THRESHOLD:
            # DynamoDB refuses numbers under 1e-130; a confidence that small is 0 in all but name.
            raise FaqError("threshold", f"'threshold' must be 0 or at least {MIN_THRESHOLD:g}")
        out["threshold"] = None if threshold is None else float(threshold)
    if "handoff_keywords" in data:
        keywords = _texts(data["handoff_keywords"], "handoff_keywords", MAX_KEYWORDS, MAX_KEYWORD, bar=False)
        if not keywords:
            raise FaqError("handoff_keywords", "'handoff_keywords' needs at least one keyword")
        out["handoff_keywords"] = keywords
    if "misses_before_handoff" in data:
        out["misses_before_handoff"] = _int(data["misses_before_handoff"], "misses_before_handoff", 0, MAX_MISSES)
    if "suggestions" in data:
        out["suggestions"] = _int(data["suggestions"], "suggestions", 1, MAX_SUGGESTIONS)
    if "suggested_questions" in data:
        out["suggested_questions"] = suggested_questions(data["suggested_questions"])
    if "synonyms" in data:
        out["synonyms"] = _synonyms(data["synonyms"])
    orders = order_settings(data["orders"]) if "orders" in data else (base or RobotSettings()).orders
    questions = out["suggested_questions"]
    return RobotSettings(
        greeting=out["greeting"], threshold=out["threshold"], handoff_keywords=tuple(out["handoff_keywords"]),
        misses_before_handoff=out["misses_before_handoff"], suggestions=out["suggestions"],
        suggested_questions=({k: tuple(v) for k, v in questions.items()} if isinstance(questions, Mapping)
                             else tuple(questions)),
        synonyms=tuple(tuple(g) for g in out["synonyms"]), phrases=dict(out["phrases"]), orders=orders)


def order_settings(value: Any) -> OrderSettings:
    """Order self-service's settings (docs/configuration.md, "Order self-service"): the shipped ones with the
    fields given replaced; ``actions`` given are laid over the shipped actions, and an action given as null is
    not offered."""
    if not isinstance(value, Mapping):
        raise FaqError("orders", "'orders' must be an object")
    unknown = sorted(set(value) - set(ORDER_FIELDS))
    if unknown:
        raise FaqError(f"orders.{unknown[0]}", f"'orders.{unknown[0]}' is not a known field; the fields are "
                                               f"{', '.join(ORDER_FIELDS)}")
    base = OrderSettings()
    enabled = value.get("enabled", base.enabled)
    if not isinstance(enabled, bool):
        raise FaqError("orders.enabled", "'orders.enabled' must be true or false")
    prefix = value.get("number_prefix", base.number_prefix)
    if not isinstance(prefix, str) or not _PREFIX.fullmatch(prefix):
        raise FaqError("orders.number_prefix", "'orders.number_prefix' must be a letter, then up to 7 letters or "
                                               "digits, and an optional - or _ (e.g. SO-)")
    check = value.get("check", base.check)
    if check is not None and check not in ORDER_CHECKS:
        raise FaqError("orders.check", f"'orders.check' must be one of {', '.join(ORDER_CHECKS)}, or null (an "
                                       "anonymous visitor must sign in)")
    attempts = _int(value.get("check_attempts", base.check_attempts), "orders.check_attempts", 1, MAX_CHECK_ATTEMPTS)
    recent = _int(value.get("recent", base.recent), "orders.recent", 1, MAX_RECENT_ORDERS)
    actions: dict[str, OrderAction] = dict(default_order_actions())
    given = value.get("actions", {})
    if not isinstance(given, Mapping):
        raise FaqError("orders.actions", f"'orders.actions' must be an object of actions ({', '.join(ORDER_ACTIONS)})")
    for name, spec in given.items():
        if name not in ORDER_ACTIONS:
            raise FaqError(f"orders.actions.{name}", f"'orders.actions' has no action {name!r}; the actions are "
                                                     f"{', '.join(ORDER_ACTIONS)}")
        if spec is None:
            actions.pop(name, None)
        else:
            actions[name] = _order_action(spec, f"orders.actions.{name}")
    return OrderSettings(enabled=enabled, number_prefix=prefix, check=check, check_attempts=attempts, recent=recent,
                         actions={name: actions[name] for name in ORDER_ACTIONS if name in actions})


def _order_action(spec: Any, field: str) -> OrderAction:
    if not isinstance(spec, Mapping):
        raise FaqError(field, f"'{field}' must be an object ({', '.join(ACTION_FIELDS)}) or null")
    unknown = sorted(set(spec) - set(ACTION_FIELDS))
    if unknown:
        raise FaqError(f"{field}.{unknown[0]}", f"'{field}.{unknown[0]}' is not a known field")
    url, handoff = spec.get("url"), spec.get("handoff", False)
    if not isinstance(handoff, bool):
        raise FaqError(f"{field}.handoff", f"'{field}.handoff' must be true or false")
    if url is not None and (not isinstance(url, str) or not url.startswith("https://") or len(url) > MAX_ACTION_URL
                            or any(c.isspace() for c in url) or url.replace("{order_id}", "").count("{")):
        raise FaqError(f"{field}.url", f"'{field}.url' must be an https:// address of at most {MAX_ACTION_URL} "
                                       "characters, where {order_id} may stand for the order's number")
    if (url is None) == (not handoff):
        raise FaqError(field, f"'{field}' needs either 'url' (a link) or 'handoff': true (a person), not both")
    label = spec.get("label")
    statuses = spec.get("statuses") or ()
    if not isinstance(statuses, list | tuple) or len(statuses) > MAX_STATUSES:
        raise FaqError(f"{field}.statuses", f"'{field}.statuses' must be a list of at most {MAX_STATUSES} statuses")
    for i, status in enumerate(statuses):
        if not isinstance(status, str) or not _STATUS.fullmatch(status):
            raise FaqError(f"{field}.statuses[{i}]", f"'{field}.statuses[{i}]' must be an order status: 1 to "
                                                     f"{MAX_STATUS} of a-z 0-9 _, starting with a letter")
    return OrderAction(url=url, handoff=handoff, statuses=tuple(dict.fromkeys(statuses)),
                       label=None if label is None else local_text(label, f"{field}.label", MAX_ACTION_LABEL))


def order_settings_json(settings: OrderSettings) -> dict[str, Any]:
    """The settings as the API shows them and the item keeps them: every action, those not offered as null (so
    reading them back does not bring a shipped action back)."""
    return {"enabled": settings.enabled, "number_prefix": settings.number_prefix, "check": settings.check,
            "check_attempts": settings.check_attempts, "recent": settings.recent,
            "actions": {name: {"url": a.url, "handoff": a.handoff,
                               "label": None if a.label is None else as_json(a.label), "statuses": list(a.statuses)}
                        for name in ORDER_ACTIONS if (a := settings.actions.get(name)) is not None} | {
                            name: None for name in ORDER_ACTIONS if name not in settings.actions}}


def local_text(value: Any, field: str, max_len: int) -> LocalText:
    """A shop text: one for every language, or one per language (chalicelib/i18n), trimmed and checked."""
    if value is None:
        raise FaqError(field, f"'{field}' is required")
    try:
        return check_text(value, field, max_len)
    except TextError as err:
        raise FaqError(err.field, err.message) from None


def robot_phrases(value: Any) -> dict[str, LocalText]:
    """The robot's phrases: the shipped ones with those given replaced (each a shop text)."""
    if not isinstance(value, Mapping):
        raise FaqError("phrases", f"'phrases' must be an object of phrases ({', '.join(PHRASES)}) to texts")
    for name in value:
        if name not in PHRASES:
            raise FaqError(f"phrases.{name}", f"'phrases' has no phrase {name!r}; the phrases are "
                                              f"{', '.join(PHRASES)}")
    return {**default_phrases(), **{name: local_text(text, f"phrases.{name}", MAX_PHRASE)
                                    for name, text in value.items()}}


def suggested_questions(value: Any) -> tuple[str, ...] | dict[str, tuple[str, ...]]:
    """FAQ ids offered with the greeting: one list for everyone, or one per language (``{"zh-CN": [...]}``)."""
    if isinstance(value, Mapping):
        if not value:
            raise FaqError("suggested_questions", "'suggested_questions' needs at least one language "
                                                  f"({', '.join(TEXT_LANGUAGES)})")
        for language in value:
            if language not in TEXT_LANGUAGES:
                raise FaqError(f"suggested_questions.{language}", f"'suggested_questions' has language "
                                                                  f"{language!r}; the languages are "
                                                                  f"{', '.join(TEXT_LANGUAGES)}")
        return {language: _faq_ids(ids, f"suggested_questions.{language}") for language, ids in value.items()}
    return _faq_ids(value, "suggested_questions")


def _faq_ids(value: Any, field: str) -> tuple[str, ...]:
    ids = _texts(value, field, MAX_SUGGESTED_QUESTIONS, 128, bar=False)
    for i, faq_id in enumerate(ids):
        if not valid_faq_id(faq_id):
            raise FaqError(f"{field}[{i}]", f"'{field}[{i}]' is not a FAQ id")
    return ids


def _synonyms(value: Any) -> tuple[tuple[str, ...], ...]:
    """Groups of 2 to ``MAX_TERMS`` terms; a term (compared case-folded) in one group only."""
    if not isinstance(value, list | tuple):
        raise FaqError("synonyms", "'synonyms' must be a list of groups, each a list of terms")
    if len(value) > syn.MAX_GROUPS:
        raise FaqError("synonyms", f"'synonyms' may have at most {syn.MAX_GROUPS} groups (it has {len(value)})")
    seen: dict[str, int] = {}
    groups: list[tuple[str, ...]] = []
    for i, group in enumerate(value):
        field = f"synonyms[{i}]"
        terms = _texts(group, field, syn.MAX_TERMS, syn.MAX_TERM, bar=False)
        if len(terms) < 2:
            raise FaqError(field, f"'{field}' needs at least two terms")
        for j, term in enumerate(terms):
            if term.casefold() in seen:
                other = seen[term.casefold()]
                where = groups[other] if other < i else terms
                raise FaqError(f"{field}[{j}]", f"'{term}' is already in group {other + 1} "
                                                f"({', '.join(where)}): a term may be in one group only")
            seen[term.casefold()] = i
        groups.append(terms)
    return tuple(groups)


# -- the store ------------------------------------------------------------------------------------

# pynamodb types a list attribute's items as the attribute class they are read with, not as str.
def _strings(value: Any) -> tuple[str, ...]:
    return tuple(value or ())


def _stored_list(values: Sequence[str]) -> Any:
    return list(values)


def _faq(item: FaqItem) -> Faq:
    return Faq(faq_id=item.faq_id, question=item.question, answer=item.answer or "",
               similar=_strings(item.similar), category=item.category, product_category=item.product_category,
               tags=_strings(item.tags), enabled=bool(item.enabled), language=item.language or "en")


def _record(item: FaqItem) -> FaqRecord:
    return FaqRecord(_faq(item), int(item.version or 0), int(item.created_at or 0), int(item.updated_at or 0))


def _item(faq: Faq, version: int, created_at: int, updated_at: int) -> FaqItem:
    return FaqItem(faq.faq_id, question=faq.question, similar=list(faq.similar), answer=faq.answer,
                   category=faq.category, product_category=faq.product_category, tags=list(faq.tags),
                   enabled=faq.enabled, language=faq.language, created_at=created_at, updated_at=updated_at,
                   version=version)


def encode_cursor(faq_id: str) -> str:
    return base64.urlsafe_b64encode(json.dumps({"k": faq_id}).encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> str:
    try:
        key = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))["k"]
    except (ValueError, TypeError, KeyError, binascii.Error):
        key = None
    if not valid_faq_id(key):
        raise FaqError("cursor", "'cursor' is not a cursor this API returned")
    assert isinstance(key, str)
    return key


class FaqStore:
    """FAQs and robot settings in their DynamoDB tables (``FaqItem``, ``RobotSettingsItem``)."""

    def __init__(self, clock: Clock = SYSTEM_CLOCK) -> None:
        self._clock = clock

    # -- reads ------------------------------------------------------------------------------------
    def get(self, faq_id: str) -> Faq | None:
        """The FAQ, or None."""
        record = self.get_record(faq_id)
        return record.faq if record else None

    def get_record(self, faq_id: str, consistent: bool = False) -> FaqRecord | None:
        """The FAQ with its version and timestamps, or None."""
        try:
            return _record(FaqItem.get(faq_id, consistent_read=consistent))
        except DoesNotExist:
            return None

    def get_many(self, faq_ids: Sequence[str]) -> dict[str, Faq]:
        """The FAQs of ``faq_ids`` that exist, by id (BatchGetItem, 100 keys a call)."""
        ids = list(dict.fromkeys(faq_ids))
        return {item.faq_id: _faq(item) for item in FaqItem.batch_get(ids)} if ids else {}

    def all(self) -> Iterator[Faq]:
        """Every FAQ (a full Scan: for exports and index rebuilds)."""
        for item in FaqItem.scan():
            yield _faq(item)

    def page(self, limit: int = 50, cursor: str | None = None, category: str | None = None,
             language: str | None = None) -> tuple[list[FaqRecord], str | None]:
        """Up to ``limit`` FAQs after ``cursor``, in no particular order, and the cursor of the next page
        (None at the end).

        A paged Scan with a filter: fine for the admin console's listing, which is rare and small; the
        chat path never lists FAQs (it searches the index and reads FAQs by id).
        """
        condition: Any = None
        if category is not None:
            condition = FaqItem.category == category
        if language is not None:
            by_language = FaqItem.language == language
            condition = by_language if condition is None else condition & by_language
        start = {"faq_id": {"S": decode_cursor(cursor)}} if cursor else None
        # One more than asked tells whether another page exists; a filter may discard much of each read.
        page_size = limit + 1 if condition is None else max(limit + 1, 200)
        items = list(islice(FaqItem.scan(filter_condition=condition, last_evaluated_key=start, page_size=page_size),
                            limit + 1))
        records = [_record(i) for i in items[:limit]]
        return records, (encode_cursor(records[-1].faq.faq_id) if len(items) > limit else None)

    # -- writes -----------------------------------------------------------------------------------
    def put(self, faq: Faq) -> Faq:
        """Create or replace the FAQ (one UpdateItem: its version goes up, its creation time stays)."""
        faq = validate_faq(faq_fields(faq))
        now = self._clock.now_ms()
        actions: list[Any] = [
            FaqItem.question.set(faq.question), FaqItem.similar.set(_stored_list(faq.similar)),
            FaqItem.answer.set(faq.answer), FaqItem.tags.set(_stored_list(faq.tags)),
            FaqItem.enabled.set(faq.enabled),
            FaqItem.language.set(faq.language), FaqItem.updated_at.set(now),
            FaqItem.created_at.set(FaqItem.created_at | now), FaqItem.version.add(1),
        ]
        for attribute, value in ((FaqItem.category, faq.category), (FaqItem.product_category, faq.product_category)):
            actions.append(attribute.set(value) if value is not None else attribute.remove())
        FaqItem(faq.faq_id).update(actions=actions)
        return faq

    def create(self, faq: Faq) -> FaqRecord:
        """Store a new FAQ; :class:`FaqConflict` if its id is taken."""
        faq = validate_faq(faq_fields(faq))
        now = self._clock.now_ms()
        item = _item(faq, 1, now, now)
        try:
            item.save(condition=FaqItem.faq_id.does_not_exist())
        except PutError as err:
            if not is_condition_failed(err):
                raise
            raise FaqConflict("faq_id", f"a FAQ with id '{faq.faq_id}' already exists") from None
        return _record(item)

    def update(self, faq_id: str, changes: Mapping[str, Any], expected_version: int | None = None) -> FaqRecord:
        """Apply ``changes`` (FAQ fields) to the stored FAQ and validate the result.

        With ``expected_version``, :class:`FaqConflict` unless the FAQ is still at that version;
        without it, a write that slipped in between the read and the write is retried over.
        """
        if changes.get("faq_id", faq_id) != faq_id:
            raise FaqError("faq_id", RENAME_REFUSED)
        for attempt in range(_UPDATE_ATTEMPTS):
            current = self.get_record(faq_id, consistent=True)
            if current is None:
                raise FaqNotFound(None, f"no FAQ with id '{faq_id}'")
            if expected_version is not None and current.version != expected_version:
                raise FaqConflict("version", f"the FAQ is at version {current.version}, not {expected_version}; "
                                             "read it again")
            faq = validate_faq({**faq_fields(current.faq), **changes})
            item = _item(faq, current.version + 1, current.created_at, self._clock.now_ms())
            try:
                item.save(condition=FaqItem.version == current.version)
            except PutError as err:
                if not is_condition_failed(err):
                    raise
                if expected_version is not None or attempt == _UPDATE_ATTEMPTS - 1:
                    raise FaqConflict("version", "the FAQ changed meanwhile; read it again") from None
                continue
            return _record(item)
        raise AssertionError("unreachable")  # the loop returns or raises

    def delete(self, faq_id: str) -> bool:
        """Remove the FAQ; False if there was none."""
        try:
            FaqItem(faq_id).delete(condition=FaqItem.faq_id.exists())
        except DeleteError as err:
            if not is_condition_failed(err):
                raise
            return False
        return True

    def put_many(self, faqs: Iterable[Faq], progress: Callable[[int], object] | None = None) -> int:
        """Create or replace these FAQs with BatchWriteItem, 25 a call; returns how many.

        Each batch first reads the stored versions (BatchGetItem) so versions keep going up. pynamodb
        retries unprocessed items with backoff. Not atomic: on a failure part may be written, and
        running the same import again finishes it.
        """
        by_id = {f.faq_id: validate_faq(faq_fields(f)) for f in faqs}  # a batch may not hold a key twice
        batch = list(by_id.values())
        for start in range(0, len(batch), BATCH):
            chunk = batch[start:start + BATCH]
            stored = {i.faq_id: i for i in FaqItem.batch_get([f.faq_id for f in chunk],
                                                              attributes_to_get=["faq_id", "version", "created_at"])}
            now = self._clock.now_ms()
            with FaqItem.batch_write() as writer:
                for faq in chunk:
                    old = stored.get(faq.faq_id)
                    writer.save(_item(faq, int(old.version or 0) + 1 if old else 1,
                                      int(old.created_at or now) if old else now, now))
            if progress is not None:
                progress(len(chunk))
        return len(batch)

    # -- robot settings ---------------------------------------------------------------------------
    def robot_settings(self) -> RobotSettings:
        """The saved settings, or the shipped defaults before an admin first saves them."""
        try:
            item = RobotSettingsItem.get(ROBOT_SETTINGS_KEY, consistent_read=True)
        except DoesNotExist:
            return RobotSettings()
        # Per-language texts live in ``texts`` (JSON); settings saved before it have plain strings only.
        texts = json.loads(item.texts or "{}")
        questions = texts.get("suggested_questions")
        return RobotSettings(
            greeting=texts.get("greeting", item.greeting),
            threshold=None if item.threshold is None else float(item.threshold),
            handoff_keywords=_strings(item.handoff_keywords),
            misses_before_handoff=int(item.misses_before_handoff), suggestions=int(item.suggestions),
            suggested_questions=({k: tuple(v) for k, v in questions.items()} if isinstance(questions, dict)
                                 else _strings(item.suggested_questions)),
            synonyms=tuple(tuple(g) for g in json.loads(item.synonyms or "[]")),
            phrases={**default_phrases(), **texts.get("phrases", {})},
            orders=order_settings(json.loads(item.orders)) if item.orders else OrderSettings())

    def save_robot_settings(self, settings: RobotSettings) -> RobotSettings:
        """Replace the settings (validated first)."""
        settings = validate_robot_settings({**asdict(settings), "orders": order_settings_json(settings.orders)})
        questions = settings.suggested_questions
        texts = {"greeting": as_json(settings.greeting),
                 "phrases": {name: as_json(text) for name, text in settings.phrases.items()},
                 **({"suggested_questions": {k: list(v) for k, v in questions.items()}}
                    if isinstance(questions, Mapping) else {})}
        RobotSettingsItem(
            ROBOT_SETTINGS_KEY, greeting=pick(settings.greeting, EN), threshold=settings.threshold,
            handoff_keywords=list(settings.handoff_keywords), misses_before_handoff=settings.misses_before_handoff,
            suggestions=settings.suggestions, suggested_questions=list(settings.questions_for(EN)),
            texts=json.dumps(texts, ensure_ascii=False),
            synonyms=json.dumps(settings.synonyms, ensure_ascii=False) if settings.synonyms else None,
            orders=json.dumps(order_settings_json(settings.orders), ensure_ascii=False),
            updated_at=self._clock.now_ms()).save()
        return settings

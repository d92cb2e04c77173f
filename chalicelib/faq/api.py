"""The robot-management REST API's handlers (routes in chalicelib/edge/faq.py, which also check the
caller's role; contract in docs/openapi.yaml).

Each takes the parsed body or query parameters and the knowledge base, and returns a JSON-ready dict or
raises a :class:`FaqError` that the error middleware turns into the error shape (400 with ``field``, 404, 409).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote

from chalicelib.auth.identity import Identity
from chalicelib.faq.jobs import ReindexJobs
from chalicelib.faq.kb import KnowledgeBase
from chalicelib.faq.matcher import DEFAULT_THRESHOLD
from chalicelib.faq.model import LANGUAGES, RobotSettings
from chalicelib.faq.orderintent import recognise
from chalicelib.faq.robot import language_of
from chalicelib.faq.schemas import FaqCreate, FaqImport, FaqUpdate, RobotSettingsUpdate, RobotTry
from chalicelib.faq.store import (
    RENAME_REFUSED,
    FaqError,
    FaqNotFound,
    FaqRecord,
    new_faq_id,
    order_settings_json,
    valid_faq_id,
)
from chalicelib.faq.synonyms import synonyms_of
from chalicelib.faq.transfer import CONTENT_TYPES, FORMATS, Source
from chalicelib.i18n import as_json
from chalicelib.platform.errors import DomainError
from chalicelib.platform.http import BadRequest, int_param, parse_body
from chalicelib.platform.idempotency import once

MAX_LIMIT = 200
TRY_HITS = 10


def path_id(raw: str) -> str:
    """The FAQ id of a path parameter (URL-decoded: ids may hold '/'); 404 for one that cannot exist."""
    faq_id = unquote(raw)
    if not valid_faq_id(faq_id):
        raise FaqNotFound(None, "no FAQ with that id")
    return faq_id


def faq_json(record: FaqRecord) -> dict[str, Any]:
    faq = record.faq
    return {"faq_id": faq.faq_id, "question": faq.question, "similar": list(faq.similar), "answer": faq.answer,
            "category": faq.category, "product_category": faq.product_category, "tags": list(faq.tags),
            "enabled": faq.enabled, "language": faq.language, "version": record.version,
            "created_at": record.created_at, "updated_at": record.updated_at}


def settings_json(settings: RobotSettings) -> dict[str, Any]:
    questions = settings.suggested_questions
    return {"greeting": as_json(settings.greeting), "threshold": settings.threshold,
            "default_threshold": DEFAULT_THRESHOLD, "handoff_keywords": list(settings.handoff_keywords),
            "misses_before_handoff": settings.misses_before_handoff, "suggestions": settings.suggestions,
            "suggested_questions": ({k: list(v) for k, v in questions.items()} if isinstance(questions, Mapping)
                                    else list(questions)),
            "synonyms": [list(g) for g in settings.synonyms],
            "phrases": {name: as_json(text) for name, text in settings.phrases.items()},
            "orders": order_settings_json(settings.orders)}


def _param(params: Mapping[str, str], key: str, max_len: int = 200) -> str | None:
    value = params.get(key)
    if value is not None and (not value or len(value) > max_len):
        raise FaqError(key, f"'{key}' must be 1 to {max_len} characters")
    return value


def _choice(value: Any, key: str, choices: tuple[str, ...], default: str | None = None) -> str | None:
    if value is None:
        return default
    if value not in choices:
        raise FaqError(key, f"'{key}' must be one of {', '.join(choices)}")
    assert isinstance(value, str)
    return value


# -- FAQs -----------------------------------------------------------------------------------------

def list_faqs(params: Mapping[str, str], kb: KnowledgeBase) -> dict[str, Any]:
    """GET /faqs: one page of FAQs (staff)."""
    records, cursor = kb.page(int_param(params, "limit", 50, 1, MAX_LIMIT), _param(params, "cursor", 1000),
                              _param(params, "category", 60), _choice(params.get("language"), "language", LANGUAGES))
    return {"faqs": [faq_json(r) for r in records], "next_cursor": cursor}


def get_faq(raw_id: str, kb: KnowledgeBase) -> dict[str, Any]:
    """GET /faqs/{faq_id} (staff)."""
    return faq_json(kb.get(path_id(raw_id)))


def create_faq(body: Mapping[str, Any], kb: KnowledgeBase) -> dict[str, Any]:
    """POST /faqs (admin): the FAQ as stored, at version 1; without ``faq_id``, under an id made from its question."""
    fields = parse_body(FaqCreate, body).model_dump(exclude_unset=True)
    if not fields.get("faq_id"):
        fields["faq_id"] = new_faq_id(fields["question"])
    return faq_json(kb.create(fields))


def update_faq(raw_id: str, body: Mapping[str, Any], kb: KnowledgeBase) -> dict[str, Any]:
    """PUT /faqs/{faq_id} (admin): the fields given replace the stored ones; with ``version``, only if
    the FAQ is still at that version (else 409)."""
    faq_id = path_id(raw_id)
    try:
        request = parse_body(FaqUpdate, body)
    except BadRequest as refused:
        raise _first_refusal(refused, faq_id, body, kb) from None
    changes = request.model_dump(include=request.model_fields_set - {"version"})
    if not changes:
        raise FaqError(None, "nothing to change: give at least one FAQ field")
    return faq_json(kb.update(faq_id, changes, request.version))


def _first_refusal(refused: BadRequest, faq_id: str, body: Mapping[str, Any], kb: KnowledgeBase) -> DomainError:
    """What an update is refused for first: an unknown field or a bad version, then a new faq_id, then a FAQ
    that does not exist (404), then a bad value (the store checks values on the FAQ it read)."""
    field = (refused.field or "").split("[")[0]
    if field == "version" or field not in FaqUpdate.model_fields:
        return refused
    if body.get("faq_id", faq_id) != faq_id:
        return FaqError("faq_id", RENAME_REFUSED)
    if kb.store.get_record(faq_id) is None:
        return FaqNotFound(None, f"no FAQ with id '{faq_id}'")
    return refused


def delete_faq(raw_id: str, kb: KnowledgeBase) -> dict[str, Any]:
    """DELETE /faqs/{faq_id} (admin)."""
    faq_id = path_id(raw_id)
    if not kb.delete(faq_id):
        raise FaqNotFound(None, f"no FAQ with id '{faq_id}'")
    return {"faq_id": faq_id, "deleted": True}


def import_faqs(who: Identity, body: Mapping[str, Any], kb: KnowledgeBase,
                idempotency_key: str | None = None) -> dict[str, Any]:
    """POST /faqs/import (admin): ``{"format", "data", "namespace"?}``; all rows or none. With an
    ``Idempotency-Key``, a retry answers the first import's result and writes nothing."""
    return once("faqs.import", who.user_id, idempotency_key, dict(body), lambda: _import(body, kb))


def _import(body: Mapping[str, Any], kb: KnowledgeBase) -> dict[str, Any]:
    request = parse_body(FaqImport, body)
    return kb.import_rows([Source("data", request.data, request.format, namespace=request.namespace)]).as_dict()


def export_faqs(params: Mapping[str, str], kb: KnowledgeBase) -> tuple[str, str]:
    """GET /faqs/export (admin): (the text, its content type)."""
    fmt = _choice(params.get("format"), "format", FORMATS, "jsonl")
    assert fmt is not None  # defaulted
    return kb.export(fmt), CONTENT_TYPES[fmt]


def start_reindex(who: Identity, jobs: ReindexJobs) -> dict[str, Any]:
    """POST /faqs/reindex (admin): a new job rebuilding the index in the background, queued (202); 409
    ``reindex_running`` with that job when one is queued or running."""
    return jobs.start(who.user_id).as_dict()


def latest_reindex(jobs: ReindexJobs) -> dict[str, Any]:
    """GET /faqs/reindex (admin): the newest job, its progress or outcome."""
    return jobs.latest().as_dict()


def get_reindex(raw_id: str, jobs: ReindexJobs) -> dict[str, Any]:
    """GET /faqs/reindex/{job_id} (admin)."""
    return jobs.get(unquote(raw_id)).as_dict()


# -- the robot ------------------------------------------------------------------------------------

def get_robot_settings(kb: KnowledgeBase) -> dict[str, Any]:
    """GET /robot/settings (staff)."""
    return settings_json(kb.store.robot_settings())


def put_robot_settings(body: Mapping[str, Any], kb: KnowledgeBase) -> dict[str, Any]:
    """PUT /robot/settings (admin): the fields given replace the saved ones; the others stay."""
    request = parse_body(RobotSettingsUpdate, body)
    return settings_json(kb.save_robot_settings(request.model_dump(include=request.model_fields_set)))


def try_question(body: Mapping[str, Any], kb: KnowledgeBase) -> dict[str, Any]:
    """POST /robot/try (staff): what the robot would do with a question, and the ranked FAQs behind it."""
    request = parse_body(RobotTry, body)
    query = request.query
    language = request.language or language_of(query)
    settings = kb.robot_settings()
    threshold = DEFAULT_THRESHOLD if settings.threshold is None else settings.threshold
    matcher = kb.matcher()
    synonyms = synonyms_of(settings.synonyms)
    hits = matcher.rank(query, k=TRY_HITS, language=language, synonyms=synonyms)
    decision = matcher.decide(query, threshold, k=settings.suggestions, language=language, synonyms=synonyms)
    found = kb.lookup([h.faq_id for h in hits] + ([decision.answer.faq_id] if decision.answer else []))
    order = recognise(query, settings.orders.number_prefix) if settings.orders.enabled else None
    return {
        "query": query, "language": language, "threshold": threshold,
        "confidence": round(decision.confidence, 4),
        "decision": "answer" if decision.answer is not None else "suggest",
        "answer": decision.answer.faq_id if decision.answer is not None else None,
        "suggestions": [h.faq_id for h in decision.suggestions],
        "hits": [{"faq_id": h.faq_id, "question": found[h.faq_id].question if h.faq_id in found else None,
                  "score": round(h.score, 4), "matched": h.matched, "lexical": round(h.lexical, 4),
                  "semantic": None if h.semantic is None else round(h.semantic, 4)} for h in hits],
        # An order question never reaches the FAQ in a chat: the robot shows the visitor's order instead.
        "order_question": None if order is None else {"intent": order.intent, "order_id": order.order_id},
    }

"""The knowledge base as a service: DynamoDB first, then the search index, on every change.

The store is the source of truth. Each create, update, delete and import writes the store and then
the same FAQs to the index through the matcher (which keeps its intent classifier in step with the
backend). ``rebuild`` makes the index again from every stored FAQ: on demand (after an index outage),
and on first use when the index is empty (a process whose index lives in memory starts with none).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from chalicelib.faq.embed import Embedder
from chalicelib.faq.matcher import Matcher
from chalicelib.faq.model import Faq, RobotSettings
from chalicelib.faq.search.base import SearchBackend
from chalicelib.faq.store import FaqError, FaqNotFound, FaqRecord, FaqStore, validate_faq, validate_robot_settings
from chalicelib.faq.transfer import ImportResult, Source, export_text, plan_import
from chalicelib.settings import get_settings

SETTINGS_MAX_AGE_SECONDS = 30.0  # the robot reads settings on every message; other Lambdas see a save this late


class KnowledgeBase:
    """FAQs and robot settings: the store, the search backend and the matcher over it."""

    def __init__(self, store: FaqStore, backend: SearchBackend, embedder: Embedder | None = None, *,
                 load_on_first_use: bool | None = None, settings_max_age: float = SETTINGS_MAX_AGE_SECONDS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.store = store
        self.backend = backend
        self.embedder = embedder
        self._load_on_first_use = load_on_first_use
        self._settings_max_age = settings_max_age
        self._clock = clock
        self._lock = threading.RLock()
        self._matcher: Matcher | None = None
        self._settings: tuple[float, RobotSettings] | None = None

    def matcher(self) -> Matcher:
        """The matcher over the backend, built on first use. The index is loaded from the store then if
        ``load_on_first_use`` says so (None, the default: if the backend holds no FAQ)."""
        with self._lock:
            if self._matcher is None:
                matcher = Matcher(self.backend, self.embedder)
                load = self._load_on_first_use
                if load or (load is None and self.backend.count() == 0):
                    matcher.index(self.store.all())
                self._matcher = matcher
            return self._matcher

    # -- FAQs -------------------------------------------------------------------------------------
    def get(self, faq_id: str) -> FaqRecord:
        """The FAQ with its version; :class:`FaqNotFound` if there is none."""
        record = self.store.get_record(faq_id)
        if record is None:
            raise FaqNotFound(None, f"no FAQ with id '{faq_id}'")
        return record

    def lookup(self, faq_ids: Sequence[str]) -> dict[str, Faq]:
        """The FAQs of ``faq_ids`` that exist, by id (what the robot shows for its hits)."""
        return self.store.get_many(faq_ids)

    def page(self, limit: int, cursor: str | None = None, category: str | None = None,
             language: str | None = None) -> tuple[list[FaqRecord], str | None]:
        return self.store.page(limit, cursor, category, language)

    # Each write takes the matcher before writing the store: a first use that loads the index from the
    # store then loads it without the change, which the upsert adds (rather than indexing it twice).
    def create(self, data: Mapping[str, Any]) -> FaqRecord:
        """Validate and store a new FAQ, then index it."""
        matcher = self.matcher()
        record = self.store.create(validate_faq(data))
        matcher.upsert([record.faq])
        return record

    def update(self, faq_id: str, changes: Mapping[str, Any], expected_version: int | None = None) -> FaqRecord:
        """Change a stored FAQ (see :meth:`FaqStore.update`), then index it."""
        matcher = self.matcher()
        record = self.store.update(faq_id, changes, expected_version)
        matcher.upsert([record.faq])
        return record

    def delete(self, faq_id: str) -> bool:
        """Remove the FAQ from the store and the index; False if it was not stored."""
        matcher = self.matcher()
        deleted = self.store.delete(faq_id)
        matcher.delete([faq_id])  # also when not stored: an index that drifted heals
        return deleted

    def import_rows(self, sources: Sequence[Source], progress: Callable[[int], object] | None = None,
                    write_progress: Callable[[int], object] | None = None, *, index: bool = True) -> ImportResult:
        """Import files (see ``transfer.py``): every row is checked before the first write; then the
        store, then (unless ``index`` is false) the index. ``progress`` counts rows read,
        ``write_progress`` FAQs written."""
        plan = plan_import(sources, self.store.get_many, progress)
        if plan.faqs:
            matcher = self.matcher() if index else None
            self.store.put_many(plan.faqs, write_progress)
            if matcher is not None:
                matcher.upsert(plan.faqs)
        return plan.result

    def export(self, fmt: str, progress: Callable[[int], object] | None = None) -> str:
        """Every stored FAQ as JSONL or CSV (importing it gives the same FAQs back)."""
        return export_text(self.store.all(), fmt, progress)

    def rebuild(self) -> int:
        """Index every stored FAQ afresh; returns how many are indexed (the enabled ones)."""
        with self._lock:
            if self._matcher is None:
                self._matcher = Matcher(self.backend, self.embedder)
            matcher = self._matcher
        return matcher.index(self.store.all())

    # -- robot settings ---------------------------------------------------------------------------
    def robot_settings(self) -> RobotSettings:
        """The settings in force (read again at most every ``settings_max_age`` seconds)."""
        with self._lock:
            now = self._clock()
            if self._settings is None or now - self._settings[0] >= self._settings_max_age:
                self._settings = (now, self.store.robot_settings())
            return self._settings[1]

    def save_robot_settings(self, changes: Mapping[str, Any]) -> RobotSettings:
        """The current settings with ``changes`` applied, validated, saved. Suggested questions must
        name stored FAQs."""
        settings = validate_robot_settings(changes, self.store.robot_settings())
        if "suggested_questions" in changes:
            found = self.store.get_many(settings.suggested_questions)
            for i, faq_id in enumerate(settings.suggested_questions):
                if faq_id not in found:
                    raise FaqError(f"suggested_questions[{i}]", f"no FAQ with id '{faq_id}'")
        saved = self.store.save_robot_settings(settings)
        with self._lock:
            self._settings = (self._clock(), saved)
        return saved



def search_backend() -> SearchBackend:
    """The backend the settings name: ``embedded`` (in the process) or ``opensearch``."""
    settings = get_settings()
    if settings.search_backend == "opensearch":
        from chalicelib.faq.search.opensearch import OpenSearchBackend

        serverless = ".aoss.amazonaws.com" in settings.opensearch_url
        return OpenSearchBackend(settings.opensearch_url, settings.opensearch_index, region=settings.region,
                                 service="aoss" if serverless else "es")
    if settings.search_backend != "embedded":
        raise ValueError(f"SEARCH_BACKEND must be embedded or opensearch, not {settings.search_backend!r}")
    from chalicelib.faq.search.embedded import EmbeddedBackend

    return EmbeddedBackend()

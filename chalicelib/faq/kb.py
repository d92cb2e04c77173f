"""The knowledge base as a service: DynamoDB first, then the search index, on every change.

The store is the source of truth. Each create, update, delete and import writes the store and then
the same FAQs to the index through the matcher (which keeps its intent classifier in step with the
backend). ``rebuild`` makes the index again from every stored FAQ: on demand (after an index outage),
and on first use when the index is empty (a process whose index lives in memory starts with none).

The intent classifier lives in the process. A process that finds the index already filled (a new Lambda
container in front of OpenSearch) restores it from the snapshot the last writer saved (``snapshots.py``,
S3 on AWS), or else fits it from the store once; after every write the snapshot is saved again, and a
process checks at most every ``snapshot_max_age`` seconds whether another one has saved a newer one.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.faq.embed import Embedder, PassageEmbedder, cjk_embedder, default_embedder
from chalicelib.faq.matcher import Matcher
from chalicelib.faq.model import Faq, RobotSettings
from chalicelib.faq.progress import CountingEmbedder
from chalicelib.faq.search.base import SearchBackend
from chalicelib.faq.snapshots import ClassifierSnapshots, SnapshotConflict, classifier_snapshots
from chalicelib.faq.store import FaqError, FaqNotFound, FaqRecord, FaqStore, validate_faq, validate_robot_settings
from chalicelib.faq.transfer import ImportResult, Source, export_text, plan_import
from chalicelib.platform.observability import logger
from chalicelib.settings import get_settings

SETTINGS_MAX_AGE_SECONDS = 30.0  # the robot reads settings on every message; other Lambdas see a save this late
SNAPSHOT_MAX_AGE_SECONDS = 30.0  # how late a process sees another's edit in its classifier (one HEAD per check)
SNAPSHOT_ATTEMPTS = 3  # saves of the classifier that lost a race to another writer before giving up
# What a snapshot store may raise besides a conflict: the robot and the write go on without it.
_STORE_ERRORS = (ClientError, BotoCoreError, OSError, ValueError)


class KnowledgeBase:
    """FAQs and robot settings: the store, the search backend and the matcher over it."""

    def __init__(self, store: FaqStore, backend: SearchBackend, embedder: Embedder | None = None, *,
                 load_on_first_use: bool | None = None, settings_max_age: float = SETTINGS_MAX_AGE_SECONDS,
                 clock: Callable[[], float] = time.monotonic,
                 snapshots: ClassifierSnapshots | Literal["settings"] | None = "settings",
                 snapshot_max_age: float = SNAPSHOT_MAX_AGE_SECONDS,
                 learn_later: Callable[[Callable[[], None]], None] | None = None,
                 chinese: PassageEmbedder | None = None) -> None:
        self.store = store
        self.backend = backend
        self.embedder = embedder
        self.chinese = chinese  # the model for Chinese FAQs (``embed.cjk_embedder``), where one is installed
        self.snapshots = classifier_snapshots() if snapshots == "settings" else snapshots
        self._load_on_first_use = load_on_first_use
        self._settings_max_age = settings_max_age
        self._snapshot_max_age = snapshot_max_age
        self._clock = clock
        self._lock = threading.RLock()
        self._matcher: Matcher | None = None
        self._settings: tuple[float, RobotSettings] | None = None
        self._snapshot_version: str | None = None  # of the snapshot the classifier was restored from or saved as
        self._snapshot_checked = 0.0
        self._learn_later = learn_later or in_background

    def matcher(self) -> Matcher:
        """The matcher over the backend, built on first use. The index is loaded from the store then if
        ``load_on_first_use`` says so (None, the default: if the backend holds no FAQ); otherwise only the
        intent classifier is, from the snapshot. Without a snapshot the classifier is fitted off the request
        path (``learn_later``; it embeds every text of the knowledge base, seconds for a thousand FAQs) and
        until then the matcher ranks without it (BM25 and cosine)."""
        with self._lock:
            if self._matcher is None:
                self._build(learn_now=False)
            elif self.snapshots is not None and self._clock() - self._snapshot_checked >= self._snapshot_max_age:
                self._snapshot_checked = self._clock()
                assert self._matcher is not None
                self._refresh(self._matcher)
            assert self._matcher is not None
            return self._matcher

    def _build(self, learn_now: bool) -> str:
        """Make the matcher (under the lock); returns where its classifier came from."""
        matcher = Matcher(self.backend, self.embedder, cjk_embedder=self.chinese)
        load = self._load_on_first_use
        source = "none"
        if load or (load is None and self.backend.count() == 0):
            matcher.index(self.store.all())
            self._publish(matcher)
            source = "index"
        elif matcher.embedder is not None:
            if self._restore(matcher):
                source = "snapshot"
            elif learn_now:
                self._learn(matcher)
                source = "fitted"
            else:
                source = "later"
                self._learn_later(lambda: self._learn(matcher))
        self._snapshot_checked = self._clock()
        self._matcher = matcher
        return source

    def _learn(self, matcher: Matcher) -> None:
        """Fit the classifier on every stored FAQ and save it for the other processes."""
        matcher.learn(self.store.all())
        with self._lock:
            self._publish(matcher)

    def prepare(self, *, learn: bool = True) -> str:
        """Build the matcher now rather than on first use (a Lambda's init: under SnapStart, once per published
        version). With ``learn``, a missing snapshot is fitted here and saved, not off the request path later.
        Returns where the classifier came from: ``snapshot``, ``fitted``, ``index`` (the index was loaded from
        the store), ``later``, ``none`` (no embedder) or ``built`` (the matcher was there already)."""
        with self._lock:
            return "built" if self._matcher is not None else self._build(learn_now=learn)

    def after_restore(self) -> None:
        """This process was resumed from a snapshot of its memory (SnapStart), maybe hours after it was taken:
        look for a newer classifier snapshot on the next use, and drop the search backend's connections."""
        with self._lock:
            self._snapshot_checked = float("-inf")
        close = getattr(self.backend, "close", None)
        if callable(close):
            close()

    # -- the classifier's snapshot ------------------------------------------------------------------
    def _restore(self, matcher: Matcher) -> bool:
        """Put the saved snapshot into ``matcher``'s classifier; False when there is none (or it is
        unreadable, or of another model)."""
        if self.snapshots is None or matcher.embedder is None:
            return False
        try:
            saved = self.snapshots.load()
            if saved is None:
                self._snapshot_version = None
                return False
            matcher.restore(saved[0])
        except _STORE_ERRORS as e:
            logger.warning("FAQ classifier snapshot not restored", extra={"error": repr(e)})
            return False
        self._snapshot_version = saved[1]
        return True

    def _refresh(self, matcher: Matcher) -> None:
        """Take another process's newer snapshot (its edits are in the shared index already)."""
        try:
            version = self.snapshots.version() if self.snapshots is not None else None
        except _STORE_ERRORS as e:
            logger.warning("FAQ classifier snapshot not checked", extra={"error": repr(e)})
            return
        if version is not None and version != self._snapshot_version:
            self._restore(matcher)

    def _publish(self, matcher: Matcher, redo: Callable[[Matcher], None] | None = None) -> None:
        """Save the classifier for the other processes. When another one saved first, take its snapshot
        and apply this process's change (``redo``) to it again; with no ``redo`` (a full index) ours
        replaces it. A failure is logged, not raised: the store and the index have the change already."""
        if self.snapshots is None or matcher.embedder is None or not matcher.complete:
            return
        try:
            for _ in range(SNAPSHOT_ATTEMPTS):
                try:
                    self._snapshot_version = self.snapshots.save(matcher.snapshot(),
                                                                 self._snapshot_version)
                    self._snapshot_checked = self._clock()
                    return
                except SnapshotConflict:
                    pass
                if redo is None:
                    self._snapshot_version = self.snapshots.version()
                elif self._restore(matcher):
                    redo(matcher)
        except _STORE_ERRORS as e:
            logger.warning("FAQ classifier snapshot not saved", extra={"error": repr(e)})
            return
        logger.warning("FAQ classifier snapshot not saved: other writers kept winning")

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
        self._upsert(matcher, [record.faq])
        return record

    def update(self, faq_id: str, changes: Mapping[str, Any], expected_version: int | None = None) -> FaqRecord:
        """Change a stored FAQ (see :meth:`FaqStore.update`), then index it."""
        matcher = self.matcher()
        record = self.store.update(faq_id, changes, expected_version)
        self._upsert(matcher, [record.faq])
        return record

    def delete(self, faq_id: str) -> bool:
        """Remove the FAQ from the store and the index; False if it was not stored."""
        matcher = self.matcher()
        deleted = self.store.delete(faq_id)
        matcher.delete([faq_id])  # also when not stored: an index that drifted heals
        with self._lock:
            self._publish(matcher, lambda m: m.teach(deleted=[faq_id]))
        return deleted

    def _upsert(self, matcher: Matcher, faqs: Sequence[Faq]) -> None:
        matcher.upsert(faqs)
        with self._lock:
            self._publish(matcher, lambda m: m.teach(faqs))

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
                self._upsert(matcher, plan.faqs)
        return plan.result

    def export(self, fmt: str, progress: Callable[[int], object] | None = None) -> str:
        """Every stored FAQ as JSONL or CSV (importing it gives the same FAQs back)."""
        return export_text(self.store.all(), fmt, progress)

    def rebuild(self, stored: Sequence[Faq] | None = None,
                progress: Callable[[int, int], object] | None = None) -> int:
        """Index every stored FAQ afresh; returns how many are indexed (the enabled ones). ``stored``: a
        caller that has just written every FAQ the store holds (an import into an empty table) passes them,
        sparing a read of the whole table. ``progress(done, total)``: told how many of the ``total`` enabled
        FAQs are embedded (estimated from the texts embedded, which is where the time goes), first with 0 and
        last with ``total`` once the index holds them; an exception it raises stops the rebuild."""
        with self._lock:
            if self._matcher is None:
                self._matcher = Matcher(self.backend, self.embedder, cjk_embedder=self.chinese)
            matcher = self._matcher
        faqs = self.store.all() if stored is None else stored
        if progress is None:
            count = matcher.index(faqs)
        else:
            matcher, count = self._index_counting(list(faqs), progress)
        with self._lock:
            self._publish(matcher)
        return count

    def _index_counting(self, faqs: list[Faq], progress: Callable[[int, int], object]) -> tuple[Matcher, int]:
        """``rebuild`` through a matcher of its own whose embedder reports, adopted once the index is built."""
        total = sum(1 for f in faqs if f.enabled)
        progress(0, total)
        counting = None if self.embedder is None else CountingEmbedder(
            self.embedder, lambda share: progress(min(total - 1, int(total * share)), total) if total else None)
        matcher = Matcher(self.backend, counting or self.embedder, cjk_embedder=self.chinese)
        count = matcher.index(faqs)
        matcher.embedder = self.embedder  # the queries it embeds from now on are nobody's progress
        with self._lock:
            self._matcher = matcher
        progress(total, total)
        return matcher, count

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
            found = self.store.get_many(settings.all_questions())
            questions = settings.suggested_questions
            lists = ({f"suggested_questions.{k}": v for k, v in questions.items()} if isinstance(questions, Mapping)
                     else {"suggested_questions": questions})
            for where, ids in lists.items():
                for i, faq_id in enumerate(ids):
                    if faq_id not in found:
                        raise FaqError(f"{where}[{i}]", f"no FAQ with id '{faq_id}'")
        saved = self.store.save_robot_settings(settings)
        with self._lock:
            self._settings = (self._clock(), saved)
        return saved



def in_background(work: Callable[[], None]) -> None:
    """Run ``work`` on a daemon thread, logging a failure (a Lambda runs it while it serves its next requests)."""
    def run() -> None:
        try:
            work()
        except Exception as e:  # a failed fit leaves the matcher as it was (ranking without the classifier)
            logger.warning("FAQ classifier not fitted in the background", extra={"error": repr(e)})

    threading.Thread(target=run, name="faq-classifier-fit", daemon=True).start()


def search_backend() -> SearchBackend:
    """The backend the settings name: ``embedded`` (in the process) or ``opensearch``."""
    settings = get_settings()
    if settings.search_backend == "opensearch":
        from chalicelib.faq.search.opensearch import OpenSearchBackend

        serverless = ".aoss.amazonaws.com" in settings.opensearch_url
        return OpenSearchBackend(settings.opensearch_url, settings.opensearch_index, region=settings.region,
                                 service="aoss" if serverless else "es", timeout=settings.opensearch_timeout_seconds)
    if settings.search_backend != "embedded":
        raise ValueError(f"SEARCH_BACKEND must be embedded or opensearch, not {settings.search_backend!r}")
    from chalicelib.faq.search.embedded import EmbeddedBackend

    return EmbeddedBackend()


def default_knowledge_base() -> KnowledgeBase:
    """A knowledge base over DynamoDB, the configured search backend and the shipped embedder (the serving
    process keeps one in ``wiring``; the CLI builds its own)."""
    return KnowledgeBase(FaqStore(), search_backend(), default_embedder(), chinese=cjk_embedder())

"""Rebuilding the search index as a job: POST /faqs/reindex starts one and answers at once; a function of its
own (``faq_reindex``, invoked asynchronously, 15 minutes on AWS) runs it and records its progress.

A job is an item of the ``faq-jobs`` table, and the item ``latest`` names the newest one. Starting a job moves
that pointer with a condition on the job it named, in the same transaction as the new job's item: of two
admins starting at once, one wins and the other is shown the winner's job, so two rebuilds never run side by
side, in any number of Lambda containers.

A running job writes its progress every ``PROGRESS_STEP`` of its FAQs and at least every ``HEARTBEAT_SECONDS``
while it advances, each write stamping ``heartbeat_at``. A job whose function died (a timeout, a crash, an
invocation Lambda never ran) stops writing: once its heartbeat is ``STALE_AFTER_SECONDS`` old it reads as
failed, and the next start marks it so and replaces it. Should its function still be alive after all, its next
write finds the job no longer running and it stops.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, ClassVar

from pynamodb.exceptions import DoesNotExist, PynamoDBException
from pynamodb.expressions.update import Action

from chalicelib.faq.kb import KnowledgeBase
from chalicelib.faq.models import LATEST_JOB_KEY, ReindexJobItem
from chalicelib.faq.store import FaqError, FaqNotFound
from chalicelib.platform.clock import SYSTEM_CLOCK, Clock
from chalicelib.platform.dynamo import is_condition_failed, transaction
from chalicelib.platform.invoke import InvokeFailed, Invoker
from chalicelib.platform.modelbase import expires
from chalicelib.platform.observability import logger

QUEUED, RUNNING, SUCCEEDED, FAILED = "queued", "running", "succeeded", "failed"
ACTIVE = (QUEUED, RUNNING)
PROGRESS_STEP = 0.05  # of the job's FAQs between two progress writes: about 20 writes a job
HEARTBEAT_SECONDS = 30.0  # at most this long between two writes while the job advances
# Past this without a write, a queued or running job counts as dead. Longer than the job's quiet spells: reading
# the FAQ table before its first progress, and writing the index after its last (minutes for a large index).
STALE_AFTER_SECONDS = 300.0
KEEP_SECONDS = 7 * 24 * 3600  # a job's item expires (DynamoDB TTL) a week after it was started
MAX_ERROR = 500  # characters of a failure's message kept on the job
JOB_ID = re.compile(r"[0-9a-f]{21}")
_START_ATTEMPTS = 3  # another admin's start slipping in between the read and the write: read again


class ReindexRunning(FaqError):
    """A job is queued or running already: its JSON is the error's ``job``."""

    code = "reindex_running"
    STATUS: ClassVar[dict[str, int]] = {**FaqError.STATUS, "reindex_running": 409}


class ReindexUnavailable(FaqError):
    """The job's function could not be started (or none is configured)."""

    code = "unavailable"
    STATUS: ClassVar[dict[str, int]] = {**FaqError.STATUS, "unavailable": 503}


class Superseded(Exception):
    """The job being run is no longer running (it was declared dead and replaced): its function stops."""


@dataclass(frozen=True)
class ReindexJob:
    job_id: str
    state: str
    requested_by: str
    total: int | None
    done: int
    indexed: int | None
    error: str | None
    created_at: int
    started_at: int | None
    finished_at: int | None
    heartbeat_at: int

    def as_dict(self) -> dict[str, Any]:
        return {"job_id": self.job_id, "state": self.state, "requested_by": self.requested_by,
                "total": self.total, "done": self.done, "indexed": self.indexed, "error": self.error,
                "created_at": self.created_at, "started_at": self.started_at, "finished_at": self.finished_at,
                "heartbeat_at": self.heartbeat_at}


def _job(item: ReindexJobItem) -> ReindexJob:
    return ReindexJob(job_id=item.job_id, state=item.state or FAILED, requested_by=item.requested_by or "",
                      total=_int(item.total), done=_int(item.done) or 0, indexed=_int(item.indexed),
                      error=item.error, created_at=_int(item.created_at) or 0, started_at=_int(item.started_at),
                      finished_at=_int(item.finished_at), heartbeat_at=_int(item.heartbeat_at) or 0)


def _int(value: float | None) -> int | None:
    return None if value is None else int(value)


class Progress:
    """The ``progress`` callback of one job's rebuild: writes ``(done, total)`` through ``write`` at the start,
    every ``step`` of the total, at least every ``heartbeat`` seconds while it advances, and at the end; other
    calls write nothing."""

    def __init__(self, write: Callable[[int, int], None], clock: Clock = SYSTEM_CLOCK, step: float = PROGRESS_STEP,
                 heartbeat: float = HEARTBEAT_SECONDS) -> None:
        self._write = write
        self._clock = clock
        self._step = step
        self._heartbeat = heartbeat
        self._written: tuple[int, int, float] | None = None  # (done, total, when)

    def __call__(self, done: int, total: int) -> None:
        now = self._clock.now()
        last = self._written
        if last is not None:
            if (done, total) == last[:2]:
                return
            due = done >= total or done - last[0] >= max(1, int(total * self._step)) or total != last[1]
            if not due and now - last[2] < self._heartbeat:
                return
        self._write(done, total)
        self._written = (done, total, now)


class ReindexJobs:
    """Starts, runs and reads the jobs that rebuild the knowledge base's search index (owner of ``faq-jobs``).

    A job runs in ``function`` (the ``faq_reindex`` Lambda), started through ``invoker`` with ``{"job_id": ...}``
    (``wiring``: Lambda's asynchronous invoke; the local stack's runs it in a thread); with no ``function``,
    starting a job is refused."""

    def __init__(self, kb: KnowledgeBase, invoker: Invoker, function: str, clock: Clock = SYSTEM_CLOCK, *,
                 stale_after: float = STALE_AFTER_SECONDS, step: float = PROGRESS_STEP,
                 heartbeat: float = HEARTBEAT_SECONDS) -> None:
        self.kb = kb
        self._invoker = invoker
        self._function = function
        self._clock = clock
        self._stale_after_ms = int(stale_after * 1000)
        self._step = step
        self._heartbeat = heartbeat

    # -- reading -----------------------------------------------------------------------------------
    def get(self, job_id: str) -> ReindexJob:
        """The job as it stands (a dead one as failed); :class:`FaqNotFound` if there is none."""
        item = self._item(job_id) if JOB_ID.fullmatch(job_id) else None
        if item is None:
            raise FaqNotFound(None, f"no reindex job with id '{job_id}'")
        return self._as_seen(item, self._clock.now_ms())

    def latest(self) -> ReindexJob:
        """The newest job; :class:`FaqNotFound` before the first (or once it expired)."""
        pointer = self._item(LATEST_JOB_KEY)
        item = self._item(pointer.latest) if pointer is not None and pointer.latest else None
        if item is None:
            raise FaqNotFound(None, "no reindex job has been started")
        return self._as_seen(item, self._clock.now_ms())

    def _item(self, job_id: str) -> ReindexJobItem | None:
        try:
            item = ReindexJobItem.get(job_id, consistent_read=True)
        except DoesNotExist:
            return None
        # DynamoDB deletes expired items only within days (and moto never): an expired job is gone.
        if item.expires_at is not None and item.expires_at.timestamp() <= self._clock.now():
            return None
        return item

    def _is_dead(self, item: ReindexJobItem, now_ms: int) -> bool:
        return item.state in ACTIVE and now_ms - int(item.heartbeat_at or 0) >= self._stale_after_ms

    def _as_seen(self, item: ReindexJobItem, now_ms: int) -> ReindexJob:
        job = _job(item)
        if not self._is_dead(item, now_ms):
            return job
        return replace(job, state=FAILED, error=self._dead_message())

    def _dead_message(self) -> str:
        return (f"the job stopped reporting progress for {self._stale_after_ms // 1000} s "
                "(its function timed out or crashed)")

    # -- starting ----------------------------------------------------------------------------------
    def start(self, requested_by: str) -> ReindexJob:
        """A new queued job, its function started; :class:`ReindexRunning` with the job already queued or
        running; :class:`ReindexUnavailable` when the function cannot be started. A dead job in the way is
        marked failed in the same transaction that replaces it."""
        if not self._function:
            raise ReindexUnavailable(None, "reindexing is not configured here (FAQ_REINDEX_FUNCTION is empty)")
        for _ in range(_START_ATTEMPTS):
            pointer = self._item(LATEST_JOB_KEY)
            current = self._item(pointer.latest) if pointer is not None and pointer.latest else None
            now = self._clock.now_ms()
            if current is not None and current.state in ACTIVE and not self._is_dead(current, now):
                raise ReindexRunning(None, "the index is being rebuilt already: follow that job",
                                     job=_job(current).as_dict())
            job = ReindexJobItem(f"{now:013x}{secrets.token_hex(4)}", state=QUEUED, requested_by=requested_by,
                                 done=0, created_at=now, heartbeat_at=now,
                                 expires_at=self._expiry(now))
            try:
                with transaction() as tx:
                    if pointer is None:
                        tx.put(ReindexJobItem(LATEST_JOB_KEY, latest=job.job_id),
                               ReindexJobItem.job_id.does_not_exist(), label="pointer")
                    else:
                        # Only if nobody started a job since this read.
                        tx.update(pointer, [ReindexJobItem.latest.set(job.job_id)],
                                  ReindexJobItem.latest == pointer.latest, label="pointer")
                    if current is not None and current.state in ACTIVE:
                        # Dead: failed now, unless it wrote since this read (then the transaction fails).
                        tx.update(current, [ReindexJobItem.state.set(FAILED), ReindexJobItem.finished_at.set(now),
                                            ReindexJobItem.error.set(self._dead_message())],
                                  (ReindexJobItem.state == current.state)
                                  & (ReindexJobItem.heartbeat_at == current.heartbeat_at), label="dead")
                    tx.put(job, ReindexJobItem.job_id.does_not_exist(), label="job")
            except PynamoDBException as err:
                if not is_condition_failed(err):
                    raise
                continue  # another start, or the old job's heartbeat, came first: look again
            self._launch_or_fail(job)
            return _job(job)
        raise ReindexRunning(None, "other reindex jobs kept starting at the same moment; try again")

    def _launch_or_fail(self, job: ReindexJobItem) -> None:
        try:
            self._invoker.invoke(self._function, {"job_id": job.job_id})
        except InvokeFailed as err:
            # Nothing will run it: failed at once, so it does not hold the next start back for minutes.
            self._finish(job.job_id, QUEUED, FAILED, error=str(err)[:MAX_ERROR])
            raise ReindexUnavailable(None, f"the reindex job could not be started: {err}") from None

    @staticmethod
    def _expiry(now_ms: int) -> datetime:
        return expires(now_ms / 1000 + KEEP_SECONDS)

    # -- running (the job's function) -----------------------------------------------------------
    def run(self, job_id: str) -> ReindexJob | None:
        """Run a queued job: rebuild the index, recording progress, then the outcome. A job that is not queued
        (a second delivery of the same invocation, a job replaced meanwhile) is left alone: None."""
        now = self._clock.now_ms()
        try:
            ReindexJobItem(job_id).update(
                [ReindexJobItem.state.set(RUNNING), ReindexJobItem.started_at.set(now),
                 ReindexJobItem.heartbeat_at.set(now)],
                condition=(ReindexJobItem.state == QUEUED) & (ReindexJobItem.heartbeat_at
                                                              >= now - self._stale_after_ms))
        except PynamoDBException as err:
            if not is_condition_failed(err):
                raise
            logger.warning("reindex job not run: it is not queued (or it expired waiting)", extra={"job": job_id})
            return None
        progress = Progress(lambda done, total: self._report(job_id, done, total), self._clock, self._step,
                            self._heartbeat)
        try:
            indexed = self.kb.rebuild(progress=progress)
        except Superseded:
            logger.warning("reindex job stopped: it was replaced", extra={"job": job_id})
            return None
        except Exception as err:  # whatever stopped the rebuild is the job's outcome, for the admin to read
            logger.exception("reindex job failed", extra={"job": job_id})
            return self._finish(job_id, RUNNING, FAILED, error=f"{type(err).__name__}: {err}"[:MAX_ERROR])
        return self._finish(job_id, RUNNING, SUCCEEDED, indexed=indexed)

    def _report(self, job_id: str, done: int, total: int) -> None:
        try:
            ReindexJobItem(job_id).update(
                [ReindexJobItem.done.set(done), ReindexJobItem.total.set(total),
                 ReindexJobItem.heartbeat_at.set(self._clock.now_ms())],
                condition=ReindexJobItem.state == RUNNING)
        except PynamoDBException as err:
            if is_condition_failed(err):
                raise Superseded(job_id) from None
            raise

    def _finish(self, job_id: str, from_state: str, state: str, *, indexed: int | None = None,
                error: str | None = None) -> ReindexJob | None:
        now = self._clock.now_ms()
        actions: list[Action] = [ReindexJobItem.state.set(state), ReindexJobItem.finished_at.set(now),
                                 ReindexJobItem.heartbeat_at.set(now)]
        if indexed is not None:
            actions += [ReindexJobItem.indexed.set(indexed), ReindexJobItem.done.set(indexed)]
        if error is not None:
            actions.append(ReindexJobItem.error.set(error))
        item = ReindexJobItem(job_id)
        try:
            item.update(actions, condition=ReindexJobItem.state == from_state)
        except PynamoDBException as err:
            if not is_condition_failed(err):
                raise
            logger.warning("reindex job outcome not recorded: it was replaced", extra={"job": job_id})
            return None
        return _job(item)

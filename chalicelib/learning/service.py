"""The learning loop's log: questions the robot declined, answers a visitor marked not helpful, and answers
followed at once by "talk to a person", grouped per knowledge base (``grouping.py``) with counts, for admins to
turn into similar questions, new FAQs or off-topic examples.

Collecting is on the robot's path, so it is one UpdateItem per event (counts added, the latest wording set) and
never fails the visitor's message: a failed write is logged and counted, and the event is lost. Reading (the
admins' list, the off-topic examples) is one Query of the knowledge base's partition.

Off-topic examples are kept as groups with status ``off_topic`` and, for cheap reading, as a copy in the partition
``{kb}#off_topic`` (one more write when an admin marks one): ``off_topic_examples`` gives their texts, and
``is_off_topic`` tells the robot whether a question is a near-duplicate of one, from a set each process reads at
most every OFF_TOPIC_MAX_AGE seconds (one Query of that small partition), so the robot never searches for it.
"""

from __future__ import annotations

from typing import Any, Literal

from pynamodb.exceptions import PynamoDBException, UpdateError
from pynamodb.expressions.update import Action

from chalicelib.learning.errors import LearningError
from chalicelib.learning.grouping import MAX_TEXT, group_key
from chalicelib.learning.models import LearningGroup
from chalicelib.platform.clock import SYSTEM_CLOCK, Clock
from chalicelib.platform.dynamo import is_condition_failed
from chalicelib.platform.observability import logger

DEFAULT_KB = "default"  # the product has one knowledge base today; the partition key leaves room for more
Kind = Literal["declined", "not_helpful", "handoff"]
KINDS: tuple[Kind, ...] = ("declined", "not_helpful", "handoff")
STATUSES = ("open", "similar", "faq", "off_topic")
MAX_GROUPS = 1000  # read per list: the open groups of a busy shop fit, older ones are resolved or stale
OFF_TOPIC_MAX_AGE = 60.0  # seconds a process keeps the off-topic set before reading it again


def group_json(group: LearningGroup) -> dict[str, Any]:
    examples = [group.first_text] if group.first_text == group.last_text else [group.last_text, group.first_text]
    return {"group_id": group.group_key, "text": group.last_text, "examples": examples, "count": int(group.total),
            "declined": int(group.declined), "not_helpful": int(group.not_helpful), "handoff": int(group.handoff),
            "faq_ids": sorted(group.faq_ids or ()), "first_at": int(group.first_at), "last_at": int(group.last_at),
            "status": group.status, "resolved_faq": group.resolved_faq}


class LearningLog:
    def __init__(self, clock: Clock = SYSTEM_CLOCK, kb: str = DEFAULT_KB) -> None:
        self._clock = clock
        self._kb = kb
        self._off_topic: tuple[float, dict[str, str]] | None = None  # (read at, group key -> its text)

    def record(self, kind: Kind, text: str, faq_id: str | None = None) -> None:
        """Count ``text`` in its group as ``kind`` (one write); never raises for a store failure."""
        text = text.strip()[:MAX_TEXT]
        if not text:
            return
        now = self._clock.now_ms()
        g = LearningGroup
        actions: list[Action] = [g.first_text.set(g.first_text | text), g.last_text.set(text), g.total.add(1),
                   getattr(g, kind).add(1), g.first_at.set(g.first_at | now), g.last_at.set(now),
                   g.status.set(g.status | "open")]
        for other in KINDS:
            if other != kind:
                actions.append(getattr(g, other).set(getattr(g, other) | 0))
        if faq_id:
            actions.append(g.faq_ids.add({faq_id}))
        try:
            g(self._kb, group_key(text)).update(actions=actions)
        except PynamoDBException as e:
            logger.warning("learning event lost", extra={"kind": kind, "error": repr(e)})

    def groups(self, status: str = "open", order: str = "recent", limit: int = 100) -> list[LearningGroup]:
        """The knowledge base's groups in ``status``, newest (``recent``) or most frequent (``count``) first."""
        found = [x for x in LearningGroup.query(self._kb, limit=MAX_GROUPS) if x.status == status]
        if order == "count":
            found.sort(key=lambda x: (-int(x.total), -int(x.last_at)))
        else:
            found.sort(key=lambda x: -int(x.last_at))
        return found[:limit]

    def get(self, group_id: str) -> LearningGroup:
        try:
            return LearningGroup.get(self._kb, group_id)
        except LearningGroup.DoesNotExist:
            raise LearningError("not_found", "no such group") from None

    def resolve(self, who: str, group_id: str, status: str, faq_id: str | None = None) -> LearningGroup:
        """Mark an open group done: added to ``faq_id`` (``similar``), made an FAQ (``faq``) or ``off_topic``."""
        group = self.get(group_id)
        g = LearningGroup
        try:
            actions: list[Action] = [g.status.set(status), g.resolved_by.set(who),
                                     g.resolved_at.set(self._clock.now_ms())]
            if faq_id is not None:
                actions.append(g.resolved_faq.set(faq_id))
            group.update(actions=actions, condition=g.status == "open")
        except UpdateError as e:
            if is_condition_failed(e):
                raise LearningError("conflict", "this group was already resolved") from None
            raise
        if status == "off_topic":
            now = self._clock.now_ms()
            LearningGroup(self._off_topic_kb, group.group_key, first_text=group.last_text, last_text=group.last_text,
                          first_at=now, last_at=now, status="off_topic", resolved_by=who).save()
            self._off_topic = None  # this process sees it at once
        return group

    @property
    def _off_topic_kb(self) -> str:
        return f"{self._kb}#off_topic"

    def off_topic_examples(self, limit: int = 200) -> list[str]:
        """The texts admins marked off-topic, newest first: negatives for the rejection gate."""
        found = sorted(LearningGroup.query(self._off_topic_kb), key=lambda x: -int(x.last_at))
        return [x.last_text for x in found[:limit]]

    def is_off_topic(self, text: str) -> bool:
        """Whether ``text`` is a near-duplicate (the same group) of a question an admin marked off-topic."""
        return group_key(text) in self._marked()

    def off_topic_texts(self) -> list[str]:
        """The questions admins marked off-topic, for the matcher's gate (``Matcher.set_off_topic``): from the same
        read as :meth:`is_off_topic`, so no more than one Query a minute for both."""
        return sorted(self._marked().values())

    def _marked(self) -> dict[str, str]:
        now = self._clock.now()
        cached = self._off_topic
        if cached is None or now - cached[0] > OFF_TOPIC_MAX_AGE:
            try:
                marked = {x.group_key: x.last_text for x in LearningGroup.query(
                    self._off_topic_kb, attributes_to_get=["group_key", "last_text"])}
            except PynamoDBException as e:
                logger.warning("off-topic examples unreadable; none used", extra={"error": repr(e)})
                marked = cached[1] if cached is not None else {}
            cached = self._off_topic = (now, marked)
        return cached[1]


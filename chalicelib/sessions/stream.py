"""The sessions table's change stream, read by whatever needs to know how conversations went, off the request path.

DynamoDB Streams hands the table's changes (old and new image of each write) to one Lambda function
(``sessions_stream`` in ``chalicelib/edge/reports.py``; on the local stack, ``local/streams.py`` feeds it the same
events from moto's stream). :class:`SessionStream` decodes the batch once into :class:`SessionChange` values and
passes it to every registered consumer: the reports' aggregator, and any other reader of finished conversations,
registered with :func:`on_closed` (for example a search index of closed sessions).

The function runs with a tumbling window (``infra/build.py``): Lambda carries a state from one batch of a stream
shard to the next within the window, names the shard, and marks the window's last call final. A consumer that sums
(the reports) keeps its sums in that state and writes once per window and shard; one that acts per session (an
index) acts on every batch. Records arrive at least once: a consumer must be idempotent for a batch given again.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from chalicelib.sessions import models as sm
from chalicelib.sessions.models import Session

# Stream sequence numbers have 21 to 40 digits; padded to 40 they compare as strings in their numeric order.
SEQ_DIGITS = 40


@dataclass(frozen=True)
class SessionChange:
    """One write of a session: the item before (None for a new one) and after (None if deleted)."""

    old: Session | None
    new: Session | None
    seq: str  # the record's sequence number in its shard, padded to SEQ_DIGITS

    @property
    def closed(self) -> bool:
        """This write closed the session (at most one write does: every close is conditional on an open one)."""
        return (self.new is not None and self.new.status == sm.CLOSED
                and (self.old is None or self.old.status != sm.CLOSED))

    def became(self, attribute: str) -> bool:
        """This write set ``attribute`` where it had none."""
        return (self.new is not None and getattr(self.new, attribute) is not None
                and (self.old is None or getattr(self.old, attribute) is None))


@dataclass
class StreamBatch:
    """What one call of the function hands a consumer: the batch's changes in stream order, the shard they come
    from, whether the window closes with this call, and the consumer's own part of the window's state (carried
    to its next call while the window lasts; change it in place)."""

    changes: list[SessionChange]
    shard_id: str
    final: bool
    state: dict[str, Any] = field(default_factory=dict)


class StreamConsumer(Protocol):
    def __call__(self, batch: StreamBatch) -> None: ...


def decode(record: dict[str, Any]) -> SessionChange:
    """A DynamoDB Streams record (as Lambda passes it) as a :class:`SessionChange`."""
    data = record["dynamodb"]

    def image(name: str) -> Session | None:
        raw = data.get(name)
        return Session.from_raw_data(raw) if raw else None

    return SessionChange(image("OldImage"), image("NewImage"), str(data["SequenceNumber"]).zfill(SEQ_DIGITS))


def on_closed(action: Callable[[Session], None]) -> StreamConsumer:
    """A consumer that calls ``action`` with each session as its close left it (e.g. to index it). Called again
    if the batch is given again: ``action`` must be idempotent."""
    def consume(batch: StreamBatch) -> None:
        for change in batch.changes:
            if change.closed and change.new is not None:
                action(change.new)
    return consume


class SessionStream:
    """The registration point: consumers by name, each called with every batch, in the order registered."""

    def __init__(self) -> None:
        self._consumers: dict[str, StreamConsumer] = {}

    def register(self, name: str, consumer: StreamConsumer) -> None:
        """Add ``consumer`` under ``name`` (its key in the window's state); a name is registered once."""
        if name in self._consumers:
            raise ValueError(f"a stream consumer named {name!r} is registered already")
        self._consumers[name] = consumer

    @property
    def names(self) -> list[str]:
        return list(self._consumers)

    def handle(self, event: dict[str, Any]) -> dict[str, Any]:
        """One Lambda call: decode the records, run every consumer, and return the window's state for the next
        call (Lambda treats an answer without ``state`` as a failure when a tumbling window is set). A consumer
        that raises fails the call: Lambda gives the same batch again, with the state it had before."""
        shard_id = event.get("shardId")
        if not shard_id:
            raise ValueError("a sessions stream event names its shard (the mapping must set a tumbling window)")
        changes = [decode(r) for r in event.get("Records") or []]
        final = bool(event.get("isFinalInvokeForWindow"))
        # Each consumer's part is kept as a JSON string (Lambda's examples keep a map of strings).
        carried: dict[str, Any] = dict(event.get("state") or {})
        state: dict[str, str] = {}
        for name, consumer in self._consumers.items():
            part = carried.get(name)
            batch = StreamBatch(changes, str(shard_id), final, json.loads(part) if part else {})
            consumer(batch)
            if batch.state and not final:
                state[name] = json.dumps(batch.state, separators=(",", ":"))
        return {"state": state, "batchItemFailures": []}

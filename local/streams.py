"""DynamoDB Streams for the local stack: the sessions table's stream, read from moto and handed to the same function
Lambda runs on AWS (``sessions_stream``, chalicelib/edge/reports.py).

On AWS an event source mapping polls the stream with a tumbling window (infra/build.py) and passes each batch with
its shard id and window state. Here a thread polls moto's stream every ``interval`` seconds and makes each poll a
window of its own (``isFinalInvokeForWindow``), so what an ended chat adds to the reports is there within about a
second. Only the records the mapping's filter lets through on AWS are passed (``wanted``).

**Across a restart.** moto keeps the stream in memory: a restarted stack rebuilds its tables from the snapshot and
the journal (local/journal.py), which writes every item again and so makes a stream record for each, none of them a
new event. The reports' aggregates are a table too, restored to what the consumer had written before the stop, so
the poller starts at the stream's end (``LATEST``) once the state is back and skips those records. A clean stop
drains the stream before the state is saved, so nothing is lost; a ``kill -9`` loses what the poller had not yet
read (at most the last ``interval``: the reports then miss those conversations, the sessions themselves are kept).
moto starts a restarted stream's sequence numbers over, so each start takes a shard id of its own: the aggregates'
per-shard marks (chalicelib/reports/store.py) of an earlier run never hide a new record.

moto keeps every record it ever made; the poller trims what it has consumed, so the stream's memory stays small.
And moto makes a record (both images, as JSON) for every write, a message's sequence number included, where the
deployed mapping's filter lets Lambda see only a few: ``install_filter`` makes moto keep only those of the sessions
table (the rest would only be read and dropped, and held in memory until then).
"""

from __future__ import annotations

import functools
import logging
import secrets
import threading
from collections.abc import Callable
from typing import Any

from moto.dynamodb.models.table import StreamShard

from local import dynamodb_atomic

Handler = Callable[[dict[str, Any], Any], Any]
log = logging.getLogger(__name__)


def wanted(record: dict[str, Any]) -> bool:
    """What the mapping's filter passes on AWS (infra/build.py STREAM_FILTERS): writes of closed sessions, and
    the write that first marks a left message."""
    data = record.get("dynamodb") or {}
    new, old = data.get("NewImage") or {}, data.get("OldImage") or {}
    if new.get("status", {}).get("S") == "closed":
        return True
    return "left_message_at" in new and "left_message_at" not in old


def wanted_items(old: Any, new: Any) -> bool:
    """``wanted`` on moto's items (before a record is made of them)."""
    def attr(item: Any, name: str) -> Any:
        return item.attrs.get(name) if item is not None else None

    status = attr(new, "status")
    if status is not None and status.value == "closed":
        return True
    return attr(new, "left_message_at") is not None and attr(old, "left_message_at") is None


_original_add = StreamShard.add


def _add(self: StreamShard, old: Any, new: Any) -> None:
    if self.table.name == _sessions_table() and not wanted_items(old, new):
        return  # on AWS, the mapping's filter drops it; here it is never made
    _original_add(self, old, new)


@functools.cache
def _sessions_table() -> str:
    from chalicelib.sessions.models import Session

    return str(Session.Meta.table_name)


def install_filter() -> None:
    """Make moto keep only the sessions table's stream records that the deployed filter passes."""
    StreamShard.add = _add  # type: ignore[method-assign]


class StreamPoller:
    """Polls the stream of ``table`` and calls ``handler(event, None)`` with each poll's records as one window."""

    def __init__(self, table: str, handler: Handler, interval: float = 0.5, limit: int = 1000) -> None:
        self._table = table
        self._handler = handler
        self.interval = interval
        self._limit = limit
        self._stopped = threading.Event()
        self._lock = threading.Lock()  # one poll at a time (the thread's and a drain's)
        self._thread: threading.Thread | None = None
        self._iterator: str | None = None
        self._stream_arn = ""
        self._deliver = True
        self.shard_id = ""
        self.delivered = 0  # records handed to the function, for tests

    @staticmethod
    def _client() -> Any:
        from chalicelib.platform import aws

        return aws.client("dynamodbstreams")

    def open(self) -> None:
        """Start reading at the stream's end: what is there was made by restoring the state (see above)."""
        from chalicelib.platform import aws

        self._stream_arn = aws.client("dynamodb").describe_table(TableName=self._table)["Table"]["LatestStreamArn"]
        shard = self._client().describe_stream(StreamArn=self._stream_arn)["StreamDescription"]["Shards"][0]
        self._iterator = self._client().get_shard_iterator(
            StreamArn=self._stream_arn, ShardId=shard["ShardId"], ShardIteratorType="LATEST")["ShardIterator"]
        self.shard_id = f"{shard['ShardId']}-{secrets.token_hex(6)}"

    def start(self, deliver: bool = True) -> None:
        """Read the stream every ``interval`` seconds; without ``deliver``, only drop what moto keeps (a stack whose
        benchmarks measure without the reports still must not hold every session write in memory)."""
        self._deliver = deliver
        self.open()
        self._thread = threading.Thread(target=self._run, name="sessions stream", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stopped.wait(self.interval):
            try:
                self.drain()
            except Exception:  # the next poll gives the same records again, as Lambda retries a window
                log.exception("sessions stream consumer failed")

    def drain(self) -> int:
        """Poll until the stream has nothing more; returns how many records went to the function."""
        total = 0
        while (count := self.poll()) > 0:
            total += count
        return total

    def poll(self) -> int:
        """One window: read up to ``limit`` records, hand those wanted to the function, then move on and trim what
        was read. A failing function leaves the position where it was (the same records next time)."""
        with self._lock:
            if self._iterator is None:
                return 0
            page = self._client().get_records(ShardIterator=self._iterator, Limit=self._limit)
            records = page.get("Records") or []
            if not records:
                self._iterator = page["NextShardIterator"]
                return 0
            passed = [self._event_record(r) for r in records if wanted(r)] if self._deliver else []
            if passed:
                self._handler({"Records": passed, "shardId": self.shard_id, "eventSourceARN": self._stream_arn,
                               "state": {}, "isFinalInvokeForWindow": True, "isWindowTerminatedEarly": False},
                              None)
            self._iterator = page["NextShardIterator"]
            self.delivered += len(passed)
            self._trim(max(int(r["dynamodb"]["SequenceNumber"]) for r in records))
            return len(records)

    def _event_record(self, record: dict[str, Any]) -> dict[str, Any]:
        data = {k: v for k, v in record["dynamodb"].items() if k != "ApproximateCreationDateTime"}
        return {"eventID": record.get("eventID"), "eventName": record.get("eventName"), "eventSource": "aws:dynamodb",
                "eventSourceARN": self._stream_arn, "dynamodb": data}

    def _trim(self, last_seq: int) -> None:
        """Forget every record up to ``last_seq`` (moto would keep them all, those of the restore too); positions
        are absolute sequence numbers, so iterators stay valid."""
        from moto.core.models import DEFAULT_ACCOUNT_ID
        from moto.dynamodb.models import dynamodb_backends

        from chalicelib.settings import get_settings

        with dynamodb_atomic.lock:
            shard = dynamodb_backends[DEFAULT_ACCOUNT_ID][get_settings().region].get_table(self._table).stream_shard
            if shard is None:
                return
            consumed = min(last_seq - shard.starting_sequence_number + 1, len(shard.items))
            if consumed <= 0:
                return
            del shard.items[:consumed]
            shard.starting_sequence_number += consumed


def sessions_poller(functions: dict[str, Handler], interval: float = 0.5) -> StreamPoller:
    """The poller of the sessions table's stream for the app's ``sessions_stream`` function."""
    from chalicelib.sessions.models import Session

    return StreamPoller(str(Session.Meta.table_name), functions["sessions_stream"], interval)

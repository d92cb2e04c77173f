"""Crash safety for the local stack: every acknowledged write is on disk before its reply.

moto keeps AWS in memory, so without this a ``kill -9`` (or a crash) loses everything since the last
clean stop. The local stack therefore keeps two files in its state folder:

- ``snapshot.json``: every item of every table, written whole (at start, at a clean stop, and when the
  journal has grown), carrying the *generation* of the journal that continues it;
- ``journal-<generation>.log``: one line per successful DynamoDB write request (PutItem, UpdateItem,
  DeleteItem, BatchWriteItem, TransactWriteItems), its wire body exactly as the app sent it, appended
  before moto's answer goes back to the caller (so before any reply to a client).

At start the snapshot is loaded and its own generation's journal replayed through moto in the original
order. Replay is exact: every journalled request succeeded against the same state it meets again (its
condition held then, and holds now), and a request's values were computed by the caller, never by the
server clock. Compaction writes a new snapshot under the next generation and only then deletes the old
journal, so a crash between the two replays nothing twice (the new snapshot names a journal that does
not exist yet). A torn last line (the process died inside a write) is the one request whose reply was
never sent: it is dropped.

Uploaded photos are written to the state folder the same way, before the upload's reply.

``write()`` hands the line to the kernel, which is what survives ``kill -9``; ``fsync`` (``LOCAL_FSYNC=1``)
also survives a power cut, at a disk flush per write.
"""

from __future__ import annotations

import json
import os
import re
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

# The DynamoDB operations that change state; reads are never journalled.
WRITE_TARGETS = frozenset({"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"})
JOURNAL_PREFIX = "journal-"


def journal_path(state_dir: Path, generation: int) -> Path:
    return state_dir / f"{JOURNAL_PREFIX}{generation}.log"


class Journal:
    """An append-only file of write requests; thread safe, one ``write`` per request."""

    def __init__(self, path: Path, fsync: bool = False) -> None:
        self.path = path
        self._fsync = fsync
        self._lock = threading.Lock()
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        self.size = os.fstat(self._fd).st_size

    def append(self, target: str, body: str) -> None:
        line = (json.dumps({"t": target, "b": body}, ensure_ascii=False, separators=(",", ":")) + "\n").encode()
        with self._lock:
            view = memoryview(line)
            while view:  # a regular file takes it whole; loop only for the rare short write
                view = view[os.write(self._fd, view):]
            if self._fsync:
                os.fsync(self._fd)
            self.size += len(line)

    def close(self) -> None:
        with self._lock:
            if self._fd >= 0:
                os.close(self._fd)
                self._fd = -1


def read_journal(path: Path) -> list[tuple[str, str]]:
    """The journalled requests in order; a torn last line (the process died mid-write) is left out."""
    if not path.exists():
        return []
    entries: list[tuple[str, str]] = []
    data = path.read_bytes()
    lines = data.split(b"\n")
    # Everything before the last newline was written whole; what follows it, if anything, is torn.
    for raw in lines[:-1]:
        if not raw:
            continue
        record: dict[str, Any] = json.loads(raw)
        entries.append((str(record["t"]), str(record["b"])))
    return entries


def drop_torn_tail(path: Path) -> None:
    """Cut a torn last line off, so the next append starts a line of its own."""
    if not path.exists():
        return
    data = path.read_bytes()
    whole = data.rfind(b"\n") + 1
    if whole != len(data):
        os.truncate(path, whole)


def replay(path: Path, apply: Callable[[str, str], int]) -> int:
    """Re-run every journalled request through ``apply(target, body) -> HTTP status``; returns how many.

    A request that fails on replay means the journal and snapshot disagree: refuse to start rather than
    serve a state that was never acknowledged."""
    entries = read_journal(path)
    for number, (target, body) in enumerate(entries, 1):
        status = apply(target, body)
        if status != 200:
            raise RuntimeError(f"{path}: request {number} ({target}) failed on replay with HTTP {status}")
    return len(entries)


_TARGET_PREFIX = "DynamoDB_20120810."
# Virtual-hosted (bucket.s3.amazonaws.com/key) and path-style (s3.amazonaws.com/bucket/key) addresses.
_S3_HOSTED = re.compile(r"^(?P<bucket>[a-z0-9.-]+)\.s3[.-]")
_S3_HOST = re.compile(r"^s3[.-]")


def _header(request: Any, name: str) -> str:
    value = request.headers.get(name)
    return value.decode() if isinstance(value, bytes) else str(value or "")


def _text(body: Any) -> str:
    if body is None:
        return ""
    if isinstance(body, bytes | bytearray):
        return bytes(body).decode("utf-8")
    return str(body)


def s3_location(url: str) -> tuple[str, str] | None:
    """(bucket, key) of an S3 object request's address, or None."""
    parts = urlsplit(url)
    host, path = parts.hostname or "", unquote(parts.path)
    if (hosted := _S3_HOSTED.match(host)) is not None:
        return hosted["bucket"], path.lstrip("/")
    if _S3_HOST.match(host):
        bucket, _, key = path.lstrip("/").partition("/")
        return bucket, key
    return None


class Recorder:
    """What the local stack keeps of each request moto answered (``dynamodb_atomic``'s recorder).

    DynamoDB writes go to the journal; an image stored in the media bucket is written under
    ``media_dir`` (its key is its path there). ``read_media(key) -> bytes`` reads moto's copy, whatever
    form the upload's body took on the wire."""

    def __init__(self, journal: Journal, media_bucket: str | None, media_dir: Path,
                 media_key: re.Pattern[str], read_media: Callable[[str], bytes]) -> None:
        self.journal = journal
        self._media_bucket = media_bucket
        self.media_dir = media_dir
        self._media_key = media_key
        self._read_media = read_media

    def __call__(self, request: Any, status: int) -> None:
        if status != 200:
            return
        target = _header(request, "X-Amz-Target")
        if target.startswith(_TARGET_PREFIX):
            operation = target[len(_TARGET_PREFIX):]
            if operation in WRITE_TARGETS:
                self.journal.append(operation, _text(request.body))
            return
        if request.method == "PUT" and self._media_bucket:
            location = s3_location(request.url)
            if location is not None and location[0] == self._media_bucket and self._media_key.match(location[1]):
                self._keep_media(location[1])

    def _keep_media(self, key: str) -> None:
        path = self.media_dir / key
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_bytes(self._read_media(key))
        tmp.replace(path)


def dynamodb_request(region: str, operation: str, body: str) -> Any:
    """A DynamoDB request as botocore sends it, for replaying a journalled one through moto."""
    from botocore.awsrequest import AWSPreparedRequest
    from botocore.compat import HTTPHeaders

    headers = HTTPHeaders()
    headers["X-Amz-Target"] = _TARGET_PREFIX + operation
    headers["Content-Type"] = "application/x-amz-json-1.0"
    return AWSPreparedRequest(method="POST", url=f"https://dynamodb.{region}.amazonaws.com/", headers=headers,
                              body=body.encode("utf-8"), stream_output=False)

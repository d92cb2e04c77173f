"""Where the intent classifier's snapshot is kept between processes (S3 on AWS).

A Lambda container that finds the search index already filled (OpenSearch) has no classifier until it
has one fitted on every FAQ. Fitting it again means embedding every text of the knowledge base (seconds
for a thousand FAQs); reading the snapshot that the last writer saved is one GET. Writes are optimistic:
``save`` names the version it replaces, and fails with :class:`SnapshotConflict` when another process
saved first, so no process overwrites an edit it has not seen (``kb.py`` then reloads and re-applies).
"""

from __future__ import annotations

import threading
from typing import Any, Protocol

from botocore.exceptions import ClientError

from chalicelib.platform import aws
from chalicelib.settings import get_settings


class SnapshotConflict(Exception):
    """The snapshot is not at the version the save expected: another process saved in between."""


class ClassifierSnapshots(Protocol):
    def load(self) -> tuple[bytes, str] | None:
        """The snapshot and its version; None when none was saved."""
        ...

    def version(self) -> str | None:
        """The version of the saved snapshot (cheap: no body); None when none was saved."""
        ...

    def save(self, data: bytes, expected: str | None) -> str:
        """Replace the snapshot at version ``expected`` (None: only if there is none yet); returns the
        new version. Raises :class:`SnapshotConflict` when the saved one is not at ``expected``."""
        ...


class S3Snapshots:
    """One S3 object; its ETag is the version and conditional writes (If-Match, If-None-Match) keep
    concurrent writers from losing each other's edits."""

    def __init__(self, bucket: str, key: str, client: Any = None) -> None:
        self.bucket = bucket
        self.key = key
        self._client = client

    @property
    def client(self) -> Any:
        return self._client or aws.client("s3")

    def load(self) -> tuple[bytes, str] | None:
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=self.key)
        except ClientError as e:
            if _code(e) in ("NoSuchKey", "404"):
                return None
            raise
        return response["Body"].read(), str(response["ETag"])

    def version(self) -> str | None:
        try:
            response = self.client.head_object(Bucket=self.bucket, Key=self.key)
        except ClientError as e:
            if _code(e) in ("NoSuchKey", "404", "NotFound"):
                return None
            raise
        return str(response["ETag"])

    def save(self, data: bytes, expected: str | None) -> str:
        condition = {"IfMatch": expected} if expected is not None else {"IfNoneMatch": "*"}
        try:
            response = self.client.put_object(Bucket=self.bucket, Key=self.key, Body=data,
                                              ContentType="application/octet-stream", **condition)
        except ClientError as e:
            # 412: not at the expected version; 409: a concurrent conditional write; NoSuchKey: deleted.
            if _code(e) in ("PreconditionFailed", "412", "ConditionalRequestConflict", "409", "NoSuchKey", "404"):
                raise SnapshotConflict(f"s3://{self.bucket}/{self.key} changed") from e
            raise
        return str(response["ETag"])


class MemorySnapshots:
    """In the process: for tests and for several knowledge bases in one process."""

    def __init__(self) -> None:
        self._saved: tuple[bytes, str] | None = None
        self._count = 0
        self._lock = threading.Lock()
        self.loads = 0

    def load(self) -> tuple[bytes, str] | None:
        with self._lock:
            self.loads += 1
            return self._saved

    def version(self) -> str | None:
        with self._lock:
            return self._saved[1] if self._saved else None

    def save(self, data: bytes, expected: str | None) -> str:
        with self._lock:
            current = self._saved[1] if self._saved else None
            if current != expected:
                raise SnapshotConflict(f"snapshot at {current}, not {expected}")
            self._count += 1
            self._saved = (data, f"v{self._count}")
            return self._saved[1]


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def classifier_snapshots() -> ClassifierSnapshots | None:
    """The store the settings name: S3 when ``FAQ_MODEL_BUCKET`` is set, else none (each process then
    fits the classifier itself, from the FAQ store, on first use)."""
    settings = get_settings()
    if not settings.faq_model_bucket:
        return None
    return S3Snapshots(settings.faq_model_bucket, settings.faq_model_key)

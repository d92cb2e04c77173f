"""Images sent in a chat: stored in S3 under an unguessable key, read back at ``/media/<key>``.

A client uploads the image's bytes first (``POST /api/uploads``), then sends an ``image`` message whose
``url`` is the returned address. The bytes must be what their Content-Type says (checked on the file's own
first bytes, so a page or a script cannot be stored as a "PNG"), and at most ``MAX_UPLOAD_BYTES``: the
Lambda's 6 MB request limit less base64's third. The widget scales photos down before they get here.
On AWS CloudFront serves ``/media/*`` from the bucket; locally the gateway does (local/gateway.py).
"""

from __future__ import annotations

import re
import secrets
import time
from dataclasses import dataclass
from typing import Any

from chalicelib.auth.identity import Identity
from chalicelib.platform import aws
from chalicelib.platform.errors import DomainError
from chalicelib.platform.quota import Limit, Quota
from chalicelib.sessions.service import SessionService
from chalicelib.settings import get_settings

MAX_UPLOAD_BYTES = 4 * 1024 * 1024
# A visitor's photos per session: plenty for showing a problem, a bound on what one token can store.
MAX_UPLOADS_PER_SESSION = 30
# And per visitor across its sessions and tabs (a new chat does not start a new allowance).
VISITOR_UPLOADS = Limit("upload", 60, 3600, "images")
PREFIX = "media/"
# Content type -> file extension. No SVG: it can carry script.
IMAGE_TYPES = {"image/jpeg": "jpg", "image/png": "png", "image/gif": "gif", "image/webp": "webp"}
# Keys as :func:`new_key` makes them; anything else is not ours to serve.
# \Z, not $: callers use match, and "$" would let a trailing newline through.
KEY_PATTERN = re.compile(r"^media/\d{4}/\d{2}/[0-9a-f]{32}\.(?:jpg|png|gif|webp)\Z")
# Stored once, never changed: a cache may keep it for good.
CACHE_CONTROL = "public, max-age=31536000, immutable"


class MediaError(DomainError):
    """A refused upload: ``status`` and ``code`` go into the API's error shape."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(code, message, status=status)


def sniff(data: bytes) -> str | None:
    """The image type the bytes themselves announce, or None."""
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def media_type(header: str | None) -> str:
    """``image/png; charset=...`` -> ``image/png``."""
    return (header or "").split(";", 1)[0].strip().lower()


def new_key(content_type: str, now: float | None = None) -> str:
    """``media/<year>/<month>/<128 random bits>.<ext>``: the month lets a lifecycle rule or a person
    find old files; the random part is what keeps a chat's images private."""
    month = time.strftime("%Y/%m", time.gmtime(time.time() if now is None else now))
    return f"{PREFIX}{month}/{secrets.token_hex(16)}.{IMAGE_TYPES[content_type]}"


@dataclass(frozen=True)
class Stored:
    key: str
    content_type: str
    size: int

    def to_json(self) -> dict[str, Any]:
        return {"path": "/" + self.key, "content_type": self.content_type, "size": self.size}


def check(body: bytes | None, content_type: str) -> str:
    """The image's type when ``body`` may be stored; else a :class:`MediaError` that says why."""
    if content_type not in IMAGE_TYPES:
        raise MediaError(415, "unsupported_media_type",
                         f"send the image's bytes with Content-Type one of {', '.join(IMAGE_TYPES)}")
    if not body:
        raise MediaError(400, "invalid_body", "the request has no image")
    if len(body) > MAX_UPLOAD_BYTES:
        raise MediaError(413, "too_large", f"an image may be at most {MAX_UPLOAD_BYTES // (1024 * 1024)} MB; "
                                           f"this one is {len(body):,} bytes")
    found = sniff(body)
    if found != content_type:
        raise MediaError(415, "unsupported_media_type",
                         f"the bytes are not a {content_type} image" + (f" (they are {found})" if found else ""))
    return found


class MediaStore:
    """The bucket behind ``/media``; the S3 client is built on first use."""

    def __init__(self, bucket: str | None = None) -> None:
        self._bucket = bucket

    @property
    def bucket(self) -> str:
        bucket = self._bucket or get_settings().media_bucket
        if not bucket:
            raise MediaError(503, "unavailable", "image uploads are not configured (MEDIA_BUCKET)")
        return bucket

    def put(self, body: bytes, content_type: str) -> Stored:
        """Store bytes that :func:`check` passed."""
        key = new_key(content_type)
        aws.client("s3").put_object(Bucket=self.bucket, Key=key, Body=body, ContentType=content_type,
                                    CacheControl=CACHE_CONTROL)
        return Stored(key, content_type, len(body))

    def get(self, key: str) -> tuple[bytes, str] | None:
        """The bytes and type stored at ``key``; None for a key that is not one of ours or is gone."""
        if not KEY_PATTERN.match(key):
            return None
        client = aws.client("s3")
        try:
            found = client.get_object(Bucket=self.bucket, Key=key)
        except client.exceptions.NoSuchKey:
            return None
        return found["Body"].read(), str(found.get("ContentType") or "application/octet-stream")


def upload(who: Identity, body: bytes | str | None, content_type_header: str | None, sessions: SessionService,
           store: MediaStore, quota: Quota) -> dict[str, Any]:
    """``POST /uploads``: a visitor may send images while in a chat (robot or human), up to
    ``MAX_UPLOADS_PER_SESSION`` in it and ``VISITOR_UPLOADS`` an hour in all (over it: RateLimited); staff
    always. The bytes are checked before anything is read or written."""
    if isinstance(body, str):  # a text type's body: refused below all the same
        body = body.encode()
    content_type = check(body, media_type(content_type_header))
    assert body is not None
    if not who.is_staff:
        quota.take(VISITOR_UPLOADS, who.user_id)
        refused = sessions.count_upload(who, MAX_UPLOADS_PER_SESSION)
        if refused == "no_session":
            raise MediaError(409, "no_session", "images are sent in a chat: open one first")
        if refused is not None:
            raise MediaError(429, "too_many_uploads",
                             f"at most {MAX_UPLOADS_PER_SESSION} images can be sent in one chat")
    return store.put(body, content_type).to_json()

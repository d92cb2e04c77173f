"""Images sent in chats: ``POST /uploads`` through Chalice's test client, S3 under moto."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator

import pytest
from chalice.test import Client

from chalicelib.auth.identity import Identity
from chalicelib.media import uploads
from chalicelib.platform import aws
from chalicelib.settings import get_settings
from chalicelib.wiring import Services
from tests.conftest import png
from tests.functional.test_app import agent_token, visitor_token, ws

BUCKET = "cs-test-media"


JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 60


@pytest.fixture
def media(svc: Services) -> Iterator[None]:
    os.environ["MEDIA_BUCKET"] = BUCKET
    get_settings.cache_clear()
    aws.client("s3").create_bucket(Bucket=BUCKET)
    yield
    os.environ.pop("MEDIA_BUCKET")
    get_settings.cache_clear()


def in_chat(name: str = "Vera") -> dict[str, str]:
    """A visitor with an open (robot) session, and the headers of its uploads."""
    ws("$connect", "c_" + name, query={"token": visitor_token(name)})
    ws("$default", "c_" + name, json.dumps({"action": "hello"}))
    return {"Authorization": f"Bearer {visitor_token(name)}"}


def post(client: Client, body: bytes, content_type: str, headers: dict[str, str]) -> tuple[int, dict[str, object]]:
    response = client.http.post("/uploads", body=body, headers={**headers, "Content-Type": content_type})
    return response.status_code, json.loads(response.body)


def test_a_visitor_in_a_chat_uploads_an_image_and_it_is_stored_as_sent(client: Client, media: None) -> None:
    image = png()
    status, body = post(client, image, "image/png", in_chat())
    assert status == 201
    assert body["content_type"] == "image/png" and body["size"] == len(image)
    path = str(body["path"])
    assert uploads.KEY_PATTERN.match(path[1:])
    stored = aws.client("s3").get_object(Bucket=BUCKET, Key=path[1:])
    assert stored["Body"].read() == image
    assert (stored["ContentType"], stored["CacheControl"]) == ("image/png", uploads.CACHE_CONTROL)
    assert uploads.MediaStore().get(path[1:]) == (image, "image/png")


def test_two_uploads_of_one_image_get_two_keys(client: Client, media: None) -> None:
    headers = in_chat()
    first = post(client, JPEG, "image/jpeg", headers)[1]["path"]
    second = post(client, JPEG, "image/jpeg; charset=binary", headers)[1]["path"]
    assert first != second


def test_staff_upload_without_a_session(client: Client, media: None) -> None:
    status, body = post(client, JPEG, "image/jpeg", {"Authorization": f"Bearer {agent_token()}"})
    assert status == 201 and str(body["path"]).endswith(".jpg")


@pytest.mark.parametrize(("body", "content_type", "status", "code"), [
    (b"", "image/png", 400, "invalid_body"),  # nothing sent
    (b"<svg onload=alert(1)>", "image/png", 415, "unsupported_media_type"),  # not what it says
    (JPEG, "image/png", 415, "unsupported_media_type"),  # another image type than declared
    (png(), "application/octet-stream", 415, "unsupported_media_type"),  # no image type named
    (b'{"url": "x"}', "application/json", 415, "unsupported_media_type"),
    (b"\xff\xd8\xff" + b"\x00" * uploads.MAX_UPLOAD_BYTES, "image/jpeg", 413, "too_large"),
])
def test_a_refused_upload_says_why_and_stores_nothing(client: Client, media: None, body: bytes, content_type: str,
                                                      status: int, code: str) -> None:
    got = post(client, body, content_type, in_chat())
    assert (got[0], got[1]["error"]["code"]) == (status, code)  # type: ignore[index]
    assert aws.client("s3").list_objects_v2(Bucket=BUCKET).get("KeyCount") == 0


def test_uploads_need_a_token_and_a_visitor_needs_an_open_chat(client: Client, media: None) -> None:
    assert post(client, JPEG, "image/jpeg", {})[0] == 401
    assert post(client, JPEG, "image/jpeg", {"Authorization": "Bearer nope"})[0] == 401
    status, body = post(client, JPEG, "image/jpeg", {"Authorization": f"Bearer {visitor_token('Nadia')}"})
    assert (status, body["error"]["code"]) == (409, "no_session")  # type: ignore[index]
    assert aws.client("s3").list_objects_v2(Bucket=BUCKET).get("KeyCount") == 0


def test_a_visitor_sends_a_bounded_number_of_photos_per_chat_and_staff_are_not_counted(
        client: Client, media: None, svc: Services, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(uploads, "MAX_UPLOADS_PER_SESSION", 2)
    headers = in_chat()
    assert [post(client, JPEG, "image/jpeg", headers)[0] for _ in range(2)] == [201, 201]
    status, body = post(client, JPEG, "image/jpeg", headers)
    assert (status, body["error"]["code"]) == (429, "too_many_uploads")  # type: ignore[index]
    assert aws.client("s3").list_objects_v2(Bucket=BUCKET).get("KeyCount") == 2
    agent = {"Authorization": f"Bearer {agent_token()}"}
    assert [post(client, JPEG, "image/jpeg", agent)[0] for _ in range(3)] == [201, 201, 201]
    # A new chat starts a new count: the visitor ends this one and opens another (a new connection does).
    session = svc.sessions.current(Identity("v_vera", "visitor"))
    assert session is not None
    ws("$default", "c_Vera", json.dumps({"action": "end_session", "session_id": session.session_id}))
    assert post(client, JPEG, "image/jpeg", headers)[1]["error"]["code"] == "no_session"  # type: ignore[index]
    ws("$connect", "c_Vera_2", query={"token": visitor_token("Vera")})
    assert post(client, JPEG, "image/jpeg", headers)[0] == 201


def test_without_a_bucket_uploads_are_refused_as_unavailable(client: Client, svc: Services,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    # No bucket, whatever an earlier test of this process left in the environment (the local stack's defaults).
    monkeypatch.delenv("MEDIA_BUCKET", raising=False)
    get_settings.cache_clear()
    status, body = post(client, JPEG, "image/jpeg", in_chat())
    assert (status, body["error"]["code"]) == (503, "unavailable")  # type: ignore[index]


def test_only_keys_of_the_store_s_own_shape_are_read(media: None) -> None:
    aws.client("s3").put_object(Bucket=BUCKET, Key="media/private.txt", Body=b"secret")
    store = uploads.MediaStore()
    assert store.get("media/private.txt") is None
    assert store.get("media/2026/11/" + "0" * 32 + ".png") is None  # ours in shape, never stored
    assert store.get("../media/2026/11/" + "0" * 32 + ".png") is None


def test_a_visitor_s_photos_are_limited_across_its_chats_and_tabs(
        client: Client, media: None, svc: Services, monkeypatch: pytest.MonkeyPatch) -> None:
    """A new chat (or tab) starts a new per-chat count, not a new allowance: the hourly one is per visitor."""
    monkeypatch.setattr(uploads, "VISITOR_UPLOADS", uploads.Limit("upload", 3, 3600, "images"))
    headers = in_chat()
    assert [post(client, JPEG, "image/jpeg", headers)[0] for _ in range(2)] == [201, 201]
    session = svc.sessions.current(Identity("v_vera", "visitor"))
    assert session is not None
    ws("$default", "c_Vera", json.dumps({"action": "end_session", "session_id": session.session_id}))
    ws("$connect", "c_Vera_2", query={"token": visitor_token("Vera")})
    assert post(client, JPEG, "image/jpeg", headers)[0] == 201
    status, body = post(client, JPEG, "image/jpeg", headers)
    assert (status, body["error"]["code"]) == (429, "rate_limited")  # type: ignore[index]
    assert aws.client("s3").list_objects_v2(Bucket=BUCKET).get("KeyCount") == 3
    # Another visitor has an allowance of its own.
    assert post(client, JPEG, "image/jpeg", in_chat("Sam"))[0] == 201

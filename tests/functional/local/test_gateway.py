"""The API Gateway emulator, over real sockets, against a tiny Chalice app defined here."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
import boto3
import pytest
from aiohttp import WSMsgType, web
from chalice.app import Chalice, Response, WebsocketEvent
from yarl import URL

from chalicelib.platform import web_headers
from chalicelib.settings import get_settings
from local.gateway import GATEWAY, MAX_MESSAGE_BYTES, create_gateway_app


class Recorder:
    """What the handlers saw, as (route, connection id, event); appended from handler threads."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, dict[str, Any]]] = []

    def record(self, route: str, event: WebsocketEvent) -> None:
        self.calls.append((route, event.connection_id, event.to_dict()))

    def of(self, route: str, connection_id: str | None = None) -> list[dict[str, Any]]:
        return [e for r, c, e in list(self.calls) if r == route and connection_id in (None, c)]


recorder = Recorder()
app = Chalice(app_name="gateway-test")
app.experimental_feature_flags.update(["WEBSOCKETS"])


def management() -> Any:
    return boto3.client("apigatewaymanagementapi", endpoint_url=os.environ["WS_ENDPOINT"], region_name="us-east-1")


@app.on_ws_connect()
def ws_connect(event: WebsocketEvent) -> Response | None:
    token = (event.to_dict().get("queryStringParameters") or {}).get("token")
    if token in ("bad", "expired"):
        return Response(body={"error": token}, status_code=403 if token == "bad" else 401)
    recorder.record("$connect", event)
    return None


@app.on_ws_message()
def ws_message(event: WebsocketEvent) -> Response | None:
    recorder.record("$default", event)
    frame = json.loads(event.body)
    if frame["action"] == "echo":
        data = json.dumps({"event": "echo", "text": frame["text"], "connection_id": event.connection_id})
        management().post_to_connection(ConnectionId=event.connection_id, Data=data.encode())
    elif frame["action"] == "reply":
        return Response(body={"event": "reply", "text": frame.get("text")})
    elif frame["action"] == "boom":
        raise RuntimeError("boom")
    return None


@app.on_ws_disconnect()
def ws_disconnect(event: WebsocketEvent) -> None:
    recorder.record("$disconnect", event)


@app.route("/hello/{name}", methods=["GET", "POST"])
def hello(name: str) -> dict[str, Any]:
    request = app.current_request
    assert request is not None
    return {"hello": name, "query": request.query_params, "body": request.json_body if request.raw_body else None}


@dataclass
class Running:
    port: int
    web_app: web.Application

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"


def serve(web_app_for: Callable[[int], web.Application]) -> Iterator[Running]:
    """Runs the gateway on its own event loop in a thread, on a socket bound before the app is built."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port: int = sock.getsockname()[1]
    web_app = web_app_for(port)
    runner = web.AppRunner(web_app)
    loop = asyncio.new_event_loop()
    started = threading.Event()

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(runner.setup())
        loop.run_until_complete(web.SockSite(runner, sock).start())
        started.set()
        loop.run_forever()
        loop.run_until_complete(runner.cleanup())
        loop.close()

    thread = threading.Thread(target=run, name="gateway", daemon=True)
    thread.start()
    assert started.wait(10), "gateway did not start"
    try:
        yield Running(port, web_app)
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(15)


@pytest.fixture
def web_root(tmp_path: Path) -> Path:
    root = tmp_path / "web"
    (root / "static").mkdir(parents=True)
    (root / "visitor.html").write_text("<!doctype html><title>visitor</title>")
    (root / "static" / "app.js").write_text("console.log('hi')")
    (tmp_path / "secret.txt").write_text("not for the web")
    return root


@pytest.fixture
def gateway(monkeypatch: pytest.MonkeyPatch, web_root: Path) -> Iterator[Running]:
    recorder.calls.clear()

    def build(port: int) -> web.Application:
        monkeypatch.setenv("WS_ENDPOINT", f"http://127.0.0.1:{port}/ws-api")
        return create_gateway_app(app, port, web_root)

    yield from serve(build)


async def eventually(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


async def next_frame(ws: aiohttp.ClientWebSocketResponse) -> dict[str, Any]:
    msg = await asyncio.wait_for(ws.receive(), 10)
    assert msg.type == WSMsgType.TEXT, msg
    frame: dict[str, Any] = json.loads(msg.data)
    return frame


async def connection_id(ws: aiohttp.ClientWebSocketResponse) -> str:
    await ws.send_json({"action": "echo", "text": "who am i"})
    conn_id: str = (await next_frame(ws))["connection_id"]
    return conn_id


def test_connect_gets_an_api_gateway_shaped_event(gateway: Running) -> None:
    async def scenario() -> None:
        async with aiohttp.ClientSession() as http, \
                http.ws_connect(gateway.ws_url + "?token=good&lang=en", headers={"X-Shop": "s1"}) as ws:
            conn_id = await connection_id(ws)
            [event] = recorder.of("$connect")
            context = event["requestContext"]
            assert context["connectionId"] == conn_id
            assert len(conn_id) == 16
            assert (context["routeKey"], context["eventType"], context["stage"], context["apiId"]) == \
                ("$connect", "CONNECT", "local", "local")
            assert context["domainName"] == f"127.0.0.1:{gateway.port}"
            assert context["identity"]["sourceIp"] == "127.0.0.1"
            assert context["requestId"]
            assert context["connectedAt"] <= context["requestTimeEpoch"]
            assert event["queryStringParameters"] == {"token": "good", "lang": "en"}
            assert event["headers"]["X-Shop"] == "s1"
            assert event["isBase64Encoded"] is False

    asyncio.run(scenario())


@pytest.mark.parametrize(("token", "status"), [("bad", 403), ("expired", 401)])
def test_a_refused_connect_fails_the_handshake_with_its_status(gateway: Running, token: str, status: int) -> None:
    async def scenario() -> None:
        async with aiohttp.ClientSession() as http:
            with pytest.raises(aiohttp.WSServerHandshakeError) as info:
                await http.ws_connect(f"{gateway.ws_url}?token={token}")
            assert info.value.status == status

    asyncio.run(scenario())
    assert recorder.calls == []


def test_a_frame_reaches_default_and_the_echo_returns_through_the_management_api(gateway: Running) -> None:
    async def scenario() -> None:
        async with aiohttp.ClientSession() as http, http.ws_connect(gateway.ws_url) as ws:
            await ws.send_json({"action": "echo", "text": "hello"})
            frame = await next_frame(ws)
            assert frame["text"] == "hello"
            [event] = recorder.of("$default", frame["connection_id"])
            assert event["requestContext"]["eventType"] == "MESSAGE"
            assert event["requestContext"]["routeKey"] == "$default"
            assert json.loads(event["body"]) == {"action": "echo", "text": "hello"}

    asyncio.run(scenario())


def test_the_handlers_return_body_is_sent_back(gateway: Running) -> None:
    async def scenario() -> None:
        async with aiohttp.ClientSession() as http, http.ws_connect(gateway.ws_url) as ws:
            await ws.send_json({"action": "reply", "text": "pong"})
            assert await next_frame(ws) == {"event": "reply", "text": "pong"}

    asyncio.run(scenario())


def test_one_connections_frames_are_handled_in_order(gateway: Running) -> None:
    async def scenario() -> None:
        async with aiohttp.ClientSession() as http, http.ws_connect(gateway.ws_url) as ws:
            for i in range(30):
                await ws.send_json({"action": "echo", "text": str(i)})
            assert [(await next_frame(ws))["text"] for _ in range(30)] == [str(i) for i in range(30)]

    asyncio.run(scenario())


def test_a_failing_handler_answers_internal_server_error_and_the_connection_stays(gateway: Running) -> None:
    async def scenario() -> None:
        async with aiohttp.ClientSession() as http, http.ws_connect(gateway.ws_url) as ws:
            await ws.send_json({"action": "boom"})
            assert (await next_frame(ws))["message"] == "Internal server error"
            await ws.send_json({"action": "reply", "text": "still here"})
            assert (await next_frame(ws))["text"] == "still here"

    asyncio.run(scenario())


def test_the_management_api_describes_live_connections_and_says_gone_for_others(gateway: Running) -> None:
    async def scenario() -> None:
        async with aiohttp.ClientSession() as http, \
                http.ws_connect(gateway.ws_url, headers={"User-Agent": "test-agent"}) as ws:
            conn_id = await connection_id(ws)
            info = await asyncio.to_thread(lambda: management().get_connection(ConnectionId=conn_id))
            assert info["Identity"] == {"SourceIp": "127.0.0.1", "UserAgent": "test-agent"}
            assert isinstance(info["ConnectedAt"], datetime)
            assert info["LastActiveAt"] >= info["ConnectedAt"]
            await asyncio.to_thread(lambda: management().post_to_connection(ConnectionId=conn_id, Data=b'{"a":1}'))
            assert await next_frame(ws) == {"a": 1}

    asyncio.run(scenario())
    client = management()
    with pytest.raises(client.exceptions.GoneException):
        client.post_to_connection(ConnectionId="nobody0000000000", Data=b"{}")
    with pytest.raises(client.exceptions.GoneException):
        client.get_connection(ConnectionId="nobody0000000000")
    with pytest.raises(client.exceptions.GoneException):
        client.delete_connection(ConnectionId="nobody0000000000")


def test_delete_closes_the_socket_and_disconnect_runs_once(gateway: Running) -> None:
    async def scenario() -> None:
        async with aiohttp.ClientSession() as http:
            ws = await http.ws_connect(gateway.ws_url)
            conn_id = await connection_id(ws)
            await asyncio.to_thread(lambda: management().delete_connection(ConnectionId=conn_id))
            msg = await asyncio.wait_for(ws.receive(), 10)
            assert (msg.type, msg.data) == (WSMsgType.CLOSE, 1001)
            await eventually(lambda: bool(recorder.of("$disconnect", conn_id)))
            client = management()
            with pytest.raises(client.exceptions.GoneException):
                await asyncio.to_thread(lambda: client.post_to_connection(ConnectionId=conn_id, Data=b"{}"))
            # A later connection's whole life has run, and the first one still disconnected once.
            other = await http.ws_connect(gateway.ws_url)
            other_id = await connection_id(other)
            await other.close()
            await eventually(lambda: bool(recorder.of("$disconnect", other_id)))
            assert len(recorder.of("$disconnect", conn_id)) == 1
            assert len(recorder.of("$disconnect", other_id)) == 1
            event = recorder.of("$disconnect", conn_id)[0]
            assert event["requestContext"]["eventType"] == "DISCONNECT"

    asyncio.run(scenario())


def test_a_binary_frame_is_refused_and_the_connection_stays_usable(gateway: Running) -> None:
    async def scenario() -> None:
        async with aiohttp.ClientSession() as http, http.ws_connect(gateway.ws_url) as ws:
            await ws.send_bytes(b"\x00\x01")
            frame = await next_frame(ws)
            assert (frame["event"], frame["code"]) == ("error", "unsupported_frame")
            await ws.send_json({"action": "reply", "text": "after"})
            assert (await next_frame(ws))["text"] == "after"
            assert recorder.of("$default") and all(json.loads(e["body"])["action"] == "reply"
                                                   for e in recorder.of("$default"))

    asyncio.run(scenario())


def test_an_oversize_message_is_refused_before_the_handler(gateway: Running) -> None:
    async def scenario() -> None:
        async with aiohttp.ClientSession() as http, http.ws_connect(gateway.ws_url) as ws:
            await ws.send_json({"action": "reply", "text": "x" * MAX_MESSAGE_BYTES})
            frame = await next_frame(ws)
            assert (frame["event"], frame["code"]) == ("error", "frame_too_large")
            await ws.send_json({"action": "reply", "text": "small"})
            assert (await next_frame(ws))["text"] == "small"
            assert [json.loads(e["body"])["text"] for e in recorder.of("$default")] == ["small"]

    asyncio.run(scenario())


def test_a_message_over_the_receive_limit_closes_the_socket_with_1009(gateway: Running) -> None:
    async def scenario() -> None:
        async with aiohttp.ClientSession() as http, http.ws_connect(gateway.ws_url) as ws:
            conn_id = await connection_id(ws)
            await ws.send_str("x" * (2 << 20))
            msg = await asyncio.wait_for(ws.receive(), 10)
            assert (msg.type, msg.data) == (WSMsgType.CLOSE, 1009)
            await eventually(lambda: bool(recorder.of("$disconnect", conn_id)))

    asyncio.run(scenario())


def test_rest_routes_are_served_under_api(gateway: Running) -> None:
    async def scenario() -> None:
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{gateway.base}/api/hello/bob?lang=en") as r:
                assert r.status == 200
                assert await r.json() == {"hello": "bob", "query": {"lang": "en"}, "body": None}
            async with http.post(f"{gateway.base}/api/hello/ann", json={"a": 1}) as r:
                assert (r.status, (await r.json())["body"]) == (200, {"a": 1})
            async with http.get(f"{gateway.base}/api/nowhere") as r:
                assert r.status == 403  # API Gateway's answer for an unknown route
            # An encoded newline in a path parameter reaches the route, still encoded, as on API Gateway.
            async with http.get(URL(f"{gateway.base}/api/hello/a%0Ab", encoded=True)) as r:
                assert (r.status, (await r.json())["hello"]) == (200, "a%0Ab")

    asyncio.run(scenario())


async def raw_get(port: int, target: str) -> int:
    """The status of a GET sent byte for byte, so no client normalises ``..`` away first."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode())
    await writer.drain()
    status_line = await reader.readline()
    writer.close()
    await writer.wait_closed()
    return int(status_line.split()[1])


def test_pages_are_served_and_traversal_is_refused(gateway: Running) -> None:
    async def scenario() -> None:
        assert await raw_get(gateway.port, "/") == 200
        assert await raw_get(gateway.port, "/static/app.js") == 200
        assert await raw_get(gateway.port, "/console") == 404  # no console.html in this web root
        for target in ("/static/../../secret.txt", "/static/%2e%2e/%2e%2e/secret.txt", "/static/..%2f..%2fsecret.txt",
                       "/static/../visitor.html", "/static/", "/static"):
            assert await raw_get(gateway.port, target) in (403, 404), target

    asyncio.run(scenario())


def test_pages_and_static_files_carry_the_security_headers(gateway: Running) -> None:
    """Every page and static file is sent with a CSP that allows no inline code and no framing, frame protection
    for older browsers, nosniff and a referrer policy: the values CloudFront sends on AWS."""
    region = get_settings().region

    async def scenario() -> None:
        async with aiohttp.ClientSession() as http:
            for path in ("/", "/static/app.js"):
                async with http.get(f"{gateway.base}{path}") as r:
                    assert r.status == 200
                    for name, value in web_headers.page_headers(region).items():
                        assert r.headers.get(name) == value, (path, name)
                    csp = r.headers["Content-Security-Policy"]
                    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
                    assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp
                    assert f"connect-src 'self' https://cognito-idp.{region}.amazonaws.com" in csp
                    assert r.headers["X-Frame-Options"] == "DENY"
                    assert r.headers["X-Content-Type-Options"] == "nosniff"
                    assert r.headers["Referrer-Policy"] == "same-origin"

    asyncio.run(scenario())


@pytest.fixture
def impatient_gateway(monkeypatch: pytest.MonkeyPatch, web_root: Path) -> Iterator[Running]:
    recorder.calls.clear()

    def build(port: int) -> web.Application:
        monkeypatch.setenv("WS_ENDPOINT", f"http://127.0.0.1:{port}/ws-api")
        return create_gateway_app(app, port, web_root, idle_timeout=1.0)

    yield from serve(build)


def test_idle_connections_are_closed_and_traffic_keeps_one_open(impatient_gateway: Running) -> None:
    async def scenario() -> None:
        async with aiohttp.ClientSession() as http, http.ws_connect(impatient_gateway.ws_url) as silent, \
                http.ws_connect(impatient_gateway.ws_url) as chatty:

            async def keep_talking() -> None:
                while True:  # a frame every 0.1 s, well inside the 1 s idle limit
                    await chatty.send_json({"action": "reply", "text": "ping"})
                    assert (await next_frame(chatty))["text"] == "ping"
                    await asyncio.sleep(0.1)

            talker = asyncio.create_task(keep_talking())
            started = time.monotonic()
            msg = await asyncio.wait_for(silent.receive(), 10)
            assert (msg.type, msg.data) == (WSMsgType.CLOSE, 1001)
            assert time.monotonic() - started >= 0.9
            assert not chatty.closed
            assert not talker.done()
            talker.cancel()
            gateway = impatient_gateway.web_app[GATEWAY]
            await eventually(lambda: gateway.counts["disconnects"] == 1)

    asyncio.run(scenario())

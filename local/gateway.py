"""An API Gateway emulator for the Chalice app, on one aiohttp port.

- ``/ws``: WebSocket API. The upgrade runs ``$connect`` (a non-2xx answer refuses it), each text frame
  runs ``$default``, closing runs ``$disconnect``. Handlers run in a thread pool, never on the event
  loop: their ``@connections`` calls come back to this same server.
- ``/ws-api/@connections/{id}``: the management API (POST, GET, DELETE; 410 GoneException when the
  connection is not here), reached by the app's boto3 client with ``endpoint_url``.
- ``/api/...``: the REST routes through Chalice's local gateway.
- ``/``, ``/console``, ``/static/...``: the web pages.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import secrets
import time
import uuid
from collections import Counter
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiohttp import WSCloseCode, WSMsgType, web
from chalice.config import Config
from chalice.local import LocalGateway, LocalGatewayException

from chalicelib.platform import metering

Handler = Callable[[dict[str, Any], Any], Any]

MAX_MESSAGE_BYTES = 128 * 1024  # API Gateway's WebSocket message limit
IDLE_TIMEOUT_SECONDS = 600
MAX_CONNECTION_SECONDS = 2 * 3600
STAGE = "local"


@dataclass
class _Connection:
    ws: web.WebSocketResponse
    source_ip: str
    user_agent: str
    connected_at: float = field(default_factory=time.time)
    last_active: float = field(default_factory=time.time)
    send_lock: asyncio.Lock = field(default_factory=asyncio.Lock)


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).isoformat().replace("+00:00", "Z")


def _error_frame(code: str, message: str) -> str:
    return json.dumps({"event": "error", "code": code, "message": message})


class Gateway:
    def __init__(self, app: Any, handlers: Mapping[str, Handler], port: int, web_root: Path,
                 idle_timeout: float = IDLE_TIMEOUT_SECONDS, max_age: float = MAX_CONNECTION_SECONDS) -> None:
        self._handlers = handlers
        self._port = port
        self._web_root = web_root
        self._idle_timeout = idle_timeout
        self._max_age = max_age
        self._rest = LocalGateway(app, Config())
        self._pool = ThreadPoolExecutor(max_workers=32, thread_name_prefix="lambda")
        self._connections: dict[str, _Connection] = {}
        self.counts: Counter[str] = Counter()

    # -- plumbing ------------------------------------------------------------------------------------

    async def _invoke(self, handler: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._pool, handler, *args)

    def _event(self, route: str, kind: str, connection_id: str, request: web.Request,
               body: str | None = None) -> dict[str, Any]:
        now = time.time()
        conn = self._connections.get(connection_id)
        context = {
            "routeKey": route, "eventType": kind, "connectionId": connection_id, "stage": STAGE, "apiId": "local",
            "domainName": f"127.0.0.1:{self._port}", "requestId": uuid.uuid4().hex,
            "requestTimeEpoch": int(now * 1000), "messageDirection": "IN",
            "connectedAt": int((conn.connected_at if conn else now) * 1000),
            "identity": {"sourceIp": request.remote or "127.0.0.1"},
        }
        event: dict[str, Any] = {"requestContext": context, "isBase64Encoded": False}
        if kind == "CONNECT":
            event["headers"] = dict(request.headers)
            event["queryStringParameters"] = dict(request.query) or None
        if body is not None:
            event["body"] = body
        return event

    # -- WebSocket API -------------------------------------------------------------------------------

    async def websocket(self, request: web.Request) -> web.StreamResponse:
        connection_id = base64.urlsafe_b64encode(secrets.token_bytes(12)).decode()[:16]
        result = await self._invoke(self._handlers["$connect"],
                                    self._event("$connect", "CONNECT", connection_id, request), None) or {}
        status = int(result.get("statusCode", 200))
        if not 200 <= status < 300:
            self.counts["connect_refused"] += 1
            return web.Response(status=status, text=str(result.get("body") or ""), content_type="application/json")
        ws = web.WebSocketResponse(max_msg_size=1 << 20)
        await ws.prepare(request)
        conn = _Connection(ws, request.remote or "127.0.0.1", request.headers.get("User-Agent", ""))
        self._connections[connection_id] = conn
        self.counts["connections"] += 1
        try:
            async for msg in ws:
                conn.last_active = time.time()
                if msg.type == WSMsgType.BINARY:
                    await self._send(conn, _error_frame("unsupported_frame",
                                                        "binary frames are not supported; send JSON text"))
                    continue
                if msg.type != WSMsgType.TEXT:
                    continue
                self.counts["frames_in"] += 1
                if len(msg.data.encode("utf-8")) > MAX_MESSAGE_BYTES:
                    # API Gateway refuses a message over its limit before any Lambda runs.
                    await self._send(conn, _error_frame("frame_too_large",
                                                        f"a message may be at most {MAX_MESSAGE_BYTES} bytes"))
                    continue
                # One frame at a time per connection keeps a sender's frames in order.
                result = await self._invoke(self._handlers["$default"],
                                            self._event("$default", "MESSAGE", connection_id, request, msg.data),
                                            None)
                if isinstance(result, dict) and result.get("body"):
                    await self._send(conn, str(result["body"]))
        finally:
            self._connections.pop(connection_id, None)
            await self._invoke(self._handlers["$disconnect"],
                               self._event("$disconnect", "DISCONNECT", connection_id, request), None)
        return ws

    async def _send(self, conn: _Connection, data: str) -> None:
        async with conn.send_lock:
            await conn.ws.send_str(data)
        self.counts["frames_out"] += 1

    # -- @connections management API -----------------------------------------------------------------

    def _live(self, request: web.Request) -> _Connection | None:
        conn = self._connections.get(request.match_info["connection_id"])
        return conn if conn is not None and not conn.ws.closed else None

    @staticmethod
    def _gone() -> web.Response:
        return web.json_response({"message": "Gone"}, status=410, headers={"x-amzn-ErrorType": "GoneException"})

    async def post_to_connection(self, request: web.Request) -> web.Response:
        conn = self._live(request)
        if conn is None:
            self.counts["posts_gone"] += 1
            return self._gone()
        data = await request.read()
        try:
            await self._send(conn, data.decode("utf-8"))
        except ConnectionError:
            return self._gone()
        self.counts["posts"] += 1
        return web.Response(status=200)

    async def get_connection(self, request: web.Request) -> web.Response:
        conn = self._live(request)
        if conn is None:
            return self._gone()
        return web.json_response({"connectedAt": _iso(conn.connected_at), "lastActiveAt": _iso(conn.last_active),
                                  "identity": {"sourceIp": conn.source_ip, "userAgent": conn.user_agent}})

    async def delete_connection(self, request: web.Request) -> web.Response:
        conn = self._live(request)
        if conn is None:
            return self._gone()
        await conn.ws.close(code=WSCloseCode.GOING_AWAY, message=b"closed by the server")
        return web.Response(status=204)

    async def reap(self, interval: float = 30.0) -> None:
        """API Gateway closes idle connections after 10 minutes and every connection after 2 hours."""
        while True:
            await asyncio.sleep(interval)
            now = time.time()
            for conn in list(self._connections.values()):
                if now - conn.last_active > self._idle_timeout or now - conn.connected_at > self._max_age:
                    with contextlib.suppress(Exception):
                        await conn.ws.close(code=WSCloseCode.GOING_AWAY, message=b"timeout")

    async def close_all(self) -> None:
        for conn in list(self._connections.values()):
            with contextlib.suppress(Exception):
                await conn.ws.close(code=WSCloseCode.GOING_AWAY, message=b"server shutdown")

    # -- REST and pages ------------------------------------------------------------------------------

    async def rest(self, request: web.Request) -> web.Response:
        path = "/" + request.match_info["tail"]
        if request.query_string:
            path += "?" + request.query_string
        body = await request.read()
        try:
            result = await self._invoke(self._rest.handle_request, request.method, path, dict(request.headers),
                                        body or None)
        except LocalGatewayException as err:
            return web.Response(status=err.CODE, body=err.body, headers=err.headers)
        raw = result.get("body") or b""
        if result.get("isBase64Encoded"):
            raw = base64.b64decode(raw)
        headers = {k: v for k, v in (result.get("headers") or {}).items() if k.lower() != "content-length"}
        for key, values in (result.get("multiValueHeaders") or {}).items():
            headers.setdefault(key, ", ".join(values))
        # API Gateway's default for a Lambda proxy response without one.
        if not any(k.lower() == "content-type" for k in headers):
            headers["Content-Type"] = "application/json"
        return web.Response(status=int(result["statusCode"]), body=raw if isinstance(raw, bytes) else raw.encode(),
                            headers=headers)

    async def stats(self, request: web.Request) -> web.Response:
        return web.json_response({"aws_calls": metering.snapshot(), "gateway": dict(self.counts),
                                  "open_connections": len(self._connections)})

    def page(self, name: str) -> Callable[[web.Request], Any]:
        async def serve(request: web.Request) -> web.StreamResponse:
            path = self._web_root / name
            if not path.is_file():
                raise web.HTTPNotFound()
            return web.FileResponse(path)

        return serve


def create_gateway_app(app: Any, handlers: Mapping[str, Handler], port: int, web_root: Path,
                       idle_timeout: float = IDLE_TIMEOUT_SECONDS) -> tuple[web.Application, Gateway]:
    gateway = Gateway(app, handlers, port, web_root, idle_timeout=idle_timeout)
    web_app = web.Application(client_max_size=1 << 20)
    web_app.router.add_get("/ws", gateway.websocket)
    web_app.router.add_post("/ws-api/@connections/{connection_id}", gateway.post_to_connection)
    web_app.router.add_get("/ws-api/@connections/{connection_id}", gateway.get_connection)
    web_app.router.add_delete("/ws-api/@connections/{connection_id}", gateway.delete_connection)
    web_app.router.add_route("*", "/api/{tail:.*}", gateway.rest)
    web_app.router.add_get("/_local/stats", gateway.stats)
    web_app.router.add_get("/", gateway.page("visitor.html"))
    web_app.router.add_get("/console", gateway.page("console.html"))
    static = web_root / "static"
    static.mkdir(parents=True, exist_ok=True)
    web_app.router.add_static("/static", static, show_index=False, follow_symlinks=False)
    return web_app, gateway


def chalice_handlers(app_module: Any) -> dict[str, Handler]:
    """The callable handler of each WebSocket route (Chalice keeps configs, the module keeps callables)."""
    app = app_module.app
    return {route: getattr(app_module, cfg.handler_string.rsplit(".", 1)[1])
            for route, cfg in app.websocket_handlers.items()}

"""An API Gateway emulator for the Chalice app, on one aiohttp port.

- ``/ws``: the WebSocket API. The upgrade runs ``$connect`` (a non-2xx answer refuses it), each text
  frame runs ``$default`` (one connection's frames in order, different connections concurrently),
  closing runs ``$disconnect`` once. API Gateway's 128 KB message limit, 10-minute idle timeout and
  2-hour connection limit apply.
- ``/ws-api/@connections/{id}``: the management API (POST, GET, DELETE; 410 GoneException when the
  connection is not open here), reached by boto3's ``apigatewaymanagementapi`` client with
  ``endpoint_url=http://127.0.0.1:<port>/ws-api``.
- ``/api/...``: the REST routes, through Chalice's own local gateway.
- ``/``, ``/console``, ``/tickets``, ``/dashboard``, ``/reports``, ``/robot``, ``/static/...``: the web pages.
- ``/media/...``: the images sent in chats, from their S3 bucket (on AWS CloudFront serves them).
  Pages, static files and media carry the security headers CloudFront adds on AWS
  (chalicelib/platform/web_headers.py).
- ``/_local/stats``: AWS calls made in this process, the gateway's counters, handler invocations and run
  time by route (and how many run now), what the Step Functions engine ran, and any ``STATS_READOUTS``
  (``?only=a,b`` picks some: a benchmark reading often skips the bulky ones).
- ``POST /_local/actions/{name}``: runs a function a benchmark registered in ``ACTIONS`` (e.g. one queue
  tick) in the handler pool, timed as route ``_action/{name}``; answers its JSON result.

Handlers run in a thread pool, never on the event loop: their ``@connections`` calls come back to this
same server and would deadlock it. Eight threads: handlers are CPU work on moto under one GIL, and more of them
only wait for it (a burst of 500 ``request_agent`` ran 14% faster with 8 than with 32); a handler never waits for
another handler, so a full pool queues frames rather than deadlocking.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import math
import os
import secrets
import threading
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiohttp import WSCloseCode, WSMsgType, web
from chalice.app import Chalice
from chalice.config import Config
from chalice.local import LambdaContext, LocalGateway, LocalGatewayException

from chalicelib.media import uploads
from chalicelib.platform import metering, web_headers
from chalicelib.settings import get_settings

Handler = Callable[[dict[str, Any], Any], Any]

log = logging.getLogger(__name__)

MAX_MESSAGE_BYTES = 128 * 1024  # API Gateway's WebSocket message limit
MAX_RECEIVE_BYTES = 1 << 20  # above this aiohttp closes the socket with 1009
MAX_REQUEST_BYTES = 10 << 20  # API Gateway's REST payload limit
IDLE_TIMEOUT_SECONDS = 600.0
MAX_CONNECTION_SECONDS = 2 * 3600.0
STAGE = "local"
API_ID = "local"
EXPRESS_BILLING_MS = 100  # Express workflows bill duration rounded up to 100 ms

# More read-outs for ``/_local/stats``, by key: a function returning JSON-able data, called per request
# (a benchmark running the stack registers its own meters here).
STATS_READOUTS: dict[str, Callable[[], Any]] = {}
# Work a benchmark runs inside the stack's process on request (``POST /_local/actions/{name}``, the JSON body
# as argument): what no client can trigger, such as one queue tick now, or data to seed.
ACTIONS: dict[str, Callable[[dict[str, Any]], Any]] = {}


@dataclass
class _Connection:
    ws: web.WebSocketResponse
    source_ip: str
    user_agent: str
    connected_at: float = field(default_factory=time.time)
    last_active: float = field(default_factory=time.time)
    # Set when the server decides to close, before the close handshake ends: posts then get 410.
    closing: bool = False


def new_connection_id() -> str:
    """16 characters of url-safe base64, like API Gateway's connection ids."""
    return base64.urlsafe_b64encode(secrets.token_bytes(12)).decode()


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _error_frame(code: str, message: str) -> str:
    return json.dumps({"event": "error", "code": code, "message": message})


def step_functions_usage() -> dict[str, Any]:
    """What this process's Step Functions engine (moto) ran, as each type bills: Express executions, their
    state transitions (states entered) and duration (finished ones; ``billed_ms`` rounds each up as Express
    bills); Standard executions and their transitions (billed one by one); Lambda tasks and running
    executions of both; and ``by_machine``, each machine's type, executions, running ones, transitions and
    Lambda tasks. Read from moto's own state, so reading it makes no AWS call and adds nothing to the call
    counts."""
    from moto.core.models import DEFAULT_ACCOUNT_ID
    from moto.stepfunctions.responses import get_backend

    backend = get_backend(DEFAULT_ACCOUNT_ID, os.environ.get("AWS_REGION", "us-east-1"))
    usage: dict[str, float] = {"executions": 0, "running": 0, "transitions": 0, "lambda_tasks": 0,
                               "duration_ms": 0.0, "billed_ms": 0, "standard_executions": 0,
                               "standard_transitions": 0}
    # The same by state machine, for benchmarks that tell the machines apart.
    by_machine: dict[str, dict[str, Any]] = {}
    for machine in list(backend.state_machines):
        standard = getattr(machine, "type", "STANDARD") == "STANDARD"
        mine = by_machine.setdefault(machine.name, {"type": "STANDARD" if standard else "EXPRESS", "executions": 0,
                                                    "running": 0, "transitions": 0, "lambda_tasks": 0})
        for execution in list(machine.executions):
            history = execution.to_history_output()["events"] if hasattr(execution, "to_history_output") else []
            types = [str(event["type"]) for event in history]
            entered = sum(t.endswith("StateEntered") for t in types)
            tasks = sum(t == "LambdaFunctionScheduled" or (
                t == "TaskScheduled" and event.get("taskScheduledEventDetails", {}).get("resourceType") == "lambda")
                for t, event in zip(types, history, strict=True))
            usage["standard_executions" if standard else "executions"] += 1
            usage["standard_transitions" if standard else "transitions"] += entered
            usage["lambda_tasks"] += tasks
            mine["executions"] += 1
            mine["transitions"] += entered
            mine["lambda_tasks"] += tasks
            stop = getattr(execution, "stop_date", None)
            if stop is None:
                usage["running"] += 1
                mine["running"] += 1
                continue
            if standard:
                continue
            ms = (stop - execution.start_date).total_seconds() * 1000
            usage["duration_ms"] += ms
            usage["billed_ms"] += math.ceil(ms / EXPRESS_BILLING_MS) * EXPRESS_BILLING_MS
    usage["duration_ms"] = round(usage["duration_ms"], 1)
    return {**usage, "by_machine": by_machine}


class _PerThread:
    """An attribute of the app that each handler thread sees on its own."""

    def __init__(self, name: str) -> None:
        self._name = name

    def __get__(self, obj: Any, owner: type | None = None) -> Any:
        return self if obj is None else getattr(obj.__dict__["_per_thread"], self._name, None)

    def __set__(self, obj: Any, value: Any) -> None:
        setattr(obj.__dict__["_per_thread"], self._name, value)


def per_thread_requests(app: Chalice) -> None:
    """Chalice keeps the request it is handling on the app (``current_request``, ``lambda_context``): right in
    Lambda, where a container handles one request at a time, but here several handler threads share one app, and
    a REST call could read another call's request (a login answered with someone else's token). Each thread gets
    its own, as each Lambda container has."""
    if isinstance(type(app).__dict__.get("current_request"), _PerThread):
        return
    app.__dict__["_per_thread"] = threading.local()
    app.__class__ = type(type(app).__name__, (type(app),), {
        "current_request": _PerThread("current_request"), "lambda_context": _PerThread("lambda_context")})


def _lambda_context(name: str) -> LambdaContext:
    # Chalice's own fake Lambda context, as its local REST gateway passes.
    return LambdaContext(function_name=name, memory_size=256, max_runtime_ms=900_000)


class Gateway:
    """The state behind the routes: open connections, the handler pool and counters."""

    def __init__(self, app: Chalice, port: int, web_root: Path, *, idle_timeout: float = IDLE_TIMEOUT_SECONDS,
                 max_connection_seconds: float = MAX_CONNECTION_SECONDS, workers: int = 8) -> None:
        per_thread_requests(app)
        self._app = app
        self._port = port
        self._web_root = web_root.resolve()
        self.idle_timeout = idle_timeout
        self.max_connection_seconds = max_connection_seconds
        self._rest = LocalGateway(app, Config())
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="lambda")
        self._media = uploads.MediaStore()
        # The region names the Cognito endpoint the staff pages may call, as on AWS.
        self._page_headers = web_headers.page_headers(get_settings().region)
        self._connections: dict[str, _Connection] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self.counts: Counter[str] = Counter()
        # Handler invocations and their run time in the pool (what Lambda would bill), by route.
        self.invocations: Counter[str] = Counter()
        self.handler_ms: dict[str, float] = {}
        self.running = 0  # handlers running now: a benchmark waits for 0 before it reads what an event cost
        self._timing = threading.Lock()

    # -- plumbing ------------------------------------------------------------------------------------

    def _ws_handler(self, route: str) -> tuple[str, Handler] | None:
        """The Lambda entry point of a WebSocket route, as Lambda would call it (event, context)."""
        config = self._app.websocket_handlers.get(route)
        if config is None:
            return None
        return config.name, self._app.handler_map[config.name]

    async def _run(self, route: str, func: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._pool, self._timed, route, func, *args)

    def _timed(self, route: str, func: Callable[..., Any], *args: Any) -> Any:
        with self._timing:
            self.running += 1
        started = time.perf_counter()
        try:
            return func(*args)
        finally:
            elapsed = (time.perf_counter() - started) * 1000
            with self._timing:
                self.running -= 1
                self.invocations[route] += 1
                self.handler_ms[route] = self.handler_ms.get(route, 0.0) + elapsed

    async def _invoke(self, route: str, event: dict[str, Any]) -> Any:
        found = self._ws_handler(route)
        if found is None:
            return None
        name, handler = found
        return await self._run(route, handler, event, _lambda_context(name))

    def _event(self, route: str, kind: str, connection_id: str, request: web.Request, connected_at: float,
               body: str | None = None) -> dict[str, Any]:
        now = time.time()
        context: dict[str, Any] = {
            "routeKey": route, "eventType": kind, "connectionId": connection_id, "stage": STAGE, "apiId": API_ID,
            "domainName": f"127.0.0.1:{self._port}", "requestId": uuid.uuid4().hex,
            "extendedRequestId": uuid.uuid4().hex, "messageDirection": "IN",
            "requestTimeEpoch": int(now * 1000), "connectedAt": int(connected_at * 1000),
            "identity": {"sourceIp": request.remote or "127.0.0.1",
                         "userAgent": request.headers.get("User-Agent", "")},
        }
        event: dict[str, Any] = {"requestContext": context, "isBase64Encoded": False}
        if kind == "CONNECT":
            event["headers"] = dict(request.headers)
            event["multiValueHeaders"] = {k: request.headers.getall(k) for k in request.headers}
            event["queryStringParameters"] = dict(request.query) or None
            event["multiValueQueryStringParameters"] = {k: request.query.getall(k) for k in request.query} or None
        if kind == "MESSAGE":
            context["messageId"] = uuid.uuid4().hex
        if body is not None:
            event["body"] = body
        return event

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- WebSocket API -------------------------------------------------------------------------------

    async def websocket(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(max_msg_size=MAX_RECEIVE_BYTES)
        if not ws.can_prepare(request).ok:
            return web.Response(status=426, text="WebSocket upgrade required")
        connection_id = new_connection_id()
        connected_at = time.time()
        try:
            result = await self._invoke("$connect", self._event("$connect", "CONNECT", connection_id, request,
                                                                connected_at))
        except Exception:
            log.exception("$connect handler failed")
            return web.json_response({"message": "Internal server error"}, status=500)
        status = int((result or {}).get("statusCode", 200))
        if not 200 <= status < 300:
            self.counts["connect_refused"] += 1
            return web.Response(status=status, text=str((result or {}).get("body") or ""),
                                content_type="application/json")
        conn = _Connection(ws, request.remote or "127.0.0.1", request.headers.get("User-Agent", ""),
                           connected_at=connected_at)
        self._connections[connection_id] = conn
        self.counts["connections"] += 1
        try:
            await ws.prepare(request)
            # Frames are handled inline, one at a time: that keeps one connection's frames in order,
            # while other connections' reader tasks run their own handlers concurrently.
            async for msg in ws:
                if msg.type in (WSMsgType.TEXT, WSMsgType.BINARY):
                    conn.last_active = time.time()
                    await self._frame(connection_id, conn, request, msg.type, msg.data)
        finally:
            # Gone from the registry first: a $disconnect handler posting to itself gets 410, as on AWS.
            self._connections.pop(connection_id, None)
            self.counts["disconnects"] += 1
            try:
                await self._invoke("$disconnect", self._event("$disconnect", "DISCONNECT", connection_id, request,
                                                              connected_at))
            except Exception:
                log.exception("$disconnect handler failed")
        return ws

    async def _frame(self, connection_id: str, conn: _Connection, request: web.Request, kind: WSMsgType,
                     data: Any) -> None:
        if kind == WSMsgType.BINARY:
            await self._send(conn, _error_frame("unsupported_frame", "binary frames are not supported; send JSON text"))
            return
        self.counts["frames_in"] += 1
        if len(data.encode("utf-8")) > MAX_MESSAGE_BYTES:
            # API Gateway refuses a message over its limit before any Lambda runs.
            await self._send(conn, _error_frame("frame_too_large", f"a message may be at most {MAX_MESSAGE_BYTES} "
                                                                   "bytes"))
            return
        event = self._event("$default", "MESSAGE", connection_id, request, conn.connected_at, data)
        try:
            result = await self._invoke("$default", event)
        except Exception:
            log.exception("$default handler failed")
            # What API Gateway sends the client when the integration fails.
            await self._send(conn, json.dumps({"message": "Internal server error", "connectionId": connection_id,
                                               "requestId": event["requestContext"]["requestId"]}))
            return
        # A two-way route sends the integration's response body back on the socket.
        if isinstance(result, dict) and result.get("body"):
            await self._send(conn, str(result["body"]))

    async def _send(self, conn: _Connection, data: str) -> bool:
        if conn.closing or conn.ws.closed:
            return False
        try:
            await conn.ws.send_str(data)
        except ConnectionError:
            return False
        self.counts["frames_out"] += 1
        return True

    def _close(self, conn: _Connection, reason: bytes) -> None:
        """Start closing; the reader's ``finally`` then runs ``$disconnect``."""
        if not conn.closing:
            conn.closing = True
            self._spawn(conn.ws.close(code=WSCloseCode.GOING_AWAY, message=reason))

    async def reap(self) -> None:
        """Close connections idle longer than API Gateway allows, or open longer than it allows."""
        interval = max(0.05, min(30.0, self.idle_timeout / 4, self.max_connection_seconds / 4))
        while True:
            await asyncio.sleep(interval)
            now = time.time()
            for conn in list(self._connections.values()):
                if now - conn.last_active > self.idle_timeout:
                    self._close(conn, b"idle timeout")
                elif now - conn.connected_at > self.max_connection_seconds:
                    self._close(conn, b"connection duration limit")

    async def close_all(self) -> None:
        for conn in list(self._connections.values()):
            self._close(conn, b"server shutdown")
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    def shutdown_pool(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    # -- @connections management API -----------------------------------------------------------------

    def _live(self, request: web.Request) -> _Connection | None:
        conn = self._connections.get(request.match_info["connection_id"])
        return conn if conn is not None and not conn.closing and not conn.ws.closed else None

    def _gone(self) -> web.Response:
        self.counts["posts_gone"] += 1
        return web.json_response({"message": "Gone"}, status=410, headers={"x-amzn-ErrorType": "GoneException"})

    async def post_to_connection(self, request: web.Request) -> web.Response:
        conn = self._live(request)
        if conn is None:
            return self._gone()
        data = await request.read()
        if not await self._send(conn, data.decode("utf-8", errors="replace")):
            return self._gone()
        self.counts["posts"] += 1
        return web.Response(status=200)

    async def get_connection(self, request: web.Request) -> web.Response:
        conn = self._live(request)
        if conn is None:
            return self._gone()
        # The wire names; boto3 returns them as ConnectedAt, LastActiveAt, Identity.SourceIp/UserAgent.
        return web.json_response({"connectedAt": _iso(conn.connected_at), "lastActiveAt": _iso(conn.last_active),
                                  "identity": {"sourceIp": conn.source_ip, "userAgent": conn.user_agent}})

    async def delete_connection(self, request: web.Request) -> web.Response:
        conn = self._live(request)
        if conn is None:
            return self._gone()
        self._close(conn, b"closed by the server")
        return web.Response(status=204)

    # -- REST and pages ------------------------------------------------------------------------------

    async def rest(self, request: web.Request) -> web.Response:
        # Chalice routes are declared without the stage-like /api prefix. The raw path keeps %2F inside a
        # path parameter encoded, as API Gateway does (a FAQ id "a/b" is one segment, not two).
        path = request.raw_path.split("?", 1)[0][len("/api"):] or "/"
        if request.query_string:
            path += "?" + request.query_string
        body = await request.read()
        try:
            result = await self._run("rest", self._rest.handle_request, request.method, path,
                                     dict(request.headers), body or None)
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
        with self._timing:
            handlers = {route: {"invocations": n, "ms": round(self.handler_ms[route], 1)}
                        for route, n in self.invocations.items()}
            running = self.running
        only = request.query.get("only")
        wanted = set(only.split(",")) if only is not None else set(STATS_READOUTS)
        return web.json_response({"aws_calls": metering.snapshot(), "gateway": dict(self.counts),
                                  "open_connections": len(self._connections), "handlers": handlers,
                                  "handlers_running": running, "stepfunctions": step_functions_usage(),
                                  **{key: read() for key, read in STATS_READOUTS.items() if key in wanted}})

    async def action(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if name not in ACTIONS:
            raise web.HTTPNotFound(text=f"no action {name!r}")
        body = await request.json() if request.can_read_body else {}
        result = await self._run(f"_action/{name}", ACTIONS[name], body)
        return web.json_response(result)

    def _file(self, base: Path, relative: str) -> web.StreamResponse:
        path = (base / relative).resolve()
        # Only regular files under ``base``: no listing, no traversal, no symlink out of it.
        if not path.is_relative_to(base):
            raise web.HTTPForbidden()
        if not path.is_file():
            raise web.HTTPNotFound()
        return web.FileResponse(path, headers=self._page_headers)

    def page(self, relative: str) -> Callable[[web.Request], Any]:
        async def serve(request: web.Request) -> web.StreamResponse:
            return self._file(self._web_root, relative)

        return serve

    async def static(self, request: web.Request) -> web.StreamResponse:
        return self._file(self._web_root / "static", request.match_info["path"])

    async def media(self, request: web.Request) -> web.StreamResponse:
        key = uploads.PREFIX + request.match_info["path"]
        try:
            found = await asyncio.get_running_loop().run_in_executor(self._pool, self._media.get, key)
        except uploads.MediaError:  # no bucket configured
            raise web.HTTPServiceUnavailable() from None
        if found is None:
            raise web.HTTPNotFound()
        body, content_type = found
        # As the CloudFront behaviour does: cached for good, never sniffed into something else.
        return web.Response(body=body, content_type=content_type, headers={
            **self._page_headers, "Cache-Control": uploads.CACHE_CONTROL})


GATEWAY = web.AppKey("gateway", Gateway)


def create_gateway_app(app: Chalice, port: int, web_root: Path, *, idle_timeout: float = IDLE_TIMEOUT_SECONDS,
                       max_connection_seconds: float = MAX_CONNECTION_SECONDS) -> web.Application:
    """The emulator for ``app`` as served on 127.0.0.1:``port``; ``web_app[GATEWAY]`` is its state."""
    gateway = Gateway(app, port, web_root, idle_timeout=idle_timeout, max_connection_seconds=max_connection_seconds)
    web_app = web.Application(client_max_size=MAX_REQUEST_BYTES)
    web_app[GATEWAY] = gateway
    web_app.router.add_get("/ws", gateway.websocket)
    web_app.router.add_post("/ws-api/@connections/{connection_id}", gateway.post_to_connection)
    web_app.router.add_get("/ws-api/@connections/{connection_id}", gateway.get_connection)
    web_app.router.add_delete("/ws-api/@connections/{connection_id}", gateway.delete_connection)
    web_app.router.add_route("*", "/api/{tail:[\\s\\S]*}", gateway.rest)  # any path, %0A included
    web_app.router.add_get("/_local/stats", gateway.stats)
    web_app.router.add_post("/_local/actions/{name}", gateway.action)
    web_app.router.add_get("/", gateway.page("visitor.html"))
    web_app.router.add_get("/console", gateway.page("console.html"))
    web_app.router.add_get("/tickets", gateway.page("tickets.html"))
    web_app.router.add_get("/dashboard", gateway.page("dashboard.html"))
    web_app.router.add_get("/reports", gateway.page("reports.html"))
    web_app.router.add_get("/robot", gateway.page("robot.html"))
    web_app.router.add_get("/static/{path:.*}", gateway.static)
    web_app.router.add_get("/media/{path:.*}", gateway.media)

    async def start_reaper(_: web.Application) -> AsyncIterator[None]:
        reaper = asyncio.get_running_loop().create_task(gateway.reap())
        yield
        reaper.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reaper

    async def close_sockets(_: web.Application) -> None:
        await gateway.close_all()

    async def stop_pool(_: web.Application) -> None:
        gateway.shutdown_pool()

    web_app.cleanup_ctx.append(start_reaper)
    web_app.on_shutdown.append(close_sockets)
    web_app.on_cleanup.append(stop_pool)
    return web_app

"""Runs the real local stack (`python -m local`) in a subprocess and talks to it over real sockets: used by
the end-to-end tests and the benchmarks."""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Protocol

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
READY_SECONDS = 180
DEFAULT_COMMAND = ("-m", "local")


def in_process_environment(table_prefix: str, stage: str, state_dir: str) -> dict[str, str]:
    """Settings for running chalicelib against in-process moto (tests, benchmarks): fake credentials,
    the region, a table prefix of its own. Apply before importing chalicelib (pynamodb reads them then)."""
    return {
        "AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SECURITY_TOKEN": "testing", "AWS_SESSION_TOKEN": "testing",
        "TABLE_PREFIX": table_prefix, "STAGE": stage,
        "VISITOR_TOKEN_SECRET": f"{stage}-secret-that-is-long-enough-for-hs256-0123456789",
        "DEV_IDP_ENABLED": "1", "LOCAL_STATE_DIR": state_dir, "WS_ENDPOINT": "http://127.0.0.1:9/ws-api",
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class StackProcess(Protocol):
    """What the harness needs of a stack's process: a ``subprocess.Popen``, or a ``ForkedStack``."""

    pid: int
    returncode: int | None
    stdout: IO[str] | None

    def poll(self) -> int | None: ...

    def wait(self, timeout: float | None = None) -> int: ...

    def send_signal(self, sig: int) -> None: ...

    def kill(self) -> None: ...


@dataclass
class Stack:
    base: str
    state_dir: Path
    process: StackProcess
    output: list[str]

    @property
    def ws_url(self) -> str:
        return self.base.replace("http://", "ws://") + "/ws"

    def crash(self) -> None:
        """``kill -9`` of the stack's whole process group: no handler runs, nothing is saved on the way out."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()


class ForkedStack:
    """A stack forked by ``local/zygote.py``: its output comes through a FIFO, its exit code through a file
    the zygote writes when it has reaped it."""

    def __init__(self, pid: int, stdout: IO[str], status: Path) -> None:
        self.pid = pid
        self.stdout: IO[str] | None = stdout
        self.returncode: int | None = None
        self._status = status

    def poll(self) -> int | None:
        if self.returncode is None and self._status.exists():
            self.returncode = int(self._status.read_text())
        elif self.returncode is None and not _exists(self.pid):
            # Reaped, but not by the zygote (it died): its status is lost. (The zygote writes the file right
            # after reaping, so look once more before calling it unknown.)
            time.sleep(0.05)
            self.returncode = int(self._status.read_text()) if self._status.exists() else -1
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while (code := self.poll()) is None:
            if deadline is not None and time.monotonic() > deadline:
                raise subprocess.TimeoutExpired(f"stack {self.pid}", timeout or 0)
            time.sleep(0.02)
        return code

    def send_signal(self, sig: int) -> None:
        if self.poll() is None:
            os.kill(self.pid, sig)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


def _exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


class Zygote:
    """``python -m local.zygote``, started on first use and kept for the life of this process: a fresh stack
    is a fork of it (about a second) instead of a new process (about 9 s of CPU)."""

    def __init__(self, env: dict[str, str]) -> None:
        self._dir = Path(tempfile.mkdtemp(prefix="cs-zygote-"))
        self._proc = subprocess.Popen([sys.executable, "-m", "local.zygote", str(self._dir / "template")],
                                      cwd=ROOT, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                      stderr=subprocess.STDOUT, text=True, start_new_session=True)
        self._lock = threading.Lock()
        self._count = 0
        assert self._proc.stdout is not None
        output = []
        for line in self._proc.stdout:
            output.append(line)
            if line.strip() == "ZYGOTE READY":
                break
        else:
            raise RuntimeError("local stack zygote exited before READY:\n" + "".join(output))
        atexit.register(self.stop)

    def fork(self, env: dict[str, str]) -> ForkedStack:
        assert self._proc.stdin is not None and self._proc.stdout is not None
        with self._lock:
            self._count += 1
            fifo = self._dir / f"out-{self._count}"
            status = self._dir / f"status-{self._count}"
            os.mkfifo(fifo)
            # Opened before the request: without a writer yet, only a non-blocking open returns.
            fd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
            self._proc.stdin.write(json.dumps({"env": env, "output": str(fifo), "status": str(status)}) + "\n")
            self._proc.stdin.flush()
            pid = self._answer()
            if pid is None:
                os.close(fd)
                raise RuntimeError("local stack zygote ended")
            os.set_blocking(fd, True)  # the child has the write end open by now
            return ForkedStack(pid, os.fdopen(fd, "r"), status)

    def _answer(self) -> int | None:
        """The pid the zygote answers with; anything else it printed (a warning) is passed over."""
        assert self._proc.stdout is not None
        for line in self._proc.stdout:
            if line.startswith('{"pid": '):
                return int(json.loads(line)["pid"])
        return None

    def stop(self) -> None:
        if self._proc.poll() is None:
            os.killpg(self._proc.pid, signal.SIGKILL)
            self._proc.wait()
        shutil.rmtree(self._dir, ignore_errors=True)


_zygote: Zygote | None = None
_zygote_lock = threading.Lock()


def zygote(env: dict[str, str]) -> Zygote:
    global _zygote
    with _zygote_lock:
        if _zygote is None:
            _zygote = Zygote(env)
        return _zygote


def _fresh(state_dir: Path) -> bool:
    return not state_dir.exists() or not any(p.name == "snapshot.json" or p.name.startswith("journal-")
                                             for p in state_dir.iterdir())


def config_copy(dest: Path, edit: Callable[[dict[str, Any]], None]) -> Path:
    """A copy of the shipped config/ documents in ``dest``, changed by ``edit`` ({name: document})."""
    dest.mkdir(parents=True, exist_ok=True)
    documents = {p.stem: json.loads(p.read_text()) for p in (ROOT / "config").glob("*.json") if p.stem != "dev_users"}
    edit(documents)
    for name, document in documents.items():
        (dest / f"{name}.json").write_text(json.dumps(document, indent=2))
    return dest


@contextlib.contextmanager
def run_stack(state_dir: Path, ack_wait_seconds: int = 1, port: int | None = None,
              extra_env: dict[str, str] | None = None,
              config_edit: Callable[[dict[str, Any]], None] | None = None,
              command: tuple[str, ...] = DEFAULT_COMMAND, clean_stop: bool = False) -> Iterator[Stack]:
    """``python -m local`` (or ``command``, a launcher that ends in the stack) on a free port;
    ``config_edit`` runs it on an edited copy of config/. At the end the stack is killed, unless
    ``clean_stop`` asks for Ctrl-C and its snapshot: nothing acknowledged depends on a clean stop
    (tests/e2e/local/test_crash.py), and compacting a state that is thrown away cost a second or two."""
    port = port or free_port()
    if config_edit is not None:
        extra_env = {**(extra_env or {}), "LOCAL_CONFIG_DIR": str(config_copy(state_dir / "config", config_edit))}
    # Only the basics: the stack sets every setting of its own (a test's settings must not leak in).
    basics = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TMPDIR", "PYTHONPATH")}
    basics["PYTHONUNBUFFERED"] = "1"
    env = dict(basics)
    env.update(PORT=str(port), ACK_WAIT_SECONDS=str(ack_wait_seconds), LOCAL_STATE_DIR=str(state_dir),
               **(extra_env or {}))
    proc: StackProcess
    if command == DEFAULT_COMMAND and _fresh(state_dir) and os.environ.get("LOCAL_STACK_FORK", "1") == "1":
        proc = zygote(basics).fork(env)
    else:
        # A process group of its own, so a test can kill the stack and everything it started at once.
        proc = subprocess.Popen([sys.executable, *command], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, start_new_session=True)
    output: list[str] = []
    # Generous: on a busy 2-core machine (tests on parallel workers, each starting stacks) imports alone can
    # take a minute; a stack that is really stuck still fails here.
    deadline = time.monotonic() + READY_SECONDS
    assert proc.stdout is not None
    while True:
        line = proc.stdout.readline()
        if not line:
            raise RuntimeError("local stack exited before READY:\n" + "".join(output))
        output.append(line)
        if line.startswith("READY "):
            break
        if time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError(f"local stack not READY in {READY_SECONDS} s:\n" + "".join(output))
    stack = Stack(f"http://127.0.0.1:{port}", state_dir, proc, output)
    # Keep draining output so the child never blocks on a full pipe.

    def drain() -> None:
        for line in proc.stdout or ():
            output.append(line)

    drainer = threading.Thread(target=drain, daemon=True)
    drainer.start()
    try:
        yield stack
    finally:
        if proc.poll() is None and not clean_stop:
            stack.crash()
        elif proc.poll() is None:
            proc.send_signal(signal.SIGINT)  # what Ctrl-C sends
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        drainer.join(timeout=5)


def run_client(coro: Callable[[aiohttp.ClientSession], Awaitable[None]]) -> None:
    """Run a client scenario with its own HTTP session (tests call it from synchronous code)."""
    async def main() -> None:
        # No cap on open connections (aiohttp's default is 100): a scenario may hold hundreds of sockets.
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
            await coro(http)

    asyncio.run(main())


async def visitor_token(http: aiohttp.ClientSession, base: str, name: str = "Vera") -> str:
    async with http.post(f"{base}/api/visitors/token", json={"channel": "web", "name": name}) as r:
        assert r.status == 201, await r.text()
        token: str = (await r.json())["token"]
        return token


async def agent_token(http: aiohttp.ClientSession, base: str, username: str = "alice") -> str:
    async with http.post(f"{base}/api/auth/login", json={"username": username, "password": "demo"}) as r:
        assert r.status == 200, await r.text()
        token: str = (await r.json())["token"]
        return token


# ACKs a client holds to send together: well below the server's first retry wait (1 s on AWS), and one ACK
# for the lines of a burst instead of one each (docs/protocol.md, "ACKing several messages at once").
ACK_WINDOW_SECONDS = 0.1
MAX_ACK_IDS = 100


@dataclass
class Peer:
    """A protocol client that records every frame it gets; by default it ACKs every message. ACKs are
    coalesced as the web clients do: sent at once when none went within ``ack_window`` seconds, else held
    until the window ends and sent together (``message_ids``). ``connect`` gives that window; without one
    (``ack_window=None``, the default of a Peer built directly) it is a client of before: one
    ``ack {message_id}`` per message."""

    ws: aiohttp.ClientWebSocketResponse
    should_ack: Callable[[dict[str, Any]], bool] = lambda frame: True
    ack_window: float | None = None
    frames: list[dict[str, Any]] = field(default_factory=list)
    by_event: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))
    sent: list[dict[str, Any]] = field(default_factory=list)  # every frame this client sent, in order
    _changed: asyncio.Event = field(default_factory=asyncio.Event)
    _reader: asyncio.Task[None] | None = None
    _held: dict[str, None] = field(default_factory=dict)
    _flush: asyncio.Task[None] | None = None
    _last_ack: float = float("-inf")

    def start(self) -> Peer:
        self._reader = asyncio.create_task(self._read())
        return self

    async def _read(self) -> None:
        async for msg in self.ws:
            if msg.type != aiohttp.WSMsgType.TEXT:
                continue
            frame = json.loads(msg.data)
            self.frames.append(frame)
            self.by_event[frame.get("event", "?")].append(frame)
            if frame.get("event") == "message" and self.should_ack(frame):
                await self.ack(frame["message"]["message_id"])
            self._changed.set()

    async def send(self, frame: dict[str, Any]) -> None:
        self.sent.append(frame)
        await self.ws.send_str(json.dumps(frame))

    async def ack(self, message_id: str) -> None:
        """ACK a message: at once when no ACK went within the window, else with the others it holds."""
        if self.ack_window is None:
            await self.send({"action": "ack", "message_id": message_id})
            return
        now = asyncio.get_running_loop().time()
        if self._flush is None and now - self._last_ack >= self.ack_window:
            self._last_ack = now
            await self.send({"action": "ack", "message_id": message_id})
            return
        self._held[message_id] = None
        if self._flush is None:
            self._flush = asyncio.create_task(self._send_held(self._last_ack + self.ack_window - now))

    async def ack_all(self, message_ids: list[str]) -> None:
        """ACK these at once (a resumed backlog), in as few frames as the batch limit allows."""
        for start in range(0, len(message_ids), MAX_ACK_IDS):
            chunk = message_ids[start:start + MAX_ACK_IDS]
            await self.send({"action": "ack", "message_id": chunk[0]} if len(chunk) == 1
                            else {"action": "ack", "message_ids": chunk})

    async def _send_held(self, wait: float) -> None:
        await asyncio.sleep(wait)
        self._flush = None
        await self._ack_held()

    async def _ack_held(self) -> None:
        ids, self._held = list(self._held), {}
        self._last_ack = asyncio.get_running_loop().time()
        if ids and not self.ws.closed:
            await self.ack_all(ids)

    def delivered(self) -> list[dict[str, Any]]:
        """Every message a ``delivered`` frame confirmed, one entry each (protocol 2 frames may cover several)."""
        return [item for f in self.by_event["delivered"] for item in (f.get("messages") or [f])]

    async def text(self, session_id: str, text: str, client_msg_id: str | None = None) -> str:
        cmid = client_msg_id or uuid.uuid4().hex
        await self.send({"action": "send", "session_id": session_id, "client_msg_id": cmid, "type": "text",
                         "content": {"text": text}})
        return cmid

    async def wait_for(self, predicate: Callable[[Peer], bool], timeout: float = 20.0) -> None:
        deadline = asyncio.get_running_loop().time() + timeout
        while not predicate(self):
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                counts = {k: len(v) for k, v in self.by_event.items()}
                raise AssertionError(f"timed out; frames by event: {counts}; errors: {self.by_event['error'][:3]}; "
                                     f"last frames: {self.frames[-3:]}")
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), min(remaining, 0.5))

    async def request(self, frame: dict[str, Any], event: str, timeout: float = 10.0) -> dict[str, Any]:
        """Send ``frame`` and return the next ``event`` frame, or the error frame answering this action."""
        start = len(self.frames)

        def answer() -> dict[str, Any] | None:
            for got in self.frames[start:]:
                if got.get("event") == event or (got.get("event") == "error" and got.get("action") == frame["action"]):
                    return got
            return None

        await self.send(frame)
        await self.wait_for(lambda p: answer() is not None, timeout)
        found = answer()
        assert found is not None
        return found

    async def close(self) -> None:
        if self._flush is not None:  # what it holds goes before the socket does
            self._flush.cancel()
            self._flush = None
            await self._ack_held()
        await self.ws.close()
        if self._reader:
            await self._reader


async def connect(http: aiohttp.ClientSession, stack: Stack, token: str,
                  should_ack: Callable[[dict[str, Any]], bool] = lambda f: True, protocol: int = 1,
                  ack_window: float | None = ACK_WINDOW_SECONDS) -> Peer:
    """A client on a new connection. ``protocol=2`` asks for the frames of version 2 (a ``delivered`` may
    cover several messages: read them with ``Peer.delivered()``)."""
    query = f"?token={token}" + (f"&protocol={protocol}" if protocol != 1 else "")
    ws = await http.ws_connect(f"{stack.ws_url}{query}", max_msg_size=1 << 20)
    return Peer(ws, should_ack, ack_window).start()

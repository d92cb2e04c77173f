"""Relay benchmark: N visitors, each with one message in flight, send to agents who ACK; measured
through the local stack and through the bare relay in the same run."""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp

from local.harness import ROOT, Peer, Stack, agent_token, free_port, run_stack, visitor_token


def agent_names(pairs: int) -> list[str]:
    # Demo users load01..load40 (config/dev_users.json): one agent per visitor, as in a real shift.
    return [f"load{i:02d}" for i in range(1, pairs + 1)]


ACK_WAIT_SECONDS = 5


def percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def _drive(visitors: list[tuple[Peer, str]], seconds: float) -> tuple[int, list[float]]:
    """Each visitor sends, waits for `delivered`, and sends again until time is up."""
    latencies: list[float] = []
    stop_at = time.perf_counter() + seconds

    async def one(peer: Peer, session_id: str) -> None:
        while time.perf_counter() < stop_at:
            before = len(peer.by_event["delivered"])
            t0 = time.perf_counter()
            await peer.text(session_id, "How long does shipping to Berlin take?", uuid.uuid4().hex)
            await peer.wait_for(lambda p: len(p.by_event["delivered"]) > before, 60)  # noqa: B023
            latencies.append((time.perf_counter() - t0) * 1000)

    await asyncio.gather(*(one(p, s) for p, s in visitors))
    return len(latencies), latencies


def _summary(count: int, latencies: list[float], seconds: float) -> dict[str, float]:
    return {"messages": count, "msgs_per_s": round(count / seconds, 1),
            "p50_ms": round(percentile(latencies, 0.5), 2), "p99_ms": round(percentile(latencies, 0.99), 2),
            "mean_ms": round(statistics.fmean(latencies), 2) if latencies else 0.0}


async def _ours(stack: Stack, pairs: int, seconds: float) -> dict[str, Any]:
    async with aiohttp.ClientSession() as http:
        agents = []
        for name in agent_names(pairs):
            ws = await http.ws_connect(f"{stack.ws_url}?token={await agent_token(http, stack.base, name)}")
            agents.append(Peer(ws).start())
        visitors = []
        for i in range(pairs):
            ws = await http.ws_connect(f"{stack.ws_url}?token={await visitor_token(http, stack.base, f'v{i}')}")
            peer = Peer(ws).start()
            welcome = await peer.request({"action": "hello"}, "welcome")
            await peer.request({"action": "request_agent"}, "session")
            visitors.append((peer, welcome["session"]["session_id"]))
        async with http.get(f"{stack.base}/_local/stats") as r:
            before = await r.json()
        count, latencies = await _drive(visitors, seconds)
        # Let the last delivery timers finish their read, so every message's calls are counted.
        await asyncio.sleep(ACK_WAIT_SECONDS + 1.5)
        async with http.get(f"{stack.base}/_local/stats") as r:
            after = await r.json()
        for peer in [p for p, _ in visitors] + agents:
            await peer.close()
    out: dict[str, Any] = _summary(count, latencies, seconds)
    calls = {k: after["aws_calls"].get(k, 0) - before["aws_calls"].get(k, 0) for k in after["aws_calls"]}
    out["aws_calls_per_message"] = {k: round(v / max(count, 1), 2) for k, v in sorted(calls.items()) if v}
    out["aws_calls_per_message_total"] = round(sum(calls.values()) / max(count, 1), 2)
    return out


@contextlib.contextmanager
def _bare_relay() -> Iterator[str]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "bench.bare_relay", str(port)], cwd=ROOT,
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    if "READY" not in proc.stdout.readline():
        proc.kill()
        raise RuntimeError("bare relay did not start")
    try:
        yield f"ws://127.0.0.1:{port}/ws"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


async def _bare(url: str, pairs: int, seconds: float) -> dict[str, Any]:
    async with aiohttp.ClientSession() as http:
        agents = [Peer(await http.ws_connect(f"{url}?role=agent")).start() for _ in agent_names(pairs)]
        visitors = [(Peer(await http.ws_connect(f"{url}?role=visitor")).start(), "s") for _ in range(pairs)]
        count, latencies = await _drive(visitors, seconds)
        for peer in [p for p, _ in visitors] + agents:
            await peer.close()
    return _summary(count, latencies, seconds)


def run(pairs: int, seconds: float, state_dir: Path) -> dict[str, Any]:
    with run_stack(state_dir, ack_wait_seconds=ACK_WAIT_SECONDS) as stack:
        ours = asyncio.run(_ours(stack, pairs, seconds))
    with _bare_relay() as url:
        bare = asyncio.run(_bare(url, pairs, seconds))
    return {
        "pairs": pairs,
        "seconds": seconds,
        "msgs_per_s": ours["msgs_per_s"],
        "baseline_msgs_per_s": bare["msgs_per_s"],
        "ratio": round(ours["msgs_per_s"] / bare["msgs_per_s"], 4) if bare["msgs_per_s"] else None,
        "p50_ms": ours["p50_ms"],
        "p99_ms": ours["p99_ms"],
        "baseline_p50_ms": bare["p50_ms"],
        "baseline_p99_ms": bare["p99_ms"],
        "messages": ours["messages"],
        "baseline_messages": bare["messages"],
        "aws_calls_per_message": ours["aws_calls_per_message"],
        "aws_calls_per_message_total": ours["aws_calls_per_message_total"],
    }

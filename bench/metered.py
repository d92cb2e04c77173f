"""The local stack with meters, for the benchmarks that measure what events cost on it (``bench/cost.py``,
``bench/peak.py``).

``metered_stack`` starts ``python -m bench.metered serve`` in a child process: ``python -m local`` plus read-outs
registered on the gateway's ``/_local/stats`` (``local/gateway.py``):

- ``capacity``: DynamoDB capacity units by DynamoDB's rules (``CapacityMeter``, bench/capacity.py), in all;
- ``capacity_by_partition``: the same units by partition (table, index, key value);
- ``call_trace``: every AWS call (operation, thread, start, end), the last 20,000;
- ``search_requests``: queries sent to the FAQ search backend (one request each to OpenSearch on AWS);
- ``tasks``: the Lambda tasks state machines ran (invocations and milliseconds by function).

and ``POST /_local/actions/tick``: one run of every scheduled Lambda (the queue tick), now. A benchmark module named
on the command line (``serve bench.peak``) may register more actions through its ``register(actions)``.

The stack's own background work (the queue tick) is off, and configuration is cached as long as on AWS.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import importlib
import json
import os
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict
from functools import wraps
from pathlib import Path
from typing import Any

import aiohttp

from local.harness import Stack, run_stack

CHALICE_CONFIG = Path(__file__).resolve().parents[1] / ".chalice" / "config.json"
# The Lambda function behind each route the local gateway times (Chalice's names, as in .chalice/config.json),
# and behind each action the stack runs for a benchmark.
ROUTE_FUNCTIONS = {"$connect": "websocket_connect", "$default": "websocket_message",
                   "$disconnect": "websocket_disconnect", "rest": "api_handler", "_action/tick": "queue_tick"}
TRACE_LENGTH = 20_000
# Read-outs too bulky to read at every step: a benchmark asks for them by name (``stats(..., only=...)``).
BULKY = ("call_trace", "capacity_by_partition")


def memory_mb(function: str, path: Path = CHALICE_CONFIG) -> int:
    """The function's memory as deployed: its own setting in .chalice/config.json, else the default."""
    config = json.loads(path.read_text())
    size: int = config.get("lambda_functions", {}).get(function, {}).get("lambda_memory_size",
                                                                         config["lambda_memory_size"])
    return size


# -- the child process ------------------------------------------------------------------------------------

def _count_searches() -> Callable[[], int]:
    """Counts queries to the embedded search backend, the local stand-in for OpenSearch (where each is one
    request to the domain). Wrapped on the class, in this benchmark process only: the search code has no
    counter of its own, and an AWS-call meter cannot see an in-process index."""
    count = [0]
    lock = threading.Lock()
    try:
        from chalicelib.faq.search.embedded import EmbeddedBackend
    except ImportError:  # moved: the read-out then says so (None) rather than a wrong 0
        return lambda: -1
    search = EmbeddedBackend.search

    @wraps(search)
    def counted(self: Any, *args: Any, **kwargs: Any) -> Any:
        with lock:
            count[0] += 1
        return search(self, *args, **kwargs)

    EmbeddedBackend.search = counted  # type: ignore[method-assign]
    return lambda: count[0]


def _tick(_: dict[str, Any]) -> dict[str, Any]:
    """One run of every scheduled Lambda of the app (the queue tick...), as EventBridge starts them; answers
    each one's schedule and result."""
    app = importlib.import_module("app").app
    ran = {}
    for source in app.event_sources:
        expression = getattr(source, "schedule_expression", None)
        if expression is None:
            continue
        result = app.handler_map[source.name]({
            "version": "0", "account": "123456789012", "region": os.environ.get("AWS_REGION"), "detail": {},
            "detail-type": "Scheduled Event", "source": "aws.events", "time": time.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "id": "bench", "resources": []}, None)
        ran[source.name] = {"schedule": expression if isinstance(expression, str) else expression.to_string(),
                            "result": result if isinstance(result, dict) else None}
    return ran


def serve(extensions: list[str]) -> None:
    """``python -m bench.metered serve [module ...]``: the local stack with the meters above."""
    from local import stack

    stack.configure_environment(int(os.environ.get("PORT", "8000")),
                                Path(os.environ.get("LOCAL_STATE_DIR", ".local")).resolve())
    from botocore import handlers

    from bench.capacity import CapacityMeter
    from local import sfn_adapter
    from local.gateway import ACTIONS, STATS_READOUTS

    meter = CapacityMeter()
    meter.install()
    calls: collections.deque[dict[str, Any]] = collections.deque(maxlen=TRACE_LENGTH)

    def started(model: Any = None, context: Any = None, **_: Any) -> None:
        if model is not None and isinstance(context, dict):
            context["bench.t0"] = time.time()

    def finished(model: Any = None, context: Any = None, **_: Any) -> None:
        if model is not None and isinstance(context, dict) and "bench.t0" in context:
            calls.append({"op": f"{model.service_model.service_name}.{model.name}",
                          "thread": threading.current_thread().name, "t0": context["bench.t0"], "t1": time.time()})

    handlers.BUILTIN_HANDLERS.append(("before-call", started))
    handlers.BUILTIN_HANDLERS.append(("after-call", finished))
    searches = _count_searches()
    STATS_READOUTS["capacity"] = lambda: asdict(meter.snapshot())
    STATS_READOUTS["capacity_by_partition"] = meter.by_partition
    STATS_READOUTS["call_trace"] = lambda: list(calls)
    STATS_READOUTS["search_requests"] = lambda: None if searches() < 0 else searches()
    STATS_READOUTS["tasks"] = sfn_adapter.task_usage
    ACTIONS["tick"] = _tick
    for name in extensions:
        importlib.import_module(name).register(ACTIONS)
    stack.main()


# -- the parent -------------------------------------------------------------------------------------------

def metered_stack(state_dir: Path, ack_wait_seconds: int = 5, extra_env: Mapping[str, str] | None = None,
                  config_edit: Callable[[dict[str, Any]], None] | None = None,
                  extensions: tuple[str, ...] = ()) -> contextlib.AbstractContextManager[Stack]:
    """``serve`` on a free port, until READY: the tick off and settings cached as on AWS. The sessions stream's
    reader only drops what moto keeps: locally each of its reads is a window of its own, so the reports' writes would
    be counted at a quiet shop's rate whatever the load (bench/reports.py measures them, with AWS's windows)."""
    return run_stack(state_dir, ack_wait_seconds=ack_wait_seconds, command=("-m", "bench.metered", "serve",
                                                                            *extensions),
                     extra_env={"LOCAL_TICK_SECONDS": "86400", "CONFIG_MAX_AGE_SECONDS": "60",
                                "LOCAL_STREAM_SECONDS": "86400", **(extra_env or {})},
                     config_edit=config_edit)


async def stats(http: aiohttp.ClientSession, stack: Stack, only: tuple[str, ...] | None = None) -> dict[str, Any]:
    """``/_local/stats``; with ``only``, just those read-outs (the base counters always)."""
    query = "" if only is None else "?only=" + ",".join(only)
    async with http.get(f"{stack.base}/_local/stats{query}") as r:
        found: dict[str, Any] = await r.json()
        return found


async def action(http: aiohttp.ClientSession, stack: Stack, name: str, body: Mapping[str, Any] | None = None,
                 timeout: float = 600.0) -> Any:
    """Run the stack's registered action ``name`` and return its result."""
    async with http.post(f"{stack.base}/_local/actions/{name}", json=dict(body or {}),
                         timeout=aiohttp.ClientTimeout(total=timeout)) as r:
        if r.status != 200:
            raise RuntimeError(f"action {name}: {r.status} {await r.text()}")
        return await r.json()


def delta(after: Mapping[str, Any], before: Mapping[str, Any]) -> dict[str, float]:
    """The numbers that changed between two read-outs of the same counters."""
    return {k: v - before.get(k, 0) for k, v in after.items() if isinstance(v, int | float) and v != before.get(k, 0)}


async def settled(http: aiohttp.ClientSession, stack: Stack, open_connections: int, wait_seconds: float) -> \
        dict[str, Any]:
    """The stats once no execution runs and only ``open_connections`` are left (bounded wait)."""
    deadline = time.monotonic() + wait_seconds + 30
    found = await stats(http, stack, only=("capacity", "call_trace"))
    while (found["stepfunctions"]["running"] or found["open_connections"] > open_connections) \
            and time.monotonic() < deadline:
        await asyncio.sleep(0.5)
        found = await stats(http, stack, only=("capacity", "call_trace"))
    await asyncio.sleep(1.0)
    return await stats(http, stack, only=("capacity", "call_trace"))


if __name__ == "__main__":
    if sys.argv[1:2] == ["serve"]:
        serve(sys.argv[2:])
    else:
        sys.exit("usage: python -m bench.metered serve [module ...]   (started by the benchmarks)")

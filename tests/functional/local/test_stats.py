"""The local gateway's ``/_local/stats`` read-outs: handler invocations and time by route, what the Step
Functions engine ran, and read-outs registered by a benchmark."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import boto3
import pytest
from aiohttp import web
from chalice.app import Chalice, Response, WebsocketEvent
from moto import mock_aws

from local import gateway as gw
from local import sfn_adapter
from tests.functional.local.test_gateway import Running, serve

app = Chalice(app_name="stats-test")
app.experimental_feature_flags.update(["WEBSOCKETS"])


@app.on_ws_message()
def ws_message(event: WebsocketEvent) -> Response:
    time.sleep(0.02)
    return Response(body={"event": "reply"})


@app.route("/ping")
def ping() -> dict[str, Any]:
    return {"ok": True}


@pytest.fixture
def running(tmp_path: Path) -> Iterator[Running]:
    def build(port: int) -> web.Application:
        return gw.create_gateway_app(app, port, tmp_path)

    yield from serve(build)


def test_stats_count_handler_invocations_and_time_by_route_and_add_registered_readouts(
        running: Running, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(gw.STATS_READOUTS, "meter", lambda: {"units": 3})

    async def scenario() -> dict[str, Any]:
        async with aiohttp.ClientSession() as http:
            async with http.ws_connect(running.ws_url) as ws:
                for _ in range(2):
                    await ws.send_json({"action": "x"})
                    assert json.loads((await asyncio.wait_for(ws.receive(), 10)).data) == {"event": "reply"}
            async with http.get(f"{running.base}/api/ping") as r:
                assert r.status == 200
            async with http.get(f"{running.base}/_local/stats") as r:
                stats: dict[str, Any] = await r.json()
                return stats

    stats = asyncio.run(scenario())
    assert stats["handlers"]["$default"]["invocations"] == 2
    assert stats["handlers"]["$default"]["ms"] >= 40
    assert stats["handlers"]["rest"]["invocations"] == 1
    assert stats["meter"] == {"units": 3}
    assert {"executions", "transitions", "billed_ms"} <= set(stats["stepfunctions"])


def test_a_registered_action_runs_timed_in_the_pool_and_readouts_can_be_picked(
        running: Running, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(gw.ACTIONS, "double", lambda body: {"twice": 2 * body["n"]})
    monkeypatch.setitem(gw.STATS_READOUTS, "small", lambda: 1)
    monkeypatch.setitem(gw.STATS_READOUTS, "bulky", lambda: list(range(1000)))

    async def scenario() -> tuple[Any, int, dict[str, Any]]:
        async with aiohttp.ClientSession() as http:
            async with http.post(f"{running.base}/_local/actions/double", json={"n": 21}) as r:
                answer = await r.json()
            async with http.post(f"{running.base}/_local/actions/nothing", json={}) as r:
                missing = r.status
            async with http.get(f"{running.base}/_local/stats?only=small") as r:
                stats: dict[str, Any] = await r.json()
            return answer, missing, stats

    answer, missing, stats = asyncio.run(scenario())
    assert answer == {"twice": 42}
    assert missing == 404
    assert stats["handlers"]["_action/double"]["invocations"] == 1
    assert stats["handlers_running"] == 0
    assert stats["small"] == 1 and "bulky" not in stats


PASS_WAIT = {"StartAt": "Hold", "States": {
    "Hold": {"Type": "Wait", "Seconds": 0, "Next": "Shape"},
    "Shape": {"Type": "Pass", "Next": "Done"},
    "Done": {"Type": "Succeed"}}}


def test_step_functions_usage_reads_executions_transitions_and_billed_time_from_the_engine(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(key, "testing")
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}}):
        sfn = boto3.client("stepfunctions", region_name="us-east-1")
        arn = sfn.create_state_machine(name="m", definition=json.dumps(PASS_WAIT), type="EXPRESS",
                                       roleArn="arn:aws:iam::123456789012:role/r")["stateMachineArn"]
        for name in ("a", "b"):
            sfn.start_execution(stateMachineArn=arn, name=name, input="{}")
        # A Standard machine bills transitions, not duration: counted apart.
        standard = sfn.create_state_machine(name="s", definition=json.dumps(PASS_WAIT), type="STANDARD",
                                            roleArn="arn:aws:iam::123456789012:role/r")["stateMachineArn"]
        sfn.start_execution(stateMachineArn=standard, name="c", input="{}")
        deadline = time.monotonic() + 10
        while gw.step_functions_usage()["running"] and time.monotonic() < deadline:
            time.sleep(0.05)
        usage = gw.step_functions_usage()
    assert usage["executions"] == 2
    assert usage["running"] == 0
    assert usage["transitions"] == 6  # Hold, Shape, Done, twice
    assert usage["lambda_tasks"] == 0
    # Each execution's duration rounded up to 100 ms: 200 when both run under 100 ms, more on a loaded machine.
    assert usage["billed_ms"] >= 200 and usage["billed_ms"] % 100 == 0
    assert 0 < usage["duration_ms"] <= usage["billed_ms"]
    assert (usage["standard_executions"], usage["standard_transitions"]) == (1, 3)
    assert usage["by_machine"] == {
        "m": {"type": "EXPRESS", "executions": 2, "running": 0, "transitions": 6, "lambda_tasks": 0},
        "s": {"type": "STANDARD", "executions": 1, "running": 0, "transitions": 3, "lambda_tasks": 0}}


def test_state_machine_tasks_are_counted_and_timed_by_function() -> None:
    def step(event: dict[str, Any], context: Any) -> dict[str, Any]:
        time.sleep(0.01)
        return {"ok": event["n"]}

    invoker = sfn_adapter.InProcessLambda({"bench_step": step})
    before = sfn_adapter.task_usage().get("bench_step", {"invocations": 0, "ms": 0.0})
    for n in range(2):
        invoker.invoke(FunctionName="bench_step", Payload=json.dumps({"n": n}).encode())
    after = sfn_adapter.task_usage()["bench_step"]
    assert after["invocations"] - before["invocations"] == 2
    assert after["ms"] - before["ms"] >= 20

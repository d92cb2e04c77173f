"""$default answers an unexpected exception with internal_error instead of raising, so Lambda's Errors metric
never counts it: the FrameErrors metric does (alarmed in infra/build.py)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from chalicelib.auth.identity import Identity
from chalicelib.edge.frames import ACTIONS, handle_frame
from chalicelib.platform.observability import FRAME_ERRORS_METRIC, METRICS_NAMESPACE
from chalicelib.wiring import Services, build
from tests.conftest import RecordingSender, RecordingTimer, routing_config

VISITOR = Identity(user_id="v_1", role="visitor", name="Vera", channel="web")


def _emf(out: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.splitlines() if line.startswith('{"_aws"')]


def test_a_frame_that_fails_unexpectedly_emits_one_frame_error_metric(
        aws: None, sender: RecordingSender, timer: RecordingTimer, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("POWERTOOLS_METRICS_DISABLED", raising=False)  # as on AWS
    config = routing_config()
    svc = build(sender, timer, config=lambda: config)
    svc.presence.connect("cv1", VISITOR)

    def explode(svc: Services, caller: Identity, conn: str, frame: dict[str, Any]) -> None:
        raise RuntimeError("boom")

    monkeypatch.setitem(ACTIONS, "explode", explode)
    capsys.readouterr()
    handle_frame(svc, "cv1", '{"action": "explode"}')
    handle_frame(svc, "cv1", '{"action": "no_such_action"}')  # a refusal is the client's error: not counted
    metrics = _emf(capsys.readouterr().out)
    assert [m[FRAME_ERRORS_METRIC] for m in metrics] == [[1.0]]
    (directive,) = metrics[0]["_aws"]["CloudWatchMetrics"]
    assert directive["Namespace"] == METRICS_NAMESPACE
    assert directive["Dimensions"] == [["service"]]
    assert metrics[0]["service"] == "im"
    assert [f["code"] for f in sender.frames("cv1", "error")] == ["internal_error", "unknown_action"]

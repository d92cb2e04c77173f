"""Log lines carry the Lambda context and the correlation keys of the invocation they come from, and no
other invocation's; the robot's outcomes are counted."""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import io
import json
import logging
import types
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from chalice.app import WebsocketEvent

from chalicelib.auth.identity import Identity
from chalicelib.edge.frames import handle_frame
from chalicelib.faq.embed import default_embedder
from chalicelib.faq.matcher import Matcher
from chalicelib.faq.model import Faq, RobotSettings
from chalicelib.faq.robot import RobotService
from chalicelib.faq.search.embedded import EmbeddedBackend
from chalicelib.platform import observability
from chalicelib.platform.observability import correlate, logger, observe, recording
from chalicelib.wiring import build
from tests.conftest import RecordingSender, RecordingTimer, routing_config

EVENT = json.loads((Path(__file__).parents[2] / "events" / "ws_message.json").read_text())


class Context:
    function_name = "WebsocketMessage"
    aws_request_id = "req-1"
    memory_limit_in_mb = 256
    invoked_function_arn = "arn:aws:lambda:us-east-1:000000000000:function:WebsocketMessage"


Lines = Callable[[], list[dict[str, Any]]]


@pytest.fixture
def lines() -> Iterator[Lines]:
    """Reads the JSON log lines written so far in the test, through the app's own formatter."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logger.registered_formatter)
    logger.addHandler(handler)
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    logger.removeHandler(handler)


def ws_event(connection_id: str, context: Any) -> WebsocketEvent:
    event = copy.deepcopy(EVENT)
    event["requestContext"]["connectionId"] = connection_id
    return WebsocketEvent(event, context)


def test_a_frames_log_lines_carry_the_lambda_context_the_connection_and_the_user(
        lines: Lines) -> None:
    def handler(_: Any) -> None:
        correlate(user="alice", session_id="s_" + "1" * 20)
        logger.info("handled")

    observe(ws_event("conn-1", Context()), handler)
    (line,) = lines()
    assert (line["function_name"], line["function_request_id"]) == ("WebsocketMessage", "req-1")
    assert (line["connection_id"], line["user"], line["session_id"]) == ("conn-1", "alice", "s_" + "1" * 20)


def test_the_next_invocation_starts_with_none_of_the_last_ones_keys(lines: Lines) -> None:
    observe(ws_event("conn-1", Context()), lambda _: correlate(user="alice"))
    observe(ws_event("conn-2", None), lambda _: logger.info("handled"))
    (line,) = lines()
    assert line["connection_id"] == "conn-2"
    assert not {"user", "function_name", "function_request_id"} & set(line)


RETURNS = Faq("returns-window", "How many days do I have to return an item?", "Within 7 days of delivery.",
              similar=("what is your return policy",), category="returns")
VISITOR = Identity(user_id="v_1", role="visitor", name="Vera", channel="web")


def test_the_robots_answers_suggestions_and_hand_offs_are_counted(aws: None, sender: RecordingSender,
                                                                   timer: RecordingTimer) -> None:
    matcher = Matcher(EmbeddedBackend(), default_embedder())
    matcher.index([RETURNS])
    config = routing_config()
    svc = build(sender, timer, config=lambda: config)
    settings = RobotSettings(misses_before_handoff=2)
    robot = RobotService(svc.presence, svc.im, svc.sessions, lambda: matcher, lambda: settings,
                         lambda ids: {i: RETURNS for i in ids if i == RETURNS.faq_id}, svc.routing.request_agent)
    svc = dataclasses.replace(svc, robot=robot)
    session = svc.sessions.current_or_new(VISITOR, svc.presence.connect("cv", VISITOR))

    def say(text: str, n: int) -> None:
        handle_frame(svc, "cv", json.dumps({"action": "send", "session_id": session.session_id,
                                            "client_msg_id": f"m{n}", "type": "text", "content": {"text": text}}))

    with recording() as counts:
        say("what is your return policy", 1)
        say("who won the football world cup in 1998?", 2)
        say("and the one in 2002?", 3)  # the second miss in a row: a person takes over
    assert counts["robot.RobotAnswered"] == 1
    assert counts["robot.RobotSuggested"] == 1
    assert counts["robot.RobotHandedOff"] == 1


@dataclasses.dataclass
class RecordedSubsegment:
    name: str
    annotations: dict[str, str] = dataclasses.field(default_factory=dict)

    def put_annotation(self, key: str, value: str) -> None:
        self.annotations[key] = value


@dataclasses.dataclass
class RecordingTraceProvider:
    """Records the subsegments opened through it, as X-Ray's recorder would send them."""

    opened: list[RecordedSubsegment] = dataclasses.field(default_factory=list)

    @contextlib.contextmanager
    def in_subsegment(self, name: str) -> Iterator[RecordedSubsegment]:
        self.opened.append(RecordedSubsegment(name))
        yield self.opened[-1]


def test_each_invocation_is_one_trace_subsegment_named_and_annotated_by_what_it_handled(
        monkeypatch: pytest.MonkeyPatch) -> None:
    provider = RecordingTraceProvider()
    monkeypatch.setattr(observability, "tracer", types.SimpleNamespace(provider=provider))
    event = WebsocketEvent(copy.deepcopy(EVENT), Context())
    seen: list[int] = []

    def handler(received: Any) -> str:
        seen.append(len(provider.opened))  # the handler runs inside the subsegment
        return "answered"

    assert observe(event, handler) == "answered"
    route = EVENT["requestContext"]["routeKey"]
    assert seen == [1]
    assert provider.opened == [RecordedSubsegment(f"## ws {route}", {
        "handler": f"ws {route}", "connection_id": EVENT["requestContext"]["connectionId"]})]

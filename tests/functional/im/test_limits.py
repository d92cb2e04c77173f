"""Limits with clear errors: frames per second per connection, and open connections per user."""

from __future__ import annotations

import dataclasses
import json

from chalicelib.auth.identity import Identity
from chalicelib.channel.models import Connection, Presence
from chalicelib.channel.presence import MAX_CONNECTIONS, TooManyConnections
from chalicelib.edge.frames import handle_frame
from chalicelib.im.ratelimit import RateLimiter
from chalicelib.wiring import build, override
from tests.conftest import RecordingSender, RecordingTimer, routing_config
from tests.functional.test_app import visitor_token, ws


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_the_bucket_allows_the_burst_then_the_rate_and_says_how_long_to_wait() -> None:
    clock = Clock()
    limiter = RateLimiter(rate=10, burst=3, clock=clock)
    assert [limiter.take("c1") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.take("c1") == 0.1  # empty: one token comes back in 1/rate seconds
    assert limiter.take("c2") == 0.0  # every connection has its own bucket
    clock.now += 0.25
    assert limiter.take("c1") == 0.0 and limiter.take("c1") == 0.0
    assert limiter.take("c1") > 0


def test_frames_over_the_rate_are_refused_unprocessed_and_acks_never_are(aws: None, sender: RecordingSender,
                                                                       timer: RecordingTimer) -> None:
    # A frozen clock: the frames arrive at one instant, however long moto takes over them.
    svc = dataclasses.replace(build(sender, timer, config=lambda: routing_config()), limiter=RateLimiter(clock=Clock()))
    vera = Identity("v_vera", "visitor", channel="web")
    session = svc.sessions.current_or_new(vera, svc.presence.connect("c1", vera))
    burst = int(svc.limiter.burst)
    for i in range(burst + 5):
        handle_frame(svc, "c1", json.dumps({"action": "send", "session_id": session.session_id,
                                            "client_msg_id": f"m{i}", "type": "text", "content": {"text": "hi"}}))
    limited = [f for f in sender.frames("c1", "error") if f["code"] == "rate_limited"]
    assert len(limited) == 5 and all(f["retry_after_ms"] >= 1 and f["action"] == "send" for f in limited)
    refused = {f["client_msg_id"] for f in limited}
    # The robot answered each accepted message; a refused one was never taken (the client resends it).
    taken = int(svc.sessions.get(session.session_id).seq or 0)  # type: ignore[union-attr]
    assert taken <= 2 * (burst + 5 - len(refused))
    for _ in range(10):  # an ACK storm after a resume is never limited
        handle_frame(svc, "c1", json.dumps({"action": "ack", "message_id": f"{session.session_id}.1"}))
    assert all(f["code"] != "rate_limited" for f in sender.frames("c1", "error")[-10:])


def test_a_user_beyond_its_open_connections_is_refused_and_nothing_is_left_behind(
        aws: None, sender: RecordingSender, timer: RecordingTimer) -> None:
    override(build(sender, timer, config=lambda: routing_config()))
    limit = MAX_CONNECTIONS["visitor"]
    token = visitor_token("Tabs")
    for i in range(limit):
        assert ws("$connect", f"tab{i}", query={"token": token})["statusCode"] == 200
    refused = ws("$connect", "one-too-many", query={"token": token})
    assert refused["statusCode"] == 429
    assert json.loads(refused["body"])["error"]["code"] == "too_many_connections"
    assert Presence.get("v_tabs").conns == {f"tab{i}" for i in range(limit)}
    assert Connection.count("one-too-many") == 0
    ws("$disconnect", "tab0")
    assert ws("$connect", "tab-again", query={"token": token})["statusCode"] == 200  # a closed tab frees its place


def test_the_presence_service_raises_the_limit_error() -> None:
    err = TooManyConnections(5)
    assert err.limit == 5 and "at most 5 open connections" in str(err)

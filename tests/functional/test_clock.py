"""One clock: the time a frame or a session's JSON carries is the injected clock's, never the wall clock's."""

from __future__ import annotations

import json

from chalicelib.auth.identity import Identity
from chalicelib.edge.frames import handle_frame
from chalicelib.platform.clock import Clock
from chalicelib.sessions.models import Session
from chalicelib.wiring import build
from tests.conftest import RecordingSender, RecordingTimer, routing_config

# 2001-09-09: far from today, so a wall-clock reading could not pass for it.
FAKE_NOW = 1_000_000_000.25


def test_a_pong_carries_the_injected_clocks_time(aws: None, sender: RecordingSender, timer: RecordingTimer) -> None:
    svc = build(sender, timer, config=lambda: routing_config(), clock=Clock(lambda: FAKE_NOW))
    vera = Identity("v_vera", "visitor", channel="web")
    svc.presence.connect("c1", vera)
    handle_frame(svc, "c1", json.dumps({"action": "ping"}))
    assert [f["ts"] for f in sender.frames("c1", "pong")] == [1_000_000_000_250]


def test_a_surveys_state_is_read_on_the_injected_clock(aws: None, sender: RecordingSender,
                                                       timer: RecordingTimer) -> None:
    svc = build(sender, timer, config=lambda: routing_config(), clock=Clock(lambda: FAKE_NOW))
    session = Session("s_" + "0" * 20, visitor_id="v_vera", status="closed", created_at=1,
                      survey_sent_at=1, survey_expires_at=1_000_000_000_251)
    # Long past on the wall clock, still 1 ms to go on the service's.
    assert svc.sessions.view(session)["survey"] == {"status": "pending", "expires_at": 1_000_000_000_251}
    session.survey_expires_at = 1_000_000_000_250
    assert svc.sessions.view(session, staff=True)["survey"]["status"] == "expired"

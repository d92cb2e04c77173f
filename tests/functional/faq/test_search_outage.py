"""Search is off the critical path: when the search backend fails or times out, a visitor's message is still
kept and answered (the robot's "not sure, talk to a person" reply), an agent's suggestions are empty, no error
frame goes out, and the failure is counted."""

from __future__ import annotations

import dataclasses
import json
import socket
import threading
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import pytest

from chalicelib.auth.identity import Identity
from chalicelib.edge.frames import handle_frame
from chalicelib.faq.embed import Embedder, Vector
from chalicelib.faq.kb import KnowledgeBase
from chalicelib.faq.matcher import Matcher
from chalicelib.faq.model import Faq, Hit, RobotSettings
from chalicelib.faq.robot import NOTHING_TEXT, RobotService
from chalicelib.faq.search.base import SearchBackend, SearchUnavailable
from chalicelib.faq.search.embedded import EmbeddedBackend
from chalicelib.faq.search.opensearch import OpenSearchBackend
from chalicelib.faq.store import FaqStore
from chalicelib.im.models import Message
from chalicelib.platform import observability
from chalicelib.sessions import models as sm
from chalicelib.sessions.models import Session
from chalicelib.wiring import Services, build
from tests.conftest import RecordingSender, RecordingTimer, routing_config

FAQS = [
    Faq("shipping-time", "How long does delivery take?", "Orders arrive in 2-4 days.",
        similar=("when will my parcel arrive",)),
    Faq("payment-methods", "Which payment methods do you accept?", "Alipay, WeChat Pay and cards.",
        similar=("can i pay with alipay",)),
]
VISITOR = Identity(user_id="v_1", role="visitor", name="Vera", channel="web")
ALICE = Identity(user_id="alice", role="agent", name="Alice Chen")
FAILED = f"{observability.ROBOT}.{observability.SEARCH_FAILED_METRIC}"


class DownBackend:
    """A search backend whose cluster is down: every call raises SearchUnavailable, and is recorded."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    def _down(self, call: str, arg: str = "") -> SearchUnavailable:
        self.calls.append((call, arg))
        return SearchUnavailable(f"OpenSearch {call} failed: ConnectionError(cluster unreachable)", 503)

    def replace_all(self, faqs: Iterable[Faq], embedder: Embedder | None = None) -> int:
        raise self._down("replace_all")

    def upsert(self, faqs: Sequence[Faq], embedder: Embedder | None = None) -> None:
        raise self._down("upsert")

    def delete(self, faq_ids: Sequence[str]) -> None:
        raise self._down("delete")

    def search(self, query: str, k: int = 10, language: str | None = None,
               vector: Vector | None = None) -> list[Hit]:
        raise self._down("search", query)

    def count(self) -> int:
        raise self._down("count")


@pytest.fixture
def silent() -> Iterator[socket.socket]:
    """A port that takes connections and never answers: a cluster too slow for any timeout."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        yield listener


def connections_made(listener: socket.socket) -> int:
    """How many connections reached ``listener`` (the kernel holds them until accepted)."""
    listener.setblocking(False)
    made = 0
    while True:
        try:
            conn, _ = listener.accept()
        except BlockingIOError:
            return made
        conn.close()
        made += 1


def silent_backend(listener: socket.socket) -> OpenSearchBackend:
    host, port = listener.getsockname()
    return OpenSearchBackend(f"http://{host}:{port}", "faqs", region="us-east-1", timeout=0.05)


@dataclasses.dataclass
class Chat:
    svc: Services
    sender: RecordingSender
    settings: list[RobotSettings]

    def frame(self, conn: str, **frame: Any) -> None:
        handle_frame(self.svc, conn, json.dumps(frame))

    def session(self) -> Session:
        found = self.svc.sessions.current(VISITOR)
        assert found is not None
        return found

    def say(self, text: str, conn: str = "cv") -> None:
        self.frame(conn, action="send", session_id=self.session().session_id,
                   client_msg_id=f"m{len(self.sender.posts)}", type="text", content={"text": text})

    def robot(self) -> list[dict[str, Any]]:
        return [f["message"]["content"] for f in self.sender.frames("cv", "message")
                if f["message"]["sender_role"] == "robot"]

    def errors(self) -> list[dict[str, Any]]:
        return [f for _, f in self.sender.posts if f.get("event") == "error"]

    def with_agent(self) -> None:
        self.svc.presence.connect("ca", ALICE)
        self.svc.routing.agent_connected(ALICE)
        self.frame("cv", action="request_agent")
        assert self.session().agent_id == "alice"


def chat(sender: RecordingSender, timer: RecordingTimer, matcher: Any) -> Chat:
    """A visitor ``cv`` with the robot over ``matcher`` (a callable giving the matcher, as the wiring's)."""
    config = routing_config()
    svc = build(sender, timer, config=lambda: config)
    settings = [RobotSettings(misses_before_handoff=0)]
    robot = RobotService(svc.presence, svc.im, svc.sessions, matcher, lambda: settings[0],
                         lambda ids: {f.faq_id: f for f in FAQS if f.faq_id in ids}, svc.routing.request_agent)
    svc = dataclasses.replace(svc, robot=robot)
    svc.im.companion = robot.for_agent
    svc.sessions.current_or_new(VISITOR, svc.presence.connect("cv", VISITOR))
    return Chat(svc, sender, settings)


def over(backend: SearchBackend) -> Matcher:
    return Matcher(backend)  # BM25 alone: the backend is what these tests are about


@pytest.fixture
def down() -> DownBackend:
    return DownBackend()


@pytest.fixture
def outage(aws: None, sender: RecordingSender, timer: RecordingTimer, down: DownBackend) -> Chat:
    matcher = over(down)
    return chat(sender, timer, lambda: matcher)


def stored_texts(c: Chat) -> list[tuple[str, str]]:
    return [(m.sender_id, m.status) for m in Message.query(c.session().session_id) if m.sk.startswith("m#")]


# -- the visitor's side ---------------------------------------------------------------------------

def test_when_search_fails_the_visitor_is_offered_a_person_and_sees_no_error(outage: Chat, down: DownBackend) -> None:
    with observability.recording() as counts:
        outage.say("how long does delivery take?")
    assert [f["seq"] for f in outage.sender.frames("cv", "delivered")] == [1]  # the message is kept
    assert outage.robot() == [{"text": NOTHING_TEXT, "suggestions": [], "handoff": True, "confidence": 0.0}]
    assert outage.errors() == []
    assert stored_texts(outage) == [("v_1", "delivered"), ("robot", "delivered")]
    assert down.calls == [("search", "how long does delivery take?")]
    assert counts[FAILED] == 1


def test_the_reply_without_search_has_the_shape_of_a_low_confidence_reply(
        aws: None, sender: RecordingSender, timer: RecordingTimer) -> None:
    working = over(EmbeddedBackend())
    working.index(FAQS)
    current = [working]
    up = chat(sender, timer, lambda: current[0])
    up.settings[0] = dataclasses.replace(up.settings[0], threshold=1.01)  # never sure
    up.say("how long does delivery take?")
    current[0] = over(DownBackend())
    up.say("how long does delivery take?")
    unsure, without_search = up.robot()
    assert without_search.keys() == unsure.keys()
    assert without_search["handoff"] is unsure["handoff"] is True


def test_a_search_that_times_out_gets_the_same_reply_and_is_not_retried(
        aws: None, sender: RecordingSender, timer: RecordingTimer, silent: socket.socket) -> None:
    slow = over(silent_backend(silent))
    c = chat(sender, timer, lambda: slow)
    with observability.recording() as counts:
        c.say("how long does delivery take?")
    assert c.robot() == [{"text": NOTHING_TEXT, "suggestions": [], "handoff": True, "confidence": 0.0}]
    assert c.errors() == []
    assert counts[FAILED] == 1
    assert connections_made(silent) == 1  # one request, given up on at the timeout


def test_failed_searches_count_as_misses_so_the_visitor_reaches_a_person(outage: Chat) -> None:
    outage.settings[0] = dataclasses.replace(outage.settings[0], misses_before_handoff=2)
    outage.say("how long does delivery take?")
    assert outage.session().status == sm.BOT
    outage.say("where is my parcel?")
    assert outage.robot()[-1]["handoff_reason"] == "misses"
    assert outage.session().status == sm.WAITING
    assert outage.errors() == []


def test_a_new_container_facing_a_down_cluster_answers_and_tries_again_next_message(
        aws: None, sender: RecordingSender, timer: RecordingTimer, down: DownBackend) -> None:
    kb = KnowledgeBase(FaqStore(), down, None, snapshots=None)  # its first use asks the cluster for a count
    c = chat(sender, timer, kb.matcher)
    with observability.recording() as counts:
        c.say("how long does delivery take?")
        c.say("can I pay with alipay?")
    assert [r["text"] for r in c.robot()] == [NOTHING_TEXT, NOTHING_TEXT]
    assert c.errors() == []
    assert down.calls == [("count", ""), ("count", "")]  # no broken matcher kept: each message tries again
    assert counts[FAILED] == 2


def test_an_error_in_our_own_code_is_not_taken_for_a_search_failure(
        aws: None, sender: RecordingSender, timer: RecordingTimer) -> None:
    def broken() -> Matcher:
        raise KeyError("a bug, not an outage")

    c = chat(sender, timer, broken)
    with observability.recording() as counts:
        c.say("how long does delivery take?")
    assert [e["code"] for e in c.errors()] == ["internal_error"]
    assert counts[FAILED] == 0


# -- the agent's side -----------------------------------------------------------------------------

def test_when_search_fails_the_agent_gets_the_message_with_empty_suggestions(outage: Chat) -> None:
    outage.with_agent()
    with observability.recording() as counts:
        outage.say("can I pay with alipay?")
    (message,) = outage.sender.frames("ca", "message")
    assert message["message"]["content"]["text"] == "can I pay with alipay?"
    assert [s["suggestions"] for s in [message.get("suggestions"), *outage.sender.frames("ca", "suggestions")]
            if s is not None] == [[]]
    assert outage.errors() == []
    assert counts[FAILED] == 1


def test_an_agent_asking_for_suggestions_gets_none_and_can_still_write(outage: Chat) -> None:
    outage.with_agent()
    session_id = outage.session().session_id
    with observability.recording() as counts:
        outage.frame("ca", action="suggest", session_id=session_id, text="fapiao please")
    (asked,) = outage.sender.frames("ca", "suggestions")
    assert (asked["query"], asked["suggestions"]) == ("fapiao please", [])
    assert counts[FAILED] == 1
    outage.frame("ca", action="send", session_id=session_id, client_msg_id="a1", type="text",
                 content={"text": "Let me check that for you."})
    reply = outage.sender.frames("cv", "message")[-1]
    assert reply["message"]["sender_id"] == "alice"
    assert reply["message"]["content"]["text"] == "Let me check that for you."
    assert outage.errors() == []


# -- the OpenSearch client's limits ---------------------------------------------------------------

def test_a_cluster_that_hangs_up_is_tried_twice_at_most() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        taken: list[int] = []

        def hang_up() -> None:  # every connection closed at once: a cluster refusing
            while True:
                try:
                    conn, _ = listener.accept()
                except OSError:
                    return
                taken.append(1)
                conn.close()

        thread = threading.Thread(target=hang_up, daemon=True)
        thread.start()
        with pytest.raises(SearchUnavailable):
            silent_backend(listener).search("refund")
        listener.shutdown(socket.SHUT_RDWR)
    thread.join(5)
    assert len(taken) == 2  # the request and one retry

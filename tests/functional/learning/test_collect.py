"""The learning loop on moto with the real matcher: "was this helpful?" on robot answers, and what the robot
collects (declined questions, answers marked not helpful, hand-offs right after an answer), grouped with counts."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest

from chalicelib.edge.frames import handle_frame
from chalicelib.faq.embed import default_embedder
from chalicelib.faq.matcher import Matcher
from chalicelib.faq.model import RobotSettings
from chalicelib.faq.robot import RobotService
from chalicelib.faq.search.embedded import EmbeddedBackend
from chalicelib.im.models import Message
from chalicelib.learning.grouping import group_key, normalise
from chalicelib.learning.service import LearningLog, group_json
from chalicelib.platform.clock import Clock
from chalicelib.wiring import Services, build
from tests.conftest import RecordingSender, RecordingTimer, count_aws_calls, routing_config
from tests.functional.faq.test_robot import FAQS, VISITOR, lookup

OTHER = dataclasses.replace(VISITOR, user_id="v_2", name="Otto")


@pytest.fixture(scope="module")
def matcher() -> Matcher:
    m = Matcher(EmbeddedBackend(), default_embedder())
    m.index(FAQS)
    return m


@dataclasses.dataclass
class Loop:
    svc: Services
    sender: RecordingSender
    log: LearningLog

    def frame(self, **frame: Any) -> None:
        handle_frame(self.svc, "cv", json.dumps(frame))

    def session_id(self) -> str:
        session = self.svc.sessions.current(VISITOR)
        assert session is not None
        return session.session_id

    def say(self, text: str) -> None:
        n = len(self.sender.frames("cv", "delivered"))
        self.frame(action="send", session_id=self.session_id(), client_msg_id=f"m{n}", type="text",
                   content={"text": text})

    def last_robot(self) -> dict[str, Any]:
        robot = [f["message"] for f in self.sender.frames("cv", "message") if f["message"]["sender_role"] == "robot"]
        return robot[-1]

    def feedback(self, message_id: str, helpful: Any, session_id: str | None = None) -> None:
        self.frame(action="robot_feedback", session_id=session_id or self.session_id(), message_id=message_id,
                   helpful=helpful)

    def errors(self) -> list[dict[str, Any]]:
        return self.sender.frames("cv", "error")

    def groups(self) -> list[dict[str, Any]]:
        return [group_json(g) for g in self.log.groups()]

    def mark_off_topic(self, text: str, answered_with: str) -> None:
        """``text`` answered with ``answered_with``, found not helpful and marked off-topic by an admin."""
        self.say(text)
        assert self.last_robot()["content"]["faq_id"] == answered_with
        self.feedback(self.last_robot()["message_id"], False)
        (group,) = self.groups()
        self.log.resolve("admin", group["group_id"], "off_topic")


@pytest.fixture
def loop(aws: None, sender: RecordingSender, timer: RecordingTimer, matcher: Matcher) -> Loop:
    config = routing_config()
    svc = build(sender, timer, config=lambda: config)
    robot = RobotService(svc.presence, svc.im, svc.sessions, lambda: matcher, lambda: RobotSettings(), lookup,
                         svc.routing.request_agent, learning=svc.learning)
    svc = dataclasses.replace(svc, robot=robot)
    svc.im.companion = robot.for_agent
    svc.sessions.current_or_new(VISITOR, svc.presence.connect("cv", VISITOR))
    return Loop(svc, sender, svc.learning)


def test_near_duplicates_share_a_group_and_others_do_not() -> None:
    assert normalise("请问怎么退货呢？") == normalise("怎么退货") == "怎么退货"
    assert group_key("Can I pay by PayPal?") == group_key("can i pay by paypal please")
    assert group_key("shipping to Hong Kong") != group_key("pping to Hong Kong")  # "hi" inside a word stays
    assert group_key("can i pay by paypal") != group_key("do you take paypal")


def test_a_declined_question_is_collected_and_counted_in_its_group(loop: Loop) -> None:
    loop.say("Who won the football World Cup in 1998?")
    assert "faq_id" not in loop.last_robot()["content"]
    loop.say("who won the football world cup in 1998")
    (group,) = loop.groups()
    assert (group["count"], group["declined"], group["not_helpful"], group["handoff"]) == (2, 2, 0, 0)
    assert group["examples"] == ["who won the football world cup in 1998", "Who won the football World Cup in 1998?"]


def test_helpful_is_kept_on_the_answer_once_and_collects_nothing(loop: Loop) -> None:
    loop.say("what's your return policy for things I bought?")
    answer = loop.last_robot()
    assert answer["content"]["faq_id"] == "returns-window"
    loop.feedback(answer["message_id"], True)
    assert loop.errors() == []
    sid = answer["message_id"].split(".")[0]
    assert [m.feedback for m in Message.query(sid) if m.message_id == answer["message_id"]] == ["helpful"]
    loop.feedback(answer["message_id"], False)  # one verdict per answer
    assert [e["code"] for e in loop.errors()] == ["conflict"]
    assert loop.groups() == []


def test_not_helpful_collects_the_question_with_the_faq_it_got(loop: Loop) -> None:
    loop.say("what's your return policy for things I bought?")
    loop.feedback(loop.last_robot()["message_id"], False)
    (group,) = loop.groups()
    assert group["text"] == "what's your return policy for things I bought?"
    assert (group["not_helpful"], group["faq_ids"]) == (1, ["returns-window"])


def test_talk_to_a_person_right_after_an_answer_is_collected(loop: Loop) -> None:
    loop.say("how long does delivery take")
    assert loop.last_robot()["content"]["faq_id"] == "shipping-time"
    loop.say("I want a real person")
    (group,) = loop.groups()
    assert (group["text"], group["handoff"], group["faq_ids"]) == ("how long does delivery take", 1,
                                                                   ["shipping-time"])


def test_the_button_right_after_an_answer_is_collected_but_not_after_a_miss(loop: Loop) -> None:
    loop.say("how long does delivery take")
    loop.frame(action="request_agent")
    assert [g["handoff"] for g in loop.groups()] == [1]


def test_a_hand_off_after_a_declined_question_counts_only_as_declined(loop: Loop) -> None:
    loop.say("who won the football world cup in 1998?")
    loop.say("I want a real person")
    (group,) = loop.groups()
    assert (group["declined"], group["handoff"]) == (1, 0)


@pytest.mark.parametrize(("change", "code"), [
    ({"helpful": "no"}, "invalid_frame"),
    ({"helpful": None}, "invalid_frame"),
    ({"message_id": "nope"}, "unknown_message"),
    ({"extra": 1}, "invalid_frame"),
])
def test_bad_feedback_frames_get_structured_errors(loop: Loop, change: dict[str, Any], code: str) -> None:
    loop.say("how long does delivery take")
    frame = {"action": "robot_feedback", "session_id": loop.session_id(),
             "message_id": loop.last_robot()["message_id"], "helpful": True, **change}
    loop.frame(**frame)
    assert [e["code"] for e in loop.errors()] == [code]


def test_feedback_on_what_is_not_a_robot_answer_is_refused(loop: Loop) -> None:
    loop.say("hello")  # a greeting: the robot's reply has no FAQ
    greeting = loop.last_robot()["message_id"]
    loop.feedback(greeting, False)
    own = loop.sender.frames("cv", "delivered")[0]["message_id"]
    loop.feedback(own, False)
    sid = loop.session_id()
    loop.feedback(f"{sid}.99", False)
    assert [(e["code"], e.get("field")) for e in loop.errors()] == [
        ("invalid_frame", "message_id"), ("forbidden", None), ("unknown_message", "message_id")]


def test_another_visitor_cannot_rate_someone_elses_answer(loop: Loop) -> None:
    loop.say("how long does delivery take")
    answer = loop.last_robot()["message_id"]
    loop.svc.sessions.current_or_new(OTHER, loop.svc.presence.connect("co", OTHER))
    handle_frame(loop.svc, "co", json.dumps({"action": "robot_feedback", "session_id": loop.session_id(),
                                             "message_id": answer, "helpful": False}))
    assert [e["code"] for e in loop.sender.frames("co", "error")] == ["forbidden"]
    assert loop.groups() == []


def test_a_question_marked_off_topic_is_declined_from_then_on_without_a_search(loop: Loop) -> None:
    loop.mark_off_topic("How long does delivery take?", "shipping-time")
    assert loop.log.off_topic_examples() == ["How long does delivery take?"]
    loop.say("how long does delivery take")  # the same group: declined, and not collected again
    reply = loop.last_robot()["content"]
    assert ("faq_id" not in reply, reply["off_topic"], reply["handoff"]) == (True, True, True)
    assert loop.groups() == []
    loop.say("when will my parcel arrive")  # another question: answered as before
    assert loop.last_robot()["content"]["faq_id"] == "shipping-time"


def test_paraphrases_of_a_question_marked_off_topic_are_declined_by_the_gate(loop: Loop) -> None:
    # The shop takes no bitcoin: the robot answered with its payment methods, confidently and wrongly.
    loop.mark_off_topic("Can I pay with bitcoin?", "payment-methods")
    for paraphrase in ("is bitcoin accepted as payment", "can I pay in bitcoin please"):  # other groups
        loop.say(paraphrase)
        reply = loop.last_robot()["content"]
        assert ("faq_id" not in reply, reply["off_topic"], reply["suggestions"]) == (True, True, []), paraphrase
        loop.say("do you accept visa cards")  # the FAQ's own questions are still answered (and misses reset)
        assert loop.last_robot()["content"]["faq_id"] == "payment-methods"
    assert [g["text"] for g in loop.groups()] == []  # declined as off-topic: not collected to be labelled again


def test_the_off_topic_set_is_read_at_most_once_a_minute_per_process(aws: None) -> None:
    now = [1_800_000_000.0]
    log = LearningLog(Clock(lambda: now[0]))
    assert not log.is_off_topic("Tell me a joke")
    log.record("declined", "Tell me a joke")
    other = LearningLog(Clock(lambda: now[0]))  # another process marks it
    other.resolve("admin", group_key("Tell me a joke"), "off_topic")
    assert other.is_off_topic("tell me a joke!")
    assert not log.is_off_topic("Tell me a joke")  # this process's set is still the one it read
    now[0] += 61
    assert log.is_off_topic("Tell me a joke")


def test_each_event_costs_what_the_protocol_says(loop: Loop) -> None:
    loop.say("what's your return policy for things I bought?")
    first = loop.last_robot()["message_id"]
    loop.say("how long does delivery take")
    second = loop.last_robot()["message_id"]
    calls = count_aws_calls()
    loop.log.record("declined", "Tell me a joke")
    assert calls() == 1  # one UpdateItem, no read
    loop.feedback(first, "yes")  # refused before any work: what every frame costs (who is calling)
    base = calls()
    loop.feedback(first, True)
    assert calls() - base == 2  # the answer read, the verdict written on it
    loop.feedback(second, False)
    assert calls() - base == 4  # and the question read, the learning log written

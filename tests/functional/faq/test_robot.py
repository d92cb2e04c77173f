"""The robot and the SOP assistant on moto, with the real matcher (embedded search, MiniLM vectors)."""

from __future__ import annotations

import dataclasses
import json
import threading
from collections.abc import Sequence
from typing import Any

import pytest

from chalicelib.auth.identity import Identity
from chalicelib.edge.frames import handle_frame
from chalicelib.faq.embed import default_embedder
from chalicelib.faq.matcher import DEFAULT_THRESHOLD, Matcher
from chalicelib.faq.model import Faq, Hit, RobotSettings
from chalicelib.faq.robot import RobotService, language_of, wants_person
from chalicelib.faq.search.embedded import EmbeddedBackend
from chalicelib.im import service
from chalicelib.im.models import Message
from chalicelib.sessions import models as sm
from chalicelib.sessions.models import Session
from chalicelib.settings import SUGGESTION_MIN_SCORE, get_settings
from chalicelib.wiring import Services, build
from tests.conftest import RecordingSender, RecordingTimer, routing_config

FAQS = [
    Faq("returns-window", "How many days do I have to return an item?",
        "You can return most items within 7 days of delivery, no reason needed: https://shop.example.com/help/returns",
        similar=("what is your return policy", "can i send something back"), category="returns"),
    Faq("shipping-time", "How long does delivery take?", "Orders ship within 24 hours and arrive in 2-4 days.",
        similar=("when will my parcel arrive", "delivery time"), category="shipping"),
    Faq("payment-methods", "Which payment methods do you accept?",
        "We accept Alipay, WeChat Pay, UnionPay and Visa/Mastercard.", similar=("can i pay with alipay",),
        category="payment"),
    Faq("invoice-request", "How do I get a VAT invoice (fapiao)?",
        "Request it under My orders > Invoice within 30 days of delivery.", similar=("i need a fapiao",),
        category="invoices"),
    Faq("shoe-size", "How do I choose my shoe size?", "Measure your foot length and use the brand's size chart.",
        similar=("what size shoes should i buy", "sizing for sneakers"), category="sizing",
        product_category="shoes"),
    Faq("zh-returns", "如何退货？", "签收后7天内可在“我的订单”申请无理由退货。", similar=("我想退货", "退货流程是什么"),
        category="returns", language="zh"),
    Faq("zh-shipping", "多久能发货？", "下单后24小时内发货，一般2到4天送达。", similar=("什么时候发货", "发货时间"),
        category="shipping", language="zh"),
    Faq("zh-discount", "有优惠吗？", "满199减20，会员再享95折。", similar=("现在有活动吗",), category="promotions",
        language="zh"),
]
BY_ID = {f.faq_id: f for f in FAQS}
VISITOR = Identity(user_id="v_1", role="visitor", name="Vera", channel="web")
ALICE = Identity(user_id="alice", role="agent", name="Alice Chen")


@pytest.fixture(scope="module")
def matcher() -> Matcher:
    m = Matcher(EmbeddedBackend(), default_embedder())
    m.index(FAQS)
    return m


@dataclasses.dataclass
class Bot:
    svc: Services
    sender: RecordingSender
    settings: list[RobotSettings]

    def frame(self, conn: str, **frame: Any) -> None:
        handle_frame(self.svc, conn, json.dumps(frame))

    def say(self, text: str, cmid: str | None = None, conn: str = "cv") -> None:
        session = self.svc.sessions.current(VISITOR)
        assert session is not None
        self.frame(conn, action="send", session_id=session.session_id, client_msg_id=cmid or f"m{len(self.sent())}",
                   type="text", content={"text": text})

    def sent(self) -> list[dict[str, Any]]:
        return self.sender.frames("cv", "delivered")

    def robot(self) -> list[dict[str, Any]]:
        return [f["message"] for f in self.sender.frames("cv", "message") if f["message"]["sender_role"] == "robot"]

    def session(self) -> Session:
        found = self.svc.sessions.current(VISITOR)
        assert found is not None
        return found


def lookup(ids: Sequence[str]) -> dict[str, Faq]:
    return {i: BY_ID[i] for i in ids if i in BY_ID}


@pytest.fixture
def bot(aws: None, sender: RecordingSender, timer: RecordingTimer, matcher: Matcher) -> Bot:
    config = routing_config()
    svc = build(sender, timer, config=lambda: config)
    settings = [RobotSettings(suggested_questions=("returns-window", "shipping-time"))]
    robot = RobotService(svc.presence, svc.im, svc.sessions, lambda: matcher, lambda: settings[0], lookup,
                         svc.routing.request_agent)
    svc = dataclasses.replace(svc, robot=robot)
    svc.im.companion = robot.for_agent
    svc.sessions.current_or_new(VISITOR, svc.presence.connect("cv", VISITOR))
    return Bot(svc, sender, settings)


def test_a_clear_question_is_answered_from_the_knowledge_base(bot: Bot) -> None:
    bot.say("what's your return policy for things I bought?")
    assert [f["seq"] for f in bot.sent()] == [1]  # the visitor's message is kept and confirmed
    (answer,) = bot.robot()
    assert answer["content"]["faq_id"] == "returns-window"
    assert answer["content"]["text"].startswith("You can return most items within 7 days")
    stored = [m for m in Message.query(bot.session().session_id) if m.sk.startswith("m#")]
    assert [(m.sender_id, m.status) for m in stored] == [("v_1", "delivered"), ("robot", "delivered")]


def test_a_chinese_question_is_answered_in_chinese(bot: Bot) -> None:
    bot.say("请问怎么退货")
    (answer,) = bot.robot()
    assert answer["content"]["faq_id"] == "zh-returns"


def test_the_shops_synonyms_let_the_robot_answer_other_words_for_the_same_thing(bot: Bot) -> None:
    bot.say("有没有折扣")  # "any discount?": no character in common with "有优惠吗" but 有
    assert "faq_id" not in bot.robot()[-1]["content"]
    bot.settings[0] = dataclasses.replace(bot.settings[0], synonyms=(("优惠", "折扣", "打折"),))
    bot.say("有没有折扣")
    assert bot.robot()[-1]["content"]["faq_id"] == "zh-discount"
    assert bot.robot()[-1]["content"]["confidence"] >= DEFAULT_THRESHOLD


def test_an_off_topic_question_is_not_answered_with_a_wrong_faq(bot: Bot) -> None:
    bot.say("who won the football world cup in 1998?")
    (reply,) = bot.robot()
    assert "faq_id" not in reply["content"]
    assert reply["content"]["handoff"] is True


def test_an_unclear_question_gets_suggestions_and_a_person_offered(bot: Bot) -> None:
    bot.settings[0] = dataclasses.replace(bot.settings[0], threshold=0.99)  # nothing is sure enough
    bot.say("delivery")
    (reply,) = bot.robot()
    assert "faq_id" not in reply["content"]
    assert reply["content"]["suggestions"][0]["faq_id"] == "shipping-time"
    assert reply["content"]["suggestions"][0]["question"] == "How long does delivery take?"
    assert reply["content"]["handoff"] is True


@pytest.mark.parametrize("text", ["I want to talk to an agent", "HUMAN please", "转人工", "我要人工客服"])
def test_a_handoff_keyword_hands_the_session_to_routing(bot: Bot, text: str) -> None:
    bot.say(text)
    assert bot.robot()[-1]["content"]["handoff_reason"] == "keyword"
    session = bot.session()
    assert session.status == sm.WAITING and session.robot_off  # nobody online: queued


def test_repeated_misses_hand_off(bot: Bot) -> None:
    bot.settings[0] = dataclasses.replace(bot.settings[0], threshold=0.99, misses_before_handoff=2)
    bot.say("hmm")
    assert bot.session().status == sm.BOT
    bot.say("something else entirely")
    assert bot.robot()[-1]["content"]["handoff_reason"] == "misses"
    assert bot.session().status == sm.WAITING


def test_an_answer_resets_the_misses(bot: Bot) -> None:
    bot.settings[0] = dataclasses.replace(bot.settings[0], misses_before_handoff=2)
    bot.say("who won the football world cup in 1998?")
    bot.say("how long does delivery take")
    bot.say("who is the best painter of all time?")
    assert bot.session().status == sm.BOT  # miss, answer, miss: never two in a row


def test_after_the_button_the_robot_never_answers_again_in_that_session(bot: Bot) -> None:
    bot.frame("cv", action="request_agent")
    assert bot.session().robot_off
    bot.frame("cv", action="leave_queue")  # back with the robot, but it has handed off
    assert bot.session().status == sm.BOT
    bot.say("how long does delivery take")
    assert bot.robot() == []
    assert len(bot.sent()) == 1  # the message itself is kept


def test_messages_while_waiting_are_kept_for_the_agent(bot: Bot) -> None:
    bot.frame("cv", action="request_agent")
    bot.say("my order 42 is late")
    assert bot.robot() == []
    bot.svc.presence.connect("ca", ALICE)
    bot.svc.routing.agent_connected(ALICE)
    bot.frame("ca", action="hello")  # the agent's hello drains the queue
    history = bot.svc.im.history(ALICE, bot.session().session_id, 0, 50)["messages"]
    assert [m["content"]["text"] for m in history] == ["my order 42 is late"]


def test_a_resent_message_is_kept_once_and_answered_once(bot: Bot) -> None:
    bot.say("how long does delivery take", cmid="same")
    bot.say("how long does delivery take", cmid="same")
    assert len(bot.robot()) == 1
    assert [m.seq for m in Message.query(bot.session().session_id) if m.sk.startswith("m#")] == [1, 2]
    assert len(bot.sent()) == 2  # the resend is told it was delivered


@pytest.mark.parametrize(("kind", "content", "says"), [
    ("image", {"url": "https://shop.example.com/x.jpg"}, "Thanks for the photo."),
    ("product", {"product_id": "SKU-1042", "title": "Trail Runner 2", "price": 89.9, "currency": "CNY"},
     "Thanks, I have your card."),
    ("order", {"order_id": "SO-88121"}, "Thanks, I have your card."),
])
def test_a_photo_or_card_is_acknowledged_with_a_person_offered_and_kept_for_the_agent(
        bot: Bot, kind: str, content: dict[str, Any], says: str) -> None:
    session = bot.session()
    bot.frame("cv", action="send", session_id=session.session_id, client_msg_id="card", type=kind, content=content)
    (reply,) = bot.robot()
    assert reply["content"]["text"].startswith(says)
    assert reply["content"]["handoff"] is True and reply["content"]["received"] == kind
    assert "I can only read text" not in reply["content"]["text"]
    assert int(bot.session().robot_misses or 0) == 0  # not counted as a question the robot missed

    # The visitor takes the offer; the agent who takes over finds the card in the history.
    bot.frame("cv", action="request_agent")
    bot.svc.presence.connect("ca", ALICE)
    bot.svc.routing.agent_connected(ALICE)
    bot.frame("ca", action="hello")
    history = bot.svc.im.history(ALICE, session.session_id, 0, 50)["messages"]
    assert [(m["type"], m["content"]) for m in history if m["sender_role"] == "visitor"] == [(kind, content)]


class RankingMatcher:
    """A matcher that ranks every text the same, chosen hits and records what it was asked."""

    def __init__(self, hits: Sequence[Hit]) -> None:
        self.hits = list(hits)
        self.asked: list[str] = []

    def rank(self, text: str, **_: Any) -> list[Hit]:
        self.asked.append(text)
        return list(self.hits)


def test_suggestions_under_the_minimum_score_never_reach_the_agent(bot: Bot, monkeypatch: pytest.MonkeyPatch) -> None:
    ranked = RankingMatcher([Hit("returns-window", 0.81, "what is your return policy"),
                             Hit("shipping-time", 0.25, "delivery time"), Hit("payment-methods", 0.24, "alipay")])
    monkeypatch.setenv("SUGGESTION_MIN_SCORE", "0.25")
    get_settings.cache_clear()
    robot = RobotService(bot.svc.presence, bot.svc.im, bot.svc.sessions, lambda: ranked,  # type: ignore[arg-type,return-value]
                         lambda: bot.settings[0], lookup, bot.svc.routing.request_agent,
                         get_settings().suggestion_min_score)
    frame = robot.suggestions("s_1", "can I send it back?", 4)
    assert ranked.asked == ["can I send it back?"]
    assert [s["faq_id"] for s in frame["suggestions"]] == ["returns-window", "shipping-time"]  # 0.24 is left out

    # The minimum is the deployment's: raised, the 0.25 one goes too; none left is an empty list, no error.
    monkeypatch.setenv("SUGGESTION_MIN_SCORE", "0.9")
    get_settings.cache_clear()
    strict = RobotService(bot.svc.presence, bot.svc.im, bot.svc.sessions, lambda: ranked,  # type: ignore[arg-type,return-value]
                          lambda: bot.settings[0], lookup, bot.svc.routing.request_agent,
                          get_settings().suggestion_min_score)
    assert strict.suggestions("s_1", "can I send it back?")["suggestions"] == []
    monkeypatch.delenv("SUGGESTION_MIN_SCORE")
    get_settings.cache_clear()
    assert get_settings().suggestion_min_score == SUGGESTION_MIN_SCORE == 0.25  # the default, unset


def test_an_agent_gets_only_the_suggestions_above_the_minimum_with_a_visitor_message(bot: Bot) -> None:
    # The wired service: the visitor's text reaches the agent with its suggestions, none of them under 0.25.
    bot.frame("cv", action="request_agent")
    bot.svc.presence.connect("ca", ALICE)
    bot.svc.routing.agent_connected(ALICE)
    bot.frame("ca", action="hello")
    bot.say("is the weather nice on the moon today", cmid="moon")  # nothing in the knowledge base is near it
    bot.say("can i pay with alipay", cmid="alipay")
    frames = [f["suggestions"] for f in bot.sender.frames("ca", "message") if f.get("suggestions")]
    frames += bot.sender.frames("ca", "suggestions")
    by_query = {f["query"]: [(s["faq_id"], s["score"]) for s in f["suggestions"]] for f in frames}
    assert by_query["is the weather nice on the moon today"] == []
    alipay = by_query["can i pay with alipay"]
    assert alipay[0][0] == "payment-methods" and min(score for _, score in alipay) >= SUGGESTION_MIN_SCORE


def test_the_welcome_carries_the_greeting_and_suggested_questions(bot: Bot) -> None:
    bot.frame("cv", action="hello")
    robot = bot.sender.frames("cv", "welcome")[-1]["robot"]
    assert robot["greeting"] == "Hi! I'm the shop's assistant. Ask me anything, or tap \u201cTalk to a person\u201d."
    assert [q["faq_id"] for q in robot["suggested_questions"]] == ["returns-window", "shipping-time"]


def test_the_greeting_reads_its_questions_once_per_settings_not_once_per_hello(bot: Bot) -> None:
    reads: list[list[str]] = []

    def recording_lookup(ids: Sequence[str]) -> dict[str, Faq]:
        reads.append(list(ids))
        return lookup(ids)

    robot = RobotService(bot.svc.presence, bot.svc.im, bot.svc.sessions, lambda: None,  # type: ignore[arg-type,return-value]
                         lambda: bot.settings[0], recording_lookup, bot.svc.routing.request_agent)
    first = [robot.greeting() for _ in range(3)]
    assert reads == [["returns-window", "shipping-time"]] and first[0] == first[2]
    bot.settings[0] = RobotSettings(suggested_questions=("shipping-time",))  # saved, or read again after 30 s
    assert [q["faq_id"] for q in robot.greeting()["suggested_questions"]] == ["shipping-time"]
    assert reads[-1] == ["shipping-time"] and len(reads) == 2


def test_the_agent_gets_ranked_suggestions_with_why_for_each_visitor_text(bot: Bot) -> None:
    bot.svc.presence.connect("ca", ALICE)
    bot.svc.routing.agent_connected(ALICE)
    bot.frame("cv", action="request_agent")
    assert bot.session().agent_id == "alice"
    bot.say("can I pay by alipay?")
    # They ride in the message frame (one WebSocket message), not in a frame of their own.
    (message,) = bot.sender.frames("ca", "message")
    pushed = message["suggestions"]
    assert message["message"]["content"]["text"] == "can I pay by alipay?"
    assert pushed["event"] == "suggestions" and not bot.sender.frames("ca", "suggestions")
    top = pushed["suggestions"][0]
    assert (pushed["seq"], top["faq_id"]) == (1, "payment-methods")
    assert top["answer"].startswith("We accept Alipay")
    assert top["why"]["matched"] == "can i pay with alipay" and top["why"]["semantic"] > 0.5
    # On request: for the visitor's latest text, or for a text the agent gives.
    bot.frame("ca", action="suggest", session_id=pushed["session_id"])
    bot.frame("ca", action="suggest", session_id=pushed["session_id"], text="fapiao please")
    again, asked = bot.sender.frames("ca", "suggestions")
    assert again["suggestions"][0]["faq_id"] == "payment-methods"
    assert asked["suggestions"][0]["faq_id"] == "invoice-request"


def test_suggestions_not_ready_in_time_follow_the_message(bot: Bot, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(service, "COMPANION_WAIT_SECONDS", 0)
    posted = threading.Event()
    bot.sender.on_post = lambda conn, frame: posted.set() if frame.get("event") == "message" else None

    def slow(session: Session, msg: Message) -> dict[str, Any] | None:
        posted.wait(10)  # held until the message has gone without it
        return bot.svc.robot.for_agent(session, msg)

    bot.svc.im.companion = slow
    bot.svc.presence.connect("ca", ALICE)
    bot.svc.routing.agent_connected(ALICE)
    bot.frame("cv", action="request_agent")
    bot.say("can I pay by alipay?")
    to_agent = [f for f in bot.sender.frames("ca") if f["event"] in ("message", "suggestions")]
    assert [f["event"] for f in to_agent] == ["message", "suggestions"]
    assert "suggestions" not in to_agent[0]
    assert to_agent[1]["seq"] == to_agent[0]["message"]["seq"]
    assert to_agent[1]["suggestions"][0]["faq_id"] == "payment-methods"


def test_a_failing_suggestion_never_fails_the_message(bot: Bot) -> None:
    def broken(session: Session, msg: Message) -> dict[str, Any] | None:
        raise RuntimeError("search is down")

    bot.svc.im.companion = broken
    bot.svc.presence.connect("ca", ALICE)
    bot.svc.routing.agent_connected(ALICE)
    bot.frame("cv", action="request_agent")
    bot.say("can I pay by alipay?")
    (message,) = bot.sender.frames("ca", "message")
    assert "suggestions" not in message and message["message"]["content"]["text"] == "can I pay by alipay?"
    assert not bot.sender.frames("ca", "suggestions") and not bot.sender.frames("cv", "error")


def test_suggestions_are_for_the_sessions_agent_only(bot: Bot) -> None:
    bot.svc.presence.connect("cb", Identity("bob", "agent"))
    session = bot.session()
    bot.frame("cb", action="suggest", session_id=session.session_id, text="refund")
    assert bot.sender.frames("cb", "error")[-1]["code"] == "forbidden"
    bot.frame("cv", action="suggest", session_id=session.session_id, text="refund")
    assert bot.sender.frames("cv", "error")[-1]["code"] == "forbidden"


@pytest.mark.parametrize(("text", "keywords", "expected"), [
    ("talk to an agent", ("agent",), True),
    ("my agentic AI order", ("agent",), False),  # a whole word only
    ("Agent!", ("agent",), True),
    ("我要转人工", ("转人工",), True),
    ("", ("agent",), False),
])
def test_handoff_keywords(text: str, keywords: tuple[str, ...], expected: bool) -> None:
    assert wants_person(text, keywords) is expected


def test_language_of() -> None:
    assert (language_of("退货"), language_of("refund 退货"), language_of("refund")) == ("zh", "zh", "en")


@pytest.mark.parametrize(("text", "kind"), [("Hello!", "greeting"), ("hi there", "greeting"), ("你好", "greeting"),
                                            ("在吗？", "greeting"), ("thanks a lot", "thanks"), ("谢谢", "thanks")])
def test_greetings_and_thanks_get_a_friendly_reply_and_are_no_miss(bot: Bot, text: str, kind: str) -> None:
    bot.settings[0] = dataclasses.replace(bot.settings[0], misses_before_handoff=1)
    bot.say(text)
    (reply,) = bot.robot()
    assert reply["content"]["small_talk"] == kind
    assert bot.session().status == sm.BOT  # one miss would have handed off


def test_a_greeting_inside_a_question_is_a_question(bot: Bot) -> None:
    bot.say("hello, how long does delivery take?")
    (reply,) = bot.robot()
    assert reply["content"].get("faq_id") == "shipping-time"

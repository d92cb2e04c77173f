"""The robot speaks the visitor's language: its greeting, suggested questions and phrases follow the session's
``language`` (zh-CN for any Chinese tag, English otherwise), from the shop's per-language settings or, where the
shop wrote none, from the catalogues. A small fake stands in for the matcher: only the words are under test."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from typing import Any

import pytest

from chalicelib.auth.identity import Identity
from chalicelib.edge.frames import handle_frame
from chalicelib.faq.matcher import Decision
from chalicelib.faq.model import Faq, Hit, RobotSettings
from chalicelib.faq.robot import RobotService
from chalicelib.wiring import Services, build
from tests.conftest import RecordingSender, RecordingTimer, routing_config

FAQS = {f.faq_id: f for f in (
    Faq("returns", "How do I return an item?", "Within 7 days of delivery."),
    Faq("zh-returns", "如何退货？", "签收后7天内可申请无理由退货。", language="zh"),
)}


class UnsureMatcher:
    """Never sure: offers ``offered`` (maybe nothing), so the robot says its miss or nothing phrase."""

    def __init__(self) -> None:
        self.offered: list[Hit] = [Hit("zh-returns", 0.3, "如何退货？")]

    def decide(self, text: str, threshold: float, **_: Any) -> Decision:
        return Decision(answer=None, suggestions=list(self.offered), confidence=0.3)


@dataclasses.dataclass
class Chat:
    svc: Services
    sender: RecordingSender
    settings: list[RobotSettings]
    matcher: UnsureMatcher

    def visitor(self, n: int, language: str | None) -> str:
        """A visitor of ``language`` connected as ``c<n>``."""
        who = Identity(user_id=f"v_{n}", role="visitor", name=f"V{n}", channel="web", language=language)
        self.svc.sessions.current_or_new(who, self.svc.presence.connect(f"c{n}", who))
        return f"c{n}"

    def frame(self, conn: str, **frame: Any) -> None:
        handle_frame(self.svc, conn, json.dumps(frame))

    def say(self, conn: str, kind: str = "text", **content: Any) -> dict[str, Any]:
        """Send a message to the robot; its reply's content."""
        welcome = self.welcome(conn)
        self.frame(conn, action="send", session_id=welcome["session"]["session_id"],
                   client_msg_id=f"m{len(self.sender.frames(conn, 'delivered'))}", type=kind, content=content)
        replies = [f["message"] for f in self.sender.frames(conn, "message") if f["message"]["sender_role"] == "robot"]
        return dict(replies[-1]["content"])

    def welcome(self, conn: str) -> dict[str, Any]:
        self.frame(conn, action="hello")
        return self.sender.frames(conn, "welcome")[-1]


@pytest.fixture
def chat(aws: None, sender: RecordingSender, timer: RecordingTimer) -> Chat:
    config = routing_config()
    svc = build(sender, timer, config=lambda: config)
    settings = [RobotSettings(suggested_questions={"en": ("returns",), "zh-CN": ("zh-returns",)},
                              misses_before_handoff=0)]
    matcher = UnsureMatcher()

    def lookup(ids: Sequence[str]) -> dict[str, Faq]:
        return {i: FAQS[i] for i in ids if i in FAQS}

    robot = RobotService(svc.presence, svc.im, svc.sessions, lambda: matcher,  # type: ignore[arg-type,return-value]
                         lambda: settings[0], lookup, svc.routing.request_agent)
    return Chat(dataclasses.replace(svc, robot=robot), sender, settings, matcher)


@pytest.mark.parametrize("language", ["zh-CN", "zh", "zh-Hans-CN"])
def test_a_chinese_visitor_is_greeted_in_chinese_with_the_chinese_questions(chat: Chat, language: str) -> None:
    robot = chat.welcome(chat.visitor(1, language))["robot"]
    assert robot == {"greeting": "您好！我是本店的智能助手，有什么问题都可以问我，也可以点击\u201c转人工\u201d。",
                     "suggested_questions": [{"faq_id": "zh-returns", "question": "如何退货？"}]}


@pytest.mark.parametrize("language", ["en-US", "fr", None])
def test_everyone_else_is_greeted_in_english(chat: Chat, language: str | None) -> None:
    robot = chat.welcome(chat.visitor(1, language))["robot"]
    assert robot == {"greeting": "Hi! I'm the shop's assistant. Ask me anything, or tap \u201cTalk to a person\u201d.",
                     "suggested_questions": [{"faq_id": "returns", "question": "How do I return an item?"}]}


def test_the_robots_phrases_in_chinese(chat: Chat) -> None:
    conn = chat.visitor(1, "zh-CN")
    assert chat.say(conn, text="你好")["text"] == chat.welcome(conn)["robot"]["greeting"]
    assert chat.say(conn, text="谢谢")["text"] == "不客气！还有什么可以帮您的吗？"
    unsure = chat.say(conn, text="这个怎么弄")
    assert unsure["text"] == "抱歉，我不太确定您的意思。您是想问以下问题吗？也可以转人工客服。"
    assert unsure["suggestions"] == [{"faq_id": "zh-returns", "question": "如何退货？"}]
    chat.matcher.offered = []
    assert chat.say(conn, text="嗯嗯")["text"] == "抱歉，这个问题我暂时无法回答。您可以换个说法，或转人工客服。"
    assert chat.say(conn, "image", url="https://shop.example.com/p.jpg")["text"] == (
        "收到您的图片。人工客服可以帮您查看：请点击\u201c转人工\u201d，客服会看到这张图片。")
    assert chat.say(conn, "product", product_id="p1", title="鞋")["text"] == (
        "收到您发送的卡片。人工客服可以帮您查看：请点击\u201c转人工\u201d，客服会看到它。")
    handed = chat.say(conn, text="转人工")
    assert (handed["text"], handed["handoff_reason"]) == ("正在为您转接人工客服，请稍候。", "keyword")


def test_the_robots_phrases_in_english(chat: Chat) -> None:
    conn = chat.visitor(1, "en-GB")
    assert chat.say(conn, text="thanks")["text"] == "You're welcome! Anything else I can help with?"
    assert chat.say(conn, text="what about this")["text"] == (
        "I'm not sure I understood. Did you mean one of these? You can also talk to a person.")
    assert chat.say(conn, text="agent")["text"] == "Let me connect you with a person."


def test_the_shops_own_texts_per_language_and_a_plain_string_for_everyone(chat: Chat) -> None:
    chat.settings[0] = RobotSettings(greeting={"en": "Welcome!", "zh-CN": "欢迎光临！"},
                                     phrases={"miss": "Hmm?", "thanks": {"en": "Any time!"}},
                                     suggested_questions=("returns",))
    chinese, english = chat.visitor(1, "zh-CN"), chat.visitor(2, "en")
    assert chat.welcome(chinese)["robot"]["greeting"] == "欢迎光临！"
    assert chat.welcome(english)["robot"]["greeting"] == "Welcome!"
    # One list of questions is everyone's.
    assert chat.welcome(chinese)["robot"]["suggested_questions"] == [{"faq_id": "returns",
                                                                      "question": "How do I return an item?"}]
    assert chat.say(chinese, text="这个怎么弄")["text"] == "Hmm?"  # a plain string: every language
    assert chat.say(english, text="what about this")["text"] == "Hmm?"
    assert chat.say(chinese, text="谢谢")["text"] == "Any time!"  # no Chinese given: the English
    # A phrase the shop did not write is the shipped one, in the visitor's language.
    assert chat.say(chinese, text="人工")["text"] == "正在为您转接人工客服，请稍候。"

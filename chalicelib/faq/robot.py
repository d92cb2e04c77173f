"""The robot that answers visitors before a person does, and the SOP assistant that helps agents.

The robot reads each text a visitor sends while the session is with the robot: it answers from the
knowledge base when the matcher is confident, else offers its best suggestions and a person. A
hand-off keyword, the "talk to a person" button or too many misses in a row hand the session to
routing, and from then on the robot stays silent in that session. Visitor messages are stored as
history either way (an agent who takes over reads them). A question about the visitor's own order ("where is
SO-88121?") is answered before any search, with that order (``orders.py``; ``orderintent.py`` tells them apart).

In a human chat, every visitor text gets the agent ranked FAQ suggestions, pushed after the message
itself, each saying which question it matched and how strongly.

Search helps a message, it never fails one: when the search backend cannot answer (``SearchUnavailable``:
down, refusing, or past its short timeout) the robot replies as when it is not sure (a person offered) and
the agent's suggestions are empty; the failure is logged and counted (``SearchFailed``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from pynamodb.exceptions import UpdateError

from chalicelib.auth.identity import Identity
from chalicelib.channel.errors import ImError
from chalicelib.channel.presence import PresenceService
from chalicelib.faq.matcher import DEFAULT_THRESHOLD, Decision, Matcher
from chalicelib.faq.model import Faq, Hit, RobotSettings
from chalicelib.faq.orderintent import recognise
from chalicelib.faq.orders import OrderDesk
from chalicelib.faq.search.base import SearchUnavailable
from chalicelib.faq.synonyms import synonyms_of
from chalicelib.i18n import EN, LANGUAGES, negotiate, pick, t
from chalicelib.im.events import SuggestionsEvent
from chalicelib.im.models import Message, message_sk
from chalicelib.im.schemas import SendFrame, parse_message_id
from chalicelib.im.service import ImService
from chalicelib.learning.service import LearningLog
from chalicelib.platform import observability
from chalicelib.platform.dynamo import is_condition_failed
from chalicelib.platform.observability import logger
from chalicelib.sessions import models as sm
from chalicelib.sessions.models import Session
from chalicelib.sessions.service import SessionService
from chalicelib.settings import SUGGESTION_MIN_SCORE


class RobotError(ImError):
    """A request to the robot or the SOP assistant that it refuses (an ImError code: the same error frame)."""


_T = TypeVar("_T")
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
_LAST_VISITOR_TEXTS = 20

# The robot's own words, as shipped in English: each visitor reads the settings' phrase in its own language
# (RobotSettings.phrase; the catalogues' ``robot.*`` unless the shop wrote its own).
HANDOFF_TEXT = t(EN, "robot.handoff")
NOT_TEXT = t(EN, "robot.not_text")
# A photo or a card is something for a person to look at: acknowledged, and a person offered who will see it.
PHOTO_TEXT = t(EN, "robot.photo")
CARD_TEXT = t(EN, "robot.card")
MISS_TEXT = t(EN, "robot.miss")
NOTHING_TEXT = t(EN, "robot.nothing")
THANKS_TEXT = t(EN, "robot.thanks")
# Small talk the knowledge base has no answer for, and which is no miss either.
_PUNCT = "[\\s!.,~?\uff01\u3002\uff0c\uff1f]*"  # ASCII and full-width punctuation
_GREETING = re.compile(r"^\s*(hi|hello|hey|hiya|good (morning|afternoon|evening)|你好|您好|在吗|在不在|哈喽|嗨)"
                       + _PUNCT + "(there)?" + _PUNCT + "$", re.IGNORECASE)
_THANKS = re.compile(r"^\s*(thanks?( you)?( so much| a lot)?|thx|ty|谢谢(你|您)?|多谢|感谢)" + _PUNCT + "$",
                     re.IGNORECASE)


def language_of(text: str) -> str:
    """``zh`` when the text has Chinese characters, else ``en`` (the knowledge base's languages)."""
    return "zh" if _CJK.search(text) else "en"


def wants_person(text: str, keywords: Sequence[str]) -> bool:
    """Whether ``text`` asks for a person: a keyword as a whole word (English) or anywhere (Chinese)."""
    lowered = text.lower()
    for keyword in keywords:
        word = keyword.lower().strip()
        if not word:
            continue
        if _CJK.search(word):
            if word in lowered:
                return True
        elif re.search(rf"(?<![a-z0-9]){re.escape(word)}(?![a-z0-9])", lowered):
            return True
    return False


def hit_json(hit: Hit, faq: Faq | None) -> dict[str, Any]:
    """A FAQ found for a text, with why: the question it matched and the scores behind it."""
    out: dict[str, Any] = {"faq_id": hit.faq_id, "score": round(hit.score, 4),
                           "why": {"matched": hit.matched, "lexical": round(hit.lexical, 4),
                                   "semantic": None if hit.semantic is None else round(hit.semantic, 4)}}
    if faq is not None:
        out.update(question=faq.question, answer=faq.answer, category=faq.category,
                   product_category=faq.product_category)
    return out


class RobotService:
    def __init__(self, presence: PresenceService, im: ImService, sessions: SessionService,
                 matcher: Callable[[], Matcher], settings: Callable[[], RobotSettings],
                 faqs: Callable[[Sequence[str]], dict[str, Faq]], hand_off: Callable[[Identity], object],
                 min_suggestion_score: float = SUGGESTION_MIN_SCORE, orders: OrderDesk | None = None,
                 learning: LearningLog | None = None) -> None:
        self._presence = presence
        self._im = im  # the robot's messages go through the IM service, as everyone's do
        self._sessions = sessions  # and its marks on a session through the sessions service
        self._matcher = matcher
        self._settings = settings
        self._faqs = faqs
        self._hand_off = hand_off
        self._min_suggestion_score = min_suggestion_score  # agents' suggestions under it are too far off to send
        self._orders = orders  # order self-service; None: every question goes to the FAQ
        self._learning = learning  # what the robot could not answer well, for admins; None: not collected
        # The greeting as built for a settings object, per language: every visitor's hello shows it, and the settings
        # are read again at most every 30 s, so the suggested questions' texts are read that often, not per hello.
        self._greeting: tuple[RobotSettings, dict[str, dict[str, Any]]] | None = None

    # -- visitors' messages while the robot has the session -----------------------------------------

    def receive(self, visitor: Identity, connection_id: str, frame: SendFrame) -> None:
        """A visitor's message in a session no agent has (yet): keep it, and answer if the robot still may."""
        session = self._im.send_to_robot(visitor, connection_id, frame)
        if session is None:
            return  # a resend, answered
        if session.status != sm.BOT or session.robot_off:
            return  # waiting for a person, or handed off: the robot has said its last word here
        self._answer(visitor, session, frame)

    def _answer(self, visitor: Identity, session: Session, frame: SendFrame) -> None:
        settings = self._settings()
        language = session.language
        if frame.kind != "text":
            self._offer_person_for(session, frame.kind, settings)
            return
        text = str(frame.content.get("text", ""))
        if not text.strip():
            self._reply(session, {"text": settings.phrase("not_text", language), "handoff": True})
            return
        if wants_person(text, settings.handoff_keywords):
            self.hand_off(visitor, session, "keyword")
            return
        if _GREETING.match(text):
            self._reply(session, {"text": pick(settings.greeting, language), "small_talk": "greeting"})
            return
        if _THANKS.match(text):
            self._reply(session, {"text": settings.phrase("thanks", language), "small_talk": "thanks"})
            return
        asked = session.robot_order_ask  # an order question waiting for the shop's check (anonymous visitors)
        if self._orders is not None and settings.orders.enabled:
            question = recognise(text, settings.orders.number_prefix)
            completed = (self._orders.follow_up(asked, text, settings.orders)
                         if question is None and asked and visitor.customer_id is None else None)
            if completed is not None:
                question, text = completed
            elif question is not None and asked:
                question = self._orders.continued(asked, question)
            if question is not None:
                # An order question is the order's, not the FAQ's: no search, and no miss either way.
                if session.robot_misses:
                    self._set_misses(session, 0)
                content = self._orders.answer(visitor, question, text, settings, language)
                self._sessions.set_robot_order_ask(session, self._orders.asked(question, content))
                self._reply(session, content)
                return
        if asked:
            self._sessions.set_robot_order_ask(session, None)
        threshold = DEFAULT_THRESHOLD if settings.threshold is None else settings.threshold
        if self._learning is not None and self._learning.is_off_topic(text):
            # An admin marked this very question off-topic: declined without a search (and not collected again).
            decision: Decision | None = Decision(answer=None, off_topic=True)
        else:
            off_topic = self._learning.off_topic_texts() if self._learning is not None else []
            decision = self._search("answer", lambda m: m.decide(
                text, threshold, k=settings.suggestions, language=language_of(text),
                synonyms=synonyms_of(settings.synonyms), off_topic=off_topic))
        if decision is None:
            decision = Decision(answer=None)  # no search: not sure, so a person is offered (and it is a miss)
        if decision.answer is not None:
            faq = self._faqs([decision.answer.faq_id]).get(decision.answer.faq_id)
            if faq is not None:
                self._set_misses(session, 0)
                observability.robot_answered()
                self._reply(session, {"text": faq.answer, "faq_id": faq.faq_id, "question": faq.question,
                                      "confidence": round(decision.confidence, 4)})
                return
        if self._learning is not None and not decision.off_topic:  # an off-topic one is labelled already
            self._learning.record("declined", text)
        misses = self._set_misses(session, int(session.robot_misses or 0) + 1)
        if 0 < settings.misses_before_handoff <= misses:
            self.hand_off(visitor, session, "misses")
            return
        if decision.off_topic:  # marked off-topic, or near one: no FAQ to suggest
            self._reply(session, {"text": settings.phrase("nothing", language), "suggestions": [], "handoff": True,
                                  "off_topic": True})
            return
        found = self._faqs([h.faq_id for h in decision.suggestions])
        offered = [{"faq_id": h.faq_id, "question": found[h.faq_id].question}
                   for h in decision.suggestions if h.faq_id in found]
        observability.robot_suggested()
        self._reply(session, {"text": settings.phrase("miss" if offered else "nothing", language),
                              "suggestions": offered, "handoff": True, "confidence": round(decision.confidence, 4)})

    def _offer_person_for(self, session: Session, kind: str, settings: RobotSettings) -> None:
        """A photo or a card: the robot cannot read it, a person can. Acknowledged with the hand-off button (no miss
        counted); the message stays in the session's history for the agent who takes over."""
        self._reply(session, {"text": settings.phrase("photo" if kind == "image" else "card", session.language),
                              "handoff": True,
                              "received": kind})

    def hand_off(self, visitor: Identity, session: Session, reason: str) -> None:
        """The robot stops for good in this session, says so, and routing takes over."""
        self.silence(session)
        observability.robot_handed_off()
        if reason != "button":
            self._reply(session, {"text": self._settings().phrase("handoff", session.language),
                                  "handoff_reason": reason})
        self._hand_off(visitor)

    def silence(self, session: Session) -> None:
        """Mark the session handed off: the robot never answers in it again. A hand-off right after an answer
        (the visitor's next turn) says the answer did not help: its question is collected for the learning loop."""
        self._sessions.robot_off(session)
        if self._learning is not None:
            answered = self._answer_before_handoff(session)
            if answered is not None:
                self._learning.record("handoff", *answered)

    @staticmethod
    def _answer_before_handoff(session: Session) -> tuple[str, str] | None:
        """The question and FAQ of the robot's latest message if it was an answer given in the visitor's previous
        turn (at most one visitor message since: the "talk to a person" itself). One Query of 4 items, on hand-off
        only."""
        answer: str | None = None
        visitor_since = 0
        for msg in Message.query(session.session_id, Message.sk.startswith("m#"), scan_index_forward=False,
                                 limit=4):
            content = msg.content.as_dict() if msg.content is not None else {}
            if answer is None:
                if msg.sender_id == session.visitor_id:
                    visitor_since += 1
                    if visitor_since > 1:
                        return None
                    continue
                if not content.get("faq_id"):
                    return None  # the robot's last word was no answer (a miss, a greeting...)
                answer = str(content["faq_id"])
            elif msg.sender_id == session.visitor_id and msg.kind == "text":
                return str(content.get("text", "")), answer
            else:
                return None
        return None

    def feedback(self, visitor: Identity, session_id: str, message_id: str, helpful: bool) -> None:
        """The visitor's "helpful" / "not helpful" on one of the robot's answers to them: kept on the answer (once:
        a second one is a conflict), and a "not helpful" collects the question it answered. A read and a
        conditional write; a "not helpful" adds a read (the question) and the learning log's write."""
        ref = parse_message_id(message_id)
        if ref.session_id != session_id:
            raise RobotError("invalid_frame", "'message_id' is not a message of this session", field="message_id")
        try:
            msg = Message.get(session_id, message_sk(ref.seq))
        except Message.DoesNotExist:
            raise RobotError("unknown_message", "no such message", field="message_id") from None
        if msg.recipient_id != visitor.user_id:
            raise RobotError("forbidden", "only the visitor the robot answered rates its answer",
                             session_id=session_id)
        content = msg.content.as_dict() if msg.content is not None else {}
        if msg.sender_role != "robot" or not content.get("faq_id"):
            raise RobotError("invalid_frame", "only the robot's answers take feedback", field="message_id")
        try:
            msg.update(actions=[Message.feedback.set("helpful" if helpful else "not_helpful")],
                       condition=Message.feedback.does_not_exist())
        except UpdateError as e:
            if is_condition_failed(e):
                raise RobotError("conflict", "this answer was rated already", field="message_id") from None
            raise
        if helpful:
            observability.robot_feedback(True)
            return
        observability.robot_feedback(False)
        if self._learning is not None:
            question = self._question_before(session_id, ref.seq, visitor.user_id)
            if question is not None:
                self._learning.record("not_helpful", question, str(content["faq_id"]))

    @staticmethod
    def _question_before(session_id: str, seq: int, visitor_id: str) -> str | None:
        try:
            before = Message.get(session_id, message_sk(seq - 1))
        except Message.DoesNotExist:
            return None
        if before.sender_id != visitor_id or before.kind != "text" or before.content is None:
            return None
        return str(before.content.as_dict().get("text", "")) or None

    def greeting(self, language: str | None = None) -> dict[str, Any]:
        """What a visitor sees first: the greeting and the suggested questions, in the visitor's language."""
        settings = self._settings()
        cached = self._greeting
        if cached is None or cached[0] is not settings:
            found = self._faqs(list(settings.all_questions()))  # every language's at once: one read per settings
            cached = self._greeting = (settings, {
                lang: {"greeting": pick(settings.greeting, lang),
                       "suggested_questions": [{"faq_id": i, "question": found[i].question}
                                               for i in settings.questions_for(lang) if i in found]}
                for lang in LANGUAGES})
        return cached[1][negotiate(language)]

    def _set_misses(self, session: Session, misses: int) -> int:
        self._sessions.set_robot_misses(session, misses)
        return misses

    def _reply(self, session: Session, content: dict[str, Any]) -> None:
        self._im.send_from_robot(session, content)

    def _search(self, purpose: str, run: Callable[[Matcher], _T]) -> _T | None:
        """``run`` over the matcher, or None when the search backend cannot answer (logged and counted).
        Only the backend's own failure is caught: any other error is a bug and goes on up."""
        try:
            return run(self._matcher())
        except SearchUnavailable as e:
            logger.warning("FAQ search failed; going on without it",
                           extra={"purpose": purpose, "error": repr(e), "status": e.status})
            observability.search_failed()
            return None

    # -- the SOP assistant ------------------------------------------------------------------------

    def suggestions(self, session_id: str, text: str, seq: int | None = None) -> dict[str, Any]:
        """The ``suggestions`` frame for ``text``: ranked FAQs, each with why it matched (none when the search
        backend cannot answer)."""
        settings = self._settings()
        ranked = self._search("suggestions", lambda m: m.rank(text, k=settings.suggestions,
                                                               language=language_of(text),
                                                               synonyms=synonyms_of(settings.synonyms)))
        hits = [h for h in ranked or [] if h.score > 0 and h.score >= self._min_suggestion_score]
        found = self._faqs([h.faq_id for h in hits])
        return SuggestionsEvent.model_validate({
            "session_id": session_id, "seq": seq, "query": text[:500],
            "suggestions": [hit_json(h, found.get(h.faq_id)) for h in hits if h.faq_id in found]}).frame()

    def for_agent(self, session: Session, msg: Message) -> dict[str, Any] | None:
        """What goes with a visitor's text to the agent (ImService.companion): suggestions for it."""
        if msg.sender_id != session.visitor_id or msg.kind != "text" or not session.agent_id:
            return None
        text = str((msg.content.as_dict() if msg.content is not None else {}).get("text", ""))
        return self.suggestions(session.session_id, text, int(msg.seq or 0)) if text.strip() else None

    def suggest_on_request(self, agent: Identity, session_id: str, text: str | None) -> None:
        """The agent asks for suggestions: for ``text``, or for the visitor's latest text message."""
        session = self._im.session_of(agent, session_id)
        if session.agent_id != agent.user_id:
            raise RobotError("forbidden", "only the session's agent gets suggestions for it", session_id=session_id)
        if text is None:
            text = self._last_visitor_text(session)
            if text is None:
                raise RobotError("not_found", "the visitor has sent no text yet; give 'text'", session_id=session_id)
        self._presence.push(agent.user_id, self.suggestions(session_id, text))

    @staticmethod
    def _last_visitor_text(session: Session) -> str | None:
        for msg in Message.query(session.session_id, Message.sk.startswith("m#"), scan_index_forward=False,
                                 limit=_LAST_VISITOR_TEXTS):
            if msg.sender_id == session.visitor_id and msg.kind == "text" and msg.content is not None:
                text = str(msg.content.as_dict().get("text", ""))
                if text.strip():
                    return text
        return None

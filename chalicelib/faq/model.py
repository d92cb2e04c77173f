"""The knowledge base as the robot, the SOP assistant and the search backends see it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from chalicelib.i18n import EN, LocalText, negotiate, pick, shipped
from chalicelib.i18n import LANGUAGES as TEXT_LANGUAGES

LANGUAGES = ("en", "zh")


@dataclass(frozen=True)
class Faq:
    """One FAQ: a standard question, its paraphrases (similar questions) and the answer."""

    faq_id: str
    question: str
    answer: str
    similar: tuple[str, ...] = ()
    category: str | None = None  # shipping, returns, payment...
    product_category: str | None = None  # shoes, cosmetics, 3c...
    tags: tuple[str, ...] = ()
    enabled: bool = True
    language: str = "en"

    def texts(self) -> tuple[str, ...]:
        """Everything a query is matched against: the question first, then its similar questions."""
        return (self.question, *self.similar)


@dataclass(frozen=True)
class Hit:
    """A FAQ found for a query, with why it matched."""

    faq_id: str
    score: float  # what ranks hits (the matcher's blended score, 0..1; a backend's raw score before that)
    matched: str  # the question or similar question that matched best
    lexical: float = 0.0  # the backend's lexical (BM25) score of ``matched``
    semantic: float | None = None  # cosine similarity of the query and the best text, when embeddings are on


# What the robot says besides the FAQs' answers: each a shop text (one for all languages, or one per language),
# shipped in every language of the catalogues (chalicelib/i18n) as ``robot.<name>``.
PHRASES = ("handoff", "not_text", "photo", "card", "miss", "nothing", "thanks",
           # the order flow's (chalicelib/faq/orders.py); {placeholders} are filled from the order
           "order_found", "order_tracking", "order_eta", "order_pick", "order_none", "order_not_found",
           "order_sign_in", "order_ask", "order_limited", "order_unavailable", "order_action_unavailable")
DEFAULT_GREETING: LocalText = shipped("robot.greeting")


def default_phrases() -> dict[str, LocalText]:
    """The shipped phrases, in every language."""
    return {name: shipped(f"robot.{name}") for name in PHRASES}


DEFAULT_HANDOFF_KEYWORDS = ("agent", "human", "real person", "representative", "\u4eba\u5de5", "\u8f6c\u4eba\u5de5",
                            "\u4eba\u5de5\u5ba2\u670d")


# What a visitor without a shop-signed identity gives with an order number to prove it is theirs: a field of the
# order's ``checks`` as the shop's system returns it (docs/configuration.md, "Order self-service").
ORDER_CHECKS = ("phone_last4", "postcode")
# What the robot can offer to do with an order, and the intent each answers.
ORDER_ACTIONS = ("cancel", "return", "invoice", "track")


@dataclass(frozen=True)
class OrderAction:
    """A next step offered under an order card: a link to the shop's own page (``url``, where ``{order_id}`` is
    replaced) or a person (``handoff``), for orders in ``statuses`` (empty: any)."""

    url: str | None = None
    handoff: bool = False
    label: LocalText | None = None  # None: the catalogue's ``robot.order_action.<name>``
    statuses: tuple[str, ...] = ()

    def offered_for(self, status: str | None) -> bool:
        return not self.statuses or status in self.statuses


def default_order_actions() -> dict[str, OrderAction]:
    """Every shop can at least be asked: cancel before dispatch, return after delivery, an invoice once paid,
    each with a person until the shop links its own pages."""
    return {"cancel": OrderAction(handoff=True, statuses=("pending_payment", "processing")),
            "return": OrderAction(handoff=True, statuses=("delivered",)),
            "invoice": OrderAction(handoff=True, statuses=("processing", "shipped", "delivered"))}


@dataclass(frozen=True)
class OrderSettings:
    """Order self-service (chalicelib/faq/orders.py): on, how order numbers look, what an anonymous visitor gives
    with one (``check``; None: it must sign in), how many such tries a visitor or an order number gets in 15
    minutes, how many recent orders a signed-in visitor is offered, and the actions offered."""

    enabled: bool = True
    number_prefix: str = "SO-"
    check: str | None = None
    check_attempts: int = 5
    recent: int = 5
    actions: Mapping[str, OrderAction] = field(default_factory=default_order_actions)


@dataclass(frozen=True)
class RobotSettings:
    """What admins tune about the robot (robot-management API)."""

    greeting: LocalText = field(default_factory=lambda: shipped("robot.greeting"))
    # Confidence the robot needs to answer on its own; None means the matcher's shipped threshold.
    threshold: float | None = None
    handoff_keywords: tuple[str, ...] = DEFAULT_HANDOFF_KEYWORDS
    misses_before_handoff: int = 2  # unanswered questions in a row before a person takes over; 0: never
    suggestions: int = 3  # how many FAQs to offer when not answering
    # FAQ ids offered with the greeting: one list for every visitor, or one per language ({"en": (...), ...}).
    suggested_questions: tuple[str, ...] | Mapping[str, tuple[str, ...]] = ()
    # Terms that mean the same in this shop's questions, in groups (chalicelib/faq/synonyms.py).
    synonyms: tuple[tuple[str, ...], ...] = ()
    phrases: Mapping[str, LocalText] = field(default_factory=default_phrases)
    orders: OrderSettings = field(default_factory=OrderSettings)

    def phrase(self, name: str, language: str | None) -> str:
        """One of :data:`PHRASES` in the visitor's language."""
        return pick(self.phrases.get(name) or shipped(f"robot.{name}"), language)

    def questions_for(self, language: str | None) -> tuple[str, ...]:
        """The suggested questions a visitor of ``language`` is offered: its language's list, else English's,
        else the other's."""
        if not isinstance(self.suggested_questions, Mapping):
            return self.suggested_questions
        for choice in (negotiate(language), EN, *TEXT_LANGUAGES):
            if choice in self.suggested_questions:
                return self.suggested_questions[choice]
        return ()

    def all_questions(self) -> tuple[str, ...]:
        """Every suggested question, of every language (each once)."""
        lists = (self.suggested_questions.values() if isinstance(self.suggested_questions, Mapping)
                 else [self.suggested_questions])
        return tuple(dict.fromkeys(faq_id for ids in lists for faq_id in ids))


def texts_in_turn(counts: Sequence[int], limit: int) -> list[tuple[int, int]]:
    """(FAQ, text) positions of at most ``limit`` texts of FAQs with ``counts`` texts each: every text when they
    fit, else taken in turn (every FAQ's first text, then every second text...), so that every FAQ keeps one as
    long as ``limit`` allows."""
    if sum(counts) <= limit:
        return [(i, j) for i, n in enumerate(counts) for j in range(n)]
    picked: list[tuple[int, int]] = []
    depth = 0
    while len(picked) < limit:
        picked.extend((i, depth) for i, n in enumerate(counts) if depth < n)
        depth += 1
    return picked[:limit]

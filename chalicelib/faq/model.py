"""The knowledge base as the robot, the SOP assistant and the search backends see it."""

from __future__ import annotations

from dataclasses import dataclass

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


DEFAULT_GREETING = "Hi! I'm the shop's assistant. Ask me anything, or tap \u201cTalk to a person\u201d."
DEFAULT_HANDOFF_KEYWORDS = ("agent", "human", "real person", "representative", "\u4eba\u5de5", "\u8f6c\u4eba\u5de5",
                            "\u4eba\u5de5\u5ba2\u670d")


@dataclass(frozen=True)
class RobotSettings:
    """What admins tune about the robot (robot-management API)."""

    greeting: str = DEFAULT_GREETING
    # Confidence the robot needs to answer on its own; None means the matcher's shipped threshold.
    threshold: float | None = None
    handoff_keywords: tuple[str, ...] = DEFAULT_HANDOFF_KEYWORDS
    misses_before_handoff: int = 2  # unanswered questions in a row before a person takes over; 0: never
    suggestions: int = 3  # how many FAQs to offer when not answering
    suggested_questions: tuple[str, ...] = ()  # FAQ ids offered with the greeting
    # Terms that mean the same in this shop's questions, in groups (chalicelib/faq/synonyms.py).
    synonyms: tuple[tuple[str, ...], ...] = ()

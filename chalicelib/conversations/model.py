"""What the conversation index holds and how it is asked: one document per closed session, the filters of a
search, the caller's scope, and the highlighted snippet of a hit. Pure: no I/O."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from chalicelib.auth.identity import shop_customer_id
from chalicelib.platform.textsearch import CJK, latin_terms

Side = Literal["visitor", "agent"]
# Order numbers as shops write them: letters, an optional dash, digits (SO-88121, SO88121, JD20261111001).
ORDER_ID = re.compile(r"(?<![A-Za-z0-9])([A-Za-z]{1,6}-?[0-9]{4,20})(?![A-Za-z0-9])")
# What one side of a transcript contributes to the document at most: a day-long chat must not make a document
# of megabytes (OpenSearch indexes, stores and replicates every byte). The start of a chat says what it was about.
MAX_SIDE_CHARS = 32_000
PREVIEW_CHARS = 160  # the snippet of a hit found without text (by customer, order or filters alone)
SNIPPET_BEFORE = 40  # characters of context before the first match in a snippet
WORD = re.compile(r"[^\W_]+")  # a run of letters or digits: what the English analyzer makes one token of
# Message kinds whose text is not a person's words in this chat: the robot repeats FAQ answers in every chat it
# answers, and internal notes are staff-only (never shown as the visitor's or the agent's words).
SKIPPED_KINDS = frozenset({"robot", "note"})


def order_id(raw: str) -> str:
    """An order number as the index keeps it: trimmed, upper case."""
    return raw.strip().upper()


@dataclass(frozen=True)
class Line:
    side: Side
    text: str


@dataclass(frozen=True)
class Conversation:
    """A closed session as the index holds it: who, where, when, how it ended, and what people wrote."""

    session_id: str
    visitor_id: str
    customer_id: str | None
    visitor_name: str | None
    agent_id: str | None
    agent_name: str | None
    group_id: str | None
    channel: str | None
    language: str | None
    created_at: int
    closed_at: int | None
    close_reason: str | None
    rating: int | None
    wrapup: str | None
    order_ids: tuple[str, ...] = ()
    lines: tuple[Line, ...] = ()

    def texts(self, side: Side) -> list[str]:
        return [line.text for line in self.lines if line.side == side]

    def preview(self) -> Snippet | None:
        """The start of the visitor's first line (else the agent's): a hit's snippet when no text was searched."""
        first = next((line for line in self.lines if line.side == "visitor"), None) or next(iter(self.lines), None)
        if first is None:
            return None
        return Snippet(first.side, snippet_of(first.text, []))

    def source(self) -> dict[str, Any]:
        """The OpenSearch document (its ``_id`` is the session id: indexing it again replaces it)."""
        return {"session_id": self.session_id, "visitor_id": self.visitor_id, "customer_id": self.customer_id,
                "visitor_name": self.visitor_name, "agent_id": self.agent_id, "agent_name": self.agent_name,
                "group_id": self.group_id, "channel": self.channel, "language": self.language,
                "created_at": self.created_at, "closed_at": self.closed_at, "close_reason": self.close_reason,
                "rating": self.rating, "wrapup": self.wrapup, "order_ids": list(self.order_ids),
                "visitor_text": self.texts("visitor"), "agent_text": self.texts("agent"),
                "preview": preview.json() if (preview := self.preview()) is not None else None}

    def summary(self) -> dict[str, Any]:
        """What a search hit shows of the conversation (docs/openapi.yaml, ConversationHit)."""
        return {"session_id": self.session_id,
                "customer": {"visitor_id": self.visitor_id, "customer_id": self.customer_id,
                             "name": self.visitor_name},
                "agent_id": self.agent_id, "agent_name": self.agent_name, "group_id": self.group_id,
                "channel": self.channel, "language": self.language, "created_at": self.created_at,
                "closed_at": self.closed_at, "close_reason": self.close_reason, "rating": self.rating,
                "wrapup": self.wrapup, "order_ids": list(self.order_ids)}


def summary_of_source(source: Mapping[str, Any]) -> dict[str, Any]:
    """:meth:`Conversation.summary` of a stored document (its texts left out)."""
    return Conversation(
        session_id=source["session_id"], visitor_id=source["visitor_id"], customer_id=source.get("customer_id"),
        visitor_name=source.get("visitor_name"), agent_id=source.get("agent_id"),
        agent_name=source.get("agent_name"), group_id=source.get("group_id"), channel=source.get("channel"),
        language=source.get("language"), created_at=int(source["created_at"]),
        closed_at=source.get("closed_at"), close_reason=source.get("close_reason"), rating=source.get("rating"),
        wrapup=source.get("wrapup"), order_ids=tuple(source.get("order_ids") or ())).summary()


@dataclass(frozen=True)
class Query:
    """A search's text and filters; None leaves a filter out. ``from_ms`` (inclusive) and ``to_ms`` (exclusive)
    bound when the chat started."""

    text: str | None = None
    customer: str | None = None
    order: str | None = None
    from_ms: int | None = None
    to_ms: int | None = None
    group: str | None = None
    agent: str | None = None
    rating: int | None = None
    wrapup: str | None = None


@dataclass(frozen=True)
class Scope:
    """The conversations a caller may find: all of them (``groups`` None: admins), else those of ``groups``
    and, for ``agent_id``, those it served itself wherever they were."""

    groups: frozenset[str] | None
    agent_id: str | None = None

    def admits(self, group_id: str | None, agent_id: str | None) -> bool:
        if self.groups is None:
            return True
        return group_id in self.groups or (self.agent_id is not None and agent_id == self.agent_id)


@dataclass(frozen=True)
class Part:
    text: str
    match: bool = False


@dataclass(frozen=True)
class Snippet:
    side: Side
    parts: tuple[Part, ...]

    def json(self) -> dict[str, Any]:
        return {"side": self.side, "parts": [{"text": p.text, "match": p.match} for p in self.parts]}


@dataclass(frozen=True)
class Found:
    """One hit: the conversation's summary, its score (None when sorted by date alone) and its snippet."""

    summary: dict[str, Any]
    score: float | None
    snippet: Snippet | None = None


def conversation(session: Any, messages: Iterable[Any]) -> Conversation:
    """The document of a closed ``session`` (a sessions.models.Session) and its ``messages`` (im.models.Message
    items of the history: delivered or stored, in sequence order). Text, product and order cards of the visitor
    and of staff are kept; the robot's answers and internal notes are not (``SKIPPED_KINDS``)."""
    lines: list[Line] = []
    used = {"visitor": 0, "agent": 0}
    orders: list[str] = []
    for msg in messages:
        kind = msg.kind or "text"
        if kind in SKIPPED_KINDS:
            continue
        content: dict[str, Any] = msg.content.as_dict() if msg.content is not None else {}
        side: Side = "visitor" if msg.sender_role == "visitor" else "agent"
        if kind == "order" and isinstance(content.get("order_id"), str):
            orders.append(order_id(content["order_id"]))
        text = content.get("text") if kind == "text" else content.get("title") if kind == "product" else None
        if not isinstance(text, str) or not text.strip():
            continue
        orders.extend(order_id(m) for m in ORDER_ID.findall(text))
        if used[side] + len(text) > MAX_SIDE_CHARS:
            continue
        used[side] += len(text)
        lines.append(Line(side, text))
    return Conversation(
        session_id=session.session_id, visitor_id=session.visitor_id,
        customer_id=shop_customer_id(session.visitor_id), visitor_name=session.visitor_name,
        agent_id=session.agent_id, agent_name=session.agent_name, group_id=session.group_id,
        channel=session.channel, language=session.language, created_at=int(session.created_at),
        closed_at=int(session.closed_at) if session.closed_at is not None else None,
        close_reason=session.close_reason, rating=int(session.rating) if session.rating is not None else None,
        wrapup=session.wrapup, order_ids=tuple(dict.fromkeys(orders)), lines=tuple(lines))


# -- highlighting ------------------------------------------------------------------------------------------

def _spans(text: str, query: str) -> list[tuple[int, int]]:
    """Where ``query``'s words occur in ``text``: each CJK run of the query as a whole (else its bigrams, as the
    index matched them), each Latin word by its stem (``returned`` for ``return``)."""
    spans: list[tuple[int, int]] = []
    for run in CJK.findall(query):
        pieces = [run] if run in text else [run[i:i + 2] for i in range(len(run) - 1)] or [run]
        for piece in pieces:
            spans.extend((m.start(), m.end()) for m in re.finditer(re.escape(piece), text))
    stems = set(latin_terms(query))
    if stems:
        blanked = CJK.sub(lambda run: " " * len(run.group()), text)  # same offsets, CJK out of the words
        for m in WORD.finditer(blanked):
            word = m.group().lower()
            # Cheap test first: a stem is nearly always a prefix of its words ("deliveri" is not: ask the stemmer).
            if any(word.startswith(s[:3]) for s in stems) and stems.intersection(latin_terms(word)):
                spans.append((m.start(), m.end()))
    spans.sort()
    merged: list[tuple[int, int]] = []
    for start, end in spans:
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def snippet_of(text: str, spans: list[tuple[int, int]], width: int = PREVIEW_CHARS) -> tuple[Part, ...]:
    """The part of ``text`` around its first span, about ``width`` characters, with the spans inside marked."""
    begin = max(0, spans[0][0] - SNIPPET_BEFORE) if spans else 0
    end = min(len(text), begin + width)
    parts: list[Part] = []
    at = begin
    if begin > 0:
        parts.append(Part("…"))
    for start, stop in spans:
        if stop <= at or start >= end:
            continue
        start, stop = max(start, at), min(stop, end)
        if start > at:
            parts.append(Part(text[at:start]))
        parts.append(Part(text[start:stop], True))
        at = stop
    if at < end:
        parts.append(Part(text[at:end]))
    if end < len(text):
        parts.append(Part("…"))
    return tuple(parts)


def highlight(lines: Iterable[Line], query: str) -> Snippet | None:
    """The snippet of the first line that holds one of ``query``'s words, the visitor's lines before the agent's
    (as the OpenSearch backend picks), its matches marked; None if none does."""
    ordered = sorted(lines, key=lambda line: line.side != "visitor")  # stable: each side stays in chat order
    for line in ordered:
        spans = _spans(line.text, query)
        if spans:
            return Snippet(line.side, snippet_of(line.text, spans))
    return None


def marked(fragment: str, pre: str, post: str) -> tuple[Part, ...]:
    """A highlighter's fragment with ``pre``/``post`` around its matches, as parts."""
    parts: list[Part] = []
    for i, piece in enumerate(fragment.split(pre)):
        if i == 0:
            if piece:
                parts.append(Part(piece))
            continue
        hit, _, rest = piece.partition(post)
        if hit:
            parts.append(Part(hit, True))
        if rest:
            parts.append(Part(rest))
    return tuple(parts)

"""A conversation's document and snippet, without I/O: order numbers, the per-side cap, the marks."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from chalicelib.conversations.model import MAX_SIDE_CHARS, ORDER_ID, Line, Part, conversation, highlight


class Content(dict[str, Any]):
    def as_dict(self) -> dict[str, Any]:
        return dict(self)


def msg(role: str, kind: str, **content: Any) -> SimpleNamespace:
    return SimpleNamespace(sender_role=role, kind=kind, content=Content(content))


SESSION = SimpleNamespace(session_id="s_" + "1" * 20, visitor_id="v_1", visitor_name=None, agent_id="alice",
                          agent_name="Alice", group_id="general", channel="app", language="en", created_at=5,
                          closed_at=9, close_reason="resolved", rating=None, wrapup=None)


def test_order_numbers_come_from_texts_and_cards_once_each_in_upper_case() -> None:
    c = conversation(SESSION, [msg("visitor", "text", text="Order so-88121 and SO88122, not 2026 or SKU"),
                               msg("visitor", "order", order_id="SO-88121"),
                               msg("agent", "order", order_id="jd20261111001")])
    assert c.order_ids == ("SO-88121", "SO88122", "JD20261111001")
    assert ORDER_ID.findall("x1234 ab-12") == ["x1234"]


def test_each_side_is_capped_and_the_start_kept() -> None:
    long = "word " * 1000
    c = conversation(SESSION, [msg("visitor", "text", text=long)] * 10 + [msg("agent", "text", text="hi")])
    assert sum(len(t) for t in c.texts("visitor")) <= MAX_SIDE_CHARS
    assert c.texts("agent") == ["hi"]


def test_a_snippet_is_cut_around_the_first_match_with_every_match_inside_marked() -> None:
    text = "x" * 100 + " the parcels were returned, 已退货 " + "y" * 300
    snippet = highlight([Line("agent", "the parcel"), Line("visitor", text)], "return parcel 退货")
    assert snippet is not None and snippet.side == "visitor"
    assert snippet.parts[0] == Part("…") and snippet.parts[-1] == Part("…")
    assert [p.text for p in snippet.parts if p.match] == ["parcels", "returned", "退货"]
    assert highlight([Line("visitor", "no match")], "parcel") is None


def test_a_stream_record_needs_indexing_when_the_session_closes_or_its_searchable_fields_change() -> None:
    from chalicelib.conversations.service import needs_indexing
    from chalicelib.sessions.models import Session

    def image(status: str, **attrs: str) -> Session:
        return Session("s_1", visitor_id="v_1", status=status, created_at=1, updated_at=1,
                       **{k: int(v) if k == "rating" else v for k, v in attrs.items()})

    assert needs_indexing(image("active"), image("closed"))
    assert needs_indexing(None, image("closed"))  # written closed at once (a backfill's copy, a restore)
    assert not needs_indexing(image("active"), image("active", rating="5"))
    assert needs_indexing(image("closed"), image("closed", rating="5"))
    assert needs_indexing(image("closed", rating="5"), image("closed", rating="5", wrapup="returns"))
    assert not needs_indexing(image("closed", rating="5"), image("closed", rating="5"))  # a timer or survey mark
    assert not needs_indexing(image("closed"), None)  # removed

"""The one interface both conversation indexes implement (embedded tantivy locally, OpenSearch on AWS).

A document is a closed session (:class:`~chalicelib.conversations.model.Conversation`), keyed by its session
id: putting it again replaces it, so indexing is idempotent. A search takes the query's text and filters and
the caller's scope, and answers one page of hits:

- text: every word must occur in the visitor's or the agent's lines (English words by stem, CJK runs as
  bigrams, so "退货" finds "我想退货"), or the text is one of the conversation's order numbers; hits come by
  relevance, then newest first. Without text, newest first (by when the chat started).
- ``customer``: the visitor id, the shop's customer id, or the words of the visitor's name; ``order``: an order
  number the chat named (in a text or an order card), any case.
- the scope is a filter of the query itself, so nothing outside it is ever read or counted.

A backend that cannot answer raises :class:`~chalicelib.platform.textsearch.SearchUnavailable`, nothing else.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Protocol

from chalicelib.conversations.model import Conversation, Found, Query, Scope


class ConversationIndex(Protocol):
    def put(self, conversations: Sequence[Conversation]) -> None:
        """Add these conversations, replacing any indexed under the same session ids."""
        ...

    def replace_all(self, conversations: Iterable[Conversation]) -> int:
        """Drop the index and build it from ``conversations``; returns how many."""
        ...

    def search(self, query: Query, scope: Scope, offset: int, limit: int) -> tuple[list[Found], bool]:
        """Hits ``offset`` to ``offset + limit`` of ``query`` within ``scope``, and whether more follow."""
        ...

    def count(self) -> int:
        """How many conversations are indexed."""
        ...

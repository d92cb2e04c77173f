"""The local conversation index: tantivy (in memory) scores the text, the documents stay in a dict.

Text is cut as the FAQ index cuts it (``platform.textsearch``): English words stemmed, CJK runs as bigrams (a
one-character run as that character), and every word of the query must occur (a conversation search narrows).
Filters and the scope are checked on the documents themselves: one process on a developer's machine holds
thousands of conversations, not millions. OpenSearch does the same work on AWS (``opensearch.py``).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence

import tantivy

from chalicelib.conversations.model import Conversation, Found, Query, Scope, highlight, order_id
from chalicelib.platform.textsearch import CJK, built_index, cjk_terms, latin_terms

MAX_QUERY_TERMS = 64  # a pasted essay should not turn into a thousand-clause query


def _schema() -> tantivy.Schema:
    builder = tantivy.SchemaBuilder()
    builder.add_text_field("session_id", stored=True, tokenizer_name="raw")
    for field in ("en", "cjk", "cjk1"):  # pre-analysed terms, separated by spaces
        builder.add_text_field(field, tokenizer_name="whitespace")
    return builder.build()


def query_terms(text: str) -> list[tuple[str, str]]:
    """(field, term) pairs that must all occur: stemmed words, the bigrams of each CJK run (a lone CJK character
    as itself)."""
    terms = [("en", t) for t in latin_terms(text)]
    for run in CJK.findall(text):
        terms += [("cjk", run[i:i + 2]) for i in range(len(run) - 1)] if len(run) > 1 else [("cjk1", run)]
    return list(dict.fromkeys(terms))[:MAX_QUERY_TERMS]


def matches(conversation: Conversation, query: Query, scope: Scope) -> bool:
    """Whether ``conversation`` passes ``query``'s filters (not its text) and lies within ``scope``."""
    c = conversation
    if not scope.admits(c.group_id, c.agent_id):
        return False
    if query.customer is not None:
        wanted = query.customer.strip()
        name = (c.visitor_name or "").casefold()
        if wanted not in (c.visitor_id, c.customer_id) and not all(w in name for w in wanted.casefold().split()):
            return False
    q = query
    return ((q.order is None or order_id(q.order) in c.order_ids)
            and (q.from_ms is None or c.created_at >= q.from_ms)
            and (q.to_ms is None or c.created_at < q.to_ms)
            and (q.group is None or c.group_id == q.group)
            and (q.agent is None or c.agent_id == q.agent)
            and (q.rating is None or c.rating == q.rating)
            and (q.wrapup is None or c.wrapup == q.wrapup))


class EmbeddedConversationIndex:
    """In-process conversation index; safe across threads."""

    def __init__(self) -> None:
        self._schema = _schema()
        self._lock = threading.RLock()
        self._docs: dict[str, Conversation] = {}
        self._index = tantivy.Index(self._schema)
        self._searcher = self._index.searcher()

    def put(self, conversations: Sequence[Conversation]) -> None:
        if not conversations:
            return
        with self._lock:
            writer = self._index.writer(heap_size=15_000_000, num_threads=1)
            for c in conversations:
                writer.delete_documents_by_term("session_id", c.session_id)
                self._add(writer, c)
                self._docs[c.session_id] = c
            writer.commit()
            writer.wait_merging_threads()
            self._index.reload()
            self._searcher = self._index.searcher()

    def replace_all(self, conversations: Iterable[Conversation]) -> int:
        docs = {c.session_id: c for c in conversations}
        index = built_index(self._schema, docs.values(), self._add)
        with self._lock:
            self._index, self._searcher, self._docs = index, index.searcher(), docs
        return len(docs)

    def count(self) -> int:
        return len(self._docs)

    def _add(self, writer: tantivy.IndexWriter, c: Conversation) -> None:
        text = "\n".join(line.text for line in c.lines)
        bigrams, chars = cjk_terms(text)
        writer.add_document(tantivy.Document(session_id=c.session_id, en=" ".join(latin_terms(text)),
                                             cjk=" ".join(bigrams), cjk1=" ".join(chars)))

    def search(self, query: Query, scope: Scope, offset: int, limit: int) -> tuple[list[Found], bool]:
        with self._lock:
            docs, searcher = self._docs, self._searcher
        text = (query.text or "").strip()
        scored: list[tuple[Conversation, float | None]]
        if text:
            scores = self._text_scores(searcher, text, len(docs))
            wanted = order_id(text)
            scored = [(c, scores.get(c.session_id, 0.0)) for c in docs.values()
                      if c.session_id in scores or wanted in c.order_ids]
            scored.sort(key=lambda cs: (-(cs[1] or 0.0), -cs[0].created_at, cs[0].session_id))
        else:
            scored = sorted(((c, None) for c in docs.values()), key=lambda cs: (-cs[0].created_at, cs[0].session_id))
        kept = [cs for cs in scored if matches(cs[0], query, scope)]
        page = kept[offset:offset + limit]
        found = [Found(c.summary(), score, (highlight(c.lines, text) if text else None) or c.preview())
                 for c, score in page]
        return found, len(kept) > offset + limit

    def _text_scores(self, searcher: tantivy.Searcher, text: str, size: int) -> dict[str, float]:
        terms = query_terms(text)
        if not terms or size == 0:
            return {}
        q = tantivy.Query.boolean_query([(tantivy.Occur.Must, tantivy.Query.term_query(self._schema, field, term))
                                         for field, term in terms])
        out: dict[str, float] = {}
        for score, address in searcher.search(q, limit=size, count=False).hits:
            out[str(searcher.doc(address).get_first("session_id"))] = float(score)
        return out

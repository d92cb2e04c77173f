"""Conversation search: indexing closed sessions, and finding them for staff within their groups.

Indexing reads what the sessions and IM domains own (one GetItem of the session unless the caller has it, one
Query of its messages) and writes one document; it runs off every request path, called for each closed session
by the sessions table's stream (again when a rating or a wrap-up reason arrives later: the document is
replaced), or by the backfill (``python -m chalicelib.conversations reindex``, the only place that scans).
A search is one request to the index: the caller's scope is a filter of the query, and DynamoDB is not read.

Who finds what (issue 19, point 6): admins every conversation; supervisors those of the groups in their token
and the groups they serve; agents those of the groups they serve, and those they served themselves.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from pynamodb.exceptions import DoesNotExist

from chalicelib.auth.identity import Identity
from chalicelib.config.model import RoutingConfig
from chalicelib.conversations.errors import ConversationError
from chalicelib.conversations.model import Conversation, Found, Query, Scope, conversation
from chalicelib.conversations.search.base import ConversationIndex
from chalicelib.im.models import MESSAGE_SK_PREFIX, Message
from chalicelib.im.schemas import is_session_id
from chalicelib.im.service import DELIVERED, STORED
from chalicelib.platform.observability import logger
from chalicelib.platform.textsearch import SearchUnavailable
from chalicelib.sessions.models import CLOSED, Session
from chalicelib.sessions.stream import StreamBatch

# Deep pages cost the index more with every page (it ranks offset + limit hits): past this, narrow the search.
MAX_OFFSET = 1000
BACKFILL_BATCH = 100


def encode_cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"offset": offset}).encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    """The offset inside a cursor this API returned; ConversationError ``invalid_body`` for anything else."""
    try:
        offset = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))["offset"]
    except (binascii.Error, ValueError, TypeError, KeyError, UnicodeDecodeError):
        offset = None
    if not isinstance(offset, int) or isinstance(offset, bool) or not 0 < offset <= MAX_OFFSET:
        raise ConversationError("invalid_body", "'cursor' is not a cursor this API returned", "cursor")
    return offset


# What a closed session's document shows that can change after the close.
INDEXED_AFTER_CLOSE = ("rating", "wrapup", "agent_name", "visitor_name")


def needs_indexing(old: Session | None, new: Session | None) -> bool:
    """Whether a write to a session (as the sessions table's stream gives it, before and after) changes what the
    index holds: the session became closed, or a closed one's rating, wrap-up reason or names changed. The other
    writes to a session (sequence numbers, timers, the survey's marks) change nothing searchable: indexing on
    them would cost a Query and a document write each."""
    if new is None or new.status != CLOSED:
        return False
    if old is None or old.status != CLOSED:
        return True
    return any(getattr(old, name) != getattr(new, name) for name in INDEXED_AFTER_CLOSE)


@dataclass(frozen=True)
class Page:
    hits: list[Found]
    next_cursor: str | None


class ConversationService:
    def __init__(self, index: ConversationIndex, config: Callable[[], RoutingConfig]) -> None:
        self.index = index
        self._config = config

    # -- indexing --------------------------------------------------------------------------------------
    def consume(self, batch: StreamBatch) -> None:
        """The sessions stream's consumer (registered as "search"): index what a batch changed in closed sessions,
        each session once, in one write to the index. A batch given again indexes the same documents again."""
        changed = {c.new.session_id: c.new for c in batch.changes if c.new is not None and needs_indexing(c.old, c.new)}
        if changed:
            self.index_many(changed.values())

    def index_closed(self, session: Session | str) -> bool:
        """Index one closed session (a ``Session`` as the stream's new image gives it, or its id) with its
        transcript, replacing its document if it has one. Returns False, indexing nothing, for a session that
        does not exist or is not closed. Raises ``SearchUnavailable`` if the index refuses: the stream retries."""
        return self.index_many([session]) == 1

    def index_many(self, sessions: Iterable[Session | str]) -> int:
        """Index these closed sessions in one write to the index (a stream batch); returns how many were."""
        documents = [d for d in (self._document(s) for s in sessions) if d is not None]
        self.index.put(documents)
        return len(documents)

    def _document(self, session: Session | str) -> Conversation | None:
        if isinstance(session, str):
            if not is_session_id(session):
                return None
            try:
                session = Session.get(session, consistent_read=True)
            except DoesNotExist:
                return None
        if session.status != CLOSED:
            return None
        return conversation(session, self._transcript(session.session_id))

    def _transcript(self, session_id: str) -> Iterator[Message]:
        """The session's history as staff read it: delivered and stored messages, in order (pending ones were
        never seen, failed ones are gone)."""
        for msg in Message.query(session_id, Message.sk.startswith(MESSAGE_SK_PREFIX), consistent_read=True):
            if msg.status in (DELIVERED, STORED):
                yield msg

    def reindex(self, progress: Callable[[int], object] | None = None) -> int:
        """Build the index again from every closed session (an admin's backfill: it scans the sessions table,
        filtered to closed ones, and reads each one's messages). Returns how many were indexed."""
        def closed() -> Iterator[Conversation]:
            for session in Session.scan(Session.status == CLOSED):
                yield conversation(session, self._transcript(session.session_id))
                if progress is not None:
                    progress(1)

        return self.index.replace_all(closed())

    # -- searching -------------------------------------------------------------------------------------
    def scope(self, who: Identity) -> Scope:
        """The conversations ``who`` may find (see the module's docstring)."""
        if who.role == "admin":
            return Scope(None)
        config = self._config()
        groups = {group.group_id for group, _ in config.groups_of(who.user_id)}
        if who.role == "supervisor":
            return Scope(frozenset(groups | set(who.groups)))
        return Scope(frozenset(groups), agent_id=who.user_id)

    def search(self, who: Identity, query: Query, cursor: str | None, limit: int) -> Page:
        """One page of the conversations ``who`` may find that match ``query``, best first (newest first without
        text). ConversationError ``forbidden`` for a group filter outside the caller's scope, ``unavailable``
        when the index cannot answer."""
        scope = self.scope(who)
        if query.group is not None and scope.groups is not None and query.group not in scope.groups:
            raise ConversationError("forbidden", f"you may search only the conversations of your groups, "
                                                 f"not of '{query.group}'", "group")
        offset = decode_cursor(cursor) if cursor else 0
        try:
            hits, more = self.index.search(query, scope, offset, limit)
        except SearchUnavailable as e:
            logger.warning("conversation search failed", extra={"error": str(e)})
            raise ConversationError("unavailable", "conversation search is unavailable; try again shortly") from None
        nxt = offset + limit
        return Page(hits, encode_cursor(nxt) if more and nxt <= MAX_OFFSET else None)

    def group_names(self) -> dict[str, dict[str, str]]:
        """Group ids to their names in every language (a hit shows the name in the page's)."""
        return {group_id: group.names() for group_id, group in self._config().groups.items()}


def conversation_index() -> ConversationIndex:
    """The index the settings name: ``embedded`` (in this process) or ``opensearch`` (the FAQ's domain)."""
    from chalicelib.settings import get_settings

    settings = get_settings()
    if settings.search_backend == "opensearch":
        from chalicelib.conversations.search.opensearch import OpenSearchConversationIndex

        serverless = ".aoss.amazonaws.com" in settings.opensearch_url
        return OpenSearchConversationIndex(settings.opensearch_url, settings.opensearch_conversations_index,
                                           region=settings.region, service="aoss" if serverless else "es",
                                           shards=settings.opensearch_conversations_shards)
    from chalicelib.conversations.search.embedded import EmbeddedConversationIndex

    return EmbeddedConversationIndex()

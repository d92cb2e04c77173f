"""The satisfaction survey's answer: stored once with the session, and counted for its agent and group.

The survey itself is sent by the close that wins (the sessions service), so a session has at most one. The answer
is one transaction: the session (condition: a survey was sent, not yet answered, not expired, and
the caller is its visitor) and the agent's and group's CSAT counters, so a retried or duplicated
answer can neither be stored twice nor counted twice.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, cast

from pynamodb.exceptions import TransactWriteError

from chalicelib.auth.identity import Identity
from chalicelib.config.model import RoutingConfig
from chalicelib.i18n import pick, texts_of
from chalicelib.platform.clock import SYSTEM_CLOCK, Clock
from chalicelib.platform.dynamo import Transaction, is_condition_failed, transaction
from chalicelib.sessions.errors import SessionError
from chalicelib.sessions.models import Session
from chalicelib.sessions.schemas import RatedEvent
from chalicelib.sessions.service import SessionService, survey_json


class Ratings(Protocol):
    """Where an answer is counted (routing's agent and group CSAT counters; chalicelib/routing implements it)."""

    def stage_rating(self, tx: Transaction, session: Session, stars: int) -> None: ...


class SurveyService:
    def __init__(self, sessions: SessionService, ratings: Ratings, config: Callable[[], RoutingConfig],
                 clock: Clock = SYSTEM_CLOCK) -> None:
        self._sessions = sessions
        self._ratings = ratings
        self._config = config
        self._clock = clock

    def rate(self, visitor: Identity, session_id: str, stars: int, tags: list[str],
             comment: str | None) -> dict[str, Any]:
        """Store the visitor's answer; returns the ``rated`` frame. Refusals say why (SessionError)."""
        configured = self._config().sessions.survey.tags
        # A tag is taken in any of its languages: the survey the visitor was shown holds one of them.
        allowed = {text for tag in configured for text in texts_of(tag)}
        unknown = [t for t in tags if t not in allowed]
        if unknown:
            shown = ", ".join(pick(tag, visitor.language) for tag in configured)
            raise SessionError("invalid_frame", f"'tags' has {unknown[0]!r}; pick from: {shown}", field="tags")
        session = self._sessions.get(session_id)
        if session is None or session.visitor_id != visitor.user_id:
            raise SessionError("not_found", "no such session of yours", session_id=session_id)
        now = self._clock.now_ms()
        try:
            with transaction() as tx:
                tx.update(Session(session_id), actions=[
                    Session.rating.set(stars), Session.rating_tags.set(cast(Any, tags)),  # the stubs want attributes
                    *([Session.rating_comment.set(comment)] if comment else []), Session.rated_at.set(now),
                ], condition=(Session.visitor_id == visitor.user_id) & Session.survey_sent_at.exists()
                    & Session.rated_at.does_not_exist() & (Session.survey_expires_at >= now))
                self._ratings.stage_rating(tx, session, stars)
        except TransactWriteError as err:
            if not is_condition_failed(err):
                raise
            raise self._why_not(session_id, now) from None
        # The agent who served the chat sees the stars, tags and comment in its list of ended chats at once.
        session.rating, session.rating_tags, session.rated_at = stars, cast(Any, tags), now
        session.rating_comment = comment or None
        self._sessions.tell_agent(session)
        return RatedEvent(session_id=session_id, stars=stars, tags=tags, answered_at=now).frame()

    def _why_not(self, session_id: str, now: int) -> SessionError:
        session = self._sessions.get(session_id)
        survey = survey_json(session, now) if session is not None else None
        if survey is None:
            return SessionError("no_survey", "this session has no survey to answer (yet)", session_id=session_id)
        if survey["status"] == "answered":
            return SessionError("already_rated", "this survey was answered already; one answer per session",
                                session_id=session_id)
        return SessionError("survey_expired", "this survey can no longer be answered", session_id=session_id)

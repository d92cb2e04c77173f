"""The satisfaction survey's answer: stored once with the session, and counted for its agent and group.

The survey itself is sent by the close that wins (routing), so a session has at most one. The answer
is one transaction: the session (condition: a survey was sent, not yet answered, not expired, and
the caller is its visitor) and the agent's and group's CSAT counters, so a retried or duplicated
answer can neither be stored twice nor counted twice.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, cast

from pynamodb.exceptions import TransactWriteError

from chalicelib.auth.identity import Identity
from chalicelib.config.model import RoutingConfig
from chalicelib.im.errors import ImError
from chalicelib.routing.agents import cancellation_codes, transaction
from chalicelib.routing.models import Agent, GroupState
from chalicelib.sessions.models import Session
from chalicelib.sessions.service import SessionService, survey_json


class SurveyService:
    def __init__(self, sessions: SessionService, config: Callable[[], RoutingConfig],
                 clock: Callable[[], float] = time.time) -> None:
        self._sessions = sessions
        self._config = config
        self._clock = clock

    def rate(self, visitor: Identity, session_id: str, stars: int, tags: list[str],
             comment: str | None) -> dict[str, Any]:
        """Store the visitor's answer; returns the ``rated`` frame. Refusals say why (ImError)."""
        allowed = self._config().sessions.survey.tags
        unknown = [t for t in tags if t not in allowed]
        if unknown:
            raise ImError("invalid_frame", f"'tags' has {unknown[0]!r}; pick from: {', '.join(allowed)}",
                          field="tags")
        session = self._sessions.get(session_id)
        if session is None or session.visitor_id != visitor.user_id:
            raise ImError("not_found", "no such session of yours", session_id=session_id)
        now = int(self._clock() * 1000)
        try:
            with transaction() as tx:
                tx.update(Session(session_id), actions=[
                    Session.rating.set(stars), Session.rating_tags.set(cast(Any, tags)),  # the stubs want attributes
                    *([Session.rating_comment.set(comment)] if comment else []), Session.rated_at.set(now),
                ], condition=(Session.visitor_id == visitor.user_id) & Session.survey_sent_at.exists()
                    & Session.rated_at.does_not_exist() & (Session.survey_expires_at >= now))
                if session.agent_id:
                    tx.update(Agent(session.agent_id), actions=[Agent.csat_sum.add(stars), Agent.csat_count.add(1)])
                if session.group_id:
                    tx.update(GroupState(session.group_id),
                              actions=[GroupState.csat_sum.add(stars), GroupState.csat_count.add(1)])
        except TransactWriteError as err:
            if "ConditionalCheckFailed" not in cancellation_codes(err):
                raise
            raise self._why_not(session_id, now) from None
        return {"event": "rated", "session_id": session_id, "stars": stars, "tags": tags, "answered_at": now}

    def _why_not(self, session_id: str, now: int) -> ImError:
        session = self._sessions.get(session_id)
        survey = survey_json(session) if session is not None else None
        if survey is None:
            return ImError("no_survey", "this session has no survey to answer (yet)", session_id=session_id)
        if survey["status"] == "answered":
            return ImError("already_rated", "this survey was answered already; one answer per session",
                           session_id=session_id)
        return ImError("survey_expired", "this survey can no longer be answered", session_id=session_id)

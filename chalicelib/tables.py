"""Every DynamoDB table the product uses, as pynamodb models: the single definition that the local stack
creates tables from and that ``infra/`` is checked against. It names every domain's models, so it sits beside
the wiring, above the domains (``chalicelib/platform`` knows none of them)."""

from __future__ import annotations

from pynamodb.models import Model

from chalicelib.channel.models import Connection, Presence
from chalicelib.faq.models import FaqItem, ReindexJobItem, RobotSettingsItem
from chalicelib.im.models import Message
from chalicelib.learning.models import LearningGroup
from chalicelib.platform.idempotency import IdempotencyRecord
from chalicelib.platform.quota import QuotaCounter
from chalicelib.platform.tables import ttl_attribute
from chalicelib.replies.models import CannedReply
from chalicelib.reports.models import ReportHour
from chalicelib.routing.models import Agent, GroupState, Member, QueueEntry
from chalicelib.sessions.models import Session
from chalicelib.tickets.models import TicketItem

ALL_MODELS: tuple[type[Model], ...] = (Connection, Presence, Session, Message, Agent, Member, GroupState,
                                       QueueEntry, TicketItem, FaqItem, RobotSettingsItem, ReindexJobItem,
                                       QuotaCounter, IdempotencyRecord, CannedReply, ReportHour, LearningGroup)

__all__ = ["ALL_MODELS", "ttl_attribute"]

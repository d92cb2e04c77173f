"""Every DynamoDB table the product uses, as pynamodb models: the single definition that the local
stack creates tables from and that ``infra/`` is checked against."""

from __future__ import annotations

from pynamodb.attributes import TTLAttribute
from pynamodb.models import Model

from chalicelib.faq.models import FaqItem, RobotSettingsItem
from chalicelib.im.models import Connection, Message, Presence
from chalicelib.platform.idempotency import IdempotencyRecord
from chalicelib.platform.quota import QuotaCounter
from chalicelib.routing.models import Agent, GroupState, Member, QueueEntry
from chalicelib.sessions.models import Session
from chalicelib.tickets.models import TicketItem

ALL_MODELS: tuple[type[Model], ...] = (Connection, Presence, Session, Message, Agent, Member, GroupState,
                                       QueueEntry, TicketItem, FaqItem, RobotSettingsItem, QuotaCounter,
                                       IdempotencyRecord)


def ttl_attribute(model: type[Model]) -> str | None:
    """The DynamoDB name of the model's TTL attribute, if it has one."""
    for attribute in model.get_attributes().values():
        if isinstance(attribute, TTLAttribute):
            name: str = attribute.attr_name
            return name
    return None

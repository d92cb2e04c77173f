"""Every DynamoDB table the product uses, as pynamodb models: the single definition that the local
stack creates tables from and that ``infra/`` is checked against."""

from __future__ import annotations

from pynamodb.models import Model

from chalicelib.im.models import Connection, Message, Presence
from chalicelib.sessions.models import Session

ALL_MODELS: tuple[type[Model], ...] = (Connection, Presence, Session, Message)

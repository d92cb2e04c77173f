"""Builds the services once per Lambda container (lazily: moto must be running before any client)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from chalicelib.im.delivery import StepFunctionsTimer
from chalicelib.im.presence import PresenceService
from chalicelib.im.service import ImService
from chalicelib.platform.ws import WebSocketSender
from chalicelib.sessions.service import SessionService


@dataclass(frozen=True)
class Services:
    presence: PresenceService
    im: ImService
    sessions: SessionService


@lru_cache(maxsize=1)
def services() -> Services:
    presence = PresenceService(WebSocketSender())
    return Services(presence=presence, im=ImService(presence, StepFunctionsTimer()),
                    sessions=SessionService(presence))

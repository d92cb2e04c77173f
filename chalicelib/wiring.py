"""Builds the services once per Lambda container (lazily: moto must be running before any client)."""

from __future__ import annotations

import threading
from dataclasses import dataclass

from chalicelib.im.delivery import DeliveryTimer, StepFunctionsTimer
from chalicelib.im.presence import PresenceService
from chalicelib.im.service import ImService
from chalicelib.platform.ws import Sender, WebSocketSender
from chalicelib.sessions.service import SessionService


@dataclass(frozen=True)
class Services:
    presence: PresenceService
    im: ImService
    sessions: SessionService


def build(sender: Sender, timer: DeliveryTimer) -> Services:
    presence = PresenceService(sender)
    return Services(presence=presence, im=ImService(presence, timer), sessions=SessionService(presence))


_lock = threading.Lock()
_services: Services | None = None


def services() -> Services:
    global _services
    with _lock:
        if _services is None:
            _services = build(WebSocketSender(), StepFunctionsTimer())
        return _services


def override(replacement: Services | None) -> None:
    """Use ``replacement`` (tests: recording fakes); None goes back to building the real ones."""
    global _services
    with _lock:
        _services = replacement

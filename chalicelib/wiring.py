"""Builds the services once per Lambda container (lazily: moto must be running before any client)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from chalicelib.config.model import RoutingConfig
from chalicelib.im.delivery import DeliveryTimer, StepFunctionsTimer
from chalicelib.im.presence import PresenceService
from chalicelib.im.service import ImService
from chalicelib.platform.ws import Sender, WebSocketSender
from chalicelib.routing.agents import AgentBook
from chalicelib.routing.dashboard import Dashboard
from chalicelib.routing.service import RoutingService
from chalicelib.sessions.service import SessionService


@dataclass(frozen=True)
class Services:
    presence: PresenceService
    im: ImService
    sessions: SessionService
    agents: AgentBook
    routing: RoutingService
    dashboard: Dashboard
    config: Callable[[], RoutingConfig]


def _stored_config() -> RoutingConfig:
    from chalicelib.config.store import config_store

    return config_store().current()


def build(sender: Sender, timer: DeliveryTimer, config: Callable[[], RoutingConfig] | None = None,
          clock: Callable[[], float] | None = None, publisher: Callable[[str, str], None] | None = None) -> Services:
    """The services over ``sender`` and ``timer``; ``config`` defaults to the SSM documents."""
    config = config or _stored_config
    kwargs = {"clock": clock} if clock is not None else {}
    presence = PresenceService(sender, **kwargs)
    sessions = SessionService(presence, **kwargs)
    agents = AgentBook(config, **kwargs)
    dashboard = Dashboard(presence, config, publisher=publisher, **kwargs)
    routing = RoutingService(presence, sessions, agents, config, dashboard, **kwargs)
    presence.on_staff_gone = routing.agent_disconnected
    return Services(presence=presence, im=ImService(presence, timer, **kwargs), sessions=sessions, agents=agents,
                    routing=routing, dashboard=dashboard, config=config)


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

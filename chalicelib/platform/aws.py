"""Lazy, cached boto3 clients: none is built at import time, so moto can be started first."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import boto3
import botocore
import botocore.session
import pynamodb.connection.base
from botocore.config import Config
from botocore.loaders import Loader, create_loader

from chalicelib.settings import get_settings

# Short timeouts: a slow AWS call on the message path is better retried by the caller than waited on.
_CONFIG = Config(connect_timeout=2, read_timeout=5, retries={"mode": "standard", "max_attempts": 3})


# One loader of botocore's service models for every session of the process. A new session reads and parses
# the service's JSON model and the endpoints file again (about 100 ms a client), and pynamodb opens one per
# table model: a cold container paid that for each table it touched. The loader only caches what it read.
_LOADER: Loader = create_loader()


# A fixed User-Agent: botocore otherwise rebuilds its string from a dozen components on every request (about 9%
# of a DynamoDB GetItem's client-side time), and nothing here reads it but AWS's own request statistics.
USER_AGENT = f"cs-platform botocore/{botocore.__version__}"
_SESSION_CONFIG = Config(user_agent=USER_AGENT)


def botocore_session(env_vars: Any = None) -> botocore.session.Session:
    session = botocore.session.get_session(env_vars)
    session.register_component("data_loader", _LOADER)
    session.set_default_client_config(_SESSION_CONFIG)  # merged under each client's own Config
    return session


# pynamodb takes its sessions from this name (a session per connection and thread, as botocore needs).
pynamodb.connection.base.get_session = botocore_session  # type: ignore[attr-defined]


@lru_cache(maxsize=16)
def client(service: str, endpoint_url: str | None = None) -> Any:
    session: Any = boto3.session.Session(botocore_session=botocore_session())  # typed per service at run time
    return session.client(
        service, region_name=get_settings().region, endpoint_url=endpoint_url, config=_CONFIG
    )


def preload(*services: str) -> None:
    """Read the models of ``services`` into the process's loader now, by building a client of each and dropping
    it: a process that forks workers then reads them once for all of them (about 0.1 s a service), not once in
    each."""
    session = botocore_session()
    for service in services:
        session.create_client(service, region_name=get_settings().region, config=_CONFIG)


def reset_clients() -> None:
    """Forget built clients (tests that restart moto, or change endpoints, call this)."""
    client.cache_clear()

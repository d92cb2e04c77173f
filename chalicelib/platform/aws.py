"""Lazy, cached boto3 clients: none is built at import time, so moto can be started first."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import boto3
from botocore.config import Config

from chalicelib.settings import get_settings

# Short timeouts: a slow AWS call on the message path is better retried by the caller than waited on.
_CONFIG = Config(connect_timeout=2, read_timeout=5, retries={"mode": "standard", "max_attempts": 3})


@lru_cache(maxsize=16)
def client(service: str, endpoint_url: str | None = None) -> Any:
    session: Any = boto3.session.Session()  # typed per service; ours is chosen at run time
    return session.client(
        service, region_name=get_settings().region, endpoint_url=endpoint_url, config=_CONFIG
    )


def reset_clients() -> None:
    """Forget built clients (tests that restart moto, or change endpoints, call this)."""
    client.cache_clear()

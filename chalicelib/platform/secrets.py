"""Secrets (the visitor token key, the shop's API token) read through Powertools Parameters.

On AWS a secret is never an environment variable (those show in the Lambda console and in every
``GetFunctionConfiguration``): the function gets the secret's id and reads its value, cached for
``SECRET_MAX_AGE_SECONDS``, so a rotated secret reaches every container within that time. An id that
starts with ``/`` is an SSM SecureString parameter, anything else a Secrets Manager secret (name or ARN).
Locally the value itself may be set in the environment instead and is used as it is.
"""

from __future__ import annotations

import threading
from typing import Any, Protocol

from aws_lambda_powertools.utilities.parameters import SecretsProvider, SSMProvider

from chalicelib.platform import aws


class Provider(Protocol):
    """What is used of Powertools' ``SecretsProvider`` and ``SSMProvider`` (tests pass fakes)."""

    def get(self, name: str, max_age: int | None = None, transform: Any = None, force_fetch: bool = False,
            **sdk_options: Any) -> Any:
        ...


_lock = threading.Lock()
_providers: dict[str, Any] = {}  # Powertools' providers, or the tests' fakes


def _provider(kind: str) -> Any:
    # One provider per process and kind: its cache is what spares a read per request.
    with _lock:
        if kind not in _providers:
            _providers[kind] = (SSMProvider(boto3_client=aws.client("ssm")) if kind == "ssm"
                                else SecretsProvider(boto3_client=aws.client("secretsmanager")))
        return _providers[kind]


def use_providers(providers: dict[str, Provider] | None) -> None:
    """Read through ``providers`` ({"ssm": ..., "secretsmanager": ...}); None forgets them (tests)."""
    with _lock:
        _providers.clear()
        _providers.update(providers or {})


def secret_value(local_value: str, secret_id: str, max_age: int) -> str:
    """``local_value`` if set (the local stack's environment), else the secret ``secret_id``; "" if neither.

    Raises Powertools' ``GetParameterError`` when the secret cannot be read: a missing key must fail
    loudly rather than sign or call with an empty one.
    """
    if local_value:
        return local_value
    if not secret_id:
        return ""
    if secret_id.startswith("/"):
        value = _provider("ssm").get(secret_id, max_age=max_age, decrypt=True)
    else:
        value = _provider("secretsmanager").get(secret_id, max_age=max_age)
    return value if isinstance(value, str) else value.decode("utf-8")

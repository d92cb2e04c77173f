"""Running one of the app's own Lambda functions in the background: the caller hands over an event and returns.

On AWS that is Lambda's asynchronous invoke (``InvocationType="Event"``): Lambda queues the event, answers 202
at once and runs the function with its own timeout, so work longer than API Gateway's 29 s can start from a
REST call. The local stack gives its own :class:`Invoker` (``local/invoker.py``: the same Chalice function in a
thread), set through ``wiring.use_invoker``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.platform import aws


class InvokeFailed(Exception):
    """The function could not be started (unknown function, no permission, Lambda unavailable)."""


class Invoker(Protocol):
    def invoke(self, function: str, event: Mapping[str, Any]) -> None:
        """Start ``function`` with ``event`` and return without waiting; :class:`InvokeFailed` if it cannot."""
        ...


class LambdaInvoker:
    """Lambda's asynchronous invoke: the event is queued by Lambda, which retries a failed run twice."""

    def invoke(self, function: str, event: Mapping[str, Any]) -> None:
        try:
            aws.client("lambda").invoke(FunctionName=function, InvocationType="Event",
                                        Payload=json.dumps(dict(event)).encode())
        except (ClientError, BotoCoreError) as err:
            raise InvokeFailed(f"{function} could not be started: {err}") from None

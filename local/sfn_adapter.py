"""Makes moto's Step Functions engine run this project's state machines in-process.

moto offers no hook for either, so this module is the one place that reaches into its internals
(pinned: moto 5.2.5), and tests/functional/test_local_sfn_adapter.py runs the real definitions on it:

- A Task that invokes a Lambda would need Docker under moto; here it calls the Chalice function of
  that name in this process, with Lambda's result and error shapes.
- Parsing a definition (ANTLR) took ~24 ms per execution start and capped the engine near 33
  executions/s; parsed programs keep per-execution state in the execution's Environment, so one parse
  per definition can be shared.
- Every Task built a new boto3 client (about 40% of the local stack's CPU under load, mostly loading
  botocore's endpoint data); clients are thread-safe, so one per service is kept.
"""

from __future__ import annotations

import functools
import io
import json
import sys
import threading
from collections.abc import Callable, Mapping
from typing import Any

from botocore.exceptions import ClientError
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (  # noqa: F401
    state_task_service_aws_sdk,
    state_task_service_dynamodb,
)
from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser
from moto.stepfunctions.parser.asl.utils import boto_client

LambdaHandler = Callable[[dict[str, Any], Any], Any]

_original_client_for = boto_client.boto_client_for
_original_parse = AmazonStateLanguageParser.parse


def _engine_modules() -> list[Any]:
    # Each engine module imported boto_client_for by name, so each one's binding is replaced.
    return [m for name, m in sorted(sys.modules.items())
            if name.startswith("moto.stepfunctions.parser") and hasattr(m, "boto_client_for")]


class _Context:
    """The little of Lambda's context object that handlers may read."""

    def __init__(self, name: str) -> None:
        self.function_name = name
        self.aws_request_id = "local"
        self.memory_limit_in_mb = 256

    def get_remaining_time_in_millis(self) -> int:
        return 15_000


class InProcessLambda:
    """Stands in for a boto3 Lambda client inside the engine."""

    def __init__(self, functions: Mapping[str, LambdaHandler]) -> None:
        self._functions = functions

    def invoke(self, **params: Any) -> dict[str, Any]:
        name = str(params["FunctionName"]).rsplit(":", 1)[-1]
        handler = self._functions.get(name)
        if handler is None:
            error: Any = {"Error": {"Code": "ResourceNotFoundException", "Message": f"no function {name}"},
                          "ResponseMetadata": {"HTTPStatusCode": 404, "RequestId": "local"}}
            raise ClientError(error, "Invoke")
        raw = params.get("Payload") or b"{}"
        event = json.loads(raw.decode() if isinstance(raw, bytes) else raw)
        try:
            result = handler(event, _Context(name))
        except Exception as err:  # Lambda reports a handler's exception as an Unhandled function error
            body = {"errorType": type(err).__name__, "errorMessage": str(err)}
            return {"StatusCode": 200, "FunctionError": "Unhandled", "Payload": io.BytesIO(json.dumps(body).encode())}
        return {"StatusCode": 200, "Payload": io.BytesIO(json.dumps(result).encode())}


def install(functions: Mapping[str, LambdaHandler]) -> None:
    invoker = InProcessLambda(functions)
    clients: dict[tuple[str, str], Any] = {}
    lock = threading.Lock()

    def client_for(region: str, service: str, state_credentials: Any = None) -> Any:
        if service == "lambda":
            return invoker
        with lock:
            if (region, service) not in clients:
                clients[region, service] = _original_client_for(region, service, state_credentials)
            return clients[region, service]

    for module in _engine_modules():
        module.boto_client_for = client_for
    AmazonStateLanguageParser.parse = staticmethod(functools.lru_cache(maxsize=64)(_original_parse))  # type: ignore[method-assign]


def uninstall() -> None:
    for module in _engine_modules():
        module.boto_client_for = _original_client_for
    AmazonStateLanguageParser.parse = staticmethod(_original_parse)  # type: ignore[method-assign]

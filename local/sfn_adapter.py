"""Makes moto's Step Functions engine run this project's state machines in-process.

moto offers no hook for any of this, so this module is the one place that reaches into its internals
(pinned: moto 5.2.5), and tests/functional/local/test_sfn_adapter.py runs the real definitions on it.
``install`` does four things and ``uninstall`` undoes them:

- A Task that invokes a Lambda (``arn:aws:states:::lambda:invoke`` or a plain function ARN) would need
  Docker under moto; here it calls the Python function registered under the function's name, with
  Lambda's result and error shapes. A function that raises ``LambdaServiceError`` stands for the Lambda
  service failing the call (``Lambda.ServiceException`` and the like), which the definitions' Retry and
  Catch must handle.
- Parsed definitions are cached (see ``_cached_parse``).
- Parsed JSONPath expressions are cached (see ``_cached_jsonpath``).
- Every Task built a new boto3 client (about 40% of the local stack's CPU under load, mostly loading
  botocore's endpoint data); clients are thread-safe, so one per (region, service) is kept.

``scale_time`` (tests only) makes the engine's waits, Retry intervals and Wait states, pass faster and records
each one asked for: a test of a retry policy then checks the intervals instead of sleeping through them.
"""

from __future__ import annotations

import functools
import io
import json
import sys
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from botocore.exceptions import ClientError
from jsonpath_ng.ext.parser import parse as jsonpath_ext_parse
from jsonpath_ng.parser import parse as jsonpath_parse
from moto.stepfunctions.parser.asl.component.common.path import result_path
from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl
from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (  # noqa: F401
    # Imported so that their ``boto_client_for`` bindings exist to be replaced (the engine imports them lazily).
    state_task_service_aws_sdk,
    state_task_service_dynamodb,
)
from moto.stepfunctions.parser.asl.component.state.wait.wait_function.wait_function import WaitFunction
from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser
from moto.stepfunctions.parser.asl.utils import boto_client, json_path

LambdaHandler = Callable[[dict[str, Any], Any], Any]

_original_client_for = boto_client.boto_client_for
_original_parse = AmazonStateLanguageParser.parse

# Parsing a definition with ANTLR took ~24 ms on every execution start, which capped the engine near
# 33 executions/s. A parsed program keeps no per-execution state (components keep it in the
# Environment's heap), so one parse per definition serves every execution: 200 concurrent executions
# then start in 0.7 s and all complete correctly.
_cached_parse = functools.lru_cache(maxsize=64)(_original_parse)

# jsonpath-ng builds a new parser (ply's tables) for every path it parses, and the engine parses each
# InputPath, ResultPath and Parameters path on every state it runs: about 12% of the local stack's CPU while
# chatting. A parsed path is immutable (``find`` and ``update_or_create`` change only the data they get).
_cached_jsonpath = functools.lru_cache(maxsize=1024)(jsonpath_ext_parse)
_cached_result_path = functools.lru_cache(maxsize=256)(jsonpath_parse)


def _engine_modules() -> list[Any]:
    # Each engine module imported boto_client_for by name, so each one's binding is replaced (the
    # defining module keeps the original).
    modules = {name: m for name, m in sys.modules.items()
               if name.startswith("moto.stepfunctions.parser") and hasattr(m, "boto_client_for")
               and m is not boto_client}
    modules[lambda_eval_utils.__name__] = lambda_eval_utils
    return [modules[name] for name in sorted(modules)]


def function_name(function: str) -> str:
    """``arn:aws:lambda:us-east-1:123456789012:function:delivery_step`` -> ``delivery_step``."""
    return function.rsplit(":", 1)[-1]


class LambdaServiceError(Exception):
    """Raised by a registered function to make the invoke fail as the Lambda service would (the engine names
    it ``Lambda.<code>``), not as the function would (an "Unhandled" error named by its type)."""

    def __init__(self, code: str = "ServiceException", status: int = 500) -> None:
        super().__init__(code)
        self.code = code
        self.status = status


def _client_error(code: str, message: str, status: int) -> ClientError:
    error: Any = {"Error": {"Code": code, "Message": message},
                  "ResponseMetadata": {"HTTPStatusCode": status, "RequestId": str(uuid.uuid4())}}
    return ClientError(error, "Invoke")


class LambdaContext:
    """The little of Lambda's context object that handlers may read."""

    def __init__(self, name: str) -> None:
        self.function_name = name
        self.aws_request_id = str(uuid.uuid4())
        self.memory_limit_in_mb = 256

    def get_remaining_time_in_millis(self) -> int:
        return 15_000


_timing_lock = threading.Lock()
_timing: dict[str, list[float]] = {}  # function -> [invocations, ms]


def task_usage() -> dict[str, dict[str, float]]:
    """The Lambda tasks the engine ran in this process, by function: invocations and run time (what Lambda
    would bill), as the gateway counts its handlers; a benchmark reads it through ``/_local/stats``."""
    with _timing_lock:
        return {name: {"invocations": n, "ms": round(ms, 1)} for name, (n, ms) in _timing.items()}


class InProcessLambda:
    """Stands in for a boto3 Lambda client inside the engine: ``invoke`` runs the registered function."""

    def __init__(self, functions: Mapping[str, LambdaHandler]) -> None:
        self._functions = functions

    def invoke(self, **params: Any) -> dict[str, Any]:
        name = function_name(str(params["FunctionName"]))
        handler = self._functions.get(name)
        if handler is None:
            raise _client_error("ResourceNotFoundException", f"Function not found: {name}", 404)
        raw = params.get("Payload") or b"{}"
        event = json.loads(raw.decode("utf-8") if isinstance(raw, bytes) else raw)
        started = time.perf_counter()
        try:
            result = handler(event, LambdaContext(name))
        except LambdaServiceError as err:
            raise _client_error(err.code, f"the Lambda service failed the call to {name}", err.status) from None
        except Exception as err:  # Lambda reports a handler's exception as an "Unhandled" function error
            body = {"errorType": type(err).__name__, "errorMessage": str(err)}
            return {"StatusCode": 200, "FunctionError": "Unhandled", "Payload": io.BytesIO(json.dumps(body).encode())}
        finally:
            elapsed = (time.perf_counter() - started) * 1000
            with _timing_lock:
                timed = _timing.setdefault(name, [0, 0.0])
                timed[0] += 1
                timed[1] += elapsed
        return {"StatusCode": 200, "Payload": io.BytesIO(json.dumps(result).encode())}


def install(functions: Mapping[str, LambdaHandler]) -> None:
    """Route the engine's Lambda invocations to ``functions`` (by function name) and cache parses."""
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
    AmazonStateLanguageParser.parse = staticmethod(_cached_parse)  # type: ignore[method-assign]
    json_path.parse = _cached_jsonpath  # type: ignore[attr-defined]
    result_path.parse = _cached_result_path  # type: ignore[attr-defined]


_original_wait_interval = WaitFunction._wait_interval
_real_time = time  # what moto's retrier sleeps with


class _ScaledTime:
    """``time`` as the engine's retrier sees it: each sleep recorded, then slept ``scale`` times as long."""

    def __init__(self, scale: float, waits: list[float]) -> None:
        self.scale = scale
        self.waits = waits

    def __getattr__(self, name: str) -> Any:
        return getattr(_real_time, name)

    def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        _real_time.sleep(seconds * self.scale)


def scale_time(scale: float) -> list[float]:
    """The engine's Retry intervals and Wait states last ``scale`` times as long (1 puts real time back);
    returns the list that records every wait asked for, in seconds as the definition says."""
    waits: list[float] = []
    if scale == 1:
        setattr(retrier_decl, "time", _real_time)  # noqa: B010 (moto does not export it)
        WaitFunction._wait_interval = _original_wait_interval  # type: ignore[method-assign]
        return waits

    def wait_interval(self: WaitFunction, env: Any, wait_seconds: int) -> None:
        waits.append(wait_seconds)
        if wait_seconds > 0:
            env.program_state_event.wait(wait_seconds * scale)  # set when the execution is stopped

    setattr(retrier_decl, "time", _ScaledTime(scale, waits))  # noqa: B010
    WaitFunction._wait_interval = wait_interval  # type: ignore[method-assign]
    return waits


def uninstall() -> None:
    """Give the engine back its own client factory, parser and clock."""
    scale_time(1)
    for module in _engine_modules():
        module.boto_client_for = _original_client_for
    AmazonStateLanguageParser.parse = staticmethod(_original_parse)  # type: ignore[method-assign]
    _cached_parse.cache_clear()
    json_path.parse = jsonpath_ext_parse  # type: ignore[attr-defined]
    result_path.parse = jsonpath_parse  # type: ignore[attr-defined]

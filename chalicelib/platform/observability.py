"""Structured logging, correlation keys and counters through Powertools.

- ``logger``: one JSON object per line, which CloudWatch Logs Insights queries by field. The ``observe``
  middleware gives every line of an invocation the Lambda context (function, request id, cold start) and
  the ``connection_id`` of a WebSocket event; ``correlate`` adds ``session_id`` and ``user`` where a handler
  learns them. Keys are per thread: the local gateway runs handlers side by side.
- Counters (``count`` and the named ones below): one EMF line each, which CloudWatch turns into a metric in
  the ``CustomerService`` namespace (off locally through POWERTOOLS_METRICS_DISABLED), and seen by any
  ``recording()`` in progress, which is how tests read them.
- ``tracer``: X-Ray through Powertools. Built at import, it patches botocore, so every DynamoDB, Step
  Functions and API Gateway call of an invocation is a subsegment; ``observe`` opens one subsegment per
  invocation annotated with what it handled. Off outside Lambda (Powertools finds no LAMBDA_TASK_ROOT).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.metrics import EphemeralMetrics, MetricUnit
from chalice.app import Request, WebsocketEvent

logger = Logger(service="customer-service", child=False)
tracer = Tracer(service="customer-service")

METRICS_NAMESPACE = "CustomerService"
# Frames that $default failed on unexpectedly. The handler answers them with internal_error instead of
# raising, so the function's Errors metric never counts them: this one does, and infra/ alarms on it.
FRAME_ERRORS_METRIC = "FrameErrors"
FRAME_ERRORS_SERVICE = "im"

# Counter names by service (the metric's ``service`` dimension); docs/deploy.md lists them.
MESSAGES = "messages"
ROBOT = "robot"
ROUTING = "routing"
# A FAQ search that failed or timed out: the robot answered without it (alarmed on: infra/build.py).
SEARCH_FAILED_METRIC = "SearchFailed"

_recordings: list[Counter[str]] = []


def count(service: str, name: str, value: int = 1) -> None:
    """``value`` more of ``name``: an EMF line on stdout, a metric set of its own so that no other metric of
    the process is flushed with it."""
    for recording in _recordings:
        recording[f"{service}.{name}"] += value
    metrics = EphemeralMetrics(namespace=METRICS_NAMESPACE, service=service)
    metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)
    metrics.flush_metrics()


@contextmanager
def recording() -> Iterator[Counter[str]]:
    """Every count made inside, as ``{"service.name": total}``."""
    seen: Counter[str] = Counter()
    _recordings.append(seen)
    try:
        yield seen
    finally:
        _recordings.remove(seen)


def count_frame_error() -> None:
    """One frame failed unexpectedly (alarmed on: infra/build.py)."""
    count(FRAME_ERRORS_SERVICE, FRAME_ERRORS_METRIC)


# Messages: sent (stored and on their way), delivered (ACKed by the recipient), retried (resent for want of
# an ACK), failed (given up on: the sender is told).
def message_sent() -> None:
    count(MESSAGES, "MessagesSent")


def message_delivered() -> None:
    count(MESSAGES, "MessagesDelivered")


def message_retried() -> None:
    count(MESSAGES, "MessagesRetried")


def message_failed() -> None:
    count(MESSAGES, "MessagesFailed")


# The FAQ robot: answered on its own, offered suggestions, handed the visitor to a person.
def robot_answered() -> None:
    count(ROBOT, "RobotAnswered")


def robot_suggested() -> None:
    count(ROBOT, "RobotSuggested")


def robot_handed_off() -> None:
    count(ROBOT, "RobotHandedOff")


def robot_feedback(helpful: bool) -> None:
    """A visitor's verdict on a robot answer: ``RobotHelpful`` or ``RobotNotHelpful``."""
    count(ROBOT, "RobotHelpful" if helpful else "RobotNotHelpful")


# Order self-service (faq/orders.py): an order shown, the shop's system failing (a person offered), an anonymous
# check that failed or was over its limit.
def order_event(name: str) -> None:
    """``OrderAnswered``, ``OrderLookupFailed``, ``OrderCheckFailed`` or ``OrderCheckLimited``."""
    count(ROBOT, name)


def search_failed() -> None:
    """The search backend could not answer a visitor's text or an agent's suggestions (the message went on)."""
    count(ROBOT, SEARCH_FAILED_METRIC)


# Routing: a session assigned to an agent, queued for one, overflowed to another group, a message left.
def session_assigned() -> None:
    count(ROUTING, "SessionsAssigned")


def session_queued() -> None:
    count(ROUTING, "SessionsQueued")


def session_overflowed() -> None:
    count(ROUTING, "SessionsOverflowed")


def message_left() -> None:
    count(ROUTING, "MessagesLeft")


def transaction_retried() -> None:
    """A transaction was cancelled by a conflict or throttling and sent again (a hot item: see capacity.md)."""
    count("dynamodb", "TransactionsRetried")


# -- correlation ----------------------------------------------------------------------------------

def correlate(**keys: str | None) -> None:
    """Adds ``keys`` (connection_id, session_id, user) to every later log line of this invocation."""
    known = {name: value for name, value in keys.items() if value}
    if known:
        logger.thread_safe_append_keys(**known)


def lambda_context_keys(context: Any) -> dict[str, Any]:
    """What Powertools' ``inject_lambda_context`` logs, read leniently: local and test contexts lack some."""
    names = {"function_name": "function_name", "function_request_id": "aws_request_id",
             "function_memory_size": "memory_limit_in_mb", "function_arn": "invoked_function_arn"}
    return {key: getattr(context, attr) for key, attr in names.items() if getattr(context, attr, None) is not None}


def observe(event: Any, get_response: Callable[[Any], Any]) -> Any:
    """Chalice middleware for every kind of event: fresh log keys per invocation, the Lambda context and the
    WebSocket connection among them."""
    logger.thread_safe_clear_keys()
    context = event.lambda_context if isinstance(event, Request) else getattr(event, "context", None)
    if context is not None:
        logger.thread_safe_append_keys(**lambda_context_keys(context))
    handled = _handled(event)
    if isinstance(event, WebsocketEvent):
        correlate(connection_id=event.connection_id)
    with tracer.provider.in_subsegment(f"## {handled}") as subsegment:
        subsegment.put_annotation("handler", handled)
        if isinstance(event, WebsocketEvent):
            subsegment.put_annotation("connection_id", event.connection_id)
        return get_response(event)


def _handled(event: Any) -> str:
    """What an invocation handles, for its trace: ``GET /sessions``, ``ws $default``, or the function's name."""
    if isinstance(event, Request):
        return f"{event.method} {event.path}"
    if isinstance(event, WebsocketEvent):
        route = event.to_dict().get("requestContext", {}).get("routeKey")
        return f"ws {route or 'event'}"
    return type(event).__name__

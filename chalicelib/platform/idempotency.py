"""Retry-safe REST writes: the first call with an ``Idempotency-Key`` runs and its answer is kept for a day;
a retry with the same key and body gets that answer back without running again.

Powertools Idempotency does the bookkeeping over the ``idempotency`` table (DynamoDB persistence layer):
a first call costs one conditional put (the key, "in progress") and one update (the answer) besides the
work; a retry costs one refused conditional put, which returns the stored record with it (no read). A key
is scoped to its operation and its caller, so two users' keys never meet; the body is hashed with it, so the
same key with a different body is refused (:class:`KeyReused`) rather than answered with another request's
result. A failed call keeps no record: retrying it runs it again.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from typing import Any, cast

from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer, IdempotencyConfig
from aws_lambda_powertools.utilities.idempotency.base import IdempotencyHandler
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
    IdempotencyValidationError,
)
from aws_lambda_powertools.utilities.typing import LambdaContext
from pynamodb.attributes import TTLAttribute, UnicodeAttribute
from pynamodb.models import Model

from chalicelib.platform import aws
from chalicelib.platform.modelbase import meta

KEEP_SECONDS = 24 * 3600  # how long a retry gets the first answer back
KEY_PATTERN = re.compile(r"[A-Za-z0-9_.:-]{1,64}")


class IdempotencyRecord(Model):
    """Powertools' record of one keyed call (it writes the other attributes itself: status, data, validation)."""

    Meta = meta("idempotency")
    id = UnicodeAttribute(hash_key=True)  # "{operation}#{hash of caller and key}"
    expiration = TTLAttribute(null=True)


class KeyReused(Exception):
    """The key was used before for a different request."""


class InProgress(Exception):
    """The first request with this key is still running."""


# A first call that crashed leaves its key "in progress": Powertools frees it once the Lambda's remaining time
# has passed. A REST call has at most API Gateway's 29 s, whatever the function's timeout, so that is the bound
# given (and a retry after it may run the request again, as the client was told nothing).
IN_PROGRESS_MS = 29_000


class _RestCall:
    """Stands in for the Lambda context: Powertools reads only the remaining time from it."""

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return IN_PROGRESS_MS


_CONFIG = IdempotencyConfig(event_key_jmespath="key", payload_validation_jmespath="request",
                            expires_after_seconds=KEEP_SECONDS, raise_on_no_idempotency_key=True)
_CONFIG.register_lambda_context(cast(LambdaContext, _RestCall()))
_lock = threading.Lock()
_layers: dict[str, tuple[Any, DynamoDBPersistenceLayer]] = {}


def _persistence(operation: str) -> DynamoDBPersistenceLayer:
    """One persistence layer per operation (a layer keeps the operation's name between calls, so two
    operations must not share one) over the current DynamoDB client (tests reset clients)."""
    client = aws.client("dynamodb")
    with _lock:
        found = _layers.get(operation)
        if found is None or found[0] is not client:
            found = (client, DynamoDBPersistenceLayer(table_name=IdempotencyRecord.Meta.table_name,
                                                      boto3_client=client))
            _layers[operation] = found
        return found[1]


def once(operation: str, caller_id: str, key: str | None, request: dict[str, Any],
         work: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """``work()``'s answer; with ``key``, the answer of the first call made with it (``request`` must match)."""
    if key is None:
        return work()
    handler = IdempotencyHandler(
        function=lambda **_: work(), function_payload={"key": [caller_id, key], "request": request},
        config=_CONFIG, persistence_store=_persistence(operation), key_prefix=operation, function_args=(),
        function_kwargs={})
    try:
        result: dict[str, Any] = handler.handle()
    except IdempotencyValidationError:
        raise KeyReused(f"this Idempotency-Key was used for a different {operation} request; "
                        "use a new key for a new request") from None
    except IdempotencyAlreadyInProgressError:
        raise InProgress("the first request with this Idempotency-Key is still running; retry shortly") from None
    return result

"""DynamoDB plumbing every domain shares: conditional-failure detection and labelled transactions.

A transaction's items are sent in the order they were added, each under a label; DynamoDB's cancellation
reasons follow the request's item list one to one, so a cancellation names the labels that failed without
depending on how a library would have reordered the items.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import lru_cache
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from pynamodb.connection import Connection
from pynamodb.exceptions import TransactWriteError

from chalicelib.platform.observability import transaction_retried
from chalicelib.settings import get_settings

CONDITION_FAILED = "ConditionalCheckFailed"
CONFLICT = "TransactionConflict"
# Cancellation reasons that say "not now" rather than "no": nothing was written, so the same request may go
# again. (Throttled single requests are retried by botocore itself.)
RETRYABLE = frozenset({CONFLICT, "ThrottlingError", "ProvisionedThroughputExceeded"})
# Full-jitter exponential backoff: attempt n sleeps uniformly in [0, min(cap, base * 2**n)], so transactions
# that collided on an item (a hot group's counters, an agent two arrivals want) do not collide again in step.
RETRY_ATTEMPTS = 6
_BACKOFF_BASE_S = 0.015
_BACKOFF_CAP_S = 0.5


@lru_cache(maxsize=1)
def connection() -> Connection:
    """pynamodb's low-level connection, for transactions (built on first use, when moto is running)."""
    return Connection(region=get_settings().region)


def cancellation_codes(err: Exception) -> list[str | None]:
    """Per item of a cancelled transaction, in the request's order: why it failed, or None."""
    reasons = getattr(err, "cancellation_reasons", None) or []
    return [r.code if r is not None and r.code != "None" else None for r in reasons]


def is_condition_failed(err: Exception) -> bool:
    """Whether a write failed on a condition: a single write's own, or any item's of a transaction."""
    if isinstance(err, TransactWriteError):
        return CONDITION_FAILED in cancellation_codes(err)
    return getattr(err, "cause_response_code", None) == "ConditionalCheckFailedException"


def backoff_seconds(attempt: int, rand: Callable[[float, float], float] = random.uniform) -> float:
    return rand(0, min(_BACKOFF_CAP_S, _BACKOFF_BASE_S * 2 ** attempt))


class Transaction:
    """One TransactWriteItems request whose items carry labels (an unlabelled item gets a numbered one).

    A cancellation for a conflict or throttling alone is retried with jittered backoff, up to RETRY_ATTEMPTS
    sends in all; one with a failed condition is not (the caller decides what that means)."""

    def __init__(self, dispatch: Callable[[str, dict[str, Any]], Any] | None = None,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self._dispatch = dispatch
        self._sleep = sleep
        self._labels: list[str] = []
        self._items: list[dict[str, Any]] = []
        self._versioned: list[Any] = []

    def _add(self, label: str | None, kind: str, kwargs: dict[str, Any]) -> None:
        self._labels.append(label or f"#{len(self._labels)}")
        self._items.append({kind: kwargs})

    def check(self, model_cls: Any, hash_key: Any, condition: Any, *, label: str | None = None,
              range_key: Any = None) -> None:
        self._add(label, "ConditionCheck",
                  model_cls.get_operation_kwargs_from_class(hash_key, range_key=range_key, condition=condition))

    def update(self, model: Any, actions: list[Any], condition: Any = None, *, label: str | None = None) -> None:
        self._add(label, "Update", model.get_update_kwargs_from_instance(actions=actions, condition=condition))
        self._versioned.append(model)

    def put(self, model: Any, condition: Any = None, *, label: str | None = None) -> None:
        self._add(label, "Put", model.get_save_kwargs_from_instance(condition=condition))
        self._versioned.append(model)

    def delete(self, model: Any, condition: Any = None, *, label: str | None = None) -> None:
        self._add(label, "Delete", model.get_delete_kwargs_from_instance(condition=condition))

    def commit(self) -> None:
        if not self._items:
            return
        dispatch = self._dispatch or connection().dispatch
        for attempt in range(RETRY_ATTEMPTS):
            try:
                dispatch("TransactWriteItems", {"TransactItems": self._items})
                break
            except (BotoCoreError, ClientError) as err:
                error = TransactWriteError("Failed to write transaction items", err)
                codes = {c for c in cancellation_codes(error) if c}
                if not codes or not codes <= RETRYABLE or attempt + 1 == RETRY_ATTEMPTS:
                    raise error from err
            transaction_retried()
            self._sleep(backoff_seconds(attempt))
        for model in self._versioned:  # as pynamodb's own transactions do: the local copy's version moves on
            model.update_local_version_attribute()

    def failed(self, err: Exception) -> dict[str, str]:
        """label -> reason code (``ConditionalCheckFailed``, ``TransactionConflict``...), for each item that failed."""
        return {label: code for label, code in zip(self._labels, cancellation_codes(err), strict=False) if code}


@contextmanager
def transaction() -> Iterator[Transaction]:
    """Collect items, then send them as one transaction when the block ends without an exception."""
    tx = Transaction()
    yield tx
    tx.commit()

"""DynamoDB plumbing every domain shares: conditional-failure detection and labelled transactions.

A transaction's items are sent in the order they were added, each under a label; DynamoDB's cancellation
reasons follow the request's item list one to one, so a cancellation names the labels that failed without
depending on how a library would have reordered the items.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from pynamodb.connection import Connection
from pynamodb.exceptions import TransactWriteError

from chalicelib.settings import get_settings

CONDITION_FAILED = "ConditionalCheckFailed"
CONFLICT = "TransactionConflict"


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


class Transaction:
    """One TransactWriteItems request whose items carry labels (an unlabelled item gets a numbered one)."""

    def __init__(self) -> None:
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
        try:
            connection().dispatch("TransactWriteItems", {"TransactItems": self._items})
        except (BotoCoreError, ClientError) as err:
            raise TransactWriteError("Failed to write transaction items", err) from err
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

"""moto's per-request overheads that DynamoDB-heavy code pays on every call, removed.

1. DynamoDB answers are serialized without moto's generic per-member walk.

moto serializes every response by walking the operation's output shape, and for each DynamoDB attribute
value it looks up all ten members of ``AttributeValue`` (S, N, B, …) through its alias providers: about
30 µs per attribute, so a Query of 50 items of 20 attributes costs 30 ms, and starting the local stack
spent most of its time there. moto has already turned the items into plain ``{type: value}`` dicts
(``dynamo_to_dict``) by then; this writes them out directly, to the same JSON (tests/unit/local/
test_moto_speed.py compares the two on every attribute type). Every other shape, and any value that is
not such a dict, still goes through moto's own walk.

2. moto lists a response class's methods with ``inspect.getmembers`` on every request to find the action's
handler (0.4 ms, about 8% of a GetItem); the list of a class never changes, so it is kept per class.

3. moto backs up every table a TransactWriteItems names, whole (``copy.deepcopy``), to roll back a cancelled
transaction: each transaction cost time in the size of its tables, so a queue or a chat got slower as it
grew. The backup here is of the items the transaction names (all it can change), restored the same way.

4. moto parses an UpdateExpression twice per request (to check its names, then to apply it): about 0.5 ms
each for pynamodb's few distinct expressions. The tree of an expression string is kept; moto only reads it
or changes a deep copy (its validator copies the tree first).

5. botocore signs every DynamoDB request (SigV4: about 1.1 ms, 10% of a GetItem on moto), and moto reads no
signature. This process's DynamoDB clients send unsigned requests (and moto takes them as its default
account's, as it takes signed ones); other services are still signed, so presigned S3 URLs work as before.

6. Every ``mock_aws`` start registers a ``responses`` callback for each of moto's URL patterns and HTTP methods
(about 1,300 objects, 23 ms; the tests start moto once per test). They are the same every time, so they are built
once and registered again.
"""

from __future__ import annotations

import base64
import copy
import functools
import re
import threading
from collections.abc import Callable
from typing import Any

import moto.backend_index as backend_index
from botocore import UNSIGNED, handlers
from moto.core import models as core_models
from moto.core import responses, serialize
from moto.core.custom_responses_mock import CallbackResponse, not_implemented_callback
from moto.core.utils import method_names_from_class
from moto.dynamodb import models as dynamodb_models
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import DynamoType
from moto.dynamodb.models.table import Table
from moto.dynamodb.parsing.expressions import UpdateExpressionParser  # type: ignore[attr-defined]

_STRINGS = ("S", "N")
_STRING_SETS = ("SS", "NS")
_AS_IS = ("BOOL", "NULL")


class _NotPlain(Exception):
    """A value moto's own walk must serialize."""


def _blob(value: Any) -> str:
    if isinstance(value, str):
        value = value.encode("utf-8")
    if not isinstance(value, bytes):
        raise _NotPlain
    return base64.b64encode(value).decode("ascii")


def attribute_value(value: Any) -> dict[str, Any]:
    """One ``AttributeValue`` in DynamoDB's JSON, as moto's serializer writes it."""
    if not isinstance(value, dict):
        raise _NotPlain
    out: dict[str, Any] = {}
    for kind, inner in value.items():
        if inner is None:
            continue  # moto's walk skips members without a value
        if kind in _STRINGS:
            out[kind] = str(inner)
        elif kind == "M":
            out[kind] = attribute_map(inner)
        elif kind == "L":
            out[kind] = [attribute_value(v) for v in inner]
        elif kind in _AS_IS:
            out[kind] = inner
        elif kind == "B":
            out[kind] = _blob(inner)
        elif kind in _STRING_SETS:
            out[kind] = [str(v) for v in inner]
        elif kind == "BS":
            out[kind] = [_blob(v) for v in inner]
        else:
            raise _NotPlain  # not a member of AttributeValue: let moto decide
    return out


def attribute_map(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _NotPlain
    return {name: attribute_value(v) for name, v in value.items()}


def _fast(shape: Any) -> Callable[[Any], Any] | None:
    if shape.name == "AttributeValue":
        return attribute_value
    if shape.type_name == "map" and shape.value.name == "AttributeValue":  # AttributeMap, Key, …
        return attribute_map
    return None


class DynamoDBSerializer(serialize.JSONSerializer):
    def _serialize(self, serialized: Any, value: Any, shape: Any, key: str) -> None:
        fast = _fast(shape) if key else None
        if fast is not None:
            try:
                serialized[self.get_serialized_name(shape, key)] = fast(value)
                return
            except _NotPlain:
                pass
        super()._serialize(serialized, value, shape, key)


_method_names = functools.cache(method_names_from_class)


_transaction = threading.local()  # .items: this thread's transaction backs up its items itself
_original_transact_write_items = DynamoDBBackend.transact_write_items


class _TransactionCopy:
    """moto's ``copy`` module, as its DynamoDB backend sees it: inside a transaction that keeps its own
    item backup, a table is "copied" as itself (and "restored" as itself, changing nothing)."""

    def __getattr__(self, name: str) -> Any:
        return getattr(copy, name)

    @staticmethod
    def deepcopy(value: Any, memo: Any = None) -> Any:
        if isinstance(value, Table) and getattr(_transaction, "items", False):
            return value
        return copy.deepcopy(value, memo)


def _item_key(table: Table, op: dict[str, Any]) -> tuple[DynamoType, DynamoType | None]:
    attrs = op["Key"] if "Key" in op else op["Item"]
    hash_value = DynamoType(attrs[table.hash_key_attr])
    range_value = DynamoType(attrs[table.range_key_attr]) if table.range_key_attr else None
    return hash_value, range_value


def _restore(table: Table, hash_value: DynamoType, range_value: DynamoType | None, item: Any) -> None:
    if range_value is None:
        if item is None:
            table.items.pop(hash_value, None)
        else:
            table.items[hash_value] = item
        return
    rows = table.items[hash_value]
    if item is None:
        rows.pop(range_value, None)
    else:
        rows[range_value] = item


def _transact_write_items(self: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> None:
    try:
        backups = []
        for entry in transact_items:
            op = next(iter(entry.values()))
            table = self.tables[op["TableName"]]
            key = _item_key(table, op)
            backups.append((table, *key, copy.deepcopy(table.get_item(*key))))
    except Exception:  # a malformed request: moto's own path finds and reports it, with its whole-table backup
        _original_transact_write_items(self, transact_items)
        return
    _transaction.items = True
    try:
        _original_transact_write_items(self, transact_items)
    except BaseException:
        for backup in reversed(backups):  # the first backup of an item is its state before the transaction
            _restore(*backup)
        raise
    finally:
        _transaction.items = False


_original_make = UpdateExpressionParser.make.__func__
_parsed: dict[str, Any] = {}
_MAX_PARSED = 4096  # expressions are pynamodb's, a few hundred at most; the bound is against a generator


def _make(cls: type, expression: str) -> Any:
    tree = _parsed.get(expression)
    if tree is None:
        tree = _original_make(cls, expression)  # an invalid one raises, every time, and is never kept
        if len(_parsed) < _MAX_PARSED:
            _parsed[expression] = tree
    return tree


def _unsigned(**_: Any) -> Any:
    return UNSIGNED


_UNSIGNED_DYNAMODB = ("choose-signer.dynamodb", _unsigned, handlers.REGISTER_FIRST)


_original_enable_patching = core_models.MockAWS._enable_patching
_callbacks: list[Any] = []
_AWS_URL = re.compile(r"https?://.+\.amazonaws.com/.*")


def _enable_patching(self: core_models.MockAWS, reset: bool = True) -> None:
    """moto's own ``_enable_patching``, with its callbacks built on the first start only."""
    core_models.botocore_stubber.enabled = True
    if reset:
        self.reset()
    core_models.responses_mock.start()
    if not _callbacks:
        for method in core_models.RESPONSES_METHODS:
            _callbacks.extend(CallbackResponse(method=method, url=pattern,
                                               callback=core_models.botocore_stubber.process_prepared_request)
                              for _, pattern in backend_index.backend_url_patterns)
            _callbacks.append(CallbackResponse(method=method, url=_AWS_URL, callback=not_implemented_callback))
    for callback in _callbacks:
        core_models.responses_mock.add(callback)


def install() -> None:
    """Use the direct serializer for DynamoDB's JSON protocol, the kept method lists, the item backups of
    transactions, the kept expression trees and unsigned DynamoDB requests (idempotent; call before any
    client is built: botocore gives a session its handlers when it is created)."""
    serialize.SERVICE_SPECIFIC_SERIALIZERS.setdefault("dynamodb", {})["json"] = DynamoDBSerializer
    setattr(responses, "method_names_from_class", _method_names)  # noqa: B010 (moto does not export it)
    setattr(dynamodb_models, "copy", _TransactionCopy())  # noqa: B010
    DynamoDBBackend.transact_write_items = _transact_write_items  # type: ignore[method-assign]
    UpdateExpressionParser.make = classmethod(_make)
    if _UNSIGNED_DYNAMODB not in handlers.BUILTIN_HANDLERS:
        handlers.BUILTIN_HANDLERS.append(_UNSIGNED_DYNAMODB)
    core_models.MockAWS._enable_patching = _enable_patching  # type: ignore[method-assign]


def installed() -> bool:
    return serialize.SERVICE_SPECIFIC_SERIALIZERS.get("dynamodb", {}).get("json") is DynamoDBSerializer


def uninstall() -> None:
    serialize.SERVICE_SPECIFIC_SERIALIZERS.get("dynamodb", {}).pop("json", None)
    setattr(responses, "method_names_from_class", method_names_from_class)  # noqa: B010
    setattr(dynamodb_models, "copy", copy)  # noqa: B010
    DynamoDBBackend.transact_write_items = _original_transact_write_items  # type: ignore[method-assign]
    UpdateExpressionParser.make = classmethod(_original_make)
    if _UNSIGNED_DYNAMODB in handlers.BUILTIN_HANDLERS:
        handlers.BUILTIN_HANDLERS.remove(_UNSIGNED_DYNAMODB)
    core_models.MockAWS._enable_patching = _original_enable_patching  # type: ignore[method-assign]

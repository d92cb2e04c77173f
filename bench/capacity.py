"""DynamoDB capacity units by DynamoDB's own rules, counted from every request a process makes, in all and
by partition key.

moto reports fixed capacity figures (0.5 for any GetItem or UpdateItem whatever its consistency or size,
1 for any PutItem or Query, nothing for TransactWriteItems), so the benchmarks count units here instead:
``CapacityMeter`` applies DynamoDB's documented rules to each request and to the items it touches, read from
moto's own tables (which makes no AWS call). Each unit is also charged to the partition it lands on (table or
index, and partition key value), which is what DynamoDB's per-partition limits (1,000 WCU, 3,000 RCU) apply to.
"""

from __future__ import annotations

import copy
import math
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from botocore import handlers
from moto.core.models import DEFAULT_ACCOUNT_ID
from moto.dynamodb.models import dynamodb_backends

from chalicelib.settings import get_settings

READ_BLOCK = 4096  # one strongly consistent read unit; eventually consistent costs half
WRITE_BLOCK = 1024  # one write unit
TRANSACTION_FACTOR = 2  # prepare and commit
SCAN = "*scan*"  # the partition a Scan is charged to: it reads them all
UNKNOWN = "?"  # a Query whose partition key could not be read from its request


def number_size(text: str) -> int:
    """DynamoDB: one byte per two significant digits, plus one (leading and trailing zeros trimmed)."""
    mantissa = text.lstrip("+-").lower().split("e")[0].replace(".", "").strip("0")
    return math.ceil(max(1, len(mantissa)) / 2) + 1


def value_size(value: Mapping[str, Any]) -> int:
    """Size of one attribute value in DynamoDB's wire format (``{"S": "..."}``)."""
    (kind, v), = value.items()
    if kind == "S":
        return len(str(v).encode())
    if kind == "N":
        return number_size(str(v))
    if kind == "B":
        return len(v)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "SS":
        return sum(len(s.encode()) for s in v)
    if kind == "NS":
        return sum(number_size(str(n)) for n in v)
    if kind == "BS":
        return sum(len(b) for b in v)
    if kind == "L":
        return 3 + sum(1 + value_size(e) for e in v)
    if kind == "M":
        return 3 + sum(1 + len(k.encode()) + value_size(e) for k, e in v.items())
    raise ValueError(f"unknown attribute type {kind}")


def item_size(item: Mapping[str, Any] | None) -> int:
    if not item:
        return 0
    return sum(len(name.encode()) + value_size(value) for name, value in item.items())


def blocks(size: int, block: int) -> int:
    """Units for ``size`` bytes: rounded up, and never less than one (a miss costs a read too)."""
    return max(1, math.ceil(size / block))


def scalar(value: Mapping[str, Any] | None) -> str:
    """A key attribute's value as text (``{"S": "general"}`` -> ``general``)."""
    if not value:
        return UNKNOWN
    (_, v), = value.items()
    return str(v)


_EQUALS = re.compile(r"([#\w.]+)\s*=\s*(:\w+)")


def query_partition(params: Mapping[str, Any], hash_key: str) -> str:
    """The partition key value a Query names in its ``KeyConditionExpression`` (``#0 = :0 AND ...``, as
    pynamodb and boto3 write it), or ``UNKNOWN``."""
    names = params.get("ExpressionAttributeNames") or {}
    values = params.get("ExpressionAttributeValues") or {}
    for name, placeholder in _EQUALS.findall(params.get("KeyConditionExpression") or ""):
        if names.get(name, name) == hash_key and placeholder in values:
            return scalar(values[placeholder])
    return UNKNOWN


@dataclass
class _Index:
    name: str
    keys: tuple[str, ...]
    projection: str
    non_key: tuple[str, ...]

    def entry(self, item: Mapping[str, Any] | None, table_keys: tuple[str, ...]) -> dict[str, Any] | None:
        """The item as this index stores it, or None if the item is not in the (sparse) index."""
        if not item or any(k not in item for k in self.keys):
            return None
        if self.projection == "ALL":
            return dict(item)
        kept = set(self.keys) | set(table_keys) | (set(self.non_key) if self.projection == "INCLUDE" else set())
        return {k: v for k, v in item.items() if k in kept}


@dataclass
class _Table:
    keys: tuple[str, ...]
    indexes: dict[str, _Index]


@dataclass
class Units:
    read: float = 0.0
    write: float = 0.0  # table and index writes
    index_write: float = 0.0  # of ``write``: writes to global secondary indexes
    items_read: int = 0  # items read by GetItem, BatchGetItem, Query and Scan
    refused: int = 0  # writes and transactions refused by a condition (they cost capacity all the same)
    moto_reported: float = 0.0  # what moto put in ConsumedCapacity, for comparison only

    def plus(self, other: Units, sign: int = 1) -> Units:
        return Units(self.read + sign * other.read, self.write + sign * other.write,
                     self.index_write + sign * other.index_write, self.items_read + sign * other.items_read,
                     self.refused + sign * other.refused, self.moto_reported + sign * other.moto_reported)


# A partition: table (short name, without the stage's prefix), index ("" for the table itself), key value.
Partition = tuple[str, str, str]

# Outcomes that consume capacity: success, and writes refused by their condition.
_CHARGED = (None, "ConditionalCheckFailedException", "TransactionCanceledException")


class CapacityMeter:
    """Capacity units of every DynamoDB request, by DynamoDB's rules: a strongly consistent read is one
    unit per 4 KB (eventually consistent: half), a Query sums the sizes of the items it reads before
    rounding, a BatchGetItem rounds per item; a write is one unit per 1 KB of the larger of the item
    before and after it, twice that inside a transaction; a write that puts, changes or removes an
    item's entry in a global secondary index costs the index one unit per 1 KB of the entry (two when
    the index key changes), at the standard rate since indexes are updated after the transaction.

    Every unit is charged to its partition too (``by_partition``): a table write to the item's partition
    key, an index write to the index's partition key of the entry removed and of the entry added, a Query
    to the partition its key condition names, a Scan to ``SCAN``.

    Registered as botocore builtin handlers, so every client built afterwards is covered, pynamodb's too.
    Safe to share between threads (a local stack's handlers run on many).
    """

    def __init__(self) -> None:
        self.units = Units()
        self._partitions: dict[Partition, list[float]] = {}  # [read, write]
        self._tables: dict[str, _Table] = {}
        self._lock = threading.Lock()

    def install(self) -> None:
        handlers.BUILTIN_HANDLERS.append(("before-parameter-build.dynamodb", self._before))
        handlers.BUILTIN_HANDLERS.append(("after-call.dynamodb", self._after))

    def snapshot(self) -> Units:
        with self._lock:
            return copy.copy(self.units)

    def by_partition(self) -> list[tuple[str, str, str, float, float]]:
        """Units so far by partition: (table, index, key value, read, write)."""
        with self._lock:
            return [(*p, u[0], u[1]) for p, u in self._partitions.items()]

    def reset_tables(self) -> None:
        """Forget table descriptions (a new moto backend)."""
        self._tables.clear()

    # -- moto's tables ---------------------------------------------------------------------------------

    @staticmethod
    def _backend() -> Any:
        return dynamodb_backends[DEFAULT_ACCOUNT_ID][get_settings().region]

    def _table(self, name: str) -> _Table:
        if name not in self._tables:
            table = self._backend().get_table(name)
            keys = tuple(k for k in (table.hash_key_attr, table.range_key_attr) if k)
            indexes = {i.name: _Index(i.name, tuple(k["AttributeName"] for k in i.schema),
                                      (i.projection or {}).get("ProjectionType", "ALL"),
                                      tuple((i.projection or {}).get("NonKeyAttributes", ())))
                       for i in table.global_indexes or ()}
            self._tables[name] = _Table(keys, indexes)
        return self._tables[name]

    def _item(self, table: str, key: Mapping[str, Any]) -> dict[str, Any] | None:
        """The whole stored item (a copy: moto changes items in place), whatever a request projects."""
        keys = self._table(table).keys
        found = self._backend().get_item(table, {k: key[k] for k in keys})
        return copy.deepcopy(found.to_json()["Attributes"]) if found is not None else None

    @staticmethod
    def _short(table: str) -> str:
        prefix = f"{get_settings().table_prefix}-"
        return table[len(prefix):] if table.startswith(prefix) else table

    def _charge(self, table: str, index: str, key: str, read: float = 0.0, write: float = 0.0) -> None:
        units = self._partitions.setdefault((self._short(table), index, key), [0.0, 0.0])
        units[0] += read
        units[1] += write

    # -- handlers --------------------------------------------------------------------------------------

    def _before(self, params: dict[str, Any], model: Any, context: dict[str, Any], **_: Any) -> None:
        if "ReturnConsumedCapacity" not in model.input_shape.members:
            return  # control-plane calls (CreateTable...)
        params["ReturnConsumedCapacity"] = "TOTAL"
        context["bench.params"] = params
        targets: list[tuple[str, dict[str, Any], bool]] = []  # table, key, transactional
        op = model.name
        if op in ("PutItem", "UpdateItem", "DeleteItem"):
            key = params["Item"] if op == "PutItem" else params["Key"]
            targets.append((params["TableName"], key, False))
        elif op == "TransactWriteItems":
            for action in params["TransactItems"]:
                (kind, body), = action.items()
                targets.append((body["TableName"], body["Item"] if kind == "Put" else body["Key"], True))
        elif op == "BatchWriteItem":
            for table, requests in params["RequestItems"].items():
                for request in requests:
                    put = request.get("PutRequest")
                    targets.append((table, put["Item"] if put else request["DeleteRequest"]["Key"], False))
        context["bench.writes"] = [(t, k, tx, self._item(t, k)) for t, k, tx in targets]

    def _after(self, parsed: dict[str, Any], model: Any, context: dict[str, Any], **_: Any) -> None:
        with self._lock:
            self._count(parsed, model, context)

    def _count(self, parsed: dict[str, Any], model: Any, context: dict[str, Any]) -> None:
        self.units.moto_reported += _reported(parsed.get("ConsumedCapacity"))
        params = context.get("bench.params")
        error = parsed.get("Error", {}).get("Code")
        if params is None or error not in _CHARGED:
            return
        self.units.refused += error is not None
        op = model.name
        for table, key, transactional, before in context.get("bench.writes", ()):
            self._write(table, before, self._item(table, key), transactional)
        if op == "GetItem":
            self._get(params["TableName"], [params["Key"]], params.get("ConsistentRead", False))
        elif op in ("Query", "Scan"):
            table = params["TableName"]
            described = self._table(table)
            name = params.get("IndexName", "")
            index = described.indexes.get(name)
            items = [self._item(table, found) for found in parsed.get("Items", ())]
            entries = [index.entry(i, described.keys) if index else i for i in items]
            hash_key = index.keys[0] if index else described.keys[0]
            partition = SCAN if op == "Scan" else query_partition(params, hash_key)
            self._read(table, name, entries, params.get("ConsistentRead", False), partition=partition)
        elif op == "BatchGetItem":
            for table, request in params["RequestItems"].items():
                self._get(table, request["Keys"], request.get("ConsistentRead", False))
        elif op == "TransactGetItems":
            for action in params["TransactItems"]:
                body = action["Get"]
                table = body["TableName"]
                found = self._item(table, body["Key"])
                units = TRANSACTION_FACTOR * blocks(item_size(found), READ_BLOCK)
                self.units.read += units
                self.units.items_read += 1
                self._charge(table, "", scalar(body["Key"].get(self._table(table).keys[0])), read=units)

    def _get(self, table: str, keys: list[dict[str, Any]], consistent: bool) -> None:
        """Items read one by one (GetItem, BatchGetItem): each rounded up on its own, a miss included."""
        factor = 1.0 if consistent else 0.5
        hash_key = self._table(table).keys[0]
        for key in keys:
            item = self._item(table, key)
            units = factor * blocks(item_size(item), READ_BLOCK)
            self.units.read += units
            self.units.items_read += item is not None
            self._charge(table, "", scalar(key.get(hash_key)), read=units)

    def _read(self, table: str, index: str, items: list[dict[str, Any] | None], consistent: bool, *,
              partition: str) -> None:
        """Items read by one Query or Scan: their sizes summed, then rounded up once."""
        factor = 1.0 if consistent else 0.5
        units = factor * blocks(sum(item_size(i) for i in items), READ_BLOCK)
        self.units.read += units
        self.units.items_read += sum(1 for i in items if i)
        self._charge(table, index, partition, read=units)

    def _write(self, table: str, before: dict[str, Any] | None, after: dict[str, Any] | None,
               transactional: bool) -> None:
        # A write whose condition fails still costs the table write (the item is unchanged).
        described = self._table(table)
        units = blocks(max(item_size(before), item_size(after)), WRITE_BLOCK) * (
            TRANSACTION_FACTOR if transactional else 1)
        self.units.write += units
        self._charge(table, "", scalar((after or before or {}).get(described.keys[0])), write=units)
        for index in described.indexes.values():
            old, new = index.entry(before, described.keys), index.entry(after, described.keys)
            if old is None and new is None:
                continue
            hash_key = index.keys[0]
            charges: list[tuple[dict[str, Any], int]]
            if old is None or new is None:
                charges = [(old or new or {}, blocks(item_size(old or new), WRITE_BLOCK))]
            elif any(old[k] != new[k] for k in index.keys):
                # The entry moves: removed from one place (maybe another partition), added at the other.
                charges = [(old, blocks(item_size(old), WRITE_BLOCK)), (new, blocks(item_size(new), WRITE_BLOCK))]
            elif old != new:
                charges = [(new, blocks(max(item_size(old), item_size(new)), WRITE_BLOCK))]
            else:
                charges = []
            for entry, cost in charges:
                self.units.write += cost
                self.units.index_write += cost
                self._charge(table, index.name, scalar(entry.get(hash_key)), write=cost)


def _reported(consumed: Any) -> float:
    if isinstance(consumed, dict):
        return float(consumed.get("CapacityUnits", 0.0))
    if isinstance(consumed, list):
        return sum(float(c.get("CapacityUnits", 0.0)) for c in consumed)
    return 0.0

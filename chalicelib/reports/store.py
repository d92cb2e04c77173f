"""The aggregates table: sums added once per stream shard and window, read by scope and hour range.

Idempotent for a batch given again: each item keeps, per stream shard that wrote it, the last sequence number
it has summed (``q{hash of the shard id}``). A write adds a window's sums only if that mark is below the window's
first record, and moves the mark to its last, in the same ``UpdateItem``; a retried window finds its mark already
there and changes nothing, item by item (a retry after some items were written adds only the others). Records of
one shard reach the function in order, one batch at a time (parallelization factor 1), so the marks only grow.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from chalicelib.platform import aws
from chalicelib.reports.figures import Counts
from chalicelib.reports.models import ReportHour

MARK_PREFIX = "q"


def mark_name(shard_id: str) -> str:
    """The attribute holding ``shard_id``'s last summed sequence number: short, as every write carries it."""
    return MARK_PREFIX + hashlib.sha1(shard_id.encode()).hexdigest()[:10]


@dataclass(frozen=True)
class Applied:
    written: int  # items that took the sums
    skipped: int  # items that had them already (a batch given again)


class ReportStore:
    def __init__(self, client: Any = None) -> None:
        self._client = client

    def _db(self) -> Any:
        return self._client or aws.client("dynamodb")

    @staticmethod
    def _table() -> str:
        return str(ReportHour.Meta.table_name)

    def apply(self, sums: Mapping[str, Counts], shard_id: str, first_seq: str, last_seq: str) -> Applied:
        """Add ``sums`` (keyed ``scope|hour``) made from the records ``first_seq`` to ``last_seq`` of
        ``shard_id``: one conditional UpdateItem per item."""
        mark = mark_name(shard_id)
        written = skipped = 0
        for key, counts in sums.items():
            name, _, hour = key.rpartition("|")
            names = {"#m": mark}
            values: dict[str, Any] = {":first": {"S": first_seq}, ":last": {"S": last_seq}}
            adds = []
            for i, (attr, value) in enumerate(sorted(counts.items())):
                if not value:
                    continue
                names[f"#a{i}"] = attr
                values[f":v{i}"] = {"N": str(value)}
                adds.append(f"#a{i} :v{i}")
            update = "SET #m = :last" + (" ADD " + ", ".join(adds) if adds else "")
            try:
                self._db().update_item(
                    TableName=self._table(), Key={"scope": {"S": name}, "hour": {"N": hour}},
                    UpdateExpression=update, ConditionExpression="attribute_not_exists(#m) OR #m < :first",
                    ExpressionAttributeNames=names, ExpressionAttributeValues=values)
            except ClientError as err:
                if err.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                    raise
                skipped += 1
                continue
            written += 1
        return Applied(written, skipped)

    def hours(self, scope: str, first_hour: int, last_hour: int) -> list[tuple[int, Counts]]:
        """The items of ``scope`` from ``first_hour`` to ``last_hour``: one Query (paged past 1 MB)."""
        out: list[tuple[int, Counts]] = []
        kwargs: dict[str, Any] = {
            "TableName": self._table(), "KeyConditionExpression": "#s = :s AND #h BETWEEN :a AND :b",
            "ExpressionAttributeNames": {"#s": "scope", "#h": "hour"},
            "ExpressionAttributeValues": {":s": {"S": scope}, ":a": {"N": str(first_hour)},
                                          ":b": {"N": str(last_hour)}}}
        while True:
            page = self._db().query(**kwargs)
            for item in page.get("Items", []):
                counts = {k: int(v["N"]) for k, v in item.items()
                          if "N" in v and k != "hour" and not k.startswith(MARK_PREFIX)}
                out.append((int(item["hour"]["N"]), counts))
            if "LastEvaluatedKey" not in page:
                return out
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

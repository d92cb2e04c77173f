"""moto's overheads removed by local/moto_speed.py change no answer: the direct DynamoDB serializer writes the
same raw JSON body as moto's own walk for every operation that returns items, on every attribute type, nested;
item backups roll a transaction back as whole-table ones do; kept expression trees update as fresh parses do;
and only DynamoDB requests go unsigned."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from moto import mock_aws

from local import moto_speed
from tests.conftest import examples

TABLE = "speed"


@pytest.fixture
def table() -> Iterator[Any]:
    was_installed = moto_speed.installed()  # tests/conftest.py installs it for every test
    moto_speed.uninstall()
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        client.create_table(TableName=TABLE, BillingMode="PAY_PER_REQUEST",
                            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"},
                                       {"AttributeName": "sk", "KeyType": "RANGE"}],
                            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                                                  {"AttributeName": "sk", "AttributeType": "S"}])
        yield client
    if was_installed:
        moto_speed.install()


def raw_bodies(client: Any, call: Callable[[], Any],
               before: Callable[[], Any] = lambda: None) -> tuple[list[Any], list[Any]]:
    """The JSON bodies moto answers ``call`` with: under its own serializer, then under the direct one
    (``before`` puts the table back as it was before each)."""
    bodies: list[Any] = []

    def keep(response_dict: dict[str, Any], **_: Any) -> None:
        bodies.append(json.loads(response_dict["body"]))

    client.meta.events.register("before-parse.dynamodb", keep)
    try:
        before()
        call()
        slow = list(bodies)
        bodies.clear()
        before()
        moto_speed.install()
        call()
        return slow, list(bodies)
    finally:
        moto_speed.uninstall()
        client.meta.events.unregister("before-parse.dynamodb", keep)


EVERY_TYPE: dict[str, Any] = {
    "pk": {"S": "p"}, "sk": {"S": "1"},
    "s": {"S": "你好, world"}, "empty": {"S": ""}, "n": {"N": "-12.50"}, "b": {"B": b"\x00\xffbytes"},
    "ss": {"SS": ["a", "b"]}, "ns": {"NS": ["1", "2.5"]}, "bs": {"BS": [b"x", b"\x01"]},
    "t": {"BOOL": True}, "f": {"BOOL": False}, "null": {"NULL": True},
    "m": {"M": {"inner": {"M": {"b": {"B": b"\x02"}, "l": {"L": [{"N": "1"}, {"S": "x"}, {"NULL": True}]}}},
                "bs": {"BS": [b"y"]}}},
    "l": {"L": [{"M": {"k": {"BOOL": False}}}, {"L": []}, {"B": b"z"}]},
    "empty_m": {"M": {}}, "empty_l": {"L": []},
}


def test_every_read_and_write_that_returns_items_answers_the_same_body(table: Any) -> None:
    table.put_item(TableName=TABLE, Item={**EVERY_TYPE, "sk": {"S": "2"}})
    key = {"pk": {"S": "p"}, "sk": {"S": "1"}}
    calls: list[Callable[[], Any]] = [
        lambda: table.get_item(TableName=TABLE, Key=key),
        lambda: table.query(TableName=TABLE, KeyConditionExpression="pk = :p",
                            ExpressionAttributeValues={":p": {"S": "p"}}),
        lambda: table.scan(TableName=TABLE, Limit=1),  # with LastEvaluatedKey
        lambda: table.batch_get_item(RequestItems={TABLE: {"Keys": [key]}}),
        lambda: table.transact_get_items(TransactItems=[{"Get": {"TableName": TABLE, "Key": key}}]),
        lambda: table.update_item(TableName=TABLE, Key=key, UpdateExpression="SET n = :one",
                                  ExpressionAttributeValues={":one": {"N": "1"}}, ReturnValues="ALL_NEW"),
        lambda: table.put_item(TableName=TABLE, Item=EVERY_TYPE, ReturnValues="ALL_OLD"),
        lambda: table.describe_table(TableName=TABLE),
    ]
    for call in calls:
        slow, fast = raw_bodies(table, call, before=lambda: table.put_item(TableName=TABLE, Item=EVERY_TYPE))
        assert slow and fast == slow


def test_an_error_answer_is_unchanged(table: Any) -> None:
    def failing() -> None:
        with pytest.raises(table.exceptions.ConditionalCheckFailedException):
            table.put_item(TableName=TABLE, Item=EVERY_TYPE, ConditionExpression="attribute_not_exists(pk)",
                           ReturnValuesOnConditionCheckFailure="ALL_OLD")

    table.put_item(TableName=TABLE, Item=EVERY_TYPE)
    slow, fast = raw_bodies(table, failing)
    assert slow and fast == slow


_scalars = st.one_of(
    st.text(max_size=5).map(lambda s: {"S": s}),
    st.decimals(allow_nan=False, allow_infinity=False, places=2, min_value=-10**6, max_value=10**6)
    .map(lambda d: {"N": str(Decimal(d).normalize())}),
    st.binary(min_size=1, max_size=5).map(lambda b: {"B": b}),
    st.booleans().map(lambda b: {"BOOL": b}),
    st.just({"NULL": True}),
    st.sets(st.text(min_size=1, max_size=3), min_size=1, max_size=3).map(lambda s: {"SS": sorted(s)}),
    st.sets(st.binary(min_size=1, max_size=3), min_size=1, max_size=3).map(lambda s: {"BS": sorted(s)}),
)
_values = st.recursive(_scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=3).map(lambda v: {"L": v}),
    st.dictionaries(st.text(min_size=1, max_size=3), inner, max_size=3).map(lambda v: {"M": v})), max_leaves=8)


@settings(max_examples=examples(150), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(attributes=st.dictionaries(st.text(alphabet="abcxyz", min_size=1, max_size=4), _values, max_size=4))
def test_any_item_reads_back_as_the_same_body(table: Any, attributes: dict[str, Any]) -> None:
    key = {"pk": {"S": "gen"}, "sk": {"S": "gen"}}
    table.put_item(TableName=TABLE, Item={**attributes, **key})
    slow, fast = raw_bodies(table, lambda: table.get_item(TableName=TABLE, Key=key))
    assert slow and fast == slow


def test_the_kept_method_lists_are_moto_s_own() -> None:
    from moto.core import responses
    from moto.core.utils import method_names_from_class
    from moto.dynamodb.responses import DynamoHandler
    from moto.stepfunctions.responses import StepFunctionResponse

    kept = responses.method_names_from_class  # type: ignore[attr-defined]
    assert moto_speed.installed() and kept is not method_names_from_class
    for handler in (DynamoHandler, StepFunctionResponse):
        assert kept(handler) == method_names_from_class(handler)
    assert "get_item" in kept(DynamoHandler)


def _scan(client: Any, table: str) -> list[Any]:
    return sorted(client.scan(TableName=table)["Items"], key=repr)


@pytest.mark.parametrize("failing", ["last condition", "same item twice", "none"])
def test_a_transaction_ends_in_the_same_state_as_under_moto_s_whole_table_backup(table: Any, failing: str) -> None:
    """A transaction that updates, creates and deletes items, then fails (or not): the tables end as they do
    with moto's own backup of every table, and a cancelled one leaves them exactly as they were."""
    table.create_table(TableName="other", BillingMode="PAY_PER_REQUEST",
                       KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                       AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}])
    ops: list[dict[str, Any]] = [
        {"Update": {"TableName": TABLE, "Key": {"pk": {"S": "p"}, "sk": {"S": "1"}},
                    "UpdateExpression": "SET n = n + :one, m.#in.l[0] = :x",
                    "ExpressionAttributeNames": {"#in": "inner"},
                    "ExpressionAttributeValues": {":one": {"N": "1"}, ":x": {"S": "changed"}}}},
        {"Put": {"TableName": TABLE, "Item": {"pk": {"S": "p"}, "sk": {"S": "new"}, "v": {"N": "1"}}}},
        {"Delete": {"TableName": "other", "Key": {"id": {"S": "gone"}}}},
        {"Put": {"TableName": "other", "Item": {"id": {"S": "fresh"}}}},
    ]
    if failing == "last condition":
        ops.append({"ConditionCheck": {"TableName": "other", "Key": {"id": {"S": "kept"}},
                                       "ConditionExpression": "attribute_not_exists(id)"}})
    elif failing == "same item twice":
        ops.append({"Delete": {"TableName": TABLE, "Key": {"pk": {"S": "p"}, "sk": {"S": "1"}}}})
    item = {**EVERY_TYPE, "m": {"M": {"inner": {"M": {"l": {"L": [{"N": "1"}]}}}}}}

    def reset() -> None:
        for name, key in ((TABLE, {"pk": {"S": "p"}, "sk": {"S": "new"}}), ("other", {"id": {"S": "fresh"}})):
            table.delete_item(TableName=name, Key=key)
        table.put_item(TableName=TABLE, Item=item)
        for name in ("gone", "kept"):
            table.put_item(TableName="other", Item={"id": {"S": name}})

    ends = []
    for speed in (False, True):
        reset()
        before = (_scan(table, TABLE), _scan(table, "other"))
        if speed:
            moto_speed.install()
        try:
            table.transact_write_items(TransactItems=ops)
            outcome = "done"
        except table.exceptions.ClientError as err:
            outcome = err.response["Error"]["Code"]
        finally:
            moto_speed.uninstall()
        after = (_scan(table, TABLE), _scan(table, "other"))
        assert (after == before) == (outcome != "done")
        ends.append((outcome, after))
    assert ends[0] == ends[1]
    assert ends[1][0] == {"last condition": "TransactionCanceledException", "same item twice": "ValidationException",
                          "none": "done"}[failing]


def test_a_kept_expression_tree_updates_as_a_fresh_parse_does(table: Any) -> None:
    """One UpdateExpression, used again with other values on other items: the items end as under moto's parse
    of every request, and an invalid expression is refused every time, not only the first."""
    expression = "SET #a = :a, m.#in = :m ADD n :one REMOVE gone"

    def run() -> list[Any]:
        for i in range(3):
            key = {"pk": {"S": "p"}, "sk": {"S": str(i)}}
            table.put_item(TableName=TABLE, Item={**key, "n": {"N": "1"}, "gone": {"S": "x"}, "m": {"M": {}}})
            for _ in range(2):
                table.update_item(TableName=TABLE, Key=key, UpdateExpression=expression,
                                  ExpressionAttributeNames={"#a": "a", "#in": "inner"},
                                  ExpressionAttributeValues={":a": {"S": f"v{i}"}, ":m": {"N": str(i)},
                                                             ":one": {"N": str(i + 1)}})
        for _ in range(2):
            with pytest.raises(ClientError, match="ValidationException"):
                table.update_item(TableName=TABLE, Key={"pk": {"S": "p"}, "sk": {"S": "0"}},
                                  UpdateExpression="SET #a = ", ExpressionAttributeNames={"#a": "a"})
        items = _scan(table, TABLE)
        for item in items:
            table.delete_item(TableName=TABLE, Key={"pk": item["pk"], "sk": item["sk"]})
        return items

    slow = run()
    moto_speed.install()
    try:
        fast = run()
    finally:
        moto_speed.uninstall()
    assert fast == slow
    assert [(i["a"]["S"], i["n"]["N"], i["m"]["M"]["inner"]["N"], "gone" in i) for i in fast] == [
        ("v0", "3", "0", False), ("v1", "5", "1", False), ("v2", "7", "2", False)]


def test_dynamodb_requests_go_unsigned_and_other_services_stay_signed() -> None:
    from chalicelib.platform.aws import botocore_session

    assert moto_speed.installed()
    with mock_aws():
        session = botocore_session()
        seen: dict[str, Any] = {}
        for service, call in (("dynamodb", lambda c: c.list_tables()), ("s3", lambda c: c.list_buckets())):
            client = session.create_client(service, region_name="us-east-1")
            client.meta.events.register(
                "before-send", lambda request, service=service, **_: seen.setdefault(service, request.headers))
            call(client)
        assert "Authorization" not in seen["dynamodb"]
        assert seen["s3"]["Authorization"].startswith(b"AWS4-HMAC-SHA256")
        url = session.create_client("s3", region_name="us-east-1").generate_presigned_url(
            "put_object", Params={"Bucket": "speed-uploads", "Key": "k"})
        assert "Signature=" in url


def test_moto_answers_plain_http_calls_after_every_start() -> None:
    """The callbacks built once serve every later ``mock_aws`` start: a presigned upload through ``requests``
    reaches moto each time, and as many callbacks are registered as moto's own start registers."""
    import requests
    from moto.backend_index import backend_url_patterns
    from moto.core.models import RESPONSES_METHODS, responses_mock

    assert moto_speed.installed()
    for start in range(2):
        with mock_aws():
            assert len(responses_mock.registered()) == len(RESPONSES_METHODS) * (len(backend_url_patterns) + 1)
            s3 = boto3.client("s3", region_name="us-east-1")
            s3.create_bucket(Bucket="speed-uploads")
            url = s3.generate_presigned_url("put_object", Params={"Bucket": "speed-uploads", "Key": "k"})
            assert requests.put(url, data=f"upload {start}".encode(), timeout=5).status_code == 200
            assert s3.get_object(Bucket="speed-uploads", Key="k")["Body"].read() == f"upload {start}".encode()

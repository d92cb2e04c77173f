"""The cost benchmark's pricing and its reading of the message path, on small hand-computed examples."""

from __future__ import annotations

import pytest

from bench.cost import Usage, load_prices, price, sequential_before_post

PRICES = {
    "apigateway_websocket_per_million_messages": 1.0,
    "apigateway_websocket_per_million_connection_minutes": 0.25,
    "lambda_per_million_requests": 0.2,
    "lambda_per_gb_second": 0.0000166667,
    "dynamodb_per_million_write_units": 0.625,
    "dynamodb_per_million_read_units": 0.125,
    "stepfunctions_express_per_million_requests": 1.0,
    "stepfunctions_express_per_gb_second": 0.00001667,
    "stepfunctions_standard_per_thousand_transitions": 0.025,
    "amazon_connect_chat_per_message": 0.01,
}


def test_a_small_conversation_is_priced_by_hand() -> None:
    usage = Usage(ws_messages=10, ws_connection_minutes=4, lambda_requests=5, lambda_ms=2000, lambda_memory_mb=256,
                  dynamodb_read_units=8, dynamodb_write_units=16, express_requests=2, express_billed_ms=10_200,
                  express_memory_mb=64, standard_transitions=4)
    got = price(usage, PRICES)
    # 10 x $1/M + 4 x $0.25/M
    assert got["apigateway_websocket"] == pytest.approx(0.000011)
    # 5 x $0.20/M + 2 s x 0.25 GB x $0.0000166667
    assert got["lambda"] == pytest.approx(0.000001 + 0.5 * 0.0000166667)
    # 16 x $0.625/M + 8 x $0.125/M
    assert got["dynamodb"] == pytest.approx(0.000011)
    # 2 x $1/M + 10.2 s x 0.0625 GB x $0.00001667 + 4 x $0.025/1000
    assert got["stepfunctions"] == pytest.approx(0.000002 + 0.6375 * 0.00001667 + 0.0001)


def test_nothing_used_costs_nothing() -> None:
    assert set(price(Usage(0, 0, 0, 0, 256, 0, 0, 0, 0), PRICES).values()) == {0.0}


def test_the_checked_in_price_table_has_every_price_with_its_date_and_region() -> None:
    table = load_prices()
    assert table["region"] == "us-east-1"
    assert table["date"]
    assert set(table["prices_usd"]) == set(PRICES)
    assert table["prices_usd"] == PRICES


def call(op: str, thread: str, t0: float, t1: float) -> dict[str, object]:
    return {"op": op, "thread": thread, "t0": t0, "t1": t1}


def test_the_message_path_counts_the_senders_calls_before_its_post() -> None:
    trace = [
        call("dynamodb.GetItem", "lambda_3", 0.5, 0.6),  # before the window
        call("dynamodb.UpdateItem", "lambda_1", 1.0, 1.1),
        call("dynamodb.GetItem", "im_0", 1.1, 1.15),  # the recipient's connections, in parallel
        call("dynamodb.PutItem", "lambda_1", 1.1, 1.2),
        call("apigatewaymanagementapi.PostToConnection", "lambda_2", 1.15, 1.2),  # another handler's post
        call("dynamodb.PutItem", "lambda_1", 1.2, 1.3),
        call("stepfunctions.StartExecution", "lambda_1", 1.3, 1.4),
        call("apigatewaymanagementapi.PostToConnection", "lambda_1", 1.4, 1.5),
        call("dynamodb.Query", "lambda_1", 1.5, 1.6),  # after the post
    ]
    got = sequential_before_post(trace, 0.9, 2.0)
    assert got == {"sequential": ["dynamodb.UpdateItem", "dynamodb.PutItem", "dynamodb.PutItem",
                                  "stepfunctions.StartExecution"],
                   "parallel": ["dynamodb.GetItem"], "count": 4}


def test_no_send_in_the_window_gives_no_count() -> None:
    assert sequential_before_post([call("dynamodb.GetItem", "lambda_1", 1.0, 1.1)], 0.0, 2.0)["count"] is None

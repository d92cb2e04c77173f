"""Shared DynamoDB plumbing on moto: a cancelled transaction names the items that failed by their labels, and
one check tells a failed condition from any other failure, for single writes and transactions alike."""

from __future__ import annotations

from typing import Any

import pytest
from pynamodb.exceptions import CancellationReason, PutError, TransactWriteError, VerboseClientError

from chalicelib.im.models import Message
from chalicelib.platform.clock import Clock
from chalicelib.platform.dynamo import (
    CONFLICT,
    RETRY_ATTEMPTS,
    Transaction,
    connection,
    is_condition_failed,
    transaction,
)
from chalicelib.platform.hooks import Late
from chalicelib.platform.observability import recording
from chalicelib.sessions.models import Session


def _session(session_id: str, status: str) -> Session:
    session = Session(session_id, visitor_id="v_1", status=status, created_at=1, updated_at=1)
    session.save()
    return session


def test_a_cancelled_transaction_names_the_failed_item_whatever_its_kind_and_place(aws: None) -> None:
    _session("s_1", "bot")
    tx = Transaction()
    # An update first and a condition check after it: a library that sends checks first would shift the reasons.
    tx.update(Session("s_1"), [Session.status.set("waiting")], condition=Session.status == "bot", label="session")
    tx.put(Message("s_1", "m#000000000001", seq=1), condition=Message.sk.does_not_exist(), label="message")
    tx.check(Session, "s_2", Session.status.exists(), label="other")
    with pytest.raises(TransactWriteError) as err:
        tx.commit()
    assert tx.failed(err.value) == {"other": "ConditionalCheckFailed"}
    assert is_condition_failed(err.value)
    assert Session.get("s_1").status == "bot"  # nothing of it was written
    assert not list(Message.query("s_1"))


def test_a_transaction_writes_every_item_once_its_block_ends(aws: None) -> None:
    _session("s_1", "bot")
    with transaction() as tx:
        tx.update(Session("s_1"), [Session.status.set("waiting")], condition=Session.status == "bot")
        tx.put(Message("s_1", "m#000000000001", seq=1))
    assert Session.get("s_1").status == "waiting"
    assert [m.seq for m in Message.query("s_1")] == [1]


def test_a_failed_condition_of_a_single_write_is_told_apart(aws: None) -> None:
    _session("s_1", "bot")
    with pytest.raises(PutError) as err:
        Session("s_1", visitor_id="v_1", status="bot", created_at=1, updated_at=1).save(
            condition=Session.session_id.does_not_exist())
    assert is_condition_failed(err.value)
    assert not is_condition_failed(RuntimeError("throttled"))


def test_a_late_hook_gives_what_the_wiring_bound_and_refuses_before() -> None:
    hook: Late[Clock] = Late("clock")
    with pytest.raises(RuntimeError, match="before the wiring bound it"):
        hook()
    clock = hook.bind(Clock(lambda: 1.5))
    assert hook() is clock and hook().now_ms() == 1500
    with pytest.raises(RuntimeError, match="bound already"):
        hook.bind(clock)


class ConflictingDispatch:
    """Answers the first ``conflicts`` sends as DynamoDB does when another transaction holds an item, with
    ``reasons`` for the items, then passes sends on to the real connection."""

    def __init__(self, conflicts: int, reasons: list[str]) -> None:
        self.conflicts = conflicts
        self.reasons = reasons
        self.sends = 0

    def __call__(self, operation: str, body: dict[str, Any]) -> Any:
        self.sends += 1
        if self.sends <= self.conflicts:
            raise VerboseClientError(
                {"Error": {"Code": "TransactionCanceledException", "Message": "Transaction cancelled"}}, operation,
                cancellation_reasons=[CancellationReason(code=c) if c != "None" else None for c in self.reasons])
        return connection().dispatch(operation, body)


def _conflicting_tx(dispatch: ConflictingDispatch, sleeps: list[float]) -> Transaction:
    tx = Transaction(dispatch=dispatch, sleep=sleeps.append)
    tx.update(Session("s_1"), [Session.status.set("waiting")], condition=Session.status == "bot", label="session")
    tx.put(Message("s_1", "m#000000000001", seq=1), label="message")
    return tx


def test_a_transaction_cancelled_by_a_conflict_is_sent_again_after_a_jittered_backoff(aws: None) -> None:
    _session("s_1", "bot")
    dispatch = ConflictingDispatch(conflicts=3, reasons=["TransactionConflict", "None"])
    sleeps: list[float] = []
    with recording() as retried:
        _conflicting_tx(dispatch, sleeps).commit()
    assert dispatch.sends == 4
    assert Session.get("s_1").status == "waiting" and [m.seq for m in Message.query("s_1")] == [1]
    # Each wait is drawn below its own ceiling (15, 30, 60 ms): collided writers do not retry in step.
    assert len(sleeps) == 3 and all(0 <= s <= 0.015 * 2 ** n for n, s in enumerate(sleeps))
    assert retried["dynamodb.TransactionsRetried"] == 3


def test_throttling_is_retried_but_a_failed_condition_is_an_answer_at_once(aws: None) -> None:
    _session("s_1", "bot")
    throttled = ConflictingDispatch(conflicts=1, reasons=["ThrottlingError", "None"])
    _conflicting_tx(throttled, []).commit()
    assert throttled.sends == 2 and Session.get("s_1").status == "waiting"

    _session("s_1", "bot")
    refused = ConflictingDispatch(conflicts=1, reasons=["ConditionalCheckFailed", "TransactionConflict"])
    sleeps: list[float] = []
    tx = _conflicting_tx(refused, sleeps)
    with pytest.raises(TransactWriteError) as err:
        tx.commit()
    assert refused.sends == 1 and sleeps == []
    assert tx.failed(err.value) == {"session": "ConditionalCheckFailed", "message": "TransactionConflict"}


def test_a_conflict_that_outlasts_every_retry_reaches_the_caller_named(aws: None) -> None:
    _session("s_1", "bot")
    dispatch = ConflictingDispatch(conflicts=RETRY_ATTEMPTS, reasons=["None", "TransactionConflict"])
    sleeps: list[float] = []
    tx = _conflicting_tx(dispatch, sleeps)
    with pytest.raises(TransactWriteError) as err:
        tx.commit()
    assert dispatch.sends == RETRY_ATTEMPTS and len(sleeps) == RETRY_ATTEMPTS - 1
    assert tx.failed(err.value) == {"message": CONFLICT}
    assert Session.get("s_1").status == "bot"

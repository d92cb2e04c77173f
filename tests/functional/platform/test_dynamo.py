"""Shared DynamoDB plumbing on moto: a cancelled transaction names the items that failed by their labels, and
one check tells a failed condition from any other failure, for single writes and transactions alike."""

from __future__ import annotations

import pytest
from pynamodb.exceptions import PutError, TransactWriteError

from chalicelib.im.models import Message
from chalicelib.platform.clock import Clock
from chalicelib.platform.dynamo import Transaction, is_condition_failed, transaction
from chalicelib.platform.hooks import Late
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

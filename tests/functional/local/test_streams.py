"""The local stack's reader of the sessions table's stream (local/streams.py): it passes what the deployed
mapping's filter passes, keeps its place when the function fails, and trims what it has read from moto."""

from __future__ import annotations

from typing import Any

import pytest
from moto.core.models import DEFAULT_ACCOUNT_ID
from moto.dynamodb.models import dynamodb_backends

from chalicelib.auth.identity import Identity
from chalicelib.sessions.models import Session
from chalicelib.settings import get_settings
from chalicelib.wiring import build
from infra.build import STREAM_FILTERS
from local.streams import StreamPoller, wanted
from tests.conftest import RecordingSender, RecordingTimer, routing_config


def shard() -> Any:
    return dynamodb_backends[DEFAULT_ACCOUNT_ID][get_settings().region].get_table(
        str(Session.Meta.table_name)).stream_shard


def test_only_closes_and_left_messages_reach_the_function_and_a_failed_call_is_given_again(
        aws: None, sender: RecordingSender, timer: RecordingTimer) -> None:
    svc = build(sender, timer, config=lambda: routing_config())
    events: list[dict[str, Any]] = []
    failing = [True]

    def handler(event: dict[str, Any], context: Any) -> None:
        events.append(event)
        if failing[0]:
            raise RuntimeError("the function failed")

    poller = StreamPoller(str(Session.Meta.table_name), handler)
    poller.open()
    alice = Identity(user_id="alice", role="agent", name="Alice")
    svc.presence.connect("c-alice", alice)
    svc.routing.set_agent_status(alice, "online")
    visitor = Identity(user_id="v_1", role="visitor", name="Ann", channel="web")
    svc.sessions.current_or_new(visitor, svc.presence.connect("c-v", visitor))
    session = svc.routing.request_agent(visitor)
    for _ in range(3):
        svc.im.next_seq(alice, session.session_id)  # messages: writes of an open session, filtered out
    svc.sessions.resolve(alice, session.session_id)
    with pytest.raises(RuntimeError):
        poller.poll()
    assert shard().items, "nothing is trimmed before the function took it"
    failing[0] = False
    poller.drain()
    assert [len(e["Records"]) for e in events] == [1, 1]  # the close, given again after the failure
    assert events[0]["Records"] == events[1]["Records"] and events[0]["shardId"] == events[1]["shardId"]
    assert shard().items == []
    assert poller.delivered == 1


def test_the_filter_is_the_deployed_mappings() -> None:
    # What local/streams.py's wanted() tests, written as the filter patterns of infra/build.py.
    closed, left = STREAM_FILTERS
    assert closed == {"dynamodb": {"NewImage": {"status": {"S": ["closed"]}}}}
    assert left["dynamodb"]["NewImage"] == {"left_message_at": {"N": [{"exists": True}]}}
    assert left["dynamodb"]["OldImage"] == {"left_message_at": {"N": [{"exists": False}]}}
    record = {"dynamodb": {"NewImage": {"status": {"S": "active"}}, "OldImage": {"status": {"S": "active"}}}}
    assert not wanted(record)
    record["dynamodb"]["NewImage"]["left_message_at"] = {"N": "1"}
    assert wanted(record)
    record["dynamodb"]["OldImage"]["left_message_at"] = {"N": "1"}
    assert not wanted(record)
    record["dynamodb"]["NewImage"]["status"] = {"S": "closed"}
    assert wanted(record)


def test_a_reader_that_delivers_nothing_still_drops_what_moto_keeps(
        aws: None, sender: RecordingSender, timer: RecordingTimer) -> None:
    svc = build(sender, timer, config=lambda: routing_config())
    calls: list[dict[str, Any]] = []
    poller = StreamPoller(str(Session.Meta.table_name), lambda event, context: calls.append(event), interval=3600)
    poller.start(deliver=False)
    try:
        visitor = Identity(user_id="v_1", role="visitor", name="Ann", channel="web")
        session = svc.sessions.current_or_new(visitor, svc.presence.connect("c-v", visitor))
        svc.sessions.end_session(visitor, session.session_id)
        assert shard().items
        poller.drain()
    finally:
        poller.stop()
    assert calls == [] and shard().items == []

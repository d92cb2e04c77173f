"""The local stack's own duties: environment defaults, resources from the project's definitions, and a
snapshot that survives a restart without stale sockets or forgotten deliveries."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws
from pynamodb.exceptions import PutError

from chalicelib.channel.models import Connection, Presence
from chalicelib.commerce.demo import DEMO_MODELS
from chalicelib.im.models import Message
from chalicelib.media import uploads
from chalicelib.platform.dynamo import transaction
from chalicelib.platform.modelbase import expires
from chalicelib.routing.models import Agent, GroupState
from chalicelib.sessions.models import Session
from chalicelib.settings import get_settings
from chalicelib.tables import ALL_MODELS
from local import dynamodb_atomic, journal, sfn_adapter, stack
from local.config_sync import sync_directory
from tests.conftest import png

TOUCHED = ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE",
           "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "STAGE", "TABLE_PREFIX", "DEV_IDP_ENABLED", "ACK_WAIT_SECONDS",
           "WS_ENDPOINT", "LOCAL_STATE_DIR", "VISITOR_TOKEN_SECRET")


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """An environment without the stack's settings; monkeypatch puts the test suite's back afterwards."""
    for key in TOUCHED:
        monkeypatch.delenv(key, raising=False)


def test_environment_defaults_keep_explicit_values_and_persist_the_token_secret(
        clean_env: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("ACK_WAIT_SECONDS", "2")
    monkeypatch.setenv("AWS_PROFILE", "production")
    stack.configure_environment(8123, tmp_path / "state")
    env = os.environ
    assert (env["AWS_REGION"], env["AWS_DEFAULT_REGION"], env["TABLE_PREFIX"], env["STAGE"]) == \
        ("us-east-1", "us-east-1", "cs-local", "local")
    assert (env["DEV_IDP_ENABLED"], env["ACK_WAIT_SECONDS"]) == ("1", "2")
    assert env["WS_ENDPOINT"] == "http://127.0.0.1:8123/ws-api"
    assert env["LOCAL_STATE_DIR"] == str(tmp_path / "state")
    assert env["AWS_ACCESS_KEY_ID"] == "local"
    assert "AWS_PROFILE" not in env
    secret = env["VISITOR_TOKEN_SECRET"]
    assert len(secret) >= 32
    assert (tmp_path / "state" / "visitor-token-secret").read_text() == secret

    monkeypatch.delenv("VISITOR_TOKEN_SECRET")
    stack.configure_environment(8123, tmp_path / "state")
    assert env["VISITOR_TOKEN_SECRET"] == secret  # tokens survive a restart

    monkeypatch.setenv("VISITOR_TOKEN_SECRET", "given-by-the-developer")
    stack.configure_environment(8123, tmp_path / "state")
    assert env["VISITOR_TOKEN_SECRET"] == "given-by-the-developer"


class RecordingStep:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str, str, int]] = []

    def __call__(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        self.calls.append((event["op"], event["session_id"], event["sk"], event["attempt"]))
        return {"attempt": event["attempt"] + 1} if event["op"] == "resend" else {"failed": True}


@pytest.fixture
def step() -> Iterator[RecordingStep]:
    recorder = RecordingStep()
    sfn_adapter.install({"delivery_step": recorder})
    yield recorder
    sfn_adapter.uninstall()


def fresh_aws(monkeypatch: pytest.MonkeyPatch) -> Any:
    """A new moto with the stack's resources, as at each start of ``python -m local``."""
    mock = mock_aws(config=stack.MOTO_CONFIG)
    mock.start()
    arns = stack.create_resources()
    monkeypatch.setenv("DELIVERY_STATE_MACHINE_ARN", arns["delivery"])
    monkeypatch.setenv("CLOCK_STATE_MACHINE_ARN", arns["clock"])
    get_settings.cache_clear()
    return mock


def test_create_resources_makes_every_table_and_each_machine_of_its_type(monkeypatch: pytest.MonkeyPatch) -> None:
    mock = fresh_aws(monkeypatch)
    try:
        tables = boto3.client("dynamodb").list_tables()["TableNames"]
        # The product's tables, and the demo shop's (local only: a deployed stack reads the shop's own systems).
        assert sorted(tables) == sorted(m.Meta.table_name for m in (*ALL_MODELS, *DEMO_MODELS))
        machine = boto3.client("stepfunctions").describe_state_machine(
            stateMachineArn=os.environ["DELIVERY_STATE_MACHINE_ARN"])
        assert machine["type"] == "EXPRESS"
        assert Message.Meta.table_name in machine["definition"]
        assert stack.DELIVERY_FUNCTION_ARN in machine["definition"]
        clock = boto3.client("stepfunctions").describe_state_machine(
            stateMachineArn=os.environ["CLOCK_STATE_MACHINE_ARN"])
        # Express: one execution a minute, billed by its duration, not by the transitions of its rounds.
        assert clock["type"] == "EXPRESS" and stack.CLOCK_FUNCTION_ARN in clock["definition"]
    finally:
        mock.stop()


@pytest.fixture
def durable(tmp_path: Path) -> Iterator[Path]:
    """A state folder; the crash journal's recorder is taken out again after the test."""
    yield tmp_path
    dynamodb_atomic.uninstall()


def test_photos_are_on_disk_before_the_upload_is_answered(durable: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEDIA_BUCKET", "cs-local-media")
    get_settings.cache_clear()
    mock = fresh_aws(monkeypatch)
    try:
        stack.DurableState(durable).start()
        photo = uploads.MediaStore().put(png(3, 2), "image/png")
        # Written by the time put() returned: a kill -9 right after the reply keeps it.
        assert (durable / photo.key).read_bytes() == png(3, 2)
        # Not one of ours in shape: never written out (a key is a path under the state folder).
        boto3.client("s3").put_object(Bucket="cs-local-media", Key="media/../../escape.png", Body=b"x")
    finally:
        mock.stop()
    assert sorted(p.name for p in durable.rglob("*") if p.is_file() and p.suffix == ".png") == \
        [photo.key.rsplit("/", 1)[1]]

    mock = fresh_aws(monkeypatch)
    try:
        assert uploads.MediaStore().get(photo.key) is None  # a new moto starts empty
        assert stack.load_media(durable) == 1
        assert uploads.MediaStore().get(photo.key) == (png(3, 2), "image/png")
    finally:
        mock.stop()


def _crash_and_restart(monkeypatch: pytest.MonkeyPatch, mock: Any, state_dir: Path) -> tuple[Any, Any]:
    """The process dies (moto's memory with it, no compaction); a new one restores the state folder."""
    mock.stop()
    dynamodb_atomic.uninstall()
    mock = fresh_aws(monkeypatch)
    state = stack.DurableState(state_dir)
    return mock, (state, state.restore())


def test_every_acknowledged_write_comes_back_after_a_crash(durable: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    mock = fresh_aws(monkeypatch)
    try:
        stack.DurableState(durable).start()
        Session("s_1", visitor_id="v_1", status="active", seq=0, created_at=1, updated_at=1).save()
        for _ in range(3):  # ADD is not idempotent: replayed once each, the count stays exact
            Session("s_1").update(actions=[Session.seq.add(1)])
        Message("s_1", "m#000000000001", seq=1, status="delivered", sender_id="v_1").save()
        Message("s_1", "m#000000000002", seq=2, status="pending", sender_id="v_1").save()
        Message("s_1", "m#000000000002").delete()
        with transaction() as tx:
            tx.update(Session("s_1"), actions=[Session.status.set("closed")], condition=Session.status == "active")
            tx.put(Message("s_1", "c#v_1#cm-1", seq=1))
        with pytest.raises(PutError):  # refused writes are not journalled
            Message("s_1", "m#000000000001", seq=9).save(condition=Message.sk.does_not_exist())
        mock, (_, restored) = _crash_and_restart(monkeypatch, mock, durable)
        assert restored == (0, 8)  # an empty snapshot from the start, then every write since
        session = Session.get("s_1")
        assert (session.seq, session.status) == (3, "closed")
        assert {m.sk: m.seq for m in Message.query("s_1")} == {"m#000000000001": 1, "c#v_1#cm-1": 1}
    finally:
        mock.stop()


def test_a_compaction_cut_short_replays_nothing_twice(durable: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    mock = fresh_aws(monkeypatch)
    try:
        state = stack.DurableState(durable)
        state.start()
        Session("s_1", visitor_id="v_1", status="active", seq=0, created_at=1, updated_at=1).save()
        Session("s_1").update(actions=[Session.seq.add(1)])
        # The new snapshot is written, then the process dies before the old journal is deleted.
        stack.save_snapshot(state.snapshot, state.generation + 1)
        assert journal.journal_path(durable, state.generation).exists()
        mock, (state, restored) = _crash_and_restart(monkeypatch, mock, durable)
        assert restored == (1, 0)
        assert Session.get("s_1").seq == 1
        state.start()
        assert [p.name for p in durable.glob("journal-*.log")] == [f"journal-{state.generation}.log"]

        Session("s_1").update(actions=[Session.seq.add(1)])
        assert state.compact() == 1  # at a clean stop: folded into the snapshot, the journal starts empty
        assert journal.journal_path(durable, state.generation).stat().st_size == 0
        mock, (_, restored) = _crash_and_restart(monkeypatch, mock, durable)
        assert restored == (1, 0)
        assert Session.get("s_1").seq == 2
    finally:
        mock.stop()


def test_a_grown_journal_is_folded_into_the_snapshot_while_the_stack_runs(
        durable: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    mock = fresh_aws(monkeypatch)
    try:
        state = stack.DurableState(durable, max_journal_bytes=2_000)
        state.start()
        compaction = stack.compactor(state, interval=0.05)
        compaction.start()
        for n in range(20):
            Session(f"s_{n}", visitor_id="v_1", status="bot", seq=0, created_at=1, updated_at=1).save()
        deadline = time.monotonic() + 10
        while state.generation == 0:
            assert time.monotonic() < deadline, "never compacted"
            time.sleep(0.05)
        compaction.stop()
        Session("s_last", visitor_id="v_1", status="bot", seq=0, created_at=1, updated_at=1).save()
        mock, (_, restored) = _crash_and_restart(monkeypatch, mock, durable)
        assert restored is not None and restored[0] + restored[1] >= 21
        assert len(list(Session.scan())) == 21
    finally:
        mock.stop()


def test_a_torn_last_journal_line_is_the_one_unanswered_write(tmp_path: Path) -> None:
    path = tmp_path / "journal-1.log"
    log = journal.Journal(path)
    log.append("PutItem", '{"TableName": "t"}')
    log.close()
    with path.open("ab") as f:
        f.write(b'{"t": "UpdateItem", "b": "{\\"Tab')  # killed inside a write: no newline
    assert journal.read_journal(path) == [("PutItem", '{"TableName": "t"}')]
    # The next run cuts the torn half off before appending, so its first write is a line of its own.
    journal.drop_torn_tail(path)
    log = journal.Journal(path)
    log.append("DeleteItem", "{}")
    log.close()
    assert journal.read_journal(path) == [("PutItem", '{"TableName": "t"}'), ("DeleteItem", "{}")]


def test_a_journal_that_does_not_replay_stops_the_start(tmp_path: Path) -> None:
    path = tmp_path / "journal-1.log"
    log = journal.Journal(path)
    log.append("PutItem", "{}")
    log.append("UpdateItem", "{}")
    log.close()
    applied: list[str] = []

    def apply(operation: str, body: str) -> int:
        applied.append(operation)
        return 400
    with pytest.raises(RuntimeError, match="request 1 \\(PutItem\\) failed on replay with HTTP 400"):
        journal.replay(path, apply)
    assert applied == ["PutItem"]


def test_no_snapshot_loads_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    mock = fresh_aws(monkeypatch)
    try:
        assert stack.load_snapshot(tmp_path / "snapshot.json") is None
    finally:
        mock.stop()


def test_a_snapshot_survives_a_restart_without_stale_sockets_or_lost_deliveries(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, step: RecordingStep) -> None:
    """After a restart no socket is left: an unACKed message is kept for its recipient's resume, not resent
    into the void and failed."""
    monkeypatch.setenv("ACK_WAIT_SECONDS", "1")
    snapshot = tmp_path / "snapshot.json"
    now = time.time()

    mock = fresh_aws(monkeypatch)
    try:
        Connection("c_agent", user_id="alice", role="agent", connected_at=1, expires_at=expires(now + 3600)).save()
        Presence("alice", role="agent", conns={"c_agent"}, updated_at=1).save()
        Agent("alice", status="online", capacity=5, active=1, groups={"general"}, seq=3).save()
        GroupState("general", online_capacity=5, online_agents=1).save()
        Presence("v_1", role="visitor", conns={"c_visitor"}, session_id="s_1", updated_at=1).save()
        Message("s_1", "m#000000000001", seq=1, status="pending", sender_id="v_1").save()
        Message("s_1", "m#000000000002", seq=2, status="delivered", sender_id="v_1").save()
        Message("s_1", "c#v_1#old", expires_at=expires(now - 60)).save()
        Message("s_1", "c#v_1#new", expires_at=expires(now + 3600)).save()
        assert stack.save_snapshot(snapshot) == 9
    finally:
        mock.stop()
    assert not list(tmp_path.glob(".*.tmp"))
    assert json.loads(snapshot.read_text())["version"] == stack.SNAPSHOT_VERSION

    mock = fresh_aws(monkeypatch)
    try:
        assert stack.load_snapshot(snapshot) == (8, 0)  # the expired marker is gone, as DynamoDB's TTL would do
        sync_directory(stack.config_dir(), get_settings().config_path)
        stack.reset_live_state()
        assert list(Connection.scan()) == []
        alice, visitor = Presence.get("alice"), Presence.get("v_1")
        assert alice.conns == set()
        # Offline through routing: the group's counters follow; its open session stays with it.
        assert (Agent.get("alice").status, Agent.get("alice").active) == ("offline", 1)
        assert int(GroupState.get("general").online_capacity) == 0
        assert (visitor.conns, visitor.session_id) == (set(), "s_1")
        assert {m.sk for m in Message.query("s_1")} == {"m#000000000001", "m#000000000002", "c#v_1#new"}

        assert stack.store_pending_deliveries() == 1
        assert Message.get("s_1", "m#000000000001").status == "stored"
        assert Message.get("s_1", "m#000000000002").status == "delivered"
        time.sleep(1.5)  # past the 1 s ACK wait: no delivery timer was started to fail it
        assert step.calls == []
    finally:
        mock.stop()

"""The whole system in one process: moto as AWS (Step Functions engine on), tables and state machines
from the project's own definitions, the Chalice app behind the API Gateway emulator, and the pages.

State is kept in ``$LOCAL_STATE_DIR`` (default ``.local/``): a snapshot of every table written at
shutdown and loaded at start, the local identity provider's key, and the visitor token secret.
"""

from __future__ import annotations

import json
import os
import secrets
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
ACCOUNT = "123456789012"
MOTO_CONFIG: Any = {"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}}


def configure_environment(port: int, state_dir: Path) -> None:
    """Defaults for everything chalicelib reads; must run before chalicelib is imported."""
    state_dir.mkdir(parents=True, exist_ok=True)
    secret_file = state_dir / "visitor-token-secret"
    if not secret_file.exists():
        secret_file.write_text(secrets.token_urlsafe(48))
        secret_file.chmod(0o600)
    defaults = {
        "AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local",
        "STAGE": "local", "TABLE_PREFIX": "cs-local", "DEV_IDP_ENABLED": "1", "ACK_WAIT_SECONDS": "5",
        "WS_ENDPOINT": f"http://127.0.0.1:{port}/ws-api",
        "VISITOR_TOKEN_SECRET": secret_file.read_text().strip(),
    }
    for key, value in defaults.items():
        os.environ.setdefault(key, value)
    os.environ["LOCAL_STATE_DIR"] = str(state_dir)
    # Credentials from the developer's shell must never reach real AWS from here.
    for key in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        os.environ.pop(key, None)


def create_resources() -> dict[str, str]:
    """Every table from its model and every state machine from its ASL file; returns the ARNs."""
    from chalicelib.im.models import Message
    from chalicelib.platform import aws
    from chalicelib.platform.statemachines import STATE_MACHINES, render
    from chalicelib.platform.tables import ALL_MODELS

    for model in ALL_MODELS:
        if not model.exists():
            model.create_table(wait=True)
    region = os.environ["AWS_REGION"]
    substitutions = {
        "MessagesTable": Message.Meta.table_name,
        "DeliveryStepFunctionArn": f"arn:aws:lambda:{region}:{ACCOUNT}:function:delivery_step",
    }
    sfn = aws.client("stepfunctions")
    arns = {}
    for name in STATE_MACHINES:
        arns[name] = sfn.create_state_machine(
            name=f"cs-local-{name}", definition=render(name, substitutions), type="EXPRESS",
            roleArn=f"arn:aws:iam::{ACCOUNT}:role/cs-local-{name}",
        )["stateMachineArn"]
    return arns


def save_snapshot(path: Path) -> int:
    """Every item of every table, as DynamoDB JSON; written atomically."""
    from chalicelib.platform import aws
    from chalicelib.platform.tables import ALL_MODELS

    client = aws.client("dynamodb")
    tables: dict[str, list[dict[str, Any]]] = {}
    for model in ALL_MODELS:
        items: list[dict[str, Any]] = []
        for page in client.get_paginator("scan").paginate(TableName=model.Meta.table_name):
            items.extend(page["Items"])
        tables[model.Meta.table_name] = items
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"version": 1, "tables": tables}))
    tmp.replace(path)
    return sum(len(v) for v in tables.values())


def load_snapshot(path: Path) -> int:
    """Load a snapshot, then drop what could not survive: sockets are gone, and pending deliveries need
    a new timer so that each still ends delivered or reported failed."""
    if not path.exists():
        return 0
    from chalicelib.im.delivery import StepFunctionsTimer
    from chalicelib.im.models import Connection, Message, Presence
    from chalicelib.platform import aws

    data = json.loads(path.read_text())
    client = aws.client("dynamodb")
    count = 0
    for table, items in data["tables"].items():
        for start in range(0, len(items), 25):
            batch = [{"PutRequest": {"Item": item}} for item in items[start:start + 25]]
            client.batch_write_item(RequestItems={table: batch})
            count += len(batch)
    with Connection.batch_write() as batch_writer:
        for conn in Connection.scan():
            batch_writer.delete(conn)
    for presence in Presence.scan():
        actions: list[Any] = [Presence.conns.remove()]
        if presence.status:
            actions.append(Presence.status.set("offline"))
        presence.update(actions=actions)
    timer = StepFunctionsTimer()
    for msg in Message.scan(Message.status == "pending"):
        timer.start(msg.session_id, msg.sk, int(msg.seq or 0))
    return count


def import_app() -> ModuleType:
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    import app as app_module

    return app_module

"""Starts the delivery state machine that retries an unACKed message (infra/statemachines), and runs its
steps. The machine ends every message: delivered, or failed with the sender told; if this step's Lambda
keeps failing, the machine removes the pending message itself (the sender's resend then gets
``send_failed``)."""

from __future__ import annotations

import json
from typing import Any, Protocol

from chalicelib.platform import aws
from chalicelib.platform.observability import message_failed, message_retried
from chalicelib.settings import MAX_DELIVERY_ATTEMPTS, get_settings


class DeliveryTimer(Protocol):
    def start(self, session_id: str, sk: str, seq: int) -> None: ...


class DeliverySteps(Protocol):
    """What the machine's steps call (ImService: this module is below it, so it names only these)."""

    def resend(self, session_id: str, sk: str, attempt: int) -> int: ...

    def fail(self, session_id: str, sk: str) -> bool: ...


def execution_input(session_id: str, sk: str, first_wait_seconds: int, retry_wait_seconds: int) -> dict[str, Any]:
    """The delivery execution's input: the message, and the waits (from settings, so tests use short ones)."""
    return {"session_id": session_id, "sk": sk, "wait_seconds": first_wait_seconds,
            "retry_wait_seconds": retry_wait_seconds, "attempt": 1, "max_attempts": MAX_DELIVERY_ATTEMPTS}


def run_step(im: DeliverySteps, event: dict[str, Any]) -> dict[str, Any]:
    """One step of the machine: ``resend`` an unACKed message, or ``fail`` it (tell the sender)."""
    if event["op"] == "resend":
        attempt = int(event["attempt"])
        made = im.resend(event["session_id"], event["sk"], attempt)
        if made > attempt:  # not ACKed in the meantime: sent again
            message_retried()
        return {"attempt": made}
    if event["op"] == "fail":
        failed = im.fail(event["session_id"], event["sk"])
        if failed:
            message_failed()
        return {"failed": failed}
    raise ValueError(f"unknown delivery step {event['op']!r}")


class StepFunctionsTimer:
    """One execution per message: Wait -> read status -> resend or give up, three attempts in all."""

    def start(self, session_id: str, sk: str, seq: int) -> None:
        settings = get_settings()
        aws.client("stepfunctions").start_execution(
            stateMachineArn=settings.delivery_state_machine_arn,
            # One delivery per (session, seq): the name says which, and a repeated start of the same
            # delivery is refused instead of retrying it twice.
            name=f"{session_id}-{seq}",
            # The first wait is short: Express bills the execution's duration, and almost every ACK is back
            # within it. A later ACK only costs a duplicate post, which clients drop by message_id.
            input=json.dumps(execution_input(session_id, sk, settings.ack_first_wait_seconds,
                                             settings.ack_wait_seconds)),
        )

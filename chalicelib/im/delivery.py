"""Starts the delivery state machine that retries an unACKed message (infra/statemachines)."""

from __future__ import annotations

import json
from typing import Protocol

from chalicelib.platform import aws
from chalicelib.settings import MAX_DELIVERY_ATTEMPTS, get_settings


class DeliveryTimer(Protocol):
    def start(self, session_id: str, sk: str, seq: int) -> None: ...


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
            input=json.dumps({"session_id": session_id, "sk": sk, "wait_seconds": settings.ack_first_wait_seconds,
                              "retry_wait_seconds": settings.ack_wait_seconds, "attempt": 1,
                              "max_attempts": MAX_DELIVERY_ATTEMPTS}),
        )

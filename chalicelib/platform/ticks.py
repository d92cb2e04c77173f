"""The platform's clock: once a period (a minute on AWS, from the schedule), one Express execution of
infra/statemachines/clock.asl.json runs rounds of operations a few seconds apart. Each round sweeps every
shard of the sessions' due timers; some rounds also run the queue tick. So a peak's timers cost one start a
minute, not one execution per assigned session, and queue positions refresh every few seconds although
EventBridge's finest rate is a minute."""

from __future__ import annotations

import json
import math
from typing import Any

from chalicelib.platform import aws
from chalicelib.settings import get_settings

SWEEP = "sweep"
TICK = "tick"
DASHBOARD = "dashboard"
# An Express execution ends after 5 minutes: a clock covers at most this much, whatever the period asked.
MAX_SECONDS = 240


def rounds(period_seconds: int, round_seconds: int, tick_seconds: int, shards: int,
           sweepers: int | None = None) -> list[dict[str, Any]]:
    """The clock's input rounds: every round sweeps each shard (split between ``sweepers`` operations that run
    side by side; one per shard by default) and pushes the dashboard's changed groups; the first round, and one
    every ``tick_seconds`` after it, also ticks the queues."""
    count = max(1, min(period_seconds, MAX_SECONDS) // max(1, round_seconds))
    tick_every = max(1, math.ceil(tick_seconds / max(1, round_seconds)))
    workers = max(1, min(shards, sweepers or shards))
    sweeps = [{"op": SWEEP, "shards": list(range(shards))[w::workers]} for w in range(workers)]
    sweeps.append({"op": DASHBOARD})
    return [{"ops": ([{"op": TICK}] if i % tick_every == 0 else []) + sweeps, "wait_seconds": round_seconds}
            for i in range(count)]


def start(shards: int, name: str) -> dict[str, Any]:
    """Start this period's clock execution (``name`` says which period); returns its input."""
    settings = get_settings()
    state = {"rounds": rounds(settings.clock_period_seconds, settings.clock_round_seconds,
                              settings.clock_tick_seconds, shards, settings.clock_sweepers)}
    aws.client("stepfunctions").start_execution(stateMachineArn=settings.clock_state_machine_arn, name=name,
                                                input=json.dumps(state))
    return state

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from local.harness import Stack, run_stack


def roomy(documents: dict[str, Any]) -> None:
    """Agents take up to 20 chats: the tests sharing a stack never end their sessions."""
    documents["groups"]["agents"]["default_capacity"] = 20


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """One local stack per test file, with 1-second ACK waits so retries finish fast. Tests of a file use
    their own visitors and leave agents online; files do not share one, since several expect the demo agents
    to serve only their own chats (the console shows an agent's first chat)."""
    state: Path = tmp_path_factory.mktemp("state")
    with run_stack(state, ack_wait_seconds=1, config_edit=roomy) as running:
        yield running


@pytest.fixture(scope="module")
def patient_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """A stack with the production ACK wait (5 s): for bursts, where a recipient's ACKs queue behind
    its own sends on one connection and a 1-second wait would give up on live recipients."""
    state: Path = tmp_path_factory.mktemp("state")
    with run_stack(state, ack_wait_seconds=5, config_edit=roomy) as running:
        yield running

"""Makes moto's DynamoDB atomic per request, as DynamoDB is.

moto runs a request's read-modify-write in the calling thread with no lock, so two threads that
``ADD seq 1`` to one item at once can both read the old value and hand out the same sequence number,
and two conditional writes can both pass their condition. The local stack serves many handler
threads, so DynamoDB requests go through moto one at a time here. (They hold the GIL throughout
anyway, so this costs no throughput.)
"""

from __future__ import annotations

import threading
from typing import Any

from moto.core.botocore_stubber import BotocoreStubber

_lock = threading.RLock()
_original = BotocoreStubber.process_request


def _process_request(self: BotocoreStubber, request: Any) -> Any:
    if ".dynamodb." in request.url or "//dynamodb." in request.url:
        with _lock:
            return _original(self, request)
    return _original(self, request)


def install() -> None:
    BotocoreStubber.process_request = _process_request  # type: ignore[method-assign]


def uninstall() -> None:
    BotocoreStubber.process_request = _original  # type: ignore[method-assign]

"""Makes moto's DynamoDB atomic per request, as DynamoDB is.

moto runs a request's read-modify-write in the calling thread with no lock, so two threads that
``ADD seq 1`` to one item at once can both read the old value and hand out the same sequence number,
and two conditional writes can both pass their condition. The local stack serves many handler
threads, so DynamoDB requests go through moto one at a time here. (They hold the GIL throughout
anyway, so this costs no throughput.)

A *recorder* (the crash journal, ``local/journal.py``) sees every request with its status once moto has
answered and before the caller gets the answer; a DynamoDB request is recorded inside the same lock, so
the journal's order is the order the writes took effect in.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from moto.core.botocore_stubber import BotocoreStubber

# Held by every DynamoDB request; the snapshot takes it too, so no write falls between a snapshot and
# the journal that continues it.
lock = threading.RLock()
_original = BotocoreStubber.process_request
Recorder = Callable[[Any, int], None]  # (botocore AWSPreparedRequest, HTTP status)
_recorder: Recorder | None = None


def is_dynamodb(url: str) -> bool:
    return ".dynamodb." in url or "//dynamodb." in url


def _process_request(self: BotocoreStubber, request: Any) -> Any:
    if is_dynamodb(request.url):
        with lock:
            response = _original(self, request)
            if _recorder is not None and response is not None:
                _recorder(request, response[0])
            return response
    response = _original(self, request)
    if _recorder is not None and response is not None:
        _recorder(request, response[0])
    return response


def send_unrecorded(request: Any) -> Any:
    """Run a request through moto without the recorder (replaying the journal must not write it again)."""
    with lock:
        return _original(BotocoreStubber(), request)


def install(recorder: Recorder | None = None) -> None:
    global _recorder
    _recorder = recorder
    BotocoreStubber.process_request = _process_request  # type: ignore[method-assign]


def uninstall() -> None:
    global _recorder
    _recorder = None
    BotocoreStubber.process_request = _original  # type: ignore[method-assign]

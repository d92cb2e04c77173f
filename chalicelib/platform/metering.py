"""Counts every AWS API call made in this process, by ``service.Operation``.

Registered as a botocore builtin handler, so it sees the calls of every client created afterwards
(boto3's, pynamodb's and those of the local Step Functions engine alike). Benchmarks read it to
report AWS calls and dollars per message.
"""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

from botocore import handlers

_lock = threading.Lock()
_calls: Counter[str] = Counter()
_installed = False


def _count(model: Any = None, **_: Any) -> None:
    if model is None:
        return
    with _lock:
        _calls[f"{model.service_model.service_name}.{model.name}"] += 1


def install() -> None:
    """Start counting; call before any client is built."""
    global _installed
    if not _installed:
        handlers.BUILTIN_HANDLERS.append(("before-call", _count))
        _installed = True


def snapshot() -> dict[str, int]:
    with _lock:
        return dict(_calls)


def reset() -> None:
    with _lock:
        _calls.clear()

"""The local stack's asynchronous invoke (local/invoker.py): the function runs in its own thread and the caller
returns at once, as Lambda's InvocationType=Event does."""

from __future__ import annotations

import logging
import threading
from typing import Any

import pytest

from chalicelib.platform.invoke import InvokeFailed
from local.invoker import ThreadInvoker


def test_invoke_returns_before_the_function_ends_and_the_function_gets_the_event() -> None:
    release = threading.Event()
    seen: list[tuple[dict[str, Any], Any, str]] = []

    def job(event: dict[str, Any], context: Any) -> None:
        release.wait(5)
        seen.append((event, context, threading.current_thread().name))

    invoker = ThreadInvoker({"faq_reindex": job})
    invoker.invoke("faq_reindex", {"job_id": "j1"})
    assert seen == []  # still running, and the caller is back
    release.set()
    (thread,) = invoker.threads
    thread.join(5)
    assert seen == [({"job_id": "j1"}, None, "lambda-faq_reindex")]


def test_an_unknown_function_is_refused_as_lambda_refuses_it() -> None:
    with pytest.raises(InvokeFailed, match="no function 'nope'"):
        ThreadInvoker({"faq_reindex": lambda e, c: None}).invoke("nope", {})


def test_a_function_that_raises_is_logged_and_the_caller_is_not_told(caplog: pytest.LogCaptureFixture) -> None:
    def broken(event: dict[str, Any], context: Any) -> None:
        raise RuntimeError("boom")

    invoker = ThreadInvoker({"broken": broken})
    with caplog.at_level(logging.ERROR, logger="local.invoker"):
        invoker.invoke("broken", {})
        invoker.threads[0].join(5)
    assert "local Lambda broken failed" in caplog.text and "boom" in caplog.text

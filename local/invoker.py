"""Lambda's asynchronous invoke for the local stack: the app's function runs in a thread of its own.

On AWS ``chalicelib.platform.invoke.LambdaInvoker`` hands the event to Lambda, which runs the function in another
container and answers at once. moto's Lambda would need Docker to run Python, so here the same Chalice function
(``@bp.lambda_function``, called as Lambda calls it: ``handler(event, context)``) runs in a daemon thread of the
stack's process, and the caller returns at once as it does on AWS. An error is logged, as Lambda logs it; the
function records its own outcome (the reindex job's ``failed``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from typing import Any

from chalicelib.platform.invoke import InvokeFailed

LambdaHandler = Callable[[dict[str, Any], Any], Any]

log = logging.getLogger(__name__)


class ThreadInvoker:
    """Runs ``functions[name](event, None)`` in a new thread for each invoke; an unknown name is refused, as
    Lambda refuses a function that does not exist."""

    def __init__(self, functions: Mapping[str, LambdaHandler]) -> None:
        self._functions = dict(functions)
        self.threads: list[threading.Thread] = []  # every run started, for tests that wait for them

    def invoke(self, function: str, event: Mapping[str, Any]) -> None:
        handler = self._functions.get(function)
        if handler is None:
            raise InvokeFailed(f"no function {function!r} in this app (known: {sorted(self._functions)})")
        thread = threading.Thread(target=self._run, args=(function, handler, dict(event)), name=f"lambda-{function}",
                                  daemon=True)
        self.threads = [t for t in self.threads if t.is_alive()] + [thread]
        thread.start()

    @staticmethod
    def _run(function: str, handler: LambdaHandler, event: dict[str, Any]) -> None:
        try:
            handler(event, None)
        except Exception:  # the invocation's own failure: logged, the stack goes on, as a Lambda would
            log.exception("local Lambda %s failed", function)

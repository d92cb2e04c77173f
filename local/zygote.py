"""A fresh local stack prepared once and forked for each start (``python -m local.zygote``).

The end-to-end tests and the benchmarks start dozens of fresh stacks, and each one spent about 9 s of CPU
importing, creating the resources, importing the demo FAQs and building the knowledge base: the same work,
with the same result, every time. This process does that work once (``local.stack.prepare`` in a folder of
its own), starts no thread, then forks a child per request. A child takes the settings of its request, moves
the prepared state to its own folder (``DurableState.move_to``: the same snapshot and journal a fresh start
there would have written) and goes on exactly as ``python -m local`` does (``local.stack.serve``).

Requests are JSON lines on stdin: ``{"env": {...}, "output": <fifo>, "status": <file>}``. The child runs in a
session (and process group) of its own with stdout and stderr on ``output``, a FIFO the caller has opened for
reading; once it has ended, its exit code (negative: the signal) is written to ``status``. Each request is
answered with ``{"pid": n}`` on stdout. ``local/harness.py`` is the client.
"""

from __future__ import annotations

import json
import logging
import os
import random
import shutil
import signal
import sys
from pathlib import Path
from types import FrameType
from typing import Any

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # before numpy loads: see local/__main__.py

from local import stack

READY = "ZYGOTE READY"
_RESTARTED = "LOCAL_ZYGOTE_RESTARTED"
# Settings a fresh start derives from its port or its folder: each child's own, never the template's.
_PER_STACK = ("PORT", "WS_ENDPOINT", "LOCAL_STATE_DIR", "VISITOR_TOKEN_SECRET")

_status_files: dict[int, str] = {}


def _write_status(path: str, code: int) -> None:
    tmp = f"{path}.tmp"
    with open(tmp, "w") as f:
        f.write(str(code))
    os.replace(tmp, path)


def _reap(signum: int, frame: FrameType | None) -> None:
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        path = _status_files.pop(pid, None)
        if path is not None:
            _write_status(path, os.waitstatus_to_exitcode(status))


def _threads() -> int:
    return len(os.listdir("/proc/self/task"))


def _child(template_env: dict[str, str], request: dict[str, Any], out: int, prepared: stack.Prepared) -> None:
    """In the forked child: become the stack of ``request`` and serve; never returns."""
    code = 0
    try:
        os.setsid()  # a process group of its own, as the harness gives a stack it starts itself
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_SETMASK, set())
        os.set_blocking(out, True)
        os.dup2(out, 1)
        os.dup2(out, 2)
        os.close(out)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.close(null)
        random.seed()  # every child would otherwise draw the template's numbers
        env = {k: v for k, v in template_env.items() if k not in _PER_STACK}
        env.update(request["env"])
        os.environ.clear()
        os.environ.update(env)
        port = int(os.environ["PORT"])
        state_dir = Path(os.environ["LOCAL_STATE_DIR"]).resolve()
        signal.signal(signal.SIGTERM, stack._interrupt)
        stack.configure_environment(port, state_dir)
        from chalicelib.wiring import forget_settings

        forget_settings()  # what the template built from its own settings: read again from the child's
        prepared.state.move_to(state_dir)
        stack.serve(port, prepared)
    except KeyboardInterrupt:
        print("Interrupted.", file=sys.stderr, flush=True)
        code = 130
    except SystemExit as stop:
        code = 0 if stop.code is None else stop.code if isinstance(stop.code, int) else 1
    except BaseException:
        import traceback

        traceback.print_exc()
        code = 1
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    template_dir = Path(sys.argv[1]).resolve()
    started_env = dict(os.environ)
    stack.configure_environment(9, template_dir)  # a port nobody uses: each child names its own
    prepared = stack.prepare(template_dir)
    if _threads() != 1:  # forking a process with other threads would copy their locks, held, into children
        if started_env.get(_RESTARTED) == "1":
            print(f"cannot fork: {_threads()} threads after prepare", file=sys.stderr, flush=True)
            raise SystemExit(3)
        # A cold vector cache (a fresh clone): embedding the demo FAQs loaded the model and its thread pool.
        # Their vectors are on disk now, so the same start again loads no model; once, in a clean folder.
        shutil.rmtree(template_dir)
        sys.stdout.flush()
        sys.stderr.flush()
        os.execve(sys.executable, [sys.executable, "-m", "local.zygote", str(template_dir)],
                  {**started_env, _RESTARTED: "1"})
    template_env = dict(os.environ)
    signal.signal(signal.SIGCHLD, _reap)
    print(READY, flush=True)
    for line in sys.stdin:
        if not line.strip():
            continue
        request = json.loads(line)
        # Blocked until the child's status file is known, so a child that ends at once is still reported.
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGCHLD})
        try:
            sys.stdout.flush()
            sys.stderr.flush()
            # Opened here, so the caller's reader has a writer before it is answered (its reading end is open,
            # so this does not block).
            out = os.open(request["output"], os.O_WRONLY | os.O_NONBLOCK)
            pid = os.fork()
            if pid == 0:
                _child(template_env, request, out, prepared)
            os.close(out)
            _status_files[pid] = request["status"]
        finally:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGCHLD})
        print(json.dumps({"pid": pid}), flush=True)


if __name__ == "__main__":
    main()

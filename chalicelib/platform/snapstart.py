"""Lambda SnapStart's runtime hooks, where the runtime has them.

A SnapStart function is initialised once, when a version is published; Lambda snapshots that memory and resumes
every new execution environment from it, maybe hours later. What init left behind must be fit to be shared and
to wake up late: open connections (the peer forgot them), cached credentials (they expire), random state (every
environment would draw the same numbers). The Lambda Python runtime (3.12 and later) ships
``snapshot_restore_py``; elsewhere (tests, the local stack, a function without SnapStart) there is nothing to
register with and nothing is ever restored.
"""

from __future__ import annotations

from collections.abc import Callable

Register = Callable[[Callable[[], None]], object]


def runtime_after_restore() -> Register | None:
    """The runtime's ``register_after_restore``, or None outside the Lambda Python runtime."""
    try:
        from snapshot_restore_py import register_after_restore  # type: ignore[import-not-found]
    except ImportError:
        return None
    hook: Register = register_after_restore
    return hook


def after_restore(hook: Callable[[], None], register: Register | None = None) -> bool:
    """Run ``hook`` each time this environment resumes from a snapshot; False when nothing can (no runtime
    hooks here: then the process was initialised in place and nothing needs refreshing)."""
    register = register or runtime_after_restore()
    if register is None:
        return False
    register(hook)
    return True

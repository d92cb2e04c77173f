"""What a Lambda container does at init so that a visitor's first message finds it ready.

The functions that embed text (``EMBEDDING_HANDLERS``) load onnxruntime and the embedding model, restore the FAQ
classifier from its snapshot (or fit and save it when there is none) and run one scoring pass at init: under
SnapStart that happens once, when a version is published, and every container resumes from the result. The other
functions ($connect, $disconnect, the state machines' steps) never embed and pay none of it.

Init never fails for it: a step that fails is logged and what it did not load is loaded on first use, as before.
After a SnapStart restore, ``refresh_after_restore`` drops what must not be shared between containers or kept
from publish time (see chalicelib/platform/snapstart.py).
"""

from __future__ import annotations

import importlib
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from chalicelib.faq.kb import KnowledgeBase
from chalicelib.platform import aws
from chalicelib.platform.observability import logger
from chalicelib.platform.snapstart import Register, after_restore
from chalicelib.settings import Settings, get_settings
from chalicelib.tables import ALL_MODELS
from chalicelib.wiring import knowledge_base

# Lambda's _HANDLER of each function that embeds, with why. Chalice's handler names are fixed by app.py; the
# function names CloudFormation generates (<stack>-WebsocketMessage-<suffix>) are not, so they are not matched.
EMBEDDING_HANDLERS = {
    "app.ws_message": "$default: the robot answers visitors and the agents get FAQ suggestions",
    "app.app": "the REST API: FAQ edits embed their texts, /robot/try ranks",
}


def embeds(settings: Settings) -> bool:
    """Whether this process is a Lambda function that embeds text."""
    return bool(settings.lambda_function_name) and settings.lambda_handler in EMBEDDING_HANDLERS


@dataclass(frozen=True)
class Warmed:
    """What the init warm-up did: each step's milliseconds, where the classifier came from, the step that failed."""

    steps_ms: dict[str, float] = field(default_factory=dict)
    classifier: str = "none"
    failed: str | None = None


def warm(kb: KnowledgeBase, *, learn: bool = True) -> Warmed:
    """Load the model, build the matcher (its classifier from the snapshot; with ``learn``, fitted and saved when
    there is none) and run one scoring pass. A failing step is logged and ends the warm-up: what it did not load
    is loaded on first use."""
    steps: dict[str, float] = {}
    classifier = "none"

    def step(name: str, work: Callable[[], object]) -> object:
        began = time.perf_counter()
        try:
            return work()
        finally:
            steps[name] = round((time.perf_counter() - began) * 1000, 1)

    load = getattr(kb.embedder, "load", None)
    current = "onnxruntime_import_ms"
    try:
        if kb.embedder is not None:
            step(current, lambda: importlib.import_module("onnxruntime"))
            if callable(load):
                current = "embedding_model_load_ms"
                step(current, load)
        current = "classifier_ms"
        classifier = str(step(current, lambda: kb.prepare(learn=learn)))
        current = "warm_up_ms"
        step(current, lambda: kb.matcher().warm_up())
    except Exception as e:  # init must not fail: the request path loads what is missing
        logger.warning("cold start: warm-up failed; loading on first use instead",
                       extra={"step": current, "error": repr(e), "steps_ms": steps})
        return Warmed(steps, classifier, current)
    return Warmed(steps, classifier)


def refresh_after_restore(kb: KnowledgeBase) -> None:
    """After a SnapStart restore: new random state, no connection or credentials kept from publish time (the AWS
    clients, pynamodb's table connections, the search backend's), and a look for a newer classifier snapshot."""
    random.seed()  # else every container resumed from one snapshot draws the same jitter
    aws.reset_clients()
    for model in ALL_MODELS:
        model._connection = None  # pynamodb builds it again, with a new session, on next use
    kb.after_restore()


def at_init(settings: Settings | None = None, kb: Callable[[], KnowledgeBase] = knowledge_base,
            register: Register | None = None) -> Warmed | None:
    """Warm up if this is a Lambda function that embeds (None otherwise), and have a SnapStart restore refresh
    what init left. Never raises."""
    settings = settings or get_settings()
    if not embeds(settings):
        return None
    try:
        knowledge = kb()
    except Exception as e:  # e.g. a bad SEARCH_BACKEND: the first request reports it
        logger.warning("cold start: no knowledge base to warm", extra={"error": repr(e)})
        return Warmed(failed="knowledge_base")
    warmed = warm(knowledge)
    after_restore(lambda: refresh_after_restore(knowledge), register)
    logger.info("cold start: FAQ matcher warmed at init", extra={
        "handler": settings.lambda_handler, "classifier": warmed.classifier, "steps_ms": warmed.steps_ms,
        "failed": warmed.failed})
    return warmed

"""The steps of a message's delivery state machine."""

from __future__ import annotations

from typing import Any

from chalice.app import Blueprint

from chalicelib.im import delivery
from chalicelib.wiring import services

bp = Blueprint(__name__)


@bp.lambda_function(name="delivery_step")
def delivery_step(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """A step of the delivery state machine: resend an unACKed message, or give up on it."""
    return delivery.run_step(services().im, event)

"""Liveness: what a load balancer, a deploy check or an operator asks first."""

from __future__ import annotations

from typing import Any

from chalicelib.config.store import config_store
from chalicelib.edge import routes
from chalicelib.settings import get_settings

bp = routes(__name__)


@bp.route("/health", methods=["GET"])
def health() -> dict[str, Any]:
    """Also which configuration this container runs on and since when (``config``: read, never fetched here),
    so an operator can tell whether an edit pushed with ``make config-push`` is in force yet."""
    return {"ok": True, "stage": get_settings().stage, "config": config_store().status()}

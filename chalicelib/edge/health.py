"""Liveness: what a load balancer, a deploy check or an operator asks first."""

from __future__ import annotations

from typing import Any

from chalicelib.edge import routes
from chalicelib.settings import get_settings

bp = routes(__name__)


@bp.route("/health", methods=["GET"])
def health() -> dict[str, Any]:
    return {"ok": True, "stage": get_settings().stage}

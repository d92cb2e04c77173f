"""The supervisors' dashboard, left messages, and the minute's queue tick."""

from __future__ import annotations

from typing import Any

from chalice.app import CloudWatchEvent, Rate

from chalicelib.auth.guard import STAFF, SUPERVISORS, requires
from chalicelib.edge import routes
from chalicelib.platform.http import int_param
from chalicelib.routing.access import visible_groups
from chalicelib.routing.service import left_message_json
from chalicelib.wiring import services

bp = routes(__name__)


@bp.route("/dashboard", methods=["GET"])
def dashboard() -> Any:
    requires(bp.current_request, SUPERVISORS, "the dashboard is for supervisors and admins")
    return services().dashboard.snapshot()


@bp.route("/left-messages", methods=["GET"])
def left_messages() -> Any:
    """Messages left in the caller's groups (all groups for supervisors and admins), newest first."""
    request = bp.current_request
    who = requires(request, STAFF, "left messages are for staff")
    svc = services()
    limit = int_param(request.query_params, "limit", 50, 1, 200)
    groups = visible_groups(svc.config(), who)
    return {"left_messages": [left_message_json(m) for m in svc.routing.left_messages(groups, limit)]}


@bp.schedule(Rate(1, unit=Rate.MINUTES), name="queue_tick")
def queue_tick(event: CloudWatchEvent) -> dict[str, int]:
    """Every minute: queue-timeout offers, fresh wait estimates, dashboard pushes and metrics, and the
    lifecycle timers whose start failed."""
    svc = services()
    return {**svc.routing.tick(), "timers_repaired": svc.lifecycle.repair_timers()}

"""The supervisors' dashboard, left messages, and the minute's queue tick."""

from __future__ import annotations

import uuid
from typing import Any

from chalice.app import CloudWatchEvent, Rate

from chalicelib.auth.guard import STAFF, SUPERVISORS, requires
from chalicelib.edge import routes
from chalicelib.platform import ticks
from chalicelib.platform.http import int_param
from chalicelib.routing.access import visible_groups
from chalicelib.routing.service import left_message_json
from chalicelib.routing.targets import transfer_targets
from chalicelib.sessions.models import TIMER_SHARDS
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


@bp.route("/transfer-targets", methods=["GET"])
def transfer_targets_list() -> Any:
    """The groups and the colleagues with a free slot that the caller may transfer a chat to."""
    who = requires(bp.current_request, STAFF, "transfers are for staff")
    return transfer_targets(services().config(), who)


@bp.schedule(Rate(1, unit=Rate.MINUTES), name="queue_tick")
def queue_tick(event: CloudWatchEvent) -> dict[str, Any]:
    """Every minute: start the minute's clock (chalicelib/platform/ticks.py), which runs the queue tick and
    sweeps the sessions' timers every few seconds."""
    # Named after the minute, for the console's list. A schedule event delivered twice starts two clocks for
    # the minute: harmless, as a sweep or tick run twice changes nothing the first did not.
    name = f"clock-{event.time.replace(':', '-')}-{uuid.uuid4().hex[:6]}"
    return {"rounds": len(ticks.start(TIMER_SHARDS, name)["rounds"])}


@bp.lambda_function(name="clock_step")
def clock_step(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """One operation of the clock: the queue tick (queue timeouts, fresh places and estimates, drains, the
    dashboard's snapshot and its metrics), a sweep of some shards of the sessions' due timers, or the dashboard's
    changed groups."""
    svc = services()
    if event.get("op") == ticks.TICK:
        return {"op": ticks.TICK, **svc.routing.tick()}
    if event.get("op") == ticks.SWEEP:
        return {"op": ticks.SWEEP, "woken": sum(svc.lifecycle.sweep(int(k)) for k in event["shards"])}
    if event.get("op") == ticks.DASHBOARD:
        return {"op": ticks.DASHBOARD, "pushed": svc.dashboard.push_changes()}
    raise ValueError(f"unknown clock operation {event.get('op')!r}")

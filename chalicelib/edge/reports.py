"""Reports over time (REST), and the consumer of the sessions table's stream that keeps their aggregates."""

from __future__ import annotations

from typing import Any

from chalicelib.auth.guard import STAFF, requires
from chalicelib.edge import routes
from chalicelib.platform.http import parse_body
from chalicelib.reports.schemas import ReportQuery
from chalicelib.wiring import services

bp = routes(__name__)


@bp.route("/reports", methods=["GET"])
def report() -> Any:
    """Figures per hour or day over a date range: an agent's own, a supervisor's groups', an admin's any."""
    request = bp.current_request
    who = requires(request, STAFF, "reports are for staff")
    query = parse_body(ReportQuery, dict(request.query_params or {}))
    return services().reports.report(who, query)


@bp.lambda_function(name="sessions_stream")
def sessions_stream(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """A batch of the sessions table's stream (a tumbling window's call): every registered consumer gets it; the
    answer carries the window's state to the next call."""
    return services().session_stream.handle(event)

"""CORS for the REST API: only the origins listed in ``CORS_ORIGINS`` may call it from a browser, and each is
answered with its own origin, never ``*``.

The pages call the API on their own origin (CloudFront, or the local gateway, serves both), which needs no CORS.
Chalice's ``cors=`` takes one fixed origin and API Gateway answers its preflights without the function; here the
function answers them (an ``OPTIONS`` route per path), so any number of origins work and the list is read at
request time like every other setting.
"""

from __future__ import annotations

from collections.abc import Callable

from chalice.app import Chalice, Request, Response

from chalicelib.settings import get_settings

# What the pages and a shop's own pages send: a bearer token, JSON bodies, and a key that makes a retry safe.
ALLOW_HEADERS = "Authorization,Content-Type,Idempotency-Key"
MAX_AGE_SECONDS = 600  # how long a browser may reuse a preflight answer


def allowed_origin(request: Request | None) -> str | None:
    """The request's ``Origin`` if it is one of the configured origins, else None."""
    if request is None:
        return None
    origin = (request.headers.get("origin") or "").lower()
    return origin if origin and origin in get_settings().cors_origins else None


def _preflight(app: Chalice, methods: str) -> Callable[..., Response]:
    def preflight(**_: str) -> Response:
        if allowed_origin(app.current_request) is None:
            # The API's error shape (chalicelib/platform/http.py).
            return Response(status_code=403, headers={"Content-Type": "application/json"}, body={"error": {
                "code": "origin_not_allowed", "message": "this origin may not call the API from a browser"}})
        return Response(body="", status_code=204, headers={
            "Access-Control-Allow-Methods": methods, "Access-Control-Allow-Headers": ALLOW_HEADERS,
            "Access-Control-Max-Age": str(MAX_AGE_SECONDS)})

    return preflight


def install(app: Chalice) -> None:
    """Answers preflights on every path declared so far and adds the CORS headers to every answer to a
    configured origin. Call once, after the last route. A route's own ``cors=`` is dropped: Chalice's would
    answer every origin with ``*`` (or one fixed origin) and make API Gateway answer its preflights."""
    for path, entries in list(app.routes.items()):
        if "OPTIONS" in entries:
            continue
        for entry in entries.values():
            entry.cors = None  # type: ignore[assignment]  # Chalice's own "no CORS"
        app.route(path, methods=["OPTIONS"])(_preflight(app, ",".join([*sorted(entries), "OPTIONS"])))

    def add_cors_headers(request: Request, get_response: Callable[[Request], Response]) -> Response:
        response = get_response(request)
        origin = allowed_origin(request)
        if origin is not None:
            response.headers["Access-Control-Allow-Origin"] = origin
        if get_settings().cors_origins:
            # The answer differs by Origin: caches must keep them apart.
            response.headers["Vary"] = "Origin"
        return response

    app.register_middleware(add_cors_headers, "http")

"""The REST edge's plumbing: one error shape for every route, JSON bodies read into typed models, query
parameters and the headers every route may carry.

Chalice catches a view's exceptions itself and answers 500 before any middleware sees them; only a
``ChaliceUnhandledError`` goes through. So :class:`Routes` (a Blueprint) lets a view's refusals out as
:class:`Refused`, and :func:`error_middleware` turns them into ``{"error": {...}}`` with their status, once
for the whole API. Anything else still gets Chalice's own 500, with the stack trace in the log only.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Callable, Mapping
from functools import wraps
from typing import Any, TypeVar

from chalice.app import Blueprint, ChaliceUnhandledError, Request, Response
from pydantic import BaseModel

from chalicelib.platform.errors import DomainError
from chalicelib.platform.idempotency import KEY_PATTERN, InProgress, KeyReused
from chalicelib.platform.quota import Limit, Quota, RateLimited

F = TypeVar("F", bound=Callable[..., Any])
M = TypeVar("M", bound=BaseModel)

_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
# Refusals a view may raise besides DomainError: the shared limits and idempotency keys of platform/.
_REFUSALS: tuple[type[Exception], ...] = (DomainError, RateLimited, KeyReused, InProgress)


class BadRequest(DomainError):
    """A body, query parameter or header the API cannot take: 400 ``invalid_body``, naming the field."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__("invalid_body", message, field=field, status=400)


class Refused(ChaliceUnhandledError):
    """Carries a view's refusal past Chalice's own error handling to :func:`error_middleware`."""

    def __init__(self, cause: Exception) -> None:
        super().__init__(str(cause))
        self.cause = cause


def error_response(status: int, code: str, message: str, **details: Any) -> Response:
    body = {"error": {"code": code, "message": message, **{k: v for k, v in details.items() if v is not None}}}
    return Response(body=body, status_code=status, headers={"Content-Type": "application/json"})


def refusal_response(err: Exception) -> Response | None:
    """The API's answer to a refusal, or None for an exception that is not one."""
    if isinstance(err, DomainError):
        return Response(body={"error": err.body()}, status_code=err.status,
                        headers={"Content-Type": "application/json"})
    if isinstance(err, RateLimited):
        response = error_response(429, "rate_limited", err.message, retry_after_ms=err.retry_after_ms)
        response.headers["Retry-After"] = str(-(-err.retry_after_ms // 1000))  # whole seconds, rounded up
        return response
    if isinstance(err, KeyReused):
        return error_response(422, "idempotency_key_reused", str(err), field="Idempotency-Key")
    if isinstance(err, InProgress):
        return error_response(409, "request_in_progress", str(err), field="Idempotency-Key")
    return None


class Routes(Blueprint):
    """A Blueprint whose routes' refusals reach :func:`error_middleware` (see the module's docstring).

    ``also`` names further refusal types (a domain error not yet a DomainError), mapped by ``translate``
    of the middleware that the app registers."""

    def __init__(self, import_name: str, also: tuple[type[Exception], ...] = ()) -> None:
        super().__init__(import_name)
        self._refusals = _REFUSALS + also

    def route(self, path: str, **kwargs: Any) -> Callable[..., Any]:
        register = super().route(path, **kwargs)
        refusals = self._refusals

        def decorator(view: F) -> F:
            @wraps(view)
            def surfaced(*args: Any, **kw: Any) -> Any:
                try:
                    return view(*args, **kw)
                except refusals as err:
                    raise Refused(err) from err

            register(surfaced)
            return view

        return decorator


def error_middleware(translate: Callable[[Exception], DomainError | None] = lambda err: None
                     ) -> Callable[[Request, Callable[[Request], Response]], Response]:
    """The ``http`` middleware answering every refusal in the API's error shape. ``translate`` turns a
    refusal that is not a DomainError into one (None: not a refusal after all, re-raised)."""

    def api_errors(request: Request, get_response: Callable[[Request], Response]) -> Response:
        try:
            return get_response(request)
        except Refused as refused:
            response = refusal_response(refused.cause)
            if response is None:
                translated = translate(refused.cause)
                if translated is None:
                    raise refused.cause from None
                response = refusal_response(translated)
            assert response is not None
            return response

    return api_errors


# -- reading requests -----------------------------------------------------------------------------

def idempotency_key(request: Request) -> str | None:
    """The request's ``Idempotency-Key`` header (1 to 64 letters, digits or ``_ . : -``), or None."""
    raw = request.headers.get("idempotency-key")
    if raw is None:
        return None
    if not isinstance(raw, str) or not KEY_PATTERN.fullmatch(raw):
        raise BadRequest("the Idempotency-Key header must be 1 to 64 letters, digits or _ . : -", "Idempotency-Key")
    key: str = raw
    return key


def client_address(request: Request) -> str:
    """The address the caller connected from, as API Gateway saw it (``sourceIp``: the TCP peer, not a
    header a client could set)."""
    identity = (request.context or {}).get("identity") or {}
    return str(identity.get("sourceIp") or "unknown")


def limit_address(request: Request, limit: Limit, quota: Quota) -> None:
    """Count the call against ``limit`` for the caller's address (RateLimited over it). Loopback addresses
    are not counted: on AWS API Gateway never gives one, and locally every client (tests, benchmarks) is one."""
    address = client_address(request)
    try:
        if ipaddress.ip_address(address).is_loopback:
            return
    except ValueError:
        pass  # not an address ("unknown"): counted as one
    quota.take(limit, address)


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def json_body(request: Request) -> dict[str, Any]:
    raw = request.raw_body
    if not raw:
        return {}
    try:
        # NaN and Infinity are not JSON (nor DynamoDB numbers); Python's decoder takes them unless told.
        body = json.loads(raw, parse_constant=_refuse_constant)
    except (ValueError, RecursionError):
        raise BadRequest("the body is not valid JSON") from None
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object")
    # An unpaired surrogate escape ("\ud800") decodes to text that DynamoDB refuses and no UTF-8 reply can carry.
    if _SURROGATE_ESCAPE.search(raw if isinstance(raw, bytes) else raw.encode("utf-8", "surrogatepass")):
        try:
            json.dumps(body, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            raise BadRequest("the body holds an unpaired surrogate escape (\\ud800 to \\udfff)") from None
    return body


def int_param(params: Mapping[str, str] | None, key: str, default: int, low: int, high: int) -> int:
    raw = (params or {}).get(key)
    if raw is None:
        return default
    if not re.fullmatch(r"\d{1,12}", raw) or not low <= int(raw) <= high:
        raise BadRequest(f"'{key}' must be an integer from {low} to {high}", key)
    return int(raw)


def only_fields(body: dict[str, Any], allowed: set[str]) -> None:
    extra = sorted(set(body) - allowed)
    if extra:
        raise BadRequest(f"'{extra[0]}' is not a known field", extra[0])


def text_field(body: dict[str, Any], key: str, *, required: bool = False, max_len: int = 120,
               pattern: str | None = None, choices: tuple[str, ...] | None = None) -> str | None:
    value = body.get(key)
    if value is None:
        if required:
            raise BadRequest(f"'{key}' is required", key)
        return None
    if not isinstance(value, str) or (required and not value.strip()):
        raise BadRequest(f"'{key}' must be a non-empty string", key)
    if len(value) > max_len:
        raise BadRequest(f"'{key}' may be at most {max_len} characters", key)
    if choices is not None and value not in choices:
        raise BadRequest(f"'{key}' must be one of {', '.join(choices)}", key)
    if pattern is not None and not re.fullmatch(pattern, value):
        raise BadRequest(f"'{key}' has an invalid format", key)
    return value


def required_text(body: dict[str, Any], key: str, *, max_len: int = 120,
                  choices: tuple[str, ...] | None = None) -> str:
    value = text_field(body, key, required=True, max_len=max_len, choices=choices)
    assert value is not None  # text_field raised otherwise
    return value

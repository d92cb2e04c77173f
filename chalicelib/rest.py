"""REST plumbing: bearer-token identity, body validation and one error shape for every route."""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Callable, Mapping
from functools import wraps
from typing import Any, TypeVar

from chalice.app import Request, Response

from chalicelib.auth.errors import AuthError
from chalicelib.auth.identity import Identity
from chalicelib.auth.tokens import authenticate, default_key_source
from chalicelib.commerce.model import CommerceError
from chalicelib.faq.store import FaqError
from chalicelib.im.errors import ImError
from chalicelib.media.uploads import MediaError
from chalicelib.platform.idempotency import KEY_PATTERN, InProgress, KeyReused
from chalicelib.platform.quota import Limit, Quota, RateLimited
from chalicelib.tickets.errors import TicketError

F = TypeVar("F", bound=Callable[..., Any])

_STATUS = {"invalid_body": 400, "invalid_frame": 400, "unauthorized": 401, "forbidden": 403,
           "not_found": 404, "unknown_message": 404, "session_closed": 409, "no_agent": 409,
           "conflict": 409}
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
# Anonymous visitor tokens per client address: each is a new visitor with its own allowances, so this bounds
# what one address can do with them. Generous, since many phones share a carrier's address (NAT).
VISITOR_TOKENS = Limit("visitor_token", 120, 600, "visitor tokens from one address")
_AUTH_STATUS = {"bad_credentials": 401, "missing_token": 401, "invalid_token": 401, "expired_token": 401}


class BadRequest(Exception):
    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


def error_response(status: int, code: str, message: str, **details: Any) -> Response:
    body = {"error": {"code": code, "message": message, **{k: v for k, v in details.items() if v is not None}}}
    return Response(body=body, status_code=status, headers={"Content-Type": "application/json"})


def api_errors(func: F) -> F:
    """Turn domain errors into the API's error shape; nothing unexpected leaks a stack trace."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except BadRequest as err:
            return error_response(400, "invalid_body", err.message, field=err.field)
        except AuthError as err:
            return error_response(_AUTH_STATUS.get(err.code, 401), err.code, err.message)
        except ImError as err:
            return error_response(err.status, err.code, err.message, field=err.field, **err.details)
        except FaqError as err:
            return error_response(_STATUS.get(err.code, 400), err.code, err.message, field=err.field, **err.details)
        except TicketError as err:
            return error_response(err.status, err.code, err.message, field=err.field, **err.details)
        except CommerceError as err:
            return error_response(err.status, err.code, err.message)
        except MediaError as err:
            return error_response(err.status, err.code, err.message)
        except RateLimited as err:
            response = error_response(429, "rate_limited", err.message, retry_after_ms=err.retry_after_ms)
            response.headers["Retry-After"] = str(-(-err.retry_after_ms // 1000))  # whole seconds, rounded up
            return response
        except KeyReused as err:
            return error_response(422, "idempotency_key_reused", str(err), field="Idempotency-Key")
        except InProgress as err:
            return error_response(409, "request_in_progress", str(err), field="Idempotency-Key")

    return wrapper  # type: ignore[return-value]


def caller(request: Request) -> Identity:
    header = request.headers.get("authorization") or ""
    token = header[7:].strip() if header.lower().startswith("bearer ") else None
    return authenticate(token, default_key_source())


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


def int_param(params: Mapping[str, str] | None, key: str, default: int, low: int, high: int) -> int:
    raw = (params or {}).get(key)
    if raw is None:
        return default
    if not re.fullmatch(r"\d{1,12}", raw) or not low <= int(raw) <= high:
        raise BadRequest(f"'{key}' must be an integer from {low} to {high}", key)
    return int(raw)

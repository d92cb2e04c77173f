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
from dataclasses import dataclass
from functools import wraps
from typing import Annotated, Any, ClassVar, Literal, TypeVar, Union, get_args, get_origin

from aws_lambda_powertools.utilities.parser import parse
from chalice.app import Blueprint, ChaliceUnhandledError, Request, Response
from pydantic import BaseModel, ConfigDict, StringConstraints, ValidationError
from pydantic.fields import FieldInfo

from chalicelib.platform.errors import DomainError
from chalicelib.platform.idempotency import KEY_PATTERN, InProgress, KeyReused
from chalicelib.platform.quota import Limit, Quota, RateLimited

F = TypeVar("F", bound=Callable[..., Any])
M = TypeVar("M", bound="Body")

_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
# Refusals a view may raise besides DomainError: the shared limits and idempotency keys of platform/.
_REFUSALS: tuple[type[Exception], ...] = (DomainError, RateLimited, KeyReused, InProgress)


class BadRequest(DomainError):
    """A body, query parameter or header the API cannot take: 400 ``invalid_body``, naming the field."""

    def __init__(self, message: str, field: str | None = None, errors: list[dict[str, Any]] | None = None) -> None:
        # ``errors``: every field at fault, ``[{field, message, code, limit?}]``, so a form can mark them all at
        # once, in its own language.
        super().__init__("invalid_body", message, field=field, status=400, errors=errors)


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
    """A Blueprint whose routes' refusals reach :func:`error_middleware` (see the module's docstring)."""

    def route(self, path: str, **kwargs: Any) -> Callable[..., Any]:
        register = super().route(path, **kwargs)
        refusals = _REFUSALS

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


def error_middleware() -> Callable[[Request, Callable[[Request], Response]], Response]:
    """The ``http`` middleware answering every refusal in the API's error shape."""

    def api_errors(request: Request, get_response: Callable[[Request], Response]) -> Response:
        try:
            return get_response(request)
        except Refused as refused:
            response = refusal_response(refused.cause)
            if response is None:  # not a refusal after all
                raise refused.cause from None
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



# -- typed bodies ---------------------------------------------------------------------------------

class FieldRefusal(ValueError):
    """A model's rule refusing a part of its field (``greeting.zh-CN``): ``field`` names that part from the field's
    own name on, ``message`` says why in full. A refusal names the part instead of the whole field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


class Missing(ValueError):
    """A model's rule saying its field is required here (the refusal's code is ``required``, not ``rule``)."""


class Body(BaseModel):
    """A REST request body (or a query string): unknown fields refused, types strict (no "1" for 1, no true
    for 1). Its JSON Schema is what docs/openapi.yaml documents (tests/functional/test_openapi_models.py).

    A refusal names the field (a list's item as ``field[i]``) and says why in the API's words; ``MESSAGES``
    replaces them for a field (key ``"field"``) or for one kind of refusal of it (``"field:required"``,
    ``"field:invalid"``). A model's own rule raises ``ValueError`` with the predicate alone ("is reserved"):
    the refusal puts the field's name before it."""

    model_config = ConfigDict(extra="forbid", strict=True)
    MESSAGES: ClassVar[dict[str, str]] = {}


def parse_body(model: type[M], body: Mapping[str, Any]) -> M:
    """``body`` as ``model`` (Powertools Parser), or BadRequest naming the first field at fault (an unknown
    field first, the first by name, then the fields in the model's order) and listing every one in ``errors``."""
    try:
        parsed: M = parse(event=dict(body), model=model)
    except ValidationError as err:
        raise _refusal(model, err) from None
    return parsed


def _refusal(model: type[Body], err: ValidationError) -> BadRequest:
    errors = err.errors()
    # The body's own unknown fields before a nested object's, as the API has always named them.
    extra = sorted((len(e["loc"]), _key(e["loc"])) for e in errors if e["type"] == "extra_forbidden")
    faults = [Fault(unknown, f"'{unknown}' is not a known field", "unknown") for _, unknown in extra]
    faults += [_explain(model, e) for e in errors if e["type"] != "extra_forbidden"]
    listed: dict[str, Fault] = {}
    for fault in faults:
        listed.setdefault(fault.field, fault)  # one per field: the first, as the field alone would get
    first = faults[0]
    return BadRequest(first.message, first.field, [f.entry() for f in listed.values()])


@dataclass(frozen=True)
class Fault:
    """One field's refusal: the field as the API names it, why in the API's words, and the kind of refusal as a
    code (with its limit), so a page or an app can say it in its user's language (docs/openapi.yaml, Error)."""

    field: str
    message: str
    code: str  # required, blank, invalid, too_long, too_many, choice, format, unknown, or rule (a model's own)
    limit: int | None = None

    def entry(self) -> dict[str, Any]:
        out: dict[str, Any] = {"field": self.field, "message": self.message, "code": self.code}
        if self.limit is not None:
            out["limit"] = self.limit
        return out


def _explain(model: type[Body], error: Any) -> Fault:
    """The field a pydantic error is about, as the API names it, and why it is refused in the API's words."""
    key = _key(error["loc"])
    owner, info = _field(model, error["loc"])
    kind, generic, limit = _generic(key, error, info)
    name = str(error["loc"][-1])
    part = (error.get("ctx") or {}).get("error")
    if isinstance(part, FieldRefusal) and error.get("input") is not None:
        return Fault(key[:len(key) - len(name)] + part.field, part.message, "rule")
    message = owner.MESSAGES.get(f"{name}:{kind}") or owner.MESSAGES.get(name) or generic
    value = error.get("input")
    # An empty or blank text is "invalid" for MESSAGES (as it always was) but its own code for a client.
    code = "blank" if kind == "invalid" and isinstance(value, str) and not value.strip() else kind
    return Fault(key, message.replace(f"'{name}'", f"'{key}'"), code, limit)


def _key(loc: tuple[int | str, ...]) -> str:
    """The field at ``loc`` as the API names it: ``customer.id``, ``similar[1]``, ``synonyms[0][1]``."""
    return "".join(f"[{part}]" if isinstance(part, int) else f".{part}" if i else part for i, part in enumerate(loc))


def _field(model: type[Body], loc: tuple[int | str, ...]) -> tuple[type[Body], FieldInfo | None]:
    """The model owning the field at ``loc`` (nested bodies included) and the field."""
    owner: type[Body] = model
    info: FieldInfo | None = None
    for depth, part in enumerate(loc):
        info = owner.model_fields.get(str(part))
        if info is None:
            break
        nested = _nested(info.annotation)
        if nested is not None and depth < len(loc) - 1:
            owner = nested
    return owner, info


def _choices(annotation: Any) -> tuple[str, ...]:
    if get_origin(annotation) is Literal:
        return tuple(str(a) for a in get_args(annotation))
    if get_origin(annotation) is Union or type(annotation).__name__ == "UnionType":
        return tuple(c for a in get_args(annotation) for c in _choices(a))
    return ()


def _nested(annotation: Any) -> type[Body] | None:
    for candidate in (annotation, *get_args(annotation)):
        if isinstance(candidate, type) and issubclass(candidate, Body):
            return candidate
    return None


def _generic(key: str, error: Any, info: FieldInfo | None) -> tuple[str, str, int | None]:
    """(kind, message, limit) of a pydantic error, in the words the API has always used."""
    kind, value, ctx = error["type"], error.get("input"), error.get("ctx") or {}
    annotation = info.annotation if info is not None else None
    required = info is not None and info.is_required()
    if kind == "missing" or value is None:
        return "required", f"'{key}' is required", None
    if kind == "value_error":  # a model's own rule (see Body)
        return "required" if isinstance(ctx.get("error"), Missing) else "rule", f"'{key}' {ctx.get('error')}", None
    if kind == "too_long":  # a list's
        return ("too_many", f"'{key}' may have at most {ctx['max_length']} items (it has {ctx['actual_length']})",
                int(ctx["max_length"]))
    nested = _nested(annotation)
    if nested is not None and not isinstance(value, dict):
        names = list(nested.model_fields)
        return "invalid", f"'{key}' must be an object with {', '.join(names[:-1])} or {names[-1]}", None
    blank = kind == "string_too_short" or (kind == "string_pattern_mismatch" and ctx.get("pattern") == NON_BLANK)
    if not isinstance(value, str) or blank or (required and not value.strip()):
        return "invalid", f"'{key}' must be a non-empty string", None
    if kind == "string_too_long":
        return "too_long", f"'{key}' may be at most {ctx['max_length']} characters", int(ctx["max_length"])
    if kind == "literal_error":
        return "choice", f"'{key}' must be one of {', '.join(_choices(annotation))}", None
    if kind == "string_pattern_mismatch":
        return "format", f"'{key}' has an invalid format", None
    return "invalid", f"'{key}' must be a non-empty string", None


# A required text field: not empty, not only spaces.
NON_BLANK = r"\S"
NonBlank = Annotated[str, StringConstraints(min_length=1, pattern=NON_BLANK)]

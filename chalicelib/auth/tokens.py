"""Token issue and verification.

Visitor tokens are HS256 JWTs signed with the platform's secret: the platform mints anonymous ones (marked
``anon``), a shop's backend signs its customers' own. Each kind maps to its own id namespace (``identity.py``),
so no ``sub`` a shop signs can name staff or an anonymous visitor. Agent tokens are RS256 JWTs; where the
public keys come from is the only difference between the local identity provider and Cognito (a
``KeySource``), so the same checks run in both.
"""

from __future__ import annotations

import re
import time
from typing import Any, Protocol

import jwt

from chalicelib.auth.errors import AuthError
from chalicelib.auth.identity import ANONYMOUS_PREFIX, Identity, customer_visitor_id, is_staff_id
from chalicelib.settings import get_settings

VISITOR_ISSUER = "cs-visitor"
_ROLE_PRECEDENCE = ("admin", "supervisor", "agent")  # a Cognito user in several groups gets the highest
_LEEWAY_SECONDS = 30  # clock skew between Lambdas and the identity provider
_MIN_SECRET_CHARS = 32
# API Gateway gives up on $connect after 29 s; a hung JWKS fetch must fail well before that.
_JWKS_TIMEOUT_SECONDS = 5
# A visitor token's sub: the characters of the API's user ids, short enough that with its c: prefix it is one.
_VISITOR_SUB = re.compile(r"[A-Za-z0-9_.:@-]{1,62}")


class KeySource(Protocol):
    def signing_key(self, token: str) -> Any:
        """The public key for the token's ``kid``; raises AuthError if there is none."""
        ...


class StaticKeySource:
    """Keys given as a JWKS document (the local identity provider's)."""

    def __init__(self, jwks: dict[str, Any]) -> None:
        self._keys = {k.get("kid"): jwt.PyJWK(k).key for k in jwks.get("keys", [])}

    def signing_key(self, token: str) -> Any:
        try:
            kid = jwt.get_unverified_header(token).get("kid")
        except jwt.PyJWTError:
            raise AuthError("invalid_token", "the token is not valid") from None
        if kid not in self._keys:
            raise AuthError("invalid_token", "the token was signed by an unknown key")
        return self._keys[kid]


class JwksUrlKeySource:
    """Keys fetched (and cached) from a JWKS URL: Cognito's ``/.well-known/jwks.json``."""

    def __init__(self, url: str) -> None:
        self._client = jwt.PyJWKClient(url, cache_keys=True, timeout=_JWKS_TIMEOUT_SECONDS)

    def signing_key(self, token: str) -> Any:
        try:
            return self._client.get_signing_key_from_jwt(token).key
        except jwt.PyJWTError:
            raise AuthError("invalid_token", "the token's signing key is not known") from None


def _secret() -> str:
    # On AWS the key is read from Secrets Manager (cached); locally VISITOR_TOKEN_SECRET holds it.
    from chalicelib.platform.secrets import secret_value

    settings = get_settings()
    secret = secret_value(settings.visitor_token_secret, settings.visitor_token_secret_id,
                          settings.secret_max_age_seconds)
    if len(secret) < _MIN_SECRET_CHARS:
        raise RuntimeError(f"the visitor token secret (VISITOR_TOKEN_SECRET, or the secret VISITOR_TOKEN_SECRET_ID "
                           f"names) must be at least {_MIN_SECRET_CHARS} characters")
    return secret


def issue_visitor_token(visitor_id: str, name: str | None, channel: str, source: str | None,
                        category: str | None, now: float | None = None, *, tier: str | None = None,
                        language: str | None = None) -> tuple[str, int]:
    """A signed visitor token and its expiry (epoch seconds). ``tier`` (e.g. vip) routes and queues
    first, so only a shop's backend may set it, never an anonymous visitor. ``visitor_id`` is an anonymous
    id (``v_...``); the token says so (``anon``), which keeps it apart from any customer id a shop signs."""
    if not visitor_id.startswith(ANONYMOUS_PREFIX):
        raise ValueError(f"an anonymous visitor id starts with {ANONYMOUS_PREFIX!r}")
    issued = int(time.time() if now is None else now)
    expires = issued + get_settings().visitor_token_ttl_seconds
    claims = {"sub": visitor_id, "name": name, "ch": channel, "src": source, "cat": category, "typ": "visitor",
              "tier": tier, "lang": language, "anon": True, "iat": issued, "exp": expires, "iss": VISITOR_ISSUER}
    return jwt.encode(claims, _secret(), algorithm="HS256"), expires


def _decode(token: str, key: Any, algorithm: str, issuer: str) -> dict[str, Any]:
    try:
        # The audience is checked by the caller: Cognito access tokens carry it as client_id, not aud.
        claims: dict[str, Any] = jwt.decode(token, key, algorithms=[algorithm], issuer=issuer,
                                            leeway=_LEEWAY_SECONDS,
                                            options={"require": ["exp", "sub", "iss"], "verify_aud": False})
        return claims
    except jwt.ExpiredSignatureError:
        raise AuthError("expired_token", "the token has expired; get a new one") from None
    except jwt.PyJWTError:
        raise AuthError("invalid_token", "the token is not valid") from None


def _optional_str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _str_list(value: Any) -> tuple[str, ...]:
    return tuple(str(v) for v in value) if isinstance(value, list) else ()


def _visitor(token: str) -> Identity:
    claims = _decode(token, _secret(), "HS256", VISITOR_ISSUER)
    if claims.get("typ") != "visitor":
        raise AuthError("invalid_token", "not a visitor token")
    sub = claims["sub"]
    if not isinstance(sub, str) or not _VISITOR_SUB.fullmatch(sub):
        raise AuthError("invalid_token", "the token's sub must be 1 to 62 of A-Z a-z 0-9 _ . : @ -")
    if claims.get("anon") is True:
        # Minted by POST /visitors/token; a shop that copies the claim still cannot leave the v_ namespace.
        if not sub.startswith(ANONYMOUS_PREFIX):
            raise AuthError("invalid_token", "an anonymous visitor token's sub starts with v_")
        user_id = sub
    else:
        user_id = customer_visitor_id(sub)
    return Identity(user_id=user_id, role="visitor", name=_optional_str(claims.get("name")),
                    channel=_optional_str(claims.get("ch")), source=_optional_str(claims.get("src")),
                    category=_optional_str(claims.get("cat")), tier=_optional_str(claims.get("tier")),
                    language=_optional_str(claims.get("lang")), expires_at=int(claims["exp"]))


def _agent(token: str, key_source: KeySource) -> Identity:
    settings = get_settings()
    claims = _decode(token, key_source.signing_key(token), "RS256", settings.agent_token_issuer)
    # The dev IdP and Cognito ID tokens name the app in `aud`; Cognito access tokens in `client_id`.
    aud = claims.get("aud")
    audiences = [*(aud if isinstance(aud, list) else [aud]), claims.get("client_id")]
    if settings.agent_token_audience not in audiences:
        raise AuthError("invalid_token", "the token is for another application")
    if claims.get("token_use", "id") not in ("id", "access"):
        raise AuthError("invalid_token", "not an identity or access token")
    cognito_groups = _str_list(claims.get("cognito:groups"))
    role = claims.get("role") or next((r for r in _ROLE_PRECEDENCE if r in cognito_groups), "agent")
    # An RS256 token never makes a visitor, and an unknown role is refused rather than guessed.
    if role not in _ROLE_PRECEDENCE:
        raise AuthError("invalid_token", "the token carries an unknown role")
    name = claims.get("name") or claims.get("cognito:username") or claims.get("username")
    # The sign-in name is the agent id the configuration's groups list (Cognito's `sub` is a generated UUID).
    user_id = str(claims.get("cognito:username") or claims["sub"])
    # Visitors own the v_ and c: prefixes: a staff member named like one would share its sessions.
    if not is_staff_id(user_id):
        raise AuthError("invalid_token", "this user name is reserved and cannot sign in as staff")
    return Identity(user_id=user_id, role=role, name=_optional_str(name),
                    groups=_str_list(claims.get("groups")) or cognito_groups, expires_at=int(claims["exp"]))


def authenticate(token: str | None, key_source: KeySource) -> Identity:
    """Verify a visitor (HS256) or staff (RS256) token; raises AuthError."""
    if not token:
        raise AuthError("missing_token", "a token is required")
    try:
        alg = jwt.get_unverified_header(token).get("alg")
    except jwt.PyJWTError:
        raise AuthError("invalid_token", "the token is not valid") from None
    # The header only picks which fixed check runs; each decode pins its one algorithm, so "none" or an
    # HS256 token keyed with an RSA public key never verifies.
    if alg == "HS256":
        return _visitor(token)
    if alg == "RS256":
        return _agent(token, key_source)
    raise AuthError("invalid_token", "the token is not valid")

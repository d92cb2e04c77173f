"""Where the public keys of agent tokens come from: Cognito's JWKS URL, else the local identity provider.
Kept out of ``tokens`` so that ``devidp`` (which signs) depends on ``tokens`` (which checks) and not back."""

from __future__ import annotations

from functools import lru_cache

from chalicelib.auth.tokens import JwksUrlKeySource, KeySource
from chalicelib.settings import get_settings


@lru_cache(maxsize=1)
def _jwks_source(url: str) -> JwksUrlKeySource:
    # One per warm Lambda, so Cognito's keys are fetched once rather than per request.
    return JwksUrlKeySource(url)


def default_key_source() -> KeySource:
    """Cognito's keys where ``AGENT_JWKS_URL`` is set, else the local identity provider's."""
    settings = get_settings()
    if settings.agent_jwks_url:
        return _jwks_source(settings.agent_jwks_url)
    if settings.dev_idp_enabled:
        # Imported only here: a Lambda that checks Cognito's keys never loads the local provider.
        from chalicelib.auth.devidp import dev_idp

        return dev_idp().key_source()
    raise RuntimeError("set AGENT_JWKS_URL (Cognito) or DEV_IDP_ENABLED=1 (local identity provider)")

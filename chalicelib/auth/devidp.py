"""The local development identity provider: signs agents in from ``config/dev_users.json``.

Demo users: alice and bob (agents), carol (supervisor), admin (admin); every password is ``demo``.
A user's ``password_sha256`` is the hex SHA-256 of ``salt + password`` (see ``password_hash``).
Its RSA key is kept in the local state folder so tokens survive a restart. On AWS, Cognito takes its
place and nothing else changes (see ``keys.default_key_source``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import tempfile
import time
from functools import lru_cache
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from chalicelib.auth.errors import AuthError
from chalicelib.auth.identity import Identity
from chalicelib.auth.tokens import StaticKeySource
from chalicelib.settings import get_settings

USERS_PATH = Path(__file__).resolve().parents[2] / "config" / "dev_users.json"
KEY_FILE_NAME = "dev-idp-key.pem"


def password_hash(salt: str, password: str) -> str:
    return hashlib.sha256((salt + password).encode()).hexdigest()


def _thumbprint(jwk: dict[str, Any]) -> str:
    """RFC 7638: SHA-256 of the required members in lexical order, no whitespace, base64url."""
    canonical = json.dumps({"e": jwk["e"], "kty": jwk["kty"], "n": jwk["n"]}, separators=(",", ":"))
    return base64.urlsafe_b64encode(hashlib.sha256(canonical.encode()).digest()).rstrip(b"=").decode()


def _load_or_create_key(path: Path) -> rsa.RSAPrivateKey:
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
        # Written aside (mkstemp makes it 0600) and linked into place, so two processes starting at once
        # never read a half-written key and the first one's key wins.
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".dev-idp-")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(pem)
            os.link(tmp, path)
        except FileExistsError:
            pass
        finally:
            os.unlink(tmp)
    loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(loaded, rsa.RSAPrivateKey):
        raise RuntimeError(f"{path} does not hold an RSA private key; delete it to make a new one")
    return loaded


class DevIdentityProvider:
    """Signs demo users in with RS256 tokens that ``tokens.authenticate`` checks like Cognito's."""

    def __init__(self, users_path: Path, key_path: Path) -> None:
        self._users: dict[str, dict[str, Any]] = {u["username"]: u for u in json.loads(users_path.read_text())}
        self._key = _load_or_create_key(key_path)
        public = jwt.algorithms.RSAAlgorithm.to_jwk(self._key.public_key(), as_dict=True)
        self._kid = _thumbprint(public)
        self._jwks = {"keys": [{**public, "kid": self._kid, "alg": "RS256", "use": "sig"}]}
        self._key_source = StaticKeySource(self._jwks)

    def jwks(self) -> dict[str, Any]:
        """The public keys, as served at ``/auth/jwks``."""
        return {"keys": [dict(k) for k in self._jwks["keys"]]}

    def key_source(self) -> StaticKeySource:
        return self._key_source

    def login(self, username: str, password: str, now: float | None = None) -> tuple[str, int, Identity]:
        """A signed token, its expiry and the identity; the same error for an unknown user and a wrong password."""
        user = self._users.get(username)
        # An unknown user still costs a hash and a comparison, so timing does not tell which part was wrong.
        expected = user["password_sha256"] if user else "0" * 64
        given = password_hash(user["salt"] if user else "", password)
        if not hmac.compare_digest(expected, given) or user is None:
            raise AuthError("bad_credentials", "wrong username or password")
        identity = Identity(user_id=username, role=user["role"], name=user["name"], groups=tuple(user["groups"]))
        token, expires = self.issue(identity, now)
        return token, expires, identity

    def issue(self, identity: Identity, now: float | None = None) -> tuple[str, int]:
        """A signed token for ``identity`` and its expiry (epoch seconds)."""
        settings = get_settings()
        issued = int(time.time() if now is None else now)
        expires = issued + settings.agent_token_ttl_seconds
        claims = {"sub": identity.user_id, "name": identity.name, "role": identity.role,
                  "groups": list(identity.groups), "iss": settings.agent_token_issuer,
                  "aud": settings.agent_token_audience, "token_use": "id", "iat": issued, "exp": expires}
        return jwt.encode(claims, self._key, algorithm="RS256", headers={"kid": self._kid}), expires


@lru_cache(maxsize=1)
def dev_idp() -> DevIdentityProvider:
    """The one local identity provider; tests call ``dev_idp.cache_clear()`` with the settings."""
    settings = get_settings()
    if not settings.dev_idp_enabled:
        raise RuntimeError("the local identity provider is off (DEV_IDP_ENABLED=1 turns it on)")
    return DevIdentityProvider(USERS_PATH, Path(settings.local_state_dir) / KEY_FILE_NAME)

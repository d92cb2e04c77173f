"""The local development identity provider: signs agents in from ``config/dev_users.json``.

Demo users: alice and bob (agents), carol (supervisor), admin (admin); every password is ``demo``.
Its RSA key is kept in the local state folder so tokens survive a restart. On AWS, Cognito takes its
place and nothing else changes (see ``tokens.default_key_source``).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
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


def password_hash(salt: str, password: str) -> str:
    return hashlib.sha256((salt + password).encode()).hexdigest()


class DevIdentityProvider:
    def __init__(self, users_path: Path, key_path: Path) -> None:
        self._users = {u["username"]: u for u in json.loads(users_path.read_text())}
        self._key = self._load_key(key_path)
        public = jwt.algorithms.RSAAlgorithm.to_jwk(self._key.public_key(), as_dict=True)
        # A stable kid: the key's own fingerprint.
        self._kid = hashlib.sha256(json.dumps(public, sort_keys=True).encode()).hexdigest()[:16]
        self._jwks = {"keys": [{**public, "kid": self._kid, "alg": "RS256", "use": "sig"}]}
        self._key_source = StaticKeySource(self._jwks)

    @staticmethod
    def _load_key(path: Path) -> rsa.RSAPrivateKey:
        if path.exists():
            key = serialization.load_pem_private_key(path.read_bytes(), password=None)
            assert isinstance(key, rsa.RSAPrivateKey)
            return key
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        path.parent.mkdir(parents=True, exist_ok=True)
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(pem)
        return key

    def jwks(self) -> dict[str, Any]:
        return self._jwks

    def key_source(self) -> StaticKeySource:
        return self._key_source

    def login(self, username: str, password: str, now: float | None = None) -> tuple[str, int, Identity]:
        """A signed token for a demo user; the same error for an unknown user and a wrong password."""
        user = self._users.get(username)
        expected = user["password_sha256"] if user else "0" * 64
        given = password_hash(user["salt"] if user else "", password)
        if not hmac.compare_digest(expected, given) or user is None:
            raise AuthError("bad_credentials", "wrong username or password")
        identity = Identity(user_id=username, role=user["role"], name=user["name"], groups=tuple(user["groups"]))
        token, expires = self.issue(identity, now)
        return token, expires, identity

    def issue(self, identity: Identity, now: float | None = None) -> tuple[str, int]:
        settings = get_settings()
        issued = int(time.time() if now is None else now)
        expires = issued + settings.agent_token_ttl_seconds
        claims = {"sub": identity.user_id, "name": identity.name, "role": identity.role,
                  "groups": list(identity.groups), "iss": settings.agent_token_issuer,
                  "aud": settings.agent_token_audience, "token_use": "id", "iat": issued, "exp": expires}
        return jwt.encode(claims, self._key, algorithm="RS256", headers={"kid": self._kid}), expires


@lru_cache(maxsize=1)
def dev_idp() -> DevIdentityProvider:
    settings = get_settings()
    if not settings.dev_idp_enabled:
        raise RuntimeError("the local identity provider is off (DEV_IDP_ENABLED=1 turns it on)")
    return DevIdentityProvider(USERS_PATH, Path(settings.local_state_dir) / "dev-idp-key.pem")

"""Visitor and staff tokens: what verifies, what is refused, and with which code."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import stat
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from chalicelib.auth import devidp
from chalicelib.auth.devidp import DevIdentityProvider, dev_idp
from chalicelib.auth.errors import AuthError
from chalicelib.auth.identity import Identity
from chalicelib.auth.keys import default_key_source
from chalicelib.auth.tokens import (
    JwksUrlKeySource,
    StaticKeySource,
    authenticate,
    issue_visitor_token,
)
from chalicelib.settings import get_settings

SECRET = "unit-test-secret-0123456789abcdefghijklmnop"
ISSUER = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_TEST"
AUDIENCE = "test-app-client"


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    monkeypatch.setenv("VISITOR_TOKEN_SECRET", SECRET)
    monkeypatch.setenv("VISITOR_TOKEN_TTL_SECONDS", "3600")
    monkeypatch.setenv("AGENT_TOKEN_TTL_SECONDS", "3600")
    monkeypatch.setenv("AGENT_TOKEN_ISSUER", ISSUER)
    monkeypatch.setenv("AGENT_TOKEN_AUDIENCE", AUDIENCE)
    monkeypatch.setenv("DEV_IDP_ENABLED", "1")
    monkeypatch.setenv("LOCAL_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.delenv("AGENT_JWKS_URL", raising=False)
    get_settings.cache_clear()
    dev_idp.cache_clear()
    yield
    get_settings.cache_clear()
    dev_idp.cache_clear()


@pytest.fixture
def idp(tmp_path: Path) -> DevIdentityProvider:
    return DevIdentityProvider(devidp.USERS_PATH, tmp_path / "keys" / "idp.pem")


@pytest.fixture(scope="module")
def other_key() -> rsa.RSAPrivateKey:
    """An RSA key that is not the dev IdP's: a stranger's, or a test Cognito pool's."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _jwks_of(key: rsa.RSAPrivateKey, kid: str) -> dict[str, Any]:
    public = jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key(), as_dict=True)
    return {"keys": [{**public, "kid": kid, "alg": "RS256", "use": "sig"}]}


def _staff_claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {"sub": "u-1", "iss": ISSUER, "aud": AUDIENCE, "token_use": "id", "iat": now, "exp": now + 600}
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


def _rs256(key: rsa.RSAPrivateKey, kid: str, claims: dict[str, Any]) -> str:
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": kid})


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _code(token: str | None, key_source: Any) -> str:
    with pytest.raises(AuthError) as err:
        authenticate(token, key_source)
    assert not token or token not in err.value.message  # never echo the token
    return err.value.code


# -- visitors -------------------------------------------------------------------------------------

def test_visitor_round_trip_keeps_claims(idp: DevIdentityProvider) -> None:
    now = time.time()
    token, expires_at = issue_visitor_token("v_1", "Ann", "mini_program", "/product/9", "shoes", now=now)
    assert expires_at == int(now) + 3600
    who = authenticate(token, idp.key_source())
    assert who == Identity(user_id="v_1", role="visitor", name="Ann", channel="mini_program",
                           source="/product/9", category="shoes")
    assert not who.is_staff
    claims = jwt.decode(token, SECRET, algorithms=["HS256"], issuer="cs-visitor")
    assert claims["typ"] == "visitor"
    assert claims["iat"] == int(now)
    assert claims["exp"] == expires_at


def test_visitor_without_optional_fields_round_trips(idp: DevIdentityProvider) -> None:
    token, _ = issue_visitor_token("v_2", None, "web", None, None)
    assert authenticate(token, idp.key_source()) == Identity(user_id="v_2", role="visitor", channel="web")


def test_expired_visitor_token_is_expired_token(idp: DevIdentityProvider) -> None:
    token, expires_at = issue_visitor_token("v_1", None, "web", None, None, now=time.time() - 7200)
    assert expires_at < time.time()
    assert _code(token, idp.key_source()) == "expired_token"


def test_tampered_signature_is_invalid_token(idp: DevIdentityProvider) -> None:
    token, _ = issue_visitor_token("v_1", None, "web", None, None)
    head, body, sig = token.split(".")
    flipped = ("A" if sig[0] != "A" else "B") + sig[1:]
    assert _code(f"{head}.{body}.{flipped}", idp.key_source()) == "invalid_token"


def test_tampered_claims_are_invalid_token(idp: DevIdentityProvider) -> None:
    token, _ = issue_visitor_token("v_1", None, "web", None, None)
    head, body, sig = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    forged = _b64(json.dumps({**claims, "sub": "v_other"}).encode())
    assert _code(f"{head}.{forged}.{sig}", idp.key_source()) == "invalid_token"


def test_visitor_token_signed_with_another_secret_is_invalid_token(idp: DevIdentityProvider) -> None:
    now = int(time.time())
    claims = {"sub": "v_1", "typ": "visitor", "iss": "cs-visitor", "ch": "web", "iat": now, "exp": now + 60}
    token = jwt.encode(claims, "another-secret-that-is-also-long-enough!!", algorithm="HS256")
    assert _code(token, idp.key_source()) == "invalid_token"


def test_alg_none_token_is_invalid_token(idp: DevIdentityProvider) -> None:
    now = int(time.time())
    for claims in ({"sub": "v_1", "typ": "visitor", "iss": "cs-visitor", "ch": "web", "exp": now + 60},
                   _staff_claims(role="admin")):
        for alg in ("none", "None", "NONE"):
            head = _b64(json.dumps({"alg": alg, "typ": "JWT"}).encode())
            unsigned = f"{head}.{_b64(json.dumps(claims).encode())}."
            assert _code(unsigned, idp.key_source()) == "invalid_token"


def test_hs256_token_keyed_with_the_idp_public_key_is_invalid_token(idp: DevIdentityProvider) -> None:
    # The classic alg confusion: an attacker "signs" with the public key as an HMAC secret.
    public_pem = idp.key_source().signing_key(idp.issue(Identity("x", "agent"))[0]).public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    head = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = _b64(json.dumps(_staff_claims(role="admin")).encode())
    sig = _b64(hmac.new(public_pem, f"{head}.{body}".encode(), hashlib.sha256).digest())
    assert _code(f"{head}.{body}.{sig}", idp.key_source()) == "invalid_token"


@pytest.mark.parametrize("token", [None, ""])
def test_missing_token_is_missing_token(idp: DevIdentityProvider, token: str | None) -> None:
    assert _code(token, idp.key_source()) == "missing_token"


@pytest.mark.parametrize("token", ["garbage", "a.b.c", "..", "x" * 500])
def test_malformed_token_is_invalid_token(idp: DevIdentityProvider, token: str) -> None:
    assert _code(token, idp.key_source()) == "invalid_token"


@pytest.mark.parametrize("secret", ["", "too-short-for-hs256"])
def test_short_visitor_secret_is_refused(monkeypatch: pytest.MonkeyPatch, secret: str) -> None:
    monkeypatch.setenv("VISITOR_TOKEN_SECRET", secret)
    get_settings.cache_clear()
    with pytest.raises(RuntimeError, match="VISITOR_TOKEN_SECRET"):
        issue_visitor_token("v_1", None, "web", None, None)


# -- id namespaces: no sub a shop signs names staff or another kind of visitor ------------------------

def _shop_token(sub: Any, **extra: Any) -> str:
    """Signed as configuration.md tells a shop to."""
    now = int(time.time())
    claims = {"sub": sub, "typ": "visitor", "iss": "cs-visitor", "ch": "web", "iat": now, "exp": now + 600, **extra}
    return jwt.encode(claims, SECRET, algorithm="HS256")


@pytest.mark.parametrize("sub", ["alice", "admin", "robot", "v_96c08369a014436c", "c:alice", "1001"])
def test_a_shop_signed_sub_becomes_a_customer_id(idp: DevIdentityProvider, sub: str) -> None:
    who = authenticate(_shop_token(sub), idp.key_source())
    assert (who.user_id, who.role, who.customer_id) == ("c:" + sub, "visitor", sub)
    assert not who.is_staff


def test_an_anonymous_token_keeps_its_server_minted_id(idp: DevIdentityProvider) -> None:
    token, expires_at = issue_visitor_token("v_96c08369a014436c", None, "web", None, None)
    who = authenticate(token, idp.key_source())
    assert (who.user_id, who.customer_id, who.expires_at) == ("v_96c08369a014436c", None, expires_at)
    with pytest.raises(ValueError, match="v_"):
        issue_visitor_token("alice", None, "web", None, None)


@pytest.mark.parametrize("sub", ["alice", "c:alice", "admin"])
def test_a_shop_copying_the_anonymous_claim_cannot_leave_the_v_namespace(idp: DevIdentityProvider,
                                                                         sub: str) -> None:
    assert _code(_shop_token(sub, anon=True), idp.key_source()) == "invalid_token"


@pytest.mark.parametrize("sub", ["", "alice\n", "a b", "a/b", "x" * 63, "\u00e9"])
def test_a_sub_outside_the_id_alphabet_is_invalid_token(idp: DevIdentityProvider, sub: str) -> None:
    assert _code(_shop_token(sub), idp.key_source()) == "invalid_token"


@pytest.mark.parametrize("username", ["v_96c08369a014436c", "v_x", "c:alice", "robot"])
def test_a_staff_name_a_visitor_could_hold_is_refused(idp: DevIdentityProvider, username: str) -> None:
    token, _ = idp.issue(Identity(user_id=username, role="agent"))
    assert _code(token, idp.key_source()) == "invalid_token"


def test_a_staff_token_carries_its_expiry(idp: DevIdentityProvider) -> None:
    token, expires_at, _ = idp.login("alice", "demo")
    assert authenticate(token, idp.key_source()).expires_at == expires_at


# -- staff through the dev IdP --------------------------------------------------------------------

def test_agent_login_round_trip(idp: DevIdentityProvider) -> None:
    token, expires_at, identity = idp.login("alice", "demo")
    assert identity == Identity(user_id="alice", role="agent", name="Alice Chen", groups=("general", "shoes"))
    assert expires_at > time.time()
    who = authenticate(token, StaticKeySource(idp.jwks()))
    assert who == identity
    assert who.is_staff


@pytest.mark.parametrize(("username", "role", "name"),
                         [("bob", "agent", "Bob Li"), ("carol", "supervisor", "Carol Wang"),
                          ("admin", "admin", "Site Admin")])
def test_every_demo_user_signs_in_with_demo(idp: DevIdentityProvider, username: str, role: str, name: str) -> None:
    token, _, _ = idp.login(username, "demo")
    who = authenticate(token, StaticKeySource(idp.jwks()))
    assert (who.user_id, who.role, who.name) == (username, role, name)


def test_wrong_password_and_unknown_user_are_bad_credentials(idp: DevIdentityProvider) -> None:
    errors = []
    for username, password in [("alice", "wrong"), ("alice", ""), ("mallory", "demo"), ("", "demo")]:
        with pytest.raises(AuthError) as err:
            idp.login(username, password)
        errors.append((err.value.code, err.value.message))
    # One code and one message: the caller cannot tell which part was wrong.
    assert set(errors) == {("bad_credentials", "wrong username or password")}


def test_expired_agent_token_is_expired_token(idp: DevIdentityProvider) -> None:
    token, _, _ = idp.login("alice", "demo", now=time.time() - 7200)
    assert _code(token, idp.key_source()) == "expired_token"


def test_token_signed_by_a_different_rsa_key_is_invalid_token(idp: DevIdentityProvider,
                                                               other_key: rsa.RSAPrivateKey) -> None:
    kid = idp.jwks()["keys"][0]["kid"]
    claims = _staff_claims(sub="alice", role="admin")
    # Same kid as the IdP's key (so the lookup succeeds and the signature check must fail), then an unknown kid.
    assert _code(_rs256(other_key, kid, claims), idp.key_source()) == "invalid_token"
    assert _code(_rs256(other_key, "stranger", claims), idp.key_source()) == "invalid_token"


@pytest.mark.parametrize("overrides", [{"iss": "https://evil.example.com"}, {"iss": None},
                                       {"aud": "another-app"}, {"aud": None}, {"token_use": "refresh"},
                                       {"role": "visitor"}, {"role": "root"}, {"sub": None}, {"exp": None}])
def test_wrong_issuer_audience_or_claims_are_invalid_token(other_key: rsa.RSAPrivateKey,
                                                           overrides: dict[str, Any]) -> None:
    keys = StaticKeySource(_jwks_of(other_key, "k1"))
    assert authenticate(_rs256(other_key, "k1", _staff_claims()), keys).role == "agent"  # the baseline verifies
    assert _code(_rs256(other_key, "k1", _staff_claims(**overrides)), keys) == "invalid_token"


@pytest.mark.parametrize(("name", "value"), [("AGENT_TOKEN_ISSUER", "someone-else"),
                                             ("AGENT_TOKEN_AUDIENCE", "another-app")])
def test_dev_idp_token_for_another_issuer_or_audience_is_invalid_token(
        monkeypatch: pytest.MonkeyPatch, idp: DevIdentityProvider, name: str, value: str) -> None:
    monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    token, _, _ = idp.login("alice", "demo")
    monkeypatch.setenv(name, ISSUER if name == "AGENT_TOKEN_ISSUER" else AUDIENCE)
    get_settings.cache_clear()
    assert _code(token, idp.key_source()) == "invalid_token"


# -- Cognito-shaped tokens ------------------------------------------------------------------------

def test_cognito_id_token_takes_role_from_groups(other_key: rsa.RSAPrivateKey) -> None:
    keys = StaticKeySource(_jwks_of(other_key, "cognito-kid"))
    claims = _staff_claims(sub="0f1e-uuid", aud=AUDIENCE, token_use="id", **{"cognito:groups": ["supervisor"],
                                                                              "cognito:username": "carol"})
    who = authenticate(_rs256(other_key, "cognito-kid", claims), keys)
    # The agent id is the sign-in name (the configuration's groups list agents by it), not Cognito's UUID.
    assert (who.user_id, who.role, who.name, who.groups) == ("carol", "supervisor", "carol", ("supervisor",))


def test_cognito_access_token_names_the_app_in_client_id(other_key: rsa.RSAPrivateKey) -> None:
    keys = StaticKeySource(_jwks_of(other_key, "cognito-kid"))
    claims = _staff_claims(aud=None, client_id=AUDIENCE, token_use="access", username="bob",
                           **{"cognito:groups": ["agent", "admin", "supervisor"]})
    who = authenticate(_rs256(other_key, "cognito-kid", claims), keys)
    assert (who.role, who.name) == ("admin", "bob")
    wrong_client = _staff_claims(aud=None, client_id="another-app", token_use="access")
    assert _code(_rs256(other_key, "cognito-kid", wrong_client), keys) == "invalid_token"


def test_cognito_user_in_no_role_group_is_an_agent(other_key: rsa.RSAPrivateKey) -> None:
    keys = StaticKeySource(_jwks_of(other_key, "k"))
    claims = _staff_claims(**{"cognito:groups": ["shoes"]})
    assert authenticate(_rs256(other_key, "k", claims), keys).role == "agent"


# -- the dev IdP's key and the default key source -------------------------------------------------

def test_key_persists_across_instances(tmp_path: Path) -> None:
    key_path = tmp_path / "nested" / "dir" / "idp.pem"
    first = DevIdentityProvider(devidp.USERS_PATH, key_path)
    token, _, _ = first.login("carol", "demo")
    second = DevIdentityProvider(devidp.USERS_PATH, key_path)
    assert second.jwks() == first.jwks()
    assert authenticate(token, StaticKeySource(second.jwks())).role == "supervisor"
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    assert list(key_path.parent.iterdir()) == [key_path]  # no temporary file left behind


def test_jwks_holds_only_the_public_key(idp: DevIdentityProvider) -> None:
    (key,) = idp.jwks()["keys"]
    assert {"kty", "n", "e", "kid", "alg"} <= key.keys()
    assert not {"d", "p", "q", "dp", "dq", "qi"} & key.keys()
    assert key["kid"] == idp.jwks()["keys"][0]["kid"]  # stable


def test_default_key_source_is_the_dev_idp_when_no_jwks_url(tmp_path: Path) -> None:
    token, _, _ = dev_idp().login("admin", "demo")
    assert authenticate(token, default_key_source()).role == "admin"
    assert (tmp_path / "state" / devidp.KEY_FILE_NAME).exists()


def test_default_key_source_uses_the_jwks_url_when_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENT_JWKS_URL", "https://cognito-idp.us-east-1.amazonaws.com/pool/.well-known/jwks.json")
    get_settings.cache_clear()
    source = default_key_source()
    assert isinstance(source, JwksUrlKeySource)
    assert default_key_source() is source  # one client, so its key cache lasts the Lambda's life


def test_default_key_source_without_any_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEV_IDP_ENABLED", "0")
    get_settings.cache_clear()
    with pytest.raises(RuntimeError, match="AGENT_JWKS_URL"):
        default_key_source()
    with pytest.raises(RuntimeError, match="DEV_IDP_ENABLED"):
        dev_idp()


def test_unknown_kid_in_static_source_is_invalid_token(other_key: rsa.RSAPrivateKey) -> None:
    keys = StaticKeySource({"keys": []})
    assert _code(_rs256(other_key, "k", _staff_claims()), keys) == "invalid_token"

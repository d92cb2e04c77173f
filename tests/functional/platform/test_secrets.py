"""Secrets on AWS come from Secrets Manager or SSM SecureString through Powertools (cached); locally from the
environment. Against moto's Secrets Manager and SSM."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import boto3
import jwt
import pytest
from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError

from chalicelib.auth.keys import default_key_source
from chalicelib.auth.tokens import authenticate, issue_visitor_token
from chalicelib.commerce.hook import HttpCommerce
from chalicelib.platform import secrets
from chalicelib.platform.secrets import secret_value
from chalicelib.settings import get_settings

KEY = "a-visitor-token-key-from-secrets-manager-0123456789"


@pytest.fixture(autouse=True)
def _fresh_providers() -> Iterator[None]:
    secrets.use_providers(None)  # a provider's cache must not carry a value from one test to the next
    yield
    secrets.use_providers(None)


class RecordingProvider:
    def __init__(self) -> None:
        self.calls: list[str] = []

    def get(self, name: str, max_age: int | None = None, transform: Any = None, force_fetch: bool = False,
            **sdk_options: Any) -> Any:
        self.calls.append(name)
        return "from-aws"


def test_a_value_in_the_environment_is_used_without_reading_aws() -> None:
    provider = RecordingProvider()
    secrets.use_providers({"secretsmanager": provider, "ssm": provider})
    assert secret_value("local-key", "arn:aws:secretsmanager:us-east-1:1:secret:x", 60) == "local-key"
    assert secret_value("", "", 60) == ""
    assert provider.calls == []


def test_a_secrets_manager_secret_is_read_once_per_max_age(aws: None) -> None:
    client = boto3.client("secretsmanager", region_name="us-east-1")
    arn = client.create_secret(Name="cs-test-visitor-token", SecretString="first")["ARN"]
    assert secret_value("", arn, 300) == "first"
    client.put_secret_value(SecretId=arn, SecretString="rotated")
    assert secret_value("", arn, 300) == "first"  # cached: no read per request
    secrets.use_providers(None)
    assert secret_value("", arn, 300) == "rotated"  # a new container (or max_age later) reads the new one


def test_an_ssm_securestring_is_read_decrypted(aws: None) -> None:
    boto3.client("ssm", region_name="us-east-1").put_parameter(
        Name="/cs-test/secrets/commerce", Value="shop-token", Type="SecureString")
    assert secret_value("", "/cs-test/secrets/commerce", 60) == "shop-token"


def test_a_missing_secret_fails_loudly_rather_than_signing_with_nothing(aws: None) -> None:
    with pytest.raises(GetParameterError):
        secret_value("", "cs-test-no-such-secret", 60)


def test_visitor_tokens_are_signed_and_checked_with_the_key_from_secrets_manager(
        aws: None, monkeypatch: pytest.MonkeyPatch) -> None:
    arn = boto3.client("secretsmanager", region_name="us-east-1").create_secret(
        Name="cs-test-visitor-key", SecretString=KEY)["ARN"]
    monkeypatch.setenv("VISITOR_TOKEN_SECRET", "")
    monkeypatch.setenv("VISITOR_TOKEN_SECRET_ID", arn)
    get_settings.cache_clear()
    token, _ = issue_visitor_token("v_1", None, "web", None, None)
    assert authenticate(token, default_key_source()).user_id.endswith("v_1")
    assert jwt.decode(token, KEY, algorithms=["HS256"], options={"verify_iss": False})["typ"] == "visitor"


class _Shop(BaseHTTPRequestHandler):
    seen: list[str | None] = []

    def do_GET(self) -> None:
        _Shop.seen.append(self.headers.get("Authorization"))
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b'{"order_id": "1"}')

    def log_message(self, *args: Any) -> None:
        pass


def test_the_shops_token_is_read_from_its_secret_when_not_in_the_environment(
        aws: None, monkeypatch: pytest.MonkeyPatch) -> None:
    arn = boto3.client("secretsmanager", region_name="us-east-1").create_secret(
        Name="cs-test-commerce", SecretString="shop-token")["ARN"]
    monkeypatch.setenv("COMMERCE_TOKEN_SECRET_ID", arn)
    get_settings.cache_clear()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Shop)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        _Shop.seen.clear()
        assert HttpCommerce(f"http://127.0.0.1:{server.server_address[1]}", "").order("1") == {"order_id": "1"}
    finally:
        server.shutdown()
    assert _Shop.seen == ["Bearer shop-token"]

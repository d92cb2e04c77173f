"""The bodies of the sign-in routes (docs/openapi.yaml documents their JSON Schemas)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from chalicelib.platform.http import Body, NonBlank

Channel = Literal["app", "mini_program", "web"]
LANGUAGE_TAG = r"^[A-Za-z]{2,8}(-[A-Za-z0-9]{1,8})*$"  # BCP 47, e.g. en, zh-CN


class VisitorTokenRequest(Body):
    """POST /visitors/token. No tier: an anonymous visitor must not make itself VIP."""

    channel: Channel
    name: str | None = Field(None, max_length=80)
    source: str | None = Field(None, max_length=120)
    category: str | None = Field(None, max_length=60)
    language: str | None = Field(None, max_length=35, pattern=LANGUAGE_TAG)


class LoginRequest(Body):
    """POST /auth/login (the local identity provider)."""

    username: NonBlank = Field(max_length=64)
    password: NonBlank = Field(max_length=256)

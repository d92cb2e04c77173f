"""The API Gateway emulator's own contract: @connections, limits, pages."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import boto3
import pytest

from local.harness import Stack, connect, visitor_token

pytestmark = pytest.mark.e2e


def management(stack: Stack) -> Any:
    return boto3.client("apigatewaymanagementapi", endpoint_url=f"{stack.base}/ws-api", region_name="us-east-1",
                        aws_access_key_id="x", aws_secret_access_key="x")


def test_connections_api_posts_describes_deletes_and_says_gone(stack: Stack) -> None:
    async def scenario() -> None:
        async with aiohttp.ClientSession() as http:
            peer = await connect(http, stack, await visitor_token(http, stack.base))
            welcome = await peer.request({"action": "hello"}, "welcome")
            conn_id = welcome["connection_id"]
            api = management(stack)
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(None, lambda: api.post_to_connection(ConnectionId=conn_id,
                                                                            Data=b'{"event":"hi"}'))
            await peer.wait_for(lambda p: bool(p.by_event["hi"]))
            info = await loop.run_in_executor(None, lambda: api.get_connection(ConnectionId=conn_id))
            assert info["Identity"]["SourceIp"] == "127.0.0.1"
            await loop.run_in_executor(None, lambda: api.delete_connection(ConnectionId=conn_id))
            await peer.wait_for(lambda p: p.ws.closed, 5)  # its reader sees the close frame
            assert peer.ws.closed
            with pytest.raises(api.exceptions.GoneException):
                await loop.run_in_executor(None, lambda: api.post_to_connection(ConnectionId=conn_id, Data=b"{}"))
            with pytest.raises(api.exceptions.GoneException):
                await loop.run_in_executor(None, lambda: api.post_to_connection(ConnectionId="nobody", Data=b"{}"))

    asyncio.run(scenario())


def test_pages_are_served_and_traversal_is_refused(stack: Stack) -> None:
    async def scenario() -> None:
        async with aiohttp.ClientSession() as http:
            for path in ("/", "/console"):
                async with http.get(stack.base + path) as r:
                    assert r.status == 200
                    assert "text/html" in r.headers["Content-Type"]
            for path in ("/static/../app.py", "/static/%2e%2e/app.py", "/static/"):
                async with http.get(stack.base + path) as r:
                    assert r.status in (403, 404), path
            async with http.get(stack.base + "/api/nowhere") as r:
                assert r.status == 403  # API Gateway's answer for an unknown route

    asyncio.run(scenario())


def test_concurrent_rest_calls_each_see_their_own_request(stack: Stack) -> None:
    """Chalice keeps the request being handled on the app object; the emulator runs REST calls on several
    threads at once, as Lambda runs several containers, so each call must still read its own body (a login of
    load11 answered with load16's token once left an agent offline in the load benchmark)."""
    users = [f"load{n:02d}" for n in range(1, 41)]

    async def login(http: aiohttp.ClientSession, username: str) -> str:
        async with http.post(f"{stack.base}/api/auth/login", json={"username": username, "password": "demo"}) as r:
            assert r.status == 200, await r.text()
            return str((await r.json())["user"]["id"])

    async def scenario() -> None:
        async with aiohttp.ClientSession() as http:
            for _ in range(3):
                answered = await asyncio.gather(*(login(http, u) for u in users))
                assert answered == users

    asyncio.run(scenario())

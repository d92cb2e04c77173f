"""Posting frames to WebSocket connections through API Gateway's @connections API."""

from __future__ import annotations

import json
from collections.abc import Mapping
from enum import Enum
from typing import Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.platform import aws
from chalicelib.platform.observability import logger
from chalicelib.settings import get_settings


class PostResult(Enum):
    OK = "ok"
    GONE = "gone"  # 410: the connection no longer exists; callers forget it
    ERROR = "error"  # anything else: the frame may not have arrived, the connection may still be alive


class Sender(Protocol):
    def post(self, connection_id: str, frame: Mapping[str, Any]) -> PostResult: ...


def encode(frame: Mapping[str, Any]) -> bytes:
    return json.dumps(frame, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


class WebSocketSender:
    """Sends through the management API at ``settings.ws_endpoint``."""

    def __init__(self, endpoint_url: str | None = None) -> None:
        self._endpoint_url = endpoint_url

    def _client(self) -> Any:
        return aws.client("apigatewaymanagementapi", self._endpoint_url or get_settings().ws_endpoint)

    def post(self, connection_id: str, frame: Mapping[str, Any]) -> PostResult:
        try:
            self._client().post_to_connection(ConnectionId=connection_id, Data=encode(frame))
            return PostResult.OK
        except ClientError as err:
            if err.response.get("Error", {}).get("Code") == "GoneException":
                return PostResult.GONE
            logger.warning("post to connection failed", extra={"connection_id": connection_id, "error": str(err)})
            return PostResult.ERROR
        except BotoCoreError as err:
            logger.warning("post to connection failed", extra={"connection_id": connection_id, "error": str(err)})
            return PostResult.ERROR

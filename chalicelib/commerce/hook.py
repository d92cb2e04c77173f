"""The shop's own order and catalogue systems, over HTTPS: ``COMMERCE_URL`` answers

- ``GET {url}/orders/{order_id}`` -> an order (404 if none),
- ``GET {url}/customers/{customer_id}/orders?limit=N`` -> ``{"orders": [...]}``, newest first,
- ``GET {url}/recommendations?category=C&limit=N`` -> ``{"products": [...]}``,

in the shapes of ``chalicelib.commerce.model.Commerce``, with ``Authorization: Bearer {token}`` if there is one:
the token given (``COMMERCE_TOKEN`` locally), else the secret ``COMMERCE_TOKEN_SECRET_ID`` names (on AWS),
read through Powertools Parameters and cached, so a rotated token is picked up without a deploy.
Standard library only: nothing is added to the Lambda package for it.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError

from chalicelib.commerce.model import CommerceError
from chalicelib.platform.secrets import secret_value
from chalicelib.settings import get_settings

TIMEOUT_SECONDS = 3.0  # the console waits on it; a slow shop system must not hold a Lambda for long
# The robot's order answers: at a peak's 110 lookups a second, a stalled shop system holds about 110 Lambda
# executions with 1 s, where 3 s held 330 (a third of the default account limit); the visitor is offered a person.
ROBOT_TIMEOUT_SECONDS = 1.0


class HttpCommerce:
    def __init__(self, url: str, token: str = "", timeout: float = TIMEOUT_SECONDS) -> None:
        self._url = url.rstrip("/")
        self._token = token
        self._timeout = timeout

    def _bearer(self) -> str:
        settings = get_settings()
        return secret_value(self._token, settings.commerce_token_secret_id, settings.secret_max_age_seconds)

    def _get(self, path: str, query: dict[str, Any] | None = None) -> Any:
        url = self._url + path + (f"?{urllib.parse.urlencode(query)}" if query else "")
        try:
            token = self._bearer()
        except GetParameterError as err:  # never called without its token: the shop's system is out of reach
            raise CommerceError("unavailable", f"the shop's token could not be read: {err}") from None
        request = urllib.request.Request(url, headers={"Accept": "application/json", **(
            {"Authorization": f"Bearer {token}"} if token else {})})
        try:
            with urllib.request.urlopen(request, timeout=self._timeout) as response:
                return json.loads(response.read().decode("utf-8"))
        except urllib.error.HTTPError as err:
            if err.code == 404:
                raise CommerceError("not_found", "the shop's system has no such record") from None
            raise CommerceError("unavailable", f"the shop's system answered {err.code}") from None
        except (urllib.error.URLError, TimeoutError, ValueError) as err:
            raise CommerceError("unavailable", f"the shop's system could not be read: {err}") from None

    def order(self, order_id: str) -> dict[str, Any]:
        found: dict[str, Any] = self._get(f"/orders/{urllib.parse.quote(order_id, safe='')}")
        return found

    def orders_of(self, customer_id: str, limit: int) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = self._get(f"/customers/{urllib.parse.quote(customer_id, safe='')}/orders",
                                                {"limit": limit}).get("orders", [])
        return found[:limit]

    def recommend(self, category: str | None, limit: int) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = self._get("/recommendations", {"category": category or "", "limit": limit}
                                                ).get("products", [])
        return found[:limit]


class Unconfigured:
    """No order system connected (``COMMERCE_BACKEND=none``): every lookup says so."""

    def _fail(self) -> CommerceError:
        return CommerceError("not_configured", "no order system is connected; set COMMERCE_URL (docs/configuration.md)")

    def order(self, order_id: str) -> dict[str, Any]:
        raise self._fail()

    def orders_of(self, customer_id: str, limit: int) -> list[dict[str, Any]]:
        raise self._fail()

    def recommend(self, category: str | None, limit: int) -> list[dict[str, Any]]:
        raise self._fail()

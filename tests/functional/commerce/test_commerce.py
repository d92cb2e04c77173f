"""The console's orders and products: the demo shop's tables (seeded as ``make run`` does), the HTTP hook to
a shop's own systems (a real server on loopback), the unconfigured case, and the REST routes with their
errors; and a visitor's past sessions."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError
from chalice.test import Client

from app import app
from chalicelib.commerce import api as commerce_api
from chalicelib.commerce.demo import DEMO_DATA, DEMO_MODELS, DemoCommerce, seed
from chalicelib.commerce.hook import HttpCommerce, Unconfigured
from chalicelib.commerce.model import CommerceError
from chalicelib.platform import secrets
from chalicelib.settings import get_settings
from chalicelib.wiring import Services, build, override
from tests.conftest import RecordingSender, RecordingTimer, routing_config
from tests.functional.test_app import agent_token, visitor_token


@pytest.fixture
def shop(aws: None) -> DemoCommerce:
    for model in DEMO_MODELS:
        model.create_table(wait=True)
    seed()
    return DemoCommerce()


def test_the_demo_shop_finds_orders_by_id_and_customer_and_recommends_by_category(shop: DemoCommerce) -> None:
    order = shop.order("SO-88121")
    assert (order["status"], order["currency"], [i["product_id"] for i in order["items"]]) == (
        "shipped", "USD", ["SKU-1042", "SKU-2231"])
    assert order["total"] == pytest.approx(114.4) and order["shipping"]["tracking_number"] == "SF1402987731"
    assert [o["order_id"] for o in shop.orders_of("c_1001", 10)] == ["SO-88121", "SO-88087"]  # newest first
    assert shop.orders_of("c_nobody", 10) == []
    shoes = shop.recommend("shoes", 3)
    assert [p["product_id"] for p in shoes] == ["SKU-1042", "SKU-1077", "SKU-1103"]
    assert all(p["category"] == "shoes" for p in shoes)
    # No category, or one the shop has nothing for: its best sellers.
    assert [p["product_id"] for p in shop.recommend(None, 2)] == ["SKU-1042", "SKU-2231"]
    assert len(shop.recommend("garden", 4)) == 4
    with pytest.raises(CommerceError) as err:
        shop.order("SO-00000")
    assert (err.value.code, err.value.status) == ("not_found", 404)


def test_seeding_twice_changes_nothing(shop: DemoCommerce) -> None:
    data = json.loads(DEMO_DATA.read_text())
    assert seed() == (len(data["orders"]), sum(len(v) for v in data["products"].values()))
    assert len(shop.orders_of("c_1001", 10)) == 2


class FakeShop(BaseHTTPRequestHandler):
    """A shop's order API on loopback, answering as docs/configuration.md describes."""

    seen: list[tuple[str, str | None]] = []

    def do_GET(self) -> None:
        FakeShop.seen.append((self.path, self.headers.get("Authorization")))
        if self.path == "/api/orders/slow":  # a shop system under load: answers after 1.5 s
            time.sleep(1.5)
        routes: dict[str, tuple[int, Any]] = {
            "/api/orders/A%2F1": (200, {"order_id": "A/1", "status": "shipped"}),
            "/api/customers/c9/orders?limit=2": (200, {"orders": [{"order_id": "1"}, {"order_id": "2"},
                                                                  {"order_id": "3"}]}),
            "/api/recommendations?category=shoes&limit=1": (200, {"products": [{"product_id": "P1"}]}),
            "/api/orders/broken": (500, {"error": "down"}),
            "/api/orders/slow": (200, {"order_id": "slow", "status": "paid"}),
        }
        status, body = routes.get(self.path, (404, {"error": "no"}))
        payload = json.dumps(body).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the caller gave up waiting (the slow route)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def shop_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeShop)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    FakeShop.seen.clear()
    yield f"http://127.0.0.1:{server.server_address[1]}/api"
    server.shutdown()


def test_the_http_hook_reads_the_shops_own_api_with_its_token(shop_url: str) -> None:
    hook = HttpCommerce(shop_url + "/", "secret")
    assert hook.order("A/1") == {"order_id": "A/1", "status": "shipped"}  # ids are escaped in the path
    assert [o["order_id"] for o in hook.orders_of("c9", 2)] == ["1", "2"]  # never more than asked
    assert hook.recommend("shoes", 1) == [{"product_id": "P1"}]
    assert {auth for _, auth in FakeShop.seen} == {"Bearer secret"}
    with pytest.raises(CommerceError) as missing:
        hook.order("nope")
    with pytest.raises(CommerceError) as down:
        hook.order("broken")
    assert (missing.value.status, down.value.status) == (404, 502)
    with pytest.raises(CommerceError) as unreachable:
        HttpCommerce("http://127.0.0.1:9").order("x")
    assert unreachable.value.code == "unavailable"


class UnreadableSecrets:
    """Secrets Manager refusing the shop's token (a missing grant, a deleted secret)."""

    def get(self, name: str, max_age: int | None = None, transform: Any = None, force_fetch: bool = False,
            **sdk_options: Any) -> Any:
        raise GetParameterError(f"AccessDeniedException reading {name}")


def test_a_token_that_cannot_be_read_makes_the_shop_unavailable_and_nothing_is_sent(
        shop_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COMMERCE_TOKEN_SECRET_ID", "shop-token")
    get_settings.cache_clear()
    secrets.use_providers({"secretsmanager": UnreadableSecrets()})
    try:
        with pytest.raises(CommerceError) as err:
            HttpCommerce(shop_url).order("A/1")
    finally:
        secrets.use_providers(None)
        get_settings.cache_clear()
    assert err.value.code == "unavailable" and FakeShop.seen == []  # never called without its token


def test_the_robot_gives_a_slow_shop_system_less_time_than_the_console(
        shop_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COMMERCE_BACKEND", "http")
    monkeypatch.setenv("COMMERCE_URL", shop_url)
    get_settings.cache_clear()
    commerce_api.commerce.cache_clear()
    commerce_api.robot_commerce.cache_clear()
    try:
        assert commerce_api.commerce().order("slow")["status"] == "paid"  # an agent waits for it
        with pytest.raises(CommerceError) as gave_up:  # the robot offers a person instead (ROBOT_TIMEOUT_SECONDS)
            commerce_api.robot_commerce().order("slow")
        assert gave_up.value.code == "unavailable"
    finally:
        commerce_api.commerce.cache_clear()
        commerce_api.robot_commerce.cache_clear()
        get_settings.cache_clear()


def test_without_a_shop_system_every_lookup_says_so() -> None:
    with pytest.raises(CommerceError) as err:
        Unconfigured().recommend("shoes", 4)
    assert (err.value.code, err.value.status) == ("not_configured", 501)


@pytest.fixture
def client(shop: DemoCommerce, sender: RecordingSender, timer: RecordingTimer,
           monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Client, Services]]:
    monkeypatch.setenv("COMMERCE_BACKEND", "demo")
    get_settings.cache_clear()
    commerce_api.commerce.cache_clear()
    services = build(sender, timer, config=lambda: routing_config())
    override(services)
    with Client(app) as c:
        yield c, services
    commerce_api.commerce.cache_clear()


def get(client: Client, path: str, token: str) -> tuple[int, Any]:
    response = client.http.get(path, headers={"Authorization": f"Bearer {token}"})
    return response.status_code, json.loads(response.body)


def test_the_routes_serve_staff_and_refuse_everyone_else_clearly(client: tuple[Client, Services]) -> None:
    http, _ = client
    staff = agent_token("alice")
    status, body = get(http, "/orders/SO-88121", staff)
    assert status == 200 and body["order"]["customer_id"] == "c_1001"
    assert get(http, "/orders?customer_id=c_1002&limit=1", staff)[1]["orders"][0]["order_id"] == "SO-88140"
    # Path parameters arrive URL-encoded (as API Gateway passes them): an id with ":" or "-" encoded is found.
    assert get(http, "/orders/SO%2D88121", staff)[1]["order"]["order_id"] == "SO-88121"
    status, body = get(http, "/products/recommendations?category=cosmetics", staff)
    assert status == 200 and len(body["products"]) == 4
    expected = {
        "/orders/SO-00000": (404, "not_found", None),
        "/orders/bad%20id": (400, "invalid_body", "order_id"),
        "/orders/SO-88121%0A": (400, "invalid_body", "order_id"),  # a trailing newline is not part of an id
        "/orders": (400, "invalid_body", "customer_id"),
        "/orders?customer_id=c_1001&limit=0": (400, "invalid_body", "limit"),
        "/products/recommendations?category=%3Cscript%3E": (400, "invalid_body", "category"),
        "/products/recommendations?category=shoes%0A": (400, "invalid_body", "category"),
        "/products/recommendations?limit=21": (400, "invalid_body", "limit"),
    }
    for path, (code, error, field) in expected.items():
        status, body = get(http, path, staff)
        assert (status, body["error"]["code"], body["error"].get("field")) == (code, error, field), path
    for path in ("/orders/SO-88121", "/orders?customer_id=c_1001", "/products/recommendations"):
        status, body = get(http, path, visitor_token())
        assert (status, body["error"]["code"]) == (403, "forbidden"), path
    assert http.http.get("/orders/SO-88121").status_code == 401


def test_a_visitors_past_sessions_are_listed_newest_first_for_staff(client: tuple[Client, Services]) -> None:
    http, svc = client
    from chalicelib.auth.identity import Identity
    from chalicelib.channel.models import Presence

    vera = Identity("v_vera", "visitor", name="Vera", channel="web")
    first = svc.sessions.current_or_new(vera, svc.presence.connect("c1", vera))
    svc.sessions.end_session(vera, first.session_id)
    second = svc.sessions.current_or_new(vera, Presence.get("v_vera"))
    status, body = get(http, "/visitors/v_vera/sessions", agent_token("bob"))
    assert status == 200
    assert [s["session_id"] for s in body["sessions"]] == [second.session_id, first.session_id]
    assert body["sessions"][1]["close_reason"] == "visitor_ended"
    assert get(http, "/visitors/v_vera/sessions", visitor_token())[0] == 403
    assert get(http, "/visitors/v_vera/sessions?limit=0", agent_token("bob"))[0] == 400

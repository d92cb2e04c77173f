"""The Chalice handlers: REST through Chalice's test client, WebSocket through API-Gateway-shaped events."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from chalice.app import Chalice
from chalice.test import Client

import app as app_module
from app import app
from chalicelib.auth.devidp import dev_idp
from chalicelib.auth.tokens import issue_visitor_token
from chalicelib.platform.errors import DomainError
from chalicelib.platform.http import Routes, error_middleware
from chalicelib.platform.observability import recording
from chalicelib.platform.quota import Limit, RateLimited
from chalicelib.settings import get_settings
from chalicelib.wiring import Services
from tests.conftest import RecordingSender, RecordingTimer, routing_config

CONFIG = routing_config()

EVENT = json.loads((Path(__file__).parents[1] / "events" / "ws_message.json").read_text())


def ws(route: str, connection_id: str, body: str | None = None, query: dict[str, str] | None = None) -> Any:
    event = copy.deepcopy(EVENT)
    kind = {"$connect": "CONNECT", "$disconnect": "DISCONNECT"}.get(route, "MESSAGE")
    event["requestContext"].update(routeKey=route, connectionId=connection_id, eventType=kind)
    if body is not None:
        event["body"] = body
    else:
        event.pop("body")
    if query is not None:
        event["queryStringParameters"] = query
    handler = app.websocket_handlers[route].handler_string.rsplit(".", 1)[1]
    return getattr(app_module, handler)(event, None)


def visitor_token(name: str = "Vera") -> str:
    return issue_visitor_token("v_" + name.lower(), name, "web", "/product/9", "shoes")[0]


def agent_token(user: str = "alice") -> str:
    return dev_idp().login(user, "demo")[0]


def test_connect_needs_a_valid_token(svc: Services) -> None:
    assert ws("$connect", "c0")["statusCode"] == 401
    assert ws("$connect", "c0", query={"token": "nope"})["statusCode"] == 401
    assert ws("$connect", "c1", query={"token": visitor_token()})["statusCode"] == 200
    assert svc.presence.identity("c1") is not None
    assert svc.presence.identity("c0") is None


def test_a_visitor_connection_opens_a_session_with_its_token_context(svc: Services, sender: RecordingSender) -> None:
    ws("$connect", "cv", query={"token": visitor_token()})
    ws("$default", "cv", json.dumps({"action": "hello"}))
    welcome = sender.frames("cv", "welcome")[0]
    assert welcome["user"] == {"id": "v_vera", "role": "visitor", "name": "Vera"}
    session = welcome["session"]
    assert (session["status"], session["channel"], session["source"], session["category"]) == (
        "bot", "web", "/product/9", "shoes")


def test_chat_through_the_handlers_and_the_delivery_step(svc: Services, sender: RecordingSender,
                                                         timer: RecordingTimer) -> None:
    ws("$connect", "ca", query={"token": agent_token()})
    ws("$connect", "cv", query={"token": visitor_token()})
    ws("$default", "cv", json.dumps({"action": "request_agent"}))
    session = sender.frames("cv", "session")[-1]["session"]
    assert session["agent_id"] == "alice"
    sid = session["session_id"]
    ws("$default", "cv", json.dumps({"action": "send", "session_id": sid, "client_msg_id": "c1", "type": "text",
                                     "content": {"text": "hello"}}))
    delivered_to_agent = sender.frames("ca", "message")
    assert [f["message"]["content"] for f in delivered_to_agent] == [{"text": "hello"}]
    step = {"session_id": timer.started[0][0], "sk": timer.started[0][1]}
    assert app.pure_lambda_functions[0](dict(step, op="resend", attempt=1), None) == {"attempt": 2}
    assert [f["attempt"] for f in sender.frames("ca", "message")] == [1, 2]
    ws("$default", "ca", json.dumps({"action": "ack", "message_id": delivered_to_agent[0]["message"]["message_id"]}))
    assert [f["client_msg_id"] for f in sender.frames("cv", "delivered")] == ["c1"]
    assert app.pure_lambda_functions[0](dict(step, op="fail", attempt=3), None) == {"failed": False}


def test_bad_frames_get_error_frames(svc: Services, sender: RecordingSender) -> None:
    ws("$connect", "cv", query={"token": visitor_token()})
    cases = [
        (None, "invalid_json"),
        ("nope", "invalid_json"),
        (json.dumps({"action": "fly"}), "unknown_action"),
        (json.dumps({"action": "ack", "message_id": 3}), "invalid_frame"),
        (json.dumps({"action": "set_status", "status": "online"}), "forbidden"),
        (json.dumps({"action": "send", "session_id": "s_" + "1" * 20, "client_msg_id": "k", "type": "text",
                     "content": {"text": "x"}}), "not_found"),
    ]
    for body, code in cases:
        ws("$default", "cv", body)
        error = sender.frames("cv", "error")[-1]
        assert error["code"] == code, (body, error)
    assert sender.frames("cv", "error")[-1]["client_msg_id"] == "k"


def test_a_frame_from_an_unregistered_connection_is_refused(svc: Services, sender: RecordingSender) -> None:
    ws("$default", "ghost", json.dumps({"action": "ping"}))
    assert sender.frames("ghost", "error")[0]["code"] == "forbidden"


def test_disconnect_forgets_the_connection(svc: Services) -> None:
    ws("$connect", "cv", query={"token": visitor_token()})
    ws("$disconnect", "cv")
    assert svc.presence.identity("cv") is None


def test_visitor_token_route(client: Client) -> None:
    ok = client.http.post("/visitors/token", headers={"Content-Type": "application/json"},
                          body=json.dumps({"channel": "app", "name": "Ann", "category": "3C"}))
    assert ok.status_code == 201
    assert ok.json_body["visitor_id"].startswith("v_")
    for body, field in [({}, "channel"), ({"channel": "fax"}, "channel"), ({"channel": "web", "x": 1}, "x"),
                        ({"channel": "web", "name": "n" * 81}, "name"), ([], None), ("{", None),
                        # Not JSON, though Python's decoder takes it; nested past the decoder's recursion limit; an
                        # unpaired surrogate escape, which no UTF-8 frame could carry later.
                        ('{"channel": NaN}', None), ("[" * 100_000, None),
                        ('{"channel": "web", "name": "\\ud800"}', None)]:
        bad = client.http.post("/visitors/token", headers={"Content-Type": "application/json"},
                               body=body if isinstance(body, str) else json.dumps(body))
        assert bad.status_code == 400, body
        assert bad.json_body["error"]["code"] == "invalid_body"
        assert bad.json_body["error"].get("field") == field


def test_login_route(client: Client) -> None:
    ok = client.http.post("/auth/login", headers={"Content-Type": "application/json"},
                          body=json.dumps({"username": "carol", "password": "demo"}))
    assert ok.status_code == 200
    assert ok.json_body["user"] == {"id": "carol", "name": "Carol Wang", "role": "supervisor"}
    for creds in ({"username": "carol", "password": "nope"}, {"username": "mallory", "password": "demo"}):
        bad = client.http.post("/auth/login", headers={"Content-Type": "application/json"}, body=json.dumps(creds))
        assert bad.status_code == 401
        assert bad.json_body["error"]["code"] == "bad_credentials"
    missing = client.http.post("/auth/login", headers={"Content-Type": "application/json"},
                               body=json.dumps({"username": "carol"}))
    assert missing.status_code == 400
    assert missing.json_body["error"]["field"] == "password"


def test_history_route_checks_identity_and_parameters(client: Client, svc: Services, sender: RecordingSender) -> None:
    ws("$connect", "cv", query={"token": visitor_token()})
    ws("$default", "cv", json.dumps({"action": "hello"}))
    sid = sender.frames("cv", "welcome")[0]["session"]["session_id"]
    path = f"/sessions/{sid}/messages"
    own = client.http.get(path, headers={"Authorization": f"Bearer {visitor_token()}"})
    assert own.status_code == 200
    assert own.json_body == {"messages": [], "next_after_seq": None}
    assert client.http.get(path).status_code == 401
    other = client.http.get(path, headers={"Authorization": f"Bearer {visitor_token('Mallory')}"})
    assert other.status_code == 403
    bad = client.http.get(path + "?limit=500", headers={"Authorization": f"Bearer {visitor_token()}"})
    assert bad.status_code == 400
    assert bad.json_body["error"]["field"] == "limit"
    # Sequence keys hold 12 digits: the largest after_seq is 999999999999, and the message says so.
    last = client.http.get(path + "?after_seq=999999999999", headers={"Authorization": f"Bearer {visitor_token()}"})
    assert last.json_body == {"messages": [], "next_after_seq": None}
    over = client.http.get(path + "?after_seq=1000000000000", headers={"Authorization": f"Bearer {visitor_token()}"})
    assert (over.status_code, over.json_body["error"]["message"]) == (
        400, "'after_seq' must be an integer from 0 to 999999999999")
    unknown = client.http.get("/sessions/" + "x" * 3000 + "/messages",
                              headers={"Authorization": f"Bearer {visitor_token()}"})
    assert unknown.status_code == 404


def test_sign_in_routes_are_absent_where_cognito_signs_agents_in(client: Client,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEV_IDP_ENABLED", "0")
    get_settings.cache_clear()
    login = client.http.post("/auth/login", headers={"Content-Type": "application/json"},
                             body=json.dumps({"username": "alice", "password": "demo"}))
    jwks = client.http.get("/auth/jwks")
    assert (login.status_code, login.json_body["error"]["code"]) == (404, "not_found")
    assert (jwks.status_code, jwks.json_body["error"]["code"]) == (404, "not_found")
    # The pages ask how to sign in: Cognito's user pool client, called from the browser.
    assert client.http.get("/auth/config").json_body == {"provider": "cognito", "region": "us-east-1",
                                                         "client_id": get_settings().agent_token_audience}


def test_the_pages_sign_in_locally_where_the_local_identity_provider_runs(client: Client) -> None:
    assert client.http.get("/auth/config").json_body == {"provider": "local"}


# -- CORS -------------------------------------------------------------------------------------------

SHOP = "https://shop.example.com"
BLOG = "https://blog.example.com"


def test_no_route_answers_every_origin_and_same_origin_calls_get_no_cors(client: Client) -> None:
    """With no CORS_ORIGINS (the default: the pages call their own origin) nothing opens the API to other
    origins: no ``*``, no origin echoed, preflights refused."""
    assert all(entry.cors is None for entries in app.routes.values() for entry in entries.values())
    answer = client.http.get("/auth/config", headers={"Origin": "https://evil.example"})
    assert answer.status_code == 200
    assert "access-control-allow-origin" not in {k.lower() for k in answer.headers}
    preflight = client.http.request("OPTIONS", "/tickets", headers={
        "Origin": "https://evil.example", "Access-Control-Request-Method": "POST"})
    assert preflight.status_code == 403
    assert json.loads(preflight.body)["error"]["code"] == "origin_not_allowed"
    assert "access-control-allow-origin" not in {k.lower() for k in preflight.headers}


def test_cors_answers_each_configured_origin_with_itself_and_no_other(client: Client,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CORS_ORIGINS", f" {SHOP}/, {BLOG} ,*,null")
    get_settings.cache_clear()
    assert get_settings().cors_origins == (SHOP, BLOG)  # "*" and "null" can never widen it
    for origin in (SHOP, BLOG):
        answer = client.http.get("/auth/config", headers={"Origin": origin})
        assert answer.headers["Access-Control-Allow-Origin"] == origin
        assert answer.headers["Vary"] == "Origin"
        preflight = client.http.request("OPTIONS", "/tickets/t1/comments",
                                        headers={"Origin": origin, "Access-Control-Request-Method": "POST"})
        assert preflight.status_code == 204
        assert preflight.headers["Access-Control-Allow-Origin"] == origin
        assert preflight.headers["Access-Control-Allow-Methods"] == "POST,OPTIONS"
        assert "Authorization" in preflight.headers["Access-Control-Allow-Headers"].split(",")
    # Errors carry it too, so the page can read them; another origin gets nothing.
    denied = client.http.get("/tickets", headers={"Origin": SHOP})
    assert denied.status_code == 401 and denied.headers["Access-Control-Allow-Origin"] == SHOP
    other = client.http.get("/auth/config", headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in other.headers
    assert client.http.request("OPTIONS", "/tickets", headers={"Origin": "https://evil.example"}).status_code == 403


def test_every_route_path_answers_preflights() -> None:
    """cors.install runs after the last route: a path declared after it would have no preflight."""
    assert [path for path, entries in app.routes.items() if "OPTIONS" not in entries] == []


def test_a_chat_counts_the_assignment_and_its_message_sent_retried_and_delivered(
        svc: Services, sender: RecordingSender, timer: RecordingTimer) -> None:
    with recording() as counts:
        ws("$connect", "ca", query={"token": agent_token()})
        ws("$connect", "cv", query={"token": visitor_token()})
        ws("$default", "cv", json.dumps({"action": "request_agent"}))
        sid = sender.frames("cv", "session")[-1]["session"]["session_id"]
        ws("$default", "cv", json.dumps({"action": "send", "session_id": sid, "client_msg_id": "c1", "type": "text",
                                         "content": {"text": "hello"}}))
        step = {"session_id": timer.started[0][0], "sk": timer.started[0][1]}
        app.pure_lambda_functions[0](dict(step, op="resend", attempt=1), None)
        message_id = sender.frames("ca", "message")[0]["message"]["message_id"]
        ws("$default", "ca", json.dumps({"action": "ack", "message_id": message_id}))
        app.pure_lambda_functions[0](dict(step, op="fail", attempt=3), None)  # ACKed: nothing fails
    assert counts == {"routing.SessionsAssigned": 1, "messages.MessagesSent": 1, "messages.MessagesRetried": 1,
                      "messages.MessagesDelivered": 1}


def test_an_unacknowledged_message_counts_as_failed(svc: Services, sender: RecordingSender,
                                                    timer: RecordingTimer) -> None:
    ws("$connect", "ca", query={"token": agent_token()})
    ws("$connect", "cv", query={"token": visitor_token()})
    ws("$default", "cv", json.dumps({"action": "request_agent"}))
    sid = sender.frames("cv", "session")[-1]["session"]["session_id"]
    ws("$default", "cv", json.dumps({"action": "send", "session_id": sid, "client_msg_id": "c1", "type": "text",
                                     "content": {"text": "hello"}}))
    with recording() as counts:
        app.pure_lambda_functions[0]({"session_id": timer.started[0][0], "sk": timer.started[0][1], "op": "fail",
                                      "attempt": 3}, None)
    assert counts == {"messages.MessagesFailed": 1}


def test_one_middleware_answers_refusals_with_their_status_and_anything_else_with_a_bare_500() -> None:
    demo = Chalice(app_name="errors")
    bp = Routes(__name__)

    @bp.route("/refused")
    def refused() -> None:
        raise DomainError("conflict", "changed since", field="version", status=409, current=3)

    @bp.route("/limited")
    def limited() -> None:
        raise RateLimited(Limit("demo", 1, 60, "demos"), retry_after_ms=1500)

    @bp.route("/broken")
    def broken() -> None:
        raise ValueError("a detail no caller should see")

    demo.register_blueprint(bp)
    demo.register_middleware(error_middleware(), "http")
    with Client(demo) as demo_client:
        answer = demo_client.http.get("/refused")
        assert (answer.status_code, answer.json_body) == (409, {"error": {
            "code": "conflict", "message": "changed since", "field": "version", "current": 3}})
        answer = demo_client.http.get("/limited")
        assert (answer.status_code, answer.headers["Retry-After"]) == (429, "2")
        assert answer.json_body["error"]["retry_after_ms"] == 1500
        answer = demo_client.http.get("/broken")
        assert (answer.status_code, answer.json_body) == (500, {
            "Code": "InternalServerError", "Message": "An internal server error occurred."})
        assert b"detail" not in answer.body

"""Wrap-up reasons at resolve, on moto through the frame handler: a group that requires one refuses a resolve without
it (``wrapup_required``), any group refuses a code it does not have (``invalid_wrapup``), the session keeps the code
as ``wrapup`` (and the note as ``wrapup_note``), staff see them and the visitor never does; and
``GET /wrapup-reasons`` lists every group's reasons in both languages."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from chalice.test import Client

from app import app
from chalicelib.auth.devidp import dev_idp
from chalicelib.auth.identity import Identity
from chalicelib.auth.tokens import issue_visitor_token
from chalicelib.config.model import WrapupPolicy, WrapupReason
from chalicelib.edge.frames import handle_frame
from chalicelib.sessions.models import Session
from chalicelib.wiring import Services, build, override
from tests.conftest import RecordingSender, RecordingTimer, group, routing_config

REASONS = (WrapupReason("logistics", {"en": "Logistics", "zh-CN": "物流查询"}),
           WrapupReason("returns", {"en": "Returns & exchanges", "zh-CN": "退换货"}))
GENERAL = {"en": "General", "zh-CN": "综合服务"}  # a group named in both languages
CONFIG = routing_config([
    group("general", ["alice"], name=GENERAL, wrapup=WrapupPolicy(required=True, reasons=REASONS)),
    group("shoes", ["alice"], wrapup=WrapupPolicy(required=False, reasons=REASONS[:1])),
    group("bags", ["alice"]),  # asks nothing
])
ALICE = Identity("alice", "agent", name="Alice Chen", groups=("general", "shoes", "bags"))


@dataclass
class Desk:
    svc: Services
    sender: RecordingSender
    n: int = 0

    def resolve(self, sid: str, **fields: Any) -> None:
        handle_frame(self.svc, "ca1", json.dumps({"action": "resolve", "session_id": sid, **fields}))

    def error(self) -> dict[str, Any]:
        [error] = self.sender.frames("ca1", "error")
        return error


def _config() -> Any:
    from chalicelib.config.model import Rule

    rules = (Rule("shoes", "shoes", category=frozenset({"shoes"})), Rule("bags", "bags", category=frozenset({"bags"})))
    return routing_config(list(CONFIG.groups.values()), rules=rules)


@pytest.fixture
def desk(aws: None, sender: RecordingSender, timer: RecordingTimer) -> Desk:
    svc = build(sender, timer, config=_config)
    svc.presence.connect("ca1", ALICE)
    return Desk(svc, sender)


def chat_in(desk: Desk, group_id: str) -> str:
    desk.n += 1
    category = None if group_id == "general" else group_id
    visitor = Identity(f"v_{desk.n:016x}", "visitor", name="Vera", channel="web", category=category)
    session = desk.svc.sessions.current_or_new(visitor, desk.svc.presence.connect(f"cv{desk.n}", visitor))
    desk.svc.routing.set_agent_status(ALICE, "online", 20)
    assigned = desk.svc.routing.request_agent(visitor)
    assert (assigned.agent_id, assigned.group_id) == ("alice", group_id)
    desk.sender.posts.clear()
    return session.session_id


def test_a_required_reason_is_asked_for_and_kept_with_the_note(desk: Desk) -> None:
    sid = chat_in(desk, "general")
    desk.resolve(sid)
    error = desk.error()
    assert (error["code"], error["field"], error["session_id"], error["action"]) == (
        "wrapup_required", "wrapup", sid, "resolve")
    assert "logistics, returns" in error["message"] and Session.get(sid).status == "active"
    desk.sender.posts.clear()
    desk.resolve(sid, wrapup="returns", wrapup_note="  exchanged size 42 for 43 ")
    session = Session.get(sid)
    assert (session.status, session.close_reason, session.wrapup, session.wrapup_note) == (
        "closed", "resolved", "returns", "exchanged size 42 for 43")
    staff_view = [f["session"] for f in desk.sender.frames("ca1", "session")][-1]
    assert (staff_view["wrapup"], staff_view["wrapup_note"]) == ("returns", "exchanged size 42 for 43")
    visitor_view = [f for c, f in desk.sender.posts if c.startswith("cv") and f["event"] == "session"][-1]
    assert "wrapup" not in visitor_view["session"] and "wrapup_note" not in visitor_view["session"]
    assert "exchanged" not in json.dumps([f for c, f in desk.sender.posts if c.startswith("cv")])


def test_an_optional_reason_may_be_left_out_or_given(desk: Desk) -> None:
    first, second = chat_in(desk, "shoes"), chat_in(desk, "shoes")
    desk.resolve(first)
    desk.resolve(second, wrapup="logistics")
    assert desk.sender.frames("ca1", "error") == []
    assert [(Session.get(s).status, Session.get(s).wrapup) for s in (first, second)] == [
        ("closed", None), ("closed", "logistics")]


@pytest.mark.parametrize(("group_id", "code"), [("general", "quality"), ("shoes", "returns"), ("bags", "other")])
def test_a_code_the_session_s_group_does_not_have_is_invalid(desk: Desk, group_id: str, code: str) -> None:
    sid = chat_in(desk, group_id)
    desk.resolve(sid, wrapup=code)
    error = desk.error()
    assert (error["code"], error["field"], error["session_id"]) == ("invalid_wrapup", "wrapup", sid)
    assert Session.get(sid).status == "active" and Session.get(sid).wrapup is None


def test_a_group_without_reasons_resolves_as_before(desk: Desk) -> None:
    sid = chat_in(desk, "bags")
    desk.resolve(sid, wrapup_note="nothing to add")
    assert desk.sender.frames("ca1", "error") == []
    assert (Session.get(sid).wrapup, Session.get(sid).wrapup_note) == (None, "nothing to add")


@pytest.mark.parametrize(("fields", "code", "field"), [
    ({"wrapup": 3}, "invalid_frame", "wrapup"),
    ({"wrapup": ["logistics"]}, "invalid_frame", "wrapup"),
    ({"wrapup": "x" * 41}, "content_too_large", "wrapup"),
    ({"wrapup": "logistics", "wrapup_note": 1}, "invalid_frame", "wrapup_note"),
    ({"wrapup": "logistics", "wrapup_note": "n" * 1001}, "content_too_large", "wrapup_note"),
    ({"wrapup": "logistics", "reason": "x"}, "invalid_frame", "reason"),
])
def test_bad_wrapup_fields_get_their_structured_error(desk: Desk, fields: dict[str, Any], code: str,
                                                       field: str) -> None:
    sid = chat_in(desk, "general")
    desk.resolve(sid, **fields)
    error = desk.error()
    assert (error["code"], error.get("field")) == (code, field)
    assert Session.get(sid).status == "active"


def test_the_checks_come_after_the_caller_s_right(desk: Desk) -> None:
    """A visitor, or an agent who does not serve the session, is refused for who it is, not for the reason."""
    sid = chat_in(desk, "general")
    bob = Identity("bob", "agent", name="Bob", groups=("general",))
    desk.svc.presence.connect("cb1", bob)
    handle_frame(desk.svc, "cb1", json.dumps({"action": "resolve", "session_id": sid}))
    assert [e["code"] for e in desk.sender.frames("cb1", "error")] == ["forbidden"]


@pytest.fixture
def client(aws: None, sender: RecordingSender, timer: RecordingTimer) -> Iterator[Client]:
    override(build(sender, timer, config=_config))
    with Client(app) as client:
        yield client


def test_the_reasons_are_listed_for_staff_in_both_languages(client: Client) -> None:
    token = dev_idp().login("alice", "demo")[0]
    response = client.http.get("/wrapup-reasons", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    assert json.loads(response.body)["groups"] == [
        {"id": "general", "name": "General", "names": GENERAL, "required": True, "reasons": [
            {"code": "logistics", "label": {"en": "Logistics", "zh-CN": "物流查询"}},
            {"code": "returns", "label": {"en": "Returns & exchanges", "zh-CN": "退换货"}}]},
        {"id": "shoes", "name": "Shoes", "names": {"en": "Shoes", "zh-CN": "Shoes"}, "required": False, "reasons": [
            {"code": "logistics", "label": {"en": "Logistics", "zh-CN": "物流查询"}}]},
        {"id": "bags", "name": "Bags", "names": {"en": "Bags", "zh-CN": "Bags"}, "required": False, "reasons": []}]
    visitor = issue_visitor_token("v_vera", "Vera", "web", None, None)[0]
    refused = client.http.get("/wrapup-reasons", headers={"Authorization": f"Bearer {visitor}"})
    assert (refused.status_code, json.loads(refused.body)["error"]["code"]) == (403, "forbidden")

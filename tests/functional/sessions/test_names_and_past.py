"""Who said what, and chats that end well: the agent's display name in session views and on messages, a visitor
starting again after a close without reconnecting, the visitor's own earlier chats and the agent's ended ones
with their ratings, over the app's handlers (WebSocket events and REST)."""

from __future__ import annotations

import json
from typing import Any

from chalice.test import Client

from chalicelib.wiring import Services
from tests.conftest import RecordingSender, count_aws_calls
from tests.functional.conftest import error
from tests.functional.test_app import agent_token, visitor_token, ws


def frame(conn: str, **fields: Any) -> None:
    ws("$default", conn, json.dumps(fields))


def chat_with_alice(sender: RecordingSender, visitor: str = "Vera", conn: str = "cv") -> str:
    """``visitor`` asks for a person and gets alice (connected on ``ca``); returns the session id."""
    ws("$connect", conn, query={"token": visitor_token(visitor)})
    frame(conn, action="request_agent")
    return str(sender.frames(conn, "session")[-1]["session"]["session_id"])


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_every_view_and_message_names_the_agent_as_the_survey_does(svc: Services, sender: RecordingSender) -> None:
    ws("$connect", "ca", query={"token": agent_token("alice")})
    sid = chat_with_alice(sender)
    # The assignment's frame, to both sides, names the agent: "Alice Chen", not the sign-in.
    for conn in ("cv", "ca"):
        session = sender.frames(conn, "session")[-1]["session"]
        assert (session["agent_id"], session["agent_name"]) == ("alice", "Alice Chen")
    frame("ca", action="send", session_id=sid, client_msg_id="a1", type="text", content={"text": "Hi, I'm Alice"})
    frame("cv", action="send", session_id=sid, client_msg_id="v1", type="text", content={"text": "Hello"})
    to_visitor = sender.frames("cv", "message")[-1]["message"]
    to_agent = sender.frames("ca", "message")[-1]["message"]
    assert (to_visitor["sender_role"], to_visitor["sender_name"]) == ("agent", "Alice Chen")
    assert (to_agent["sender_role"], to_agent["sender_name"]) == ("visitor", "Vera")
    frame("cv", action="ack", message_id=to_visitor["message_id"])
    frame("ca", action="ack", message_id=to_agent["message_id"])
    # A reconnect's welcome and the history say the same.
    frame("cv", action="hello")
    assert sender.frames("cv", "welcome")[-1]["session"]["agent_name"] == "Alice Chen"
    history = svc.im.history(svc.presence.identity("cv"), sid, 0, 10)  # type: ignore[arg-type]
    assert [m.get("sender_name") for m in history["messages"]] == ["Alice Chen", "Vera"]
    frame("ca", action="resolve", session_id=sid)
    survey = sender.frames("cv", "survey")[-1]
    closed = sender.frames("cv", "session")[-1]["session"]
    assert survey["agent"] == {"id": "alice", "name": "Alice Chen"}
    assert closed["agent_name"] == survey["agent"]["name"]


def test_the_robot_has_no_sender_name_and_a_transfer_renames_the_agent(svc: Services,
                                                                      sender: RecordingSender) -> None:
    ws("$connect", "cv", query={"token": visitor_token()})
    frame("cv", action="hello")
    sid = sender.frames("cv", "welcome")[-1]["session"]["session_id"]
    frame("cv", action="send", session_id=sid, client_msg_id="q1", type="text", content={"text": "hi"})
    robot = [f["message"] for f in sender.frames("cv", "message") if f["message"]["sender_role"] == "robot"]
    assert robot and all("sender_name" not in m for m in robot)
    ws("$connect", "ca", query={"token": agent_token("alice")})
    ws("$connect", "cb", query={"token": agent_token("bob")})
    frame("cb", action="set_status", status="busy")  # alice takes the chat
    frame("cv", action="request_agent")
    assert sender.frames("cv", "session")[-1]["session"]["agent_name"] == "Alice Chen"
    frame("cb", action="set_status", status="online")
    frame("ca", action="transfer", session_id=sid, to_agent="bob")
    to_visitor = sender.frames("cv", "session")[-1]
    to_bob = sender.frames("cb", "session")[-1]["session"]
    assert (to_visitor["session"]["agent_id"], to_visitor["session"]["agent_name"]) == ("bob", "Bob Li")
    assert to_visitor["transferred"]["agent"] == "Bob Li"
    assert to_bob["agent_name"] == "Bob Li"


def test_a_visitor_starts_again_after_a_close_without_reconnecting(svc: Services, sender: RecordingSender) -> None:
    ws("$connect", "cv", query={"token": visitor_token()})
    ws("$connect", "cv2", query={"token": visitor_token()})  # a second tab
    frame("cv", action="hello")
    first = sender.frames("cv", "welcome")[-1]["session"]["session_id"]
    # While the session is open, new_session opens nothing: the answer names the same session.
    frame("cv", action="new_session")
    assert sender.frames("cv", "welcome")[-1]["session"]["session_id"] == first
    assert sender.frames("cv2", "session") == []
    frame("cv", action="end_session", session_id=first)
    assert sender.frames("cv", "session")[-1]["session"]["status"] == "closed"
    # Asking for a person now says how to start again.
    frame("cv", action="request_agent")
    refused = sender.frames("cv", "error")[-1]
    assert (refused["code"], refused["action"]) == ("not_found", "request_agent")
    assert "new_session" in refused["message"]
    frame("cv", action="new_session")
    welcome = sender.frames("cv", "welcome")[-1]
    second = welcome["session"]["session_id"]
    assert second != first and welcome["session"]["status"] == "bot"
    assert welcome["robot"]["greeting"]  # the robot greets the new chat
    assert sender.frames("cv2", "session")[-1]["session"]["session_id"] == second  # the other tab follows
    # A message to the ended session is refused as ended, the new one takes messages.
    frame("cv", action="send", session_id=first, client_msg_id="late", type="text", content={"text": "hello?"})
    late = sender.frames("cv", "error")[-1]
    assert (late["code"], late["client_msg_id"]) == ("session_closed", "late")
    frame("cv", action="send", session_id=second, client_msg_id="fresh", type="text", content={"text": "hi"})
    assert sender.frames("cv", "delivered")[-1]["client_msg_id"] == "fresh"
    # A double tap opens nothing more.
    frame("cv", action="new_session")
    assert sender.frames("cv", "welcome")[-1]["session"]["session_id"] == second


def test_new_session_refusals(svc: Services, sender: RecordingSender) -> None:
    ws("$connect", "cv", query={"token": visitor_token()})
    ws("$connect", "ca", query={"token": agent_token("alice")})
    frame("cv", action="new_session", session_id="s_" + "0" * 20)
    bad = sender.frames("cv", "error")[-1]
    assert (bad["code"], bad["field"]) == ("invalid_frame", "session_id")
    frame("ca", action="new_session")
    staff = sender.frames("ca", "error")[-1]
    assert (staff["code"], staff["message"]) == ("forbidden", "only visitors start chats")


def test_a_visitor_lists_only_its_own_earlier_chats_page_by_page(svc: Services, sender: RecordingSender,
                                                                client: Client) -> None:
    ws("$connect", "ca", query={"token": agent_token("alice")})
    closed = []
    for _ in range(3):
        sid = chat_with_alice(sender)
        frame("ca", action="resolve", session_id=sid)
        closed.append(sid)
        frame("cv", action="new_session")
    frame("cv", action="rate", session_id=closed[-1], stars=4, tags=["quick"], comment="Thanks Alice")
    open_now = sender.frames("cv", "welcome")[-1]["session"]["session_id"]
    other = chat_with_alice(sender, "Olga", "co")
    frame("ca", action="resolve", session_id=other)
    frame("co", action="new_session")
    frame("co", action="rate", session_id=other, stars=1, comment="Olga's own words")

    vera = bearer(visitor_token())
    calls = count_aws_calls()
    first = client.http.get("/sessions?status=closed&limit=2", headers=vera)
    assert calls() == 2  # one Query of the index (keys only), one BatchGetItem: never a scan
    assert first.status_code == 200, first.body
    page = first.json_body
    assert [s["session_id"] for s in page["sessions"]] == closed[::-1][:2]  # newest first; the open one left out
    assert page["sessions"][0]["survey"]["stars"] == 4 and page["sessions"][0]["survey"]["comment"] == "Thanks Alice"
    assert page["sessions"][0]["agent_name"] == "Alice Chen"
    assert "transfer" not in page["sessions"][0]  # the visitor's view, not the staff's
    rest = client.http.get(f"/sessions?status=closed&limit=2&before={page['next_before']}", headers=vera).json_body
    assert [s["session_id"] for s in rest["sessions"]] == [closed[0]]
    assert rest["next_before"] is None
    everything = client.http.get("/sessions?status=closed", headers=vera).json_body["sessions"]
    assert other not in {s["session_id"] for s in everything} and open_now not in {s["session_id"] for s in everything}
    # Each earlier chat's messages are the visitor's to read; another visitor's are not.
    assert client.http.get(f"/sessions/{closed[0]}/messages", headers=vera).status_code == 200
    error(client.http.get(f"/sessions/{other}/messages", headers=vera), 403, "forbidden")
    # The staff list of a visitor's sessions stays staff only: Olga's rating is not Vera's to read.
    error(client.http.get("/visitors/v_olga/sessions", headers=vera), 403, "forbidden")


def test_bad_paging_of_ended_sessions_is_refused_by_field(svc: Services, client: Client) -> None:
    ws("$connect", "cv", query={"token": visitor_token()})
    vera = bearer(visitor_token())
    error(client.http.get("/sessions?status=open", headers=vera), 400, "invalid_body", "status")
    error(client.http.get("/sessions?status=closed&limit=0", headers=vera), 400, "invalid_body", "limit")
    error(client.http.get("/sessions?status=closed&limit=51", headers=vera), 400, "invalid_body", "limit")
    error(client.http.get("/sessions?status=closed&before=0", headers=vera), 400, "invalid_body", "before")
    error(client.http.get("/sessions?status=closed&before=-5", headers=vera), 400, "invalid_body", "before")
    error(client.http.get("/sessions?status=closed&before=99999999999999", headers=vera), 400, "invalid_body",
          "before")
    error(client.http.get("/sessions?status=closed"), 401, "missing_token")
    staff = bearer(agent_token("alice"))
    error(client.http.get("/visitors/v_vera/sessions?before=x", headers=staff), 400, "invalid_body", "before")
    assert client.http.get("/sessions?status=closed", headers=vera).json_body == {"sessions": [], "next_before": None}


def test_the_agent_sees_the_rating_at_once_and_in_its_ended_list(svc: Services, sender: RecordingSender,
                                                                client: Client) -> None:
    ws("$connect", "ca", query={"token": agent_token("alice")})
    ws("$connect", "cb", query={"token": agent_token("bob")})
    frame("cb", action="set_status", status="busy")
    sid = chat_with_alice(sender)
    still_open = chat_with_alice(sender, "Olga", "co")
    frame("ca", action="resolve", session_id=sid)
    before = len(sender.frames("ca", "session"))
    frame("cv", action="rate", session_id=sid, stars=5, tags=["quick", "friendly"], comment="很好，谢谢")
    rated = sender.frames("cv", "rated")[-1]
    assert (rated["stars"], rated["tags"]) == (5, ["quick", "friendly"])
    told = sender.frames("ca", "session")[before:]
    assert len(told) == 1
    survey = told[0]["session"]["survey"]
    assert (told[0]["session"]["session_id"], told[0]["session"]["status"]) == (sid, "closed")
    assert (survey["status"], survey["stars"], survey["tags"], survey["comment"]) == (
        "answered", 5, ["quick", "friendly"], "很好，谢谢")
    assert sender.frames("cb", "session") == []  # nobody else hears of it
    ended = client.http.get("/sessions?status=closed", headers=bearer(agent_token("alice"))).json_body
    assert [s["session_id"] for s in ended["sessions"]] == [sid]  # Olga's open chat is not among them
    assert ended["sessions"][0]["survey"]["comment"] == "很好，谢谢"
    assert ended["sessions"][0]["customer_id"] is None  # the staff view
    assert still_open not in {s["session_id"] for s in ended["sessions"]}
    # Bob served none of them.
    assert client.http.get("/sessions?status=closed", headers=bearer(agent_token("bob"))).json_body["sessions"] == []

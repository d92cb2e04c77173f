"""Conversation search over moto: what a closed session's document holds, every filter, Chinese and English text,
who finds what, paging, and what each bad query gets. Each test runs on the embedded index, and on OpenSearch too
wherever a cluster's URL is set (``OPENSEARCH_URL``): one contract for both backends."""

from __future__ import annotations

import io
import json
import os
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import pytest
from chalice.test import Client

from app import app
from chalicelib.auth.devidp import dev_idp
from chalicelib.auth.identity import Identity
from chalicelib.conversations.__main__ import main as cli
from chalicelib.conversations.model import Found, Query, Scope
from chalicelib.conversations.search.base import ConversationIndex
from chalicelib.conversations.search.embedded import EmbeddedConversationIndex
from chalicelib.conversations.service import encode_cursor
from chalicelib.im.models import Message, message_sk
from chalicelib.im.schemas import MessageRef, SendFrame
from chalicelib.platform.textsearch import SearchUnavailable
from chalicelib.sessions.models import Session
from chalicelib.wiring import Services, build, override
from local.streams import StreamPoller
from tests.conftest import RecordingSender, RecordingTimer, group, routing_config
from tests.functional.conftest import error

DAY = 86_400_000
T0 = 1_796_000_000_000  # 2026-11-29
# alice serves general and shoes, bob cosmetics; carol supervises general (her token, config/dev_users.json).
GENERAL = {"en": "General", "zh-CN": "综合服务"}  # a group named in both languages
CONFIG = routing_config([group("general", ["alice"], name=GENERAL), group("shoes", ["alice"]),
                         group("cosmetics", ["bob"]), group("vip", ["bob"])])
S1, S2, S3, S4, S5 = (f"s_{n:020x}" for n in (1, 2, 3, 4, 5))


def seed(session_id: str, *, group_id: str, agent: str, visitor: str, name: str | None, day: int,
         lines: list[tuple[str, str, dict[str, Any]]], status: str = "closed", rating: int | None = None,
         wrapup: str | None = None) -> None:
    """A session as the sessions and IM services leave it, with its delivered messages (role, kind, content)."""
    created = T0 + day * DAY
    Session(session_id, visitor_id=visitor, visitor_name=name, agent_id=agent, agent_name=agent.title(),
            status=status, group_id=group_id, channel="web", language="zh-CN", created_at=created,
            closed_at=created + 600_000 if status == "closed" else None, close_reason="resolved",
            rating=rating, wrapup=wrapup, seq=len(lines), updated_at=created).save()
    for seq, (role, kind, content) in enumerate(lines, 1):
        sender = visitor if role == "visitor" else "robot" if role == "robot" else agent
        Message(session_id, message_sk(seq), seq=seq, message_id=f"{session_id}.{seq}", sender_id=sender,
                sender_role=role, kind=kind, content=content, status="delivered", created_at=created + seq).save()


def text(role: str, words: str) -> tuple[str, str, dict[str, Any]]:
    return role, "text", {"text": words}


@pytest.fixture(params=["embedded", "opensearch"])
def index(request: pytest.FixtureRequest) -> Iterator[ConversationIndex]:
    if request.param == "embedded":
        yield EmbeddedConversationIndex()
        return
    url = os.environ.get("OPENSEARCH_URL")
    if not url:
        pytest.skip("OPENSEARCH_URL is not set")
    from chalicelib.conversations.search.opensearch import OpenSearchConversationIndex

    cluster = OpenSearchConversationIndex(url, f"conversations-contract-{uuid.uuid4().hex[:12]}", shards=1,
                                          region=os.environ.get("AWS_REGION", "us-east-1"), refresh=True,
                                          service=os.environ.get("OPENSEARCH_SERVICE", "es"))
    try:
        yield cluster
    finally:
        cluster.drop_index()


@pytest.fixture
def svc(aws: None, sender: RecordingSender, timer: RecordingTimer, index: ConversationIndex) -> Services:
    services = build(sender, timer, config=lambda: CONFIG, conversations=index)
    override(services)
    seed(S1, group_id="general", agent="alice", visitor="c:1001", name="Mei Lin", day=0, rating=5,
         wrapup="logistics",
         lines=[text("visitor", "我想退货，订单号 so-88121"), text("agent", "好的，已为您办理退货")])
    seed(S2, group_id="cosmetics", agent="bob", visitor="v_00000000000000a2", name="Olga", day=1, rating=2,
         wrapup="quality", lines=[
             text("visitor", "My lipstick arrived broken"),
             ("visitor", "order", {"order_id": "SO-77001", "status": "delivered"}),
             ("robot", "robot", {"text": "Returns are free within 7 days"}),
             ("agent", "note", {"text": "customer is angry, approve 退货 quietly"}),
             text("agent", "Sorry, we will send a replacement")])
    seed(S3, group_id="shoes", agent="alice", visitor="c:1001", name="Mei Lin", day=2,
         lines=[text("visitor", "Where is my parcel? I returned the shoes"),
                text("agent", "Your refund is on its way")])
    seed(S4, group_id="general", agent="alice", visitor="v_00000000000000a4", name="Ann", day=3, status="active",
         lines=[text("visitor", "退货 please")])
    # Served by alice in a group she no longer serves.
    seed(S5, group_id="vip", agent="alice", visitor="v_00000000000000a5", name="Vic", day=4, rating=4,
         lines=[text("visitor", "VIP delivery question")])
    for session_id in (S1, S2, S3, S4, S5):
        services.conversations.index_closed(session_id)
    return services


ADMIN = Identity("admin", "admin")
ALICE = Identity("alice", "agent", groups=("general", "shoes"))
BOB = Identity("bob", "agent", groups=("cosmetics",))
CAROL = Identity("carol", "supervisor", groups=("general",))


def ids(svc: Services, who: Identity = ADMIN, cursor: str | None = None, limit: int = 20, **query: Any) -> list[str]:
    return [h.summary["session_id"] for h in svc.conversations.search(who, Query(**query), cursor, limit).hits]


def only(svc: Services, **query: Any) -> Found:
    page = svc.conversations.search(ADMIN, Query(**query), None, 20)
    assert len(page.hits) == 1, [h.summary["session_id"] for h in page.hits]
    return page.hits[0]


# -- indexing ---------------------------------------------------------------------------------------------

def test_only_closed_sessions_are_indexed_and_indexing_again_replaces_the_document(svc: Services) -> None:
    assert svc.conversations.index.count() == 4  # S4 is still active
    assert not svc.conversations.index_closed(S4)
    assert not svc.conversations.index_closed("s_" + "f" * 20)  # no such session
    assert not svc.conversations.index_closed("not-a-session")
    # A rating and a wrap-up reason arrive after the close: the stream calls again, the document is replaced.
    Session(S3).update(actions=[Session.rating.set(1), Session.wrapup.set("returns")])
    assert svc.conversations.index_closed(S3)
    assert svc.conversations.index.count() == 4
    assert only(svc, rating=1).summary["session_id"] == S3
    assert only(svc, wrapup="returns").summary["wrapup"] == "returns"


def test_a_document_holds_what_people_wrote_never_the_robot_or_internal_notes(svc: Services) -> None:
    assert ids(svc, text="lipstick") == [S2]
    assert ids(svc, text="angry") == []  # the note
    assert ids(svc, text="free within days") == []  # the robot's answer
    hit = only(svc, text="replacement")
    assert hit.summary["customer"] == {"visitor_id": "v_00000000000000a2", "customer_id": None, "name": "Olga"}
    assert hit.snippet is not None and hit.snippet.side == "agent"
    assert [p.text for p in hit.snippet.parts if p.match] == ["replacement"]


def test_a_real_chat_is_found_once_resolved(svc: Services) -> None:
    vera = Identity("c:2002", "visitor", name="Vera Wu", channel="web")
    agent = Identity("alice", "agent", name="Alice Chen", groups=("general", "shoes"))
    svc.presence.connect("ca", agent)
    svc.routing.agent_connected(agent)
    session = svc.sessions.current_or_new(vera, svc.presence.connect("cv", vera))
    assert svc.routing.request_agent(vera).agent_id == "alice"
    svc.im.send(vera, "cv", SendFrame(session.session_id, "m1", "text", {"text": "运费险怎么退货？订单 SO-90001"}))
    svc.im.ack(agent, MessageRef(session.session_id, 1))
    svc.im.send(agent, "ca", SendFrame(session.session_id, "m2", "text", {"text": "我来帮您处理"}))
    svc.im.ack(vera, MessageRef(session.session_id, 2))
    assert not svc.conversations.index_closed(session.session_id)  # still open
    closed = svc.sessions.resolve(agent, session.session_id)
    assert svc.conversations.index_closed(closed)  # the stream's new image, without a read
    hit = only(svc, order="SO-90001")
    assert hit.summary["customer"] == {"visitor_id": "c:2002", "customer_id": "2002", "name": "Vera Wu"}
    assert hit.summary["agent_name"] == "Alice Chen"
    assert ids(svc, text="退货", customer="2002") == [session.session_id]


def test_the_sessions_stream_indexes_a_chat_when_it_closes_and_again_when_it_is_rated(svc: Services,
                                                                                     index: ConversationIndex) -> None:
    """The path a deployed stack takes: moto's stream of the sessions table, the stream's dispatcher (as the
    SessionsStream function runs it) and its "search" consumer; writes that change nothing searchable are passed."""
    puts: list[list[str]] = []
    put = index.put

    def recorded(documents: list[Any]) -> None:
        puts.append([d.session_id for d in documents])
        put(documents)

    index.put = recorded  # type: ignore[method-assign]
    stream = StreamPoller(str(Session.Meta.table_name), lambda event, _: svc.session_stream.handle(event))
    stream.open()
    vera = Identity("c:3003", "visitor", name="Vera Wu", channel="web")
    agent = Identity("alice", "agent", name="Alice Chen", groups=("general", "shoes"))
    svc.presence.connect("ca", agent)
    svc.routing.agent_connected(agent)
    session = svc.sessions.current_or_new(vera, svc.presence.connect("cv", vera))
    svc.routing.request_agent(vera)
    svc.im.send(vera, "cv", SendFrame(session.session_id, "m1", "text", {"text": "我的快递到哪了 SO-90002"}))
    svc.im.ack(agent, MessageRef(session.session_id, 1))
    stream.drain()
    assert puts == []  # open: nothing to index
    svc.sessions.resolve(agent, session.session_id)
    stream.drain()
    assert puts == [[session.session_id]]
    assert ids(svc, order="SO-90002") == [session.session_id]
    svc.survey.rate(vera, session.session_id, 5, [], None)
    stream.drain()
    assert puts[1:] == [[session.session_id]]  # the rating: the same document again, now with its stars
    assert ids(svc, order="SO-90002", rating=5) == [session.session_id]


# -- text, Chinese and English --------------------------------------------------------------------------

def test_chinese_text_is_found_as_a_substring_and_marked_in_the_snippet(svc: Services) -> None:
    hit = only(svc, text="退货")
    assert hit.summary["session_id"] == S1
    assert hit.snippet is not None and hit.snippet.side == "visitor"
    assert "".join(p.text for p in hit.snippet.parts) == "我想退货，订单号 so-88121"
    assert [p.text for p in hit.snippet.parts if p.match] == ["退货"]
    assert ids(svc, text="办理") == [S1]  # the agent's words too
    assert ids(svc, text="退") == [S1]  # one character
    assert ids(svc, text="退款") == []  # bigrams, not characters: 退 and 款 apart do not make 退款


def test_english_words_match_by_stem_and_all_must_occur(svc: Services) -> None:
    assert ids(svc, text="return") == [S3]  # "returned"
    hit = only(svc, text="Parcels")
    assert hit.snippet is not None and [p.text for p in hit.snippet.parts if p.match] == ["parcel"]
    assert ids(svc, text="parcel refund") == [S3]  # one side each
    assert ids(svc, text="parcel lipstick") == []
    assert ids(svc, text="?!") == []


def test_the_order_number_is_found_in_texts_and_order_cards_in_any_case(svc: Services) -> None:
    assert ids(svc, order="SO-88121") == [S1]  # written in lower case in the chat
    assert ids(svc, order="so-77001") == [S2]  # an order card
    assert ids(svc, text="SO-77001") == [S2]  # as text: the card has no words
    assert ids(svc, order="SO-1") == []


# -- filters -------------------------------------------------------------------------------------------

def test_each_filter(svc: Services) -> None:
    assert ids(svc) == [S5, S3, S2, S1]  # newest first
    assert ids(svc, customer="Mei") == [S3, S1]
    assert ids(svc, customer="lin mei") == [S3, S1]  # the name's words, any order and case
    assert ids(svc, customer="c:1001") == [S3, S1]
    assert ids(svc, customer="1001") == [S3, S1]  # the shop's customer id
    assert ids(svc, customer="v_00000000000000a2") == [S2]
    assert ids(svc, from_ms=T0 + DAY, to_ms=T0 + 3 * DAY) == [S3, S2]
    assert ids(svc, from_ms=T0 + 2 * DAY) == [S5, S3]
    assert ids(svc, to_ms=T0 + DAY) == [S1]
    assert ids(svc, group="cosmetics") == [S2]
    assert ids(svc, agent="alice") == [S5, S3, S1]
    assert ids(svc, rating=5) == [S1]
    assert ids(svc, wrapup="quality") == [S2]
    assert ids(svc, text="退货", agent="bob") == []  # filters combine with the text
    hit = only(svc, rating=4)
    assert hit.score is None and hit.snippet is not None
    assert [(p.text, p.match) for p in hit.snippet.parts] == [("VIP delivery question", False)]


# -- who finds what ------------------------------------------------------------------------------------

def test_each_role_finds_its_groups_and_agents_their_own_chats(svc: Services) -> None:
    assert ids(svc, ADMIN) == [S5, S3, S2, S1]
    assert ids(svc, ALICE) == [S5, S3, S1]  # general and shoes, and S5 she served in vip
    assert ids(svc, BOB) == [S5, S2]  # cosmetics and vip
    assert ids(svc, CAROL) == [S1]  # the groups in her token
    assert ids(svc, BOB, text="退货") == []  # the text does not widen the scope
    assert svc.conversations.scope(CAROL) == Scope(frozenset({"general"}))


def test_a_group_outside_the_callers_is_refused(svc: Services) -> None:
    from chalicelib.conversations.errors import ConversationError

    for who, other in ((ALICE, "cosmetics"), (CAROL, "shoes"), (BOB, "general")):
        with pytest.raises(ConversationError) as refused:
            ids(svc, who, group=other)
        assert (refused.value.code, refused.value.status, refused.value.field) == ("forbidden", 403, "group")
    assert ids(svc, ADMIN, group="shoes") == [S3]


# -- paging --------------------------------------------------------------------------------------------

def test_pages_follow_the_cursor_to_the_end(svc: Services) -> None:
    first = svc.conversations.search(ADMIN, Query(), None, 3)
    assert [h.summary["session_id"] for h in first.hits] == [S5, S3, S2]
    assert first.next_cursor is not None
    second = svc.conversations.search(ADMIN, Query(), first.next_cursor, 3)
    assert [h.summary["session_id"] for h in second.hits] == [S1]
    assert second.next_cursor is None
    exact = svc.conversations.search(ADMIN, Query(), None, 4)
    assert exact.next_cursor is None  # exactly a page: no empty page after it


# -- REST ----------------------------------------------------------------------------------------------

@pytest.fixture
def http(svc: Services) -> Iterator[Client]:
    with Client(app) as c:
        yield c


def get(http: Client, user: str | None, **params: str) -> Any:
    headers = {"Authorization": f"Bearer {dev_idp().login(user, 'demo')[0]}"} if user else {}
    return http.http.get(f"/conversations?{urlencode(params)}", headers=headers)


def test_the_api_answers_hits_with_highlights_and_pages(http: Client) -> None:
    body = get(http, "admin", q="退货").json_body
    assert body["next_cursor"] is None
    [hit] = body["conversations"]
    assert hit["session_id"] == S1 and hit["group_name"] == "General" and hit["rating"] == 5
    assert hit["group_names"] == GENERAL
    assert hit["customer"] == {"visitor_id": "c:1001", "customer_id": "1001", "name": "Mei Lin"}
    assert hit["wrapup"] == "logistics" and hit["order_ids"] == ["SO-88121"]
    assert {"text": "退货", "match": True} in hit["snippet"]["parts"]
    page = get(http, "admin", limit="2").json_body
    assert [h["session_id"] for h in page["conversations"]] == [S5, S3]
    rest = get(http, "admin", limit="2", cursor=page["next_cursor"]).json_body
    assert [h["session_id"] for h in rest["conversations"]] == [S2, S1]
    assert [h["session_id"] for h in get(http, "alice").json_body["conversations"]] == [S5, S3, S1]
    assert [h["session_id"] for h in get(http, "carol", order="SO-88121").json_body["conversations"]] == [S1]


@pytest.fixture
def bare(aws: None, sender: RecordingSender, timer: RecordingTimer) -> Iterator[Client]:
    """The API over an empty index: refusals need no conversations."""
    override(build(sender, timer, config=lambda: CONFIG, conversations=EmbeddedConversationIndex()))
    with Client(app) as c:
        yield c


@pytest.mark.parametrize(("params", "status", "code", "field"), [
    ({"q": "x" * 201}, 400, "invalid_body", "q"),
    ({"customer": " "}, 400, "invalid_body", "customer"),
    ({"customer": "x" * 81}, 400, "invalid_body", "customer"),
    ({"order": "SO 88121"}, 400, "invalid_body", "order"),
    ({"from": "yesterday"}, 400, "invalid_body", "from"),
    ({"to": "-1"}, 400, "invalid_body", "to"),
    ({"from": "1796000000000", "to": "1796000000000"}, 400, "invalid_body", "to"),
    ({"group": "General!"}, 400, "invalid_body", "group"),
    ({"agent": "a b"}, 400, "invalid_body", "agent"),
    ({"rating": "0"}, 400, "invalid_body", "rating"),
    ({"rating": "4.5"}, 400, "invalid_body", "rating"),
    ({"wrapup": "退换货"}, 400, "invalid_body", "wrapup"),
    ({"limit": "51"}, 400, "invalid_body", "limit"),
    ({"cursor": "not-a-cursor"}, 400, "invalid_body", "cursor"),
    ({"cursor": encode_cursor(0)}, 400, "invalid_body", "cursor"),
    ({"cursor": encode_cursor(5000)}, 400, "invalid_body", "cursor"),
    ({"status": "closed"}, 400, "invalid_body", "status"),
    ({"group": "cosmetics"}, 403, "forbidden", "group"),  # alice does not serve it
])
def test_what_each_bad_query_gets(bare: Client, params: dict[str, str], status: int, code: str,
                                  field: str) -> None:
    error(get(bare, "alice", **params), status, code, field)


def test_visitors_and_strangers_are_refused(bare: Client) -> None:
    error(get(bare, None), 401, "missing_token")
    token = bare.http.post("/visitors/token", body=json.dumps({"channel": "web"}),
                           headers={"Content-Type": "application/json"}).json_body["token"]
    error(bare.http.get("/conversations", headers={"Authorization": f"Bearer {token}"}), 403, "forbidden")


def test_an_index_that_cannot_answer_is_503(bare: Client) -> None:
    class Down(EmbeddedConversationIndex):
        def search(self, query: Query, scope: Scope, offset: int, limit: int) -> tuple[list[Found], bool]:
            raise SearchUnavailable("cluster unreachable")

    override(build(RecordingSender(), RecordingTimer(), config=lambda: CONFIG, conversations=Down()))
    error(get(bare, "admin"), 503, "unavailable")


def test_the_transcript_opens_for_staff_of_the_chats_group(http: Client) -> None:
    def history(user: str, session_id: str) -> Any:
        token = dev_idp().login(user, "demo")[0]
        return http.http.get(f"/sessions/{session_id}/messages", headers={"Authorization": f"Bearer {token}"})

    assert [m["content"]["text"] for m in history("alice", S1).json_body["messages"]][:1] == [
        "我想退货，订单号 so-88121"]
    Session(S1).update(actions=[Session.agent_id.set("bob")])  # alice no longer its agent, still its group's
    assert history("alice", S1).status_code == 200
    error(history("bob", S3), 403, "forbidden")  # shoes is not bob's group


# -- the backfill ----------------------------------------------------------------------------------------

def test_the_backfill_indexes_every_closed_session(svc: Services) -> None:
    fresh = svc.conversations
    out = io.StringIO()
    assert cli(["reindex"], service=lambda: fresh, out=out) == 0
    assert out.getvalue() == "indexed 4 closed conversations\n"
    assert [h.summary["session_id"] for h in fresh.search(ADMIN, Query(text="退货"), None, 5).hits] == [S1]

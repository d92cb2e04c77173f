"""An error frame's ``message`` is in its reader's language: a visitor whose language is Chinese reads the code's
sentence in Chinese, every other visitor and all staff the detailed English one; ``code``, ``field`` and the ids
never change (clients translate by code)."""

from __future__ import annotations

import pytest

from chalicelib.auth.identity import Identity
from chalicelib.edge.frames import handle_frame
from chalicelib.wiring import Services, build
from tests.conftest import RecordingSender, RecordingTimer, routing_config


@pytest.fixture
def svc(aws: None, sender: RecordingSender, timer: RecordingTimer) -> Services:
    config = routing_config()
    return build(sender, timer, config=lambda: config)


def connect(svc: Services, conn: str, who: Identity) -> str:
    svc.presence.connect(conn, who)
    if who.role == "visitor":
        svc.sessions.current_or_new(who, svc.presence.connect(conn, who))
    return conn


# (frame, code, field, the Chinese message)
BAD = [
    ('{"action": "no_such_action"}', "unknown_action", "action", "当前版本暂不支持此操作。"),
    ('{"action": "end_session", "session_id": "s_00000000000000000000"}', "not_found", None, "未找到该会话。"),
    ('{"action": "set_status", "status": "online"}', "forbidden", None, "无权进行此操作。"),
    ('{"action": "ack", "message_id": "s_00000000000000000000.1"}', "unknown_message", None, "未找到该消息。"),
    ('{"action": "leave_message", "text": "' + "x" * 2001 + '"}', "content_too_large", "text",
     "内容太长，请精简后再试。"),
    ('{"action": "typing", "session_id": "s_00000000000000000000", "state": "maybe"}', "invalid_frame", "state",
     "请求内容不正确。"),
    ("not json", "invalid_json", None, "无法读取请求内容。"),
]


@pytest.mark.parametrize(("body", "code", "field", "chinese"), BAD, ids=[b[1] for b in BAD])
@pytest.mark.parametrize("language", ["zh-CN", "zh", "zh-Hans-CN"])
def test_a_chinese_visitor_reads_errors_in_chinese(svc: Services, sender: RecordingSender, body: str, code: str,
                                                   field: str | None, chinese: str, language: str) -> None:
    conn = connect(svc, "cz", Identity("v_zh", "visitor", name="Wang", channel="app", language=language))
    handle_frame(svc, conn, body)
    (error,) = sender.frames(conn, "error")
    assert (error["code"], error.get("field"), error["message"]) == (code, field, chinese)


@pytest.mark.parametrize(("body", "code", "field", "chinese"), BAD, ids=[b[1] for b in BAD])
def test_english_visitors_and_staff_keep_the_detailed_english(svc: Services, sender: RecordingSender, body: str,
                                                              code: str, field: str | None, chinese: str) -> None:
    readers = {"ce": Identity("v_en", "visitor", name="Vera", channel="web", language="en-US"),
               "cn": Identity("v_none", "visitor", name="Ned", channel="web"),
               "ca": Identity("alice", "agent", name="Alice", language="zh-CN")}
    messages = set()
    for conn, who in readers.items():
        connect(svc, conn, who)
        handle_frame(svc, conn, body)
        errors = sender.frames(conn, "error")
        if who.role == "agent" and not errors:
            continue  # the frame is an agent's own (set_status): nothing refused
        (error,) = errors
        assert (error["code"], error.get("field")) == (code, field) or who.role == "agent"
        messages.add(error["message"])
    assert chinese not in messages
    assert all(m.isascii() for m in messages)


def test_refused_ack_ids_are_listed_with_a_chinese_message(svc: Services, sender: RecordingSender) -> None:
    conn = connect(svc, "cz", Identity("v_zh", "visitor", name="Wang", channel="app", language="zh-CN"))
    handle_frame(svc, conn, '{"action": "ack", "message_ids": ["m-1", "s_00000000000000000000.9"]}')
    (error,) = sender.frames(conn, "error")
    assert (error["code"], error["message"], error["message_ids"]) == (
        "unknown_message", "未找到该消息。", ["m-1", "s_00000000000000000000.9"])

"""What each bad frame gets: a precise error code and the field at fault."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, get_args

import pytest

from chalicelib.channel.errors import ERROR_CODES, ImError
from chalicelib.im import schemas

SID = "s_" + "ab" * 10


def _send(**overrides: Any) -> dict[str, Any]:
    frame: dict[str, Any] = {"action": "send", "session_id": SID, "client_msg_id": "c-1", "type": "text",
                             "content": {"text": "hello"}}
    frame.update(overrides)
    return {k: v for k, v in frame.items() if v is not None}


def _code(call: Any) -> tuple[str, Any]:
    with pytest.raises(ImError) as err:
        call()
    return err.value.code, err.value.field


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (None, "invalid_json"),
        ("", "invalid_json"),
        ("{not json", "invalid_json"),
        ("[1, 2]", "invalid_json"),
        ('"text"', "invalid_json"),
        ("{}", "invalid_frame"),
        ('{"action": 5}', "invalid_frame"),
        ("x" * (32 * 1024 + 1), "frame_too_large"),
        ("[" * 5000 + "]" * 5000, "invalid_json"),
        # Text no UTF-8 frame can carry: a raw lone surrogate, or an escaped one (it would come back in an echo
        # or a message and fail to encode).
        ('{"action": "ping"}\udc80', "invalid_json"),
        ('{"action": "\\ud800"}', "invalid_json"),
        ('{"action": "send", "content": {"text": "a\\udfffb"}}', "invalid_json"),
        # NaN and Infinity are not JSON, though Python's decoder takes them.
        ('{"action": "send", "content": {"price": NaN}}', "invalid_json"),
        ('{"action": "ping", "x": -Infinity}', "invalid_json"),
    ],
)
def test_parse_frame_refusals(body: str | None, code: str) -> None:
    assert _code(lambda: schemas.parse_frame(body))[0] == code


def test_escaped_surrogate_pairs_are_characters_not_errors() -> None:
    frame = schemas.parse_frame('{"action": "send", "content": {"text": "\\ud83d\\ude00 \\\\ud800"}}')
    assert frame["content"]["text"] == "\U0001F600 \\ud800"


def test_a_frame_of_exactly_the_limit_is_accepted() -> None:
    frame = {"action": "ping", "pad": ""}
    frame["pad"] = "x" * (32 * 1024 - len(json.dumps(frame)))
    body = json.dumps(frame)
    assert len(body.encode()) == 32 * 1024
    assert schemas.parse_frame(body)["action"] == "ping"


def test_zero_and_small_prices_are_numbers_like_any_other() -> None:
    content = {"product_id": "p", "title": "t", "price": 0}
    assert schemas.send_frame(_send(type="product", content=content)).content["price"] == 0
    assert schemas.send_frame(_send(type="product", content={**content, "price": 1e-6})).content["price"] == 1e-6


def test_valid_send_of_each_type() -> None:
    cases = {
        "text": {"text": "你好, where is my order?"},
        "image": {"url": "https://cdn.example.com/a.png", "alt": "photo", "width": 640, "height": 480},
        "product": {"product_id": "p1", "title": "Runner 2", "price": 89.5, "currency": "USD",
                    "image_url": "https://cdn.example.com/p1.png", "url": "https://shop.example.com/p1"},
        "order": {"order_id": "o-77", "status": "shipped", "total": 120, "currency": "EUR",
                  "items": [{"title": "Runner 2", "quantity": 1, "price": 89.5}]},
    }
    for kind, content in cases.items():
        parsed = schemas.send_frame(_send(type=kind, content=content))
        assert parsed.kind == kind and parsed.content == content


@pytest.mark.parametrize(
    ("frame", "code", "field"),
    [
        (_send(session_id=None), "invalid_frame", "session_id"),
        (_send(session_id=7), "invalid_frame", "session_id"),
        (_send(session_id="s_nothex"), "not_found", "session_id"),
        (_send(client_msg_id=None), "invalid_frame", "client_msg_id"),
        (_send(client_msg_id="has space"), "invalid_frame", "client_msg_id"),
        (_send(client_msg_id="x" * 65), "content_too_large", "client_msg_id"),
        (_send(type="video"), "invalid_frame", "type"),
        (_send(content="hello"), "invalid_frame", "content"),
        (_send(content={}), "invalid_frame", "content.text"),
        (_send(content={"text": "   "}), "invalid_frame", "content.text"),
        (_send(content={"text": 5}), "invalid_frame", "content.text"),
        (_send(content={"text": "x" * 4001}), "content_too_large", "content.text"),
        (_send(content={"text": "a", "html": "<b>"}), "invalid_frame", "content.html"),
        (_send(extra=1), "invalid_frame", "extra"),
        (_send(type="image", content={"url": "javascript:alert(1)"}), "invalid_frame", "content.url"),
        (_send(type="image", content={"url": "https://x/a.png", "width": 0}), "invalid_frame", "content.width"),
        (_send(type="image", content={"url": "https://x/a.png", "width": True}), "invalid_frame", "content.width"),
        (_send(type="product", content={"product_id": "p"}), "invalid_frame", "content.title"),
        (_send(type="product", content={"product_id": "p", "title": "t", "price": -1}), "invalid_frame",
         "content.price"),
        (_send(type="product", content={"product_id": "p", "title": "t", "currency": "usd"}), "invalid_frame",
         "content.currency"),
        (_send(type="order", content={"order_id": "o", "items": "none"}), "invalid_frame", "content.items"),
        (_send(type="order", content={"order_id": "o", "items": [{"title": "t"}] * 51}), "content_too_large",
         "content.items"),
        (_send(type="order", content={"order_id": "o", "items": [{"title": "t", "quantity": 1.5}]}),
         "invalid_frame", "content.items[0].quantity"),
        # DynamoDB refuses numbers under 1e-130: a price of 5e-324 would fail the write, not the frame.
        (_send(type="product", content={"product_id": "p", "title": "t", "price": 5e-324}), "invalid_frame",
         "content.price"),
        (_send(type="order", content={"order_id": "o", "total": 1e-7}), "invalid_frame", "content.total"),
    ],
)
def test_send_frame_refusals(frame: dict[str, Any], code: str, field: str) -> None:
    assert _code(lambda: schemas.send_frame(frame)) == (code, field)


def test_message_ids_round_trip_and_foreign_ids_are_unknown() -> None:
    ref = schemas.ack_frame({"action": "ack", "message_id": f"{SID}.42"})
    assert (ref.session_id, ref.seq, ref.message_id) == (SID, 42, f"{SID}.42")
    assert _code(lambda: schemas.ack_frame({"action": "ack", "message_id": "m-1"})) == ("unknown_message",
                                                                                       "message_id")
    assert _code(lambda: schemas.ack_frame({"action": "ack"})) == ("invalid_frame", "message_id")


# Past 10**12 the message keys stop sorting by number (DynamoDB then refuses the range as upside down).
@pytest.mark.parametrize("after", [-1, "3", 1.5, True, 10**12, 10**14 - 2])
def test_resume_needs_a_non_negative_integer(after: Any) -> None:
    frame = {"action": "resume", "session_id": SID, "after_seq": after}
    assert _code(lambda: schemas.resume_frame(frame)) == ("invalid_frame", "after_seq")


def test_resume_takes_after_seq_up_to_the_limit() -> None:
    last = 10**12 - 1
    assert schemas.resume_frame({"action": "resume", "session_id": SID, "after_seq": last}) == (SID, last)


def test_status_must_be_known_and_capacity_in_range() -> None:
    assert schemas.status_frame({"action": "set_status", "status": "online"}) == ("online", None)
    assert schemas.status_frame({"action": "set_status", "status": "busy", "capacity": 3}) == ("busy", 3)
    assert _code(lambda: schemas.status_frame({"action": "set_status", "status": "away"})) == ("invalid_frame",
                                                                                               "status")
    for capacity in (0, 101, "3", 2.5, True):
        frame = {"action": "set_status", "status": "online", "capacity": capacity}
        assert _code(lambda f=frame: schemas.status_frame(f)) == ("invalid_frame", "capacity")


def test_leave_message_needs_text_and_a_known_reason() -> None:
    frame = {"action": "leave_message", "text": "call me", "contact": "ann@example.com", "reason": "closed"}
    assert schemas.leave_message_frame(frame) == ("call me", "ann@example.com", "closed", None)
    assert _code(lambda: schemas.leave_message_frame({"action": "leave_message"})) == ("invalid_frame", "text")
    assert _code(lambda: schemas.leave_message_frame({"action": "leave_message", "text": " "})) == (
        "invalid_frame", "text")
    assert _code(lambda: schemas.leave_message_frame({"action": "leave_message", "text": "x" * 2001})) == (
        "content_too_large", "text")
    assert _code(lambda: schemas.leave_message_frame({"action": "leave_message", "text": "x", "reason": "bored"})) == (
        "invalid_frame", "reason")
    assert _code(lambda: schemas.leave_message_frame({"action": "leave_message", "text": "x", "to": "y"})) == (
        "invalid_frame", "to")


def test_end_session_needs_a_session_id() -> None:
    assert schemas.session_frame({"action": "end_session", "session_id": SID}) == SID
    assert _code(lambda: schemas.session_frame({"action": "end_session"})) == ("invalid_frame", "session_id")
    assert _code(lambda: schemas.session_frame({"action": "end_session", "session_id": "nope"})) == (
        "not_found", "session_id")


def test_error_frames_carry_code_message_and_details() -> None:
    frame = ImError("invalid_frame", "'type' is bad", field="type").frame("send")
    assert frame == {"event": "error", "code": "invalid_frame", "message": "'type' is bad", "action": "send",
                     "field": "type"}


def test_the_protocol_documents_every_error_code_and_no_other() -> None:
    # A mobile developer writes a client from docs/protocol.md alone: its table must be the codes sent.
    doc = (Path(__file__).resolve().parents[3] / "docs" / "protocol.md").read_text()
    table = doc.split("### 2.1 Error codes", 1)[1].split("| code | meaning", 1)[1].split("\n\n", 1)[0]
    documented = set(re.findall(r"^\| `([a-z_]+)` \|", table, flags=re.MULTILINE))
    assert documented == set(ERROR_CODES)


# -- a trailing newline is not part of any id ("$" with match would let it through) ---------------

@pytest.mark.parametrize(("call", "code", "field"), [
    (lambda: schemas.send_frame(_send(client_msg_id="c-1\n")), "invalid_frame", "client_msg_id"),
    (lambda: schemas.send_frame(_send(session_id=SID + "\n")), "not_found", "session_id"),
    (lambda: schemas.ack_frame({"action": "ack", "message_id": SID + ".1\n"}), "unknown_message", "message_id"),
    (lambda: schemas.send_frame(_send(type="image", content={"url": "https://x.example/a.jpg\n"})),
     "invalid_frame", "content.url"),
    (lambda: schemas.transfer_frame({"action": "transfer", "session_id": SID, "to_agent": "bob\n"}),
     "invalid_frame", "to_agent"),
    (lambda: schemas.transfer_frame({"action": "transfer", "session_id": SID, "to_group": "shoes\n"}),
     "invalid_frame", "to_group"),
])
def test_an_id_with_a_trailing_newline_is_refused(call: Any, code: str, field: str) -> None:
    assert _code(call) == (code, field)


def test_is_session_id_refuses_a_trailing_newline() -> None:
    assert schemas.is_session_id(SID)
    assert not schemas.is_session_id(SID + "\n")


# -- the models keep the hand-written rules' reading order -------------------------------------------

def test_unknown_fields_are_refused_before_bad_ones_and_by_name() -> None:
    frame = _send(zeta=1, alpha=2, session_id=5)
    assert _code(lambda: schemas.send_frame(frame)) == ("invalid_frame", "alpha")
    content = {"text": 5, "b": 1, "a": 2}
    assert _code(lambda: schemas.send_frame(_send(content=content))) == ("invalid_frame", "content.a")


def test_fields_are_checked_in_order_and_the_first_failure_wins() -> None:
    # session_id comes before client_msg_id, type before content, an item's title before its quantity.
    assert _code(lambda: schemas.send_frame(_send(session_id="x", client_msg_id="bad id"))) == (
        "not_found", "session_id")
    assert _code(lambda: schemas.send_frame(_send(type="video", content=5))) == ("invalid_frame", "type")
    items = [{"title": "ok"}, {"quantity": 0, "title": 5}]
    frame = _send(type="order", content={"order_id": "o", "items": items})
    assert _code(lambda: schemas.send_frame(frame)) == ("invalid_frame", "content.items[1].title")


@pytest.mark.parametrize("frame", [
    {"action": "send", "session_id": SID, "client_msg_id": "c", "type": "text", "content": {"text": "x"}},
    {"action": "ack", "message_id": SID + ".1"},
    {"action": "leave_message", "text": "x"},
    {"action": "transfer", "session_id": SID, "to_agent": "bob"},
    {"action": "rate", "session_id": SID, "stars": 5},
    {"action": "set_status", "status": "busy"},
])
def test_a_required_field_missing_is_refused_as_null_is(frame: dict[str, Any]) -> None:
    for name in frame.keys() - {"action"}:
        missing = {k: v for k, v in frame.items() if k != name}
        null = {**frame, name: None}
        with pytest.raises(ImError) as left_out:
            schemas.validate(missing)
        with pytest.raises(ImError) as sent_null:
            schemas.validate(null)
        assert (left_out.value.code, left_out.value.message, left_out.value.details) == (
            sent_null.value.code, sent_null.value.message, sent_null.value.details)


def test_every_action_of_the_command_table_has_a_model() -> None:
    from chalicelib.edge.frames import ACTIONS

    assert set(schemas.FRAME_MODELS) == set(ACTIONS)
    for action, models in schemas.FRAME_MODELS.items():
        for model in models:
            assert get_args(model.model_fields["action"].annotation) == (action,)

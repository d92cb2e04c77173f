"""Validation of client frames. Each failure names the field and why, so a client developer can fix
the frame from the error alone; limits follow API Gateway's (32 KB frame) and docs/protocol.md."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from chalicelib.im.errors import ImError

MAX_FRAME_BYTES = 32 * 1024  # one API Gateway WebSocket frame, and one billing unit
MAX_TEXT_CHARS = 4000
MAX_URL_CHARS = 2048
MAX_LABEL_CHARS = 200
MAX_ORDER_ITEMS = 50
MESSAGE_TYPES = ("text", "image", "product", "order")
AGENT_STATUSES = ("online", "busy", "offline")
MAX_LEFT_MESSAGE_CHARS = 2000
# Why a visitor was offered leave-a-message (or chose to leave one).
LEAVE_MESSAGE_REASONS = ("closed", "overflow", "queue_timeout", "visitor")
MAX_CAPACITY = 100
MIN_FRACTION = 1e-6  # the smallest non-zero number a message's content may hold
MAX_SEQ = 10**12 - 1  # message keys hold 12 digits; GET .../messages takes the same

# Whole-value patterns, always applied with fullmatch: "$" with match lets a trailing newline through.
_CLIENT_ID = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
_SESSION_ID = re.compile(r"s_[a-f0-9]{20}")
_MESSAGE_ID = re.compile(r"(s_[a-f0-9]{20})\.(\d{1,12})")
_URL = re.compile(r"https?://[^\s<>\"']+")
_CURRENCY = re.compile(r"[A-Z]{3}")
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _utf8_clean(frame: dict[str, Any]) -> bool:
    try:
        json.dumps(frame, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def parse_frame(body: str | None) -> dict[str, Any]:
    """Size check and JSON decode; the result is a dict with a string ``action``."""
    if body is None or body == "":
        raise ImError("invalid_json", "the frame is empty; send a JSON object with an 'action'")
    try:
        size = len(body.encode("utf-8"))
    except UnicodeEncodeError:
        raise ImError("invalid_json", "the frame is not valid UTF-8 text") from None
    if size > MAX_FRAME_BYTES:
        raise ImError("frame_too_large", f"a frame may be at most {MAX_FRAME_BYTES} bytes")
    try:
        # NaN and Infinity are not JSON (and no DynamoDB number); Python's decoder accepts them unless told.
        frame = json.loads(body, parse_constant=_refuse_constant)
    except (ValueError, RecursionError):
        raise ImError("invalid_json", "the frame is not valid JSON") from None
    if not isinstance(frame, dict):
        raise ImError("invalid_json", "the frame must be a JSON object")
    # An unpaired surrogate escape ("\ud800") decodes to text that no UTF-8 frame or table can hold.
    if _SURROGATE_ESCAPE.search(body) and not _utf8_clean(frame):
        raise ImError("invalid_json", "the frame holds an unpaired surrogate escape (\\ud800 to \\udfff)")
    action = frame.get("action")
    if not isinstance(action, str) or not action:
        raise ImError("invalid_frame", "'action' is required and must be a string", field="action")
    return frame


def _fail(field: str, why: str) -> ImError:
    return ImError("invalid_frame", f"'{field}' {why}", field=field)


def _string(obj: dict[str, Any], key: str, *, path: str = "", required: bool = True,
            max_len: int = MAX_LABEL_CHARS, pattern: re.Pattern[str] | None = None) -> str | None:
    field = f"{path}{key}"
    value = obj.get(key)
    if value is None:
        if required:
            raise _fail(field, "is required")
        return None
    if not isinstance(value, str):
        raise _fail(field, "must be a string")
    if required and not value.strip():
        raise _fail(field, "must not be empty")
    if len(value) > max_len:
        raise ImError("content_too_large", f"'{field}' may be at most {max_len} characters", field=field)
    if pattern is not None and not pattern.fullmatch(value):
        raise _fail(field, "has an invalid format")
    return value


def _number(obj: dict[str, Any], key: str, *, path: str, integer: bool = False,
            minimum: float = 0) -> float | int | None:
    field = f"{path}{key}"
    value = obj.get(key)
    if value is None:
        return None
    wrong_type = isinstance(value, bool) or not isinstance(value, int | float)
    if wrong_type or (integer and not isinstance(value, int)):
        raise _fail(field, f"must be {'an integer' if integer else 'a number'}")
    if value < minimum or value > 1e12:
        raise _fail(field, f"must be between {minimum} and 1e12")
    if 0 < value < MIN_FRACTION:
        # DynamoDB refuses numbers under 1e-130 ("underflow"); no price or total needs a millionth.
        raise _fail(field, f"must be 0 or at least {MIN_FRACTION:g}")
    number: float | int = value
    return number


def _only(obj: dict[str, Any], allowed: set[str], path: str) -> None:
    extra = sorted(set(obj) - allowed)
    if extra:
        raise _fail(f"{path}{extra[0]}", "is not a known field")


def _content(kind: str, content: Any) -> dict[str, Any]:
    if not isinstance(content, dict):
        raise _fail("content", "must be an object")
    p = "content."
    if kind == "text":
        _only(content, {"text"}, p)
        text = _string(content, "text", path=p, max_len=MAX_TEXT_CHARS)
        return {"text": text}
    if kind == "image":
        _only(content, {"url", "alt", "width", "height"}, p)
        out: dict[str, Any] = {"url": _string(content, "url", path=p, max_len=MAX_URL_CHARS, pattern=_URL)}
        if (alt := _string(content, "alt", path=p, required=False, max_len=300)) is not None:
            out["alt"] = alt
        for dim in ("width", "height"):
            if (n := _number(content, dim, path=p, integer=True, minimum=1)) is not None:
                out[dim] = n
        return out
    if kind == "product":
        _only(content, {"product_id", "title", "price", "currency", "image_url", "url"}, p)
        out = {"product_id": _string(content, "product_id", path=p, max_len=64),
               "title": _string(content, "title", path=p)}
        if (price := _number(content, "price", path=p)) is not None:
            out["price"] = price
        if (cur := _string(content, "currency", path=p, required=False, max_len=3, pattern=_CURRENCY)):
            out["currency"] = cur
        for key in ("image_url", "url"):
            if (u := _string(content, key, path=p, required=False, max_len=MAX_URL_CHARS, pattern=_URL)):
                out[key] = u
        return out
    # order
    _only(content, {"order_id", "status", "total", "currency", "items"}, p)
    out = {"order_id": _string(content, "order_id", path=p, max_len=64)}
    if (status := _string(content, "status", path=p, required=False, max_len=40)) is not None:
        out["status"] = status
    if (total := _number(content, "total", path=p)) is not None:
        out["total"] = total
    if (cur := _string(content, "currency", path=p, required=False, max_len=3, pattern=_CURRENCY)):
        out["currency"] = cur
    items = content.get("items")
    if items is not None:
        if not isinstance(items, list):
            raise _fail("content.items", "must be a list")
        if len(items) > MAX_ORDER_ITEMS:
            raise ImError("content_too_large", f"'content.items' may hold at most {MAX_ORDER_ITEMS} items",
                          field="content.items")
        clean = []
        for i, item in enumerate(items):
            ip = f"content.items[{i}]."
            if not isinstance(item, dict):
                raise _fail(ip[:-1], "must be an object")
            _only(item, {"title", "quantity", "price"}, ip)
            entry: dict[str, Any] = {"title": _string(item, "title", path=ip)}
            if (q := _number(item, "quantity", path=ip, integer=True, minimum=1)) is not None:
                entry["quantity"] = q
            if (pr := _number(item, "price", path=ip)) is not None:
                entry["price"] = pr
            clean.append(entry)
        out["items"] = clean
    return out


@dataclass(frozen=True)
class SendFrame:
    session_id: str
    client_msg_id: str
    kind: str
    content: dict[str, Any]


@dataclass(frozen=True)
class MessageRef:
    session_id: str
    seq: int

    @property
    def message_id(self) -> str:
        return message_id(self.session_id, self.seq)


def message_id(session_id: str, seq: int) -> str:
    return f"{session_id}.{seq}"


def parse_message_id(value: Any, field: str = "message_id") -> MessageRef:
    if not isinstance(value, str):
        raise _fail(field, "is required and must be a string")
    m = _MESSAGE_ID.fullmatch(value)
    if not m:
        raise ImError("unknown_message", f"'{field}' is not a message id this server issued", field=field)
    return MessageRef(m.group(1), int(m.group(2)))


def is_session_id(value: str) -> bool:
    return bool(_SESSION_ID.fullmatch(value))


def session_id_of(frame: dict[str, Any]) -> str:
    value = _string(frame, "session_id", max_len=64)
    assert value is not None
    if not is_session_id(value):
        raise ImError("not_found", "no such session", field="session_id")
    return value


def send_frame(frame: dict[str, Any]) -> SendFrame:
    _only(frame, {"action", "session_id", "client_msg_id", "type", "content"}, "")
    session_id = session_id_of(frame)
    client_msg_id = _string(frame, "client_msg_id", max_len=64, pattern=_CLIENT_ID)
    kind = frame.get("type")
    if kind not in MESSAGE_TYPES:
        raise _fail("type", f"must be one of {', '.join(MESSAGE_TYPES)}")
    assert client_msg_id is not None
    return SendFrame(session_id, client_msg_id, kind, _content(kind, frame.get("content")))


def ack_frame(frame: dict[str, Any]) -> MessageRef:
    _only(frame, {"action", "message_id"}, "")
    return parse_message_id(frame.get("message_id"))


def resume_frame(frame: dict[str, Any]) -> tuple[str, int]:
    _only(frame, {"action", "session_id", "after_seq"}, "")
    session_id = session_id_of(frame)
    after = frame.get("after_seq", 0)
    # Past 12 digits the message keys stop sorting by number (and DynamoDB refuses the key range).
    if isinstance(after, bool) or not isinstance(after, int) or not 0 <= after <= MAX_SEQ:
        raise _fail("after_seq", f"must be an integer from 0 to {MAX_SEQ}")
    return session_id, after


def status_frame(frame: dict[str, Any]) -> tuple[str, int | None]:
    """``set_status``: a status, and optionally a new capacity (the configuration caps it)."""
    _only(frame, {"action", "status", "capacity"}, "")
    status = frame.get("status")
    if status not in AGENT_STATUSES:
        raise _fail("status", f"must be one of {', '.join(AGENT_STATUSES)}")
    capacity = frame.get("capacity")
    if capacity is not None and (isinstance(capacity, bool) or not isinstance(capacity, int)
                                 or not 1 <= capacity <= MAX_CAPACITY):
        raise _fail("capacity", f"must be an integer from 1 to {MAX_CAPACITY}")
    return str(status), capacity


def leave_message_frame(frame: dict[str, Any]) -> tuple[str, str | None, str | None, str | None]:
    """``leave_message``: the text, an optional contact (email or phone), the offer's reason and the client's
    id of the message (optional: makes a resend answer the first ticket)."""
    _only(frame, {"action", "text", "contact", "reason", "client_msg_id"}, "")
    text = _string(frame, "text", max_len=MAX_LEFT_MESSAGE_CHARS)
    contact = _string(frame, "contact", required=False, max_len=MAX_LABEL_CHARS)
    reason = frame.get("reason")
    if reason is not None and reason not in LEAVE_MESSAGE_REASONS:
        raise _fail("reason", f"must be one of {', '.join(LEAVE_MESSAGE_REASONS)}")
    client_msg_id = _string(frame, "client_msg_id", required=False, max_len=64, pattern=_CLIENT_ID)
    assert text is not None
    return text, contact, reason, client_msg_id


def suggest_frame(frame: dict[str, Any]) -> tuple[str, str | None]:
    """``suggest``: a session and optionally the text to find FAQs for (default: the visitor's latest)."""
    _only(frame, {"action", "session_id", "text"}, "")
    session_id = session_id_of(frame)
    return session_id, _string(frame, "text", required=False, max_len=MAX_TEXT_CHARS)


def session_frame(frame: dict[str, Any]) -> str:
    """Actions on one session that take nothing else (``end_session``)."""
    _only(frame, {"action", "session_id"}, "")
    return session_id_of(frame)


def bare_frame(frame: dict[str, Any]) -> None:
    """Actions that take no fields beyond ``action`` (ping, hello, request_agent, leave_queue...)."""
    _only(frame, {"action"}, "")


MAX_NOTE_CHARS = 1000
MAX_COMMENT_CHARS = 1000
MAX_SURVEY_TAGS = 20
_AGENT_ID = re.compile(r"[A-Za-z0-9_.@-]{1,64}")
_GROUP_ID = re.compile(r"[a-z0-9][a-z0-9_-]{0,39}")


@dataclass(frozen=True)
class TransferFrame:
    session_id: str
    to_agent: str | None
    to_group: str | None
    note: str | None


def transfer_frame(frame: dict[str, Any]) -> TransferFrame:
    """``transfer``: a session to exactly one of an agent or a group, with an optional note for the next agent."""
    _only(frame, {"action", "session_id", "to_agent", "to_group", "note"}, "")
    session_id = session_id_of(frame)
    to_agent = _string(frame, "to_agent", required=False, max_len=64, pattern=_AGENT_ID)
    to_group = _string(frame, "to_group", required=False, max_len=40, pattern=_GROUP_ID)
    if (to_agent is None) == (to_group is None):
        raise _fail("to_agent", "or 'to_group' is required, and only one of them")
    return TransferFrame(session_id, to_agent, to_group, _string(frame, "note", required=False,
                                                                 max_len=MAX_NOTE_CHARS))


@dataclass(frozen=True)
class RateFrame:
    session_id: str
    stars: int
    tags: list[str]
    comment: str | None


def rate_frame(frame: dict[str, Any]) -> RateFrame:
    """``rate``: the survey's answer, 1 to 5 stars, optional tags (from the configured ones) and a comment."""
    _only(frame, {"action", "session_id", "stars", "tags", "comment"}, "")
    session_id = session_id_of(frame)
    stars = frame.get("stars")
    if isinstance(stars, bool) or not isinstance(stars, int) or not 1 <= stars <= 5:
        raise _fail("stars", "must be an integer from 1 to 5")
    tags = frame.get("tags", [])
    if not isinstance(tags, list) or len(tags) > MAX_SURVEY_TAGS or not all(isinstance(t, str) for t in tags):
        raise _fail("tags", f"must be a list of at most {MAX_SURVEY_TAGS} strings")
    if len(set(tags)) != len(tags):
        raise _fail("tags", "must not repeat a tag")
    comment = _string(frame, "comment", required=False, max_len=MAX_COMMENT_CHARS)
    return RateFrame(session_id, stars, list(tags), comment or None)

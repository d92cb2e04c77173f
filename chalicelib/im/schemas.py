"""The frames a client sends, as pydantic models: one model per ``action`` (``send`` one per message type),
validated through one discriminated union built at import. The models are the contract: docs/protocol.md is
checked against their JSON Schemas (tests/unit/test_protocol_doc.py).

Each failure names the field and why, so a client developer can fix the frame from the error alone. A frame
gets its first failure in reading order (unknown fields of an object before its fields, fields in the order
the models declare them), and a missing field is refused as ``null`` is. Limits follow API Gateway's (32 KB
frame) and docs/protocol.md."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar, Literal, TypeVar

from aws_lambda_powertools.utilities.parser import BaseModel
from pydantic import (
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    Tag,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    model_validator,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import ErrorDetails, PydanticCustomError, core_schema

from chalicelib.auth.identity import is_staff_id
from chalicelib.channel.errors import ImError

MAX_FRAME_BYTES = 32 * 1024  # one API Gateway WebSocket frame, and one billing unit
MAX_TEXT_CHARS = 4000
MAX_URL_CHARS = 2048
MAX_LABEL_CHARS = 200
MAX_ORDER_ITEMS = 50
MESSAGE_TYPES = ("text", "image", "product", "order")
AGENT_STATUSES = ("online", "busy", "offline")
TYPING_STATES = ("start", "stop")
MAX_LEFT_MESSAGE_CHARS = 2000
# Why a visitor was offered leave-a-message (or chose to leave one).
LEAVE_MESSAGE_REASONS = ("closed", "overflow", "queue_timeout", "no_agents", "left_queue", "visitor")
MAX_CAPACITY = 100
MIN_FRACTION = 1e-6  # the smallest non-zero number a message's content may hold
MAX_NUMBER = 1e12
MAX_SEQ = 10**12 - 1  # message keys hold 12 digits; GET .../messages takes the same
MAX_NOTE_CHARS = 1000
MAX_WRAPUP_CODE_CHARS = 40
MAX_MENTIONS = 5
MAX_COMMENT_CHARS = 1000
MAX_SURVEY_TAGS = 20
# Ids one `ack` may carry: a resume's page (100) in one frame, and about 4 KB of ids.
MAX_ACK_IDS = 100
MAX_MESSAGE_ID_CHARS = 64
# The WebSocket protocol versions (docs/protocol.md, section 1): 2 takes a `delivered` covering several messages.
PROTOCOL_VERSION = 2

# Whole-value patterns, always applied with fullmatch: "$" with match lets a trailing newline through.
_CLIENT_ID = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
_SESSION_ID = re.compile(r"s_[a-f0-9]{20}")
_MESSAGE_ID = re.compile(r"(s_[a-f0-9]{20})\.(\d{1,12})")
_URL = re.compile(r"https?://[^\s<>\"']+")
_CURRENCY = re.compile(r"[A-Z]{3}")
_AGENT_ID = re.compile(r"[A-Za-z0-9_.@-]{1,64}")
_GROUP_ID = re.compile(r"[a-z0-9][a-z0-9_-]{0,39}")
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


# -- field types: each one check (first failure wins) and the JSON Schema it documents ------------------

def _refuse(why: str, code: str = "invalid_frame", **ctx: Any) -> PydanticCustomError:
    # The error's type is the code a client receives; its message is completed with the field's path.
    return PydanticCustomError(code, why, ctx or None)


class _Check:
    """A field validated by one function, with the JSON Schema that describes what the function accepts.

    The function sees ``None`` for a missing field (the frame models fill missing fields with ``None``), so
    a field left out and a field sent as ``null`` get the same answer, as clients have always been told."""

    def __init__(self, check: Callable[..., Any], schema: JsonSchemaValue, *, with_info: bool = False) -> None:
        self.check = check
        self.schema = schema
        self.with_info = with_info

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        if self.with_info:
            return core_schema.with_info_plain_validator_function(self.check)
        return core_schema.no_info_plain_validator_function(self.check)

    def __get_pydantic_json_schema__(self, schema: core_schema.CoreSchema,
                                     handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        return dict(self.schema)


def _text(value: Any, *, required: bool, max_len: int, pattern: re.Pattern[str] | None) -> str | None:
    if value is None:
        if required:
            raise _refuse("is required")
        return None
    if not isinstance(value, str):
        raise _refuse("must be a string")
    if required and not value.strip():
        raise _refuse("must not be empty")
    if len(value) > max_len:
        raise _refuse(f"may be at most {max_len} characters", "content_too_large")
    if pattern is not None and not pattern.fullmatch(value):
        raise _refuse("has an invalid format")
    return value


def Text(max_len: int = MAX_LABEL_CHARS, *, required: bool = True,
         pattern: re.Pattern[str] | None = None) -> _Check:
    """A string: required ones must hold more than whitespace; over ``max_len`` is ``content_too_large``."""
    schema: JsonSchemaValue = {"type": "string", "maxLength": max_len}
    if required:
        schema["minLength"] = 1
    if pattern is not None:
        schema["pattern"] = f"^{pattern.pattern}$"
    return _Check(lambda v: _text(v, required=required, max_len=max_len, pattern=pattern), schema)


def _number(value: Any, *, integer: bool, minimum: float) -> float | int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or (integer and not isinstance(value, int)):
        raise _refuse(f"must be {'an integer' if integer else 'a number'}")
    if value < minimum or value > MAX_NUMBER:
        raise _refuse(f"must be between {minimum} and 1e12")
    if 0 < value < MIN_FRACTION:
        # DynamoDB refuses numbers under 1e-130 ("underflow"); no price or total needs a millionth.
        raise _refuse(f"must be 0 or at least {MIN_FRACTION:g}")
    number: float | int = value
    return number


def Number(*, integer: bool = False, minimum: float = 0) -> _Check:
    """An optional number of a message's content: 0, or a millionth to 10^12 (an integer if ``integer``)."""
    schema: JsonSchemaValue = {"type": "integer" if integer else "number", "minimum": minimum,
                               "maximum": MAX_NUMBER}
    return _Check(lambda v: _number(v, integer=integer, minimum=minimum), schema)


def _int_in(value: Any, low: int, high: int, why: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise _refuse(why)
    return value


def Integer(low: int, high: int, *, optional: bool = False) -> _Check:
    """An integer from ``low`` to ``high``; ``optional`` lets ``null`` (or no field) through as ``None``."""
    why = f"must be an integer from {low} to {high}"
    return _Check(lambda v: None if optional and v is None else _int_in(v, low, high, why),
                  {"type": "integer", "minimum": low, "maximum": high})


def _one_of(value: Any, choices: tuple[str, ...], optional: bool) -> str | None:
    if optional and value is None:
        return None
    if value not in choices:
        raise _refuse(f"must be one of {', '.join(choices)}")
    chosen: str = value
    return chosen


def OneOf(*choices: str, optional: bool = False) -> _Check:
    return _Check(lambda v: _one_of(v, choices, optional), {"type": "string", "enum": list(choices)})


def _session_id(value: Any) -> str:
    text = _text(value, required=True, max_len=64, pattern=None)
    if not is_session_id(str(text)):
        raise _refuse("no such session", "not_found")
    return str(text)


SessionId = Annotated[str, _Check(_session_id, {"type": "string", "pattern": f"^{_SESSION_ID.pattern}$"})]
ClientMsgId = Annotated[str, Text(64, pattern=_CLIENT_ID)]


def _message_id(value: Any) -> str:
    if not isinstance(value, str):
        raise _refuse("is required and must be a string")
    if not _MESSAGE_ID.fullmatch(value):
        raise _refuse("is not a message id this server issued", "unknown_message")
    return value


def _ack_message_id(value: Any) -> str | None:
    # Optional since `message_ids` came: the rule that one of the two is given is message_ids' check.
    return None if value is None else _message_id(value)


def _message_ids(value: Any, info: ValidationInfo) -> list[str] | None:
    """``ack``'s ids: 1 to MAX_ACK_IDS strings. An id not of the server's format is no reason to refuse the
    others (each id gets its own answer, as it would alone), so only the list's shape is checked here."""
    if "message_id" in info.data and (info.data["message_id"] is None) == (value is None):
        raise _refuse("is required and must be a string (or 'message_ids' a list), and only one of them",
                      field="message_id")
    if value is None:
        return None
    return _id_list(value, "ACK the rest in another frame")


def _read_ids(value: Any) -> list[str]:
    """``read``'s ids: as ``ack``'s ``message_ids`` (1 to MAX_ACK_IDS strings), required."""
    return _id_list(value, "mark the rest read in another frame")


def _id_list(value: Any, rest: str) -> list[str]:
    """A frame's ``message_ids``: 1 to MAX_ACK_IDS strings (``rest``: what to do with ids past the limit)."""
    if not isinstance(value, list) or not value:
        raise _refuse("must be a list of 1 to 100 message ids")
    if len(value) > MAX_ACK_IDS:
        raise _refuse(f"may hold at most {MAX_ACK_IDS} message ids; {rest}")
    for i, item in enumerate(value):
        if not isinstance(item, str) or not 0 < len(item) <= MAX_MESSAGE_ID_CHARS:
            raise _refuse(f"must be a string of 1 to {MAX_MESSAGE_ID_CHARS} characters", field=f"message_ids[{i}]")
    return list(value)


def _content_items(value: Any) -> Any:
    if value is not None:
        if not isinstance(value, list):
            raise _refuse("must be a list")
        if len(value) > MAX_ORDER_ITEMS:
            raise _refuse(f"may hold at most {MAX_ORDER_ITEMS} items", "content_too_large")
    return value


def _tags(value: Any) -> list[str]:
    if not isinstance(value, list) or len(value) > MAX_SURVEY_TAGS or not all(isinstance(t, str) for t in value):
        raise _refuse(f"must be a list of at most {MAX_SURVEY_TAGS} strings")
    if len(set(value)) != len(value):
        raise _refuse("must not repeat a tag")
    return list(value)


def _to_group(value: Any, info: ValidationInfo) -> str | None:
    group = _text(value, required=False, max_len=40, pattern=_GROUP_ID)
    if "to_agent" in info.data and (info.data["to_agent"] is None) == (group is None):
        raise _refuse("or 'to_group' is required, and only one of them", field="to_agent")
    return group


def _mentions(value: Any) -> list[str] | None:
    """A note's mentions: 1 to MAX_MENTIONS distinct staff user names (never a visitor's id nor the robot's)."""
    if value is None:
        return None
    if not isinstance(value, list) or not value or len(value) > MAX_MENTIONS:
        raise _refuse(f"must be a list of 1 to {MAX_MENTIONS} staff user names")
    for i, item in enumerate(value):
        if not isinstance(item, str) or not _AGENT_ID.fullmatch(item) or not is_staff_id(item):
            raise _refuse("must be a staff member's user name", field=f"mentions[{i}]")
    if len(set(value)) != len(value):
        raise _refuse("must not name anyone twice")
    return list(value)


def _comment(value: Any) -> str | None:
    return _text(value, required=False, max_len=MAX_COMMENT_CHARS, pattern=None) or None


# -- the models ---------------------------------------------------------------------------------------

class Strict(BaseModel):
    """A frame or a part of one: unknown fields refused, a missing field validated as ``null``."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    _required: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        cls._required = tuple(name for name, f in cls.model_fields.items() if f.is_required())

    @model_validator(mode="before")
    @classmethod
    def _missing_is_null(cls, data: Any) -> Any:
        if isinstance(data, dict) and not all(name in data for name in cls._required):
            return {**dict.fromkeys(cls._required), **data}
        return data


class TextContent(Strict):
    text: Annotated[str, Text(MAX_TEXT_CHARS)]


class ImageContent(Strict):
    url: Annotated[str, Text(MAX_URL_CHARS, pattern=_URL)]
    alt: Annotated[str | None, Text(300, required=False)] = None
    width: Annotated[int | None, Number(integer=True, minimum=1)] = None
    height: Annotated[int | None, Number(integer=True, minimum=1)] = None


class ProductContent(Strict):
    product_id: Annotated[str, Text(64)]
    title: Annotated[str, Text()]
    price: Annotated[float | None, Number()] = None
    currency: Annotated[str | None, Text(3, required=False, pattern=_CURRENCY)] = None
    image_url: Annotated[str | None, Text(MAX_URL_CHARS, required=False, pattern=_URL)] = None
    url: Annotated[str | None, Text(MAX_URL_CHARS, required=False, pattern=_URL)] = None


class OrderItem(Strict):
    title: Annotated[str, Text()]
    quantity: Annotated[int | None, Number(integer=True, minimum=1)] = None
    price: Annotated[float | None, Number()] = None


class OrderContent(Strict):
    order_id: Annotated[str, Text(64)]
    status: Annotated[str | None, Text(40, required=False)] = None
    total: Annotated[float | None, Number()] = None
    currency: Annotated[str | None, Text(3, required=False, pattern=_CURRENCY)] = None
    items: Annotated[list[OrderItem] | None, BeforeValidator(_content_items), Field(max_length=MAX_ORDER_ITEMS)] = None


class _Send(Strict):
    action: Literal["send"]
    session_id: SessionId
    client_msg_id: ClientMsgId
    # Checked against every type (the union picks a model by type, and a type it does not know lands here).
    type: Annotated[str, OneOf(*MESSAGE_TYPES)]
    kind: ClassVar[str]


class SendText(_Send):
    kind = "text"
    content: TextContent


class SendImage(_Send):
    kind = "image"
    content: ImageContent


class SendProduct(_Send):
    kind = "product"
    content: ProductContent


class SendOrder(_Send):
    kind = "order"
    content: OrderContent


def _message_type(frame: Any) -> str:
    kind = frame.get("type") if isinstance(frame, dict) else getattr(frame, "type", None)
    return kind if kind in MESSAGE_TYPES else "text"  # SendText's own check then refuses the type


Send = Annotated[Annotated[SendText, Tag("text")] | Annotated[SendImage, Tag("image")]
                 | Annotated[SendProduct, Tag("product")] | Annotated[SendOrder, Tag("order")],
                 Discriminator(_message_type)]


class Ping(Strict):
    action: Literal["ping"]


class Hello(Strict):
    action: Literal["hello"]


class Ack(Strict):
    """``ack``: one message id (``message_id``), or several at once (``message_ids``); exactly one of the two."""

    action: Literal["ack"]
    message_id: Annotated[str | None, _Check(_ack_message_id, {"type": "string",
                                                               "pattern": f"^{_MESSAGE_ID.pattern}$"})] = None
    message_ids: Annotated[list[str] | None, _Check(_message_ids, {
        "type": "array", "minItems": 1, "maxItems": MAX_ACK_IDS,
        "items": {"type": "string", "minLength": 1, "maxLength": MAX_MESSAGE_ID_CHARS}}, with_info=True)] = Field(
        None, validate_default=True)


class Read(Strict):
    """``read``: messages the recipient's window has shown; read implies delivered, so it also ACKs them."""

    action: Literal["read"]
    message_ids: Annotated[list[str], _Check(_read_ids, {
        "type": "array", "minItems": 1, "maxItems": MAX_ACK_IDS,
        "items": {"type": "string", "minLength": 1, "maxLength": MAX_MESSAGE_ID_CHARS}})]


class Typing(Strict):
    """``typing``: the sender started (again: at most every few seconds) or stopped typing in a session."""

    action: Literal["typing"]
    session_id: SessionId
    state: Annotated[str, OneOf(*TYPING_STATES)]


class Resume(Strict):
    action: Literal["resume"]
    session_id: SessionId
    # Past 12 digits the message keys stop sorting by number (and DynamoDB refuses the key range).
    after_seq: Annotated[int, Integer(0, MAX_SEQ)] = 0


class RequestAgent(Strict):
    action: Literal["request_agent"]


class LeaveQueue(Strict):
    action: Literal["leave_queue"]


class NewSession(Strict):
    action: Literal["new_session"]


class LeaveMessage(Strict):
    action: Literal["leave_message"]
    text: Annotated[str, Text(MAX_LEFT_MESSAGE_CHARS)]
    contact: Annotated[str | None, Text(required=False)] = None
    reason: Annotated[str | None, OneOf(*LEAVE_MESSAGE_REASONS, optional=True)] = None
    client_msg_id: Annotated[str | None, Text(64, required=False, pattern=_CLIENT_ID)] = None


class EndSession(Strict):
    action: Literal["end_session"]
    session_id: SessionId


class Resolve(Strict):
    """``resolve``: the issue is solved, with the wrap-up reason's code (required where the group says so; which
    codes a group has is the service's check) and an optional note for staff."""

    action: Literal["resolve"]
    session_id: SessionId
    wrapup: Annotated[str | None, Text(MAX_WRAPUP_CODE_CHARS, required=False)] = None
    wrapup_note: Annotated[str | None, Text(MAX_NOTE_CHARS, required=False)] = None


class NoteFrame(Strict):
    """``note``: an internal note in a session, for staff only, optionally mentioning colleagues to notify."""

    action: Literal["note"]
    session_id: SessionId
    client_msg_id: ClientMsgId
    text: Annotated[str, Text(MAX_NOTE_CHARS)]
    mentions: Annotated[list[str] | None, _Check(_mentions, {
        "type": "array", "minItems": 1, "maxItems": MAX_MENTIONS, "uniqueItems": True,
        "items": {"type": "string", "pattern": f"^{_AGENT_ID.pattern}$"}})] = None


class TransferFrame(Strict):
    """``transfer``: a session to exactly one of an agent or a group, with an optional note for the next agent."""

    action: Literal["transfer"]
    session_id: SessionId
    to_agent: Annotated[str | None, Text(64, required=False, pattern=_AGENT_ID)] = None
    to_group: Annotated[str | None, _Check(_to_group, Text(40, required=False, pattern=_GROUP_ID).schema,
                                           with_info=True)] = Field(None, validate_default=True)
    note: Annotated[str | None, Text(MAX_NOTE_CHARS, required=False)] = None


class RateFrame(Strict):
    """``rate``: the survey's answer, 1 to 5 stars, optional tags (from the configured ones) and a comment."""

    action: Literal["rate"]
    session_id: SessionId
    stars: Annotated[int, Integer(1, 5)]
    tags: Annotated[list[str], _Check(_tags, {"type": "array", "items": {"type": "string"},
                                              "maxItems": MAX_SURVEY_TAGS, "uniqueItems": True})] = []
    comment: Annotated[str | None, _Check(_comment, {"type": "string", "maxLength": MAX_COMMENT_CHARS})] = None


class SetStatus(Strict):
    """``set_status``: a status, and optionally a new capacity (the configuration caps it)."""

    action: Literal["set_status"]
    status: Annotated[str, OneOf(*AGENT_STATUSES)]
    capacity: Annotated[int | None, Integer(1, MAX_CAPACITY, optional=True)] = None


class Suggest(Strict):
    """``suggest``: a session and optionally the text to find FAQs for (default: the visitor's latest)."""

    action: Literal["suggest"]
    session_id: SessionId
    text: Annotated[str | None, Text(MAX_TEXT_CHARS, required=False)] = None


def _flag(value: Any) -> bool:
    if not isinstance(value, bool):
        raise _refuse("is required and must be true or false")
    return value


class RobotFeedback(Strict):
    """``robot_feedback``: the visitor's "helpful" (true) or "not helpful" (false) on one of the robot's answers."""

    action: Literal["robot_feedback"]
    session_id: SessionId
    message_id: Annotated[str, _Check(_message_id, {"type": "string", "pattern": f"^{_MESSAGE_ID.pattern}$"})]
    helpful: Annotated[bool, _Check(_flag, {"type": "boolean"})]


class SubscribeDashboard(Strict):
    action: Literal["subscribe_dashboard"]


class UnsubscribeDashboard(Strict):
    action: Literal["unsubscribe_dashboard"]


# Every frame a client may send, by action (``send`` by message type as well).
Frame = Annotated[Ping | Hello | Send | Ack | Read | Typing | Resume | RequestAgent | LeaveQueue | NewSession
                  | LeaveMessage | EndSession | Resolve | NoteFrame | TransferFrame | RateFrame | SetStatus | Suggest
                  | RobotFeedback | SubscribeDashboard | UnsubscribeDashboard, Field(discriminator="action")]
FRAMES: TypeAdapter[Frame] = TypeAdapter(Frame)
# The models of each action, for the documentation check.
FRAME_MODELS: dict[str, tuple[type[Strict], ...]] = {
    "ping": (Ping,), "hello": (Hello,), "send": (SendText, SendImage, SendProduct, SendOrder), "ack": (Ack,),
    "read": (Read,), "typing": (Typing,), "resume": (Resume,), "request_agent": (RequestAgent,),
    "leave_queue": (LeaveQueue,), "new_session": (NewSession,),
    "leave_message": (LeaveMessage,), "end_session": (EndSession,), "resolve": (Resolve,), "note": (NoteFrame,),
    "transfer": (TransferFrame,), "rate": (RateFrame,), "set_status": (SetStatus,), "suggest": (Suggest,),
    "robot_feedback": (RobotFeedback,), "subscribe_dashboard": (SubscribeDashboard,),
    "unsubscribe_dashboard": (UnsubscribeDashboard,),
}


def validate(frame: dict[str, Any]) -> Frame:
    """The frame as its action's model, or the ``ImError`` of its first failure (see the module's doc)."""
    try:
        return FRAMES.validate_python(frame)
    except ValidationError as err:
        raise _first_failure(err.errors(include_url=False, include_input=False), frame) from None


def _first_failure(errors: list[ErrorDetails], frame: dict[str, Any]) -> ImError:
    first = errors[0]
    if first["type"] in ("union_tag_invalid", "union_tag_not_found"):
        return ImError("unknown_action", "unknown action", field="action")
    # Drop the union's tags from the paths: the action, and for send the message type.
    skip = 2 if frame.get("action") == "send" else 1
    errors = [{**e, "loc": e["loc"][skip:]} for e in errors]
    prefix: tuple[int | str, ...] = ()
    while True:
        level = [e for e in errors if e["loc"][:len(prefix)] == prefix]
        own = [e for e in level if len(e["loc"]) == len(prefix)]
        if own:
            first = own[0]
            break
        unknown = [e for e in level if len(e["loc"]) == len(prefix) + 1 and e["type"] == "extra_forbidden"]
        if unknown:
            first = min(unknown, key=lambda e: str(e["loc"][-1]))
            break
        prefix = level[0]["loc"][:len(prefix) + 1]
    ctx = first.get("ctx") or {}
    field = ctx.get("field") or _path(first["loc"])
    kind = first["type"]
    if kind == "extra_forbidden":
        return ImError("invalid_frame", f"'{field}' is not a known field", field=field)
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return ImError("invalid_frame", f"'{field}' must be an object", field=field)
    if kind == "not_found":
        return ImError(kind, first["msg"], field=field)
    return ImError(kind, f"'{field}' {first['msg']}", field=field)


def _path(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


# -- what the actions take ------------------------------------------------------------------------------

@dataclass(frozen=True)
class SendFrame:
    """A message a participant sent, as the services take it: the content holds only the fields given."""

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
        raise ImError("invalid_frame", f"'{field}' is required and must be a string", field=field)
    m = _MESSAGE_ID.fullmatch(value)
    if not m:
        raise ImError("unknown_message", f"'{field}' is not a message id this server issued", field=field)
    return MessageRef(m.group(1), int(m.group(2)))


def is_session_id(value: str) -> bool:
    return bool(_SESSION_ID.fullmatch(value))


_M = TypeVar("_M", bound=Strict)


def _as(frame: dict[str, Any], model: type[_M]) -> _M:
    parsed = validate(frame)
    assert isinstance(parsed, model), (frame.get("action"), model)
    return parsed


def send_frame(frame: dict[str, Any]) -> SendFrame:
    parsed = _as(frame, _Send)
    content: Strict = getattr(parsed, "content")  # noqa: B009 (each message type's own content model)
    return SendFrame(parsed.session_id, parsed.client_msg_id, parsed.kind,
                     content.model_dump(exclude_none=True))


@dataclass(frozen=True)
class AckBatch:
    """What an ``ack`` names: the ids of the server's format as refs (repeats dropped, in order), and the
    ids that are not (no such message, answered ``unknown_message`` without a read). ``single``: the frame
    used ``message_id``, whose refusals are answered as they always were."""

    refs: tuple[MessageRef, ...]
    unknown: tuple[str, ...]
    single: bool


def ack_frame(frame: dict[str, Any]) -> MessageRef:
    """A one-id ``ack`` (``message_id``)."""
    batch = ack_batch(frame)
    if not batch.single:
        raise ImError("invalid_frame", "'message_id' is required and must be a string", field="message_id")
    return batch.refs[0]


def ack_batch(frame: dict[str, Any]) -> AckBatch:
    parsed = _as(frame, Ack)
    if parsed.message_id is not None:
        return AckBatch((parse_message_id(parsed.message_id),), (), single=True)
    return _split_ids(parsed.message_ids or [])


def _split_ids(values: list[str]) -> AckBatch:
    refs: dict[MessageRef, None] = {}
    unknown: dict[str, None] = {}
    for value in values:
        m = _MESSAGE_ID.fullmatch(value)
        # Sequence numbers start at 1: a ".0" names no message either.
        if m and int(m.group(2)) >= 1:
            refs[MessageRef(m.group(1), int(m.group(2)))] = None
        else:
            unknown[value] = None
    return AckBatch(tuple(refs), tuple(unknown), single=False)


def read_batch(frame: dict[str, Any]) -> AckBatch:
    """A ``read``'s ids, split as an ``ack``'s are (refs of the server's format, the others unknown)."""
    parsed = _as(frame, Read)
    return _split_ids(parsed.message_ids)


def typing_frame(frame: dict[str, Any]) -> tuple[str, str]:
    parsed = _as(frame, Typing)
    return parsed.session_id, parsed.state


def protocol_version(value: Any) -> int:
    """The protocol version a connection asks for in its URL (``protocol=2``): 1 unless given; a later
    version than this server's is taken as its own (a client of version 3 understands version 2's frames)."""
    if not isinstance(value, str) or not value.isdigit() or len(value) > 3:
        return 1
    return max(1, min(int(value), PROTOCOL_VERSION))


def resume_frame(frame: dict[str, Any]) -> tuple[str, int]:
    parsed = _as(frame, Resume)
    return parsed.session_id, parsed.after_seq


def status_frame(frame: dict[str, Any]) -> tuple[str, int | None]:
    parsed = _as(frame, SetStatus)
    return parsed.status, parsed.capacity


def leave_message_frame(frame: dict[str, Any]) -> tuple[str, str | None, str | None, str | None]:
    """``leave_message``: the text, an optional contact (email or phone), the offer's reason and the client's
    id of the message (optional: makes a resend answer the first ticket)."""
    parsed = _as(frame, LeaveMessage)
    return parsed.text, parsed.contact, parsed.reason, parsed.client_msg_id


def suggest_frame(frame: dict[str, Any]) -> tuple[str, str | None]:
    parsed = _as(frame, Suggest)
    return parsed.session_id, parsed.text


def session_frame(frame: dict[str, Any]) -> str:
    """Actions on one session that take nothing else (``end_session``)."""
    return _as(frame, EndSession).session_id


def resolve_frame(frame: dict[str, Any]) -> Resolve:
    return _as(frame, Resolve)


def note_frame(frame: dict[str, Any]) -> NoteFrame:
    return _as(frame, NoteFrame)


def bare_frame(frame: dict[str, Any]) -> None:
    """Actions that take no fields beyond ``action`` (ping, hello, request_agent, leave_queue...)."""
    validate(frame)


def transfer_frame(frame: dict[str, Any]) -> TransferFrame:
    return _as(frame, TransferFrame)


def robot_feedback_frame(frame: dict[str, Any]) -> RobotFeedback:
    return _as(frame, RobotFeedback)


def rate_frame(frame: dict[str, Any]) -> RateFrame:
    return _as(frame, RateFrame)

"""The canned replies' REST handlers (routes in chalicelib/edge/replies.py; contract in docs/openapi.yaml): each
checks the body or query strictly, then calls the service, which decides who may read and keep which group's."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from chalicelib.auth.identity import Identity
from chalicelib.platform.http import parse_body
from chalicelib.replies.errors import ReplyError
from chalicelib.replies.schemas import GROUP_ID, ReplyCreate, ReplyQuery, ReplyUpdate
from chalicelib.replies.service import ReplyChange, ReplyService, reply_json

_REPLY_ID = re.compile(r"^r_[0-9a-f]{16}$")
_GROUP_ID = re.compile(GROUP_ID)


def path_ids(group_id: str, reply_id: str) -> tuple[str, str]:
    """The path's ids; 404 for ids that cannot exist (so nothing else reaches the table as a key)."""
    if not _GROUP_ID.match(group_id) or not _REPLY_ID.match(reply_id):
        raise ReplyError("not_found", "no such canned reply")
    return group_id, reply_id


def list_replies(who: Identity, params: Mapping[str, str], replies: ReplyService) -> dict[str, Any]:
    query = parse_body(ReplyQuery, params)
    found = replies.list(who, query.group_id, query.language)
    return {"replies": [reply_json(r) for r in found], "groups": replies.groups(who)}


def create_reply(who: Identity, body: Mapping[str, Any], replies: ReplyService) -> dict[str, Any]:
    new = parse_body(ReplyCreate, body)
    return reply_json(replies.create(who, new.group_id, new.language, new.shortcut, new.text))


def update_reply(who: Identity, group_id: str, reply_id: str, body: Mapping[str, Any],
                 replies: ReplyService) -> dict[str, Any]:
    change = parse_body(ReplyUpdate, body)
    if change.language is None and change.shortcut is None and change.text is None:
        raise ReplyError("invalid_body", "give at least one of 'language', 'shortcut' and 'text'")
    return reply_json(replies.update(who, *path_ids(group_id, reply_id),
                                     ReplyChange(change.language, change.shortcut, change.text)))


def delete_reply(who: Identity, group_id: str, reply_id: str, replies: ReplyService) -> None:
    replies.delete(who, *path_ids(group_id, reply_id))

"""Canned replies: who may read and keep which group's replies, and the table's reads and writes.

A group's replies are one partition of ``canned-replies`` (at most MAX_PER_GROUP of them), so an agent's list is
one Query per group it works in, filtered by language in code, and never a scan. Agents read their groups'
replies; a supervisor reads and keeps those of the groups in its token; an admin every group's.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pynamodb.exceptions import DeleteError, DoesNotExist, PutError

from chalicelib.auth.identity import Identity
from chalicelib.config.model import RoutingConfig
from chalicelib.platform.clock import SYSTEM_CLOCK, Clock
from chalicelib.platform.dynamo import is_condition_failed
from chalicelib.replies.errors import ReplyError
from chalicelib.replies.models import CannedReply
from chalicelib.routing.access import staff_groups

MAX_PER_GROUP = 200


def language_matches(reply_language: str, wanted: str) -> bool:
    """A reply in ``zh`` serves a ``zh-CN`` chat and one in ``zh-CN`` a ``zh`` chat; case does not count."""
    have, want = reply_language.lower(), wanted.lower()
    return have == want or have.split("-")[0] == want or want.split("-")[0] == have


def reply_json(reply: CannedReply) -> dict[str, Any]:
    return {"id": reply.reply_id, "group_id": reply.group_id, "language": reply.language,
            "shortcut": reply.shortcut, "text": reply.text, "updated_by": reply.updated_by,
            "updated_at": int(reply.updated_at)}


@dataclass(frozen=True)
class ReplyChange:
    language: str | None = None
    shortcut: str | None = None
    text: str | None = None


class ReplyService:
    def __init__(self, config: Callable[[], RoutingConfig], clock: Clock = SYSTEM_CLOCK,
                 max_per_group: int = MAX_PER_GROUP) -> None:
        self._config = config
        self._clock = clock
        self._max = max_per_group

    # -- who may do what ------------------------------------------------------------------------

    def readable_groups(self, who: Identity) -> list[str]:
        """The groups whose replies ``who`` reads: an agent's own, a supervisor's (its token's and those it works
        in), every group for an admin."""
        return sorted(staff_groups(self._config(), who))

    def manages(self, who: Identity, group_id: str) -> bool:
        return who.role == "admin" or (who.role == "supervisor" and group_id in who.groups)

    def _known(self, group_id: str) -> None:
        if group_id not in self._config().groups:
            raise ReplyError("not_found", f"no group {group_id!r}", field="group_id")

    def _must_manage(self, who: Identity, group_id: str) -> None:
        self._known(group_id)
        if not self.manages(who, group_id):
            raise ReplyError("forbidden", "only the group's supervisors and admins keep its canned replies")

    # -- reading ----------------------------------------------------------------------------------

    def groups(self, who: Identity) -> list[dict[str, Any]]:
        """The groups ``who`` reads replies of, each with whether ``who`` may change them."""
        config = self._config()
        return [{**config.groups[g].ref(), "manage": self.manages(who, g)}
                for g in self.readable_groups(who)]

    def list(self, who: Identity, group_id: str | None = None, language: str | None = None) -> list[CannedReply]:
        """The replies of ``who``'s groups (or of ``group_id``, which must be one), in ``language`` if given;
        one Query per group."""
        readable = self.readable_groups(who)
        if group_id is not None:
            self._known(group_id)
            if group_id not in readable:
                raise ReplyError("forbidden", "you read the canned replies of your own groups only")
            readable = [group_id]
        found = [r for g in readable for r in CannedReply.query(g)
                 if language is None or language_matches(r.language, language)]
        return sorted(found, key=lambda r: (r.group_id, r.shortcut.lower(), r.reply_id))

    # -- keeping ----------------------------------------------------------------------------------

    def create(self, who: Identity, group_id: str, language: str, shortcut: str, text: str) -> CannedReply:
        """A new reply in ``group_id`` (409 ``too_many`` past the group's limit: one counting Query)."""
        self._must_manage(who, group_id)
        if CannedReply.count(group_id) >= self._max:
            raise ReplyError("too_many", f"a group keeps at most {self._max} canned replies; delete some first")
        reply = CannedReply(group_id, "r_" + secrets.token_hex(8), language=language, shortcut=shortcut,
                            text=text.strip(), updated_by=who.user_id, updated_at=self._clock.now_ms())
        reply.save(condition=CannedReply.reply_id.does_not_exist())
        return reply

    def update(self, who: Identity, group_id: str, reply_id: str, change: ReplyChange) -> CannedReply:
        self._must_manage(who, group_id)
        reply = self._get(group_id, reply_id)
        reply.language = change.language or reply.language
        reply.shortcut = change.shortcut or reply.shortcut
        reply.text = change.text.strip() if change.text else reply.text
        reply.updated_by, reply.updated_at = who.user_id, self._clock.now_ms()
        try:
            # Only if it was not deleted meanwhile: an edit never brings a reply back.
            reply.save(condition=CannedReply.reply_id.exists())
        except PutError as err:
            if not is_condition_failed(err):
                raise
            raise ReplyError("not_found", "no such canned reply") from None
        return reply

    def delete(self, who: Identity, group_id: str, reply_id: str) -> None:
        self._must_manage(who, group_id)
        try:
            CannedReply(group_id, reply_id).delete(condition=CannedReply.reply_id.exists())
        except DeleteError as err:
            if not is_condition_failed(err):
                raise
            raise ReplyError("not_found", "no such canned reply") from None

    @staticmethod
    def _get(group_id: str, reply_id: str) -> CannedReply:
        try:
            return CannedReply.get(group_id, reply_id, consistent_read=True)
        except DoesNotExist:
            raise ReplyError("not_found", "no such canned reply") from None

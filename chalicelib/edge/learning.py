"""Robot management's "Learning" tab (admins): the groups of questions the robot could not answer well, put
together by meaning, and the three one-click ways out of the list: a similar question of an FAQ, a new FAQ, or an
off-topic example, for a group and the groups that ask the same (``with_groups``). The actions cross two domains (the
knowledge base and the learning log), so they are put together here."""

from __future__ import annotations

import re
from typing import Any

from chalice.app import Response

from chalicelib.auth.guard import ADMINS, requires
from chalicelib.edge import routes
from chalicelib.faq import api as faq_api
from chalicelib.faq.embed import LanguageVectors
from chalicelib.faq.schemas import FaqCreate
from chalicelib.learning.errors import LearningError
from chalicelib.learning.grouping import clusters
from chalicelib.learning.models import LearningGroup
from chalicelib.learning.schemas import GROUP_ID, MAX_LIMIT, AddSimilar, LearningQuery, WithGroups
from chalicelib.learning.service import group_json
from chalicelib.platform.http import int_param, json_body, parse_body
from chalicelib.wiring import services

bp = routes(__name__)

WHY = "only admins teach the robot"
_GROUP_ID = re.compile(GROUP_ID)
# Cosine at which two groups' wordings count as asking the same (MiniLM for English, E5 for Chinese, whose cosines
# crowd higher). On the demo knowledge base's texts, pairs of different FAQs joined at these: 0.05% (English) and
# 0.09% (Chinese) of them, against 11% and 18% of pairs of the same FAQ: a wrong join misleads, a missed one costs
# a click (docs/faq-matching.md, "Learning from the robot's misses").
SIMILAR_COSINE = {"en": 0.72, "zh": 0.94}
_WORDINGS = LanguageVectors()  # for the process: an admin reads the list often, mostly the same wordings


def _similar_groups(found: list[LearningGroup]) -> list[dict[str, Any]]:
    """The groups, each followed by those that ask the same (``similar``, most asked first); a group
    listed under another is not listed again. Led by the most asked of each cluster."""
    by_count = sorted(range(len(found)), key=lambda i: (-int(found[i].total), -int(found[i].last_at)))
    kb = services().kb
    leaders = clusters(_WORDINGS.read([found[i].last_text for i in by_count], kb.embedder, kb.chinese),
                       SIMILAR_COSINE)
    members: dict[int, list[int]] = {}
    for position, leader in enumerate(leaders):
        if leader != position:
            members.setdefault(by_count[leader], []).append(by_count[position])
    led = {m for ms in members.values() for m in ms}
    out = []
    for i, group in enumerate(found):
        if i in led:
            continue
        similar = [found[m] for m in members.get(i, [])]
        out.append({**group_json(group), "similar": [{"group_id": g.group_key, "text": g.last_text,
                                                      "count": int(g.total)} for g in similar],
                    "count_with_similar": int(group.total) + sum(int(g.total) for g in similar)})
    return out


def _open_group(group_id: str) -> LearningGroup:
    if not _GROUP_ID.match(group_id):
        raise LearningError("not_found", "no such group")
    group = services().learning.get(group_id)
    if group.status != "open":
        raise LearningError("conflict", "this group was already resolved", resolved_as=group.status)
    return group


class FaqFromGroup(FaqCreate, WithGroups):
    """POST /robot/learning/{group_id}/faq: a new FAQ (as POST /faqs), and the groups that ask the same, whose
    wordings become its similar questions."""


def _with(group: LearningGroup, ids: list[str]) -> list[LearningGroup]:
    """The open groups among ``ids``, resolved along with ``group``; ones resolved meanwhile are left alone."""
    out = []
    for group_id in dict.fromkeys(ids):
        if group_id == group.group_key:
            continue
        try:
            other = services().learning.get(group_id)
        except LearningError:
            continue
        if other.status == "open":
            out.append(other)
    return out


def _resolve(who: str, group: LearningGroup, others: list[LearningGroup], status: str,
             faq_id: str | None = None) -> dict[str, Any]:
    """Resolve ``group`` and ``others`` the same way; the group as answered, with the others' ids."""
    resolved = services().learning.resolve(who, group.group_key, status, faq_id)
    for other in others:
        services().learning.resolve(who, other.group_key, status, faq_id)
    return {**group_json(resolved), "resolved_with": [g.group_key for g in others]}


@bp.route("/robot/learning", methods=["GET"])
def learning_list() -> Any:
    request = bp.current_request
    requires(request, ADMINS, WHY)
    params = dict(request.query_params or {})
    query = parse_body(LearningQuery, params)
    found = services().learning.groups(query.status, query.order, int_param(params, "limit", 100, 1, MAX_LIMIT))
    if query.status == "open":
        return {"groups": _similar_groups(found)}
    return {"groups": [group_json(g) for g in found]}


@bp.route("/robot/learning/{group_id}/similar", methods=["POST"])
def learning_add_similar(group_id: str) -> Any:
    """The group's latest wording becomes a similar question of the FAQ (the robot answers it from now on)."""
    who = requires(bp.current_request, ADMINS, WHY)
    body = parse_body(AddSimilar, json_body(bp.current_request))
    group = _open_group(group_id)
    others = _with(group, body.with_groups)
    kb = services().kb
    faq = kb.get(faq_api.path_id(body.faq_id)).faq
    added = [t for t in dict.fromkeys(g.last_text for g in (group, *others))
             if t not in faq.similar and t != faq.question]
    if added:
        kb.update(faq.faq_id, {"similar": [*faq.similar, *added]})
    return _resolve(who.user_id, group, others, "similar", faq.faq_id)


@bp.route("/robot/learning/{group_id}/faq", methods=["POST"])
def learning_create_faq(group_id: str) -> Response:
    """A new FAQ from the group (the body as for POST /faqs: the console prefills ``question`` with its wording)."""
    who = requires(bp.current_request, ADMINS, WHY)
    body = dict(json_body(bp.current_request))
    parsed = parse_body(FaqFromGroup, body)
    group = _open_group(group_id)
    others = _with(group, parsed.with_groups)
    body.pop("with_groups", None)
    if others:  # the groups that ask the same become its similar questions
        body["similar"] = list(dict.fromkeys([*(parsed.similar or []), *(g.last_text for g in others
                                                                if g.last_text != parsed.question)]))
    created = faq_api.create_faq(body, services().kb)
    return Response(body={"faq": created, "group": _resolve(who.user_id, group, others, "faq", created["faq_id"])},
                    status_code=201)


@bp.route("/robot/learning/{group_id}/off-topic", methods=["POST"])
def learning_off_topic(group_id: str) -> Any:
    """Not a question for the shop: kept as an off-topic example for the rejection gate."""
    who = requires(bp.current_request, ADMINS, WHY)
    body = parse_body(WithGroups, json_body(bp.current_request))
    group = _open_group(group_id)
    others = _with(group, body.with_groups)
    return _resolve(who.user_id, group, others, "off_topic")

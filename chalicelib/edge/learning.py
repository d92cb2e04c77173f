"""Robot management's "Learning" tab (admins): the groups of questions the robot could not answer well, and the
three one-click ways out of the list: a similar question of an FAQ, a new FAQ, or an off-topic example. The
actions cross two domains (the knowledge base and the learning log), so they are put together here."""

from __future__ import annotations

import re
from typing import Any

from chalice.app import Response

from chalicelib.auth.guard import ADMINS, requires
from chalicelib.edge import routes
from chalicelib.faq import api as faq_api
from chalicelib.learning.errors import LearningError
from chalicelib.learning.models import LearningGroup
from chalicelib.learning.schemas import GROUP_ID, MAX_LIMIT, AddSimilar, LearningQuery
from chalicelib.learning.service import group_json
from chalicelib.platform.http import int_param, json_body, parse_body
from chalicelib.wiring import services

bp = routes(__name__)

WHY = "only admins teach the robot"
_GROUP_ID = re.compile(GROUP_ID)


def _open_group(group_id: str) -> LearningGroup:
    if not _GROUP_ID.match(group_id):
        raise LearningError("not_found", "no such group")
    group = services().learning.get(group_id)
    if group.status != "open":
        raise LearningError("conflict", "this group was already resolved", resolved_as=group.status)
    return group


@bp.route("/robot/learning", methods=["GET"])
def learning_list() -> Any:
    request = bp.current_request
    requires(request, ADMINS, WHY)
    params = dict(request.query_params or {})
    query = parse_body(LearningQuery, params)
    found = services().learning.groups(query.status, query.order, int_param(params, "limit", 100, 1, MAX_LIMIT))
    return {"groups": [group_json(g) for g in found]}


@bp.route("/robot/learning/{group_id}/similar", methods=["POST"])
def learning_add_similar(group_id: str) -> Any:
    """The group's latest wording becomes a similar question of the FAQ (the robot answers it from now on)."""
    who = requires(bp.current_request, ADMINS, WHY)
    body = parse_body(AddSimilar, json_body(bp.current_request))
    group = _open_group(group_id)
    kb = services().kb
    faq = kb.get(faq_api.path_id(body.faq_id)).faq
    if group.last_text not in faq.similar and group.last_text != faq.question:
        kb.update(faq.faq_id, {"similar": [*faq.similar, group.last_text]})
    resolved = services().learning.resolve(who.user_id, group.group_key, "similar", faq.faq_id)
    return group_json(resolved)


@bp.route("/robot/learning/{group_id}/faq", methods=["POST"])
def learning_create_faq(group_id: str) -> Response:
    """A new FAQ from the group (the body as for POST /faqs: the console prefills ``question`` with its wording)."""
    who = requires(bp.current_request, ADMINS, WHY)
    group = _open_group(group_id)
    created = faq_api.create_faq(json_body(bp.current_request), services().kb)
    resolved = services().learning.resolve(who.user_id, group.group_key, "faq", created["faq_id"])
    return Response(body={"faq": created, "group": group_json(resolved)}, status_code=201)


@bp.route("/robot/learning/{group_id}/off-topic", methods=["POST"])
def learning_off_topic(group_id: str) -> Any:
    """Not a question for the shop: kept as an off-topic example for the rejection gate."""
    who = requires(bp.current_request, ADMINS, WHY)
    group = _open_group(group_id)
    return group_json(services().learning.resolve(who.user_id, group.group_key, "off_topic"))

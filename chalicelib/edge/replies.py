"""Canned replies: agents read their groups' replies; supervisors and admins keep them."""

from __future__ import annotations

from typing import Any

from chalice.app import Response

from chalicelib.auth.guard import STAFF, SUPERVISORS, requires
from chalicelib.edge import routes
from chalicelib.platform.http import json_body
from chalicelib.replies import api
from chalicelib.wiring import services

bp = routes(__name__)

KEEP_WHY = "canned replies are kept by supervisors and admins"


@bp.route("/canned-replies", methods=["GET"])
def replies_list() -> Any:
    request = bp.current_request
    who = requires(request, STAFF, "canned replies are for staff")
    return api.list_replies(who, request.query_params or {}, services().replies)


@bp.route("/canned-replies", methods=["POST"])
def replies_create() -> Response:
    request = bp.current_request
    who = requires(request, SUPERVISORS, KEEP_WHY)
    return Response(body=api.create_reply(who, json_body(request), services().replies), status_code=201)


@bp.route("/canned-replies/{group_id}/{reply_id}", methods=["PUT"])
def replies_update(group_id: str, reply_id: str) -> Any:
    request = bp.current_request
    who = requires(request, SUPERVISORS, KEEP_WHY)
    return api.update_reply(who, group_id, reply_id, json_body(request), services().replies)


@bp.route("/canned-replies/{group_id}/{reply_id}", methods=["DELETE"])
def replies_delete(group_id: str, reply_id: str) -> Response:
    who = requires(bp.current_request, SUPERVISORS, KEEP_WHY)
    api.delete_reply(who, group_id, reply_id, services().replies)
    return Response(body="", status_code=204)

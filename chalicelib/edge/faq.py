"""Robot management: the knowledge base (staff read it, admins change it), its reindex jobs (and the function that
runs them) and the robot's settings."""

from __future__ import annotations

from typing import Any

from chalice.app import Response

from chalicelib.auth.guard import ADMINS, STAFF, requires
from chalicelib.edge import routes
from chalicelib.faq import api as faq_api
from chalicelib.platform.http import idempotency_key, json_body
from chalicelib.wiring import services

bp = routes(__name__)

READERS = "the knowledge base is for staff"
WRITERS = "only admins change the knowledge base and the robot"


@bp.route("/faqs", methods=["GET"])
def faqs_list() -> Any:
    request = bp.current_request
    requires(request, STAFF, READERS)
    return faq_api.list_faqs(request.query_params or {}, services().kb)


@bp.route("/faqs", methods=["POST"])
def faqs_create() -> Response:
    request = bp.current_request
    requires(request, ADMINS, WRITERS)
    return Response(body=faq_api.create_faq(json_body(request), services().kb), status_code=201)


@bp.route("/faqs/import", methods=["POST"])
def faqs_import() -> Any:
    request = bp.current_request
    who = requires(request, ADMINS, WRITERS)
    return faq_api.import_faqs(who, json_body(request), services().kb, idempotency_key(request))


@bp.route("/faqs/export", methods=["GET"])
def faqs_export() -> Response:
    request = bp.current_request
    requires(request, ADMINS, WRITERS)
    text, content_type = faq_api.export_faqs(request.query_params or {}, services().kb)
    extension = "csv" if content_type.startswith("text/csv") else "jsonl"
    return Response(body=text, status_code=200, headers={
        "Content-Type": content_type, "Content-Disposition": f'attachment; filename="faqs.{extension}"'})


@bp.route("/faqs/reindex", methods=["POST"])
def faqs_reindex() -> Response:
    who = requires(bp.current_request, ADMINS, WRITERS)
    return Response(body=faq_api.start_reindex(who, services().reindex), status_code=202)


@bp.route("/faqs/reindex", methods=["GET"])
def faqs_reindex_latest() -> Any:
    requires(bp.current_request, ADMINS, WRITERS)
    return faq_api.latest_reindex(services().reindex)


@bp.route("/faqs/reindex/{job_id}", methods=["GET"])
def faqs_reindex_job(job_id: str) -> Any:
    requires(bp.current_request, ADMINS, WRITERS)
    return faq_api.get_reindex(job_id, services().reindex)


@bp.lambda_function(name="faq_reindex")
def faq_reindex(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """The reindex job (started by POST /faqs/reindex through an asynchronous invoke): rebuild the search index,
    recording progress and outcome on the job."""
    job = services().reindex.run(str(event.get("job_id", "")))
    return {"job_id": event.get("job_id"), "state": job.state if job is not None else "not_run"}


@bp.route("/faqs/{faq_id}", methods=["GET"])
def faqs_get(faq_id: str) -> Any:
    requires(bp.current_request, STAFF, READERS)
    return faq_api.get_faq(faq_id, services().kb)


@bp.route("/faqs/{faq_id}", methods=["PUT"])
def faqs_update(faq_id: str) -> Any:
    request = bp.current_request
    requires(request, ADMINS, WRITERS)
    return faq_api.update_faq(faq_id, json_body(request), services().kb)


@bp.route("/faqs/{faq_id}", methods=["DELETE"])
def faqs_delete(faq_id: str) -> Any:
    requires(bp.current_request, ADMINS, WRITERS)
    return faq_api.delete_faq(faq_id, services().kb)


@bp.route("/robot/settings", methods=["GET"])
def robot_settings_get() -> Any:
    requires(bp.current_request, STAFF, READERS)
    return faq_api.get_robot_settings(services().kb)


@bp.route("/robot/settings", methods=["PUT"])
def robot_settings_put() -> Any:
    request = bp.current_request
    requires(request, ADMINS, WRITERS)
    return faq_api.put_robot_settings(json_body(request), services().kb)


@bp.route("/robot/try", methods=["POST"])
def robot_try() -> Any:
    request = bp.current_request
    requires(request, STAFF, READERS)
    return faq_api.try_question(json_body(request), services().kb)

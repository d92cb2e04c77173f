"""Images sent in chats (chalicelib/media); read back at /media/<key>."""

from __future__ import annotations

from chalice.app import Response

from chalicelib.auth.guard import ANYONE, requires
from chalicelib.edge import routes
from chalicelib.media import uploads
from chalicelib.wiring import services

bp = routes(__name__)

# API Gateway passes these bodies to the Lambda as bytes (base64), not as text: the app lists them.
BINARY_TYPES = tuple(uploads.IMAGE_TYPES)


# Other types are accepted here only to be refused with this API's error shape, not Chalice's.
@bp.route("/uploads", methods=["POST"],
          content_types=[*uploads.IMAGE_TYPES, "application/octet-stream", "application/json", "text/plain"])
def upload_create() -> Response:
    request = bp.current_request
    who = requires(request, ANYONE)
    svc = services()
    stored = uploads.upload(who, request.raw_body, request.headers.get("content-type"), svc.sessions, svc.media,
                            svc.limiter.quota)
    return Response(body=stored, status_code=201)

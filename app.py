"""Chalice wiring only: the WebSocket handlers, one Blueprint per domain (chalicelib/edge/), and the
middleware every REST call goes through. Rules live in chalicelib/<domain>/."""

from __future__ import annotations

import json
import logging
from dataclasses import replace

from chalice.app import Chalice, Response, WebsocketEvent

from chalicelib.auth.errors import AuthError
from chalicelib.auth.keys import default_key_source
from chalicelib.auth.tokens import authenticate
from chalicelib.channel.presence import TooManyConnections
from chalicelib.edge import (
    auth,
    coldstart,
    commerce,
    conversations,
    faq,
    health,
    im,
    learning,
    media,
    replies,
    reports,
    routing,
    sessions,
    tickets,
)
from chalicelib.edge.frames import handle_frame
from chalicelib.im.schemas import protocol_version
from chalicelib.platform import cors
from chalicelib.platform.http import error_middleware
from chalicelib.platform.observability import correlate, observe
from chalicelib.wiring import services

app = Chalice(app_name="customer-service")
app.experimental_feature_flags.update(["WEBSOCKETS"])
app.log.setLevel(logging.INFO)
# First, so outermost: every log line of an invocation carries the Lambda context and the connection.
app.register_middleware(observe, "all")


# -- WebSocket (on the app: Chalice 1.34 passes a Blueprint's handlers no WebsocketEvent) -----------

@app.on_ws_connect()
def ws_connect(event: WebsocketEvent) -> Response | None:
    query = event.to_dict().get("queryStringParameters") or {}
    try:
        identity = authenticate(query.get("token"), default_key_source())
    except AuthError as err:
        # Refusing the upgrade: the client sees the HTTP status, not a frame.
        return Response(body=json.dumps({"error": {"code": err.code, "message": err.message}}), status_code=401)
    # The frames this connection understands (docs/protocol.md, section 1); never a reason to refuse it.
    identity = replace(identity, protocol=protocol_version(query.get("protocol")))
    correlate(user=identity.user_id)
    svc = services()
    try:
        presence = svc.presence.connect(event.connection_id, identity)
    except TooManyConnections as err:
        return Response(body=json.dumps({"error": {"code": "too_many_connections", "message": str(err)}}),
                        status_code=429)
    if identity.is_staff:
        svc.routing.agent_connected(identity)
    else:
        svc.lifecycle.visitor_back(svc.sessions.current_or_new(identity, presence))
    return None


@app.on_ws_message()
def ws_message(event: WebsocketEvent) -> None:
    handle_frame(services(), event.connection_id, event.body)


@app.on_ws_disconnect()
def ws_disconnect(event: WebsocketEvent) -> None:
    services().presence.disconnect(event.connection_id)


# -- REST routes, the schedule and the state machines' steps, by domain ----------------------------

# The order only sets the order of app.routes and app.pure_lambda_functions (delivery_step first, as before).
for blueprint in (im.bp, health.bp, auth.bp, sessions.bp, media.bp, commerce.bp, routing.bp, faq.bp, tickets.bp,
                  replies.bp, conversations.bp, reports.bp, learning.bp):
    app.register_blueprint(blueprint)
# API Gateway passes these bodies to the Lambda as bytes (base64), not as text.
app.api.binary_types.extend(t for t in media.BINARY_TYPES if t not in app.api.binary_types)

# After every route: preflights for each path, and CORS headers for the configured origins (CORS_ORIGINS).
cors.install(app)
# Registered after CORS so that it runs inside it: error answers carry the CORS headers too.
app.register_middleware(error_middleware(), "http")

# Last: in a Lambda function that embeds text ($default, the REST API) the model and the FAQ classifier are loaded
# now, at init (under SnapStart, once per published version), not on a visitor's first message. Never raises.
coldstart.at_init()

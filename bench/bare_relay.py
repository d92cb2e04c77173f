"""The baseline: a bare aiohttp WebSocket relay with the same frames and ACK round trip, and no
storage, retries or AWS. ``python -m bench.bare_relay PORT``; prints ``READY`` when listening."""

from __future__ import annotations

import itertools
import json
import random
import sys
from typing import Any

from aiohttp import WSMsgType, web

_ids = itertools.count(1)


def create_app() -> web.Application:
    agents: list[web.WebSocketResponse] = []
    partner: dict[web.WebSocketResponse, web.WebSocketResponse] = {}
    senders: dict[str, tuple[web.WebSocketResponse, str]] = {}

    async def ws(request: web.Request) -> web.WebSocketResponse:
        sock = web.WebSocketResponse(max_msg_size=1 << 20)
        await sock.prepare(request)
        if request.query.get("role") == "agent":
            agents.append(sock)
        else:
            partner[sock] = random.choice(agents)
        async for msg in sock:
            if msg.type != WSMsgType.TEXT:
                continue
            frame: dict[str, Any] = json.loads(msg.data)
            if frame.get("action") == "send":
                mid = f"m{next(_ids)}"
                senders[mid] = (sock, frame["client_msg_id"])
                await partner[sock].send_str(json.dumps({"event": "message", "attempt": 1, "message": {
                    "message_id": mid, "content": frame["content"], "type": frame["type"]}}))
            elif frame.get("action") == "ack":
                origin, cmid = senders.pop(frame["message_id"])
                await origin.send_str(json.dumps({"event": "delivered", "client_msg_id": cmid,
                                                  "message_id": frame["message_id"]}))
        return sock

    app = web.Application()
    app.router.add_get("/ws", ws)
    return app


if __name__ == "__main__":
    port = int(sys.argv[1])
    web.run_app(create_app(), host="127.0.0.1", port=port, print=lambda *_: print("READY", flush=True))

"""Cost benchmark: one standard conversation on the local stack, every AWS call it makes counted and priced.

The conversation (over real sockets, as the web widget and the console speak): agent ``load01`` is online (its
sign-in and sign-out happen once a shift, for many conversations, and are measured apart as ``agent_shift``);
a visitor gets a token, connects and asks the robot three questions from the demo
knowledge base; asks for a person (``request_agent``) and is routed to ``load01``; visitor and agent exchange
10 text messages each, every one ACKed by its recipient before the next is sent; the agent resolves the session
(its lifecycle timer, a Standard execution started at the assignment, is stopped), the visitor gets the survey
and answers it; both disconnect.

The stack runs in a child process with meters (``bench/metered.py``): DynamoDB capacity units by DynamoDB's
rules and a trace of every AWS call (operation, thread, start, end), from which the message path's sequential
calls are read. The stack's own background work (the queue tick) is switched off for the run, and
configuration is cached as long as on AWS.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import aiohttp

from bench.metered import ROUTE_FUNCTIONS, delta, memory_mb, metered_stack, settled, stats
from local.harness import Peer, Stack, agent_token, connect, visitor_token

PRICES = Path(__file__).with_name("prices.json")

ACK_WAIT_SECONDS = 5  # production's wait before a delivery is retried (the delivery execution waits this long)
EXPRESS_MEMORY_MB = 64  # Express bills memory in 64 MB units; a small execution uses the first
CONVERSATION_MINUTES = 8.0  # assumed length of a real conversation, for connection-minutes
AGENT_CAPACITY = 5  # chats an agent serves at once (config/groups.json default_capacity)
# The visitor's connection, and its share of the agent's, which serves AGENT_CAPACITY chats at once.
CONNECTIONS = 1 + 1 / AGENT_CAPACITY
WS_UNIT_BYTES = 32 * 1024  # API Gateway bills WebSocket messages in 32 KB units
GOAL_USD_PER_CONVERSATION = 0.0003
GOAL_SEQUENTIAL_CALLS = 4

AGENT = "load01"
ROBOT_QUESTIONS = ("How long does delivery take within mainland China?", "What is your return policy?",
                   "How long does a refund take?")
CHAT_ROUNDS = 10
TRACED_ROUND = 5  # the agent's message of this round is the one whose call order is read
MISSING: tuple[str, ...] = ()
NOT_COUNTED = (
    "CloudWatch Logs ingestion and storage of the functions' logs, CloudWatch metrics (EMF) and X-Ray traces",
    "the scheduled queue tick (one Lambda run a minute, whatever the traffic: a fixed cost, not per conversation)",
    "storage: DynamoDB GB-months, the messages kept as history",
    "the FAQ search cluster on AWS (OpenSearch, a fixed hourly cost); locally the robot's search runs inside "
    "the function and is in its measured time",
    "data transfer out to the internet",
    "WebSocket keep-alive pings (none are needed while messages flow at least every 10 minutes)",
)


# -- pricing ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Usage:
    """What one conversation uses of each billed dimension."""

    ws_messages: float  # 32 KB units, frames in + frames out
    ws_connection_minutes: float
    lambda_requests: float
    lambda_ms: float  # total billed run time
    lambda_memory_mb: float
    dynamodb_read_units: float
    dynamodb_write_units: float
    express_requests: float
    express_billed_ms: float  # each execution rounded up to 100 ms, summed
    express_memory_mb: float = EXPRESS_MEMORY_MB
    standard_transitions: float = 0.0


def load_prices(path: Path = PRICES) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def price(usage: Usage, prices: Mapping[str, float]) -> dict[str, float]:
    """Dollars by service for ``usage`` at ``prices`` (``prices_usd`` of prices.json)."""
    million = 1_000_000

    def gb_seconds(ms: float, mb: float) -> float:
        return ms / 1000 * mb / 1024

    return {
        "apigateway_websocket": usage.ws_messages * prices["apigateway_websocket_per_million_messages"] / million
        + usage.ws_connection_minutes * prices["apigateway_websocket_per_million_connection_minutes"] / million,
        "lambda": usage.lambda_requests * prices["lambda_per_million_requests"] / million
        + gb_seconds(usage.lambda_ms, usage.lambda_memory_mb) * prices["lambda_per_gb_second"],
        "dynamodb": usage.dynamodb_write_units * prices["dynamodb_per_million_write_units"] / million
        + usage.dynamodb_read_units * prices["dynamodb_per_million_read_units"] / million,
        "stepfunctions": usage.express_requests * prices["stepfunctions_express_per_million_requests"] / million
        + gb_seconds(usage.express_billed_ms, usage.express_memory_mb) * prices["stepfunctions_express_per_gb_second"]
        + usage.standard_transitions * prices["stepfunctions_standard_per_thousand_transitions"] / 1000,
    }


def sequential_before_post(trace: list[dict[str, Any]], since: float, until: float) -> dict[str, Any]:
    """The AWS calls of one ``send`` before its post to the recipient, from a call trace (``{"op", "thread",
    "t0", "t1"}``, epoch seconds): the send's handler is the thread that starts the delivery execution; its
    calls up to its first post after that are sequential, and calls of its helper threads (any thread not
    of the gateway's ``lambda`` pool) started meanwhile ran in parallel with them."""
    window = sorted((c for c in trace if since <= c["t0"] <= until), key=lambda c: c["t0"])
    start = next((c for c in window if c["op"] == "stepfunctions.StartExecution"), None)
    if start is None:
        return {"sequential": [], "parallel": [], "count": None}
    thread = start["thread"]
    post = next((c for c in window if c["thread"] == thread and c["t0"] >= start["t0"]
                 and c["op"] == "apigatewaymanagementapi.PostToConnection"), None)
    if post is None:
        return {"sequential": [], "parallel": [], "count": None}
    mine = [c for c in window if c["thread"] == thread and c["t0"] < post["t0"]]
    first = mine[0]["t0"]
    helpers = [c for c in window if not c["thread"].startswith("lambda") and first <= c["t0"] < post["t0"]]
    return {"sequential": [c["op"] for c in mine], "parallel": [c["op"] for c in helpers], "count": len(mine)}


# -- the conversation ------------------------------------------------------------------------------------

async def _stats(http: aiohttp.ClientSession, stack: Stack) -> dict[str, Any]:
    return await stats(http, stack)


async def _message(sender: Peer, session_id: str, text: str) -> None:
    """Send and wait until the recipient's ACK came back as ``delivered``."""
    cmid = await sender.text(session_id, text)
    await sender.wait_for(lambda p: any(f["client_msg_id"] == cmid for f in p.by_event["delivered"]), 30)


async def _settled(http: aiohttp.ClientSession, stack: Stack, open_connections: int) -> dict[str, Any]:
    """The stats once no execution runs and only ``open_connections`` are left (bounded wait)."""
    return await settled(http, stack, open_connections, ACK_WAIT_SECONDS)


async def _conversation(stack: Stack) -> dict[str, Any]:
    async with aiohttp.ClientSession() as http:
        # The agent signs in once a shift and serves many conversations: its sign-in and sign-out are
        # measured apart (``agent_shift``), and the conversation starts with the agent online.
        shift_start = await _stats(http, stack)
        agent = await connect(http, stack, await agent_token(http, stack.base, AGENT))
        await agent.request({"action": "hello"}, "welcome")
        before = await _stats(http, stack)
        marks: list[tuple[str, dict[str, Any]]] = [("start", before)]
        started = time.perf_counter()
        # The widget ACKs the agent's messages; robot messages need none.
        visitor = await connect(http, stack, await visitor_token(http, stack.base, "Cost"),
                                should_ack=lambda f: f["message"]["sender_role"] != "robot")
        welcome = await visitor.request({"action": "hello"}, "welcome")
        session_id = welcome["session"]["session_id"]
        marks.append(("connect", await _stats(http, stack)))
        for turn, question in enumerate(ROBOT_QUESTIONS, 1):
            await _message(visitor, session_id, question)
            await visitor.wait_for(lambda p, n=turn: sum(  # type: ignore[misc]
                f["message"]["sender_role"] == "robot" for f in p.by_event["message"]) >= n, 30)
        robot = [f["message"]["content"] for f in visitor.by_event["message"]]
        answered = sum(1 for c in robot if c.get("faq_id"))
        marks.append(("robot", await _stats(http, stack)))
        assigned = await visitor.request({"action": "request_agent"}, "session")
        if assigned["session"]["status"] != "active" or assigned["session"]["agent_id"] != AGENT:
            raise RuntimeError(f"not routed to {AGENT}: {assigned}")
        await agent.wait_for(lambda p: any(f["session"]["session_id"] == session_id for f in p.by_event["session"]))
        marks.append(("handoff", await _stats(http, stack)))
        traced: tuple[float, float] = (0.0, 0.0)
        for i in range(1, CHAT_ROUNDS + 1):
            await _message(visitor, session_id, f"Visitor message {i}: my order has not arrived yet.")
            t0 = time.time()
            await _message(agent, session_id, f"Agent message {i}: let me check that order for you.")
            if i == TRACED_ROUND:
                traced = (t0, time.time())
        marks.append(("chat", await _stats(http, stack)))
        closed = await agent.request({"action": "resolve", "session_id": session_id}, "session")
        if closed["session"]["status"] != "closed":
            raise RuntimeError(f"session not closed: {closed}")
        await visitor.wait_for(lambda p: any(f["session"]["status"] == "closed" for f in p.by_event["session"]))
        if len(visitor.by_event["survey"]) != 1:
            raise RuntimeError(f"expected one survey, got {visitor.by_event['survey']}")
        marks.append(("close", await _stats(http, stack)))
        rated = await visitor.request({"action": "rate", "session_id": session_id, "stars": 5, "tags": ["quick"]},
                                      "rated")
        if rated.get("event") != "rated":
            raise RuntimeError(f"survey answer refused: {rated}")
        run_seconds = time.perf_counter() - started
        await visitor.close()
        # The last delivery executions wait before their read; $disconnect runs after the close.
        after = await _settled(http, stack, open_connections=1)
        marks.append(("survey", after))
        await agent.close()
        shift_end = await _settled(http, stack, open_connections=0)
    largest = max(len(json.dumps(f, ensure_ascii=False).encode()) for f in visitor.frames + agent.frames)
    return {"before": before, "after": after, "marks": marks, "run_seconds": run_seconds, "traced": traced,
            "shift": [(shift_start, before), (after, shift_end)],
            "robot_answered": answered, "largest_frame_bytes": largest,
            "frames_received": {"visitor": len(visitor.frames), "agent": len(agent.frames)},
            "suggestions": {"in_message": sum(1 for f in agent.by_event["message"] if f.get("suggestions")),
                            "own_frame": len(agent.by_event["suggestions"])}}


def run(state_dir: Path) -> dict[str, Any]:
    with metered_stack(state_dir, ack_wait_seconds=ACK_WAIT_SECONDS) as stack:
        got = asyncio.run(_conversation(stack))
    before, after = got["before"], got["after"]
    calls = {k: int(v) for k, v in sorted(delta(after["aws_calls"], before["aws_calls"]).items())}
    gateway = delta(after["gateway"], before["gateway"])
    handlers = {route: {"invocations": h["invocations"] - before["handlers"].get(route, {}).get("invocations", 0),
                        "ms": round(h["ms"] - before["handlers"].get(route, {}).get("ms", 0.0), 1)}
                for route, h in sorted(after["handlers"].items())}
    sfn = delta(after["stepfunctions"], before["stepfunctions"])
    capacity = delta(after["capacity"], before["capacity"])
    if got["largest_frame_bytes"] > WS_UNIT_BYTES:
        raise RuntimeError("a frame over 32 KB: count WebSocket units by size")
    invocations = sum(h["invocations"] for h in handlers.values())
    handler_ms = sum(h["ms"] for h in handlers.values())
    lambda_tasks = sfn.get("lambda_tasks", 0)
    mean_ms = handler_ms / max(invocations, 1)
    # Each route's time at its own function's memory; state machine tasks at the default's.
    mb_ms = sum(h["ms"] * memory_mb(ROUTE_FUNCTIONS.get(route, "api_handler")) for route, h in handlers.items())
    mb_ms += lambda_tasks * mean_ms * memory_mb("delivery_step")
    lambda_ms = handler_ms + lambda_tasks * mean_ms
    usage = Usage(
        ws_messages=gateway.get("frames_in", 0) + gateway.get("frames_out", 0),
        ws_connection_minutes=CONNECTIONS * CONVERSATION_MINUTES,
        lambda_requests=invocations + lambda_tasks,
        lambda_ms=lambda_ms,
        lambda_memory_mb=round(mb_ms / lambda_ms, 1) if lambda_ms else memory_mb("websocket_message"),
        dynamodb_read_units=capacity.get("read", 0.0),
        dynamodb_write_units=capacity.get("write", 0.0),
        express_requests=sfn.get("executions", 0),
        express_billed_ms=sfn.get("billed_ms", 0),
        standard_transitions=sfn.get("standard_transitions", 0),
    )
    prices = load_prices()
    breakdown = price(usage, prices["prices_usd"])
    shift: dict[str, Any] = {"aws_calls": 0, "write_units": 0.0, "read_units": 0.0}
    for earlier, later in got["shift"]:
        units = delta(later["capacity"], earlier["capacity"])
        shift["aws_calls"] += int(sum(delta(later["aws_calls"], earlier["aws_calls"]).values()))
        shift["write_units"] += units.get("write", 0.0)
        shift["read_units"] += units.get("read", 0.0)
    shift["usd_dynamodb"] = round(shift["write_units"] * prices["prices_usd"]["dynamodb_per_million_write_units"] / 1e6
                                  + shift["read_units"] * prices["prices_usd"]["dynamodb_per_million_read_units"] / 1e6,
                                  8)
    total = sum(breakdown.values())
    chat_messages = 2 * len(ROBOT_QUESTIONS) + 2 * CHAT_ROUNDS
    connect_usd = chat_messages * prices["prices_usd"]["amazon_connect_chat_per_message"]
    path = sequential_before_post(after["call_trace"], *got["traced"])
    phases = {}
    for (_, earlier), (name, later) in itertools.pairwise(got["marks"]):
        units = delta(later["capacity"], earlier["capacity"])
        phases[name] = {"aws_calls": int(sum(delta(later["aws_calls"], earlier["aws_calls"]).values())),
                        "write_units": units.get("write", 0.0), "read_units": units.get("read", 0.0),
                        "frames": int(sum(v for k, v in delta(later["gateway"], earlier["gateway"]).items()
                                          if k in ("frames_in", "frames_out"))),
                        "executions": int(delta(later["stepfunctions"], earlier["stepfunctions"])
                                          .get("executions", 0))}
    return {
        "usd_per_conversation": round(total, 8),
        "usd_per_million_messages": round(total / chat_messages * 1_000_000, 2),
        "connect_usd_per_conversation": round(connect_usd, 4),
        "calls": calls,
        "calls_total": sum(calls.values()),
        "breakdown_usd": {k: round(v, 8) for k, v in breakdown.items()},
        "breakdown_share": {k: round(v / total, 3) for k, v in breakdown.items()},
        "usage": asdict(usage),
        "lambda_by_route": handlers,
        "lambda_state_machine_tasks": lambda_tasks,
        "stepfunctions": {"executions": sfn.get("executions", 0), "transitions": sfn.get("transitions", 0),
                          "standard_executions": sfn.get("standard_executions", 0),
                          "standard_transitions": sfn.get("standard_transitions", 0),
                          "duration_ms": round(sfn.get("duration_ms", 0.0), 1), "billed_ms": sfn.get("billed_ms", 0),
                          "still_running": after["stepfunctions"]["running"]},
        "dynamodb_units": {k: round(v, 2) for k, v in capacity.items()},
        "websocket": {"frames_in": gateway.get("frames_in", 0), "frames_out": gateway.get("frames_out", 0),
                      "largest_frame_bytes": got["largest_frame_bytes"], "connections": CONNECTIONS,
                      "assumed_minutes": CONVERSATION_MINUTES},
        "message_path": path,
        # The SOP assistant's suggestions for the visitor's texts: inside the agent's message frame, or late.
        "suggestions": got["suggestions"],
        "phases": phases,
        "agent_shift": shift,
        "goal": {"usd_per_conversation_max": GOAL_USD_PER_CONVERSATION,
                 "usd_met": total <= GOAL_USD_PER_CONVERSATION,
                 "sequential_calls_max": GOAL_SEQUENTIAL_CALLS,
                 "sequential_met": path["count"] is not None and path["count"] <= GOAL_SEQUENTIAL_CALLS},
        "conversation": {"robot_turns": len(ROBOT_QUESTIONS), "robot_answered": got["robot_answered"],
                         "visitor_messages": CHAT_ROUNDS, "agent_messages": CHAT_ROUNDS,
                         "chat_messages": chat_messages, "run_seconds": round(got["run_seconds"], 2),
                         "assumed_minutes": CONVERSATION_MINUTES},
        "assumptions": {"lambda_memory_mb": {f: memory_mb(f) for f in sorted(ROUTE_FUNCTIONS.values())},
                        "lambda_ms": "measured handler time on the local "
                        "stack (AWS calls emulated in-process by moto)", "express_memory_mb": EXPRESS_MEMORY_MB,
                        "ack_wait_seconds": ACK_WAIT_SECONDS, "conversation_minutes": CONVERSATION_MINUTES},
        "missing": list(MISSING),
        "not_counted": list(NOT_COUNTED),
        "prices": {"date": prices["date"], "region": prices["region"], "source": prices["source"]},
    }


# -- the doc table ---------------------------------------------------------------------------------------

SERVICE_NAMES = {"apigateway_websocket": "API Gateway WebSocket", "lambda": "Lambda", "dynamodb": "DynamoDB",
                 "stepfunctions": "Step Functions"}


PHASE_NAMES = {"connect": "visitor gets a token, connects, `hello` (the agent is online already)",
               "robot": "3 questions answered by the robot", "handoff": "`request_agent`: routed to the agent",
               "chat": "10 visitor + 10 agent messages, each ACKed", "close": "`resolve`: closed, survey sent",
               "survey": "the visitor answers the survey; both disconnect"}


def _usd(value: float) -> str:
    return f"${value:.7f}".rstrip("0").rstrip(".") if value else "$0"


def table(r: dict[str, Any]) -> str:
    u, ws, sfn, units = r["usage"], r["websocket"], r["stepfunctions"], r["dynamodb_units"]
    what = {
        "apigateway_websocket": f"{ws['frames_in']} frames in + {ws['frames_out']} out (each under 32 KB); "
                                f"{ws['connections']:g} connections x {ws['assumed_minutes']:g} min",
        "lambda": f"{u['lambda_requests']:g} invocations, {u['lambda_ms']:.0f} ms in all at "
                  f"{u['lambda_memory_mb']:g} MB on average (each function at its own memory, .chalice/config.json)",
        "dynamodb": f"{units.get('write', 0):g} write units ({units.get('index_write', 0):g} of them index), "
                    f"{units.get('read', 0):g} read units",
        "stepfunctions": f"delivery (Express): {sfn['executions']} executions, {sfn['billed_ms'] / 1000:g} s billed at "
                         f"{u['express_memory_mb']:g} MB ({sfn['transitions']} transitions, not billed on Express); "
                         f"session lifecycle (Standard): {sfn.get('standard_executions', 0)} execution, "
                         f"{sfn.get('standard_transitions', 0)} billed transitions",
    }
    conv = r["conversation"]
    path = r["message_path"]
    rows = [
        "| service | what the conversation uses | USD | share |",
        "|---|---|---|---|",
        *[f"| {SERVICE_NAMES[k]} | {what[k]} | {_usd(v)} | {r['breakdown_share'][k]:.0%} |"
          for k, v in sorted(r["breakdown_usd"].items(), key=lambda kv: -kv[1])],
        f"| **total, per conversation** | {r['calls_total']} AWS calls | **{_usd(r['usd_per_conversation'])}** | |",
        f"| per million chat messages | {conv['chat_messages']} chat messages per conversation | "
        f"{_usd(r['usd_per_million_messages'])} | |",
        f"| Amazon Connect chat | {conv['chat_messages']} messages x $0.01 | "
        f"{_usd(r['connect_usd_per_conversation'])} | |",
        "",
        f"Goal: at most {_usd(r['goal']['usd_per_conversation_max'])} per conversation: "
        f"**{'met' if r['goal']['usd_met'] else 'not met'}**. Message path, AWS calls before the post to the "
        f"recipient (one agent message, from the call trace): **{path['count']}** in sequence "
        f"({', '.join(f'`{op}`' for op in path['sequential'])}), "
        f"{', '.join(f'`{op}`' for op in path['parallel']) or 'nothing'} in parallel; goal at most "
        f"{r['goal']['sequential_calls_max']}: **{'met' if r['goal']['sequential_met'] else 'not met'}**.",
        "",
        f"The SOP assistant's suggestions for the {conv['visitor_messages']} visitor texts rode in the agent's "
        f"message frame {r['suggestions']['in_message']} times and came in a frame of their own "
        f"{r['suggestions']['own_frame']} times (not ready with the message).",
        "",
        "By phase (the delivery executions' reads after their ACK wait fall in the next one):",
        "",
        "| phase | AWS calls | write units | read units | WebSocket frames | delivery executions |",
        "|---|---|---|---|---|---|",
        *[f"| {PHASE_NAMES.get(k, k)} | {v['aws_calls']} | {v['write_units']:g} | {v['read_units']:g} | "
          f"{v['frames']} | {v['executions']} |" for k, v in r["phases"].items()],
        "",
        "AWS calls in the conversation, by operation:",
        "",
        "| call | count |",
        "|---|---|",
        *[f"| `{k}` | {v} |" for k, v in r["calls"].items()],
        "",
        "Lambda invocations by route (measured handler time on the local stack):",
        "",
        "| route | invocations | ms in all |",
        "|---|---|---|",
        *[f"| `{k}` | {v['invocations']} | {v['ms']} |" for k, v in r["lambda_by_route"].items()],
        "",
        f"Not per conversation: the agent's sign-in and sign-out (once a shift) made {r['agent_shift']['aws_calls']} "
        f"AWS calls, {r['agent_shift']['write_units']:g} write and {r['agent_shift']['read_units']:g} read units "
        f"({_usd(r['agent_shift']['usd_dynamodb'])} of DynamoDB). The agent's connection is counted at "
        f"1/{AGENT_CAPACITY} per conversation: it serves {AGENT_CAPACITY} chats at once.",
        "",
        f"{'Missing: ' + '; '.join(r['missing']) + '. ' if r['missing'] else ''}Prices: {r['prices']['region']}, "
        f"{r['prices']['date']} (`bench/prices.json`). Scripted run: {conv['run_seconds']} s, robot answered "
        f"{conv['robot_answered']} of {conv['robot_turns']} questions ({r['date']}, {r['machine']['cpus']} CPUs).",
    ]
    return "\n".join(rows)


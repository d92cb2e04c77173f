"""A visitor reads the server in its own language, over real sockets against the local stack: a Chinese visitor's
greeting, the robot's reply, a refusal and the closed-hours offer (with its date and time on the schedule's clock)
are Chinese, an English visitor's the same texts in English; codes and fields stay as they are."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import pytest

from local.harness import Peer, Stack, connect, run_client, run_stack
from local.stack import DEMO_SUGGESTED_QUESTIONS, DEMO_SUGGESTED_QUESTIONS_ZH

pytestmark = pytest.mark.e2e

SHANGHAI = ZoneInfo("Asia/Shanghai")
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
# Open only two days from now, so every request is refused with the hours and a date to open again.
OPENS = (datetime.now(SHANGHAI) + timedelta(days=2)).date()


def closed_until_the_day_after_tomorrow(documents: dict[str, Any]) -> None:
    documents["hours"]["schedules"]["rare"] = {
        "weekly": {DAYS[OPENS.weekday()]: [["08:00", "09:00"]]},
        "closed_message": {"en": "Our agents are at the trade fair.", "zh-CN": "客服外出参展中。"}}
    for group in documents["groups"]["groups"]:
        group["hours"] = "rare"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    state: Path = tmp_path_factory.mktemp("state")
    with run_stack(state, config_edit=closed_until_the_day_after_tomorrow) as running:
        yield running


async def visitor(http: aiohttp.ClientSession, stack: Stack, language: str) -> tuple[Peer, dict[str, Any]]:
    async with http.post(f"{stack.base}/api/visitors/token",
                         json={"channel": "app", "name": "Wang", "language": language}) as r:
        peer = await connect(http, stack, (await r.json())["token"])
    return peer, await peer.request({"action": "hello"}, "welcome")


async def robot_reply(peer: Peer, session_id: str, text: str) -> dict[str, Any]:
    await peer.text(session_id, text)
    await peer.wait_for(lambda p: any(f["message"]["sender_role"] == "robot" for f in p.by_event["message"]))
    return next(f["message"]["content"] for f in peer.by_event["message"] if f["message"]["sender_role"] == "robot")


def test_a_chinese_visitor_reads_chinese_and_an_english_one_english(stack: Stack) -> None:
    async def scenario(http: aiohttp.ClientSession) -> None:
        wang, welcome = await visitor(http, stack, "zh-Hans-CN")
        assert welcome["robot"]["greeting"].startswith("您好！我是本店的智能助手")
        questions = welcome["robot"]["suggested_questions"]
        assert [q["faq_id"] for q in questions] == list(DEMO_SUGGESTED_QUESTIONS_ZH)  # the demo's Chinese FAQs
        assert questions[0]["question"] == "下单后多久发货？"
        assert (await robot_reply(wang, welcome["session"]["session_id"], "在吗"))["text"] == (
            welcome["robot"]["greeting"])
        refused = await wang.request({"action": "end_session", "session_id": "s_00000000000000000000"}, "error")
        assert (refused["code"], refused["message"]) == ("not_found", "未找到该会话。")
        offer = await wang.request({"action": "request_agent"}, "leave_message_offered")
        zh_day = f"{OPENS.month}月{OPENS.day}日"
        assert offer["reason"] == "closed"
        assert offer["message"].startswith("客服外出参展中。现在是非服务时间。今日暂停服务。我们将于" + zh_day), offer
        assert offer["message"].endswith(" 08:00 恢复服务（Asia/Shanghai）。"), offer
        assert offer["hours"]["next_open"].startswith(OPENS.isoformat() + "T08:00:00+08:00")

        vera, welcome = await visitor(http, stack, "en-GB")
        assert welcome["robot"]["greeting"].startswith("Hi! I'm the shop's assistant.")
        assert [q["faq_id"] for q in welcome["robot"]["suggested_questions"]] == list(DEMO_SUGGESTED_QUESTIONS)
        refused = await vera.request({"action": "end_session", "session_id": "s_00000000000000000000"}, "error")
        assert refused["code"] == "not_found" and refused["message"].isascii()
        offer = await vera.request({"action": "request_agent"}, "leave_message_offered")
        assert offer["message"].startswith("Our agents are at the trade fair. We are closed now. No service today. "
                                           "We open again on "), offer
        assert offer["message"].endswith(" at 08:00 (Asia/Shanghai)."), offer
        for peer in (wang, vera):
            await peer.close()

    run_client(scenario)

"""What the server says to a visitor, in the visitor's language: queue offers, the closed hours with their dates
and times, transfer notices, idle warnings and the survey (zh-CN for any Chinese tag, English otherwise), and the
shop's own texts per language. Staff read English: the platform knows no staff member's language."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from chalicelib.auth.identity import Identity
from chalicelib.channel.errors import ImError
from chalicelib.config.model import QueuePolicy, Schedule, SessionPolicy, Span, SurveyPolicy
from chalicelib.sessions import models as sm
from tests.conftest import RecordingSender, RecordingTimer, group, routing_config
from tests.functional.routing.test_service import Clock, World, use
from tests.functional.sessions.test_lifecycle import say, state_of, wake

POLICY = SessionPolicy(idle_warn_seconds=60, idle_close_seconds=30, reconnect_grace_seconds=20,
                       agent_grace_seconds=40)
CHINESE = ("zh-CN", "zh", "zh-Hans-CN")


@pytest.fixture
def world(aws: None, sender: RecordingSender, timer: RecordingTimer) -> World:
    return World(sender, timer, Clock(), [routing_config(default_capacity=1, sessions=POLICY)])


def served(world: World, language: str | None, n: int = 1) -> tuple[Identity, Identity, str]:
    """alice online and serving a visitor of ``language``."""
    alice = world.agent("alice")
    visitor = world.visitor(n, language=language)
    session = world.ask(visitor)
    assert session.status == sm.ACTIVE
    return visitor, alice, session.session_id


@pytest.mark.parametrize("language", CHINESE)
def test_nobody_online_is_offered_in_chinese(world: World, language: str) -> None:
    world.ask(world.visitor(1, language=language))
    assert world.last("v_1", "leave_message_offered")["message"] == (
        "目前没有客服在线。您可以留言，我们会尽快回复您；也可以继续排队等候。")


@pytest.mark.parametrize("language", ["en-US", "en", "fr-FR", None])
def test_nobody_online_is_offered_in_english_to_everyone_else(world: World, language: str | None) -> None:
    world.ask(world.visitor(1, language=language))
    assert world.last("v_1", "leave_message_offered")["message"] == (
        "No one is online to help right now. Leave a message and we will get back to you, or keep your place in "
        "the queue.")


def test_leaving_the_queue_and_an_overflow_are_offered_in_each_visitors_language(world: World) -> None:
    queue = QueuePolicy(max_waiting=2, timeout_seconds=900, priority_tiers=frozenset())
    use(world, routing_config([group("general", ["alice"], queue=queue)], default_capacity=1))
    served(world, "en", n=0)
    chinese, english = world.visitor(1, language="zh-CN"), world.visitor(2, language="en-GB")
    assert world.ask(chinese).status == sm.WAITING and world.ask(english).status == sm.WAITING
    world.ask(world.visitor(3, language="zh-TW"))  # a third arrival finds the queue full
    assert world.last("v_3", "leave_message_offered")["message"] == "客服人员正忙，请留言，我们会尽快回复您。"
    world.svc.routing.leave_queue(chinese)
    world.svc.routing.leave_queue(english)
    assert world.last("v_1", "leave_message_offered")["message"] == "您已退出排队。请留言，我们会尽快回复您。"
    assert world.last("v_2", "leave_message_offered")["message"] == (
        "You have left the queue. Leave a message and we will get back to you.")


def test_a_long_wait_is_offered_in_the_visitors_language(world: World) -> None:
    queue = QueuePolicy(max_waiting=10, timeout_seconds=60, priority_tiers=frozenset())
    use(world, routing_config([group("general", ["alice"], queue=queue)], default_capacity=1))
    served(world, "en", n=0)
    world.ask(world.visitor(1, language="zh-CN"))
    world.ask(world.visitor(2, language="en"))
    world.clock.tick(61)
    world.svc.routing.tick()
    assert world.last("v_1", "leave_message_offered")["message"] == "抱歉让您久等了。您可以继续排队，也可以留言。"
    assert world.last("v_2", "leave_message_offered")["message"] == (
        "Sorry for the wait. You can keep your place or leave a message instead.")


CLOSING = Schedule("standard", "Asia/Shanghai", ((Span(480, 1200),),) * 7,  # 08:00-20:00
                   closed_message={"en": "We are on a break.", "zh-CN": "客服休息中。"})


CLOSED_ZH = ("客服休息中。现在是非服务时间。今日服务时间：08:00-20:00（Asia/Shanghai）。"
             "我们将于9月23日（周三） 08:00 恢复服务。")


@pytest.mark.parametrize(("language", "expected"), [
    ("zh-CN", CLOSED_ZH),
    ("zh-Hans-CN", CLOSED_ZH),
    ("en-US", "We are on a break. We are closed now. Today's hours: 08:00-20:00 (Asia/Shanghai). We open again on "
              "Wed 23 Sep at 08:00."),
])
def test_closed_hours_in_the_visitors_language_on_the_schedules_clock(world: World, language: str,
                                                                      expected: str) -> None:
    use(world, routing_config([group("general", ["alice"], schedule="standard")],
                              schedules={"standard": CLOSING}))
    world.agent("alice")
    world.clock.now = datetime(2026, 9, 22, 13, 30, tzinfo=UTC).timestamp()  # Tuesday 21:30 in Shanghai
    world.ask(world.visitor(1, language=language))
    offer = world.last("v_1", "leave_message_offered")
    assert (offer["reason"], offer["message"]) == ("closed", expected)
    assert offer["hours"]["next_open"] == "2026-09-23T08:00:00+08:00"  # the machine-readable part never changes


def test_closed_later_today_reads_today(world: World) -> None:
    use(world, routing_config([group("general", ["alice"], schedule="standard")],
                              schedules={"standard": Schedule("standard", "Asia/Shanghai", ((Span(480, 1440),),) * 7)}))
    world.clock.now = datetime(2026, 9, 22, 23, 30, tzinfo=UTC).timestamp()  # 07:30 in Shanghai
    world.ask(world.visitor(1, language="zh-CN"))
    assert world.last("v_1", "leave_message_offered")["message"] == (
        "现在是非服务时间。今日服务时间：08:00-24:00（Asia/Shanghai）。我们将于今天 08:00 恢复服务。")


def test_a_transfer_notice_in_the_visitors_language_and_the_note_as_the_agent_wrote_it(world: World) -> None:
    use(world, routing_config([group("general", ["alice", "bob"]), group("vip", ["carol"])], default_capacity=2))
    visitor, alice, session_id = served(world, "zh-CN")
    world.agent("bob")
    world.svc.routing.transfer(alice, session_id, "VIP, order 1234", to_group="vip")
    told = world.last(visitor.user_id, "session")
    assert told["notice"] == "正在为您转接Vip，您将优先于新来访的顾客接入。"


def test_an_agent_gone_notice_for_the_visitor_and_the_english_note_for_the_next_agent(world: World) -> None:
    visitor, alice, session_id = served(world, "zh")
    world.svc.presence.disconnect(f"c-{alice.user_id}")  # alice's console is gone, past its grace period
    assert wake(world, state_of(world, session_id))["done"] is True
    assert world.last(visitor.user_id, "session")["notice"] == "您的客服已断开连接。您将优先接入下一位客服。"
    world.agent("bob")
    assert world.last("bob", "session")["session"]["transfer"]["note"] == "The previous agent was disconnected."


def test_the_idle_warning_reaches_each_side_in_its_language(world: World) -> None:
    visitor, alice, session_id = served(world, "zh-CN")
    say(world, alice, session_id, "请问您的订单号是多少？")
    wake(world, {**state_of(world, session_id), "wait_seconds": 60})
    assert world.last(visitor.user_id, "idle_warning")["message"] == "您还在吗？如果一直没有回复，本次会话将很快结束。"
    assert world.last("alice", "idle_warning")["message"] == (
        "Are you still there? This chat will close soon if we don't hear from you.")
    assert world.last("alice", "idle_warning")["closes_at"] == world.last(visitor.user_id, "idle_warning")["closes_at"]


def test_the_survey_ships_in_both_languages(world: World) -> None:
    chinese, alice, chinese_session = served(world, "zh-CN", n=1)
    use(world, routing_config(default_capacity=2, sessions=POLICY))
    english = world.visitor(2, language="en-US")
    english_session = world.ask(english).session_id
    world.svc.sessions.resolve(alice, chinese_session)
    world.svc.sessions.resolve(alice, english_session)
    zh, en = world.last("v_1", "survey"), world.last("v_2", "survey")
    assert (zh["question"], zh["tags"]) == ("您对本次服务满意吗？",
                                            ["响应快", "态度好", "解决了问题", "响应慢", "回答不清楚", "问题未解决"])
    assert (en["question"], en["tags"]) == ("How satisfied are you with this chat?",
                                            ["quick", "friendly", "solved my problem", "slow", "unclear", "not solved"])
    assert world.svc.survey.rate(chinese, chinese_session, 5, ["响应快"], None)["tags"] == ["响应快"]


def test_the_shops_survey_per_language_or_one_text_for_all(world: World) -> None:
    survey = SurveyPolicy(question={"en": "How did we do?", "zh-CN": "您对我们的服务满意吗？"},
                          tags=({"en": "fast", "zh-CN": "很快"}, "OK", {"en": "rude"}))
    use(world, routing_config(default_capacity=2, sessions=SessionPolicy(survey=survey)))
    chinese, alice, chinese_session = served(world, "zh-CN", n=1)
    english = world.visitor(2, language="en")
    english_session = world.ask(english).session_id
    world.svc.sessions.resolve(alice, chinese_session)
    world.svc.sessions.resolve(alice, english_session)
    zh, en = world.last("v_1", "survey"), world.last("v_2", "survey")
    assert (zh["question"], zh["tags"]) == ("您对我们的服务满意吗？", ["很快", "OK", "rude"])  # no Chinese: English
    assert (en["question"], en["tags"]) == ("How did we do?", ["fast", "OK", "rude"])
    with pytest.raises(ImError) as refused:
        world.svc.survey.rate(chinese, chinese_session, 4, ["快"], None)
    assert (refused.value.code, refused.value.field) == ("invalid_frame", "tags")
    assert "很快, OK, rude" in refused.value.message  # the choices as this visitor was shown them
    # A tag in another of its languages is still that tag.
    assert world.svc.survey.rate(chinese, chinese_session, 4, ["很快", "fast"], None)["tags"] == ["很快", "fast"]

"""The admin configuration, parsed: what routing, queueing and service hours read.

Built only by ``chalicelib.config.documents`` from validated documents (SSM parameters on AWS,
``config/*.json`` locally), so every value here is already known to be consistent: every group a
rule or an overflow names exists, every schedule a group names exists, capacities are in range.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from chalicelib.i18n import EN, LocalText, every_language, pick, shipped

LEAST_LOADED = "least_loaded"
ROUND_ROBIN = "round_robin"
ALLOCATIONS = (LEAST_LOADED, ROUND_ROBIN)
MATCH_FIELDS = ("channel", "source", "category", "tier", "language")


@dataclass(frozen=True)
class Span:
    """Opening hours within one day, in minutes from that day's midnight (local time).

    ``end`` may pass 1440: a span past midnight belongs to the day it starts (20:00 to 02:00 is
    ``Span(1200, 1560)``); "24:00" is 1440. Always ``0 <= start < end <= start + 1440``.
    """

    start: int
    end: int


@dataclass(frozen=True)
class SpecialPeriod:
    """Dates (inclusive) with their own hours, overriding the weekly ones (11.11, 618...)."""

    name: str
    first: date
    last: date
    spans: tuple[Span, ...]  # empty: closed for the whole period


@dataclass(frozen=True)
class Schedule:
    name: str
    time_zone: str  # IANA name, e.g. "Asia/Shanghai"
    weekly: tuple[tuple[Span, ...], ...]  # 7 entries, Monday first; an empty entry is a closed weekday
    special: tuple[SpecialPeriod, ...] = ()
    closed: frozenset[date] = frozenset()  # no service on these dates (their past-midnight spans included)
    closed_message: LocalText = ""  # per language, or one text for all (chalicelib/i18n)


@dataclass(frozen=True)
class Member:
    agent_id: str
    priority: int = 1  # 1 is served first; an agent of priority 2 only gets work when all of priority 1 are full


@dataclass(frozen=True)
class QueuePolicy:
    max_waiting: int  # hard limit: an arrival that finds this many waiting overflows
    timeout_seconds: int  # a visitor waiting this long is offered leave-a-message
    priority_tiers: frozenset[str]  # customer tiers served first (e.g. {"vip"})


@dataclass(frozen=True)
class OverflowPolicy:
    """New arrivals spill over when any trigger holds (a trigger left None is off)."""

    waiting_at_least: int | None = None
    waiting_per_online_slot: float | None = None  # waiting / (sum of online agents' capacity)
    longest_wait_seconds: int | None = None
    to: tuple[str, ...] = ()  # backup groups, tried in order; none left: leave-a-message
    notify: bool = True  # tell supervisors (dashboard push, SNS on AWS)


@dataclass(frozen=True)
class WrapupReason:
    """Why a session was resolved: a stable ``code`` (stored on the session, counted by reports) and what staff read
    in each language (``en``, ``zh-CN``)."""

    code: str
    label: Mapping[str, str]


@dataclass(frozen=True)
class WrapupPolicy:
    """The reasons an agent picks from when resolving a session of the group; ``required``: resolve is refused
    without one. No reasons: nothing is asked."""

    required: bool = False
    reasons: tuple[WrapupReason, ...] = ()

    def reason(self, code: str) -> WrapupReason | None:
        return next((r for r in self.reasons if r.code == code), None)


@dataclass(frozen=True)
class Group:
    group_id: str
    name: LocalText  # one text for every language, or {"en": ..., "zh-CN": ...}: use label() or names()
    schedule: str  # a key of RoutingConfig.schedules
    allocation: str  # LEAST_LOADED or ROUND_ROBIN
    sticky: bool  # try the visitor's last agent first (only if online, not busy, with a free slot)
    members: tuple[Member, ...]
    queue: QueuePolicy
    overflow: OverflowPolicy | None = None
    avg_handle_seconds: int = 300  # for the wait estimate until measured figures exist
    wrapup: WrapupPolicy = field(default_factory=WrapupPolicy)

    def label(self, language: str | None = EN) -> str:
        """The group's name in ``language`` (English by default: what a plain ``name`` in the APIs carries)."""
        return pick(self.name, language)

    def names(self) -> dict[str, str]:
        """The group's name in every language, ``{"en": ..., "zh-CN": ...}``, as the APIs send it."""
        return every_language(self.name)

    def ref(self) -> dict[str, Any]:
        """The group as the APIs and frames name it: ``id``, ``name`` (as :meth:`label` gives it, what it always
        meant) and ``names`` (every language, for the page to pick its own)."""
        return {"id": self.group_id, "name": self.label(), "names": self.names()}


@dataclass(frozen=True)
class Rule:
    """Matches when every condition given holds; a condition is any of its values.

    ``source`` values are shell-style patterns (``/product/*``); ``language`` values match a
    visitor language exactly or as its primary subtag (``zh`` matches ``zh-CN``).
    """

    name: str
    group: str
    channel: frozenset[str] | None = None
    source: tuple[str, ...] | None = None
    category: frozenset[str] | None = None
    tier: frozenset[str] | None = None
    language: frozenset[str] | None = None


# The survey's tags when the configuration names none, in every language (the catalogues' texts).
SURVEY_TAGS: tuple[LocalText, ...] = tuple(
    shipped(f"survey.tag.{key}") for key in ("quick", "friendly", "solved", "slow", "unclear", "not_solved"))


@dataclass(frozen=True)
class SurveyPolicy:
    robot_sessions: bool = False  # also survey sessions only the robot served
    answer_within_seconds: int = 86400  # an answer after this long past the close is refused
    tags: tuple[LocalText, ...] = field(default_factory=lambda: SURVEY_TAGS)
    question: LocalText = field(default_factory=lambda: shipped("survey.question"))


@dataclass(frozen=True)
class SessionPolicy:
    """How sessions end: the visitor is warned ``idle_warn_seconds`` after the agent's last unanswered
    message and the session closes ``idle_close_seconds`` after that; a dropped visitor shows as
    reconnecting for ``reconnect_grace_seconds``, then as offline (the session goes on); a session whose agent has
    had no connection for ``agent_grace_seconds`` goes back to its group's queue, ahead of new arrivals (0: never)."""

    idle_warn_seconds: int = 180
    idle_close_seconds: int = 120
    reconnect_grace_seconds: int = 60
    agent_grace_seconds: int = 120
    survey: SurveyPolicy = field(default_factory=SurveyPolicy)


@dataclass(frozen=True)
class RoutingConfig:
    groups: dict[str, Group]
    rules: tuple[Rule, ...]
    default_group: str
    schedules: dict[str, Schedule]
    default_capacity: int = 5
    max_capacity: int = 20  # the most an agent may raise its own capacity to
    agent_capacity: dict[str, int] = field(default_factory=dict)  # per-agent capacity where not the default
    sessions: SessionPolicy = field(default_factory=SessionPolicy)

    def capacity_of(self, agent_id: str) -> int:
        return self.agent_capacity.get(agent_id, self.default_capacity)

    def groups_of(self, agent_id: str) -> list[tuple[Group, int]]:
        """The groups ``agent_id`` serves, each with its priority there."""
        return [(g, m.priority) for g in self.groups.values() for m in g.members if m.agent_id == agent_id]

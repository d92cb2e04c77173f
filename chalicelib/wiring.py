"""Builds the services once per Lambda container (lazily: moto must be running before any client)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from chalicelib.channel.presence import PresenceService
from chalicelib.commerce.api import robot_commerce
from chalicelib.config.model import RoutingConfig
from chalicelib.conversations.search.base import ConversationIndex
from chalicelib.conversations.service import ConversationService
from chalicelib.faq.jobs import ReindexJobs
from chalicelib.faq.kb import KnowledgeBase, default_knowledge_base
from chalicelib.faq.orders import OrderDesk
from chalicelib.faq.robot import RobotService
from chalicelib.im.delivery import DeliveryTimer, StepFunctionsTimer
from chalicelib.im.ratelimit import RateLimiter
from chalicelib.im.service import ImService
from chalicelib.learning.service import LearningLog
from chalicelib.media.uploads import MediaStore
from chalicelib.platform.clock import SYSTEM_CLOCK, Clock
from chalicelib.platform.hooks import Late
from chalicelib.platform.invoke import Invoker, LambdaInvoker
from chalicelib.platform.ws import Sender, WebSocketSender
from chalicelib.replies.service import ReplyService
from chalicelib.reports.aggregator import ReportAggregator
from chalicelib.reports.service import ReportService
from chalicelib.reports.store import ReportStore
from chalicelib.routing.agents import AgentBook
from chalicelib.routing.dashboard import Dashboard
from chalicelib.routing.service import RoutingService
from chalicelib.sessions.lifecycle import LifecycleService
from chalicelib.sessions.service import SessionService
from chalicelib.sessions.stream import SessionStream
from chalicelib.sessions.survey import SurveyService
from chalicelib.settings import get_settings
from chalicelib.tickets.service import TicketService


@dataclass(frozen=True)
class Services:
    presence: PresenceService
    im: ImService
    sessions: SessionService
    agents: AgentBook
    routing: RoutingService
    dashboard: Dashboard
    config: Callable[[], RoutingConfig]
    kb: KnowledgeBase
    reindex: ReindexJobs
    robot: RobotService
    learning: LearningLog
    lifecycle: LifecycleService
    survey: SurveyService
    tickets: TicketService
    limiter: RateLimiter
    media: MediaStore
    replies: ReplyService
    conversations: ConversationService
    reports: ReportService
    # The sessions table's stream and its consumers (chalicelib/sessions/stream.py): the reports' aggregator is
    # registered as "reports", conversation search's indexer as "search", in build().
    session_stream: SessionStream
    clock: Clock  # what the services read the time from; the edge's own stamps (pong) too


def _stored_config() -> RoutingConfig:
    from chalicelib.config.store import config_store

    return config_store().current()


def build(sender: Sender, timer: DeliveryTimer, config: Callable[[], RoutingConfig] | None = None,
          clock: Clock = SYSTEM_CLOCK, publisher: Callable[[str, str], None] | None = None,
          kb: KnowledgeBase | None = None, invoker: Invoker | None = None,
          conversations: ConversationIndex | None = None) -> Services:
    """The services over ``sender`` and ``timer``, all on one ``clock``; ``config`` defaults to the SSM documents,
    ``kb`` to the process's knowledge base, ``conversations`` to the process's conversation index and ``invoker``
    (what starts the reindex job's function) to the process's. Sessions' timers are due times that only the clock's
    sweep acts on (``lifecycle.sweep``): tests of other parts never sweep.

    Two pairs call each other: presence tells the lifecycle (built over it) of a user gone, and the sessions
    service asks routing (built over it) to move an agent's slot or a queue entry with a session; each gets a
    late-bound hook, bound here before anything runs."""
    config = config or _stored_config
    lifecycle_hook: Late[LifecycleService] = Late("lifecycle")
    routing_hook: Late[RoutingService] = Late("routing")
    presence = PresenceService(sender, departures=lifecycle_hook, clock=clock)
    sessions = SessionService(presence, config, placement=routing_hook, clock=clock)
    agents = AgentBook(config, clock=clock)
    dashboard = Dashboard(presence, config, clock=clock, publisher=publisher)
    tickets = TicketService(sessions, config, clock=clock)
    routing = routing_hook.bind(RoutingService(presence, sessions, agents, config, dashboard, tickets, clock=clock))
    lifecycle = lifecycle_hook.bind(LifecycleService(presence, sessions, routing, config, clock=clock))
    knowledge = kb or knowledge_base()
    # The SOP assistant's suggestions ride with a visitor's message to its agent; the robot sends through IM.
    robot_hook: Late[RobotService] = Late("robot")
    learning = LearningLog(clock)
    limiter = RateLimiter()
    im = ImService(presence, timer, sessions, companion=lambda session, msg: robot_hook().for_agent(session, msg),
                   clock=clock)
    robot = robot_hook.bind(RobotService(presence, im, sessions, knowledge.matcher, knowledge.robot_settings,
                                         knowledge.lookup, routing.request_agent,
                                         get_settings().suggestion_min_score,
                                         orders=OrderDesk(robot_commerce, limiter.quota), learning=learning))
    reindex = ReindexJobs(knowledge, invoker or background_invoker(), get_settings().faq_reindex_function, clock)
    report_store = ReportStore()
    session_stream = SessionStream()
    session_stream.register("reports", ReportAggregator(report_store))
    conversation_service = ConversationService(conversations or conversation_index(), config)
    session_stream.register("search", conversation_service.consume)
    return Services(presence=presence, im=im, sessions=sessions, agents=agents, routing=routing,
                    dashboard=dashboard, config=config, kb=knowledge, reindex=reindex, robot=robot,
                    learning=learning,
                    lifecycle=lifecycle,
                    survey=SurveyService(sessions, routing, config, clock=clock), tickets=tickets,
                    limiter=limiter, media=MediaStore(),
                    replies=ReplyService(config, clock=clock), conversations=conversation_service,
                    reports=ReportService(report_store, config), session_stream=session_stream, clock=clock)


_kb: KnowledgeBase | None = None
_kb_lock = threading.Lock()


def knowledge_base() -> KnowledgeBase:
    """The process's knowledge base: DynamoDB behind, the configured search backend in front."""
    global _kb
    with _kb_lock:  # not _lock: services() holds that one while it builds
        if _kb is None:
            _kb = default_knowledge_base()
        return _kb


def use_knowledge_base(kb: KnowledgeBase | None) -> None:
    """Make ``kb`` the process's knowledge base (the local stack's, with its vector cache); None forgets it."""
    global _kb
    with _kb_lock:
        _kb = kb


_conversations: ConversationIndex | None = None


def conversation_index() -> ConversationIndex:
    """The process's conversation index (in memory when embedded: every service built here shares it)."""
    global _conversations
    with _kb_lock:
        if _conversations is None:
            from chalicelib.conversations.service import conversation_index as configured

            _conversations = configured()
        return _conversations


_invoker: Invoker | None = None


def background_invoker() -> Invoker:
    """What starts the app's background functions (the FAQ reindex job): Lambda's asynchronous invoke, unless
    the local stack set its own."""
    return _invoker or LambdaInvoker()


def use_invoker(invoker: Invoker | None) -> None:
    """Start background functions with ``invoker`` (the local stack's threads); None goes back to Lambda's."""
    global _invoker
    _invoker = invoker
    override(None)


_lock = threading.Lock()
_services: Services | None = None


def services() -> Services:
    global _services
    with _lock:
        if _services is None:
            _services = build(WebSocketSender(), StepFunctionsTimer())
        return _services


def override(replacement: Services | None) -> None:
    """Use ``replacement`` (tests: recording fakes); None goes back to building the real ones."""
    global _services
    with _lock:
        _services = replacement


def forget_settings() -> None:
    """Forget what the process built from its settings (the settings, the local identity provider, the AWS
    clients, the services), so the next use reads the environment again: around each test, and in a local
    stack forked from a prepared one (local/zygote.py)."""
    from chalicelib.auth.devidp import dev_idp
    from chalicelib.platform import aws
    from chalicelib.settings import get_settings

    global _conversations
    get_settings.cache_clear()
    dev_idp.cache_clear()
    _conversations = None  # the backend follows SEARCH_BACKEND, and a test starts with an empty one
    aws.reset_clients()
    override(None)

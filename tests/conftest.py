"""Shared fixtures. The environment is set here, before any chalicelib import, because pynamodb reads
table names when models are defined."""

from __future__ import annotations

import atexit
import copy
import os
import shutil
import struct
import tempfile
import zlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import pytest
from hypothesis import settings as hypothesis_settings

from local import moto_speed, streams
from local.harness import in_process_environment

_STATE_DIR = tempfile.mkdtemp(prefix="cs-test-")
atexit.register(shutil.rmtree, _STATE_DIR, ignore_errors=True)
os.environ.update(
    in_process_environment("cs-test", "test", _STATE_DIR),
    DELIVERY_STATE_MACHINE_ARN="arn:aws:states:us-east-1:123456789012:stateMachine:unused",
)

import chalicelib.platform.aws  # noqa: E402, F401  (before any model: pynamodb then takes its sessions from it)
from chalicelib.faq.embed import Vector, normalise  # noqa: E402
from chalicelib.platform.ws import PostResult  # noqa: E402
from chalicelib.settings import get_settings  # noqa: E402
from tests.contracts import check_event  # noqa: E402

moto_speed.install()  # moto's DynamoDB answers, byte for byte, without its slow generic walk
streams.install_filter()  # moto's sessions stream holds only what the deployed mapping's filter passes

MOTO_CONFIG: Any = {"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}}

# Generated-input tests run a third of their full example counts by default (`make test` on every change);
# HYPOTHESIS_PROFILE=thorough runs them all (before a release, or after a change to validation). Every run is
# derandomized: the same inputs on every machine.
_FULL = 900
hypothesis_settings.register_profile("ci", max_examples=_FULL // 3)
hypothesis_settings.register_profile("thorough", max_examples=_FULL)
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def examples(full: int) -> int:
    """``full`` under the thorough profile, the loaded profile's share of it otherwise."""
    return max(1, full * hypothesis_settings.default.max_examples // _FULL)

# Files that take longest, sent to the workers first (`make test` runs `-n` workers, `--dist loadgroup`,
# `--no-loadscope-reorder`): a long file started last would keep one worker busy after the others are done.
LONGEST_FIRST = (
    "tests/e2e/routing/test_burst.py",
    "tests/e2e/test_schemathesis.py",
    "tests/functional/im/test_faults.py",
    "tests/functional/im/test_frames_property.py",
    "tests/e2e/web/test_console_browser.py",
    "tests/e2e/web/test_consoles_browser.py",
    "tests/e2e/im/test_im.py",
    "tests/functional/routing/test_service.py",
    "tests/e2e/web/test_pages_browser.py",
    "tests/e2e/web/test_a11y_browser.py",
)
_TIERS = ("tests/e2e/", "tests/functional/", "tests/unit/")
_SHARED_SCOPES = ("module", "package", "session")


def _file_of(item: pytest.Item) -> str:
    return item.nodeid.split("::", 1)[0]


def _shares_a_fixture(item: pytest.Item) -> bool:
    """Whether the test uses a fixture built once for many tests (a local stack, a browser, a package build):
    such tests stay together on one worker, or every worker would build the fixture again."""
    info = getattr(item, "_fixtureinfo", None)
    if info is None:
        return False
    return any(defs and defs[-1].scope in _SHARED_SCOPES and defs[-1].func.__module__.startswith("tests.")
               for defs in info.name2fixturedefs.values())


def _name_group(item: pytest.Item, group: str) -> None:
    """The ``@group`` suffix by which pytest-xdist's controller keeps a group on one worker. pytest-xdist 3.8
    writes it to ``item._nodeid``, which pytest 9 no longer reads (the id is ``item._id``): without this every
    e2e file was split across the workers, each building the file's stack and browser again."""
    from _pytest.nodeid import NodeId

    if not item.nodeid.endswith(f"@{group}"):
        item._id = NodeId.parse(f"{item.nodeid}@{group}")  # type: ignore[attr-defined]
    assert item.nodeid.endswith(f"@{group}"), item.nodeid


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist reads the xdist_group marks
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """End-to-end files and files with shared fixtures run whole on one worker; every other test goes to
    whichever worker is free. The longest files go first, then by tier (end-to-end, functional, unit)."""
    grouping = getattr(config.option, "loadgroup", False)  # set in the workers of `--dist loadgroup`
    for item in items:
        if item.nodeid.startswith("tests/e2e/") or _shares_a_fixture(item):
            group = _file_of(item)
            item.add_marker(pytest.mark.xdist_group(group))
            if grouping:
                _name_group(item, group)
        if _file_of(item) in LONGEST_FIRST and item.get_closest_marker("timeout") is None:
            # The hang guard (300 s in pyproject.toml) with room for workers sharing two cores.
            item.add_marker(pytest.mark.timeout(600))

    def rank(item: pytest.Item) -> tuple[int, int]:
        path = _file_of(item)
        if path in LONGEST_FIRST:
            return 0, LONGEST_FIRST.index(path)
        return 1, next((i for i, tier in enumerate(_TIERS) if path.startswith(tier)), len(_TIERS))

    items.sort(key=rank)  # stable: a file's tests stay together and in their order


@pytest.fixture(autouse=True)
def _fresh_caches() -> Iterator[None]:
    from chalicelib.wiring import forget_settings

    forget_settings()
    yield
    forget_settings()


_EMPTY_TABLES: dict[str, Any] = {}  # moto's tables as first created, empty; each test gets a copy


@pytest.fixture
def aws() -> Iterator[None]:
    """moto in-process with every table of the product created from its model. Created once per worker;
    each test starts from a copy of moto's empty tables (3 ms, against 100 ms for 13 CreateTable calls)."""
    from moto import mock_aws
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.dynamodb.models import dynamodb_backends

    from chalicelib.tables import ALL_MODELS

    with mock_aws(config=MOTO_CONFIG):
        backend = dynamodb_backends[DEFAULT_ACCOUNT_ID][get_settings().region]
        if not _EMPTY_TABLES:
            for model in ALL_MODELS:
                model.create_table(wait=True)
            _EMPTY_TABLES.update(copy.deepcopy(backend.tables))
        else:
            backend.tables = copy.deepcopy(_EMPTY_TABLES)
        assert set(backend.tables) == {model.Meta.table_name for model in ALL_MODELS}
        yield


class RecordingSender:
    """Stands in for the @connections API: records each post; connections in ``gone`` answer 410. Every frame
    must be an event the protocol's models describe (tests/contracts.py), so a test that provokes one the
    models (and docs/protocol.md, checked against them) do not describe fails."""

    def __init__(self) -> None:
        self.posts: list[tuple[str, dict[str, Any]]] = []
        self.gone: set[str] = set()
        self.on_post: Callable[[str, dict[str, Any]], None] | None = None  # told of each recorded post

    def post(self, connection_id: str, frame: Mapping[str, Any]) -> PostResult:
        check_event(frame)
        if connection_id in self.gone:
            return PostResult.GONE
        self.posts.append((connection_id, dict(frame)))
        if self.on_post is not None:
            self.on_post(connection_id, dict(frame))
        return PostResult.OK

    def frames(self, connection_id: str, event: str | None = None) -> list[dict[str, Any]]:
        return [f for c, f in self.posts if c == connection_id and (event is None or f.get("event") == event)]


def count_aws_calls() -> Callable[[], int]:
    """From here on, every AWS call of this process is counted (clients built so far are built again, with
    the meter); returns a function giving the calls since its previous call."""
    from chalicelib.platform import aws, dynamo, metering
    from chalicelib.tables import ALL_MODELS

    metering.install()
    for model in ALL_MODELS:
        model._connection = None
    dynamo.connection.cache_clear()
    aws.reset_clients()
    metering.reset()

    def since() -> int:
        calls = sum(metering.snapshot().values())
        metering.reset()
        return calls

    return since


class RecordingTimer:
    def __init__(self) -> None:
        self.started: list[tuple[str, str, int]] = []

    def start(self, session_id: str, sk: str, seq: int) -> None:
        self.started.append((session_id, sk, seq))


@pytest.fixture
def sender() -> RecordingSender:
    return RecordingSender()


@pytest.fixture
def timer() -> RecordingTimer:
    return RecordingTimer()


def routing_config(groups: list[Any] | None = None, rules: tuple[Any, ...] = (), default_group: str = "general",
                   schedules: dict[str, Any] | None = None, **agents: Any) -> Any:
    """A RoutingConfig for tests: by default one always-open group ``general`` served by alice and bob."""
    from chalicelib.config.model import RoutingConfig
    from chalicelib.schedule.hours import always_open

    return RoutingConfig(
        groups={g.group_id: g for g in (groups or [group("general", ["alice", "bob"])])},
        rules=rules, default_group=default_group,
        schedules=schedules or {"always": always_open()},
        **agents,
    )


def group(group_id: str, members: list[Any], **kwargs: Any) -> Any:
    """A Group for tests; members are agent ids or (agent id, priority) pairs."""
    from chalicelib.config.model import LEAST_LOADED, Group, Member, QueuePolicy

    fields: dict[str, Any] = {
        "group_id": group_id, "name": group_id.capitalize(), "schedule": "always", "allocation": LEAST_LOADED,
        "sticky": False,
        "members": tuple(Member(m) if isinstance(m, str) else Member(m[0], m[1]) for m in members),
        "queue": QueuePolicy(max_waiting=1000, timeout_seconds=900, priority_tiers=frozenset({"vip"})),
    }
    fields.update(kwargs)
    return Group(**fields)


class WordsEmbedder:
    """An embedder for tests: a bag of hashed words, so texts sharing words get close vectors;
    deterministic and instant."""

    dim = 64

    def embed(self, texts: Sequence[str]) -> Vector:
        rows = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, text in enumerate(texts):
            for word in text.lower().split():
                rows[i, zlib.crc32(word.strip("?!.,").encode()) % self.dim] += 1.0
        return normalise(rows)


class CountingEmbedder(WordsEmbedder):
    """A :class:`WordsEmbedder` that records every text it was asked to embed."""

    def __init__(self) -> None:
        self.texts: list[str] = []

    def embed(self, texts: Sequence[str]) -> Vector:
        self.texts.extend(texts)
        return super().embed(texts)


def png(width: int = 2, height: int = 1) -> bytes:
    """A real PNG of red pixels, so a browser (or any image library) shows it at this size."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")

"""The configuration documents in SSM (moto): the store that reads them, the push CLI that writes
them, and the local stack's watcher of ``config/``."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError

from chalicelib.config.documents import DOCUMENTS, load_directory
from chalicelib.config.errors import ConfigError
from chalicelib.config.push import main, read_parameters
from chalicelib.config.store import ConfigStore, config_store
from chalicelib.platform import aws as aws_clients
from local.config_sync import ConfigWatcher, sync_directory
from tests.conftest import MOTO_CONFIG

ROOT = Path(__file__).resolve().parents[3]
CONFIG_DIR = ROOT / "config"
PATH = "/cs-test/config"  # settings.config_path under the test environment


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Calls:
    """Counts one SSM operation through a botocore event hook on the shared client."""

    def __init__(self, ssm: Any, operation: str) -> None:
        self.count = 0
        ssm.meta.events.register(f"before-call.ssm.{operation}", self._seen)

    def _seen(self, **_: Any) -> None:
        self.count += 1


@pytest.fixture
def ssm() -> Iterator[Any]:
    """moto's SSM alone (no tables): the SSM client every module here shares."""
    from moto import mock_aws

    with mock_aws(config=MOTO_CONFIG):
        yield aws_clients.client("ssm")


@pytest.fixture(autouse=True)
def _fresh_store() -> Iterator[None]:
    config_store.cache_clear()
    yield
    config_store.cache_clear()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    for name in DOCUMENTS:
        shutil.copy(CONFIG_DIR / f"{name}.json", tmp_path / f"{name}.json")
    return tmp_path


def _put(ssm: Any, name: str, doc: Any) -> None:
    text = doc if isinstance(doc, str) else json.dumps(doc)
    ssm.put_parameter(Name=f"{PATH}/{name}", Value=text, Type="String", Overwrite=True)


def _stored(ssm: Any) -> dict[str, Any]:
    return {name: json.loads(text) for name, text in read_parameters(ssm, PATH).items()}


def _edit(document: Mapping[str, Any], change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    edited: dict[str, Any] = json.loads(json.dumps(document))
    change(edited)
    return edited


def _rename_general(name: str) -> Callable[[dict[str, Any]], None]:
    def change(groups: dict[str, Any]) -> None:
        groups["groups"][0]["name"] = name
    return change


def _break_queue(groups: dict[str, Any]) -> None:
    groups["groups"][1]["queue"]["max_waiting"] = 0


DEFAULTS = load_directory(CONFIG_DIR)


# --- the store ---


def test_one_call_per_refresh_and_none_within_max_age(ssm: Any, clock: Clock) -> None:
    sync_directory(CONFIG_DIR, PATH)
    calls = Calls(ssm, "GetParametersByPath")
    store = ConfigStore(clock=clock, max_age=60)

    first = store.current()
    assert calls.count == 1
    assert first.groups["general"].label() == "General support"
    clock.now += 59
    assert store.current() is first
    assert calls.count == 1

    clock.now += 1
    assert store.current() is first  # read again, same text: not parsed again
    assert calls.count == 2


def test_an_edit_takes_effect_after_max_age(ssm: Any, clock: Clock) -> None:
    sync_directory(CONFIG_DIR, PATH)
    store = ConfigStore(clock=clock, max_age=30)
    assert store.current().groups["general"].label() == "General support"

    _put(ssm, "groups", _edit(DEFAULTS["groups"], _rename_general("Help desk")))
    clock.now += 29
    assert store.current().groups["general"].label() == "General support"
    clock.now += 1
    assert store.current().groups["general"].name == "Help desk"


def test_a_bad_document_leaves_the_last_good_configuration_in_force(ssm: Any, clock: Clock) -> None:
    sync_directory(CONFIG_DIR, PATH)
    calls = Calls(ssm, "GetParametersByPath")
    store = ConfigStore(clock=clock, max_age=10)
    good = store.current()
    assert store.last_error is None

    _put(ssm, "groups", _edit(DEFAULTS["groups"], _break_queue))
    clock.now += 10
    assert store.current() is good
    assert store.last_error is not None
    assert (store.last_error.document, store.last_error.path) == ("groups", "groups[1].queue.max_waiting")
    clock.now += 10
    assert store.current() is good
    assert calls.count == 3

    _put(ssm, "groups", "{not json")
    clock.now += 10
    assert store.current() is good
    assert str(store.last_error) == (f"groups: invalid JSON in SSM parameter {PATH}/groups at line 1, column 2: "
                                     "Expecting property name enclosed in double quotes")

    _put(ssm, "groups", _edit(DEFAULTS["groups"], _rename_general("Help desk")))
    clock.now += 10
    assert store.current().groups["general"].name == "Help desk"
    assert store.last_error is None


def test_the_status_says_which_documents_are_in_force_and_since_when(ssm: Any, clock: Clock) -> None:
    sync_directory(CONFIG_DIR, PATH)
    wall = Clock()
    store = ConfigStore(clock=clock, max_age=30, wall_clock=wall)
    assert store.status() == {"version": None, "loaded_at": None, "checked_at": None, "max_age_seconds": 30,
                              "rejected": False}
    store.current()
    first = store.status()
    assert (first["loaded_at"], first["checked_at"], first["rejected"]) == (1_000_000, 1_000_000, False)

    _put(ssm, "groups", _edit(DEFAULTS["groups"], _rename_general("Help desk")))
    clock.now += 30
    wall.now += 30
    store.current()
    edited = store.status()
    assert edited["version"] != first["version"]
    assert edited["loaded_at"] == 1_030_000  # the edit is in force from this read on

    _put(ssm, "groups", _edit(DEFAULTS["groups"], _break_queue))
    clock.now += 30
    wall.now += 30
    store.current()
    rejected = store.status()
    assert (rejected["version"], rejected["loaded_at"]) == (edited["version"], edited["loaded_at"])
    assert (rejected["checked_at"], rejected["rejected"]) == (1_060_000, True)


def test_without_a_last_good_configuration_the_error_is_raised(ssm: Any, clock: Clock) -> None:
    store = ConfigStore(clock=clock, max_age=10)
    with pytest.raises(ConfigError, match=f"hours: missing: no SSM parameter {PATH}/hours"):
        store.current()

    sync_directory(CONFIG_DIR, PATH)
    _put(ssm, "routing", _edit(DEFAULTS["routing"], lambda r: r.update(default_group="support")))
    clock.now += 10
    with pytest.raises(ConfigError) as err:
        store.current()
    assert (err.value.document, err.value.path) == ("routing", "default_group")
    assert store.last_error is err.value

    _put(ssm, "routing", DEFAULTS["routing"])
    clock.now += 10
    assert store.current().default_group == "general"


class FlakyProvider:
    """Answers from ``values`` unless ``failing``, as SSMProvider does when SSM cannot be reached."""

    def __init__(self, values: Mapping[str, str]) -> None:
        self.values = dict(values)
        self.failing = False
        self.calls: list[tuple[str, int | None, bool]] = []

    def get_multiple(self, path: str, max_age: int | None = None, *, force_fetch: bool = False) -> dict[str, str]:
        self.calls.append((path, max_age, force_fetch))
        if self.failing:
            raise GetParameterError("Rate exceeded")
        return self.values


def test_ssm_unreachable(clock: Clock) -> None:
    provider = FlakyProvider({name: json.dumps(doc) for name, doc in DEFAULTS.items()})
    provider.failing = True
    store = ConfigStore(provider, clock, path="/shop/config/", max_age=5)
    with pytest.raises(ConfigError, match="cannot read the SSM parameters under /shop/config: Rate exceeded"):
        store.current()
    provider.failing = False
    good = store.current()  # no configuration yet: retried at once, not after max_age
    assert provider.calls == [("/shop/config", 5, True)] * 2

    provider.failing = True
    clock.now += 5
    assert store.current() is good
    assert store.last_error is not None and "Rate exceeded" in store.last_error.message


def test_the_process_wide_store_reads_the_configured_path(ssm: Any) -> None:
    sync_directory(CONFIG_DIR, PATH)
    assert config_store() is config_store()
    assert config_store().current().default_group == "general"


# --- the push and check commands ---


def test_check_passes_on_the_shipped_config(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", str(CONFIG_DIR)]) == 0
    assert "valid (2 schedules, 5 groups, 4 rules)" in capsys.readouterr().out


def test_check_fails_with_the_message(config_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (config_dir / "groups.json").write_text(json.dumps(_edit(DEFAULTS["groups"], _break_queue)))
    assert main(["check", str(config_dir)]) == 2
    assert "groups: groups[1].queue.max_waiting: must be at least 1" in capsys.readouterr().err


def test_push_writes_valid_documents_and_then_only_changes(ssm: Any, config_dir: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    files = [str(config_dir / f"{name}.json") for name in DOCUMENTS]
    assert main(["push", *files, "--path", PATH]) == 0
    assert _stored(ssm) == DEFAULTS
    assert "groups: created /cs-test/config/groups" in capsys.readouterr().out
    tiers = {p["Name"]: p["Tier"] for p in ssm.describe_parameters()["Parameters"]}
    assert set(tiers) == {f"{PATH}/{name}" for name in DOCUMENTS}

    puts = Calls(ssm, "PutParameter")
    (config_dir / "groups.json").write_text(json.dumps(_edit(DEFAULTS["groups"], _rename_general("Help desk"))))
    assert main(["push", *files, "--path", PATH]) == 0
    out = capsys.readouterr().out
    assert "groups: updated /cs-test/config/groups" in out
    assert '-        "en": "General support"' in out and '+      "name": "Help desk",' in out
    assert "hours: unchanged" in out and "routing: unchanged" in out
    assert puts.count == 1
    assert _stored(ssm)["groups"]["groups"][0]["name"] == "Help desk"


def test_push_refuses_an_invalid_file_and_writes_nothing(ssm: Any, config_dir: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    (config_dir / "groups.json").write_text(json.dumps(_edit(DEFAULTS["groups"], _break_queue)))
    files = [str(config_dir / f"{name}.json") for name in DOCUMENTS]
    assert main(["push", *files, "--path", PATH]) == 2
    assert "groups: groups[1].queue.max_waiting: must be at least 1" in capsys.readouterr().err
    assert read_parameters(ssm, PATH) == {}


def test_push_validates_a_file_with_the_documents_already_in_ssm(ssm: Any, config_dir: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    routing = config_dir / "routing.json"
    assert main(["push", str(routing), "--path", PATH]) == 2
    assert f"hours: missing: no SSM parameter {PATH}/hours" in capsys.readouterr().err

    sync_directory(CONFIG_DIR, PATH)
    routing.write_text(json.dumps(_edit(DEFAULTS["routing"], lambda r: r["rules"][0].update(group="vvip"))))
    assert main(["push", str(routing), "--path", PATH]) == 2
    assert 'routing: rules[0].group: no group "vvip" in groups' in capsys.readouterr().err
    assert _stored(ssm)["routing"] == DEFAULTS["routing"]


def test_push_dry_run_and_bad_file_names(ssm: Any, config_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sync_directory(CONFIG_DIR, PATH)
    groups = config_dir / "groups.json"
    groups.write_text(json.dumps(_edit(DEFAULTS["groups"], _rename_general("Help desk"))))
    assert main(["push", str(groups), "--path", PATH, "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "groups: would update /cs-test/config/groups" in out and "dry run: nothing written" in out
    assert _stored(ssm)["groups"] == DEFAULTS["groups"]

    other = config_dir / "teams.json"
    other.write_text("{}")
    assert main(["push", str(other), "--path", PATH]) == 2
    assert "must be named hours.json, groups.json, routing.json" in capsys.readouterr().err


def test_push_defaults_to_the_configured_path(ssm: Any) -> None:
    assert main(["push", *(str(CONFIG_DIR / f"{name}.json") for name in DOCUMENTS)]) == 0
    assert _stored(ssm) == DEFAULTS


# --- the local stack's sync and watcher ---


def test_sync_directory_refuses_an_invalid_directory(ssm: Any, config_dir: Path) -> None:
    (config_dir / "hours.json").write_text(json.dumps(
        _edit(DEFAULTS["hours"], lambda h: h["schedules"]["standard"].update(daily=[["08:00", "08:00"]]))))
    with pytest.raises(ConfigError, match="a span of no length"):
        sync_directory(config_dir, PATH)
    assert read_parameters(ssm, PATH) == {}


def _save(path: Path, doc: Any) -> None:
    """As editors save: a new file renamed over the old, so the watcher never reads half a file."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(doc))
    tmp.replace(path)


def _wait_for(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_the_watcher_applies_edits_and_ignores_invalid_ones(ssm: Any, config_dir: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    sync_directory(config_dir, PATH)
    watcher = ConfigWatcher(config_dir, PATH, interval=0.05)
    watcher.start()
    try:
        groups = config_dir / "groups.json"
        _save(groups, _edit(DEFAULTS["groups"], _rename_general("Help desk")))
        _wait_for(lambda: _stored(ssm)["groups"]["groups"][0]["name"] == "Help desk")

        _save(groups, _edit(DEFAULTS["groups"], _break_queue))
        _wait_for(lambda: watcher.last_error is not None)
        assert _stored(ssm)["groups"]["groups"][0]["name"] == "Help desk"
        assert "groups: groups[1].queue.max_waiting: must be at least 1" in capsys.readouterr().err

        _save(groups, DEFAULTS["groups"])
        _wait_for(lambda: watcher.last_error is None)
        assert _stored(ssm) == DEFAULTS
    finally:
        watcher.stop()
        watcher.join(timeout=5)
    assert not watcher.is_alive()

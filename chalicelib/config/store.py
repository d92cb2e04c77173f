"""The configuration in force: the three SSM documents, read through Powertools Parameters.

A Lambda reads all three with one GetParametersByPath call at most every
``CONFIG_MAX_AGE_SECONDS`` and parses them only when their text changed. A document that an admin
broke never replaces a working configuration: the error is logged and kept in ``last_error``, and
the last good configuration stays in force until a valid one arrives.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Any, Protocol

from aws_lambda_powertools.utilities.parameters import SSMProvider
from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError

from chalicelib.config.documents import DOCUMENTS, load_json, parse
from chalicelib.config.errors import ConfigError
from chalicelib.config.model import RoutingConfig
from chalicelib.platform import aws
from chalicelib.platform.observability import logger
from chalicelib.settings import get_settings


class ParameterProvider(Protocol):
    """What the store needs of Powertools' ``SSMProvider`` (tests pass a fake)."""

    def get_multiple(self, path: str, max_age: int | None = None, *, force_fetch: bool = False) -> Mapping[str, Any]:
        ...


class ConfigStore:
    """Hands out the parsed configuration, re-reading SSM when it is older than ``max_age`` seconds."""

    def __init__(self, provider: ParameterProvider | None = None, clock: Callable[[], float] = time.monotonic,
                 *, path: str | None = None, max_age: int | None = None,
                 wall_clock: Callable[[], float] = time.time) -> None:
        settings = get_settings()
        if provider is None:
            provider = SSMProvider(boto3_client=aws.client("ssm"))
        self._provider: ParameterProvider = provider
        self._clock = clock
        self._path = (path or settings.config_path).rstrip("/")
        self._max_age = settings.config_max_age_seconds if max_age is None else max_age
        self._lock = threading.Lock()
        self._read_at: float | None = None
        self._raw: dict[str, str | None] | None = None
        self._config: RoutingConfig | None = None
        self._error: ConfigError | None = None
        self._wall_clock = wall_clock
        self._version: str | None = None  # of the documents in force
        self._loaded_at: int | None = None  # epoch ms: when they came into force in this process
        self._checked_at: int | None = None  # epoch ms: when SSM was last read

    def status(self) -> dict[str, Any]:
        """What this process runs on, without reading SSM: ``version`` (a digest of the documents in force,
        the same in every process that runs them), ``loaded_at`` and ``checked_at`` (epoch ms), the
        ``max_age_seconds`` after which a change is read, and whether the documents last read were rejected."""
        return {"version": self._version, "loaded_at": self._loaded_at, "checked_at": self._checked_at,
                "max_age_seconds": self._max_age, "rejected": self._error is not None}

    @property
    def last_error(self) -> ConfigError | None:
        """Why the documents last read were rejected; None once a valid set is in force."""
        return self._error

    def current(self) -> RoutingConfig:
        """The configuration in force.

        Raises ``ConfigError`` only when no valid configuration has been read since the process
        started (a broken document later on leaves the last good one in force).
        """
        with self._lock:
            now = self._clock()
            if self._read_at is None or now - self._read_at >= self._max_age:
                self._refresh(now)
            if self._config is None:
                assert self._error is not None
                raise self._error
            return self._config

    def _refresh(self, now: float) -> None:
        try:
            # The store's clock decides when to read, so the provider's own cache must not answer instead.
            values = self._provider.get_multiple(self._path, max_age=self._max_age, force_fetch=True)
        except GetParameterError as exc:
            # Without a configuration, try again on the next call rather than after max_age.
            self._read_at = now if self._config is not None else None
            self._reject(ConfigError("", "", f"cannot read the SSM parameters under {self._path}: {exc}"))
            return
        self._read_at = now
        self._checked_at = int(self._wall_clock() * 1000)
        raw: dict[str, str | None] = {name: values.get(name) for name in DOCUMENTS}
        if raw == self._raw:
            return
        self._raw = raw
        try:
            config = parse(**{name: self._decode(name, text) for name, text in raw.items()})
        except ConfigError as err:
            self._reject(err)
            return
        if self._error is not None or self._config is not None:
            logger.info("configuration updated", extra={"config_path": self._path})
        self._config, self._error = config, None
        self._version, self._loaded_at = documents_version(raw), self._checked_at

    def _decode(self, name: str, text: str | None) -> Any:
        where = f"{self._path}/{name}"
        if text is None:
            raise ConfigError(name, "", f"missing: no SSM parameter {where}")
        return load_json(text, name, f"SSM parameter {where}")

    def _reject(self, err: ConfigError) -> None:
        self._error = err
        outcome = "the last good configuration stays in force" if self._config is not None else "no configuration"
        logger.error(f"configuration rejected; {outcome}", extra={
            "document": err.document, "path": err.path, "error": str(err), "config_path": self._path})


def documents_version(raw: Mapping[str, str | None]) -> str:
    """A short digest of the documents' texts: equal versions, equal configurations."""
    digest = hashlib.sha256()
    for name in DOCUMENTS:
        digest.update(f"{name}\0{raw.get(name) or ''}\0".encode())
    return digest.hexdigest()[:12]


@lru_cache(maxsize=1)
def config_store() -> ConfigStore:
    """The process's store, built on first use (after moto has started, locally and in tests)."""
    return ConfigStore()

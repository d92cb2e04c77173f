"""Keeps the local stack's SSM parameters in step with ``config/*.json``.

Edits take effect within about a second, and only when the three documents are valid together: an
invalid edit is reported on stderr and SSM keeps the last good documents, as on AWS after a refused
``make config-push``.

``chalicelib`` is imported inside the functions, as everywhere in ``local``: the environment must be
configured before any of it is imported.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from chalicelib.config.errors import ConfigError

log = logging.getLogger(__name__)

_Stamp = tuple[int, int, int] | None  # (mtime_ns, size, inode); None: no such file


def sync_directory(config_dir: Path, path: str) -> None:
    """Validate the documents in ``config_dir`` together and put each changed one under ``path``.

    Raises ``ConfigError`` (SSM untouched) when they are not valid.
    """
    from chalicelib.config.documents import load_directory, parse
    from chalicelib.config.push import read_parameters, write_documents
    from chalicelib.platform import aws

    documents = load_directory(config_dir)
    parse(**documents)
    ssm = aws.client("ssm")
    write_documents(ssm, path, documents, read_parameters(ssm, path))


class ConfigWatcher(threading.Thread):
    """A daemon thread that re-syncs ``config_dir`` whenever one of the documents' files changes."""

    def __init__(self, config_dir: Path, path: str, interval: float = 1.0) -> None:
        super().__init__(name="config-watcher", daemon=True)
        self.config_dir = config_dir
        self.path = path
        self.interval = interval
        self.last_error: ConfigError | None = None  # the latest edit's problem; None once synced
        self._stopped = threading.Event()
        self._seen = self._stamps()  # taken now: the stack syncs the files as they are before starting us

    def stop(self) -> None:
        self._stopped.set()

    def run(self) -> None:
        from chalicelib.config.errors import ConfigError

        while not self._stopped.wait(self.interval):
            stamps = self._stamps()
            if stamps == self._seen:
                continue
            self._seen = stamps
            try:
                sync_directory(self.config_dir, self.path)
            except ConfigError as err:
                self.last_error = err
                print(f"config/ not applied, SSM keeps the last good documents: {err}", file=sys.stderr, flush=True)
            except Exception:
                # A watcher that dies would silently stop reloading: report, and retry on the next tick.
                log.exception("config sync failed")
                self._seen = {}
            else:
                self.last_error = None
                log.info("config/ applied to %s", self.path)

    def _stamps(self) -> dict[str, _Stamp]:
        from chalicelib.config.documents import DOCUMENTS

        stamps: dict[str, _Stamp] = {}
        for name in DOCUMENTS:
            try:
                stat = os.stat(self.config_dir / f"{name}.json")
            except OSError:
                stamps[name] = None
            else:
                stamps[name] = (stat.st_mtime_ns, stat.st_size, stat.st_ino)
        return stamps

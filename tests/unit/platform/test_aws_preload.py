"""``aws.preload``: a process that forks workers reads a service's model once, for every client built after."""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib.platform import aws

SERVICE = "pricing"  # a service nothing else here builds a client of, so its model is read only by this test


def test_a_preloaded_service_model_is_not_read_again_by_the_clients_built_after(
        monkeypatch: pytest.MonkeyPatch) -> None:
    reads: list[str] = []
    loader = aws._LOADER.file_loader
    load_file = loader.load_file

    def recording(path: str) -> Any:
        reads.append(path)
        return load_file(path)

    monkeypatch.setattr(loader, "load_file", recording)
    aws.preload(SERVICE)
    assert any(f"/{SERVICE}/" in path for path in reads), reads  # read now
    reads.clear()
    aws.botocore_session().create_client(SERVICE, region_name="us-east-1")
    assert not [path for path in reads if f"/{SERVICE}/" in path]  # and not again

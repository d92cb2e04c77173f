"""Reindexing on the local stack over real HTTP: POST /api/faqs/reindex answers at once with a queued job, the
job's function runs in the background (local/invoker.py, as Lambda's asynchronous invoke on AWS), and polling
GET shows it through to succeeded with the demo knowledge base indexed; the robot still answers afterwards."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from local.harness import Stack, run_stack

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    state: Path = tmp_path_factory.mktemp("state")
    with run_stack(state) as running:
        yield running


def login(stack: Stack, user: str) -> dict[str, str]:
    answer = requests.post(f"{stack.base}/api/auth/login", json={"username": user, "password": "demo"}, timeout=30)
    assert answer.status_code == 200, answer.text
    return {"Authorization": f"Bearer {answer.json()['token']}"}


def test_a_reindex_job_is_started_at_once_and_polled_to_succeeded(stack: Stack) -> None:
    admin = login(stack, "admin")
    began = time.monotonic()
    started = requests.post(f"{stack.base}/api/faqs/reindex", headers=admin, timeout=30)
    answered_in = time.monotonic() - began
    assert started.status_code == 202, started.text
    job = started.json()
    assert job["state"] in ("queued", "running") and job["requested_by"] == "admin"

    polls: list[dict[str, Any]] = []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        polled = requests.get(f"{stack.base}/api/faqs/reindex/{job['job_id']}", headers=admin, timeout=30)
        assert polled.status_code == 200, polled.text
        polls.append(polled.json())
        if polls[-1]["state"] in ("succeeded", "failed"):
            break
        time.sleep(0.2)
    done = polls[-1]
    assert done["state"] == "succeeded", done
    assert done["total"] == done["done"] == done["indexed"] > 900  # the demo knowledge base (951 FAQs)
    assert [p["done"] for p in polls] == sorted(p["done"] for p in polls)
    assert done["started_at"] <= done["finished_at"]
    assert answered_in < 5  # the request did not wait for the rebuild
    latest = requests.get(f"{stack.base}/api/faqs/reindex", headers=admin, timeout=30).json()
    assert latest == done

    # The rebuilt index serves the robot.
    tried = requests.post(f"{stack.base}/api/robot/try", headers=login(stack, "alice"), timeout=30,
                          json={"query": "How long does delivery take within mainland China?"}).json()
    assert tried["answer"] == "shipping-delivery-time-mainland"

    # Agents may not start one.
    refused = requests.post(f"{stack.base}/api/faqs/reindex", headers=login(stack, "alice"), timeout=30)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "forbidden"

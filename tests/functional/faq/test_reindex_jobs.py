"""FAQ reindex jobs through the REST API and the job's Lambda function, on moto: POST starts a job and answers at
once, the function (run here by the test, as Lambda would after the asynchronous invoke) rebuilds the index and
records its progress, GET reads it. One job at a time; a dead job is replaced; a failure is recorded."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any

import pytest
from chalice.test import Client

from app import app
from chalicelib.auth.devidp import dev_idp
from chalicelib.edge.faq import faq_reindex
from chalicelib.faq.embed import Vector
from chalicelib.faq.jobs import STALE_AFTER_SECONDS, ReindexJobs
from chalicelib.faq.kb import KnowledgeBase
from chalicelib.faq.model import Faq
from chalicelib.faq.search.base import SearchUnavailable
from chalicelib.faq.store import FaqStore
from chalicelib.platform.clock import Clock
from chalicelib.platform.invoke import InvokeFailed
from chalicelib.wiring import build, override
from tests.conftest import RecordingSender, RecordingTimer, WordsEmbedder, routing_config
from tests.functional.conftest import RecordingBackend, error

FUNCTION = "faq_reindex"
FAQS = 120  # each with a question, two similar questions and an answer: several of the embedder's chunks


class RecordingInvoker:
    """Stands in for Lambda's asynchronous invoke: records each call; ``refuse`` makes it fail as Lambda would."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.refuse: str | None = None

    def invoke(self, function: str, event: Mapping[str, Any]) -> None:
        if self.refuse:
            raise InvokeFailed(self.refuse)
        self.calls.append((function, dict(event)))


class ProbeEmbedder(WordsEmbedder):
    """A WordsEmbedder that runs ``probe`` before each call: what a client would see at that moment."""

    def __init__(self) -> None:
        self.probe: Callable[[], None] | None = None

    def embed(self, texts: Sequence[str]) -> Vector:
        if self.probe is not None:
            self.probe()
        return super().embed(texts)


class FailingBackend(RecordingBackend):
    def replace_all(self, faqs: Any, embedder: Any = None) -> int:
        raise SearchUnavailable("the search cluster is red", 503)


@dataclass
class World:
    client: Client
    invoker: RecordingInvoker
    embedder: ProbeEmbedder
    backend: RecordingBackend
    now: list[float] = field(default_factory=lambda: [1_760_000_000.0])
    token: str = ""

    def api(self, method: str, path: str) -> Any:
        return self.client.http.request(method, f"/faqs/reindex{path}", headers={
            "Authorization": f"Bearer {self.token}", "Content-Type": "application/json"}, body=b"")

    def start(self) -> dict[str, Any]:
        answer = self.api("POST", "")
        assert answer.status_code == 202, answer.body
        job: dict[str, Any] = answer.json_body
        return job

    def run(self, job_id: str) -> str:
        """The job's Lambda function, as Lambda calls it after the asynchronous invoke."""
        state: str = faq_reindex({"job_id": job_id}, None)["state"]
        return state


def faqs(n: int = FAQS) -> list[Faq]:
    return [Faq(faq_id=f"faq-{i:03d}", question=f"How do I do thing number {i}?",
                similar=(f"thing {i} help", f"doing thing {i}"), answer=f"Do thing {i} like this.",
                enabled=i % 10 != 0) for i in range(n)]


@contextmanager
def make_world(backend: RecordingBackend, sender: RecordingSender, timer: RecordingTimer) -> Iterator[World]:
    embedder = ProbeEmbedder()
    kb = KnowledgeBase(FaqStore(), backend, embedder, load_on_first_use=False, snapshots=None)
    kb.store.put_many(faqs())
    invoker = RecordingInvoker()
    world = World(Client(app), invoker, embedder, backend, token=dev_idp().login("admin", "demo")[0])
    clock = Clock(lambda: world.now[0])
    services = build(sender, timer, config=lambda: routing_config(), clock=clock, kb=kb)
    override(replace(services, reindex=ReindexJobs(kb, invoker, FUNCTION, clock)))
    with world.client:
        yield world


@pytest.fixture
def world(aws: None, backend: RecordingBackend, sender: RecordingSender, timer: RecordingTimer) -> Iterator[World]:
    with make_world(backend, sender, timer) as made:
        yield made


ENABLED = sum(1 for f in faqs() if f.enabled)


def test_a_start_answers_at_once_and_the_function_rebuilds_the_index(world: World) -> None:
    job = world.start()
    assert job["state"] == "queued"
    assert (job["done"], job["total"], job["indexed"], job["started_at"], job["finished_at"]) == (0, None, None,
                                                                                                 None, None)
    assert job["requested_by"] == "admin"
    assert world.invoker.calls == [(FUNCTION, {"job_id": job["job_id"]})]
    assert world.backend.calls == []  # nothing rebuilt inside the request

    world.now[0] += 2
    assert world.run(job["job_id"]) == "succeeded"
    done = world.api("GET", f"/{job['job_id']}").json_body
    assert (done["state"], done["done"], done["total"], done["indexed"], done["error"]) == (
        "succeeded", ENABLED, ENABLED, ENABLED, None)
    assert done["created_at"] < done["started_at"] <= done["finished_at"]
    assert world.api("GET", "").json_body == done
    assert world.backend.calls[-1] == ("replace_all", [f.faq_id for f in faqs() if f.enabled])


def test_progress_is_visible_while_the_job_runs(world: World) -> None:
    job = world.start()
    seen: list[tuple[str, int, int | None]] = []

    def look() -> None:
        body = world.api("GET", "").json_body
        seen.append((body["state"], body["done"], body["total"]))

    world.embedder.probe = look
    world.run(job["job_id"])
    # At each of the embedder's chunks a client saw the job running, with more done each time, short of the total.
    assert len(seen) >= 3
    assert {s for s, _, _ in seen} == {"running"}
    assert {t for _, _, t in seen} == {ENABLED}
    done = [d for _, d, _ in seen]
    assert done == sorted(done) and done[0] == 0 and 0 < done[-1] < ENABLED


def test_a_second_start_while_a_job_runs_gets_that_job(world: World) -> None:
    first = world.start()
    again = world.api("POST", "")
    body = error(again, 409, "reindex_running")
    assert body["job"]["job_id"] == first["job_id"] and body["job"]["state"] == "queued"
    assert len(world.invoker.calls) == 1  # never two rebuilds

    # Running too, mid-rebuild: the same answer.
    refused: list[Any] = []
    world.embedder.probe = lambda: refused.append(world.api("POST", ""))
    world.run(first["job_id"])
    assert refused and all(r.status_code == 409 for r in refused)
    assert {r.json_body["error"]["job"]["state"] for r in refused} == {"running"}
    assert len(world.invoker.calls) == 1

    # Once it is over, a new one starts.
    world.embedder.probe = None
    second = world.start()
    assert second["job_id"] != first["job_id"]
    assert world.api("GET", "").json_body["job_id"] == second["job_id"]
    assert world.api("GET", f"/{first['job_id']}").json_body["state"] == "succeeded"


def test_a_job_whose_function_never_ran_is_failed_and_replaced_once_stale(world: World) -> None:
    lost = world.start()
    world.now[0] += STALE_AFTER_SECONDS - 1
    error(world.api("POST", ""), 409, "reindex_running")
    world.now[0] += 1
    seen = world.api("GET", f"/{lost['job_id']}").json_body
    assert seen["state"] == "failed" and "stopped reporting progress" in seen["error"]

    fresh = world.start()
    assert fresh["job_id"] != lost["job_id"]
    stored = world.api("GET", f"/{lost['job_id']}").json_body
    assert (stored["state"], stored["finished_at"]) == ("failed", int(world.now[0] * 1000))
    # Should Lambda deliver the lost invocation after all, it runs nothing.
    assert world.run(lost["job_id"]) == "not_run"
    assert world.backend.calls == []
    assert world.run(fresh["job_id"]) == "succeeded"


def test_a_running_job_that_stopped_reporting_is_replaced_and_its_function_stops(world: World) -> None:
    slow = world.start()
    replaced: list[dict[str, Any]] = []

    def hang_then_replace() -> None:
        if not replaced:  # the function goes quiet past the limit; an admin starts again meanwhile
            world.now[0] += STALE_AFTER_SECONDS + 1
            replaced.append(world.start())

    world.embedder.probe = hang_then_replace
    assert world.run(slow["job_id"]) == "not_run"  # its next progress write found it replaced: it stopped
    assert world.backend.calls == []  # before writing the index
    old = world.api("GET", f"/{slow['job_id']}").json_body
    assert old["state"] == "failed" and "timed out or crashed" in old["error"]
    assert world.api("GET", "").json_body["job_id"] == replaced[0]["job_id"]


def test_a_failed_rebuild_is_recorded_with_its_error_and_frees_the_next_start(
        aws: None, sender: RecordingSender, timer: RecordingTimer) -> None:
    with make_world(FailingBackend(), sender, timer) as world:
        job = world.start()
        assert world.run(job["job_id"]) == "failed"
        failed = world.api("GET", f"/{job['job_id']}").json_body
        assert failed["state"] == "failed"
        assert failed["error"] == "SearchUnavailable: the search cluster is red"
        assert failed["finished_at"] is not None and failed["indexed"] is None
        assert world.start()["state"] == "queued"


def test_a_function_that_cannot_be_started_is_a_503_and_blocks_nothing(world: World) -> None:
    world.invoker.refuse = "ResourceNotFoundException: Function not found"
    body = error(world.api("POST", ""), 503, "unavailable")
    assert "Function not found" in body["message"]
    latest = world.api("GET", "").json_body
    assert latest["state"] == "failed" and "Function not found" in latest["error"]
    world.invoker.refuse = None
    assert world.start()["state"] == "queued"


def test_unknown_jobs_and_no_job_yet_are_404(world: World) -> None:
    error(world.api("GET", ""), 404, "not_found")
    error(world.api("GET", "/0123456789abcdef01234"), 404, "not_found")
    error(world.api("GET", "/latest"), 404, "not_found")  # the pointer item is not a job
    error(world.api("GET", "/not%20an%20id"), 404, "not_found")
    job = world.start()
    assert world.api("GET", f"/{job['job_id']}").status_code == 200


def test_without_a_function_configured_a_start_is_refused_and_writes_nothing(
        aws: None, kb: KnowledgeBase, sender: RecordingSender, timer: RecordingTimer) -> None:
    override(build(sender, timer, config=lambda: routing_config(), kb=kb, invoker=RecordingInvoker()))
    token = dev_idp().login("admin", "demo")[0]
    with Client(app) as client:
        headers = {"Authorization": f"Bearer {token}"}
        body = error(client.http.post("/faqs/reindex", headers=headers), 503, "unavailable")
        assert "FAQ_REINDEX_FUNCTION" in body["message"]
        error(client.http.get("/faqs/reindex", headers=headers), 404, "not_found")


def test_the_reindex_routes_take_no_body_and_answer_json(world: World) -> None:
    answer = world.client.http.request("POST", "/faqs/reindex", headers={
        "Authorization": f"Bearer {world.token}", "Content-Type": "application/json"}, body=b'{"anything": 1}')
    assert answer.status_code == 202
    assert json.loads(answer.body)["state"] == "queued"

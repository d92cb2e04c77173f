"""The REST API against its OpenAPI document (docs/openapi.yaml) on the local stack: requests generated from the
document for every operation, valid and invalid ones, as an admin and without a token. No answer is a 5xx, and
every answer is one the document describes: a documented status, content type, headers and body schema."""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import APIOperation, GenerationMode
from schemathesis.core.failures import FailureGroup
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from app import app
from local.harness import Stack, run_stack
from tests.conftest import examples as profile_share

pytestmark = pytest.mark.e2e

DOCUMENT = Path(__file__).resolve().parents[2] / "docs" / "openapi.yaml"
# The answer must be one the document describes. (Whether the document's request schemas are exactly as strict as
# the server, e.g. business rules like "a FAQ needs an answer unless disabled", is not asked here.)
CONFORMANCE = [status_code_conformance, content_type_conformance, response_headers_conformance,
               response_schema_conformance]


def routes() -> set[tuple[str, str]]:
    """The operations; the CORS preflight (OPTIONS) on every path is plumbing, tested in test_app.py."""
    return {(method, path) for path, methods in app.routes.items() for method in methods if method != "OPTIONS"}


def examples(n: int) -> settings:
    """``n`` requests per operation and mode; the same ones on every run."""
    return settings(max_examples=n, deadline=None, derandomize=True, database=None, print_blob=False,
                    phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))


@dataclasses.dataclass
class Run:
    """What one caller's requests met."""

    requests: Counter[str] = dataclasses.field(default_factory=Counter)  # operation -> requests sent
    sent: set[str] = dataclasses.field(default_factory=set)  # each request once (as curl would send it)
    statuses: Counter[int] = dataclasses.field(default_factory=Counter)
    server_errors: list[str] = dataclasses.field(default_factory=list)
    nonconforming: list[str] = dataclasses.field(default_factory=list)

    def report(self) -> str:
        return (f"{sum(self.requests.values())} requests, statuses {dict(sorted(self.statuses.items()))}\n"
                + "\n".join(self.server_errors[:10]) + "\n" + "\n".join(self.nonconforming[:10]))


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with run_stack(tmp_path_factory.mktemp("state")) as running:
        yield running


@pytest.fixture(scope="module")
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        yield session


def admin_token(stack: Stack) -> str:
    answer = requests.post(f"{stack.base}/api/auth/login", json={"username": "admin", "password": "demo"},
                           timeout=30)
    assert answer.status_code == 200, answer.text
    token: str = answer.json()["token"]
    return token


def exercise(stack: Stack, http: requests.Session, headers: dict[str, str], per_operation: int) -> Run:
    """Every operation of the document, ``per_operation`` valid and as many invalid requests, with ``headers``."""
    run = Run()
    for result in schemathesis.openapi.from_path(str(DOCUMENT)).get_all_operations():
        assert isinstance(result, Ok), result  # the document is valid OpenAPI
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            try:
                send(run, result.ok(), mode, f"{stack.base}/api", http, headers, per_operation)
            except Unsatisfiable:
                # Nothing to get wrong (no parameters and no body): there is no invalid request to send.
                assert mode is GenerationMode.NEGATIVE, result.ok().label
    return run


def send(run: Run, operation: APIOperation[Any, Any, Any, Any], mode: GenerationMode, base_url: str,
         http: requests.Session, headers: dict[str, str], n: int) -> None:
    """``n`` requests generated for ``operation`` in ``mode``; what they met goes into ``run``."""
    label = f"{operation.label} [{mode.value}]"

    @examples(n)
    @given(case=operation.as_strategy(generation_mode=mode))
    def call(case: Any) -> None:
        # An operation with few inputs (POST /faqs/reindex has none) yields the same request again and again;
        # it would only repeat the answer already checked, at the cost of a reindex each time.
        request = case.as_curl_command(headers=headers, base_url=base_url)
        if request in run.sent:
            return
        run.sent.add(request)
        response = case.call(base_url=base_url, session=http, headers=headers, timeout=60)
        run.requests[operation.label] += 1
        run.statuses[response.status_code] += 1
        if response.status_code >= 500:
            run.server_errors.append(f"{label} {response.status_code}: {request}\n  {response.text[:300]}")
            return
        try:
            case.validate_response(response, checks=CONFORMANCE, headers=headers)
        except FailureGroup as failures:
            run.nonconforming.append(f"{label} {response.status_code}: {failures}"[:2000])

    call()


def test_the_document_describes_every_route() -> None:
    paths = schemathesis.openapi.from_path(str(DOCUMENT)).raw_schema["paths"]
    documented = {(method.upper(), path) for path, item in paths.items() for method in item if method != "parameters"}
    assert routes() == documented


def test_as_an_admin_every_answer_is_documented_and_none_is_a_server_error(stack: Stack,
                                                                          http: requests.Session) -> None:
    # The suite's example profile decides how many (tests/conftest.py): 10 by default, 30 when thorough.
    per_operation = profile_share(30)
    run = exercise(stack, http, {"Authorization": f"Bearer {admin_token(stack)}"}, per_operation=per_operation)
    assert run.server_errors == [], run.report()
    assert run.nonconforming == [], run.report()
    assert len(run.requests) == len(routes())  # every operation was called
    assert run.statuses[200] + run.statuses[201] > 8 * per_operation, run.report()  # many got past validation


def test_without_a_token_every_answer_is_documented_and_none_is_a_server_error(stack: Stack,
                                                                              http: requests.Session) -> None:
    run = exercise(stack, http, {}, per_operation=profile_share(9))
    assert run.server_errors == [], run.report()
    assert run.nonconforming == [], run.report()
    assert run.statuses[401] > 0, run.report()

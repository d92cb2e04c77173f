"""infra/template.json and the state machines agree with the code that the local stack runs."""

from __future__ import annotations

import json
from typing import Any

import pytest
from chalice.utils import to_cfn_resource_name

from app import app
from chalicelib.platform import web_headers
from chalicelib.platform.statemachines import STATE_MACHINES, definition, placeholders
from chalicelib.tables import ALL_MODELS, ttl_attribute
from infra import build

TEMPLATE: dict[str, Any] = json.loads(build.TEMPLATE.read_text())
RESOURCES = TEMPLATE["Resources"]


def test_the_checked_in_template_is_what_the_build_writes() -> None:
    assert build.TEMPLATE.read_text() == build.render(), "run: python -m infra.build"


@pytest.mark.parametrize("model", ALL_MODELS, ids=lambda m: m.Meta.table_name)
def test_each_table_matches_its_model(model: Any) -> None:
    short = model.Meta.table_name.split("-", 2)[-1]
    tables = [r["Properties"] for r in RESOURCES.values() if r.get("Type") == "AWS::DynamoDB::Table"
              and r["Properties"]["TableName"] == {"Fn::Sub": f"${{TablePrefix}}-{short}"}]
    assert len(tables) == 1
    table = tables[0]
    keys = {k["KeyType"]: k["AttributeName"] for k in table["KeySchema"]}
    # The names stored (a key's Python name may differ: the queue's ``key`` is stored as ``group_id``).
    range_key = model._range_key_attribute()
    assert keys["HASH"] == model._hash_key_attribute().attr_name
    assert keys.get("RANGE") == (range_key.attr_name if range_key else None)
    indexes = {i["IndexName"]: i for i in table.get("GlobalSecondaryIndexes", [])}
    assert set(indexes) == {i.Meta.index_name for i in model._indexes.values()}
    for index in model._indexes.values():
        declared = {k["KeyType"]: k["AttributeName"] for k in indexes[index.Meta.index_name]["KeySchema"]}
        expected = {("HASH" if a.is_hash_key else "RANGE"): a.attr_name
                    for a in index.__class__.__dict__.values() if getattr(a, "attr_name", None)
                    and (a.is_hash_key or a.is_range_key)}
        assert declared == expected
        assert indexes[index.Meta.index_name]["Projection"] == {"ProjectionType": index.Meta.projection.projection_type}
    types = {a["AttributeName"]: a["AttributeType"] for a in table["AttributeDefinitions"]}
    for attr in model.get_attributes().values():
        if attr.attr_name in types:
            assert types[attr.attr_name] == attr.attr_type
    assert table.get("TimeToLiveSpecification", {}).get("AttributeName") == ttl_attribute(model)


@pytest.mark.parametrize("name", list(STATE_MACHINES))
def test_state_machine_definition_is_the_asl_file_with_every_placeholder_substituted(name: str) -> None:
    machine = RESOURCES[f"{name.capitalize()}StateMachine"]["Properties"]
    substitutions = machine["DefinitionSubstitutions"]
    assert set(substitutions) == placeholders(name)
    assert machine["Definition"] == definition(name, {k: f"${{{k}}}" for k in substitutions})


@pytest.mark.parametrize("name", list(STATE_MACHINES))
def test_every_lambda_a_state_machine_invokes_exists_in_the_app(name: str) -> None:
    substitutions = RESOURCES[f"{name.capitalize()}StateMachine"]["Properties"]["DefinitionSubstitutions"]
    invoked = {v["Fn::GetAtt"][0] for v in substitutions.values() if "Fn::GetAtt" in v and v["Fn::GetAtt"][1] == "Arn"}
    functions = {to_cfn_resource_name(f.name) for f in app.pure_lambda_functions}
    assert invoked
    assert invoked <= functions


def _targets(state: dict[str, Any]) -> list[str]:
    out = [state[k] for k in ("Next", "Default") if k in state]
    for choice in state.get("Choices", []):
        out.append(choice["Next"])
    for catch in state.get("Catch", []):
        out.append(catch["Next"])
    return out


def _machines(asl: dict[str, Any]) -> list[dict[str, Any]]:
    """The machine and every machine nested in it (a Map's ItemProcessor or Iterator, a Parallel's Branches)."""
    out = [asl]
    for state in asl["States"].values():
        nested = [state[k] for k in ("ItemProcessor", "Iterator") if k in state] + state.get("Branches", [])
        for machine in nested:
            out.extend(_machines(machine))
    return out


def _states(name: str) -> dict[str, dict[str, Any]]:
    """Every state of a machine, nested ones included (names are unique across the levels)."""
    machines = _machines(definition(name, {k: "x" for k in placeholders(name)}))
    states = {n: s for m in machines for n, s in m["States"].items()}
    assert len(states) == sum(len(m["States"]) for m in machines)
    return states


@pytest.mark.parametrize("name", list(STATE_MACHINES))
def test_state_machine_is_structurally_valid(name: str) -> None:
    for asl in _machines(definition(name, {k: "x" for k in placeholders(name)})):
        states = asl["States"]
        assert asl["StartAt"] in states
        for state_name, state in states.items():
            for target in _targets(state):
                assert target in states, f"{state_name} -> {target}"
            if state["Type"] == "Wait":
                assert "SecondsPath" in state  # waits come from the input, so tests can shorten them
        assert any(s["Type"] in ("Succeed", "Fail") or s.get("End") for s in states.values())
        reachable, todo = set(), [asl["StartAt"]]
        while todo:
            current = todo.pop()
            if current not in reachable:
                reachable.add(current)
                todo.extend(_targets(states[current]))
        assert reachable == set(states)


LAMBDA_TRANSIENT = {"Lambda.ServiceException", "Lambda.AWSLambdaException", "Lambda.SdkClientException",
                    "Lambda.TooManyRequestsException", "Lambda.ClientExecutionTimeoutException", "Lambda.Unknown"}
DYNAMODB_TRANSIENT = {"DynamoDB.ProvisionedThroughputExceededException", "DynamoDB.ThrottlingException",
                      "DynamoDB.RequestLimitExceeded", "DynamoDB.InternalServerError"}


@pytest.mark.parametrize("name", list(STATE_MACHINES))
def test_every_task_retries_transient_errors_and_catches_the_rest(name: str) -> None:
    tasks = {n: s for n, s in _states(name).items() if s["Type"] == "Task"}
    assert tasks
    for state_name, task in tasks.items():
        retried = {e for r in task.get("Retry", []) for e in r["ErrorEquals"]}
        transient = LAMBDA_TRANSIENT if ":::lambda:" in task["Resource"] else DYNAMODB_TRANSIENT
        assert transient <= retried, f"{state_name} does not retry {sorted(transient - retried)}"
        # Whatever is left after the retries goes somewhere that ends the message or tries again later.
        assert any(c["ErrorEquals"] == ["States.ALL"] for c in task.get("Catch", [])), state_name


def test_cloudfront_sends_the_pages_security_headers_the_local_gateway_sends() -> None:
    """One definition of the pages' headers (chalicelib/platform/web_headers.py): CloudFront's policy carries each
    of them, on the pages and on /media, in place of the managed policy that had no CSP."""
    headers = web_headers.page_headers("${AWS::Region}")
    assert set(headers) == {"Content-Security-Policy", "X-Frame-Options", "X-Content-Type-Options", "Referrer-Policy"}
    config = RESOURCES["WebSecurityHeaders"]["Properties"]["ResponseHeadersPolicyConfig"]["SecurityHeadersConfig"]
    assert config["ContentSecurityPolicy"] == {"ContentSecurityPolicy": {"Fn::Sub": headers["Content-Security-Policy"]},
                                               "Override": True}
    assert "unsafe-inline" not in headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
    assert config["FrameOptions"] == {"FrameOption": headers["X-Frame-Options"], "Override": True}
    assert headers["X-Content-Type-Options"] == "nosniff" and config["ContentTypeOptions"] == {"Override": True}
    assert config["ReferrerPolicy"] == {"ReferrerPolicy": headers["Referrer-Policy"], "Override": True}
    distribution = RESOURCES["WebDistribution"]["Properties"]["DistributionConfig"]
    media = next(b for b in distribution["CacheBehaviors"] if b["PathPattern"] == "/media/*")
    for behavior in (distribution["DefaultCacheBehavior"], media):
        assert behavior["ResponseHeadersPolicyId"] == {"Ref": "WebSecurityHeaders"}

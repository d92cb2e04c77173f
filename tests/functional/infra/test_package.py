"""The packaged stack: the real ``chalice package --merge-template`` (template only, no dependency download)
linted by cfn-lint, the Lambdas' runtime and settings, the resources around them, and the zip's trimming rules."""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest

from chalicelib.platform import ticks
from chalicelib.sessions.models import TIMER_SHARDS
from chalicelib.tables import ALL_MODELS
from infra import build, package

STAGES = ("dev", "prod")
# Settings a function may leave unset: the Lambda runtime sets the region; the rest default safely
# (token and configuration lifetimes; the local identity provider stays off, and its state dir unused).
SAFE_DEFAULTS = {"AWS_REGION", "AWS_DEFAULT_REGION", "VISITOR_TOKEN_TTL_SECONDS", "AGENT_TOKEN_TTL_SECONDS",
                 "CONFIG_MAX_AGE_SECONDS", "DEV_IDP_ENABLED", "LOCAL_STATE_DIR",
                 # without a bucket each container fits the FAQ classifier from the table on first use
                 "FAQ_MODEL_BUCKET", "FAQ_MODEL_KEY",
                 # the secrets' values, for the local stack: on AWS they are read from the *_SECRET_ID secrets
                 "VISITOR_TOKEN_SECRET", "COMMERCE_TOKEN", "SECRET_MAX_AGE_SECONDS",
                 # empty: the REST API answers no other origin (the pages call their own)
                 "CORS_ORIGINS",
                 # the clock's minute in rounds (checked against the schedule and Express's limit below)
                 "CLOCK_PERIOD_SECONDS", "CLOCK_ROUND_SECONDS", "CLOCK_TICK_SECONDS", "CLOCK_SWEEPERS",
                 # set by the Lambda runtime itself in every function: which function runs (cold-start warm-up)
                 "AWS_LAMBDA_FUNCTION_NAME", "_HANDLER",
                 # the conversation index: named after TABLE_PREFIX (set everywhere), its shards read only to create it
                 "OPENSEARCH_CONVERSATIONS_INDEX", "OPENSEARCH_CONVERSATIONS_SHARDS"}
TABLES = [build.logical_id(m.Meta.table_name) for m in ALL_MODELS]


@pytest.fixture(scope="module", params=STAGES)
def packaged(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    stage: str = request.param
    out = tmp_path_factory.mktemp(f"package-{stage}")
    report = package.package(stage, template_only=True, out=out)
    assert report.template_only
    return stage, out / "sam.json"


@pytest.fixture(scope="module")
def sam(packaged: tuple[str, Path]) -> dict[str, Any]:
    template: dict[str, Any] = json.loads(packaged[1].read_text())
    return template


def resources(sam: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in sam["Resources"].items() if v["Type"] == kind}


def test_cfn_lint_reports_no_errors_and_no_warnings(packaged: tuple[str, Path]) -> None:
    cfn_lint = Path(sys.executable).parent / "cfn-lint"
    result = subprocess.run([str(cfn_lint), "--format", "json", str(packaged[1])], capture_output=True, text=True)
    findings = json.loads(result.stdout or "[]")
    assert findings == [], json.dumps(findings, indent=1)[:4000]


def test_every_function_runs_the_target_runtime_from_the_zip(sam: dict[str, Any]) -> None:
    functions = resources(sam, "AWS::Serverless::Function")
    assert set(functions) == set(build.FUNCTIONS)
    for name, function in functions.items():
        assert function["Properties"]["Runtime"] == package.RUNTIME == "python3.12", name
        assert function["Properties"]["CodeUri"] == "./deployment.zip", name
        # .chalice/config.json's placeholder role is replaced by the function's own (infra/build.py)
        assert function["Properties"]["Role"] == {"Fn::GetAtt": [f"{name}Role", "Arn"]}, name
        assert sam["Resources"][f"{name}Role"]["Type"] == "AWS::IAM::Role"
    assert "DefaultRole" not in sam["Resources"]
    assert "set-by-infra-template" not in json.dumps(sam)


def test_both_api_stages_are_throttled_and_log_access_after_the_merge(sam: dict[str, Any]) -> None:
    rest = sam["Resources"]["RestAPI"]["Properties"]
    assert rest["StageName"] == build.REST_STAGE and "DefinitionBody" in rest  # Chalice's API, with ours merged
    assert rest["MethodSettings"][0]["ThrottlingRateLimit"] == {"Ref": "RestThrottleRate"}
    assert rest["AccessLogSetting"]["DestinationArn"] == {"Fn::GetAtt": ["RestAccessLogs", "Arn"]}
    stage = sam["Resources"]["WebsocketAPIStage"]["Properties"]
    assert stage["ApiId"] == {"Ref": "WebsocketAPI"}
    assert stage["DefaultRouteSettings"]["ThrottlingBurstLimit"] == {"Ref": "WebSocketThrottleBurst"}
    assert stage["AccessLogSettings"]["DestinationArn"] == {"Fn::GetAtt": ["WebSocketAccessLogs", "Arn"]}


def _settings_reads() -> list[tuple[str, str, list[ast.expr]]]:
    """chalicelib/settings.py's reads of one variable (os.environ.get and its _int helper): the function called,
    the variable's name, the call's arguments."""
    tree = ast.parse((Path(build.__file__).parents[1] / "chalicelib" / "settings.py").read_text())
    reads = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if called in ("get", "_int") and isinstance(node.args[0].value, str):
                reads.append((called, node.args[0].value, node.args))
    return reads


def _settings_variables() -> set[str]:
    """Every environment variable chalicelib/settings.py reads."""
    return {name for _, name, _ in _settings_reads()}


def _int_defaults() -> dict[str, int]:
    """The integer settings whose default is a literal (``_int("NAME", 60)``), with that default."""
    return {name: args[1].value for called, name, args in _settings_reads()
            if called == "_int" and len(args) == 2 and isinstance(args[1], ast.Constant)
            and isinstance(args[1].value, int)}


def test_every_setting_is_configured_on_every_function_or_safely_defaulted(
        packaged: tuple[str, Path], sam: dict[str, Any]) -> None:
    stage = packaged[0]
    read = _settings_variables()
    assert {"TABLE_PREFIX", "WS_ENDPOINT", "SEARCH_BACKEND", "OPENSEARCH_URL"} <= read
    for name, function in resources(sam, "AWS::Serverless::Function").items():
        variables = function["Properties"]["Environment"]["Variables"]
        assert read - SAFE_DEFAULTS <= set(variables), (name, sorted(read - SAFE_DEFAULTS - set(variables)))
        assert variables.get("DEV_IDP_ENABLED", "0") != "1", name
        assert variables["STAGE"] == stage
        assert variables["SEARCH_BACKEND"] == "opensearch"
        assert variables["OPENSEARCH_URL"] == {"Fn::Sub": "https://${SearchDomain.DomainEndpoint}"}
        assert variables["TABLE_PREFIX"] == {"Ref": "TablePrefix"}
    # The stack's table prefix defaults to the stage's own (the same names the CLI tools use).
    assert sam["Parameters"]["TablePrefix"]["Default"] == package.stage_environment(stage)["TABLE_PREFIX"]


def test_the_schedule_starts_a_clock_a_minute_and_a_slow_one_still_ends_within_express_limit(
        sam: dict[str, Any]) -> None:
    """QueueTick starts one clock execution a minute, whose rounds cover that minute; if every step of every
    round ran to ClockStep's timeout, the execution would still end within an Express execution's 5 minutes."""
    tick = sam["Resources"]["QueueTick"]["Properties"]
    assert [e["Properties"]["Schedule"] for e in tick["Events"].values()] == ["rate(1 minute)"]
    variables, defaults = tick["Environment"]["Variables"], _int_defaults()

    def setting(name: str) -> int:
        return int(variables.get(name, defaults[name]))

    assert setting("CLOCK_PERIOD_SECONDS") == 60
    rounds = ticks.rounds(setting("CLOCK_PERIOD_SECONDS"), setting("CLOCK_ROUND_SECONDS"),
                          setting("CLOCK_TICK_SECONDS"), TIMER_SHARDS)
    assert sum(r["wait_seconds"] for r in rounds) == 60
    step_timeout = sam["Resources"]["ClockStep"]["Properties"]["Timeout"]
    assert sum(r["wait_seconds"] + step_timeout for r in rounds) <= 5 * 60


def test_only_the_searching_functions_roles_may_call_the_search_domain(sam: dict[str, Any]) -> None:
    (domain,) = resources(sam, "AWS::OpenSearchService::Domain").values()
    props = domain["Properties"]
    assert props["EncryptionAtRestOptions"] == {"Enabled": True}
    assert props["NodeToNodeEncryptionOptions"] == {"Enabled": True}
    assert props["DomainEndpointOptions"]["EnforceHTTPS"] is True
    assert props["ClusterConfig"]["InstanceType"] == {"Ref": "SearchInstanceType"}
    assert sam["Parameters"]["SearchInstanceType"]["Default"] == "t3.small.search"
    # Production's default: two data nodes in two Availability Zones (a dev stack passes SearchInstanceCount=1).
    assert sam["Parameters"]["SearchInstanceCount"]["Default"] == 2
    assert props["ClusterConfig"]["InstanceCount"] == {"Ref": "SearchInstanceCount"}
    assert props["ClusterConfig"]["ZoneAwarenessEnabled"] == {"Fn::If": ["SearchMultiNode", True, False]}
    assert props["ClusterConfig"]["ZoneAwarenessConfig"]["Fn::If"][1] == {"AvailabilityZoneCount": 2}
    assert sam["Conditions"]["SearchMultiNode"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "SearchInstanceCount"}, "1"]}]}
    (statement,) = props["AccessPolicies"]["Statement"]
    assert statement["Principal"] == {"AWS": [{"Fn::GetAtt": ["APIHandlerRole", "Arn"]},
                                              {"Fn::GetAtt": ["WebsocketMessageRole", "Arn"]},
                                              {"Fn::GetAtt": ["FaqReindexRole", "Arn"]},
                                              {"Fn::GetAtt": ["SessionsStreamRole", "Arn"]}]}
    assert statement["Action"] == "es:ESHttp*"
    assert statement["Effect"] == "Allow"
    domain_arn = statement["Resource"]["Fn::Sub"]
    assert domain_arn.endswith("domain/" + props["DomainName"]["Fn::Sub"] + "/*")
    for role in ("WebsocketMessageRole", "APIHandlerRole", "FaqReindexRole", "SessionsStreamRole"):
        role_statements = sam["Resources"][role]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
        search = [s for s in role_statements if any(a.startswith("es:") for a in s.get("Action", []))]
        assert len(search) == 1
        assert search[0]["Resource"] == {"Fn::Sub": domain_arn}


def test_the_reindex_job_runs_in_its_own_function_for_up_to_15_minutes_started_by_name(sam: dict[str, Any]) -> None:
    """POST /faqs/reindex (APIHandler, 29 s at most behind API Gateway) invokes FaqReindex asynchronously by the
    name every function's FAQ_REINDEX_FUNCTION holds; the job itself may run for Lambda's longest timeout."""
    job = sam["Resources"]["FaqReindex"]["Properties"]
    assert job["Handler"] == "chalicelib.edge.faq.faq_reindex"
    assert job["Timeout"] == build.REINDEX_TIMEOUT_SECONDS == 900
    assert job["MemorySize"] >= 1769  # a second vCPU for the embedding's two threads
    for name, function in resources(sam, "AWS::Serverless::Function").items():
        assert function["Properties"]["Environment"]["Variables"]["FAQ_REINDEX_FUNCTION"] == job["FunctionName"], name
    assert sam["Resources"]["APIHandler"]["Properties"]["Timeout"] < 29
    statements = sam["Resources"]["APIHandlerRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
    (invoke,) = [s for s in statements if s.get("Action") == "lambda:InvokeFunction"]
    assert invoke["Resource"]["Fn::Sub"].endswith(":function:" + job["FunctionName"]["Fn::Sub"])


def test_the_buckets_are_private_and_pages_and_media_are_served_by_cloudfront_only(sam: dict[str, Any]) -> None:
    buckets = resources(sam, "AWS::S3::Bucket")
    # the pages, the FAQ classifier's snapshot, and the images sent in chats
    assert set(buckets) == {"WebBucket", "FaqModelBucket", "MediaBucket"}
    for bucket in buckets.values():
        block = bucket["Properties"]["PublicAccessBlockConfiguration"]
        assert block == {"BlockPublicAcls": True, "BlockPublicPolicy": True, "IgnorePublicAcls": True,
                         "RestrictPublicBuckets": True}
    policies = {p["Properties"]["Bucket"]["Ref"]: p for p in resources(sam, "AWS::S3::BucketPolicy").values()}
    assert set(policies) == {"WebBucket", "MediaBucket"}
    readable = {"WebBucket": "${WebBucket.Arn}/*", "MediaBucket": "${MediaBucket.Arn}/media/*"}
    for bucket_id, policy in policies.items():
        allows = [s for s in policy["Properties"]["PolicyDocument"]["Statement"] if s["Effect"] == "Allow"]
        assert [s["Principal"] for s in allows] == [{"Service": "cloudfront.amazonaws.com"}]
        assert allows[0]["Action"] == "s3:GetObject"
        assert allows[0]["Resource"] == {"Fn::Sub": readable[bucket_id]}
        assert "AWS:SourceArn" in allows[0]["Condition"]["StringEquals"]
    (distribution,) = resources(sam, "AWS::CloudFront::Distribution").values()
    config = distribution["Properties"]["DistributionConfig"]
    origins = {o["Id"]: o for o in config["Origins"]}
    for origin_id, bucket_id in (("web", "WebBucket"), ("media", "MediaBucket")):
        assert origins[origin_id]["DomainName"] == {"Fn::GetAtt": [bucket_id, "RegionalDomainName"]}
        assert "OriginAccessControlId" in origins[origin_id]
    assert config["DefaultCacheBehavior"]["ViewerProtocolPolicy"] == "redirect-to-https"
    # The pages call their own origin: /api/... (REST stage "api") and /ws (WebSocket); images are /media/...
    behaviors = {b["PathPattern"]: b["TargetOriginId"] for b in config["CacheBehaviors"]}
    assert behaviors == {"/api/*": "rest", "/ws": "websocket", "/media/*": "media"}
    media = next(b for b in config["CacheBehaviors"] if b["PathPattern"] == "/media/*")
    assert media["AllowedMethods"] == ["GET", "HEAD"]
    assert sam["Resources"]["RestAPI"]["Properties"]["StageName"] == build.REST_STAGE
    assert sam["Resources"]["WebsocketAPIStage"]["Properties"]["StageName"] == build.WS_STAGE
    # The REST handler writes images and nothing else there; no other function touches the bucket.
    on_media = {role: [s for s in sam["Resources"][f"{role}Role"]["Properties"]["Policies"][0]["PolicyDocument"][
        "Statement"] if "MediaBucket" in json.dumps(s)] for role in build.FUNCTIONS}
    assert on_media.pop("APIHandler") == [{"Effect": "Allow", "Action": "s3:PutObject",
                                           "Resource": {"Fn::Sub": "${MediaBucket.Arn}/media/*"}}]
    assert all(statements == [] for statements in on_media.values())


def test_every_alarm_publishes_to_the_alerts_topic(sam: dict[str, Any]) -> None:
    alarms = resources(sam, "AWS::CloudWatch::Alarm")
    for name, alarm in alarms.items():
        assert alarm["Properties"]["AlarmActions"] == [{"Ref": "AlertsTopic"}], name
    for function in build.FUNCTIONS:
        assert f"{function}ErrorsAlarm" in alarms
        assert f"{function}ThrottlesAlarm" in alarms
    for table in TABLES:
        assert f"{table}ThrottleAlarm" in alarms
    delivery = json.dumps(alarms["DeliveryFailedAlarm"])
    assert '"ExecutionsFailed"' in delivery
    assert '{"Ref": "DeliveryStateMachine"}' in delivery
    clock = json.dumps(alarms["ClockFailedAlarm"])
    assert '"ExecutionsFailed"' in clock and '"ExecutionsTimedOut"' in clock
    assert '{"Ref": "ClockStateMachine"}' in clock
    assert not [name for name in alarms if "Lifecycle" in name]
    assert "WebSocketErrorsAlarm" in alarms
    assert "FrameErrorsAlarm" in alarms


def test_the_dashboard_shows_lambda_the_app_metrics_and_table_capacity(sam: dict[str, Any]) -> None:
    (dashboard,) = resources(sam, "AWS::CloudWatch::Dashboard").values()
    body_text = dashboard["Properties"]["DashboardBody"]["Fn::Sub"]
    body = json.loads(body_text)
    # Every ${...} names a resource, a parameter or a pseudo parameter of the stack.
    for reference in re.findall(r"\$\{([^}]+)\}", body_text):
        assert reference in sam["Resources"] or reference in sam["Parameters"] or reference.startswith("AWS::")
    text = json.dumps(body)
    for metric in ("Waiting", "LongestWait", "AgentsOnline", "ActiveSessions", "OverflowEvents"):
        assert f'MetricName=\\"{metric}\\"' in text
    assert text.count("{CustomerService,group,service} service=\\\"routing\\\"") == 5
    for function in build.FUNCTIONS:
        for metric in ("Invocations", "Errors", "Duration"):
            assert ["AWS/Lambda", metric, "FunctionName", f"${{{function}}}", {"label": function}] in [
                m for w in body["widgets"] for m in w["properties"]["metrics"]]
    for table in TABLES:
        assert f'"TableName", "${{{table}}}"' in text


# -- the zip's rules (fast: no download) ----------------------------------------------------------

def test_no_module_the_app_imports_is_trimmed() -> None:
    imported = {m.replace("_", "-").lower() for m in package.imported_modules(package.app_sources())}
    hub_only = {n.replace("_", "-").lower() for n in package.HUB_ONLY}
    assert imported & hub_only == set()
    assert {"onnxruntime", "tokenizers", "numpy", "opensearchpy", "tantivy"} <= imported


def _fake_distribution(root: Path, name: str, files: dict[str, str], requires: tuple[str, ...] = ()) -> None:
    info = root / f"{name}-1.0.dist-info"
    info.mkdir(parents=True)
    for relative, text in files.items():
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_text(text)
    (info / "METADATA").write_text("Name: " + name + "\n" + "".join(f"Requires-Dist: {r}\n" for r in requires))
    (info / "RECORD").write_text("".join(f"{f},,\n" for f in files) + f"{info.name}/RECORD,,\n")


def test_trim_removes_whole_distributions_and_the_listed_paths_only(tmp_path: Path) -> None:
    _fake_distribution(tmp_path, "huggingface_hub", {"huggingface_hub/__init__.py": "x" * 100})
    _fake_distribution(tmp_path, "botocore", {"botocore/__init__.py": "x", "botocore/data/s3.json": "{}"})
    _fake_distribution(tmp_path, "tokenizers", {"tokenizers/__init__.py": "x", "tokenizers/tests/t.py": "x"},
                       requires=("huggingface-hub>=0.16",))
    _fake_distribution(tmp_path, "onnxruntime", {"onnxruntime/__init__.py": "x", "onnxruntime/tools/a.py": "x",
                                                 "onnxruntime/capi/__pycache__/a.pyc": "x"})
    saved, done = package.trim(tmp_path)
    assert saved > 100
    assert {"huggingface_hub", "botocore"} <= set(done)
    left = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file())
    assert left == ["onnxruntime-1.0.dist-info/METADATA", "onnxruntime-1.0.dist-info/RECORD",
                    "onnxruntime/__init__.py", "tokenizers-1.0.dist-info/METADATA",
                    "tokenizers-1.0.dist-info/RECORD", "tokenizers/__init__.py"]
    package.check_requirements(tmp_path, package.PYTHON_VERSION)  # tokenizers -> huggingface-hub is expected


def test_a_requirement_trimmed_without_a_reason_fails_the_build(tmp_path: Path) -> None:
    _fake_distribution(tmp_path, "opensearch_py", {"opensearchpy/__init__.py": "x"},
                       requires=("requests<3", 'exceptiongroup; python_version < "3.11"'))
    with pytest.raises(SystemExit, match="opensearch-py requires requests"):
        package.check_requirements(tmp_path, package.PYTHON_VERSION)


def test_the_zip_is_reproducible(tmp_path: Path) -> None:
    app_zip = tmp_path / "app.zip"
    with zipfile.ZipFile(app_zip, "w") as archive:
        archive.writestr("app.py", "print('hi')\n")
        archive.writestr("chalice/app.py", "")
    deps = tmp_path / "deps"
    (deps / "pkg").mkdir(parents=True)
    (deps / "pkg" / "__init__.py").write_text("x = 1\n")
    first, second = tmp_path / "a.zip", tmp_path / "b.zip"
    size, compiled = package.write_zip(first, app_zip, deps)
    (deps / "pkg" / "__init__.py").touch()
    package.write_zip(second, app_zip, deps)
    assert first.read_bytes() == second.read_bytes()
    assert size == len("print('hi')\n") + len("x = 1\n") and compiled == 0
    assert zipfile.ZipFile(first).namelist() == ["app.py", "chalice/app.py", "pkg/__init__.py"]


def test_the_zip_carries_bytecode_that_its_runtime_reads_whatever_the_files_dates(tmp_path: Path) -> None:
    """Compiled by an interpreter of the runtime's version (this one stands in for python3.12 here): hash-based
    pycs that never check their source, so the zip's fixed dates cannot invalidate them, naming /var/task."""
    app_zip = tmp_path / "app.zip"
    with zipfile.ZipFile(app_zip, "w") as archive:
        archive.writestr("app.py", "def handler():\n    return 1\n")
        archive.writestr("chalice/app.py", "")
    deps = tmp_path / "deps"
    (deps / "pkg").mkdir(parents=True)
    (deps / "pkg" / "__init__.py").write_text("x = 1\n")
    out = tmp_path / "deployment.zip"
    _, compiled = package.write_zip(out, app_zip, deps, Path(sys.executable))
    tag = sys.implementation.cache_tag
    names = zipfile.ZipFile(out).namelist()
    assert compiled == 3
    assert {f"__pycache__/app.{tag}.pyc", f"chalice/__pycache__/app.{tag}.pyc", f"pkg/__pycache__/__init__.{tag}.pyc"} \
        <= set(names)
    unpacked = tmp_path / "task"
    zipfile.ZipFile(out).extractall(unpacked)
    pyc = (unpacked / "__pycache__" / f"app.{tag}.pyc").read_bytes()
    assert int.from_bytes(pyc[4:8], "little") == 0b01  # hash-based, source never checked
    (unpacked / "app.py").write_text("def handler():\n    return 2\n")  # a new date, even other text
    result = subprocess.run([sys.executable, "-c", "import app; print(app.handler())"], cwd=unpacked,
                            capture_output=True, text=True, check=True,
                            env={"PYTHONPATH": str(unpacked), "PYTHONDONTWRITEBYTECODE": "1"})
    assert result.stdout.strip() == "1"  # the shipped bytecode ran: the source was neither checked nor compiled


def test_bytecode_for_another_python_version_is_refused_and_none_found_means_none(
        monkeypatch: pytest.MonkeyPatch) -> None:
    other = "3.12" if sys.version_info[:2] != (3, 12) else "3.11"
    with pytest.raises(SystemExit, match=f"python{other} reads only cpython-{other.replace('.', '')}"):
        package.bytecode_python(Path(sys.executable), other)
    monkeypatch.setenv("PATH", "")
    assert package.bytecode_python(None, "3.99") is None


def test_the_embedding_functions_run_from_snapstart_behind_the_alias_api_gateway_calls(sam: dict[str, Any]) -> None:
    from chalicelib.edge.coldstart import EMBEDDING_HANDLERS

    functions = resources(sam, "AWS::Serverless::Function")
    snapstart = {name for name, f in functions.items() if "SnapStart" in f["Properties"]}
    assert snapstart == set(build.SNAPSTART_FUNCTIONS)
    # The functions that warm up at init are the ones SnapStart snapshots, and the other way round.
    assert {f["Properties"]["Handler"] for f in functions.values()} & set(EMBEDDING_HANDLERS) == \
        {functions[name]["Properties"]["Handler"] for name in snapstart}
    for name in snapstart:
        assert functions[name]["Properties"]["SnapStart"] == {"ApplyOn": "PublishedVersions"}
        assert functions[name]["Properties"]["AutoPublishAlias"] == build.SNAPSTART_ALIAS
        assert functions[name]["Properties"]["Runtime"] == package.RUNTIME  # SnapStart: python3.12 and later
    # Nothing reaches them unqualified ($LATEST never runs from a snapshot): integrations, permissions, REST URIs.
    # (Alarms and the dashboard name the function: its metrics cover every version.)
    routing = ("AWS::ApiGatewayV2::Integration", "AWS::Lambda::Permission", "AWS::Serverless::Api")
    text = json.dumps({k: v for k, v in sam["Resources"].items() if v["Type"] in routing})
    for name in snapstart:
        assert f"${{{name}.Arn}}" not in text and json.dumps({"Ref": name}) not in text
        assert f"${{{name}.Alias}}" in text or json.dumps({"Ref": f"{name}.Alias"}) in text
    integration = sam["Resources"]["WebsocketMessageAPIIntegration"]["Properties"]["IntegrationUri"]
    assert integration["Fn::Sub"][1] == {"Target": {"Ref": "WebsocketMessage.Alias"}}
    assert sam["Resources"]["APIHandlerInvokePermission"]["Properties"]["FunctionName"] == {"Ref": "APIHandler.Alias"}

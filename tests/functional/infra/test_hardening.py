"""The deployed template's guarantees: one least-privilege role per function, secrets out of the environment,
throttled and logged API stages, retained stateful resources, alarms on what Lambda's own metrics miss, logged
Express executions (infra/template.json, as infra/build.py writes it)."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from chalicelib.platform.observability import (
    FRAME_ERRORS_METRIC,
    FRAME_ERRORS_SERVICE,
    METRICS_NAMESPACE,
    ROBOT,
    SEARCH_FAILED_METRIC,
)
from chalicelib.platform.statemachines import STATE_MACHINES, TYPES
from chalicelib.tables import ALL_MODELS
from infra import build

TEMPLATE: dict[str, Any] = json.loads(build.TEMPLATE.read_text())
RESOURCES: dict[str, Any] = TEMPLATE["Resources"]

READ = {"dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query", "dynamodb:ConditionCheckItem"}
WRITE = READ | {"dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem"}
SCAN = READ | {"dynamodb:Scan"}
ROUTING = {"ConnectionsTable": WRITE, "PresenceTable": WRITE, "SessionsTable": WRITE, "AgentsTable": WRITE,
           "MembersTable": WRITE, "GroupStateTable": WRITE, "QueueTable": WRITE}
# Each function's tables, written out: a function that gains or loses a table or an action fails the test.
EXPECTED_TABLES: dict[str, dict[str, set[str]]] = {
    "WebsocketConnect": ROUTING,
    "WebsocketDisconnect": ROUTING,
    "ClockStep": ROUTING,
    "QueueTick": {},
    "DeliveryStep": {**ROUTING, "MessagesTable": WRITE},
    "WebsocketMessage": {**ROUTING, "MessagesTable": WRITE, "TicketsTable": WRITE, "FaqsTable": SCAN,
                         "RobotSettingsTable": READ, "LimitsTable": WRITE, "LearningTable": WRITE},
    "APIHandler": {"PresenceTable": READ, "SessionsTable": WRITE, "MessagesTable": READ, "AgentsTable": READ,
                   "MembersTable": READ, "GroupStateTable": READ, "QueueTable": READ, "TicketsTable": WRITE,
                   "FaqsTable": SCAN | WRITE, "RobotSettingsTable": WRITE, "LimitsTable": WRITE,
                   "IdempotencyTable": WRITE, "FaqJobsTable": WRITE, "CannedRepliesTable": WRITE,
                   "ReportsTable": READ, "LearningTable": WRITE},
    "FaqReindex": {"FaqsTable": SCAN, "FaqJobsTable": WRITE},
    "SessionsStream": {"ReportsTable": WRITE, "MessagesTable": READ},
}
LOGS = {(a, "log-group:/aws/lambda/*") for a in ("logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents")}
CONFIG = {("ssm:GetParametersByPath", "parameter/${TablePrefix}/config")}
POST = {("execute-api:ManageConnections", "${WebsocketAPI}/*/*/@connections/*")}
ALERTS = {("sns:Publish", "AlertsTopic")}
ROUTING_GRANTS = LOGS | CONFIG | POST | ALERTS
START_CLOCK = {("states:StartExecution", "stateMachine:${TablePrefix}-clock")}
START_DELIVERY = {("states:StartExecution", "stateMachine:${TablePrefix}-delivery")}
VISITOR_KEY = {("secretsmanager:GetSecretValue", "VisitorTokenSecret")}
SEARCH = {(f"es:ESHttp{m}", "domain/${TablePrefix}-faq/*") for m in ("Get", "Head", "Post")}
FAQ_MODEL = {("s3:GetObject", "FaqModelBucket/*"), ("s3:PutObject", "FaqModelBucket/*"),
             ("s3:ListBucket", "FaqModelBucket")}
SEARCH_ADMIN = SEARCH | {(f"es:ESHttp{m}", "domain/${TablePrefix}-faq/*") for m in ("Put", "Delete")}
START_REINDEX = {("lambda:InvokeFunction", "function:${TablePrefix}-faq-reindex")}
COMMERCE_TOKEN = {("secretsmanager:GetSecretValue", "CommerceTokenSecret if CommerceTokenGiven")}
# The Chinese model's one object, read at init by the functions that match questions (docs/deploy.md).
CHINESE_MODEL = {("s3:GetObject", "arn:${AWS::Partition}:s3:::${ChineseModelBucket}/${ChineseModelKey} "
                                  "if ChineseModelGiven")}
EXPECTED_OTHER: dict[str, set[tuple[str, str]]] = {
    "WebsocketConnect": ROUTING_GRANTS | VISITOR_KEY,
    "WebsocketDisconnect": ROUTING_GRANTS,
    "ClockStep": ROUTING_GRANTS,
    "QueueTick": LOGS | START_CLOCK,
    "DeliveryStep": ROUTING_GRANTS,
    # The robot reads the shop's orders (order self-service) with the shop's token.
    "WebsocketMessage": ROUTING_GRANTS | SEARCH | FAQ_MODEL | CHINESE_MODEL | START_DELIVERY | COMMERCE_TOKEN,
    "APIHandler": LOGS | CONFIG | VISITOR_KEY | FAQ_MODEL | CHINESE_MODEL | SEARCH_ADMIN | START_REINDEX
    | COMMERCE_TOKEN | {("s3:PutObject", "MediaBucket/media/*")},
    # The reindex job: the index and the classifier's snapshot; no configuration, no @connections.
    "FaqReindex": LOGS | FAQ_MODEL | CHINESE_MODEL | SEARCH_ADMIN,
    # The stream's consumers: what Lambda's poller reads of the sessions stream, and the conversation index (it
    # creates the index with its mapping on its first write); no session, no configuration.
    "SessionsStream": LOGS | SEARCH_ADMIN | {(a, "SessionsTable") for a in (
        "dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator", "dynamodb:ListStreams")},
}


def label(resource: Any) -> str:
    """A policy resource, short: a logical id, or an ARN's tail with the stack's own names kept."""
    if isinstance(resource, str):  # "*": the calls that take no resource (a state machine's log delivery)
        return resource
    if "Fn::GetAtt" in resource:
        return str(resource["Fn::GetAtt"][0])
    if "Ref" in resource:
        return str(resource["Ref"])
    text = re.sub(r"^arn:\$\{AWS::Partition\}:[a-z-]+:\$\{AWS::Region\}:\$\{AWS::AccountId\}:", "",
                  resource["Fn::Sub"])
    return re.sub(r"\$\{(\w+)\.Arn\}", r"\1", text)


def permissions(role: str) -> set[tuple[str, str]]:
    """Every (action, resource) a role's policies allow."""
    out: set[tuple[str, str]] = set()
    for policy in RESOURCES[role]["Properties"].get("Policies", []):  # none on a role with managed policies only
        for statement in policy["PolicyDocument"]["Statement"]:
            condition = ""
            if "Fn::If" in statement:  # a statement that exists only under a stack condition
                name, statement, otherwise = statement["Fn::If"]
                assert otherwise == {"Ref": "AWS::NoValue"}
                condition = f" if {name}"
            assert statement["Effect"] == "Allow"
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
            out |= {(a, label(r) + condition) for a in actions for r in resources}
    return out


def expected(function: str) -> set[tuple[str, str]]:
    out = set(EXPECTED_OTHER[function])
    for table, actions in EXPECTED_TABLES[function].items():
        out |= {(a, table) for a in actions}
        if RESOURCES[table]["Properties"].get("GlobalSecondaryIndexes"):
            out |= {(a, f"{table}/index/*") for a in actions}
    return out


@pytest.mark.parametrize("function", build.FUNCTIONS)
def test_each_function_has_its_own_role_with_exactly_its_permissions(function: str) -> None:
    assert RESOURCES[function]["Properties"]["Role"] == {"Fn::GetAtt": [f"{function}Role", "Arn"]}
    role = RESOURCES[f"{function}Role"]
    assert role["Type"] == "AWS::IAM::Role"
    (trust,) = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "lambda.amazonaws.com"}
    allowed = permissions(f"{function}Role")
    assert sorted(allowed - expected(function)) == [], "gained"
    assert sorted(expected(function) - allowed) == [], "lost"


def test_no_role_is_shared_and_no_wildcard_reaches_a_table() -> None:
    roles = [RESOURCES[f]["Properties"]["Role"]["Fn::GetAtt"][0] for f in build.FUNCTIONS]
    assert len(set(roles)) == len(build.FUNCTIONS)
    assert "DefaultRole" not in RESOURCES
    for function in build.FUNCTIONS:
        for action, resource in permissions(f"{function}Role"):
            assert "*" not in action, (function, action)
            assert resource != "*", (function, action)


def test_every_table_is_used_by_some_function_and_an_unused_one_stops_the_build() -> None:
    tables = {k for k, v in RESOURCES.items() if v.get("Type") == "AWS::DynamoDB::Table"}
    used = {t for f in build.FUNCTIONS for _, t in permissions(f"{f}Role") if t in tables}
    assert used == tables
    resources = {k: RESOURCES[k] for k in tables}
    stray = {"Type": "AWS::DynamoDB::Table", "Properties": {"TableName": {"Fn::Sub": "${TablePrefix}-stray"}}}
    with pytest.raises(SystemExit, match="stray"):
        build.function_roles({**resources, "StrayTable": stray})


def test_only_the_minute_schedule_starts_the_clock_and_no_function_stops_an_execution() -> None:
    """Sessions' timers are due times the clock sweeps: no function starts or stops an execution per session."""
    calls = {(f, action, resource) for f in build.FUNCTIONS for action, resource in permissions(f"{f}Role")
             if action.startswith("states:")}
    assert calls == {("QueueTick", *next(iter(START_CLOCK))), ("WebsocketMessage", *next(iter(START_DELIVERY)))}
    # The schedule's function only starts the clock: no table, no @connections, no configuration.
    assert permissions("QueueTickRole") == LOGS | START_CLOCK


def test_the_clock_step_invokes_nothing_and_only_the_clock_machine_invokes_it() -> None:
    roles = {k for k, v in RESOURCES.items() if v.get("Type") == "AWS::IAM::Role"}
    invokers = {role: {r for a, r in permissions(role) if a == "lambda:InvokeFunction"} for role in roles}
    assert {role for role, targets in invokers.items() if "ClockStep" in targets} == {"ClockStateMachineRole"}
    # The one function that invokes another: the REST API starts the reindex job's function (by its name).
    assert {f: invokers[f"{f}Role"] for f in build.FUNCTIONS if invokers[f"{f}Role"]} == {
        "APIHandler": {"function:${TablePrefix}-faq-reindex"}}
    assert not {a for a, _ in permissions("ClockStepRole") if a.startswith(("states:", "lambda:"))}


@pytest.mark.parametrize("name", list(STATE_MACHINES))
def test_each_state_machine_may_invoke_exactly_the_lambdas_its_definition_names(name: str) -> None:
    machine = f"{name.capitalize()}StateMachine"
    named = {v["Fn::GetAtt"][0] for v in RESOURCES[machine]["Properties"]["DefinitionSubstitutions"].values()
             if "Fn::GetAtt" in v}
    allowed = {r for a, r in permissions(f"{machine}Role") if a == "lambda:InvokeFunction"}
    assert named and allowed == named
    assert not {a for a, _ in permissions(f"{machine}Role") if a.startswith("states:")}


def test_only_the_functions_that_search_may_call_the_search_domain() -> None:
    (statement,) = RESOURCES["SearchDomain"]["Properties"]["AccessPolicies"]["Statement"]
    principals = {p["Fn::GetAtt"][0] for p in statement["Principal"]["AWS"]}
    assert principals == {"WebsocketMessageRole", "APIHandlerRole", "FaqReindexRole", "SessionsStreamRole"}
    searching = {f"{f}Role" for f in build.FUNCTIONS if any(a.startswith("es:") for a, _ in permissions(f"{f}Role"))}
    assert searching == principals


# -- secrets ----------------------------------------------------------------------------------------

def test_secrets_are_not_in_any_functions_environment() -> None:
    for function in build.FUNCTIONS:
        variables = RESOURCES[function]["Properties"]["Environment"]["Variables"]
        text = json.dumps(variables)
        assert "VISITOR_TOKEN_SECRET" not in variables and "COMMERCE_TOKEN" not in variables, function
        assert "resolve:secretsmanager" not in text and "CommerceToken\"" not in text, function
        # The functions get the secrets' ids and read them through chalicelib/platform/secrets.py.
        assert variables["VISITOR_TOKEN_SECRET_ID"] == {"Ref": "VisitorTokenSecret"}
        assert variables["COMMERCE_TOKEN_SECRET_ID"] == {
            "Fn::If": ["CommerceTokenGiven", {"Ref": "CommerceTokenSecret"}, ""]}
    commerce = RESOURCES["CommerceTokenSecret"]
    assert commerce["Type"] == "AWS::SecretsManager::Secret"
    assert commerce["Condition"] == "CommerceTokenGiven"
    assert commerce["Properties"]["SecretString"] == {"Ref": "CommerceToken"}
    assert TEMPLATE["Parameters"]["CommerceToken"]["NoEcho"] is True


# -- retention --------------------------------------------------------------------------------------

def test_every_stateful_resource_is_retained_on_delete_and_on_replacement() -> None:
    stateful_types = {"AWS::DynamoDB::Table", "AWS::OpenSearchService::Domain", "AWS::Cognito::UserPool",
                      "AWS::SecretsManager::Secret"}
    stateful = {k for k, v in RESOURCES.items() if v.get("Type") in stateful_types} | {"MediaBucket"}
    assert len([k for k in stateful if k.endswith("Table")]) == len(ALL_MODELS)
    assert {"SearchDomain", "AgentUserPool", "VisitorTokenSecret", "CommerceTokenSecret", "MediaBucket"} <= stateful
    for name in stateful:
        assert RESOURCES[name]["DeletionPolicy"] == "Retain", name
        assert RESOURCES[name]["UpdateReplacePolicy"] == "Retain", name


# -- API stages -------------------------------------------------------------------------------------

def test_the_rest_stage_is_throttled_and_logs_every_request() -> None:
    rest = RESOURCES["RestAPI"]
    (method,) = rest["Properties"]["MethodSettings"]
    assert (method["ResourcePath"], method["HttpMethod"]) == ("/*", "*")
    assert method["ThrottlingRateLimit"] == {"Ref": "RestThrottleRate"}
    assert method["ThrottlingBurstLimit"] == {"Ref": "RestThrottleBurst"}
    access = rest["Properties"]["AccessLogSetting"]
    assert access["DestinationArn"] == {"Fn::GetAtt": ["RestAccessLogs", "Arn"]}
    assert json.loads(access["Format"])["status"] == "$context.status"
    assert rest["DependsOn"] == "ApiGatewayAccount"


def test_the_websocket_stage_is_throttled_and_logs_every_event_without_the_token() -> None:
    stage = RESOURCES["WebsocketAPIStage"]
    assert stage["Properties"]["DefaultRouteSettings"] == {"ThrottlingRateLimit": {"Ref": "WebSocketThrottleRate"},
                                                           "ThrottlingBurstLimit": {"Ref": "WebSocketThrottleBurst"}}
    access = stage["Properties"]["AccessLogSettings"]
    assert access["DestinationArn"] == {"Fn::GetAtt": ["WebSocketAccessLogs", "Arn"]}
    fields = json.loads(access["Format"])
    assert {"route", "eventType", "connectionId", "status"} <= set(fields)
    assert "querystring" not in access["Format"].lower()  # ?token=... stays out of the logs
    assert stage["DependsOn"] == "ApiGatewayAccount"
    for parameter in ("RestThrottleRate", "RestThrottleBurst", "WebSocketThrottleRate", "WebSocketThrottleBurst"):
        assert TEMPLATE["Parameters"][parameter]["Type"] == "Number"
    for group in ("RestAccessLogs", "WebSocketAccessLogs"):
        assert RESOURCES[group]["Properties"]["RetentionInDays"] == build.LOG_RETENTION_DAYS
    account = RESOURCES["ApiGatewayAccount"]["Properties"]
    assert account["CloudWatchRoleArn"] == {"Fn::GetAtt": ["ApiGatewayCloudWatchRole", "Arn"]}


# -- errors that Lambda's metrics miss --------------------------------------------------------------

def test_frame_errors_are_alarmed_on_the_metric_the_app_emits() -> None:
    alarm = RESOURCES["FrameErrorsAlarm"]["Properties"]
    assert (alarm["Namespace"], alarm["MetricName"]) == (METRICS_NAMESPACE, FRAME_ERRORS_METRIC)
    assert alarm["Dimensions"] == [{"Name": "service", "Value": FRAME_ERRORS_SERVICE}]
    assert alarm["Threshold"] == 1
    assert alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
    assert alarm["AlarmActions"] == [{"Ref": "AlertsTopic"}]


def test_failed_searches_are_alarmed_on_the_metric_the_robot_emits() -> None:
    alarm = RESOURCES["SearchFailedAlarm"]["Properties"]
    assert (alarm["Namespace"], alarm["MetricName"]) == (METRICS_NAMESPACE, SEARCH_FAILED_METRIC)
    assert alarm["Dimensions"] == [{"Name": "service", "Value": ROBOT}]
    assert alarm["Threshold"] == build.SEARCH_FAILURES_ALARMED
    assert alarm["AlarmActions"] == [{"Ref": "AlertsTopic"}]


@pytest.mark.parametrize("name", list(STATE_MACHINES))
def test_each_state_machine_has_its_type_and_an_alarm_on_failed_executions(name: str) -> None:
    machine = f"{name.capitalize()}StateMachine"
    assert RESOURCES[machine]["Properties"]["StateMachineType"] == TYPES[name]
    alarm = RESOURCES[f"{name.capitalize()}FailedAlarm"]["Properties"]
    metrics = [m["MetricStat"]["Metric"] for m in alarm["Metrics"] if "MetricStat" in m]
    assert {m["MetricName"] for m in metrics} == {"ExecutionsFailed", "ExecutionsTimedOut"}
    assert all(m["Dimensions"] == [{"Name": "StateMachineArn", "Value": {"Ref": machine}}] for m in metrics)
    assert alarm["AlarmActions"] == [{"Ref": "AlertsTopic"}]


def test_the_clock_is_an_express_machine_that_logs_its_errors() -> None:
    # Started once a minute and done within it: billed by duration, its failures known only from its log.
    clock = RESOURCES["ClockStateMachine"]["Properties"]
    assert clock["StateMachineType"] == "EXPRESS"
    assert clock["LoggingConfiguration"]["Level"] == "ERROR"
    assert "LifecycleStateMachine" not in RESOURCES


@pytest.mark.parametrize("name", [n for n in STATE_MACHINES if TYPES[n] == "EXPRESS"])
def test_express_executions_log_their_errors(name: str) -> None:
    machine = f"{name.capitalize()}StateMachine"
    logging = RESOURCES[machine]["Properties"]["LoggingConfiguration"]
    assert logging["Level"] == "ERROR"
    (destination,) = logging["Destinations"]
    group = destination["CloudWatchLogsLogGroup"]["LogGroupArn"]["Fn::GetAtt"][0]
    assert RESOURCES[group]["Type"] == "AWS::Logs::LogGroup"
    assert RESOURCES[group]["Properties"]["LogGroupName"]["Fn::Sub"].startswith("/aws/vendedlogs/states/")
    # Step Functions delivers the log through CloudWatch Logs' vended delivery, with the machine's role.
    statements = RESOURCES[f"{machine}Role"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
    delivery = [s for s in statements if "logs:CreateLogDelivery" in s["Action"]]
    assert len(delivery) == 1
    assert {"logs:PutResourcePolicy", "logs:DescribeLogGroups", "logs:GetLogDelivery"} <= set(delivery[0]["Action"])


@pytest.mark.parametrize("function", build.FUNCTIONS)
def test_each_function_is_traced_and_its_role_may_send_traces_and_nothing_more(function: str) -> None:
    assert RESOURCES[function]["Properties"]["Tracing"] == "Active"
    role = RESOURCES[f"{function}Role"]["Properties"]
    # AWS's write-only X-Ray policy (PutTraceSegments, PutTelemetryRecords, sampling rules), never a wider one.
    assert role["ManagedPolicyArns"] == [{"Fn::Sub": "arn:${AWS::Partition}:iam::aws:policy/AWSXRayDaemonWriteAccess"}]

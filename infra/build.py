"""Writes infra/template.json, the CloudFormation merged into ``chalice package``.

The template is generated so that nothing in it is written twice: tables come from the pynamodb
models (chalicelib/platform/tables.py) and the state machines from their ASL files. A test checks that
the checked-in template is what this script writes: ``python -m infra.build`` after changing either.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
os.environ.setdefault("TABLE_PREFIX", "cs-template")

from chalicelib.config.documents import DOCUMENTS
from chalicelib.platform.statemachines import STATE_MACHINES, definition
from chalicelib.platform.tables import ALL_MODELS, ttl_attribute

TEMPLATE = Path(__file__).resolve().parent / "template.json"
FUNCTIONS = ("APIHandler", "WebsocketConnect", "WebsocketMessage", "WebsocketDisconnect", "DeliveryStep",
             "QueueTick")
CONFIG_DIR = Path(__file__).resolve().parents[1] / "config"
WS_STAGE = "api"  # Chalice names the WebSocket stage after api_gateway_stage
# Referenced by name, not Ref: the state machine invokes a Lambda whose role may start it (a cycle otherwise).
STATE_MACHINE_ARN = "arn:${AWS::Partition}:states:${AWS::Region}:${AWS::AccountId}:stateMachine:${TablePrefix}-%s"
COGNITO_ISSUER = "https://cognito-idp.${AWS::Region}.amazonaws.com/${AgentUserPool}"


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
    ttl = ttl_attribute(model)
    if ttl:
        props["TimeToLiveSpecification"] = {"AttributeName": ttl, "Enabled": True}
    return logical_id(model.Meta.table_name), {"Type": "AWS::DynamoDB::Table", "Properties": props}


def table_arns(ids: list[str]) -> list[Any]:
    arns: list[Any] = []
    for table in ids:
        arns += [{"Fn::GetAtt": [table, "Arn"]}, {"Fn::Sub": f"${{{table}.Arn}}/index/*"}]
    return arns


def build() -> dict[str, Any]:
    resources: dict[str, Any] = dict(table_resource(m) for m in ALL_MODELS)
    tables = list(resources)
    substitutions = {"MessagesTable": {"Ref": "MessagesTable"},
                     "DeliveryStepFunctionArn": {"Fn::GetAtt": ["DeliveryStep", "Arn"]}}
    for name in STATE_MACHINES:
        machine = f"{name.capitalize()}StateMachine"
        placeholders = {k: f"${{{k}}}" for k in substitutions}
        resources[machine] = {"Type": "AWS::StepFunctions::StateMachine", "Properties": {
            "StateMachineName": {"Fn::Sub": f"${{TablePrefix}}-{name}"},
            "StateMachineType": "EXPRESS",
            "Definition": definition(name, placeholders),
            "DefinitionSubstitutions": substitutions,
            "RoleArn": {"Fn::GetAtt": [f"{machine}Role", "Arn"]},
        }}
        resources[f"{machine}Role"] = {"Type": "AWS::IAM::Role", "Properties": {
            "AssumeRolePolicyDocument": {"Version": "2012-10-17", "Statement": [{
                "Effect": "Allow", "Principal": {"Service": "states.amazonaws.com"}, "Action": "sts:AssumeRole"}]},
            "Policies": [{"PolicyName": "delivery", "PolicyDocument": {"Version": "2012-10-17", "Statement": [
                {"Effect": "Allow", "Action": "dynamodb:GetItem", "Resource": {"Fn::GetAtt": ["MessagesTable", "Arn"]}},
                {"Effect": "Allow", "Action": "lambda:InvokeFunction",
                 "Resource": {"Fn::GetAtt": ["DeliveryStep", "Arn"]}},
            ]}}],
        }}
    resources["VisitorTokenSecret"] = {"Type": "AWS::SecretsManager::Secret", "Properties": {
        "Description": "HS256 secret for visitor tokens",
        "GenerateSecretString": {"PasswordLength": 48, "ExcludePunctuation": True}}}
    resources["AgentUserPool"] = {"Type": "AWS::Cognito::UserPool", "Properties": {
        "UserPoolName": {"Fn::Sub": "${TablePrefix}-agents"},
        "AdminCreateUserConfig": {"AllowAdminCreateUserOnly": True},
        "Policies": {"PasswordPolicy": {"MinimumLength": 12, "RequireLowercase": True, "RequireNumbers": True,
                                        "RequireUppercase": True, "RequireSymbols": False}}}}
    resources["AgentUserPoolClient"] = {"Type": "AWS::Cognito::UserPoolClient", "Properties": {
        "UserPoolId": {"Ref": "AgentUserPool"}, "GenerateSecret": False,
        "ExplicitAuthFlows": ["ALLOW_USER_SRP_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"]}}
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
    resources["AlertsTopic"] = {"Type": "AWS::SNS::Topic", "Properties": {
        "TopicName": {"Fn::Sub": "${TablePrefix}-alerts"}, "DisplayName": "Customer service alerts"}}
    env = {
        "TABLE_PREFIX": {"Ref": "TablePrefix"},
        "CONFIG_PATH": {"Fn::Sub": "/${TablePrefix}/config"},
        "ALERTS_TOPIC_ARN": {"Ref": "AlertsTopic"},
        "DELIVERY_STATE_MACHINE_ARN": {"Fn::Sub": STATE_MACHINE_ARN % "delivery"},
        "WS_ENDPOINT": {"Fn::Sub": f"https://${{WebsocketAPI}}.execute-api.${{AWS::Region}}.amazonaws.com/{WS_STAGE}"},
        "VISITOR_TOKEN_SECRET": {"Fn::Sub": "{{resolve:secretsmanager:${VisitorTokenSecret}:SecretString}}"},
        "AGENT_TOKEN_ISSUER": {"Fn::Sub": COGNITO_ISSUER},
        "AGENT_JWKS_URL": {"Fn::Sub": COGNITO_ISSUER + "/.well-known/jwks.json"},
        "AGENT_TOKEN_AUDIENCE": {"Ref": "AgentUserPoolClient"},
    }
    for function in FUNCTIONS:
        resources[function] = {"Properties": {"Environment": {"Variables": env}}}
    # Least privilege for the Chalice functions (replaces Chalice's generated policy).
    resources["DefaultRole"] = {"Properties": {"Policies": [{"PolicyName": "DefaultRolePolicy", "PolicyDocument": {
        "Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
             "Resource": "arn:*:logs:*:*:*"},
            {"Effect": "Allow", "Action": ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem",
                                           "dynamodb:DeleteItem", "dynamodb:Query", "dynamodb:BatchWriteItem",
                                           "dynamodb:BatchGetItem", "dynamodb:ConditionCheckItem"],
             "Resource": table_arns(tables)},
            # The knowledge base's admin listing, export and full reindex read the whole FAQ table.
            {"Effect": "Allow", "Action": "dynamodb:Scan", "Resource": {"Fn::GetAtt": ["FaqsTable", "Arn"]}},
            {"Effect": "Allow", "Action": "ssm:GetParametersByPath",
             "Resource": {"Fn::Sub": "arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:"
                                     "parameter/${TablePrefix}/config"}},
            {"Effect": "Allow", "Action": "sns:Publish", "Resource": {"Ref": "AlertsTopic"}},
            {"Effect": "Allow", "Action": "states:StartExecution",
             "Resource": {"Fn::Sub": STATE_MACHINE_ARN % "delivery"}},
            {"Effect": "Allow", "Action": "execute-api:ManageConnections",
             "Resource": {"Fn::Sub": "arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}:"
                                     "${WebsocketAPI}/*/*/@connections/*"}},
        ]}}]}}
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": "Customer service: tables, delivery state machine, configuration, alerts, agent sign-in "
                       "(merged into chalice package)",
        "Parameters": {"TablePrefix": {"Type": "String", "Default": "cs-prod", "AllowedPattern": "[a-z0-9-]+"}},
        "Resources": resources,
        "Outputs": {
            "WebSocketURL": {"Value": {"Fn::Sub": f"wss://${{WebsocketAPI}}.execute-api.${{AWS::Region}}.amazonaws.com/{WS_STAGE}"}},
            "AgentUserPoolId": {"Value": {"Ref": "AgentUserPool"}},
            "AgentUserPoolClientId": {"Value": {"Ref": "AgentUserPoolClient"}},
            "DeliveryStateMachineArn": {"Value": {"Ref": "DeliveryStateMachine"}},
            "AlertsTopicArn": {"Value": {"Ref": "AlertsTopic"}},
        },
    }


def render() -> str:
    return json.dumps(build(), indent=2) + "\n"


if __name__ == "__main__":
    TEMPLATE.write_text(render())
    print(f"wrote {TEMPLATE}")

"""Lambda's asynchronous invoke (chalicelib/platform/invoke.py) against moto: the event goes as JSON with
InvocationType Event, and Lambda's refusal becomes the platform's own InvokeFailed."""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any

import pytest
from botocore.stub import Stubber

from chalicelib.platform import aws as clients
from chalicelib.platform.invoke import InvokeFailed, LambdaInvoker


def test_lambdas_refusal_is_invoke_failed(aws: None) -> None:
    # moto queues an Event invoke of any name, so Lambda's answer for a missing function is stubbed.
    with Stubber(clients.client("lambda")) as stub:
        stub.add_client_error("invoke", "ResourceNotFoundException", "Function not found", 404)
        with pytest.raises(InvokeFailed, match=r"cs-test-faq-reindex could not be started: .*Function not found"):
            LambdaInvoker().invoke("cs-test-faq-reindex", {"job_id": "j1"})


def test_an_existing_function_is_invoked_asynchronously_with_the_event_as_json(aws: None) -> None:
    role = clients.client("iam").create_role(RoleName="job", AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": []}))["Role"]["Arn"]
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as z:
        z.writestr("app.py", "def handler(event, context):\n    return event\n")
    lam = clients.client("lambda")
    lam.create_function(FunctionName="cs-test-faq-reindex", Runtime="python3.12", Role=role, Handler="app.handler",
                        Code={"ZipFile": code.getvalue()})
    sent: list[dict[str, Any]] = []
    lam.meta.events.register("provide-client-params.lambda.Invoke", lambda params, **_: sent.append(dict(params)))
    LambdaInvoker().invoke("cs-test-faq-reindex", {"job_id": "j1"})  # accepted: Lambda queued it
    assert sent == [{"FunctionName": "cs-test-faq-reindex", "InvocationType": "Event",
                     "Payload": b'{"job_id": "j1"}'}]

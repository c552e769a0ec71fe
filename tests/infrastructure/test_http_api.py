"""The HTTP API option (`make package API=http`): its template, checked as the REST one is,
and HTTP API payload 1.0 events, built as AWS documents them, through the packaged handler."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from chalicelib.pages import PUBLIC_ROUTES
from infrastructure import stages
from infrastructure.http_api import STAGE
from infrastructure.rehearsal.aws_rules import Stack, check
from infrastructure.rehearsal.rehearse import offline_aws, transform
from tests.support import ROOT, lambda_env, unpack

Packaged = Callable[..., Path]


@pytest.fixture(scope="module")
def built(packaged: Packaged) -> Path:
    return packaged("dev", api="http")


@pytest.fixture(scope="module")
def template(built: Path) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((built / "sam.json").read_text())
    return document


def transformed(template: dict[str, Any], **parameters: str) -> Stack:
    with offline_aws("us-east-1"):
        plain = transform(template, "s3://bucket/deployment.zip", "us-east-1")
    return Stack(plain, "todo-api-dev", parameters=parameters)


def test_the_rest_api_is_replaced_and_every_route_is_a_payload_1_0_route_behind_the_authorizer(
    template: dict[str, Any],
) -> None:
    from app import app

    resources = template["Resources"]
    assert "RestAPI" not in resources
    assert resources["HttpAPI"]["Type"] == "AWS::Serverless::HttpApi"
    stack = transformed(template)
    body = stack.resolve(stack.created()["HttpAPI"]["Properties"]["Body"])
    routes = {(path, method.upper()) for path, item in body["paths"].items() for method in item}
    assert routes == {(path, method) for path, methods in app.routes.items() for method in methods}
    for item in body["paths"].values():
        for operation in item.values():
            integration = operation["x-amazon-apigateway-integration"]
            # Chalice routes the REST proxy event's shape, which only format 1.0 keeps.
            assert integration["payloadFormatVersion"] == "1.0"
    for path, item in body["paths"].items():
        for operation in item.values():
            # The web app's public files: SAM's way of saying "no authorizer" for this route.
            expected = [{"NONE": []}] if path in PUBLIC_ROUTES else [{"TodoUsers": []}]
            assert operation["security"] == expected, path
    assert check(stack) == []  # the rules the REST stack is held to, API may invoke included


def test_the_jwt_authorizer_trusts_the_stacks_pool_and_only_its_app_client(template: dict[str, Any]) -> None:
    stack = transformed(template)
    body = stack.resolve(stack.created()["HttpAPI"]["Properties"]["Body"])
    authorizer = body["components"]["securitySchemes"]["TodoUsers"]["x-amazon-apigateway-authorizer"]
    assert authorizer["type"] == "jwt"
    assert authorizer["identitySource"] == "$request.header.Authorization"
    pool_id = stack.ref("UserPool")
    assert authorizer["jwtConfiguration"] == {
        "issuer": f"https://cognito-idp.us-east-1.amazonaws.com/{pool_id}",
        "audience": [stack.ref("UserPoolClient")],
    }
    # With an existing pool (perhaps of another region): its issuer and the client named.
    existing = "arn:aws:cognito-idp:eu-west-1:123456789012:userpool/eu-west-1_Abc123"
    stack = transformed(template, ExistingUserPoolArn=existing, ExistingUserPoolClientId="client42")
    body = stack.resolve(stack.created()["HttpAPI"]["Properties"]["Body"])
    authorizer = body["components"]["securitySchemes"]["TodoUsers"]["x-amazon-apigateway-authorizer"]
    assert authorizer["jwtConfiguration"] == {
        "issuer": "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_Abc123",
        "audience": ["client42"],
    }
    assert check(stack) == []
    # CloudFormation refuses an existing pool without its client, before creating anything.
    rule = template["Rules"]["ClientOfTheExistingPool"]
    assert rule["RuleCondition"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "ExistingUserPoolArn"}, ""]}]}


def test_cors_logs_throttling_and_alarms_as_on_the_rest_stage(
    template: dict[str, Any], packaged: Packaged
) -> None:
    from app import cors

    api = template["Resources"]["HttpAPI"]["Properties"]
    sent = cors.get_access_control_headers()
    assert api["CorsConfiguration"]["AllowOrigins"] == [sent["Access-Control-Allow-Origin"]]
    assert set(api["CorsConfiguration"]["AllowHeaders"]) == set(
        sent["Access-Control-Allow-Headers"].split(",")
    )
    assert set(api["CorsConfiguration"]["ExposeHeaders"]) == set(
        sent["Access-Control-Expose-Headers"].split(",")
    )
    rest = json.loads((packaged("dev") / "sam.json").read_text())["Resources"]
    [method_settings] = rest["RestAPI"]["Properties"]["MethodSettings"]
    for key, value in api["DefaultRouteSettings"].items():
        assert method_settings[key] == value
    assert api["AccessLogSettings"]["DestinationArn"] == {"Fn::GetAtt": ["ApiAccessLogs", "Arn"]}
    resources = template["Resources"]
    days = stages.log_retention_days("dev")
    logs = [r for r in resources.values() if r["Type"] == "AWS::Logs::LogGroup"]
    assert len(logs) == 4  # the access log and each function's
    assert all(r["Properties"]["RetentionInDays"] == days for r in logs)
    # The HTTP API's own metric (AWS/ApiGateway `5xx`, by ApiId and Stage); its average is
    # the rate, as 5XXError's is on a REST API.
    rate = {m["Id"]: m for m in resources["Api5xxRate"]["Properties"]["Metrics"]}
    for name, metric in (("errors", "5xx"), ("requests", "Count")):
        watched = rate[name]["MetricStat"]["Metric"]
        assert (watched["Namespace"], watched["MetricName"]) == ("AWS/ApiGateway", metric)
        assert watched["Dimensions"] == [
            {"Name": "ApiId", "Value": {"Ref": "HttpAPI"}},
            {"Name": "Stage", "Value": STAGE},
        ]
    assert rate["held"] == {m["Id"]: m for m in rest["Api5xxRate"]["Properties"]["Metrics"]}["held"]
    alarms = {k for k, r in resources.items() if r["Type"] == "AWS::CloudWatch::Alarm"}
    assert alarms == {k for k, r in rest.items() if r["Type"] == "AWS::CloudWatch::Alarm"}
    # The same roles: the functions do the same work whichever API calls them.
    roles = {k: r for k, r in resources.items() if r["Type"] == "AWS::IAM::Role"}
    assert roles == {k: r for k, r in rest.items() if r["Type"] == "AWS::IAM::Role"}


def test_make_deploy_refuses_an_http_api_that_chalice_deploy_cannot_make() -> None:
    result = subprocess.run(
        [sys.executable, "-B", "-m", "tools.deploy", "--stage", "dev", "--api", "http"],
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=False,
        env={**os.environ, "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x"},
    )  # fmt: skip
    assert result.returncode != 0
    assert "make release API=http" in result.stderr


# --- HTTP API payload format 1.0 events through the packaged handler --------------------

API_ID = "r3pmxmplak"
HOST = f"{API_ID}.execute-api.us-east-1.amazonaws.com"
ALICE = "5d5e1b0a-1a2b-4c3d-8e9f-0a1b2c3d4e5f"
BOB = "9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a"


def http_api_event(
    method: str,
    path: str,
    *,
    sub: str = ALICE,
    token_use: str = "id",  # noqa: S107 - a claim, not a password
    body: str | None = None,
    query: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    """An HTTP API payload format 1.0 event, as AWS documents it ("Working with AWS Lambda
    proxy integrations for HTTP APIs"): the route's path in `resource` and
    `requestContext.resourcePath`, the stage `$default` (so no stage in `path`), headers
    lower-cased as HTTP/2 sends them, the JWT authorizer's claims under
    `requestContext.authorizer.claims` (every value a string)."""
    collection, _, item = path.removeprefix("/").partition("/")
    item, _, action = item.partition("/")  # /todos/{todo_id}/restore
    parameter = {"todos": "todo_id", "jobs": "job_id", "site": "name"}.get(collection, "")
    route = f"/{collection}/{{{parameter}}}" if item else f"/{collection}"
    route += f"/{action}" if action else ""
    sent = {"host": HOST, "x-forwarded-proto": "https", "content-type": "application/json", **(headers or {})}
    claims = {
        "sub": sub,
        "iss": "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_example",
        "aud" if token_use == "id" else "client_id": "exampleclient",
        "token_use": token_use,
        "auth_time": "1764633600",
        "exp": "1764637200",
        "cognito:username": "alice",
    }
    return {
        "version": "1.0",
        "resource": route,
        "path": path,
        "httpMethod": method,
        "headers": sent,
        "multiValueHeaders": {k: [v] for k, v in sent.items()},
        "queryStringParameters": query,
        "multiValueQueryStringParameters": {k: [v] for k, v in query.items()} if query else None,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": API_ID,
            "authorizer": {"claims": claims, "scopes": None},
            "domainName": HOST,
            "domainPrefix": API_ID,
            "extendedRequestId": "JTHd9j2EoAMEVfA=",
            "httpMethod": method,
            "identity": {"sourceIp": "192.0.2.1", "userAgent": "curl/8.5.0", "accessKey": None},
            "path": path,
            "protocol": "HTTP/1.1",
            "requestId": "JTHd9j2EoAMEVfA=",
            "requestTime": "02/Dec/2026:03:00:00 +0000",
            "requestTimeEpoch": 1796180400000,
            "resourceId": f"{method} {route}",
            "resourcePath": route,
            "stage": STAGE,
        },
        "pathParameters": {parameter: item} if item else None,
        "stageVariables": None,
        "body": body,
        "isBase64Encoded": False,
    }


# Runs in a fresh process from the unpacked zip, as Lambda would: reads events on stdin
# one JSON per line, a later event's "{id}" in path or body taken from the first created.
REPLAY = """
import json, sys
sys.path.insert(0, sys.argv[1])
from app import app
created = None
for line in sys.stdin:
    text = line if created is None else line.replace("{id}", created)
    response = app(json.loads(text), None)
    if created is None and response["statusCode"] == 201:
        created = json.loads(response["body"])["id"]
    print("RESPONSE", json.dumps(response), flush=True)
"""


@pytest.mark.server
def test_every_route_answers_http_api_events_through_the_packaged_handler(
    built: Path, tmp_path: Path, lambda_backend: tuple[str, Any]
) -> None:
    task = unpack(built / "deployment.zip", tmp_path / "task")
    backend, client = lambda_backend
    one = "/todos/{id}"
    events = [
        http_api_event("POST", "/todos", body='{"task": "from an HTTP API", "order": 2}'),
        http_api_event("GET", "/todos"),
        http_api_event("GET", "/todos", query={"completed": "false", "limit": "1"}),
        http_api_event("GET", one),
        http_api_event("PATCH", one, body='{"completed": true}', headers={"if-match": '"1"'}),
        http_api_event("PATCH", one, body='{"completed": false}', headers={"if-match": '"1"'}),
        http_api_event("GET", one, sub=BOB),
        http_api_event("GET", one, token_use="access"),
        http_api_event("POST", "/todos", body='{"title": 5}'),
        http_api_event("PUT", "/todos", body="{}"),
        http_api_event("PUT", one, body="{}"),
        http_api_event("PATCH", "/todos", body="{}"),
        http_api_event("POST", one, body="{}"),
        http_api_event("DELETE", "/todos", query={"completed": "true"}),
        http_api_event("POST", "/todos", body='{"title": "second"}'),
        http_api_event("DELETE", one),  # the first: completed, so the clear above deleted it
        http_api_event("POST", one + "/restore"),  # and undone
        http_api_event("DELETE", "/todos"),
        http_api_event("GET", "/jobs/{id}"),  # a todo's id names no job
        http_api_event("GET", "/"),  # the web app: public
        http_api_event("GET", "/site/app.js"),
        http_api_event("GET", "/config.json"),
    ]
    env = lambda_env(backend)
    result = subprocess.run(
        [sys.executable, "-c", REPLAY, str(task)],
        input="".join(json.dumps(e) + "\n" for e in events),
        env=env, capture_output=True, text=True, check=True, timeout=120,
    )  # fmt: skip
    answers = [
        json.loads(line.split(" ", 1)[1])
        for line in result.stdout.splitlines()
        if line.startswith("RESPONSE ")
    ]
    statuses = [a["statusCode"] for a in answers]
    expected = [201, 200, 200, 200, 200, 412, 404, 401, 400, 405, 405, 405, 405, 204, 201, 404, 200, 204, 404]
    expected += [200, 200, 200]
    assert statuses == expected, statuses
    created = json.loads(answers[0]["body"])
    # The absolute url of the Todo-Backend contract: the $default stage adds no path prefix.
    assert created["url"] == f"https://{HOST}/todos/{created['id']}"
    assert answers[0]["headers"]["Location"] == created["url"]
    assert created["title"] == "from an HTTP API"
    assert json.loads(answers[1]["body"])[0]["id"] == created["id"]
    assert json.loads(answers[4]["body"])["completed"] is True
    page, script, config = answers[-3:]
    assert "Content-Security-Policy" in page["headers"]
    assert page["body"].startswith("<!doctype html>")
    assert script["headers"]["Content-Type"].startswith("text/javascript")
    assert json.loads(config["body"])["api"] == f"https://{HOST}"  # the $default stage: no prefix
    for answer in answers[:-3]:  # over TLS, as an HTTP API always is
        assert answer["headers"]["Cache-Control"] == "no-store"
        assert answer["headers"]["X-Content-Type-Options"] == "nosniff"
        assert answer["headers"]["Strict-Transport-Security"].startswith("max-age=")
    for answer in answers[5:13]:  # every error in the one error shape
        assert set(json.loads(answer["body"])) == {"Code", "Message"}
    assert json.loads(answers[7]["body"])["Code"] == "Unauthenticated"  # an access token: not an ID token
    # Every route of the app was replayed (each method of each path).
    from app import app

    replayed = {(e["httpMethod"], e["resource"]) for e in events}
    assert replayed == {(m, path) for path, methods in app.routes.items() for m in methods}
    # The last clear deleted both; what is left is the user's count, at zero, and what sync
    # keeps for its window: the changes' log and the deleted todos' tombstones.
    left = client.scan(TableName="todo-api-dev")["Items"]
    [count] = [i for i in left if i["owner"]["S"].endswith("#usage")]
    assert (count["id"], count["todoCount"]) == ({"S": "todos"}, {"N": "0"})
    assert {i["owner"]["S"].split("#")[1] for i in left} == {"usage", "changes", "deleted"}


def test_the_rules_refuse_a_permission_whose_source_arn_misses_its_route(template: dict[str, Any]) -> None:
    # API Gateway invokes with arn:aws:execute-api:REGION:ACCOUNT:API/$default/GET/todos/<id>:
    # a permission scoped to another path (here, the parameter's name taken literally) is a 500.
    with offline_aws("us-east-1"):
        plain = transform(template, "s3://bucket/deployment.zip", "us-east-1")
    permission = plain["Resources"]["APIHandlerHttpTodosTodoIdGetPermission"]["Properties"]
    permission["SourceArn"] = {
        "Fn::Sub": "arn:aws:execute-api:${AWS::Region}:${AWS::AccountId}:${HttpAPI}/*/GET/todos/{todo_id}"
    }
    problems = check(Stack(plain, "todo-api-dev"))
    assert problems == [
        "HttpAPI: GET /todos/{todo_id} integrates todo-api-dev:live without permission to invoke it"
    ]

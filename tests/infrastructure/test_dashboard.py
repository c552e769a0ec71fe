"""The stage's dashboard: every panel the operator needs, each on a metric that exists,
its body as CloudFormation resolves it (names substituted) and as CloudWatch reads it."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from chalicelib import telemetry
from infrastructure.dashboard import client_error_statuses
from infrastructure.rehearsal.aws_rules import Stack
from infrastructure.rehearsal.rehearse import offline_aws, transform

pytestmark = pytest.mark.no_moto
Packaged = Callable[..., Path]

# The metrics AWS publishes that the dashboard may use (CloudWatch metrics of API Gateway
# REST and HTTP APIs, Lambda and DynamoDB, as AWS's user guides list them).
AWS_METRICS = {
    "AWS/ApiGateway": {"Count", "Latency", "IntegrationLatency", "4XXError", "5XXError", "4xx", "5xx"},
    "AWS/Lambda": {
        "Invocations",
        "Errors",
        "Throttles",
        "Duration",
        "ConcurrentExecutions",
        "ClaimedAccountConcurrency",
    },
    # Cognito's user pool metrics (developer guide, "Metrics for Amazon Cognito user pools").
    "AWS/Cognito": {"SignUpThrottles", "SignInThrottles", "TokenRefreshThrottles"},
    # The stage's own, from its access log (template.py: ApiThrottledCount's metric filter).
    "todo-api/dev": {"GatewayThrottled"},
    "AWS/DynamoDB": {
        "ThrottledRequests",
        "ReadThrottleEvents",
        "WriteThrottleEvents",
        "SuccessfulRequestLatency",
    },
}
# Our own, as the EMF lines declare them (telemetry.request_line, telemetry.job_line).
OURS = {
    "Requests",
    "Latency",
    "ServerErrors",
    "TodosCreated",
    "TodosDeleted",
    "ItemsDeleted",
    "JobRuns",
    "RunsBehind",
}


def resolved_body(template: dict[str, Any], stage: str) -> dict[str, Any]:
    with offline_aws("us-east-1"):
        plain = transform(template, "s3://bucket/deployment.zip", "us-east-1")
    stack = Stack(plain, f"todo-api-{stage}")
    text = stack.resolve(stack.created()["Dashboard"]["Properties"]["DashboardBody"])
    assert "${" not in text  # every name substituted
    body: dict[str, Any] = json.loads(text)
    return body


def metrics_of(body: dict[str, Any]) -> list[list[Any]]:
    return [metric for widget in body["widgets"] for metric in widget["properties"]["metrics"]]


def emitted_names() -> set[str]:
    line = telemetry.request_line(timestamp_ms=0, request_id="r", route="POST /todos", status=503,
                                  latency_ms=1, user=None, created=1, deleted=1)  # fmt: skip
    job = telemetry.job_line(timestamp_ms=0, job="purge_completed", request_id="r", report={})
    names = set()
    for document in (json.loads(line), json.loads(job)):
        names |= {m["Name"] for m in document["_aws"]["CloudWatchMetrics"][0]["Metrics"]}
    return names


@pytest.mark.parametrize("api", ["rest", "http"])
def test_every_panel_is_there_on_metrics_that_exist(packaged: Packaged, api: str) -> None:
    template = json.loads((packaged("dev", api=None if api == "rest" else api) / "sam.json").read_text())
    body = resolved_body(template, "dev")
    titles = " | ".join(w["properties"]["title"] for w in body["widgets"])
    for panel in ("Requests", "p50, p90, p99", "4xx and 5xx", "4xx by route", "5xx by route",
                  "Throttles", "Lambda errors", "Lambda duration", "Scheduled jobs"):  # fmt: skip
        assert panel in titles, panel
    assert emitted_names() == OURS
    for widget in body["widgets"]:
        assert widget["properties"]["region"] == "us-east-1"
        assert widget["type"] == "metric"
    for metric in metrics_of(body):
        if isinstance(metric[0], dict):  # a search expression
            (expression,) = metric
            found = re.search(r"\{([^,}]+),[^}]*\} MetricName=\"(\w+)\"", expression["expression"])
            assert found, expression
            namespace, name = found.groups()
            assert name in (OURS if namespace == telemetry.NAMESPACE else AWS_METRICS[namespace]), expression
            continue
        namespace, name, *rest = metric
        assert name in (OURS if namespace == telemetry.NAMESPACE else AWS_METRICS[namespace]), metric
        dimensions = [item for item in rest if not isinstance(item, dict)]
        assert len(dimensions) % 2 == 0, metric  # name, value pairs
    gateway = [m for m in metrics_of(body) if m[0] == "AWS/ApiGateway"]
    if api == "rest":  # the dimensions the 5xx alarm watches too
        assert all(m[2:6] == ["ApiName", "todo-api", "Stage", "dev"] for m in gateway)
        assert {m[1] for m in gateway} >= {"Count", "Latency", "4XXError", "5XXError"}
    else:
        assert all(m[2] == "ApiId" and m[4:6] == ["Stage", "$default"] for m in gateway)
        assert {m[1] for m in gateway} >= {"Count", "Latency", "4xx", "5xx"}


def test_the_4xx_panel_knows_every_client_error_the_api_answers(packaged: Packaged) -> None:
    template = json.loads((packaged("dev") / "sam.json").read_text())
    text = json.dumps(resolved_body(template, "dev"), separators=(",", ":"))
    assert {400, 401, 403, 404, 405, 409, 410, 412, 413, 415, 422, 429} == set(client_error_statuses())
    for status in client_error_statuses():
        assert f'Status=\\"{status}\\"' in text, status
    # Functions and table by the names the stack gives them.
    assert '"FunctionName","todo-api-dev"' in text
    assert 'TableName=\\"todo-api-dev\\"' in text

"""The stage's CloudWatch dashboard, from metrics the project emits or AWS publishes.

- requests and latency (p50, p90, p99) as API Gateway counts them, every request included;
- 4xx and 5xx, in total (API Gateway) and by route (the app's EMF lines: `Requests` by
  `Route` and `Status`, `ServerErrors`), and latency p99 by route;
- throttling at each layer: API Gateway's 429s are 4xx, Lambda's `Throttles`, DynamoDB's
  `ThrottledRequests` by operation;
- each function's errors and duration;
- the scheduled jobs' progress (`ItemsDeleted`, `JobRuns`, `RunsBehind`): the purge and
  the finishing of bulk deletes.

Only search expressions and named metrics: a route or status seen for the first time
appears without a change here. The body is JSON in a Fn::Sub (region, names).
"""

from __future__ import annotations

import json
from typing import Any

from chalice.app import ChaliceViewError

from chalicelib import errors
from chalicelib.telemetry import NAMESPACE
from infrastructure import names
from infrastructure.functions import FUNCTIONS, SCHEDULED_JOBS

PERIOD = 300
DYNAMODB_THROTTLES = (
    '{AWS/DynamoDB,TableName,Operation} MetricName="ThrottledRequests" TableName="${TodoTable}"'
)


def client_error_statuses() -> list[int]:
    """Every 4xx the app or its gateway answers (the error classes are the HTTP map)."""
    return sorted(
        {
            cls.STATUS_CODE
            for cls in vars(errors).values()
            if isinstance(cls, type) and issubclass(cls, ChaliceViewError) and 400 <= cls.STATUS_CODE < 500
        }
    )


def _api_metrics(stage: str, api: str) -> dict[str, Any]:
    """API Gateway's own metric names and dimensions for the stage (REST or HTTP API)."""
    if api == "http":
        return {
            "dimensions": ["ApiId", "${HttpAPI}", "Stage", "$default"],
            "count": "Count",
            "4xx": "4xx",
            "5xx": "5xx",
        }
    return {
        "dimensions": ["ApiName", names.APP, "Stage", stage],
        "count": "Count",
        "4xx": "4XXError",
        "5xx": "5XXError",
    }


def _search(expression: str, stat: str, label: str = "") -> list[dict[str, Any]]:
    return [{"expression": f"SEARCH('{expression}', '{stat}', {PERIOD})", "label": label, "id": "e1"}]


def _widget(title: str, metrics: list[Any], *, stat: str = "Sum", x: int, y: int) -> dict[str, Any]:
    return {
        "type": "metric",
        "x": x,
        "y": y,
        "width": 12,
        "height": 6,
        "properties": {
            "title": title,
            "region": "${AWS::Region}",
            "view": "timeSeries",
            "stat": stat,
            "period": PERIOD,
            "metrics": metrics,
        },
    }


def body(stage: str, api: str = "rest") -> dict[str, Any]:
    """The dashboard's body (before Fn::Sub): ${AWS::Region}, ${APIHandler},
    ${PurgeCompleted}, ${FinishClears}, ${TodoTable} and, for an HTTP API, ${HttpAPI} stand for names."""
    gateway = _api_metrics(stage, api)
    dims = gateway["dimensions"]
    statuses = " OR ".join(f'Status="{status}"' for status in client_error_statuses())
    by_route = f"{{{NAMESPACE},Route,Status}}"
    functions = tuple(FUNCTIONS)
    widgets = [
        _widget("Requests (API Gateway)", [["AWS/ApiGateway", gateway["count"], *dims]], x=0, y=0),
        _widget(
            "Latency p50, p90, p99 (API Gateway, ms)",
            [
                ["AWS/ApiGateway", "Latency", *dims, {"stat": stat, "label": stat}]
                for stat in ("p50", "p90", "p99")
            ],
            x=12,
            y=0,
        ),
        _widget(
            "4xx and 5xx (API Gateway, incl. its own answers and 429 throttling)",
            [["AWS/ApiGateway", gateway["4xx"], *dims], ["AWS/ApiGateway", gateway["5xx"], *dims]],
            x=0,
            y=6,
        ),
        _widget(
            "4xx by route and status (app)",
            [_search(f'{by_route} MetricName="Requests" ({statuses})', "Sum")],
            x=12,
            y=6,
        ),
        _widget("5xx by route (app)", [_search(f'{by_route} MetricName="ServerErrors"', "Sum")], x=0, y=12),
        _widget(
            "Latency p99 by route (app, ms)",
            [_search(f'{by_route} MetricName="Latency"', "p99")],
            stat="p99",
            x=12,
            y=12,
        ),
        _widget(
            "Throttles: Lambda, DynamoDB",
            [
                *[["AWS/Lambda", "Throttles", "FunctionName", f"${{{f}}}"] for f in functions],
                _search(DYNAMODB_THROTTLES, "Sum"),
            ],
            x=0,
            y=18,
        ),
        _widget(
            "Spike walls: Cognito throttles, account concurrency, API 429s",
            [
                # Every pool of the account: Cognito's quotas are the account's, not a pool's.
                _search(
                    '{AWS/Cognito,UserPool,UserPoolClient} MetricName="SignUpThrottles" OR '
                    'MetricName="SignInThrottles" OR MetricName="TokenRefreshThrottles"',
                    "Sum",
                ),
                ["AWS/Lambda", "ClaimedAccountConcurrency", {"stat": "Maximum"}],
                [names.gateway_namespace(stage), "GatewayThrottled"],
            ],
            x=0,
            y=30,
        ),
        _widget(
            "Lambda errors",
            [["AWS/Lambda", "Errors", "FunctionName", f"${{{f}}}"] for f in functions],
            x=12,
            y=18,
        ),
        _widget(
            "Lambda duration p50 and p99 (ms)",
            [
                [
                    "AWS/Lambda",
                    "Duration",
                    "FunctionName",
                    f"${{{f}}}",
                    {"stat": stat, "label": f"{f} {stat}"},
                ]
                for f in functions
                for stat in ("p50", "p99")
            ],
            stat="p99",
            x=0,
            y=24,
        ),
        _widget(
            "Scheduled jobs (purge_completed, finish_clears)",
            [
                [NAMESPACE, name, "Job", job]
                for job in SCHEDULED_JOBS.values()
                for name in ("ItemsDeleted", "JobRuns", "RunsBehind")
            ],
            x=12,
            y=24,
        ),
    ]
    return {"widgets": widgets}


def resource(stage: str, api: str = "rest") -> dict[str, Any]:
    return {
        "Type": "AWS::CloudWatch::Dashboard",
        "Properties": {
            "DashboardName": names.of(stage),
            "DashboardBody": {"Fn::Sub": json.dumps(body(stage, api), separators=(",", ":"))},
        },
    }

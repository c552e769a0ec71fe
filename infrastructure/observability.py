"""What the operator sees: the functions' names and log groups, the alarms (the spike's
walls among them) with the topic they notify, and the dashboard."""

from __future__ import annotations

import math
from typing import Any

from chalicelib.telemetry import HELD_METRIC, NAMESPACE
from infrastructure import capacity, dashboard, names
from infrastructure.checkov import CMK_LOGS
from infrastructure.functions import SCHEDULED_JOBS
from infrastructure.stage import Stage

CHECKOV_SKIPS: dict[str, list[tuple[str, str]]] = {
    "APIHandlerLogs": [CMK_LOGS],
    **{f"{logical}Logs": [CMK_LOGS] for logical in SCHEDULED_JOBS},
}


def _alarm(description: str, metric: dict[str, Any], threshold: float, topic: bool = True) -> dict[str, Any]:
    properties = {
        "AlarmDescription": description,
        "ComparisonOperator": "GreaterThanThreshold",
        "EvaluationPeriods": 1,
        "Period": 300,
        "Threshold": threshold,
        "TreatMissingData": "notBreaching",
        **metric,
    }
    if topic:
        properties["AlarmActions"] = [{"Ref": "AlarmTopic"}]
        properties["OKActions"] = [{"Ref": "AlarmTopic"}]
    return {"Type": "AWS::CloudWatch::Alarm", "Properties": properties}


def _lambda_metric(name: str, function: str) -> dict[str, Any]:
    return {
        "Namespace": "AWS/Lambda",
        "MetricName": name,
        "Statistic": "Sum",
        "Dimensions": [{"Name": "FunctionName", "Value": {"Ref": function}}],
    }


# The namespace of the metrics a stage derives from its own logs (one per stage: a metric
# filter's dimensions can only come from the log line).
# A share of the account's concurrency (infrastructure/quotas.json: 1,000 by default) at which the
# account is near its wall: every function in the Region, ours or not, is then at risk.
ACCOUNT_CONCURRENCY = capacity.quota("lambda_concurrency")
CONCURRENCY_ALARM_SHARE = 0.8
# The API function's reserved concurrency, where a stage sets it (Chalice's own
# `reserved_concurrency`, so both deploy routes apply it): the stage's rate at this many
# seconds a request (several times the measured warm duration, benchmark/README.md), so a
# slow table cannot take the whole account; AWS keeps 100 unreserved (quotas.json).
RESERVED_SECONDS_PER_REQUEST = 0.2
UNRESERVED_MINIMUM = capacity.quota("lambda_unreserved_minimum")
# The API's 429s, counted from its access log (API Gateway publishes no 429 metric).
THROTTLED_METRIC = "GatewayThrottled"


def reserved_concurrency(rate: int, account: int = ACCOUNT_CONCURRENCY) -> int:
    """Reserved concurrency for the API function at the stage's rate, within AWS's rule."""
    return min(account - UNRESERVED_MINIMUM, math.ceil(rate * RESERVED_SECONDS_PER_REQUEST))


def _ratio_alarm(
    description: str, part: dict[str, Any], whole: dict[str, Any], threshold: float
) -> dict[str, Any]:
    """An alarm on part / whole over 5 minutes (metric math), both sums."""
    alarm = _alarm(description, {}, threshold)
    alarm["Properties"]["Metrics"] = [
        {"Id": "part", "MetricStat": {"Metric": part, "Period": 300, "Stat": "Sum"}, "ReturnData": False},
        {"Id": "whole", "MetricStat": {"Metric": whole, "Period": 300, "Stat": "Sum"}, "ReturnData": False},
        {"Id": "rate", "Expression": "part / whole", "Label": description, "ReturnData": True},
    ]
    del alarm["Properties"]["Period"]
    return alarm


def _sum_alarm(description: str, metrics: list[dict[str, Any]], threshold: float) -> dict[str, Any]:
    """An alarm on the sum of several metrics over 5 minutes (metric math)."""
    alarm = _alarm(description, {}, threshold)
    ids = [f"m{n}" for n in range(len(metrics))]
    alarm["Properties"]["Metrics"] = [
        *[
            {"Id": i, "MetricStat": {"Metric": m, "Period": 300, "Stat": "Sum"}, "ReturnData": False}
            for i, m in zip(ids, metrics, strict=True)
        ],
        {"Id": "total", "Expression": " + ".join(ids), "Label": description, "ReturnData": True},
    ]
    del alarm["Properties"]["Period"]
    return alarm


def server_errors_alarm(stage: str, errors: str, dimensions: list[dict[str, Any]]) -> dict[str, Any]:
    """More than 1% of requests answered 5xx, not counting the writes an operator holds with
    the read-only lever: the gateway counts those 503s among its 5xx (`errors`, by
    `dimensions`), and the app's log counts them as WritesHeld (a metric filter, per stage),
    so the lever cannot set off the alarm it is meant to calm. FILL: a period with no 5xx or
    no held write has no data point for it."""
    description = (
        "More than 1% of API requests failed with 5xx over 5 minutes (writes held read-only "
        "by the operator not counted: ApiWritesHeld watches those)"
    )
    alarm = _alarm(description, {}, 0.01)
    gateway = {"Namespace": "AWS/ApiGateway", "Dimensions": dimensions}
    held = {"Namespace": names.gateway_namespace(stage), "MetricName": HELD_METRIC}
    alarm["Properties"]["Metrics"] = [
        {"Id": i, "MetricStat": {"Metric": m, "Period": 300, "Stat": "Sum"}, "ReturnData": False}
        for i, m in (
            ("errors", {**gateway, "MetricName": errors}),
            ("held", held),
            ("requests", {**gateway, "MetricName": "Count"}),
        )
    ] + [
        {
            "Id": "rate",
            "Expression": "(FILL(errors, 0) - FILL(held, 0)) / requests",
            "Label": "5xx rate, held writes excluded",
            "ReturnData": True,
        }
    ]
    del alarm["Properties"]["Period"]
    return alarm


def _read_only(stage: str) -> dict[str, Any]:
    """The read-only lever's own trace: each held write's log line (level WARNING, metric
    WritesHeld) counted per stage, and an alarm that speaks when writes start being held and
    again when they stop (alarm actions fire on state changes only), so a lever left on is
    seen."""
    metric = {"Namespace": names.gateway_namespace(stage), "MetricName": HELD_METRIC}
    return {
        "ApiWritesHeldCount": {
            "Type": "AWS::Logs::MetricFilter",
            "Properties": {
                "LogGroupName": {"Ref": "APIHandlerLogs"},
                "FilterPattern": f"{{ $.{HELD_METRIC} = 1 }}",
                "MetricTransformations": [
                    {
                        "MetricNamespace": metric["Namespace"],
                        "MetricName": HELD_METRIC,
                        "MetricValue": "1",
                        "DefaultValue": 0,
                    }
                ],
            },
        },
        "ApiWritesHeld": _alarm(
            "Writes are answered 503 because the API is held read-only (make settings "
            "SET=read-only=true); OK again once it is released",
            {**metric, "Statistic": "Sum"},
            0,
        ),
    }


def _spike_alarms(stage: str) -> dict[str, Any]:
    """What throttles first in a spike (docs/runbook.md says what each means and what to do)."""
    pool = [
        {"Name": "UserPool", "Value": {"Ref": "UserPool"}},
        {"Name": "UserPoolClient", "Value": {"Ref": "UserPoolClient"}},
    ]
    cognito = _sum_alarm(
        "Cognito throttled sign-ups, sign-ins or token refreshes (the account's UserCreation or "
        "UserAuthentication rate)",
        [{"Namespace": "AWS/Cognito", "MetricName": name, "Dimensions": pool}
         for name in ("SignUpThrottles", "SignInThrottles", "TokenRefreshThrottles")],
        0,
    )  # fmt: skip
    cognito["Condition"] = "CreateUserPool"  # an existing pool is watched where it is owned
    gateway = [{"Name": "ApiName", "Value": names.APP}, {"Name": "Stage", "Value": stage}]
    return {
        "CognitoThrottles": cognito,
        "AccountConcurrencyNearLimit": _alarm(
            f"Lambda's claimed concurrency passed {CONCURRENCY_ALARM_SHARE:.0%} of the account's "
            f"{ACCOUNT_CONCURRENCY} (ClaimedAccountConcurrency; every function in the Region shares it)",
            {
                "Namespace": "AWS/Lambda",
                "MetricName": "ClaimedAccountConcurrency",
                "Statistic": "Maximum",
                "Period": 60,
            },
            CONCURRENCY_ALARM_SHARE * ACCOUNT_CONCURRENCY,
        ),
        "Api429Rate": _ratio_alarm(
            "More than 1% of API requests were throttled (429) over 5 minutes",
            {
                "Namespace": names.gateway_namespace(stage),
                "MetricName": THROTTLED_METRIC,
            },
            {"Namespace": "AWS/ApiGateway", "MetricName": "Count", "Dimensions": gateway},
            0.01,
        ),
        "ApiThrottledCount": {
            "Type": "AWS::Logs::MetricFilter",
            "Properties": {
                "LogGroupName": {"Ref": "ApiAccessLogs"},
                "FilterPattern": '{ $.status = "429" }',
                "MetricTransformations": [
                    {
                        "MetricNamespace": names.gateway_namespace(stage),
                        "MetricName": THROTTLED_METRIC,
                        "MetricValue": "1",
                        "DefaultValue": 0,
                    }
                ],
            },
        },
        "TableThrottles": _sum_alarm(
            "DynamoDB throttled reads or writes of the table",
            [
                {
                    "Namespace": "AWS/DynamoDB",
                    "MetricName": name,
                    "Dimensions": [{"Name": "TableName", "Value": {"Ref": "TodoTable"}}],
                }
                for name in ("ReadThrottleEvents", "WriteThrottleEvents")
            ],
            0,
        ),
    }


def resources(stage: Stage) -> dict[str, Any]:
    """The functions' names and log groups, and the alarms with the topic they notify."""
    stage_name, retention = stage.name, stage.log_retention_days
    reserved = stage.reserved_concurrency
    derived = reserved_concurrency(capacity.throttling(stage.spike_target)["ThrottlingRateLimit"])
    if reserved is not None and reserved != derived:
        # Chalice reads it from .chalice/config.json (so `chalice deploy` applies it too): the
        # one copy there must be the number derived from the stage's target, not a second guess.
        raise SystemExit(
            f"stage {stage_name}: the API handler's reserved_concurrency is {reserved}, but the stage's "
            f"spike_target needs {derived} (infrastructure/observability.py): set it in .chalice/config.json"
        )
    resources: dict[str, Any] = {
        **_spike_alarms(stage_name),
        "AlarmTopic": {"Type": "AWS::SNS::Topic", "Properties": {"KmsMasterKeyId": "alias/aws/sns"}},
        "Api5xxRate": server_errors_alarm(
            stage_name,
            "5XXError",
            [{"Name": "ApiName", "Value": names.APP}, {"Name": "Stage", "Value": stage_name}],
        ),
        **_read_only(stage_name),
        "PurgeBehind": _alarm(
            "purge_completed ended three hourly runs in a row with work left (from its EMF metrics)",
            {
                "Namespace": NAMESPACE,
                "MetricName": "RunsBehind",
                "Statistic": "Sum",
                "Dimensions": [{"Name": "Job", "Value": "purge_completed"}],
                "Period": 3600,
                "EvaluationPeriods": 3,
            },
            0,
        ),
        "ClearsBehind": _alarm(
            "finish_clears ended over 3 runs in 15 minutes with bulk deletes left (from its EMF metrics)",
            {
                "Namespace": NAMESPACE,
                "MetricName": "RunsBehind",
                "Statistic": "Sum",
                "Dimensions": [{"Name": "Job", "Value": "finish_clears"}],
                "Period": 900,
            },
            3,
        ),
        "JobFailuresQueued": _alarm(
            "A scheduled job's run failed after Lambda's retries",
            {
                "Namespace": "AWS/SQS",
                "MetricName": "ApproximateNumberOfMessagesVisible",
                "Statistic": "Maximum",
                "Dimensions": [{"Name": "QueueName", "Value": {"Fn::GetAtt": ["JobFailures", "QueueName"]}}],
            },
            0,
        ),
    }
    resources["Dashboard"] = dashboard.resource(stage_name)
    for logical, name in stage.app.functions.items():
        resources[logical] = {"Properties": {"FunctionName": names.function(stage_name, name)}}
        resources[f"{logical}Logs"] = {
            "Type": "AWS::Logs::LogGroup",
            "Properties": {
                "LogGroupName": {"Fn::Sub": f"/aws/lambda/${{{logical}}}"},
                "RetentionInDays": retention,
            },
        }
        resources[f"{logical}Errors"] = _alarm(f"{name} raised errors", _lambda_metric("Errors", logical), 0)
        resources[f"{logical}Throttles"] = _alarm(
            f"{name} was throttled", _lambda_metric("Throttles", logical), 0
        )
    return {"Resources": resources}

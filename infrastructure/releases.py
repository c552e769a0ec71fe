"""Gradual releases: every function runs on a published alias, and the API's new version
takes traffic on CodeDeploy's schedule, rolled back by CodeDeploy itself when that version's
own alarms fire (AWS SAM Developer Guide, "Deploying serverless applications gradually with
AWS SAM", read 2026-12-08; Chalice cannot declare any of it, so the merge template does).

- SAM's `AutoPublishAlias` publishes a version for each change of code or configuration and
  points the alias `live` at it; API Gateway (REST and HTTP API) invokes the alias, never
  the unqualified function, so the alias is what serves.
- The API handler's `DeploymentPreference` is the stage's `traffic_shift` (prod: a canary;
  dev: all at once): SAM makes a CodeDeploy application, a deployment group per function
  and CodeDeploy's service role, and CloudFormation's update of the alias waits on the
  deployment. A deployment that fails takes the stack update down with it, and
  CloudFormation puts every alias and function back.
- The alarms CodeDeploy watches are the new version's own (Lambda's metrics by
  `ExecutedVersion`, and the app's own 5xx by the version in its request line), never the
  whole function's history, so an old version's errors cannot stop a good release and a
  good history cannot hide a bad one.
- The scheduled jobs run on their own `live` alias too (their schedules invoke it, and
  `make rollback` moves it with the API's), but all at once, with no CodeDeploy
  deployment: a canary of five or ten minutes sees no run of an hourly job, so their alarms
  could not judge it. A release whose API canary fails still takes them back, with the
  stack.
"""

from __future__ import annotations

from typing import Any

from infrastructure import names
from infrastructure.stage import Stage

ALIAS = "live"
# The alias SAM makes for a function (`<Function>Alias<alias>`) and its version
# (`<Function>.Version`, whose `Version` attribute is the number it published).
API_ALIAS = f"APIHandlerAlias{ALIAS}"
_INVOKE_ALIAS = {
    "Fn::Sub": "arn:${AWS::Partition}:apigateway:${AWS::Region}:lambda:path/2015-03-31/functions/"
    f"${{{API_ALIAS}}}/invocations"
}
# The app's request line carries its function version (chalicelib/telemetry.py): a metric
# filter counts each version's 5xx (a filter's dimension is read from the log line).
VERSION_5XX_METRIC = "ServerErrorsByVersion"
# Over a minute, twice in a row: a version whose p99 passes this is far off its measured warm
# duration (a few milliseconds of CPU, a few DynamoDB round trips) and even a cold
# environment's first request (client creation included: benchmark/README.md), yet well inside
# the 15 s timeout a client would otherwise wait out.
LATENCY_P99_MS = 1000


def _version_dimensions(logical: str) -> list[dict[str, Any]]:
    """Lambda's metrics of `logical`'s new version as its alias ran it (Lambda's dimensions
    FunctionName, Resource and ExecutedVersion, published for invocations of an alias)."""
    return [
        {"Name": "FunctionName", "Value": {"Ref": logical}},
        {"Name": "Resource", "Value": {"Fn::Sub": f"${{{logical}}}:{ALIAS}"}},
        {"Name": "ExecutedVersion", "Value": {"Fn::GetAtt": [f"{logical}.Version", "Version"]}},
    ]


def _alarm(description: str, properties: dict[str, Any]) -> dict[str, Any]:
    """An alarm CodeDeploy polls during a shift: a minute's data, missing data is no traffic."""
    return {
        "Type": "AWS::CloudWatch::Alarm",
        "Properties": {
            "AlarmDescription": description,
            "ComparisonOperator": "GreaterThanThreshold",
            "Period": 60,
            "EvaluationPeriods": 1,
            "TreatMissingData": "notBreaching",
            **properties,
        },
    }


def version_alarms(stage: str) -> dict[str, Any]:
    """The API handler's new version's own alarms: its crashes and timeouts (Lambda's
    Errors), the 5xx it answered (the app catches its own exceptions and answers 500, which
    Lambda does not count as an error) and its p99 duration."""
    version = {"Fn::GetAtt": ["APIHandler.Version", "Version"]}
    return {
        "APIHandlerReleaseErrors": _alarm(
            "The API function's new version raised errors or timed out while taking traffic",
            {
                "Namespace": "AWS/Lambda",
                "MetricName": "Errors",
                "Statistic": "Sum",
                "Dimensions": _version_dimensions("APIHandler"),
                "Threshold": 0,
            },
        ),
        "APIHandlerRelease5xx": _alarm(
            "The API function's new version answered 5xx while taking traffic",
            {
                "Namespace": names.gateway_namespace(stage),
                "MetricName": VERSION_5XX_METRIC,
                "Statistic": "Sum",
                "Dimensions": [{"Name": "Version", "Value": version}],
                "Threshold": 0,
            },
        ),
        "APIHandlerReleaseLatency": _alarm(
            f"The API function's new version ran past {LATENCY_P99_MS} ms at p99 for two minutes",
            {
                "Namespace": "AWS/Lambda",
                "MetricName": "Duration",
                "ExtendedStatistic": "p99",
                "Dimensions": _version_dimensions("APIHandler"),
                "Threshold": LATENCY_P99_MS,
                "EvaluationPeriods": 2,
                "DatapointsToAlarm": 2,
            },
        ),
        "APIHandler5xxByVersion": {
            "Type": "AWS::Logs::MetricFilter",
            "Properties": {
                "LogGroupName": {"Ref": "APIHandlerLogs"},
                "FilterPattern": "{ $.ServerErrors = 1 }",
                "MetricTransformations": [
                    {
                        "MetricNamespace": names.gateway_namespace(stage),
                        "MetricName": VERSION_5XX_METRIC,
                        "MetricValue": "1",
                        "Dimensions": [{"Key": "Version", "Value": "$.version"}],
                    }
                ],
            },
        },
    }


def resources(stage: Stage) -> dict[str, Any]:
    """Every function on its alias; the API's new version shifted in as the stage says, with
    its own alarms; the REST API's integrations on the alias (the HTTP API's routes are
    function events, which SAM points at the alias itself)."""
    alarms = version_alarms(stage.name)
    resources: dict[str, Any] = {
        **alarms,
        "APIHandler": {
            "Properties": {
                "AutoPublishAlias": ALIAS,
                "DeploymentPreference": {
                    "Type": stage.traffic_shift,
                    "Alarms": [
                        {"Ref": logical}
                        for logical, alarm in alarms.items()
                        if alarm["Type"] == "AWS::CloudWatch::Alarm"
                    ],
                },
            }
        },
        "RestAPI": {"Properties": {"DefinitionBody": {"paths": _on_the_alias(stage)}}},
        "APIHandlerInvokePermission": {"Properties": {"FunctionName": {"Ref": API_ALIAS}}},
    }
    for logical in stage.app.jobs:
        resources[logical] = {"Properties": {"AutoPublishAlias": ALIAS}}
    return {"Resources": resources}


def _on_the_alias(stage: Stage) -> dict[str, Any]:
    """Every route's integration, invoking the alias (Chalice's invokes the unqualified function)."""
    return {
        path: {
            method.lower(): {"x-amazon-apigateway-integration": {"uri": _INVOKE_ALIAS}} for method in methods
        }
        for path, methods in stage.app.routes.items()
    }

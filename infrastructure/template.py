"""The resources `make package` merges into Chalice's SAM template (`--merge-template`).

Chalice emits the functions, their roles, the API and the schedule; this adds what a
production stack needs around them, in one place and from the project's own sources
(the table's shape comes from `schema.TABLE_DEFINITION`):

- the table: on demand, point-in-time recovery, encryption, TTL, deletion protection,
  kept on delete/replace (`table_properties`, which the bootstrap also creates from);
- a Cognito user pool and app client, wired into the API's authorizer (or, with the
  ExistingUserPoolArn parameter, an existing pool trusted instead);
- log groups with a retention period, API access logs, X-Ray on the API stage;
- gateway responses in the app's error vocabulary (status, Code, Message) with CORS;
- alarms (API 5xx rate over 1%, Lambda errors and throttles, the scheduled jobs' failures
  and backlog), a dashboard (infrastructure/dashboard.py) and an on-failure queue for the job's
  asynchronous invocations;
- checkov's accepted findings, each with its reason, as resource Metadata.

Chalice's merge replaces lists and merges mappings, so what is written here wins.
"""

from __future__ import annotations

import json
import math
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from chalicelib import errors
from chalicelib.errors import GATEWAY_ERRORS, RETRY_AFTER_SECONDS, TooManyRequests, gateway_message
from chalicelib.web import HSTS, SECURITY_HEADERS
from infrastructure import capacity, dashboard, stages
from infrastructure.functions import FAILURE_QUEUE, FUNCTIONS, SCHEDULED_JOBS, function_name
from infrastructure.identity import APP_CLIENT_SETTINGS, user_pool_settings
from infrastructure.table import table_properties


def gateway_responses() -> dict[str, Any]:
    """API Gateway's own answers (its authorizer's 401, throttling, timeouts...) in the app's
    vocabulary (errors.GATEWAY_ERRORS): the app's status and `{"Code", "Message"}` body, not
    `$context.error.responseType`'s UNAUTHORIZED, with CORS so a browser can read them."""
    responses: dict[str, Any] = {}
    for kind, error in GATEWAY_ERRORS.items():
        headers = {"Access-Control-Allow-Origin": "'*'"}
        headers |= {name: f"'{value}'" for name, value in {**SECURITY_HEADERS, **HSTS}.items()}
        if error is TooManyRequests:
            headers["Retry-After"] = f"'{RETRY_AFTER_SECONDS}'"
        body = json.dumps(errors.body(error.__name__, gateway_message(error)))
        response: dict[str, Any] = {
            "ResponseParameters": {"Headers": headers},
            "ResponseTemplates": {"application/json": body},
        }
        # The DEFAULT types keep each member type's own status; the others take the app's
        # (MISSING_AUTHENTICATION_TOKEN, API Gateway's 403 for a path with no route, is a 404).
        if not kind.startswith("DEFAULT_"):
            response["StatusCode"] = str(error.STATUS_CODE)
        responses[kind] = response
    return responses


# checkov findings we accept, each with its reason; they travel in each resource's
# Metadata, so a scan of the packaged template reports them as skipped, never silently.
_NO_VPC = (
    "CKV_AWS_117",
    (
        "Reaches only DynamoDB and CloudWatch over AWS endpoints; a VPC adds NAT or endpoint "
        "cost and cold-start time and protects nothing here."
    ),
)
_NO_CMK_ENV = (
    "CKV_AWS_173",
    (
        "Environment variables hold names, ARNs and numbers only (tests/infrastructure/test_secrets.py); "
        "Lambda encrypts them at rest with an AWS key."
    ),
)
_NO_RESERVED = (
    "CKV_AWS_115",
    (
        "Bounded by API Gateway stage throttling and idempotent, overlap-safe purge runs; "
        "reserved concurrency fails deploys on accounts with the default limit of 10, so only "
        "a stage that sets Chalice's reserved_concurrency (prod) reserves it."
    ),
)
_CMK_LOGS = (
    "CKV_AWS_158",
    (
        "Logs carry no personal data or secrets (tests/integration/test_telemetry.py); CloudWatch encrypts "
        "them at rest with its own key."
    ),
)
CHECKOV_SKIPS: dict[str, list[tuple[str, str]]] = {
    "APIHandler": [
        (
            "CKV_AWS_116",
            (
                "Invoked synchronously by API Gateway, which returns the error to the caller: a DLQ "
                "only receives asynchronous invocations."
            ),
        ),
        _NO_VPC,
        _NO_CMK_ENV,
        _NO_RESERVED,
    ],
    **{
        logical: [
            (
                "CKV_AWS_116",
                (
                    "Failed asynchronous runs go to JobFailures through EventInvokeConfig's OnFailure "
                    "destination (which records the error as well); checkov knows only DeadLetterQueue."
                ),
            ),
            _NO_VPC,
            _NO_CMK_ENV,
            _NO_RESERVED,
        ]
        for logical in SCHEDULED_JOBS
    },
    "RestAPI": [
        (
            "CKV_AWS_120",
            (
                "Every response is per user and changes with each write: a cache would serve stale or "
                "foreign data, and costs by the hour."
            ),
        ),
    ],
    "TodoTable": [
        (
            "CKV_AWS_119",
            (
                "Encrypted at rest with the AWS managed KMS key (SSEEnabled: aws/dynamodb, logged in "
                "CloudTrail); a customer managed key is a per-deployment compliance choice with its "
                "own cost and key policy."
            ),
        ),
    ],
    "JobFailures": [
        (
            "CKV_AWS_27",
            (
                "Encrypted with SQS managed SSE (SqsManagedSseEnabled), which checkov does not "
                "recognise; the aws/sqs KMS key would stop EventBridge delivering to it."
            ),
        ),
    ],
    "ApiAccessLogs": [_CMK_LOGS],
    "WebACLLogs": [_CMK_LOGS],
    "APIHandlerLogs": [_CMK_LOGS],
    **{f"{logical}Logs": [_CMK_LOGS] for logical in SCHEDULED_JOBS},
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


# The merge template is built in code, a builder per concern, rather than committed as
# YAML (the other form Chalice documents): most of it is derived from the code's own
# facts (TABLE_DEFINITION, the gateway errors, the function names, checkov's skips), which
# a static file would have to repeat and keep in step by hand.


def merge_template(stage: str, root: Path = stages.ROOT) -> dict[str, Any]:
    """What `chalice package --merge-template` merges into Chalice's SAM template."""
    declared = stages.declared(stage, root)  # read once, checked: a misspelt key stops here
    retention = declared.log_retention_days
    template = _merged(
        _data(stages.environment(stage, root)["TODO_TABLE"]),
        _identity(stage, root),
        _api(retention, capacity.throttling(stage, root)),
        _observability(stage, retention),
        _protection(stage),
        _cold_start(declared),
        _firewall(stage, retention) if declared.waf else {},
        _client_keys(stage, declared.usage_plans),
    )
    reserved = stages.chalice_config(stage, "api_handler", root).reserved_concurrency
    for logical, skips in CHECKOV_SKIPS.items():
        if logical not in template["Resources"]:
            continue  # an option's resource this stage does not have (WebACLLogs without a WAF)
        resource = template["Resources"][logical]
        if logical == "APIHandler" and reserved is not None:
            skips = [skip for skip in skips if skip is not _NO_RESERVED]  # it passes: nothing to skip
        metadata = resource.setdefault("Metadata", {})
        metadata["checkov"] = {"skip": [{"id": check, "comment": why} for check, why in skips]}
    return template


def _merged(*parts: dict[str, Any]) -> dict[str, Any]:
    """The parts merged as Chalice merges: mappings key by key; any other clash is a bug."""

    def merge(into: dict[str, Any], extra: dict[str, Any], path: str) -> None:
        for key, value in extra.items():
            if isinstance(into.get(key), dict) and isinstance(value, dict):
                merge(into[key], value, f"{path}.{key}")
            elif key in into:
                raise ValueError(f"two builders set {path}.{key}")
            else:
                into[key] = value

    template: dict[str, Any] = {"Parameters": {}, "Conditions": {}, "Resources": {}, "Outputs": {}}
    for part in parts:
        merge(template, part, "template")
    return template


def _data(table_name: str) -> dict[str, Any]:
    """The table, kept on delete and replace."""
    return {
        "Resources": {
            "TodoTable": {
                "Type": "AWS::DynamoDB::Table",
                "DeletionPolicy": "Retain",
                "UpdateReplacePolicy": "Retain",
                "Properties": table_properties(table_name),
            },
        },
        "Outputs": {"TableName": {"Value": {"Ref": "TodoTable"}}},
    }


# The pool the API trusts: this stack's own, or the one ExistingUserPoolArn names.
TRUSTED_POOL_ARN = {
    "Fn::If": ["CreateUserPool", {"Fn::GetAtt": ["UserPool", "Arn"]}, {"Ref": "ExistingUserPoolArn"}]
}


# Its app client: this stack's own, or the one ExistingUserPoolClientId names.
TRUSTED_CLIENT_ID = {
    "Fn::If": ["CreateUserPool", {"Ref": "UserPoolClient"}, {"Ref": "ExistingUserPoolClientId"}]
}


def _identity(stage: str, root: Path) -> dict[str, Any]:
    """A Cognito user pool and app client, and the authorizer's trust in a pool.

    A stack can bring its own pool (one `make deploy` bootstrapped, or one shared with
    other services): then it creates none and the authorizer trusts that one."""
    return {
        "Parameters": {
            "ExistingUserPoolArn": {
                "Type": "String",
                "Default": "",
                "AllowedPattern": r"^$|^arn:aws[\w-]*:cognito-idp:[a-z0-9-]+:\d{12}:userpool/[\w-]+$",
                "Description": "The ARN of an existing Cognito user pool to trust; empty: create one",
            },
            "ExistingUserPoolClientId": {
                "Type": "String",
                "Default": "",
                "AllowedPattern": r"^$|^[\w+]{1,128}$",
                "Description": "With ExistingUserPoolArn: its app client, which the web app signs in with",
            },
        },
        "Conditions": {"CreateUserPool": {"Fn::Equals": [{"Ref": "ExistingUserPoolArn"}, ""]}},
        "Resources": {
            "UserPool": {
                "Type": "AWS::Cognito::UserPool",
                "Condition": "CreateUserPool",
                "DeletionPolicy": "Retain",
                "UpdateReplacePolicy": "Retain",
                "Properties": {
                    "UserPoolName": f"todo-api-{stage}",
                    "DeletionProtection": "ACTIVE",
                    "MfaConfiguration": "OPTIONAL",
                    "EnabledMfas": ["SOFTWARE_TOKEN_MFA"],
                    **user_pool_settings(stage, root),
                },
            },
            "UserPoolClient": {
                "Type": "AWS::Cognito::UserPoolClient",
                "Condition": "CreateUserPool",
                "Properties": {
                    "UserPoolId": {"Ref": "UserPool"},
                    "ClientName": f"todo-api-{stage}",
                    **APP_CLIENT_SETTINGS,
                },
            },
            # The function verifies nothing itself in Lambda, but its web app's config says
            # which pool and client to sign in with: the stack's, not the stage config's.
            "APIHandler": {
                "Properties": {
                    "Environment": {
                        "Variables": {
                            "TODO_USER_POOL_ARN": TRUSTED_POOL_ARN,
                            "TODO_COGNITO_CLIENT_ID": TRUSTED_CLIENT_ID,
                        }
                    }
                }
            },
            "RestAPI": {
                "Properties": {
                    # The authorizer trusts this stack's pool, not the ARN in the stage config.
                    "DefinitionBody": {
                        "securityDefinitions": {
                            "TodoUsers": {
                                "x-amazon-apigateway-authorizer": {"providerARNs": [TRUSTED_POOL_ARN]}
                            }
                        }
                    }
                }
            },
        },
        "Outputs": {
            "UserPoolArn": {"Value": TRUSTED_POOL_ARN},
            "UserPoolId": {"Condition": "CreateUserPool", "Value": {"Ref": "UserPool"}},
            "UserPoolClientId": {"Condition": "CreateUserPool", "Value": {"Ref": "UserPoolClient"}},
        },
    }


def _api(retention: int, throttle: dict[str, int]) -> dict[str, Any]:
    """The REST API's stage: tracing, throttling, access logs, gateway responses."""
    return {
        "Resources": {
            "RestAPI": {
                "Properties": {
                    "TracingEnabled": True,
                    "MethodSettings": [{"HttpMethod": "*", "ResourcePath": "/*", **throttle}],
                    "AccessLogSetting": {
                        "DestinationArn": {"Fn::GetAtt": ["ApiAccessLogs", "Arn"]},
                        "Format": json.dumps(
                            {
                                "requestId": "$context.requestId",
                                "route": "$context.httpMethod $context.resourcePath",
                                "status": "$context.status",
                                "latencyMs": "$context.responseLatency",
                                "error": "$context.error.responseType",
                            }
                        ),
                    },
                    "GatewayResponses": gateway_responses(),
                }
            },
            "ApiAccessLogs": {
                "Type": "AWS::Logs::LogGroup",
                "Properties": {"RetentionInDays": retention},
            },
        }
    }


# The namespace of the metrics a stage derives from its own logs (one per stage: a metric
# filter's dimensions can only come from the log line).
GATEWAY_NAMESPACE = "todo-api/{stage}"
# A share of the account's concurrency (infrastructure/quotas.json: 1,000 by default) at which the
# account is near its wall: every function in the Region, ours or not, is then at risk.
ACCOUNT_CONCURRENCY = 1000
CONCURRENCY_ALARM_SHARE = 0.8
# The API function's reserved concurrency, where a stage sets it (Chalice's own
# `reserved_concurrency`, so both deploy routes apply it): the stage's rate at this many
# seconds a request (several times the measured warm duration, benchmark/README.md), so a
# slow table cannot take the whole account; AWS keeps 100 unreserved.
RESERVED_SECONDS_PER_REQUEST = 0.2
UNRESERVED_MINIMUM = 100
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
    gateway = [{"Name": "ApiName", "Value": "todo-api"}, {"Name": "Stage", "Value": stage}]
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
                "Namespace": GATEWAY_NAMESPACE.format(stage=stage),
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
                        "MetricNamespace": GATEWAY_NAMESPACE.format(stage=stage),
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


def _observability(stage: str, retention: int) -> dict[str, Any]:
    """The functions' names and log groups, and the alarms with the topic they notify."""
    resources: dict[str, Any] = {
        **_spike_alarms(stage),
        "AlarmTopic": {"Type": "AWS::SNS::Topic", "Properties": {"KmsMasterKeyId": "alias/aws/sns"}},
        "Api5xxRate": _alarm(
            "More than 1% of API requests failed with 5xx over 5 minutes",
            {
                "Namespace": "AWS/ApiGateway",
                "MetricName": "5XXError",
                "Statistic": "Average",  # 5XXError is 0 or 1 per request: its average is the rate
                "Dimensions": [{"Name": "ApiName", "Value": "todo-api"}, {"Name": "Stage", "Value": stage}],
            },
            0.01,
        ),
        "PurgeBehind": _alarm(
            "purge_completed ended three hourly runs in a row with work left (from its EMF metrics)",
            {
                "Namespace": "todo-api",
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
                "Namespace": "todo-api",
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
    resources["Dashboard"] = dashboard.resource(stage)
    for logical, name in FUNCTIONS.items():
        resources[logical] = {"Properties": {"FunctionName": function_name(stage, name)}}
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


def _protection(stage: str) -> dict[str, Any]:
    """Where the scheduled jobs' failed runs go: retries, then a queue (and an alarm on it)."""
    resources: dict[str, Any] = {
        "JobFailures": {
            "Type": "AWS::SQS::Queue",
            # It is itself the dead-letter queue: a redrive policy would have nowhere to go.
            "Metadata": {"cfn-lint": {"config": {"ignore_checks": ["ES6000"]}}},
            "Properties": {
                "QueueName": FAILURE_QUEUE["purge_completed"].format(stage=stage),
                "MessageRetentionPeriod": 1209600,
                "SqsManagedSseEnabled": True,
            },
        },
        "JobFailuresPolicy": {
            "Type": "AWS::SQS::QueuePolicy",
            "Properties": {
                "Queues": [{"Ref": "JobFailures"}],
                "PolicyDocument": {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Sid": "ScheduleDeliveryFailures",
                            "Effect": "Allow",
                            "Principal": {"Service": "events.amazonaws.com"},
                            "Action": "sqs:SendMessage",
                            "Resource": {"Fn::GetAtt": ["JobFailures", "Arn"]},
                        }
                    ],
                },
            },
        },
    }
    failures = {"Fn::GetAtt": ["JobFailures", "Arn"]}
    for logical in SCHEDULED_JOBS:
        resources[logical] = {
            "Properties": {
                # Lambda retries a failed scheduled run twice, then records it here; a
                # schedule that cannot invoke the function at all lands here too.
                "EventInvokeConfig": {
                    "MaximumRetryAttempts": 2,
                    "DestinationConfig": {"OnFailure": {"Type": "SQS", "Destination": failures}},
                },
                "Events": {f"{logical}Event": {"Properties": {"DeadLetterConfig": {"Arn": failures}}}},
            }
        }
    return {"Resources": resources}


# The web ACL's managed rules that inspect free text in a body: a todo's title may hold
# markup, a path or a URL (it is stored and shown as text, never run), so they count
# instead of blocking. The rest of the common set blocks; its body-size rule (over 8 KB)
# blocks exactly what the app itself refuses (web.MAX_BODY_BYTES).
FREE_TEXT_RULES = ("CrossSiteScripting_BODY", "GenericLFI_BODY", "GenericRFI_BODY", "EC2MetaDataSSRF_BODY")
# Clients that send no User-Agent (scripts, some HTTP libraries) are clients still.
COUNTED_RULES = (*FREE_TEXT_RULES, "NoUserAgent_HEADER")
# Requests per client address in any 5 minutes before the rate rule blocks: what the
# spike's people behind one carrier NAT send (infrastructure/capacity.py: 600 people, 10 requests
# each in their first 5 minutes); one client alone sending that much is a flood.
RATE_LIMIT = capacity.per_address_limit()
# What the rate rule answers: the app's 429 in its error shape, with a Retry-After (WAF
# counts over the trailing 5 minutes and lifts the block once the rate falls under the
# limit: a minute is a fair first wait), and CORS so that the page can read it.
RATE_BLOCKED_SECONDS = 60
RATE_BLOCKED_MESSAGE = "too many requests from your network: retry after a pause"
RATE_BLOCKED = {
    "ResponseCode": TooManyRequests.STATUS_CODE,
    "CustomResponseBodyKey": "TooManyRequests",
    "ResponseHeaders": [
        {"Name": "Retry-After", "Value": str(RATE_BLOCKED_SECONDS)},
        {"Name": "Access-Control-Allow-Origin", "Value": "*"},
    ],
}


def _managed_rule(name: str, group: str, priority: int, counted: tuple[str, ...] = ()) -> dict[str, Any]:
    statement: dict[str, Any] = {"VendorName": "AWS", "Name": group}
    if counted:
        statement["RuleActionOverrides"] = [{"Name": rule, "ActionToUse": {"Count": {}}} for rule in counted]
    return {
        "Name": name,
        "Priority": priority,
        "OverrideAction": {"None": {}},
        "Statement": {"ManagedRuleGroupStatement": statement},
        "VisibilityConfig": _visibility(name),
    }


def _visibility(name: str) -> dict[str, Any]:
    return {"SampledRequestsEnabled": True, "CloudWatchMetricsEnabled": True, "MetricName": name}


# The log group as WAF names a destination: its ARN without GetAtt's trailing ":*".
_WAF_LOG_GROUP_ARN = "arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:${WebACLLogs}"


def _firewall(stage: str, retention: int) -> dict[str, Any]:
    """A regional web ACL on the REST stage (API Gateway takes regional ACLs, even for an
    edge-optimized API): AWS's common and known-bad-inputs rule groups, a rate rule per
    client IP, and its logs, kept as long as the stage's other logs."""
    return {
        "Resources": {
            "WebACL": {
                "Type": "AWS::WAFv2::WebACL",
                "Properties": {
                    "Name": f"todo-api-{stage}",
                    "Scope": "REGIONAL",
                    "DefaultAction": {"Allow": {}},
                    "VisibilityConfig": _visibility(f"todo-api-{stage}"),
                    "CustomResponseBodies": {
                        "TooManyRequests": {
                            "ContentType": "APPLICATION_JSON",
                            "Content": json.dumps(
                                errors.body(TooManyRequests.__name__, RATE_BLOCKED_MESSAGE)
                            ),
                        }
                    },
                    "Rules": [
                        {
                            "Name": "RatePerClientIp",
                            "Priority": 0,
                            "Action": {"Block": {"CustomResponse": RATE_BLOCKED}},
                            "Statement": {
                                "RateBasedStatement": {"Limit": RATE_LIMIT, "AggregateKeyType": "IP"}
                            },
                            "VisibilityConfig": _visibility("RatePerClientIp"),
                        },
                        _managed_rule("KnownBadInputs", "AWSManagedRulesKnownBadInputsRuleSet", 1),
                        _managed_rule("Common", "AWSManagedRulesCommonRuleSet", 2, COUNTED_RULES),
                    ],
                },
            },
            "WebACLAssociation": {
                "Type": "AWS::WAFv2::WebACLAssociation",
                "Properties": {
                    "ResourceArn": {
                        "Fn::Sub": "arn:${AWS::Partition}:apigateway:${AWS::Region}::/restapis/${RestAPI}"
                        "/stages/${RestAPI.Stage}"
                    },
                    "WebACLArn": {"Fn::GetAtt": ["WebACL", "Arn"]},
                },
            },
            # WAF's logs go to a log group whose name starts with aws-waf-logs- (its rule).
            "WebACLLogs": {
                "Type": "AWS::Logs::LogGroup",
                "Properties": {
                    "LogGroupName": f"aws-waf-logs-todo-api-{stage}",
                    "RetentionInDays": retention,
                },
            },
            "WebACLLogging": {
                "Type": "AWS::WAFv2::LoggingConfiguration",
                "Properties": {
                    "ResourceArn": {"Fn::GetAtt": ["WebACL", "Arn"]},
                    "LogDestinationConfigs": [{"Fn::Sub": _WAF_LOG_GROUP_ARN}],
                    # Never the token: the Authorization header is redacted in the logs.
                    "RedactedFields": [{"SingleHeader": {"Name": "authorization"}}],
                },
            },
        }
    }


_CLIENT_NAME = re.compile(r"[A-Za-z0-9]{1,40}")
_PLAN_KEYS = {"rate", "burst", "quota", "period"}


def _client_keys(stage: str, plans: Mapping[str, Any]) -> dict[str, Any]:
    """API keys and usage plans (a stage's `usage_plans`, off when absent): one plan and one
    key per client application (`{"web": {"rate": 20, "burst": 40, "quota": 100000,
    "period": "DAY"}}`), and every route requires a key as well as a Cognito ID token.

    A key names the client application that calls (the web app, a mobile app, a partner)
    so that each can be metered and throttled apart; it is not a secret (it ships inside
    those clients) and grants nothing: Cognito remains the only authorization."""
    if not plans:
        return {}
    from app import app  # the routes (importing the app touches no network)

    resources: dict[str, Any] = {}
    outputs: dict[str, Any] = {}
    for client, plan in plans.items():
        if not _CLIENT_NAME.fullmatch(client) or set(plan) != _PLAN_KEYS:
            raise SystemExit(
                f"usage_plans: {client!r} needs a name of letters and digits and {sorted(_PLAN_KEYS)}"
            )
        name = f"todo-api-{stage}-{client}"
        resources[f"UsagePlan{client}"] = {
            "Type": "AWS::ApiGateway::UsagePlan",
            "Properties": {
                "UsagePlanName": name,
                "ApiStages": [{"ApiId": {"Ref": "RestAPI"}, "Stage": {"Ref": "RestAPI.Stage"}}],
                "Throttle": {"RateLimit": plan["rate"], "BurstLimit": plan["burst"]},
                "Quota": {"Limit": plan["quota"], "Period": plan["period"]},
            },
        }
        resources[f"ApiKey{client}"] = {
            "Type": "AWS::ApiGateway::ApiKey",
            "Properties": {
                "Name": name,
                "Enabled": True,
                "Description": f"Identifies the {client} client app: not a secret, not access control",
            },
        }
        resources[f"UsagePlanKey{client}"] = {
            "Type": "AWS::ApiGateway::UsagePlanKey",
            "Properties": {
                "KeyId": {"Ref": f"ApiKey{client}"},
                "KeyType": "API_KEY",
                "UsagePlanId": {"Ref": f"UsagePlan{client}"},
            },
        }
        # The key's id; its value: aws apigateway get-api-key --api-key ID --include-value.
        outputs[f"ApiKeyId{client}"] = {"Value": {"Ref": f"ApiKey{client}"}}
    # Both requirements in one object: a route needs the token and the key (browsers send
    # no key on a CORS preflight, and the OPTIONS methods, not in app.routes, require none).
    security: list[dict[str, list[str]]] = [{"TodoUsers": [], "api_key": []}]
    paths = {
        path: {method.lower(): {"security": security} for method in methods}
        for path, methods in app.routes.items()
    }
    resources["RestAPI"] = {
        "Properties": {
            "DefinitionBody": {
                "x-amazon-apigateway-api-key-source": "HEADER",
                "securityDefinitions": {"api_key": {"type": "apiKey", "name": "x-api-key", "in": "header"}},
                "paths": paths,
            }
        }
    }
    return {"Resources": resources, "Outputs": outputs}


# The alias the API invokes when a cold-start option is on (SAM's AutoPublishAlias makes
# it, as APIHandlerAlias<name>, with a new version for each code or configuration change).
ALIAS = "live"
_INVOKE_ALIAS = {
    "Fn::Sub": "arn:${AWS::Partition}:apigateway:${AWS::Region}:lambda:path/2015-03-31/functions/"
    f"${{APIHandlerAlias{ALIAS}}}/invocations"
}


def _cold_start(settings: stages.Stage) -> dict[str, Any]:
    """The stage's cold-start options, off by default: `snapstart` (restore from a snapshot
    of the initialized function) or `provisioned_concurrency` (N environments kept warm).

    Either applies to a published version only, so the function gets an alias and the API
    must invoke that alias, and hold the permission to: Chalice's template points the
    integrations and the permission at the unqualified function, where neither option acts."""
    snapstart, concurrency = settings.snapstart, settings.provisioned_concurrency
    if not snapstart and not concurrency:
        return {}
    if snapstart and concurrency:
        # Lambda refuses provisioned concurrency on a version that has SnapStart.
        raise SystemExit("a stage may set snapstart or provisioned_concurrency, not both")
    properties: dict[str, Any] = {"AutoPublishAlias": ALIAS}
    if snapstart:
        properties["SnapStart"] = {"ApplyOn": "PublishedVersions"}
    else:
        properties["ProvisionedConcurrencyConfig"] = {"ProvisionedConcurrentExecutions": concurrency}
    from app import app  # the routes Chalice integrates (importing the app touches no network)

    paths = {
        path: {
            method.lower(): {"x-amazon-apigateway-integration": {"uri": _INVOKE_ALIAS}} for method in methods
        }
        for path, methods in app.routes.items()
    }
    return {
        "Resources": {
            "APIHandler": {"Properties": properties},
            "RestAPI": {"Properties": {"DefinitionBody": {"paths": paths}}},
            "APIHandlerInvokePermission": {
                "Properties": {"FunctionName": {"Ref": f"APIHandlerAlias{ALIAS}"}}
            },
        }
    }


def main() -> None:
    stage = sys.argv[1] if len(sys.argv) > 1 else "dev"
    print(json.dumps(merge_template(stage), indent=2))


if __name__ == "__main__":
    main()

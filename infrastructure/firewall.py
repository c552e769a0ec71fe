"""A web application firewall on the REST stage (a stage's `waf`)."""

from __future__ import annotations

import json
from typing import Any

from chalicelib import errors
from chalicelib.errors import TooManyRequests
from infrastructure import capacity, names
from infrastructure.checkov import CMK_LOGS
from infrastructure.stage import Stage

CHECKOV_SKIPS: dict[str, list[tuple[str, str]]] = {"WebACLLogs": [CMK_LOGS]}


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


def resources(stage: Stage) -> dict[str, Any]:
    """A regional web ACL on the REST stage (API Gateway takes regional ACLs, even for an
    edge-optimized API), if the stage sets `waf`: AWS's common and known-bad-inputs rule
    groups, a rate rule per client IP, and its logs, kept as long as the stage's other logs."""
    if not stage.waf:
        return {}
    stage_name, retention = stage.name, stage.log_retention_days
    return {
        "Resources": {
            "WebACL": {
                "Type": "AWS::WAFv2::WebACL",
                "Properties": {
                    "Name": names.of(stage_name),
                    "Scope": "REGIONAL",
                    "DefaultAction": {"Allow": {}},
                    "VisibilityConfig": _visibility(names.of(stage_name)),
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
                    "LogGroupName": names.waf_logs(stage_name),
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

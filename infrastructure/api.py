"""The REST API's stage: the gateway's own answers in the app's vocabulary, tracing,
throttling, access logs."""

from __future__ import annotations

import json
from typing import Any

from chalicelib import errors
from chalicelib.errors import GATEWAY_ERRORS, RETRY_AFTER_SECONDS, TooManyRequests, gateway_message
from chalicelib.web import HSTS, SECURITY_HEADERS
from infrastructure.checkov import CMK_LOGS

CHECKOV_SKIPS: dict[str, list[tuple[str, str]]] = {
    "RestAPI": [
        (
            "CKV_AWS_120",
            (
                "Every response is per user and changes with each write: a cache would serve stale or "
                "foreign data, and costs by the hour."
            ),
        ),
    ],
    "ApiAccessLogs": [CMK_LOGS],
}


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


def resources(retention: int, throttle: dict[str, int]) -> dict[str, Any]:
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

"""The REST API's stage: the gateway's own answers in the app's vocabulary, tracing,
throttling, access logs; and the contract at its edge (infrastructure/contract.py): the bodies'
models and validator, and the document served by a mock integration."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from chalicelib import errors
from chalicelib.errors import GATEWAY_ERRORS, RETRY_AFTER_SECONDS, TooManyRequests, gateway_message
from chalicelib.web import HSTS, SECURITY_HEADERS
from infrastructure import capacity, contract
from infrastructure.checkov import CMK_LOGS
from infrastructure.stage import Stage

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


# Where the gateway can say more than its error class's message: its models refused the body.
_MESSAGES = {
    "BAD_REQUEST_BODY": "the body does not match the API's schema (GET /openapi.json)",
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
        body = json.dumps(errors.body(error.__name__, _MESSAGES.get(kind) or gateway_message(error)))
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


def resources(stage: Stage) -> dict[str, Any]:
    """The REST API's stage: tracing, throttling, access logs, gateway responses."""
    throttle = capacity.throttling(stage.spike_target)
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
                "Properties": {"RetentionInDays": stage.log_retention_days},
            },
        }
    }


def _document_operation(document: dict[str, Any]) -> dict[str, Any]:
    headers = contract.document_headers()
    return {
        "produces": ["application/json"],
        "responses": {
            "200": {
                "description": "The OpenAPI document",
                "headers": {h: {"type": "string"} for h in headers},
            }
        },
        "x-amazon-apigateway-integration": {
            "type": "mock",
            "passthroughBehavior": "when_no_match",
            "requestTemplates": {"application/json": '{"statusCode": 200}'},
            "responses": {
                "default": {
                    "statusCode": "200",
                    "responseParameters": {
                        f"method.response.header.{h}": f"'{v}'" for h, v in headers.items()
                    },
                    "responseTemplates": {"application/json": contract.document_template(document)},
                }
            },
        },
    }


def at_the_edge(template: dict[str, Any], contract_path: Path = contract.CONTRACT) -> dict[str, Any]:
    """`template` (the packaged SAM) with its REST API validating the bodies and serving the
    document."""
    out = copy.deepcopy(template)
    document = contract.load(contract_path)
    definition = out["Resources"]["RestAPI"]["Properties"]["DefinitionBody"]
    definition.setdefault("definitions", {}).update(contract.models(document))
    definition["x-amazon-apigateway-request-validators"] = {
        contract.VALIDATOR: {"validateRequestBody": True, "validateRequestParameters": False}
    }
    for (path, method), model in contract.VALIDATED_BODIES.items():
        operation = definition["paths"][path][method]
        operation.setdefault("parameters", []).append(
            {"in": "body", "name": model, "required": True, "schema": {"$ref": f"#/definitions/{model}"}}
        )
        operation["x-amazon-apigateway-request-validator"] = contract.VALIDATOR
    definition["paths"][contract.DOCUMENT_PATH] = {"get": _document_operation(document)}
    return out

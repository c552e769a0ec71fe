"""What API Gateway answers itself speaks the app's vocabulary.

The deployed stage answers some requests before (or instead of) the function: its Cognito
authorizer's 401, a path with no route, throttling, an oversize body, a timeout. Each
answer is one of its gateway response types; this renders the packaged API's responses as
API Gateway does (its default statuses, the DEFAULT_4XX/5XX fallback, static header
values, the body template) and holds every one to openapi.yaml's error schema and codes.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from chalicelib import errors
from infrastructure.rehearsal.rehearse import offline_aws, transform
from tests.support import ROOT, SPEC, resolve

pytestmark = pytest.mark.no_moto

# API Gateway's response types and their default statuses (API Gateway Developer Guide,
# "Gateway response types for API Gateway").
DEFAULT_STATUS = {
    "ACCESS_DENIED": 403, "API_CONFIGURATION_ERROR": 500, "AUTHORIZER_CONFIGURATION_ERROR": 500,
    "AUTHORIZER_FAILURE": 500, "BAD_REQUEST_PARAMETERS": 400, "BAD_REQUEST_BODY": 400,
    "EXPIRED_TOKEN": 403, "INTEGRATION_FAILURE": 504, "INTEGRATION_TIMEOUT": 504,
    "INVALID_API_KEY": 403, "INVALID_SIGNATURE": 403, "MISSING_AUTHENTICATION_TOKEN": 403,
    "QUOTA_EXCEEDED": 429, "REQUEST_TOO_LARGE": 413, "RESOURCE_NOT_FOUND": 404, "THROTTLED": 429,
    "UNAUTHORIZED": 401, "UNSUPPORTED_MEDIA_TYPE": 415, "WAF_FILTERED": 403,
}  # fmt: skip
REQUIRED = (
    "UNAUTHORIZED", "ACCESS_DENIED", "MISSING_AUTHENTICATION_TOKEN", "THROTTLED", "REQUEST_TOO_LARGE",
    "INTEGRATION_TIMEOUT", "DEFAULT_4XX", "DEFAULT_5XX",
)  # fmt: skip
# $context variables API Gateway can put in a gateway response's template.
CONTEXT = {
    "$context.error.messageString": '"Unauthorized \\"quoted\\""',
    "$context.error.message": 'Unauthorized "quoted"',
    "$context.error.responseType": "UNAUTHORIZED",
    "$context.requestId": "c6af9ac6-7b61-11e6-9a41-93e8deadbeef",
}
ERROR_SCHEMA = resolve(SPEC["components"]["schemas"]["Error"])


@pytest.fixture(scope="module")
def gateway_responses(packaged: Callable[[str], Path]) -> dict[str, Any]:
    """The gateway responses of the API as API Gateway imports it (after the SAM transform)."""
    built = packaged("dev")
    sam = json.loads((Path(built) / "sam.json").read_text())
    with offline_aws("us-east-1"):
        template = transform(sam, "s3://bucket/deployment.zip", "us-east-1")
    body = template["Resources"]["RestAPI"]["Properties"]["Body"]
    responses: dict[str, Any] = body["x-amazon-apigateway-gateway-responses"]
    return responses


def render(configured: dict[str, Any], kind: str) -> tuple[int, dict[str, str], Any]:
    """What API Gateway sends for a response of type `kind`: (status, headers, JSON body)."""
    status = DEFAULT_STATUS[kind]
    response = configured.get(kind) or configured.get(f"DEFAULT_{status // 100}XX")
    assert response is not None, f"{kind} would get API Gateway's own body"
    status = int(response.get("statusCode", status))
    headers = {}
    for name, value in response.get("responseParameters", {}).items():
        assert name.startswith("gatewayresponse.header."), name
        # A static value is quoted; anything else is a mapping expression.
        assert re.fullmatch(r"'[^']*'", value), f"{name} is not a static value: {value}"
        headers[name.removeprefix("gatewayresponse.header.")] = value[1:-1]
    text = response["responseTemplates"]["application/json"]
    for variable, value in CONTEXT.items():
        text = text.replace(variable, value)
    assert not re.search(r"[$#][A-Za-z{!]", text), f"an unknown VTL reference or directive in {text}"
    return status, headers, json.loads(text)


@pytest.mark.parametrize("kind", sorted(DEFAULT_STATUS))
def test_every_gateway_answer_is_in_the_documented_shape_and_vocabulary(
    gateway_responses: dict[str, Any], kind: str
) -> None:
    status, headers, body = render(gateway_responses, kind)
    jsonschema.validate(body, ERROR_SCHEMA)
    assert body["Code"] in ERROR_SCHEMA["properties"]["Code"]["enum"]
    assert headers["Access-Control-Allow-Origin"] == "*"  # or a browser sees no status at all
    if kind in errors.GATEWAY_ERRORS:  # its own response: the app's status for that code
        assert status == getattr(errors, body["Code"]).STATUS_CODE
    if status == 429:
        assert int(headers["Retry-After"]) > 0


def test_the_required_types_have_their_own_responses(gateway_responses: dict[str, Any]) -> None:
    assert set(REQUIRED) <= set(gateway_responses)
    codes = {kind: render(gateway_responses, kind)[2]["Code"] for kind in DEFAULT_STATUS}
    assert codes["UNAUTHORIZED"] == "Unauthenticated"  # what the app and `make run` say
    assert render(gateway_responses, "MISSING_AUTHENTICATION_TOKEN")[:1] == (404,)
    assert codes["MISSING_AUTHENTICATION_TOKEN"] == "RouteNotFound"
    assert (codes["THROTTLED"], codes["REQUEST_TOO_LARGE"]) == ("TooManyRequests", "PayloadTooLarge")
    assert (codes["INTEGRATION_TIMEOUT"], codes["AUTHORIZER_FAILURE"]) == (
        "GatewayTimeout",
        "InternalServerError",
    )


def test_one_vocabulary_in_code_and_document() -> None:
    assert ERROR_SCHEMA["properties"]["Code"]["enum"] == list(errors.CODES)
    # Every error class the app can raise is a documented code.
    raised = {
        name
        for name, value in vars(errors).items()
        if isinstance(value, type)
        and issubclass(value, errors.ChaliceViewError)
        and value.__module__ == errors.__name__
    }
    assert raised <= set(errors.CODES)
    readme = (ROOT / "docs" / "api.md").read_text()
    for code in errors.CODES:
        assert f"`{code}`" in readme, f"docs/api.md's error table lacks {code}"

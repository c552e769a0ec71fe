"""`GET /openapi.json` on the packaged REST API: the contract as deployed, answered by a mock
integration (no Lambda, nothing in the zip), public and cached. The response template is
rendered here as API Gateway's template engine would: its two `$util.base64Decode` calls and
the `$context` variables of the server URL, and nothing else that engine could interpret."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from infrastructure import contract
from tests.support import SPEC

pytestmark = pytest.mark.no_moto

CONTEXT = {"$context.domainName": "abc123.execute-api.eu-west-1.amazonaws.com", "$context.stage": "api"}


def render(template: str) -> Any:
    """The body API Gateway sends for `template`, refusing any other VTL in it."""
    decoded = re.sub(
        r'\$util\.base64Decode\("([A-Za-z0-9+/=]*)"\)', lambda m: base64.b64decode(m[1]).decode(), template
    )
    leftover = re.sub(r'\$util\.base64Decode\("[A-Za-z0-9+/=]*"\)', "", template)
    for variable in CONTEXT:
        leftover = leftover.replace(variable, "")
    assert not re.search(r"[$#\\]", leftover), f"VTL the renderer does not know: {leftover[:200]}"
    for variable, value in CONTEXT.items():
        decoded = decoded.replace(variable, value)
    return json.loads(decoded)


@pytest.fixture(scope="module")
def operation(packaged: Callable[..., Path]) -> dict[str, Any]:
    sam = json.loads((packaged("dev") / "sam.json").read_text())
    body = sam["Resources"]["RestAPI"]["Properties"]["DefinitionBody"]
    found: dict[str, Any] = body["paths"][contract.DOCUMENT_PATH]["get"]
    return found


def test_the_served_document_is_the_repositorys_with_the_stages_url(operation: dict[str, Any]) -> None:
    integration = operation["x-amazon-apigateway-integration"]
    assert integration["type"] == "mock"  # no Lambda behind it
    response = integration["responses"]["default"]
    served = render(response["responseTemplates"]["application/json"])
    assert served["servers"] == [
        {"url": "https://abc123.execute-api.eu-west-1.amazonaws.com/api", "description": "this deployment"}
    ]
    assert {key: value for key, value in served.items() if key != "servers"} == {
        key: value for key, value in SPEC.items() if key != "servers"
    }


def test_it_is_public_cached_and_carries_the_headers_of_the_apis_other_answers(
    operation: dict[str, Any],
) -> None:
    assert "security" not in operation  # public, like the page's files
    parameters = operation["x-amazon-apigateway-integration"]["responses"]["default"]["responseParameters"]
    headers = {
        name.removeprefix("method.response.header."): value.strip("'") for name, value in parameters.items()
    }
    assert headers["Cache-Control"] == "public, max-age=300"
    assert headers["Access-Control-Allow-Origin"] == "*"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Strict-Transport-Security"].startswith("max-age=")
    assert set(headers) == set(operation["responses"]["200"]["headers"])  # each one declared


def test_the_document_marks_the_path_the_gateway_serves() -> None:
    assert [
        path for path, item in SPEC["paths"].items() if item.get("x-todo-served-by") == "api-gateway"
    ] == [contract.DOCUMENT_PATH]

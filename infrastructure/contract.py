"""The contract at the edge: openapi.yaml, the one source of the API's shapes, made into what
the packaged REST API enforces and serves before any Lambda runs (infrastructure/api.py puts
them on the API; `make run` serves the document the same way, tools/local.py).

- Request validation: the create and update bodies' schemas become API Gateway models (JSON
  Schema draft 4, with API Gateway's limits) behind a body validator, so a malformed body is
  refused by the gateway (its BAD_REQUEST_BODY answer, in the app's error shape:
  infrastructure/api.py) and costs no invocation. The app keeps every check: a model is the
  same rule or a looser one, never a stricter one (tests/infrastructure/test_request_validation.py
  proves it both ways, and names each rule where the gateway is looser).
- The list's query parameters get no validator: API Gateway's parameter validation only checks
  that *required* parameters are present, not their type or format, and the list's are all
  optional ("Request validation for REST APIs in API Gateway", AWS's developer guide).
- `GET /openapi.json`: the document itself, with the stage's server URL, answered by a mock
  integration (no Lambda, nothing added to the zip) and cached for 5 minutes.

Only the packaged REST API carries these. The HTTP API has no request validation and no mock
integrations; `chalice deploy` builds its API's definition itself and takes no models,
validators or extra paths (docs/api.md says what each route serves).
"""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path
from typing import Any

import yaml  # type: ignore[import-untyped]  # (no stubs locked; one call)

from chalicelib.web import HSTS, SECURITY_HEADERS
from infrastructure.stages import ROOT

CONTRACT = ROOT / "openapi.yaml"
# The request bodies the gateway validates: (path, method) -> the contract's schema.
VALIDATED_BODIES = {("/todos", "post"): "NewTodo", ("/todos/{todo_id}", "patch"): "TodoPatch"}
# The path the gateway answers itself (openapi.yaml marks it `x-todo-served-by: api-gateway`).
DOCUMENT_PATH = "/openapi.json"
VALIDATOR = "body"
CACHE_CONTROL = "public, max-age=300"
SERVER_URL = "https://$context.domainName/$context.stage"  # as the deployed stage is called

# What a model may hold: JSON Schema draft 4 as API Gateway takes it. AWS's important notes
# for REST APIs list what it does not: discriminator, example, exclusiveMinimum, oneOf,
# readOnly, int32/int64/decimal formats; they once listed additionalProperties and anyOf as
# well, which users report enforced since (aws/aws-cdk#3993). A keyword the gateway ignored
# would only make it looser: the app still refuses.
MODEL_KEYWORDS = frozenset(
    {"$schema", "title", "type", "properties", "additionalProperties", "required", "anyOf",
     "minProperties", "minimum", "maximum", "minLength", "maxLength", "pattern", "enum", "not"}
)  # fmt: skip
# What the contract says that a model leaves out: descriptions and defaults decide nothing.
LEFT_OUT = frozenset({"description", "default"})


def load(path: Path = CONTRACT) -> dict[str, Any]:
    try:
        document: dict[str, Any] = yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        raise ValueError(f"{path} is not YAML: {str(error).splitlines()[0]}") from None
    return document


def inlined(node: Any, document: dict[str, Any]) -> Any:
    if isinstance(node, dict):
        if "$ref" in node:
            target: Any = document
            for part in node["$ref"].removeprefix("#/").split("/"):
                target = target[part]
            return inlined(target, document)
        return {key: inlined(value, document) for key, value in node.items()}
    if isinstance(node, list):
        return [inlined(value, document) for value in node]
    return node


# Lengths, counted as UTF-16 units where the app counts code points: an emoji is two units.
# ECMA 262 regexes, which JSON Schema prescribes for `pattern`, count units; how API Gateway
# counts `maxLength` is not documented. So a model's bounds are twice (and two) the contract's:
# looser for titles of astral characters near the bound, never stricter.
def _utf16(bound: int) -> int:
    return 2 * bound + 2


def _looser_pattern(pattern: str) -> str:
    """A regex whose bounded repeats allow what `_utf16` allows."""
    return re.sub(r"\{(\d+),(\d+)\}", lambda m: f"{{{m[1]},{_utf16(int(m[2]))}}}", pattern)


def _draft4(schema: dict[str, Any], where: str) -> dict[str, Any]:
    """An OpenAPI 3.0 schema object (refs inlined) as a draft-4 model API Gateway takes."""
    model: dict[str, Any] = {}
    for key, value in schema.items():
        if key in LEFT_OUT or key == "nullable":
            continue
        if key not in MODEL_KEYWORDS:
            raise ValueError(f"{where}: {key!r} is not a keyword API Gateway's models take (draft 4)")
        if key == "properties":
            value = {name: _draft4(sub, f"{where}.{name}") for name, sub in value.items()}
        elif key == "anyOf":
            value = [_draft4(sub, f"{where}.anyOf") for sub in value]
        elif key == "not":
            value = _draft4(value, f"{where}.not")
        elif key == "pattern":
            value = _looser_pattern(value)
        elif key == "maxLength":
            value = _utf16(value)
        model[key] = value
    if schema.get("nullable"):
        model["type"] = [model["type"], "null"]
    return model


def model_problems(model: dict[str, Any]) -> list[str]:
    """The keywords of a model (at any depth) that API Gateway's models do not take."""
    found = [
        f"{key!r} is not a keyword API Gateway's models take" for key in model if key not in MODEL_KEYWORDS
    ]
    nested = [*model.get("properties", {}).values(), *model.get("anyOf", [])]
    for sub in nested + ([model["not"]] if "not" in model else []):
        found += model_problems(sub)
    return found


def models(document: dict[str, Any] | None = None) -> dict[str, dict[str, Any]]:
    """The gateway's models of the validated bodies, from the contract's schemas."""
    document = document or load()
    schemas = document["components"]["schemas"]
    return {
        name: {"$schema": "http://json-schema.org/draft-04/schema#", "title": name}
        | _draft4(inlined(schemas[name], document), name)
        for name in VALIDATED_BODIES.values()
    }


def served(document: dict[str, Any], server_url: str) -> dict[str, Any]:
    """The document as `GET /openapi.json` answers it: the repository's, with one server."""
    return {**document, "servers": [{"url": server_url, "description": "this deployment"}]}


_SERVER_MARK = "https://server.invalid/"


def document_template(document: dict[str, Any] | None = None) -> str:
    """The mock integration's response template: the served document, base64-encoded around
    the server URL so that no `$`, `#` or `\\` of the document reaches the template engine."""
    text = json.dumps(served(document or load(), _SERVER_MARK), separators=(",", ":"))
    before, after = text.split(_SERVER_MARK)
    parts = (base64.b64encode(part.encode()).decode() for part in (before, after))
    return SERVER_URL.join(f'$util.base64Decode("{part}")' for part in parts)


def document_headers() -> dict[str, str]:
    """What `GET /openapi.json` answers with besides the body (JSON, per the template's type)."""
    # The security headers' no-store is for per-user answers; this one is the same for all.
    return {**SECURITY_HEADERS, **HSTS, "Access-Control-Allow-Origin": "*", "Cache-Control": CACHE_CONTROL}

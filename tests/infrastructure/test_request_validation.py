"""The contract at the REST API's edge: the create and update bodies validated by API Gateway's
models before any Lambda runs, generated from openapi.yaml (infrastructure/contract.py), and
held to one set of rules with the app.

Both directions are proven with generated bodies: every body the app accepts passes the
gateway's model, and every body the model refuses the app refuses too, with the same status.
Where they differ, the gateway is the looser one, and LOOSER names each rule. The models are
read back from the packaged template after the SAM transform (what CloudFormation gives API
Gateway) and checked with a draft-4 validator, restricted to the keywords API Gateway's models
take. Where the offline rehearsal stops: API Gateway's own validator (and its regex engine) is
not here; the models' length bounds are doubled for that reason (infrastructure/contract.py).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from chalice import ChaliceViewError
from hypothesis import example, given
from hypothesis import strategies as st

from chalicelib import todos, web
from infrastructure import contract
from infrastructure.rehearsal.aws_rules import Stack, check
from infrastructure.rehearsal.rehearse import offline_aws, transform

NOW = datetime(2026, 12, 3, tzinfo=UTC)
OPERATIONS = {"NewTodo": ("/todos", "post"), "TodoPatch": ("/todos/{todo_id}", "patch")}
# Where the gateway lets through what the app refuses: the app's words, and why no model says it.
LOOSER = {
    "must be 1 to 500 characters": "lengths: a model's bounds are doubled for UTF-16 counting",
    "characters as sent": "lengths: a model's bounds are doubled for UTF-16 counting",
    "must not contain control characters": "a lone surrogate: an ECMA 262 pattern (no u flag) cannot say it",
    "larger than": "the 8 KiB body limit, in bytes: no schema says it (the gateway's is 10 MB, quotas.json)",
}


@pytest.fixture(scope="module")
def body(packaged: Callable[..., Path]) -> dict[str, Any]:
    """The REST API's definition as API Gateway imports it (after the SAM transform)."""
    sam = json.loads((packaged("dev") / "sam.json").read_text())
    with offline_aws("us-east-1"):
        template = transform(sam, "s3://bucket/deployment.zip", "us-east-1")
    definition: dict[str, Any] = template["Resources"]["RestAPI"]["Properties"]["Body"]
    return definition


def app_verdict(model: str, payload: Any) -> tuple[int, str]:
    """What the app answers `payload` sent as a JSON body: (status, message); 0 when accepted."""
    try:
        parsed = web.parse_body(json.dumps(payload).encode())
        if model == "NewTodo":
            todos.new_todo(parsed, owner="o", now=NOW, entropy=bytes(10))
        else:
            todos.todo_patch(parsed, now=NOW)
    except ChaliceViewError as error:
        return error.STATUS_CODE, str(error)
    return 0, ""


def validator(schema: dict[str, Any]) -> jsonschema.Draft4Validator:
    """A draft-4 validator for a model that holds only what API Gateway's models take."""
    jsonschema.Draft4Validator.check_schema(schema)
    used: set[str] = set()

    def walk(node: dict[str, Any]) -> None:
        used.update(node)
        for sub in node.get("properties", {}).values():
            walk(sub)
        for sub in node.get("anyOf", []):
            walk(sub)
        if "not" in node:
            walk(node["not"])

    walk(schema)
    assert used <= contract.MODEL_KEYWORDS, used - contract.MODEL_KEYWORDS
    return jsonschema.Draft4Validator(schema)


MODELS = {name: validator(schema) for name, schema in contract.models().items()}


def test_the_packaged_rest_api_validates_the_create_and_update_bodies(body: dict[str, Any]) -> None:
    validators = body["x-amazon-apigateway-request-validators"]
    for model, (path, method) in OPERATIONS.items():
        operation = body["paths"][path][method]
        name = operation["x-amazon-apigateway-request-validator"]
        assert validators[name] == {"validateRequestBody": True, "validateRequestParameters": False}
        [parameter] = [p for p in operation["parameters"] if p["in"] == "body"]
        assert parameter["schema"] == {"$ref": f"#/definitions/{model}"}
        assert "application/json" in operation["consumes"]  # the content type the model is for
        assert body["definitions"][model] == contract.models()[model]  # what the contract makes
        assert re.fullmatch(r"[A-Za-z0-9]+", model)  # API Gateway: model names are alphanumeric
    # The list's parameters get no validator: API Gateway only checks required ones exist.
    assert "x-amazon-apigateway-request-validator" not in body["paths"]["/todos"]["get"]


def test_the_http_api_has_no_request_validation(packaged: Callable[..., Path]) -> None:
    text = (packaged("dev", api="http") / "sam.json").read_text()
    assert "request-validator" not in text
    assert contract.DOCUMENT_PATH not in text  # and no mock integration to serve the document


@pytest.mark.parametrize(
    ("model", "payload"),
    [
        ("NewTodo", {"title": "milk", "colour": "red"}),  # an unknown field
        ("NewTodo", {"title": "milk", "id": "01KWC6D1G00000000000000067"}),  # a read-only one
        ("NewTodo", {"title": 7}),
        ("NewTodo", {"title": "   "}),
        ("NewTodo", {"title": "bell\u0007"}),
        ("NewTodo", {"title": "milk", "task": "milk"}),
        ("NewTodo", {"completed": True}),
        ("NewTodo", {"title": "milk", "order": 2**53}),
        ("NewTodo", {"title": "milk", "order": 1.5}),
        ("NewTodo", [{"title": "milk"}]),
        ("TodoPatch", {}),
        ("TodoPatch", {"completed": "yes"}),
        ("TodoPatch", {"title": "x", "owner": "mallory"}),
    ],
)
def test_a_body_the_gateway_refuses_is_refused_in_the_apps_shape_and_by_the_app(
    body: dict[str, Any], model: str, payload: Any
) -> None:
    refused = jsonschema.Draft4Validator(body["definitions"][model])
    assert not refused.is_valid(payload)
    # What API Gateway answers instead of invoking the function: its BAD_REQUEST_BODY response.
    response = body["x-amazon-apigateway-gateway-responses"]["BAD_REQUEST_BODY"]
    answer = json.loads(response["responseTemplates"]["application/json"])
    headers = {
        k.removeprefix("gatewayresponse.header."): v for k, v in response["responseParameters"].items()
    }
    assert (response["statusCode"], answer["Code"]) == ("400", "InvalidRequest")
    assert "/openapi.json" in answer["Message"]
    assert headers["Access-Control-Allow-Origin"] == "'*'"
    assert headers["X-Content-Type-Options"] == "'nosniff'"
    # The app, called directly (chalice deploy, make run, or a gateway without the model),
    # refuses it too, with the same status.
    assert app_verdict(model, payload)[0] == 400


def test_the_app_refuses_an_unknown_field_over_http(api: Any, auth: Callable[..., dict[str, str]]) -> None:
    response = api.post("/todos", headers=auth(), body='{"title": "milk", "colour": "red"}')
    assert response.status_code == 400
    assert response.json_body == {"Code": "InvalidTodo", "Message": "unknown field 'colour'"}
    assert api.get("/todos", headers=auth()).json_body == []  # nothing written


# Bodies near every rule: JSON values of each kind, titles around each bound and class.
TITLE_CHARS = " \t\n\x0b\x1c\x85\xa0\u2028\u3000\x07\x7f\x9fxé😀"
TITLES = st.one_of(
    st.text(alphabet=TITLE_CHARS, max_size=8),
    st.builds(
        lambda pad, n, char, tail: " " * pad + char * n + " " * tail,
        st.integers(0, 120),
        st.sampled_from([0, 1, 250, 498, 499, 500, 501, 599, 600, 601, 1000, 1001]),
        st.sampled_from(["x", "😀", "é"]),
        st.integers(0, 120),
    ),
)
VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.sampled_from([0, 1, -1, 2**53 - 1, 2**53, -(2**53), 1.0, 1.5, 1e300]),
    st.integers(),
    TITLES,
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.sampled_from(["a", "title"]), st.integers(), max_size=2),
)
KEYS = st.sampled_from(["title", "task", "completed", "order", "id", "url", "x"])
BODIES = st.one_of(
    st.dictionaries(KEYS, VALUES, max_size=4),
    st.fixed_dictionaries(
        {},
        optional={"title": TITLES, "completed": st.booleans(), "order": st.none() | st.integers(-5, 5)},
    ),
    st.fixed_dictionaries({"task": TITLES}),
    VALUES,
)


@given(model=st.sampled_from(sorted(OPERATIONS)), payload=BODIES)
@example(model="NewTodo", payload={"title": "😀" * 500})
@example(model="NewTodo", payload={"title": " " * 100 + "x" * 500})
@example(model="TodoPatch", payload={"order": None})
def test_the_gateway_and_the_app_keep_one_set_of_rules(model: str, payload: Any) -> None:
    status, message = app_verdict(model, payload)
    passes = MODELS[model].is_valid(payload)
    if status == 0:
        assert passes, f"the gateway would refuse a body the app accepts: {payload!r}"
    elif not passes:
        # Refused at the gateway: the app refuses it too, with the same 400 (or its 413, for
        # a body past 8 KiB: a size no schema can say).
        assert status == (413 if len(json.dumps(payload)) > web.MAX_BODY_BYTES else 400), message
    else:
        looser = [rule for words, rule in LOOSER.items() if words in message]
        assert looser, f"the gateway lets through a body the app refuses for a rule no one named: {message}"


def test_each_looser_rule_is_met() -> None:
    """Each rule LOOSER names is real: a body the model passes and the app refuses for it."""
    met = set()
    for payload in (
        {"title": "😀" * 501},  # 501 characters: within the model's doubled bound
        {"title": " " * 101 + "x" * 500},  # 601 as sent
        {"title": "x\ud800y"},  # a lone surrogate
        {"title": "😀" * 700},  # 8,400 bytes as JSON escapes it
    ):
        assert MODELS["NewTodo"].is_valid(payload)
        status, message = app_verdict("NewTodo", payload)
        assert status in (400, 413)
        met |= {words for words in LOOSER if words in message}
    assert met == set(LOOSER)


MUTANTS = {
    "an undeclared validator": (
        lambda body: body["paths"]["/todos"]["post"].update({"x-amazon-apigateway-request-validator": "all"}),
        "validator 'all' is not declared",
    ),
    "a keyword models do not take": (
        lambda body: body["definitions"]["NewTodo"].update(oneOf=[{"required": ["title"]}]),
        "'oneOf' is not a keyword",
    ),
    "a model name API Gateway refuses": (
        lambda body: body["definitions"].update({"New-Todo": {"type": "object"}}),
        "alphanumeric model names only",
    ),
    "an undeclared model": (
        lambda body: body["definitions"].pop("TodoPatch"),
        "its body's model 'TodoPatch' is not declared",
    ),
    "a mapping template past its quota": (
        lambda body: body["paths"]["/openapi.json"]["get"]["x-amazon-apigateway-integration"]["responses"][
            "default"
        ]["responseTemplates"].update({"application/json": "x" * (300 * 1024 + 1)}),
        "a mapping template over its 307,200 bytes",
    ),
}


@pytest.mark.parametrize("mutant", sorted(MUTANTS))
def test_the_rehearsal_refuses_what_api_gateways_import_would(
    packaged: Callable[..., Path], mutant: str
) -> None:
    sam = json.loads((packaged("dev") / "sam.json").read_text())
    with offline_aws("us-east-1"):
        template = transform(sam, "s3://bucket/deployment.zip", "us-east-1")
    assert not [p for p in check(Stack(template, "todo-api-dev")) if "RestAPI" in p]
    edit, expected = MUTANTS[mutant]
    edit(template["Resources"]["RestAPI"]["Properties"]["Body"])
    problems = check(Stack(template, "todo-api-dev"))
    assert any(expected in problem for problem in problems), problems

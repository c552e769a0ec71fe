"""openapi.yaml stays true: a valid OpenAPI 3 document whose operations are exactly the
app's routes, and whose schemas the API's real responses satisfy."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import jsonschema
import pytest
from openapi_spec_validator import validate

import app as todo_app
from tests.support import HOST, SPEC, resolve

Auth = Callable[..., dict[str, str]]
METHODS = {"get", "put", "post", "patch", "delete", "head", "options"}


def test_openapi_document_is_valid() -> None:
    validate(SPEC)


def test_operations_are_exactly_the_routes() -> None:
    documented = {
        (path, method.upper(), operation["operationId"])
        for path, item in SPEC["paths"].items()
        for method, operation in item.items()
        if method in METHODS and item.get("x-todo-served-by") != "api-gateway"  # no route of the app's
    }
    served = {
        (path, method, entry.view_name)
        for path, methods in todo_app.app.routes.items()
        for method, entry in methods.items()
        if not entry.view_name.endswith("method_not_allowed")
    }
    assert documented == served


def check(response: Any, method: str, path: str) -> None:
    """The response's status is documented for the operation and its body fits the schema."""
    responses = SPEC["paths"][path][method]["responses"]
    documented = resolve(responses.get(str(response.status_code)))
    assert documented is not None, f"{method} {path} answered an undocumented {response.status_code}"
    if "content" in documented:
        schema = documented["content"]["application/json"]["schema"]
        jsonschema.validate(response.json_body, schema)
    else:
        assert response.body == b""
    for header in documented.get("headers", {}):
        if header != "Link":  # Link is there only when more pages remain
            assert header in response.headers, f"{method} {path} {response.status_code} lacks {header}"


def test_real_responses_match_the_document(api: Any, auth: Auth) -> None:
    item = "/todos/{todo_id}"
    for body in ('{"title": "a", "order": 2}', '{"task": "b", "completed": true}'):
        created = api.post("/todos", headers=auth(), body=body)
        check(created, "post", "/todos")
    todo = created.json_body
    one = f"/todos/{todo['id']}"
    page = api.get("/todos?limit=1", headers=auth())
    check(page, "get", "/todos")
    assert re.fullmatch(r'<http://[^>]+>; rel="next"', page.headers["Link"])
    check(api.get("/todos?completed=true", headers=auth()), "get", "/todos")
    check(api.get(one, headers=auth()), "get", item)
    check(api.patch(one, headers=auth(), body='{"order": null, "title": "c"}'), "patch", item)
    check(api.delete(one, headers=auth()), "delete", item)
    check(api.delete("/todos?completed=false", headers=auth()), "delete", "/todos")
    # errors
    check(api.get(one, headers=auth()), "get", item)
    check(api.patch(one, headers=auth(), body="{}"), "patch", item)
    check(api.post("/todos", headers=auth(), body="{"), "post", "/todos")
    check(api.post("/todos", headers=auth(), body="x" * 10_000), "post", "/todos")
    check(api.post("/todos", headers=auth(**{"Content-Type": "text/plain"}), body="x"), "post", "/todos")
    check(api.get("/todos?limit=0", headers=auth()), "get", "/todos")
    check(api.get("/todos", headers={"Host": HOST}), "get", "/todos")
    check(api.delete("/todos?completed=1", headers=auth()), "delete", "/todos")
    keyed = auth(**{"Idempotency-Key": "contract-1"})
    check(api.post("/todos", headers=keyed, body='{"title": "k"}'), "post", "/todos")
    check(api.post("/todos", headers=keyed, body='{"title": "k"}'), "post", "/todos")
    check(api.post("/todos", headers=keyed, body='{"title": "other"}'), "post", "/todos")
    second = api.post("/todos", headers=auth(), body='{"title": "z"}').json_body
    stale = auth(**{"If-Match": '"9"'})
    check(api.patch(f"/todos/{second['id']}", headers=stale, body='{"title": "y"}'), "patch", item)
    check(api.delete(f"/todos/{second['id']}", headers=stale), "delete", item)


@pytest.mark.parametrize(
    ("schema", "good", "bad"),
    [
        ("NewTodo", {"task": "t", "order": 1}, {"title": "t", "id": "x"}),
        ("TodoPatch", {"completed": False}, {}),
    ],
)
def test_request_schemas_say_what_the_api_accepts(
    api: Any, auth: Auth, schema: str, good: dict[str, Any], bad: dict[str, Any]
) -> None:
    # The document's request schemas agree with the API on a valid and an invalid body.
    resolved = resolve(SPEC["components"]["schemas"][schema])
    jsonschema.validate(good, resolved)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, resolved)
    target = "/todos"
    method = "post"
    if schema == "TodoPatch":
        target = api.post("/todos", headers=auth(), body='{"title": "t"}').json_body["url"].split(HOST)[1]
        method = "patch"
    assert getattr(api, method)(target, headers=auth(), body=json.dumps(good)).status_code < 300
    assert getattr(api, method)(target, headers=auth(), body=json.dumps(bad)).status_code == 400

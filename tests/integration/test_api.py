"""The HTTP surface through chalice.test.Client (the local gateway) on moto."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import pytest
from chalice.app import CognitoUserPoolAuthorizer
from chalice.config import Config
from chalice.local import LocalGateway

import app as todo_app
from chalicelib.pages import PUBLIC_ROUTES
from tests.support import (
    CONFIG,
    HOST,
    ROOT,
    STAGE,
    items_in_table,
    path_of,
    sub_of,
    todo_items,
    unsigned_token,
)

Auth = Callable[..., dict[str, str]]
LINK = re.compile(r'<(?P<url>[^>]+)>; rel="next"')


def create(api: Any, auth: Auth, user: str = "alice", **fields: Any) -> dict[str, Any]:
    response = api.post("/todos", headers=auth(user), body=json.dumps({"title": "a todo", **fields}))
    assert response.status_code == 201, response.body
    return dict(response.json_body)


def test_every_todos_route_declares_the_cognito_authorizer() -> None:
    routes = todo_app.app.routes
    assert {"/todos", "/todos/{todo_id}", "/jobs/{job_id}"} <= set(routes)
    # Only the web app's files and its config are public: GETs that read no one's data.
    assert set(routes) - PUBLIC_ROUTES == {
        "/todos",
        "/todos/{todo_id}",
        "/todos/{todo_id}/restore",
        "/jobs/{job_id}",
    }
    for path in PUBLIC_ROUTES:
        assert set(routes[path]) == {"GET"}
        assert routes[path]["GET"].authorizer is None
    for path, methods in routes.items():
        if path in PUBLIC_ROUTES:
            continue
        for method, entry in methods.items():
            assert isinstance(entry.authorizer, CognitoUserPoolAuthorizer), (method, path)
            assert entry.authorizer.name == "TodoUsers"


def test_create_returns_201_with_location_and_todo(api: Any, auth: Auth, dynamodb: Any) -> None:
    response = api.post("/todos", headers=auth(), body=json.dumps({"title": " buy milk ", "order": 3}))
    assert response.status_code == 201
    todo = response.json_body
    assert set(todo) == {"id", "title", "completed", "order", "url", "createdAt", "updatedAt"}
    assert (todo["title"], todo["completed"], todo["order"]) == ("buy milk", False, 3)
    assert todo["url"] == f"http://{HOST}/todos/{todo['id']}"
    assert response.headers["Location"] == todo["url"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", todo["createdAt"])
    [item] = todo_items(dynamodb)
    assert item["owner"] == {"S": sub_of("alice")}
    assert item["title"] == {"S": "buy milk"}


def test_task_alias_creates_a_title(api: Any, auth: Auth) -> None:
    response = api.post("/todos", headers=auth(), body=json.dumps({"task": "walk the dog"}))
    assert response.status_code == 201
    assert response.json_body["title"] == "walk the dog"
    assert "task" not in response.json_body


def test_write_then_read(api: Any, auth: Auth) -> None:
    todo = create(api, auth, order=1)
    response = api.get(path_of(todo["url"]), headers=auth())
    assert response.status_code == 200
    assert response.json_body == todo
    assert isinstance(response.json_body["order"], int)
    assert api.get("/todos", headers=auth()).json_body == [todo]


def test_patch_is_partial(api: Any, auth: Auth) -> None:
    todo = create(api, auth, order=1)
    response = api.patch(path_of(todo["url"]), headers=auth(), body=json.dumps({"completed": True}))
    assert response.status_code == 200
    updated = response.json_body
    assert updated["completed"] is True
    assert (updated["title"], updated["order"], updated["createdAt"]) == ("a todo", 1, todo["createdAt"])
    assert updated["updatedAt"] >= todo["updatedAt"]
    assert api.get(path_of(todo["url"]), headers=auth()).json_body == updated


def test_patch_accepts_the_task_alias_and_null_order(api: Any, auth: Auth) -> None:
    todo = create(api, auth, order=1)
    body = json.dumps({"task": "renamed", "order": None})
    updated = api.patch(path_of(todo["url"]), headers=auth(), body=body).json_body
    assert updated["title"] == "renamed"
    assert "order" not in updated


def test_delete_then_gone(api: Any, auth: Auth, dynamodb: Any) -> None:
    todo = create(api, auth)
    response = api.delete(path_of(todo["url"]), headers=auth())
    assert response.status_code == 204
    assert response.body == b""
    assert api.get(path_of(todo["url"]), headers=auth()).status_code == 404
    assert api.delete(path_of(todo["url"]), headers=auth()).status_code == 404
    assert todo_items(dynamodb) == []


@pytest.mark.parametrize("method", ["get", "patch", "delete"])
def test_missing_todo_is_404_in_the_error_shape(api: Any, auth: Auth, dynamodb: Any, method: str) -> None:
    kwargs = {"body": json.dumps({"completed": True})} if method == "patch" else {}
    response = getattr(api, method)("/todos/01ARYZ6S41TSV4RRFFQ69G5FAV", headers=auth(), **kwargs)
    assert response.status_code == 404
    assert response.json_body == {"Code": "TodoNotFound", "Message": "todo not found"}
    assert todo_items(dynamodb) == []


def follow(api: Any, auth: Auth, path: str, user: str = "alice") -> list[list[dict[str, Any]]]:
    pages = []
    while True:
        response = api.get(path, headers=auth(user))
        assert response.status_code == 200, response.body
        pages.append(response.json_body)
        link = response.headers.get("Link")
        if link is None:
            return pages
        match = LINK.fullmatch(link)
        assert match, link
        path = path_of(match["url"])


def test_pagination_walks_every_todo_once_in_creation_order(api: Any, auth: Auth) -> None:
    made = [create(api, auth, title=f"todo {n}")["id"] for n in range(7)]
    create(api, auth, user="bob")
    pages = follow(api, auth, "/todos?limit=3")
    assert [len(p) for p in pages] == [3, 3, 1]
    assert [t["id"] for p in pages for t in p] == made


@pytest.mark.parametrize("completed", [True, False])
def test_filter_by_completed_across_pages(api: Any, auth: Auth, completed: bool) -> None:
    made = [create(api, auth, title=f"todo {n}", completed=n % 2 == 0) for n in range(7)]
    flag = "true" if completed else "false"
    pages = follow(api, auth, f"/todos?completed={flag}&limit=2")
    assert [t["id"] for p in pages for t in p] == [t["id"] for t in made if t["completed"] is completed]
    assert all(len(p) == 2 for p in pages[:-1])


def test_list_default_limit_is_100(api: Any, auth: Auth) -> None:
    for n in range(101):
        create(api, auth, title=f"todo {n}")
    pages = follow(api, auth, "/todos")
    assert [len(p) for p in pages] == [100, 1]


def test_list_of_nothing_is_an_empty_array(api: Any, auth: Auth) -> None:
    response = api.get("/todos", headers=auth())
    assert (response.status_code, response.json_body) == (200, [])
    assert "Link" not in response.headers


def test_cursor_of_another_user_is_400(api: Any, auth: Auth) -> None:
    for _ in range(3):
        create(api, auth, user="alice")
    link = api.get("/todos?limit=1", headers=auth("alice")).headers["Link"]
    stolen = path_of(LINK.fullmatch(link)["url"])  # type: ignore[index]
    response = api.get(stolen, headers=auth("bob"))
    assert response.status_code == 400
    assert response.json_body["Code"] == "InvalidCursor"


def test_clear_all(api: Any, auth: Auth, dynamodb: Any) -> None:
    for _ in range(3):
        create(api, auth)
    create(api, auth, user="bob")
    response = api.delete("/todos", headers=auth())
    assert response.status_code == 204
    assert api.get("/todos", headers=auth()).json_body == []
    assert [i["owner"]["S"] for i in todo_items(dynamodb)] == [sub_of("bob")]


def test_clear_completed(api: Any, auth: Auth) -> None:
    done = create(api, auth, completed=True)
    kept = create(api, auth)
    bobs = create(api, auth, user="bob", completed=True)
    assert api.delete("/todos?completed=true", headers=auth()).status_code == 204
    assert api.get("/todos", headers=auth()).json_body == [kept]
    assert api.get(path_of(done["url"]), headers=auth()).status_code == 404
    assert api.get("/todos", headers=auth("bob")).json_body == [bobs]


def test_url_under_api_gateway_carries_scheme_host_and_stage(
    dynamodb: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The proxy event API Gateway sends the handler: the stage is in requestContext.path.
    monkeypatch.setenv("TODO_TABLE", CONFIG["stages"][STAGE]["environment_variables"]["TODO_TABLE"])
    domain = "abc123.execute-api.us-east-1.amazonaws.com"
    event = {
        "resource": "/todos",
        "path": "/todos",
        "httpMethod": "POST",
        "headers": {"Host": domain, "X-Forwarded-Proto": "https", "Content-Type": "application/json"},
        "multiValueQueryStringParameters": None,
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": {
            "resourcePath": "/todos",
            "httpMethod": "POST",
            "path": "/dev/todos",
            "stage": "dev",
            "domainName": domain,
            "authorizer": {"claims": {"sub": sub_of("alice"), "cognito:username": "alice"}},
        },
        "body": '{"title": "a"}',
        "isBase64Encoded": False,
    }
    response = todo_app.app(event, None)
    assert response["statusCode"] == 201
    todo = json.loads(response["body"])
    assert todo["url"] == f"https://{domain}/dev/todos/{todo['id']}"
    assert response["headers"]["Location"] == todo["url"]


@pytest.mark.parametrize(
    ("path", "method", "allow"),
    [
        ("/todos", "put", "GET, POST, DELETE"),
        ("/todos/01ARYZ6S41TSV4RRFFQ69G5FAV", "post", "GET, PATCH, DELETE"),
    ],
)
def test_wrong_method_is_405_with_allow(api: Any, auth: Auth, path: str, method: str, allow: str) -> None:
    response = getattr(api, method)(path, headers=auth(), body="{}")
    assert response.status_code == 405
    assert response.headers["Allow"] == allow
    assert response.json_body["Code"] == "MethodNotAllowed"


def test_cors_preflight_from_another_origin() -> None:
    # chalice.test.Client cannot render a body-less preflight; its gateway can.
    config = Config.create(chalice_stage=STAGE, config_from_disk=CONFIG, project_dir=str(ROOT))
    gateway = LocalGateway(todo_app.app, config)
    headers = {
        "origin": "https://app.example.org",
        "access-control-request-method": "PATCH",
        "access-control-request-headers": "authorization,content-type",
    }
    for path in ("/todos", "/todos/01ARYZ6S41TSV4RRFFQ69G5FAV"):
        response = gateway.handle_request(method="OPTIONS", path=path, headers=headers, body=None)
        assert response["statusCode"] == 200
        assert response["headers"]["Access-Control-Allow-Origin"] == "*"
        allowed = {h.strip().lower() for h in response["headers"]["Access-Control-Allow-Headers"].split(",")}
        assert {"authorization", "content-type"} <= allowed
        assert {"GET", "POST", "PATCH", "DELETE"} <= set(
            response["headers"]["Access-Control-Allow-Methods"].split(",")
        )


def test_cors_headers_on_responses_and_errors(api: Any, auth: Auth) -> None:
    for response in (
        create_response := api.post("/todos", headers=auth(), body='{"title": "a"}'),
        api.get("/todos/nope", headers=auth()),
    ):
        assert response.headers["Access-Control-Allow-Origin"] == "*"
        exposed = response.headers["Access-Control-Expose-Headers"]
        assert "Location" in exposed
        assert "Link" in exposed
    assert create_response.status_code == 201


# --- identity and isolation ---------------------------------------------------------

ROUTES = [
    ("post", "/todos", '{"title": "x"}'),
    ("get", "/todos", None),
    ("delete", "/todos", None),
    ("get", "/todos/{id}", None),
    ("patch", "/todos/{id}", '{"completed": true}'),
    ("delete", "/todos/{id}", None),
    ("put", "/todos", "{}"),
    ("post", "/todos/{id}", "{}"),
]


@pytest.mark.parametrize(("method", "path", "body"), ROUTES)
@pytest.mark.parametrize(
    "authorization",
    [
        None,
        unsigned_token(**{"cognito:username": "alice"}),  # no sub
        unsigned_token(sub="", **{"cognito:username": "alice"}),
        unsigned_token(sub=7, **{"cognito:username": "alice"}),
        unsigned_token(sub="x" * 129, **{"cognito:username": "alice"}),
        unsigned_token(sub="a\nb", **{"cognito:username": "alice"}),
        unsigned_token(sub=sub_of("alice") + "#idempotency", **{"cognito:username": "alice"}),
        unsigned_token(sub="alice-sub", client_id="c"),  # no cognito:username: admitted without claims
    ],
)
def test_requests_without_a_verified_identity_are_401(
    api: Any, auth: Auth, dynamodb: Any, method: str, path: str, body: str | None, authorization: str | None
) -> None:
    todo = create(api, auth)
    before = items_in_table(dynamodb)
    headers = {"Host": HOST, "Content-Type": "application/json"}
    if authorization is not None:
        headers["Authorization"] = authorization
    response = getattr(api, method)(path.format(id=todo["id"]), headers=headers, body=body)
    assert response.status_code == 401
    assert response.json_body["Code"] == "Unauthenticated"
    assert items_in_table(dynamodb) == before


@pytest.mark.parametrize(
    ("method", "body"), [("get", None), ("patch", '{"title": "mine"}'), ("delete", None)]
)
def test_other_users_todo_is_not_found(
    api: Any, auth: Auth, dynamodb: Any, method: str, body: str | None
) -> None:
    alices = create(api, auth, user="alice")
    missing = "/todos/01ARYZ6S41TSV4RRFFQ69G5FAV"
    before = items_in_table(dynamodb)
    theirs = getattr(api, method)(path_of(alices["url"]), headers=auth("bob"), body=body)
    nobodys = getattr(api, method)(missing, headers=auth("bob"), body=body)
    assert theirs.status_code == nobodys.status_code == 404
    assert theirs.json_body == nobodys.json_body
    assert items_in_table(dynamodb) == before
    assert api.get(path_of(alices["url"]), headers=auth("alice")).json_body == alices


def test_lists_and_clears_are_per_user(api: Any, auth: Auth) -> None:
    alices = create(api, auth, user="alice")
    bobs = create(api, auth, user="bob")
    assert api.get("/todos", headers=auth("alice")).json_body == [alices]
    assert api.get("/todos", headers=auth("bob")).json_body == [bobs]
    api.delete("/todos", headers=auth("bob"))
    assert api.get("/todos", headers=auth("alice")).json_body == [alices]


def test_owner_comes_only_from_the_token(api: Any, auth: Auth, dynamodb: Any) -> None:
    headers = auth("alice")
    response = api.post("/todos", headers=headers, body='{"title": "x", "owner": "bob"}')
    assert response.status_code == 400
    assert todo_items(dynamodb) == []
    # Query strings mean nothing to a create: the owner is still the token's.
    assert api.post("/todos?owner=bob", headers=headers, body='{"title": "x"}').status_code == 201
    assert [i["owner"]["S"] for i in todo_items(dynamodb)] == [sub_of("alice")]


# --- DynamoDB requests per operation -------------------------------------------------


def test_single_item_operations_are_one_request_each_and_changes_two(
    api: Any, auth: Auth, dynamodb_calls: list[str]
) -> None:
    # A read is one request. A change is sequenced (chalicelib/schema.py, `sequenced`): one
    # read of the owner's counter (and the todo, whose tombstone or new state it logs), then
    # one transaction of the todo, the counter and the change's log entry.
    todo = create(api, auth)
    path = path_of(todo["url"])
    for method, kwargs, operations in [
        ("get", {}, ["GetItem"]),
        ("patch", {"body": '{"completed": true}'}, ["BatchGetItem", "TransactWriteItems"]),
        ("delete", {}, ["BatchGetItem", "TransactWriteItems"]),
    ]:
        dynamodb_calls.clear()
        getattr(api, method)(path, headers=auth(), **kwargs)
        assert dynamodb_calls == operations
    dynamodb_calls.clear()
    create(api, auth)
    assert dynamodb_calls == ["BatchGetItem", "TransactWriteItems"]


def test_listing_is_one_query_per_page_and_never_a_scan(
    api: Any, auth: Auth, dynamodb_calls: list[str]
) -> None:
    for n in range(5):
        create(api, auth, title=f"{n}", completed=n == 2)
    # The first page also reads its owner's counter, once: its Sync-Token and ETag.
    dynamodb_calls.clear()
    assert len(follow(api, auth, "/todos?limit=2")) == 3
    assert dynamodb_calls == ["BatchGetItem", "Query", "Query", "Query"]
    dynamodb_calls.clear()
    assert len(follow(api, auth, "/todos?limit=2&completed=false")) == 2
    assert dynamodb_calls == ["BatchGetItem", "Query", "Query"]


def test_the_clients_and_settings_are_built_once_per_container(api: Any, auth: Auth) -> None:
    create(api, auth)
    first = todo_app.dynamodb_client(), todo_app.runtime_settings()
    create(api, auth)
    again = todo_app.dynamodb_client(), todo_app.runtime_settings()
    assert again[0] is first[0]
    assert again[1] is first[1]


# --- optimistic concurrency ------------------------------------------------------------


def test_responses_carry_the_version_as_etag(api: Any, auth: Auth) -> None:
    created = api.post("/todos", headers=auth(), body='{"title": "a"}')
    assert created.headers["ETag"] == '"1"'
    path = path_of(created.json_body["url"])
    assert api.get(path, headers=auth()).headers["ETag"] == '"1"'
    assert api.patch(path, headers=auth(), body='{"title": "b"}').headers["ETag"] == '"2"'
    assert api.get(path, headers=auth()).headers["ETag"] == '"2"'


def test_if_match_makes_writes_conditional(api: Any, auth: Auth, dynamodb: Any) -> None:
    path = path_of(create(api, auth)["url"])
    stale = auth(**{"If-Match": '"1"'})
    assert api.patch(path, headers=stale, body='{"title": "first"}').status_code == 200
    before = items_in_table(dynamodb)
    for method, body in (("patch", '{"title": "lost?"}'), ("delete", None)):
        response = getattr(api, method)(path, headers=stale, body=body)
        assert response.status_code == 412
        assert response.json_body["Code"] == "PreconditionFailed"
    assert items_in_table(dynamodb) == before
    assert api.patch(path, headers=auth(**{"If-Match": '"2"'}), body='{"title": "ok"}').status_code == 200
    assert api.delete(path, headers=auth(**{"If-Match": '"3"'})).status_code == 204


def test_two_clients_editing_the_same_version_cannot_lose_an_update(api: Any, auth: Auth) -> None:
    path = path_of(create(api, auth)["url"])
    etag = api.get(path, headers=auth()).headers["ETag"]
    first = api.patch(path, headers=auth(**{"If-Match": etag}), body='{"title": "from tab 1"}')
    second = api.patch(path, headers=auth(**{"If-Match": etag}), body='{"title": "from tab 2"}')
    assert (first.status_code, second.status_code) == (200, 412)
    assert api.get(path, headers=auth()).json_body["title"] == "from tab 1"


def test_if_match_on_another_users_todo_is_still_404(api: Any, auth: Auth) -> None:
    path = path_of(create(api, auth, user="alice")["url"])
    response = api.patch(path, headers=auth("bob", **{"If-Match": '"9"'}), body='{"title": "x"}')
    assert response.status_code == 404


def _every_route_and_error(api: Any, auth: Auth) -> list[tuple[str, str, Any]]:
    """Each route's method on a concrete path, as the owner and as nobody, plus errors."""
    todo = create(api, auth)
    requests = []
    for path, methods in todo_app.app.routes.items():
        concrete = path.replace("{todo_id}", todo["id"]).replace("{name}", "app.js")
        for method in methods:
            requests.append((method, concrete, auth()))
            requests.append((method, concrete, {"Host": HOST}))  # no token: 401
    requests.append(("GET", "/todos/not-an-id", auth()))  # 404
    requests.append(("GET", "/todos?limit=0", auth()))  # 400
    return requests


@pytest.mark.parametrize("proto", ["http", "https"])
def test_every_response_says_no_store_and_nosniff_and_hsts_over_tls(api: Any, auth: Auth, proto: str) -> None:
    statuses = set()
    for method, path, headers in _every_route_and_error(api, auth):
        sent = {**headers, "X-Forwarded-Proto": proto}
        body = '{"title": "t"}' if method in ("POST", "PATCH", "PUT") else ""
        response = getattr(api, method.lower())(path, headers=sent, body=body)
        statuses.add(response.status_code)
        got = {name.lower(): value for name, value in response.headers.items()}
        # The web app's files are public and may be cached; everything else is one user's.
        public = path in ("/", "/site/app.js", "/config.json")
        expected = ("public, max-age=300" if "site" in path else "no-cache") if public else "no-store"
        assert got["cache-control"] == expected, (method, path, response.status_code)
        assert got["x-content-type-options"] == "nosniff", (method, path)
        if proto == "https":
            assert got["strict-transport-security"] == "max-age=31536000; includeSubDomains", (method, path)
        else:  # a browser ignores HSTS over plain HTTP: none is sent
            assert "strict-transport-security" not in got, (method, path)
    assert {200, 201, 204, 400, 401, 404, 405} <= statuses  # successes and errors alike


def test_the_body_cap_is_exactly_the_firewalls(api: Any, auth: Auth) -> None:
    # AWS's common rule set blocks bodies over 8,192 bytes (SizeRestrictions_BODY), and the
    # prod stage's web ACL keeps that rule blocking: so the app must take every body up to
    # that size and refuse the next byte itself, or the firewall would block a valid request.
    body = '{"title": "at the cap"}'
    at_cap = body + " " * (8192 - len(body))
    assert api.post("/todos", headers=auth(), body=at_cap).status_code == 201
    over = api.post("/todos", headers=auth(), body=at_cap + " ")
    assert (over.status_code, over.json_body["Code"]) == (413, "PayloadTooLarge")

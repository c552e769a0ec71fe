"""Hostile and malformed requests: each gets its documented 4xx in the one error shape,
leaks nothing, and leaves the stored items exactly as they were."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from chalicelib.web import encode_cursor
from tests.support import HOST, items_in_table

Auth = Callable[..., dict[str, str]]
ID = "{id}"  # replaced by a real todo of the caller's
OTHER_ID = "01ARYZ6S41TSV4RRFFQ69G5FAV"
JSON = "application/json"


def row(method: str, path: str, body: str | bytes | None, status: int, code: str, **headers: str) -> Any:
    return pytest.param(
        method, path, body, headers, status, code, id=f"{method} {path[:30]} {str(body)[:30]}"
    )


HOSTILE = [
    # malformed and hostile JSON
    row("post", "/todos", "", 400, "InvalidRequest"),
    row("post", "/todos", "{", 400, "InvalidRequest"),
    row("post", "/todos", "[]", 400, "InvalidRequest"),
    row("post", "/todos", '"a title"', 400, "InvalidRequest"),
    row("post", "/todos", "null", 400, "InvalidRequest"),
    row("post", "/todos", '{"title": "a", "order": NaN}', 400, "InvalidRequest"),
    row("post", "/todos", '{"title": "a", "title": "b"}', 400, "InvalidRequest"),
    row("post", "/todos", "[" * 4000 + "]" * 4000, 400, "InvalidRequest"),
    row("post", "/todos", '{"title": "a", "order": 1' + "0" * 5000 + "}", 400, "InvalidRequest"),
    row("post", "/todos", b'{"title": "\xc3\x28"}', 400, "InvalidRequest"),
    # wrong types and values
    row("post", "/todos", '{"title": 42}', 400, "InvalidTodo"),
    row("post", "/todos", '{"title": "x", "completed": "yes"}', 400, "InvalidTodo"),
    row("post", "/todos", '{"title": "x", "order": 1.5}', 400, "InvalidTodo"),
    row("post", "/todos", '{"title": "x", "order": 1e300}', 400, "InvalidTodo"),
    row("post", "/todos", '{"title": "x", "order": 9007199254740992}', 400, "InvalidTodo"),
    row("post", "/todos", '{"title": "bell\\u0007"}', 400, "InvalidTodo"),
    row("post", "/todos", '{"title": "lone \\ud800 surrogate"}', 400, "InvalidTodo"),
    row("post", "/todos", '{"title": "a", "task": "b"}', 400, "InvalidTodo"),
    row("post", "/todos", json.dumps({"title": "x" * 501}), 400, "InvalidTodo"),
    # mass assignment
    row("post", "/todos", '{"title": "x", "id": "01ARYZ6S41TSV4RRFFQ69G5FAV"}', 400, "InvalidTodo"),
    row("post", "/todos", '{"title": "x", "owner": "bob"}', 400, "InvalidTodo"),
    row("post", "/todos", '{"title": "x", "url": "https://evil.example"}', 400, "InvalidTodo"),
    row("post", "/todos", '{"title": "x", "createdAt": "2000-01-01T00:00:00.000Z"}', 400, "InvalidTodo"),
    row("post", "/todos", '{"title": "x", "__proto__": {"admin": true}}', 400, "InvalidTodo"),
    row("patch", f"/todos/{ID}", '{"updatedAt": "2000-01-01T00:00:00.000Z"}', 400, "InvalidTodo"),
    row("patch", f"/todos/{ID}", '{"owner": "bob"}', 400, "InvalidTodo"),
    row("patch", f"/todos/{ID}", '{"id": "01ARYZ6S41TSV4RRFFQ69G5FAV"}', 400, "InvalidTodo"),
    row("patch", f"/todos/{ID}", "{}", 400, "InvalidTodo"),
    row("patch", f"/todos/{ID}", '{"title": "   "}', 400, "InvalidTodo"),
    row("patch", f"/todos/{ID}", '{"completed": null}', 400, "InvalidTodo"),
    row("patch", f"/todos/{ID}", "[1]", 400, "InvalidRequest"),
    # oversize bodies and wrong content types
    row("post", "/todos", json.dumps({"title": "x" * 9000}), 413, "PayloadTooLarge"),
    row("post", "/todos", "x" * 1_000_000, 413, "PayloadTooLarge"),
    row("patch", f"/todos/{ID}", json.dumps({"title": "é" * 5000}), 413, "PayloadTooLarge"),
    row(
        "post",
        "/todos",
        "title=x",
        415,
        "UnsupportedMediaType",
        **{"Content-Type": "application/x-www-form-urlencoded"},
    ),
    row("post", "/todos", '{"title": "x"}', 415, "UnsupportedMediaType", **{"Content-Type": "text/plain"}),
    row(
        "patch",
        f"/todos/{ID}",
        '{"title": "x"}',
        415,
        "UnsupportedMediaType",
        **{"Content-Type": "text/html"},
    ),
    # invalid ids
    row("get", "/todos/not-an-id", None, 404, "TodoNotFound"),
    row("get", "/todos/01aryz6s41tsv4rrffq69g5fav", None, 404, "TodoNotFound"),
    row("patch", "/todos/" + "A" * 2000, '{"completed": true}', 404, "TodoNotFound"),
    row("delete", "/todos/%00", None, 404, "TodoNotFound"),
    row("delete", "/todos/..%2F..%2Fetc", None, 404, "TodoNotFound"),
    row("delete", f"/todos/{OTHER_ID}", None, 404, "TodoNotFound"),
    # bad limits, filters and cursors
    row("get", "/todos?limit=0", None, 400, "InvalidRequest"),
    row("get", "/todos?limit=101", None, 400, "InvalidRequest"),
    row("get", "/todos?limit=-5", None, 400, "InvalidRequest"),
    row("get", "/todos?limit=1e2", None, 400, "InvalidRequest"),
    row("get", "/todos?limit=99999999999999999999999", None, 400, "InvalidRequest"),
    row("get", "/todos?limit=2&limit=3", None, 400, "InvalidRequest"),
    row("get", "/todos?completed=maybe", None, 400, "InvalidRequest"),
    row("get", "/todos?sort=title", None, 400, "InvalidRequest"),
    row("get", "/todos?cursor=", None, 400, "InvalidCursor"),
    row("get", "/todos?cursor=garbage", None, 400, "InvalidCursor"),
    row("get", "/todos?cursor=" + "A" * 5000, None, 400, "InvalidCursor"),
    row("get", "/todos?cursor=" + encode_cursor(OTHER_ID, owner="someone-else"), None, 400, "InvalidCursor"),
    row("get", "/todos?cursor=%7B%22owner%22%3A%22bob%22%7D", None, 400, "InvalidCursor"),
    row("delete", "/todos?completed=maybe", None, 400, "InvalidRequest"),
    row("delete", "/todos?limit=1", None, 400, "InvalidRequest"),
    # conditional requests
    row("patch", f"/todos/{ID}", '{"title": "x"}', 400, "InvalidRequest", **{"If-Match": "v1"}),
    row("delete", f"/todos/{ID}", None, 400, "InvalidRequest", **{"If-Match": '"1",,'}),
    row("patch", f"/todos/{ID}", '{"title": "x"}', 412, "PreconditionFailed", **{"If-Match": '"7"'}),
    row("delete", f"/todos/{ID}", None, 412, "PreconditionFailed", **{"If-Match": 'W/"1"'}),
    # headers that would end up in `url` and `Location`
    row("post", "/todos", '{"title": "x"}', 400, "InvalidRequest", Host="evil.example/<script>"),
    row("post", "/todos", '{"title": "x"}', 400, "InvalidRequest", Host=""),
    row("patch", f"/todos/{ID}", '{"title": "changed"}', 400, "InvalidRequest", Host="bad host"),
    row("get", "/todos", None, 400, "InvalidRequest", **{"X-Forwarded-Proto": "javascript"}),
]


@pytest.mark.parametrize(("method", "path", "body", "headers", "status", "code"), HOSTILE)
def test_hostile_request_is_refused_and_changes_nothing(
    api: Any,
    auth: Auth,
    dynamodb: Any,
    method: str,
    path: str,
    body: str | bytes | None,
    headers: dict[str, str],
    status: int,
    code: str,
) -> None:
    mine = api.post("/todos", headers=auth(), body='{"title": "keep me", "order": 1}').json_body
    api.post("/todos", headers=auth("bob"), body='{"title": "bob keeps this"}')
    before = items_in_table(dynamodb)
    response = getattr(api, method)(path.replace(ID, mine["id"]), headers=auth(**headers), body=body)
    assert response.status_code == status, response.body
    assert response.headers.get("Content-Type", JSON).startswith(JSON)
    error = response.json_body
    assert set(error) == {"Code", "Message"}
    assert error["Code"] == code
    assert "Traceback" not in error["Message"]
    assert "botocore" not in error["Message"]
    assert items_in_table(dynamodb) == before


def test_a_hostile_request_from_one_user_does_not_reach_anothers_data(
    api: Any, auth: Auth, dynamodb: Any
) -> None:
    theirs = api.post("/todos", headers=auth("bob"), body='{"title": "bob"}').json_body
    before = items_in_table(dynamodb)
    for method, body in (("patch", '{"completed": true}'), ("delete", None), ("get", None)):
        response = getattr(api, method)(f"/todos/{theirs['id']}", headers=auth("mallory"), body=body)
        assert response.status_code == 404
    assert items_in_table(dynamodb) == before
    assert HOST in theirs["url"]

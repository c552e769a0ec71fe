"""DynamoDB faults injected under real requests on moto (botocore `before-send` hooks on
the app's own client, so the SDK's retries stay in play): transient faults are absorbed
with exactly one effect; persistent ones are a 503 with Retry-After and nothing written."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

import app as todo_app
from chalicelib import todos
from chalicelib.store import TodoStore
from infrastructure import stages
from tests.faults import TRANSIENT, lost_response
from tests.support import CONFIG, STAGE, counted, items_in_table, sub_of, todo_items

Auth = Callable[..., dict[str, str]]


@pytest.fixture
def seeded(api: Any, auth: Auth, dynamodb: Any) -> dict[str, Any]:
    """Two todos of alice's (one completed) and one of bob's."""
    open_todo = api.post("/todos", headers=auth(), body='{"title": "open"}').json_body
    done = api.post("/todos", headers=auth(), body='{"title": "done", "completed": true}').json_body
    api.post("/todos", headers=auth("bob"), body='{"title": "bob"}')
    return {"open": open_todo, "done": done}


def titles(dynamodb: Any, user: str = "alice") -> list[str]:
    """The user's todos' titles, after checking that their stored count is exact."""
    held = sorted(i["title"]["S"] for i in todo_items(dynamodb) if i["owner"]["S"] == sub_of(user))
    assert counted(dynamodb, sub_of(user)) == len(held)
    return held


# (operation under fault, request, its status, the one effect it must have had)
PATHS: dict[str, tuple[str, Callable[..., Any], int, Callable[[Any, dict[str, Any]], None]]] = {
    "create": (
        "TransactWriteItems",
        lambda api, auth, s: api.post("/todos", headers=auth(), body='{"title": "new"}'),
        201,
        lambda db, s: _assert(titles(db) == ["done", "new", "open"]),
    ),
    "create-with-key": (
        "TransactWriteItems",
        lambda api, auth, s: api.post(
            "/todos", headers=auth(**{"Idempotency-Key": "k1"}), body='{"title": "new"}'
        ),
        201,
        lambda db, s: _assert(titles(db) == ["done", "new", "open"]),
    ),
    "get": (
        "GetItem",
        lambda api, auth, s: api.get(f"/todos/{s['open']['id']}", headers=auth()),
        200,
        lambda db, s: _assert(titles(db) == ["done", "open"]),
    ),
    "update": (
        "TransactWriteItems",
        lambda api, auth, s: api.patch(
            f"/todos/{s['open']['id']}", headers=auth(), body='{"title": "renamed"}'
        ),
        200,
        lambda db, s: _assert(
            [(i["title"]["S"], i["version"]["N"]) for i in todo_items(db) if i["id"]["S"] == s["open"]["id"]]
            == [("renamed", "2")]  # applied once: the version moved by exactly one
        ),
    ),
    "delete": (
        "TransactWriteItems",
        lambda api, auth, s: api.delete(f"/todos/{s['open']['id']}", headers=auth()),
        204,
        lambda db, s: _assert(titles(db) == ["done"]),
    ),
    "list": (
        "Query",
        lambda api, auth, s: api.get("/todos", headers=auth()),
        200,
        lambda db, s: _assert(titles(db) == ["done", "open"]),
    ),
    "clear-all": (
        "TransactWriteItems",
        lambda api, auth, s: api.delete("/todos", headers=auth()),
        204,
        lambda db, s: _assert(titles(db) == [] and titles(db, "bob") == ["bob"]),
    ),
    "clear-completed": (
        "TransactWriteItems",
        lambda api, auth, s: api.delete("/todos?completed=true", headers=auth()),
        204,
        lambda db, s: _assert(titles(db) == ["open"]),
    ),
}


def _assert(condition: bool) -> None:
    assert condition


@pytest.mark.parametrize("fault", list(TRANSIENT))
@pytest.mark.parametrize("path", list(PATHS))
def test_a_transient_fault_is_absorbed_with_one_effect(
    api: Any, auth: Auth, dynamodb: Any, seeded: dict[str, Any], inject: Any, path: str, fault: str
) -> None:
    operation, request, status, effect = PATHS[path]
    seen = inject(operation, TRANSIENT[fault], 1)
    response = request(api, auth, seeded)
    assert response.status_code == status, response.body
    assert seen == [1]
    effect(dynamodb, seeded)


@pytest.mark.parametrize("path", list(PATHS))
def test_alost_response_still_has_one_effect(
    api: Any, auth: Auth, dynamodb: Any, seeded: dict[str, Any], inject: Any, path: str
) -> None:
    operation, request, status, effect = PATHS[path]
    inject(operation, lost_response, 1)
    response = request(api, auth, seeded)
    assert response.status_code == status, response.body
    effect(dynamodb, seeded)


def test_a_lost_conditional_update_is_not_a_412(
    api: Any, auth: Auth, dynamodb: Any, seeded: dict[str, Any], inject: Any
) -> None:
    # The SDK's retry of an If-Match update whose transaction landed carries the same
    # ClientRequestToken: DynamoDB answers it as the first attempt, not as a failed condition.
    inject("TransactWriteItems", lost_response, 1)
    path = f"/todos/{seeded['open']['id']}"
    response = api.patch(path, headers=auth(**{"If-Match": '"1"'}), body='{"completed": true}')
    assert response.status_code == 200
    assert response.headers["ETag"] == '"2"'


@pytest.mark.parametrize("path", list(PATHS))
def test_a_persistent_fault_is_a_503_with_retry_after_and_nothing_written(
    api: Any, auth: Auth, dynamodb: Any, seeded: dict[str, Any], inject: Any, backoffs: list[float], path: str
) -> None:
    operation, request, _, _ = PATHS[path]
    before = items_in_table(dynamodb)
    seen = inject(operation, TRANSIENT["throttled"], 100)
    response = request(api, auth, seeded)
    assert response.status_code == 503
    assert response.headers["Retry-After"] == str(todo_app.RETRY_AFTER_SECONDS)
    assert response.json_body == {
        "Code": "ServiceUnavailable",
        "Message": "the data store is unavailable; retry later",
    }
    assert seen == [3]  # the SDK's budget: 3 attempts, then it gives up
    # The SDK backed off between its attempts, as for throttling: up to 1 s, then up to 2 s.
    assert len(backoffs) == 2
    assert all(0 <= delay <= 2 for delay in backoffs)
    assert items_in_table(dynamodb) == before


@pytest.mark.parametrize("fault", ["throttled", "read-timeout", "lost"])
def test_the_purge_job_absorbs_faults(dynamodb: Any, inject: Any, run_job: Any, fault: str) -> None:
    table = CONFIG["stages"][STAGE]["environment_variables"]["TODO_TABLE"]
    store = TodoStore(dynamodb, table_name=table, sleep=lambda _: None)
    long_ago = datetime.now(UTC) - timedelta(days=90)
    old = todos.new_todo({"title": "old", "completed": True}, owner="u", now=long_ago, entropy=bytes(10))
    store.create(old)
    kept = todos.new_todo({"title": "kept"}, owner="u", now=long_ago, entropy=bytes(9) + b"\x01")
    store.create(kept)
    inject("TransactWriteItems", lost_response if fault == "lost" else TRANSIENT[fault], 1)
    inject("Query", TRANSIENT["throttled"], 1)
    result = run_job("purge_completed")
    assert result["finished"] is True
    assert result["purged"] + result["skipped"] == 1
    assert [i["title"]["S"] for i in todo_items(dynamodb)] == ["kept"]


def test_the_sdk_retry_budget_fits_inside_the_api_timeout() -> None:
    config = stages.document()
    attempts = todo_app.DYNAMODB_CONFIG.retries["total_max_attempts"]
    per_attempt = todo_app.DYNAMODB_CONFIG.connect_timeout + todo_app.DYNAMODB_CONFIG.read_timeout
    backoff = sum(2**n for n in range(attempts - 1))  # standard mode: up to 1 s, 2 s, ...
    worst = attempts * per_attempt + backoff
    assert worst < config["lambda_timeout"] <= 28  # API Gateway gives up at 29 s

"""Idempotent create: an Idempotency-Key creates at most one todo per caller and key."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from chalicelib import todos
from chalicelib.errors import IdempotencyKeyReused
from chalicelib.store import Created, TodoStore
from tests.faults import lost_response
from tests.support import items_in_table, sub_of, todo_items

Auth = Callable[..., dict[str, str]]
NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def attempt(
    store: TodoStore, payload: dict[str, Any], *, key: str = "k-1", owner: str = "alice", now: datetime = NOW
) -> Created:
    todo = todos.new_todo(payload, owner=owner, now=now, entropy=now.microsecond.to_bytes(10, "big"))
    return store.create(todo, idempotency=todos.idempotency(key, payload, now=now))


def test_a_replay_returns_the_first_todo_and_creates_nothing(store: TodoStore, dynamodb: Any) -> None:
    first = attempt(store, {"title": "once"})
    again = attempt(store, {"title": "once"}, now=NOW + timedelta(seconds=5, microseconds=1))
    assert (first.replayed, again.replayed) == (False, True)
    assert again.todo == first.todo
    assert len(todo_items(dynamodb)) == 1


def test_the_same_request_in_other_words_is_a_replay(store: TodoStore, dynamodb: Any) -> None:
    first = attempt(store, {"title": "once", "completed": False})
    again = attempt(store, {"completed": False, "title": "once"}, now=NOW + timedelta(microseconds=7))
    assert again.todo.id == first.todo.id


def test_a_key_reused_for_another_request_is_refused(store: TodoStore, dynamodb: Any) -> None:
    attempt(store, {"title": "once"})
    before = items_in_table(dynamodb)
    with pytest.raises(IdempotencyKeyReused):
        attempt(store, {"title": "something else"}, now=NOW + timedelta(microseconds=3))
    assert items_in_table(dynamodb) == before


def test_keys_are_scoped_to_the_caller(store: TodoStore, dynamodb: Any) -> None:
    alices = attempt(store, {"title": "same"}, owner="alice")
    bobs = attempt(store, {"title": "same"}, owner="bob", now=NOW + timedelta(microseconds=9))
    assert not bobs.replayed
    assert bobs.todo.id != alices.todo.id
    assert len(todo_items(dynamodb)) == 2


def test_keys_expire_after_24_hours(store: TodoStore, dynamodb: Any) -> None:
    first = attempt(store, {"title": "daily"})
    within = attempt(store, {"title": "daily"}, now=NOW + timedelta(hours=23, minutes=59))
    assert within.todo.id == first.todo.id
    later = attempt(store, {"title": "daily"}, now=NOW + timedelta(hours=24, seconds=1))
    assert not later.replayed
    assert later.todo.id != first.todo.id
    assert len(todo_items(dynamodb)) == 2


def test_records_stay_out_of_lists_clears_and_purges(store: TodoStore, dynamodb: Any) -> None:
    attempt(store, {"title": "done", "completed": True}, now=NOW - timedelta(days=90))
    assert [t.title for t in store.page("alice", completed=None, limit=10, after=None).todos] == ["done"]
    assert store.clear("alice", completed=None).deleted == 1
    assert todo_items(dynamodb) == []
    assert [i["owner"]["S"] for i in items_in_table(dynamodb)].count("alice#idempotency") == 1


def test_a_concurrent_request_with_the_same_key_gets_the_winners_todo(
    store: TodoStore, dynamodb: Any
) -> None:
    # The other request's transaction lands just before ours is sent.
    others: list[Any] = []
    started: list[bool] = []

    def race(**_: Any) -> None:
        if not started:
            started.append(True)
            others.append(attempt(store, {"title": "raced"}, now=NOW + timedelta(microseconds=5)))

    dynamodb.meta.events.register_first("before-parameter-build.dynamodb.TransactWriteItems", race)
    try:
        ours = attempt(store, {"title": "raced"})
    finally:
        dynamodb.meta.events.unregister("before-parameter-build.dynamodb.TransactWriteItems", race)
    assert ours.replayed
    assert ours.todo.id == others[0].todo.id
    assert len(todo_items(dynamodb)) == 1


# --- over HTTP -------------------------------------------------------------------------


def test_replayed_post_answers_201_with_the_same_todo(api: Any, auth: Auth, dynamodb: Any) -> None:
    headers = auth(**{"Idempotency-Key": "3f2a6c1e-order-42"})
    first = api.post("/todos", headers=headers, body='{"title": "pay rent"}')
    second = api.post("/todos", headers=headers, body='{"title": "pay rent"}')
    assert first.status_code == second.status_code == 201
    assert second.json_body == first.json_body
    assert second.headers["Location"] == first.headers["Location"]
    assert (first.headers["Idempotent-Replayed"], second.headers["Idempotent-Replayed"]) == ("false", "true")
    assert [i["title"]["S"] for i in todo_items(dynamodb)] == ["pay rent"]


def test_the_same_key_with_another_body_is_422(api: Any, auth: Auth, dynamodb: Any) -> None:
    headers = auth(**{"Idempotency-Key": "key-1"})
    api.post("/todos", headers=headers, body='{"title": "a"}')
    before = items_in_table(dynamodb)
    response = api.post("/todos", headers=headers, body='{"title": "b"}')
    assert response.status_code == 422
    assert response.json_body["Code"] == "IdempotencyKeyReused"
    assert items_in_table(dynamodb) == before


def test_another_user_with_my_key_gets_their_own_todo(api: Any, auth: Auth, dynamodb: Any) -> None:
    key = {"Idempotency-Key": "shared-key"}
    alice = api.post("/todos", headers=auth("alice", **key), body='{"title": "x"}').json_body
    bob = api.post("/todos", headers=auth("bob", **key), body='{"title": "x"}').json_body
    assert alice["id"] != bob["id"]
    assert {i["owner"]["S"] for i in todo_items(dynamodb)} == {sub_of("alice"), sub_of("bob")}


@pytest.mark.parametrize("key", ["", " ", "a" * 129, "key with spaces", "ключ", "k/1"])
def test_a_malformed_key_is_400_and_writes_nothing(api: Any, auth: Auth, dynamodb: Any, key: str) -> None:
    response = api.post("/todos", headers=auth(**{"Idempotency-Key": key}), body='{"title": "x"}')
    assert response.status_code == 400
    assert todo_items(dynamodb) == []


def test_alost_response_to_a_keyed_create_is_still_201(api: Any, auth: Auth, dynamodb: Any) -> None:
    seen = [0]

    def lose_first(request: Any, **_: Any) -> Any:
        if seen[0] == 0:
            seen[0] += 1
            return lost_response(request)
        return None

    dynamodb.meta.events.register_first("before-send.dynamodb.TransactWriteItems", lose_first)
    response = api.post("/todos", headers=auth(**{"Idempotency-Key": "k"}), body='{"title": "once"}')
    assert response.status_code == 201
    assert json.loads(response.body)["title"] == "once"
    assert [i["title"]["S"] for i in todo_items(dynamodb)] == ["once"]

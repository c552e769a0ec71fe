"""Per-user limits: how many todos a user holds, how many Idempotency-Keys a day."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from chalicelib import todos
from chalicelib.errors import TodoLimitReached, TooManyRequests
from chalicelib.store import TodoStore
from tests.support import TABLE, counted, items_in_table, sub_of, todo_items

Auth = Callable[..., dict[str, str]]
NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


@pytest.fixture
def limited(api: Any, setting: Any) -> Any:
    """The API with runtime limits of 3 todos a user and 2 Idempotency-Keys a day."""
    setting("max-todos", "3")
    setting("max-idempotency-keys", "2")
    return api


def post(api: Any, auth: Auth, title: str, user: str = "alice", **headers: str) -> Any:
    return api.post("/todos", headers=auth(user, **headers), body=f'{{"title": "{title}"}}')


def test_a_create_past_the_limit_is_a_409_and_writes_nothing(limited: Any, auth: Auth, dynamodb: Any) -> None:
    made = [post(limited, auth, f"t{n}").json_body for n in range(3)]
    before = items_in_table(dynamodb)
    refused = post(limited, auth, "one too many")
    assert refused.status_code == 409
    assert refused.json_body == {
        "Code": "TodoLimitReached",
        "Message": "you have 3 todos, the most this API keeps for one user: delete some first",
    }
    assert items_in_table(dynamodb) == before
    assert post(limited, auth, "bob's first", user="bob").status_code == 201  # per user
    # A delete makes room; so does a clear.
    assert limited.delete(f"/todos/{made[0]['id']}", headers=auth()).status_code == 204
    assert post(limited, auth, "fits again").status_code == 201
    assert post(limited, auth, "full again").status_code == 409
    assert limited.delete("/todos", headers=auth()).status_code == 204
    assert counted(dynamodb, sub_of("alice")) == 0
    assert [post(limited, auth, f"u{n}").status_code for n in range(4)] == [201, 201, 201, 409]


def test_a_failed_delete_counts_nothing(limited: Any, auth: Auth, dynamodb: Any) -> None:
    todo = post(limited, auth, "kept").json_body
    path = f"/todos/{todo['id']}"
    assert limited.delete(path, headers=auth(**{"If-Match": '"9"'})).status_code == 412
    assert limited.delete(path, headers=auth("bob")).status_code == 404
    assert counted(dynamodb, sub_of("alice")) == 1
    assert limited.delete(path, headers=auth()).status_code == 204
    assert limited.delete(path, headers=auth()).status_code == 404
    assert counted(dynamodb, sub_of("alice")) == 0


def test_at_the_limit_a_replay_still_answers_and_a_new_key_is_refused(limited: Any, auth: Auth) -> None:
    first = post(limited, auth, "keyed", **{"Idempotency-Key": "k-1"})
    post(limited, auth, "b")
    post(limited, auth, "c")
    replay = post(limited, auth, "keyed", **{"Idempotency-Key": "k-1"})
    assert (replay.status_code, replay.headers["Idempotent-Replayed"]) == (201, "true")
    assert replay.json_body == first.json_body
    assert post(limited, auth, "new", **{"Idempotency-Key": "k-2"}).json_body["Code"] == "TodoLimitReached"


def attempt(store: TodoStore, key: str, now: datetime, title: str = "t") -> Any:
    todo = todos.new_todo({"title": title}, owner="alice", now=now, entropy=key.encode().ljust(10, b"-"))
    return store.create(todo, idempotency=todos.idempotency(key, {"title": title}, now=now))


def test_idempotency_keys_are_bounded_per_user_and_day(dynamodb: Any) -> None:
    store = TodoStore(dynamodb, TABLE, max_keys_per_day=2, sleep=lambda _: None)
    attempt(store, "k-1", NOW)
    attempt(store, "k-2", NOW)
    assert attempt(store, "k-1", NOW + timedelta(hours=1)).replayed  # a replay takes no new key
    before = items_in_table(dynamodb)
    with pytest.raises(TooManyRequests, match="2 Idempotency-Keys used today"):
        attempt(store, "k-3", NOW + timedelta(hours=2))
    assert items_in_table(dynamodb) == before
    assert not attempt(store, "k-3", NOW + timedelta(days=1)).replayed  # a new UTC day
    # Each day's tally expires with that day's last record: the records alive at any moment
    # were made today or yesterday, at most twice the daily bound.
    tallies = [i for i in items_in_table(dynamodb) if i["id"]["S"].startswith("idempotency-keys#")]
    assert [(t["id"]["S"], t["todoCount"]["N"]) for t in tallies] == [
        ("idempotency-keys#2026-12-02", "2"),
        ("idempotency-keys#2026-12-03", "1"),
    ]
    assert all(int(t["expiresAt"]["N"]) <= (NOW + timedelta(days=2, hours=1)).timestamp() for t in tallies)


# --- two creates at the limit: exactly one succeeds -------------------------------------


@pytest.mark.parametrize(("limit", "creators"), [(1, 2), (5, 8)])
def test_concurrent_creates_at_the_limit_admit_exactly_the_room_left(
    dynamodb: Any, limit: int, creators: int
) -> None:
    store = TodoStore(dynamodb, TABLE, max_todos=limit, sleep=lambda _: None)
    # Every creator reaches its write before any write is sent: a store that read the
    # count first and wrote after would see room for all of them and admit them all.
    everyone_ready = threading.Barrier(creators, timeout=10)
    waiting = threading.local()

    def hold_the_first_write(**_: Any) -> None:
        if not getattr(waiting, "done", False):
            waiting.done = True
            everyone_ready.wait()

    dynamodb.meta.events.register("before-send.dynamodb", hold_the_first_write, unique_id="barrier")
    outcomes: list[str] = []

    def create(n: int) -> None:
        todo = todos.new_todo({"title": f"c{n}"}, owner="alice", now=NOW, entropy=n.to_bytes(10, "big"))
        try:
            store.create(todo)
            outcomes.append("created")
        except TodoLimitReached:
            outcomes.append("refused")

    threads = [threading.Thread(target=create, args=(n,)) for n in range(creators)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    dynamodb.meta.events.unregister("before-send.dynamodb", unique_id="barrier")
    assert sorted(outcomes) == ["created"] * limit + ["refused"] * (creators - limit)
    assert len(todo_items(dynamodb)) == limit
    assert counted(dynamodb, "alice") == limit

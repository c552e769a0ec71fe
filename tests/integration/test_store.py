"""The store against moto: keys, conditions, paging and the index attributes."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError

from chalicelib import todos
from chalicelib.errors import PreconditionFailed, TodoNotFound
from chalicelib.schema import PURGE_SHARD_NAMES, purge_shard
from chalicelib.store import TodoStore
from tests.support import items_in_table, todo_items

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def add(store: TodoStore, owner: str = "alice", n: int = 0, **fields: Any) -> todos.Todo:
    todo = todos.new_todo(
        {"title": f"todo {n}", **fields},
        owner=owner,
        now=NOW + timedelta(milliseconds=n),
        entropy=n.to_bytes(10, "big"),
    )
    store.create(todo)
    return todo


def patch(**fields: Any) -> todos.TodoPatch:
    return todos.todo_patch(fields, now=NOW + timedelta(hours=1))


def test_created_todo_reads_back_equal(store: TodoStore) -> None:
    todo = add(store, order=7)
    assert store.get("alice", todo.id) == todo


def test_stored_item_shape(store: TodoStore, dynamodb: Any) -> None:
    todo = add(store, order=7)
    [item] = todo_items(dynamodb)
    assert item == {
        "owner": {"S": "alice"},
        "id": {"S": todo.id},
        "title": {"S": "todo 0"},
        "completed": {"BOOL": False},
        "order": {"N": "7"},
        "createdAt": {"S": todo.created_at},
        "updatedAt": {"S": todo.updated_at},
        "version": {"N": "1"},
        "schemaVersion": {"N": "2"},
        "openId": {"S": todo.id},
    }


def test_create_is_conditional_on_a_new_key(store: TodoStore, dynamodb: Any) -> None:
    todo = add(store)
    clash = todo._replace(title="other")
    for again in (todo, clash):  # another write of the same id, even of the same todo
        with pytest.raises(ClientError, match="ConditionalCheckFailed"):
            store.create(again)
    assert [i["title"]["S"] for i in todo_items(dynamodb)] == ["todo 0"]


def test_other_owner_cannot_get_update_or_delete(store: TodoStore, dynamodb: Any) -> None:
    todo = add(store, owner="alice")
    before = items_in_table(dynamodb)
    with pytest.raises(TodoNotFound):
        store.get("bob", todo.id)
    with pytest.raises(TodoNotFound):
        store.update("bob", todo.id, patch(title="mine now"))
    with pytest.raises(TodoNotFound):
        store.delete("bob", todo.id)
    assert items_in_table(dynamodb) == before


def test_update_and_delete_of_missing_ids_create_nothing(store: TodoStore, dynamodb: Any) -> None:
    missing = todos.new_id(NOW, bytes(10))
    with pytest.raises(TodoNotFound):
        store.update("alice", missing, patch(completed=True))
    with pytest.raises(TodoNotFound):
        store.delete("alice", missing)
    assert todo_items(dynamodb) == []


def test_delete_then_update_does_not_resurrect(store: TodoStore, dynamodb: Any) -> None:
    todo = add(store)
    store.delete("alice", todo.id)
    with pytest.raises(TodoNotFound):
        store.update("alice", todo.id, patch(title="back"))
    assert todo_items(dynamodb) == []


def test_update_changes_only_given_fields(store: TodoStore) -> None:
    todo = add(store, order=1)
    updated = store.update("alice", todo.id, patch(completed=True))
    changed = {
        "completed": True,
        "updated_at": updated.updated_at,
        "completed_at": updated.updated_at,
        "version": 2,
    }
    assert updated == todo._replace(**changed)
    assert updated.updated_at > todo.updated_at
    assert store.get("alice", todo.id) == updated


def test_update_can_remove_order(store: TodoStore) -> None:
    todo = add(store, order=1)
    assert store.update("alice", todo.id, patch(order=None)).order is None
    assert store.update("alice", todo.id, patch(order=5)).order == 5


def test_completion_moves_the_item_between_indexes(store: TodoStore, dynamodb: Any) -> None:
    todo = add(store)
    store.update("alice", todo.id, patch(completed=True))
    [item] = todo_items(dynamodb)
    assert item["doneId"] == {"S": todo.id}
    assert "openId" not in item
    assert item["completedAt"] == {"S": "2026-11-27T13:00:00.000Z"}
    assert item["purgeShard"] == {"S": purge_shard(todo.id)}
    store.update("alice", todo.id, patch(completed=False))
    [item] = todo_items(dynamodb)
    assert item["openId"] == {"S": todo.id}
    assert not {"doneId", "completedAt", "purgeShard"} & item.keys()


def test_completing_again_keeps_the_first_completion_time(store: TodoStore) -> None:
    todo = add(store, completed=True)
    assert todo.completed_at == todo.created_at
    again = store.update("alice", todo.id, patch(completed=True, title="renamed"))
    assert again.completed_at == todo.created_at
    reopened = store.update("alice", todo.id, patch(completed=False))
    assert reopened.completed_at is None
    later = todos.todo_patch({"completed": True}, now=NOW + timedelta(days=2))
    assert store.update("alice", todo.id, later).completed_at == later.updated_at


def test_purge_shards_spread_ids() -> None:
    ids = [todos.new_id(NOW, n.to_bytes(10, "big")) for n in range(1000)]
    counts = Counter(purge_shard(i) for i in ids)
    assert set(counts) == set(PURGE_SHARD_NAMES)
    assert max(counts.values()) < 2 * min(counts.values())


def list_all(store: TodoStore, owner: str, completed: bool | None, limit: int) -> list[list[str]]:
    pages, after = [], None
    while True:
        page = store.page(owner, completed=completed, limit=limit, after=after)
        pages.append([t.id for t in page.todos])
        if not page.more:
            return pages
        after = page.todos[-1].id


@pytest.mark.parametrize(
    ("completed", "wanted"), [(None, range(7)), (True, (0, 3, 6)), (False, (1, 2, 4, 5))]
)
def test_pages_hold_exactly_the_matching_todos(store: TodoStore, completed: bool | None, wanted: Any) -> None:
    made = [add(store, n=n, completed=n % 3 == 0) for n in range(7)]
    add(store, owner="bob", n=100, completed=True)
    expected = [made[n].id for n in wanted]
    pages = list_all(store, "alice", completed, limit=2)
    assert [i for p in pages for i in p] == expected
    assert all(len(p) == 2 for p in pages[:-1])
    assert 1 <= len(pages[-1]) <= 2


def test_last_full_page_says_no_more(store: TodoStore) -> None:
    for n in range(4):
        add(store, n=n)
    assert [len(p) for p in list_all(store, "alice", None, limit=2)] == [2, 2]


def test_each_page_is_one_query(store: TodoStore, dynamodb_calls: list[str]) -> None:
    for n in range(5):
        add(store, n=n)
    dynamodb_calls.clear()
    assert len(list_all(store, "alice", False, limit=2)) == 3
    assert dynamodb_calls == ["Query"] * 3


@pytest.mark.parametrize(("completed", "left"), [(None, []), (True, ["todo 1", "todo 2"])])
def test_clear(store: TodoStore, dynamodb: Any, completed: bool | None, left: list[str]) -> None:
    for n in range(3):
        add(store, n=n, completed=n == 0)
    add(store, owner="bob", n=9, completed=True)
    assert store.clear("alice", completed=completed).deleted == 3 - len(left)
    remaining = todo_items(dynamodb)
    assert [i["title"]["S"] for i in remaining if i["owner"]["S"] == "alice"] == left
    assert [i["owner"]["S"] for i in remaining if i["owner"]["S"] == "bob"] == ["bob"]


def test_clear_pages_through_many_todos(store: TodoStore, dynamodb: Any) -> None:
    for n in range(60):
        add(store, n=n)
    assert store.clear("alice", completed=None) == (60, True)
    assert todo_items(dynamodb) == []


def test_every_change_increments_the_version(store: TodoStore) -> None:
    todo = add(store)
    assert todo.version == 1
    assert store.update("alice", todo.id, patch(title="b")).version == 2
    assert store.update("alice", todo.id, patch(completed=True)).version == 3
    assert store.get("alice", todo.id).version == 3


def test_update_with_a_stale_version_is_refused_and_changes_nothing(store: TodoStore, dynamodb: Any) -> None:
    todo = add(store)
    store.update("alice", todo.id, patch(title="first"), versions=frozenset({1}))
    before = items_in_table(dynamodb)
    with pytest.raises(PreconditionFailed):
        store.update("alice", todo.id, patch(title="second"), versions=frozenset({1}))
    with pytest.raises(PreconditionFailed):
        store.delete("alice", todo.id, versions=frozenset({1}))
    with pytest.raises(PreconditionFailed):
        store.update("alice", todo.id, patch(title="weak"), versions=frozenset())
    assert items_in_table(dynamodb) == before
    assert store.update("alice", todo.id, patch(title="third"), versions=frozenset({1, 2})).version == 3
    store.delete("alice", todo.id, versions=frozenset({3}))
    assert todo_items(dynamodb) == []


def test_a_missing_todo_is_404_whatever_the_versions(store: TodoStore) -> None:
    missing = todos.new_id(NOW, bytes(10))
    for versions in (None, frozenset({1}), frozenset()):
        with pytest.raises(TodoNotFound):
            store.update("alice", missing, patch(title="x"), versions=versions)
        with pytest.raises(TodoNotFound):
            store.delete("alice", missing, versions=versions)
    other = add(store, owner="bob")
    with pytest.raises(TodoNotFound):  # another user's todo: 404, never 412
        store.update("alice", other.id, patch(title="x"), versions=frozenset({7}))

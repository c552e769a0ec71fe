"""The scheduled purge of old completed todos, on moto."""

from __future__ import annotations

import json
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from chalice.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import app as todo_app
from chalicelib import cleanup, todos
from chalicelib.schema import COUNT, PURGE_SHARD_NAMES, RESERVED_MARK, TABLE_DEFINITION
from chalicelib.store import TodoStore
from infrastructure.events import scheduled_event
from tests.support import ROOT, STAGE, record_calls, todo_items

KEEP = timedelta(days=30)
NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
Hook = Callable[..., Any]


def seed(
    store: TodoStore, *, owner: str = "alice", done_days_ago: float | None, now: datetime = NOW
) -> todos.Todo:
    """A todo completed `done_days_ago` days before `now` (None: an open one)."""
    when = now - timedelta(days=done_days_ago if done_days_ago is not None else 1)
    todo = todos.new_todo(
        {"title": "t", "completed": done_days_ago is not None},
        owner=owner,
        now=when,
        entropy=todos_entropy(),
    )
    store.create(todo)
    return todo


_counter = iter(range(10**9))


def todos_entropy() -> bytes:
    return next(_counter).to_bytes(10, "big")


def run(store: TodoStore, *, now: datetime = NOW, remaining: Callable[[], int] = lambda: 900_000) -> Any:
    return cleanup.purge_completed(store, now=now, keep_completed_for=KEEP, remaining_ms=remaining)


def ids(dynamodb: Any) -> set[str]:
    return {item["id"]["S"] for item in todo_items(dynamodb)}


TRANSACTION = "before-parameter-build.dynamodb.TransactWriteItems"


def deletes(params: dict[str, Any]) -> int:
    """How many todos a transaction deletes (the rest of it moves counts)."""
    return sum("Delete" in item for item in params["TransactItems"])


def once(action: Callable[[], Any]) -> Hook:
    """A hook that does `action` before the first transaction only."""
    done: list[bool] = []

    def hook(**_: Any) -> None:
        if not done:
            done.append(True)
            action()

    return hook


@pytest.fixture
def on_transaction(dynamodb: Any) -> Iterator[Callable[[Hook], None]]:
    """Run a function as each TransactWriteItems request of the store is built."""
    hooks: list[Hook] = []

    def install(hook: Hook) -> None:
        dynamodb.meta.events.register(TRANSACTION, hook)
        hooks.append(hook)

    yield install
    for hook in hooks:
        dynamodb.meta.events.unregister(TRANSACTION, hook)


# --- through chalice.test.Client, as Lambda runs it ------------------------------------


def test_scheduled_job_purges_exactly_the_old_completed_todos(
    dynamodb: Any, store: TodoStore, capsys: pytest.CaptureFixture[str]
) -> None:
    now = datetime.now(UTC)
    old = [seed(store, owner=o, done_days_ago=40, now=now) for o in ("alice", "bob", "alice")]
    recent = seed(store, done_days_ago=10, now=now)
    just_inside = seed(store, done_days_ago=29.9, now=now)
    still_open = seed(store, done_days_ago=None, now=now)
    with Client(todo_app.app, stage_name=STAGE, project_dir=str(ROOT)) as client:
        result = client.lambda_.invoke("purge_completed", scheduled_event("purge_completed")).payload
    assert result["purged"] == len(old)
    [line] = [json.loads(x) for x in capsys.readouterr().out.splitlines() if '"type":"job"' in x]
    assert line["report"] == result
    assert line["Job"] == "purge_completed"
    assert line["ItemsDeleted"] == len(old)
    assert result["finished"] is True
    assert ids(dynamodb) == {recent.id, just_inside.id, still_open.id}


def test_the_job_is_idempotent(store: TodoStore, dynamodb: Any) -> None:
    seed(store, done_days_ago=40)
    kept = seed(store, done_days_ago=5)
    assert run(store).purged == 1
    again = run(store)
    assert (again.purged, again.skipped, again.finished) == (0, 0, True)
    assert ids(dynamodb) == {kept.id}


# --- races: the index said "eligible", but the todo changed before the delete ---------


def test_a_todo_reopened_before_the_delete_is_kept(
    store: TodoStore, dynamodb: Any, on_transaction: Callable[[Hook], None]
) -> None:
    victim = seed(store, done_days_ago=40)
    later = todos.todo_patch({"completed": False}, now=NOW)
    on_transaction(once(lambda: store.update("alice", victim.id, later)))
    report = run(store)
    assert (report.purged, report.skipped) == (0, 1)
    assert store.get("alice", victim.id).completed is False


def test_a_todo_reopened_and_completed_again_is_kept(
    store: TodoStore, dynamodb: Any, on_transaction: Callable[[Hook], None]
) -> None:
    victim = seed(store, done_days_ago=40)

    def reopen_and_complete() -> None:
        store.update("alice", victim.id, todos.todo_patch({"completed": False}, now=NOW))
        store.update("alice", victim.id, todos.todo_patch({"completed": True}, now=NOW))

    on_transaction(once(reopen_and_complete))
    assert run(store).skipped == 1
    assert store.get("alice", victim.id).completed_at == todos.timestamp(NOW)


def test_a_todo_edited_before_the_delete_is_still_purged(
    store: TodoStore, dynamodb: Any, on_transaction: Callable[[Hook], None]
) -> None:
    victim = seed(store, done_days_ago=40)
    on_transaction(once(lambda: store.update("alice", victim.id, todos.todo_patch({"title": "x"}, now=NOW))))
    assert run(store).purged == 1
    assert ids(dynamodb) == set()


def test_a_todo_deleted_before_the_delete_is_skipped(
    store: TodoStore, dynamodb: Any, on_transaction: Callable[[Hook], None]
) -> None:
    victim = seed(store, done_days_ago=40)
    seed(store, done_days_ago=41)  # the other one

    deleting: list[bool] = []

    def delete_victim_first(params: dict[str, Any], **_: Any) -> None:
        # Just before the transaction that would delete it (whichever shard comes first);
        # the API's delete is a transaction too, which this hook leaves alone.
        keys = [item["Delete"]["Key"]["id"]["S"] for item in params["TransactItems"] if "Delete" in item]
        if victim.id in keys and not deleting:
            deleting.append(True)
            store.delete("alice", victim.id)

    on_transaction(delete_victim_first)
    report = run(store)
    assert (report.purged, report.skipped) == (1, 1)  # the other purged, the victim found gone
    assert ids(dynamodb) == set()


def test_clear_completed_keeps_a_todo_reopened_meanwhile(
    store: TodoStore, dynamodb: Any, on_transaction: Callable[[Hook], None]
) -> None:
    reopened = seed(store, done_days_ago=1)
    gone = seed(store, done_days_ago=2)
    on_transaction(
        once(lambda: store.update("alice", reopened.id, todos.todo_patch({"completed": False}, now=NOW)))
    )
    assert store.clear("alice", completed=True).deleted == 1
    assert ids(dynamodb) == {reopened.id}
    assert gone.id not in ids(dynamodb)


def test_contended_deletes_are_retried(
    store: TodoStore, dynamodb: Any, on_transaction: Callable[[Hook], None]
) -> None:
    for _ in range(3):
        seed(store, done_days_ago=40)
    calls: list[int] = []

    def conflict_once(params: dict[str, Any], **_: Any) -> None:
        calls.append(len(params["TransactItems"]))
        if len(calls) == 1:
            reasons = [{"Code": "TransactionConflict"}] * len(params["TransactItems"])
            error = {"Error": {"Code": "TransactionCanceledException"}, "CancellationReasons": reasons}
            raise ClientError(error, "TransactWriteItems")  # type: ignore[arg-type]

    on_transaction(conflict_once)
    report = run(store)
    assert report.purged == 3
    assert ids(dynamodb) == set()
    assert len(calls) >= 2


def test_persistent_contention_is_left_for_the_next_run(
    store: TodoStore, dynamodb: Any, on_transaction: Callable[[Hook], None]
) -> None:
    seed(store, done_days_ago=40)

    def always_conflict(params: dict[str, Any], **_: Any) -> None:
        error = {
            "Error": {"Code": "TransactionCanceledException"},
            "CancellationReasons": [{"Code": "TransactionConflict"}],
        }
        raise ClientError(error, "TransactWriteItems")  # type: ignore[arg-type]

    on_transaction(always_conflict)
    report = run(store)
    assert (report.purged, report.left) == (0, 1)
    assert len(ids(dynamodb)) == 1


# --- stopping early, being killed, running twice ---------------------------------------


def test_the_job_stops_before_the_deadline_and_the_next_run_finishes(store: TodoStore, dynamodb: Any) -> None:
    eligible = [seed(store, done_days_ago=40 + n) for n in range(60)]
    kept = seed(store, done_days_ago=1)
    budget = iter([300_000, 300_000, 300_000, 1_000] + [300_000] * 1000)
    first = run(store, remaining=lambda: next(budget))
    assert first.finished is False
    assert 0 < first.purged < len(eligible)
    second = run(store)
    assert second.finished is True
    assert first.purged + second.purged == len(eligible)
    assert ids(dynamodb) == {kept.id}


@pytest.mark.parametrize("killed_after", [1, 5])  # at the first transaction, and well into the run
def test_a_run_killed_after_k_deletes_converges_on_the_next(
    store: TodoStore, dynamodb: Any, on_transaction: Callable[[Hook], None], killed_after: int
) -> None:
    eligible = {seed(store, owner=f"u{n % 3}", done_days_ago=31 + n).id for n in range(120)}
    kept = {seed(store, owner=f"u{n % 3}", done_days_ago=n).id for n in range(10)} | {
        seed(store, done_days_ago=None).id
    }
    sent: list[int] = []  # the size of each transaction that went through

    def kill(params: dict[str, Any], **_: Any) -> None:
        if len(sent) == killed_after:
            raise KeyboardInterrupt  # the process dies here, as a timeout or crash would end it
        sent.append(deletes(params))

    on_transaction(kill)
    with pytest.raises(KeyboardInterrupt):
        run(store)
    dynamodb.meta.events.unregister(TRANSACTION, kill)
    left = ids(dynamodb)
    assert kept <= left
    assert len(eligible - left) == sum(sent)
    report = run(store)
    assert report.finished is True
    assert ids(dynamodb) == kept


def test_two_overlapping_runs_converge(store: TodoStore, dynamodb: Any) -> None:
    eligible = [seed(store, done_days_ago=40) for _ in range(5)]
    kept = seed(store, done_days_ago=3)
    # Run A reads its candidates, run B does everything, then A deletes what it read.
    shard_pages = {
        shard: next(store.purge_candidates(shard, todos.purge_cutoff(NOW, KEEP)))
        for shard in PURGE_SHARD_NAMES
    }
    assert run(store).purged == len(eligible)
    late = [store.purge(page) for page in shard_pages.values()]
    assert sum(o.deleted for o in late) == 0
    assert sum(o.skipped for o in late) == len(eligible)
    assert ids(dynamodb) == {kept.id}


# --- cost: reads grow with what is purged, not with the table ---------------------------


def fresh_store(calls: list[str] | None = None) -> tuple[Callable[[], set[str]], TodoStore]:
    """A new table of its own (several per test), and a way to read its todos' ids (which
    also checks that each owner's stored count is the number of todos they hold)."""
    client = boto3.client("dynamodb")
    if calls is not None:
        record_calls(client, calls)
    name = f"todos-{uuid.uuid4().hex[:12]}"
    client.create_table(TableName=name, **TABLE_DEFINITION)

    def stored_ids() -> set[str]:
        items = client.scan(TableName=name, ConsistentRead=True)["Items"]
        todo_items = [item for item in items if RESERVED_MARK not in item["owner"]["S"]]
        held = Counter(item["owner"]["S"] for item in todo_items)
        counts = {
            item["owner"]["S"].removesuffix("#usage"): int(item[COUNT]["N"])
            for item in items
            if item["owner"]["S"].endswith("#usage") and item["id"]["S"] == "todos"
        }
        assert counts == {owner: held.get(owner, 0) for owner in counts}
        assert set(held) <= set(counts)
        return {item["id"]["S"] for item in todo_items}

    return stored_ids, TodoStore(client, table_name=name, sleep=lambda _: None)


def reads_for(non_eligible: int, dynamodb_calls: list[str]) -> tuple[int, list[str]]:
    stored_ids, store = fresh_store(dynamodb_calls)
    for n in range(10):
        seed(store, owner=f"u{n}", done_days_ago=45)
    for n in range(non_eligible):
        seed(store, owner=f"u{n % 7}", done_days_ago=None if n % 2 else n % 29)
    dynamodb_calls.clear()
    report = run(store)
    assert report.purged == 10
    calls = list(dynamodb_calls)
    return len(stored_ids()) + report.purged, calls


def test_reads_do_not_grow_with_the_non_eligible_items(dynamodb_calls: list[str]) -> None:
    small_table, small_calls = reads_for(20, dynamodb_calls)
    large_table, large_calls = reads_for(200, dynamodb_calls)
    assert large_table - 10 == 10 * (small_table - 10)
    assert "Scan" not in small_calls + large_calls
    # Reads: one query per shard, whatever else the table holds, and, where a shard has
    # something to purge, one read of those todos (their tombstones keep them) and of their
    # owner's counter. Writes: one transaction per owner and shard that has something to purge.
    assert small_calls.count("Query") == large_calls.count("Query") == 16
    assert set(small_calls) == set(large_calls) == {"Query", "BatchGetItem", "TransactWriteItems"}
    for calls in (small_calls, large_calls):  # a read per shard that has some, and per transaction
        assert calls.count("TransactWriteItems") <= 10
        assert calls.count("BatchGetItem") <= 10 + calls.count("TransactWriteItems")


# --- property: exactly the eligible todos disappear -------------------------------------

STATES = st.sampled_from(["open", "done-old", "done-recent", "done-at-cutoff", "reopened-old"])


@settings(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(items=st.lists(st.tuples(st.sampled_from(["a", "b", "c"]), STATES, st.floats(0, 400)), max_size=30))
def test_exactly_the_eligible_todos_disappear(items: list[tuple[str, str, float]]) -> None:
    stored_ids, store = fresh_store()
    expected_left = set()
    for owner, state, extra_days in items:
        if state == "open":
            todo = seed(store, owner=owner, done_days_ago=None)
        elif state == "done-old":
            todo = seed(store, owner=owner, done_days_ago=30.001 + extra_days)
        elif state == "done-recent":
            todo = seed(store, owner=owner, done_days_ago=min(extra_days, 29.99))
        elif state == "done-at-cutoff":
            todo = seed(store, owner=owner, done_days_ago=30)  # not *older* than 30 days
        else:
            todo = seed(store, owner=owner, done_days_ago=30.001 + extra_days)
            store.update(owner, todo.id, todos.todo_patch({"completed": False}, now=NOW))
        if state != "done-old":
            expected_left.add(todo.id)
    report = run(store)
    assert report.finished
    assert stored_ids() == expected_left
    assert report.purged == len(items) - len(expected_left)

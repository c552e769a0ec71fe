"""Every device in step: the changes since a sync token (deletions included), tombstones and
undo, and the list's 304 (chalicelib/store.py, the change sequence in chalicelib/schema.py).

The property that matters: whatever wrote meanwhile, a client that took a Sync-Token with a
list and later applies the changes since that token, in order, holds the list as it is. Shown
for one client's own sequence of every kind of change (a property test), and for eight writers
racing in threads, each with its own client as a Lambda environment would have, while a reader
takes tokens and lists in the middle of it."""

from __future__ import annotations

import json
import random
import re
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import botocore.session
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chalicelib import cleanup, todos
from chalicelib.store import TodoStore
from chalicelib.todos import Todo, TodoPatch
from tests.support import TABLE, path_of, sub_of, todo_items

Auth = Callable[..., dict[str, str]]
LINK = re.compile(r'<(?P<url>[^>]+)>; rel="next"')
State = dict[str, tuple[str, bool, int | None]]  # id -> (title, completed, order)


def create(api: Any, auth: Auth, title: str, user: str = "alice", **fields: Any) -> dict[str, Any]:
    response = api.post("/todos", headers=auth(user), body=json.dumps({"title": title, **fields}))
    assert response.status_code == 201, response.body
    return dict(response.json_body)


def listed(api: Any, auth: Auth, user: str = "alice") -> tuple[State, str]:
    """The whole list, and the Sync-Token its first page carried."""
    response = api.get("/todos", headers=auth(user))
    assert response.status_code == 200, response.body
    token = response.headers["Sync-Token"]
    state: State = {}
    while True:
        state.update({t["id"]: (t["title"], t["completed"], t.get("order")) for t in response.json_body})
        link = response.headers.get("Link")
        if link is None:
            return state, token
        response = api.get(path_of(LINK.fullmatch(link)["url"]), headers=auth(user))


def since(
    api: Any, auth: Auth, token: str, user: str = "alice", limit: int = 100
) -> tuple[list[dict[str, Any]], str]:
    """Every change after `token`, following the pages, and the new token."""
    response = api.get(f"/todos?since={token}&limit={limit}", headers=auth(user))
    changes = []
    while True:
        assert response.status_code == 200, response.body
        changes += response.json_body
        link = response.headers.get("Link")
        if link is None:
            return changes, response.headers["Sync-Token"]
        assert "Sync-Token" not in response.headers  # only the last page's is for next time
        response = api.get(path_of(LINK.fullmatch(link)["url"]), headers=auth(user))


def replay(state: State, changes: list[dict[str, Any]]) -> State:
    out = dict(state)
    for change in changes:
        if change.get("deleted"):
            out.pop(change["id"], None)
        else:
            out[change["id"]] = (change["title"], change["completed"], change.get("order"))
    return out


def test_the_changes_since_a_token_bring_a_list_to_the_list_as_it_is(api: Any, auth: Auth) -> None:
    a, b = create(api, auth, "a"), create(api, auth, "b")
    then, token = listed(api, auth)
    assert api.patch(path_of(a["url"]), headers=auth(), body='{"completed": true}').status_code == 200
    assert api.delete(path_of(b["url"]), headers=auth()).status_code == 204
    c = create(api, auth, "c", order=3)
    assert api.post(path_of(b["url"]) + "/restore", headers=auth()).status_code == 200
    assert api.delete("/todos?completed=true", headers=auth()).status_code == 204  # clears a
    changes, new_token = since(api, auth, token, limit=2)  # three pages of two
    assert [(ch["id"], ch.get("deleted", False)) for ch in changes] == [
        (a["id"], False), (b["id"], True), (c["id"], False), (b["id"], False), (a["id"], True),
    ]  # fmt: skip
    assert changes[1]["title"] == "b"  # a deleted todo as it was
    now, _ = listed(api, auth)
    assert replay(then, changes) == now == {b["id"]: ("b", False, None), c["id"]: ("c", False, 3)}
    # Nothing since the new token; another user's changes are never among anyone's.
    create(api, auth, "bob's", user="bob")
    nothing, same = since(api, auth, new_token)
    assert (nothing, same.split(".")[0]) == ([], new_token.split(".")[0])
    bobs, _ = since(api, auth, f"0.{int(time.time())}", user="bob")
    assert [t["title"] for t in bobs] == ["bob's"]


def test_the_changes_of_a_view_bring_it_to_the_view_as_it_is(api: Any, auth: Auth) -> None:
    a, b = create(api, auth, "a"), create(api, auth, "b", completed=True)
    response = api.get("/todos?completed=false", headers=auth())
    then = {t["id"]: (t["title"], t["completed"], t.get("order")) for t in response.json_body}
    token = response.headers["Sync-Token"]
    assert api.patch(path_of(a["url"]), headers=auth(), body='{"completed": true}').status_code == 200
    assert api.patch(path_of(b["url"]), headers=auth(), body='{"completed": false}').status_code == 200
    answer = api.get(f"/todos?since={token}&completed=false", headers=auth())
    assert answer.status_code == 200, answer.body
    changes = answer.json_body
    assert [(c["id"], c.get("deleted", False)) for c in changes] == [(a["id"], True), (b["id"], False)]
    now = {
        t["id"]: (t["title"], t["completed"], t.get("order"))
        for t in api.get("/todos?completed=false", headers=auth()).json_body
    }
    assert replay(then, changes) == now


def test_a_token_older_than_the_window_is_a_410_and_a_bad_one_a_400(api: Any, auth: Auth) -> None:
    create(api, auth, "a")
    now = int(time.time())
    fresh = api.get(f"/todos?since=0.{now - 29 * 86400}", headers=auth())
    assert fresh.status_code == 200
    assert [t["title"] for t in fresh.json_body] == ["a"]
    stale = api.get(f"/todos?since=0.{now - 30 * 86400}", headers=auth())
    assert stale.status_code == 410
    assert stale.json_body["Code"] == "SyncTokenExpired"
    assert "reload the list" in stale.json_body["Message"]
    for query in ("since=abc", "since=1", "since=1.2.3", "since=1.2&cursor=abc", "since=1.2&since=1.2"):
        response = api.get(f"/todos?{query}", headers=auth())
        assert response.status_code == 400, query
        assert response.json_body["Code"] == "InvalidRequest"


def test_the_lists_etag_answers_304_with_one_small_read_until_something_changes(
    api: Any, auth: Auth, dynamodb_calls: list[str]
) -> None:
    todo = create(api, auth, "a")
    first = api.get("/todos", headers=auth())
    tag = first.headers["ETag"]
    assert tag.startswith('W/"')
    dynamodb_calls.clear()
    unchanged = api.get("/todos", headers=auth(**{"If-None-Match": tag}))
    assert (unchanged.status_code, unchanged.body, dynamodb_calls) == (304, b"", ["BatchGetItem"])
    assert unchanged.headers["ETag"] == tag
    assert api.get("/todos?completed=true", headers=auth(**{"If-None-Match": tag})).status_code == 200
    assert api.patch(path_of(todo["url"]), headers=auth(), body='{"title": "b"}').status_code == 200
    changed = api.get("/todos", headers=auth(**{"If-None-Match": tag}))
    assert changed.status_code == 200
    assert changed.headers["ETag"] != tag
    assert api.get("/todos", headers=auth("bob", **{"If-None-Match": tag})).status_code == 200


def test_a_deleted_todo_is_gone_everywhere_but_its_undo(api: Any, auth: Auth, setting: Any) -> None:
    setting("max-todos", "2")
    a, b = create(api, auth, "a"), create(api, auth, "b")
    assert api.patch(path_of(a["url"]), headers=auth(), body='{"title": "a2"}').status_code == 200
    assert api.delete(path_of(a["url"]), headers=auth()).status_code == 204
    assert api.get(path_of(a["url"]), headers=auth()).status_code == 404
    assert [t["id"] for t in api.get("/todos", headers=auth()).json_body] == [b["id"]]
    create(api, auth, "c")  # the tombstone does not count: room for one more
    full = api.post(path_of(a["url"]) + "/restore", headers=auth())
    assert (full.status_code, full.json_body["Code"]) == (409, "TodoLimitReached")
    assert api.post(path_of(a["url"]) + "/restore", headers=auth("bob")).status_code == 404  # not bob's
    assert api.delete(path_of(b["url"]), headers=auth()).status_code == 204
    back = api.post(path_of(a["url"]) + "/restore", headers=auth())
    assert back.status_code == 200
    assert (back.json_body["title"], back.headers["ETag"]) == ("a2", '"3"')  # as it was, one version on
    assert back.headers["Location"] == a["url"]
    assert api.get(path_of(a["url"]), headers=auth()).json_body["title"] == "a2"
    again = api.post(path_of(a["url"]) + "/restore", headers=auth())
    assert (again.status_code, again.json_body["Code"]) == (404, "TodoNotFound")
    for bad in ("/todos/nope/restore", "/todos/01ARZ3NDEKTSV4RRFFQ69G5FAV/restore"):
        assert api.post(bad, headers=auth()).status_code == 404


def test_undo_ends_with_the_window(api: Any, auth: Auth, dynamodb: Any) -> None:
    # A delete a month ago, as its tombstone's time to live says (TTL deletes late: until
    # then the tombstone is still there, and still refused).
    todo = create(api, auth, "old")
    month_ago = TodoStore(dynamodb, TABLE, clock=lambda: time.time() - 31 * 86400)
    month_ago.delete(sub_of("alice"), todo["id"])
    assert api.post(path_of(todo["url"]) + "/restore", headers=auth()).status_code == 404


def test_clears_and_the_purge_keep_tombstones_and_log_the_deletions(
    api: Any, auth: Auth, dynamodb: Any
) -> None:
    done = [create(api, auth, f"done {n}", completed=True) for n in range(3)]
    kept = create(api, auth, "open")
    _, token = listed(api, auth)
    assert api.delete("/todos?completed=true", headers=auth()).status_code == 204
    changes, _ = since(api, auth, token)
    assert sorted(c["id"] for c in changes if c["deleted"]) == sorted(t["id"] for t in done)
    assert api.post(path_of(done[1]["url"]) + "/restore", headers=auth()).status_code == 200
    # The purge of old completed todos, a year on.
    store = TodoStore(dynamodb, TABLE, sleep=lambda _: None)
    _, token = listed(api, auth)
    year_on = datetime.now(UTC) + timedelta(days=365)
    cleanup.purge_completed(
        store, now=year_on, keep_completed_for=timedelta(days=30), remaining_ms=lambda: 60_000
    )
    changes, _ = since(api, auth, token)
    assert [(c["id"], c["deleted"]) for c in changes] == [(done[1]["id"], True)]
    assert [i["id"]["S"] for i in todo_items(dynamodb)] == [kept["id"]]
    assert api.post(path_of(done[1]["url"]) + "/restore", headers=auth()).status_code == 200


def test_the_feed_stops_at_a_number_not_yet_visible(store: TodoStore, dynamodb: Any) -> None:
    # A Query is read-committed against transactions (DynamoDB Developer Guide, "Isolation
    # levels for DynamoDB transactions"): it can meet change 3's entry before change 2's
    # commits. Numbers are dense, so a missing one is one still committing: the feed stops
    # before it, and the next `since` starts there.
    owner = sub_of("alice")
    moment = datetime.now(UTC)
    made = [
        todos.new_todo({"title": f"t{n}"}, owner=owner, now=moment, entropy=bytes([n]) * 10) for n in range(3)
    ]
    for todo in made:
        store.create(todo)
    dynamodb.delete_item(TableName=TABLE, Key={"owner": {"S": f"{owner}#changes"}, "id": {"S": f"{2:015d}"}})
    assert [c.seq for c in store.changes(owner, after=0, limit=10).changes] == [1]
    assert [c.seq for c in store.changes(owner, after=2, limit=10).changes] == [3]


# --- property: any sequence of changes, replayed from any point -------------------------

OPS = st.lists(
    st.tuples(
        st.sampled_from(["create", "edit", "toggle", "delete", "restore", "clear", "look"]), st.integers(0, 7)
    ),
    max_size=25,
)


@settings(deadline=None, max_examples=25, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=OPS)
def test_replaying_from_any_token_gives_the_list_as_it_is(
    api: Any, auth: Auth, ops: list[tuple[str, int]]
) -> None:
    user = f"u{random.getrandbits(40)}"  # a fresh user per example: the table is the test's
    known: list[str] = []
    looks = [listed(api, auth, user)]
    for op, n in ops:
        pick = known[n % len(known)] if known else None
        if op == "create":
            known.append(create(api, auth, f"t{n}", user=user)["id"])
        elif op == "look":
            looks.append(listed(api, auth, user))
        elif pick is None:
            continue
        elif op == "edit":
            api.patch(f"/todos/{pick}", headers=auth(user), body=json.dumps({"title": f"e{n}", "order": n}))
        elif op == "toggle":
            api.patch(f"/todos/{pick}", headers=auth(user), body=json.dumps({"completed": n % 2 == 0}))
        elif op == "delete":
            api.delete(f"/todos/{pick}", headers=auth(user))
        elif op == "restore":
            api.post(f"/todos/{pick}/restore", headers=auth(user))
        else:
            api.delete("/todos?completed=true", headers=auth(user))
    final, _ = listed(api, auth, user)
    for state, token in looks:
        assert replay(state, since(api, auth, token, user=user, limit=3)[0]) == final


# --- racing: eight writers, and a reader in the middle of them ---------------------------

WRITERS = 8
OPS_EACH = 25


def test_eight_racing_writers_leave_a_feed_that_replays_to_the_list(dynamodb: Any) -> None:
    owner = sub_of("alice")
    sessions = botocore.session.get_session()
    clients = [sessions.create_client("dynamodb") for _ in range(WRITERS + 1)]  # an environment each
    cancelled: list[str] = []
    for client in clients:  # what DynamoDB answered: did they really race for the numbers?
        client.meta.events.register(
            "after-call.dynamodb.TransactWriteItems",
            lambda http_response, parsed, **_: cancelled.append(parsed.get("Error", {}).get("Code", "")),
        )
    stores = [TodoStore(client, TABLE) for client in clients]
    ids: list[str] = []
    lock = threading.Lock()
    failures: list[BaseException] = []
    done = threading.Event()
    looks: list[tuple[dict[str, Todo], int]] = []

    def write(n: int) -> None:
        rng = random.Random(n)  # noqa: S311 - a repeatable mix of operations, no secret
        store = stores[n]
        try:
            for k in range(OPS_EACH):
                moment = datetime.now(UTC)
                with lock:
                    pick = rng.choice(ids) if ids else None
                op = (
                    rng.choice(["create", "create", "edit", "toggle", "delete", "restore"])
                    if pick
                    else "create"
                )
                try:
                    if op == "create":
                        todo = todos.new_todo(
                            {"title": f"w{n}-{k}"}, owner=owner, now=moment, entropy=rng.randbytes(10)
                        )
                        store.create(todo)
                        with lock:
                            ids.append(todo.id)
                    elif op == "edit":
                        store.update(
                            owner, pick, TodoPatch(updated_at=todos.timestamp(moment), title=f"w{n}-{k}")
                        )
                    elif op == "toggle":
                        patch = TodoPatch(updated_at=todos.timestamp(moment), completed=rng.random() < 0.5)
                        store.update(owner, pick, patch)
                    elif op == "delete":
                        store.delete(owner, pick)
                    else:
                        store.restore(owner, pick, now=moment)
                except Exception as exc:  # a 404 (gone, or not deleted) is the race's answer
                    if type(exc).__name__ != "TodoNotFound":
                        raise
        except BaseException as exc:
            failures.append(exc)

    def look() -> None:
        store = stores[WRITERS]
        while not done.wait(0.05):  # a look now and then, while they write
            head = store.head(owner)
            looks.append((whole_list(store, owner), head))

    threads = [threading.Thread(target=write, args=(n,)) for n in range(WRITERS)]
    reader = threading.Thread(target=look)
    reader.start()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    done.set()
    reader.join()
    assert failures == []
    assert cancelled.count("TransactionCanceledException") >= WRITERS  # numbers taken under their feet
    final = whole_list(stores[0], owner)
    assert final  # something survived the race
    assert len(looks) >= 2  # the reader looked while they wrote
    for state, head in [({}, 0), *looks]:
        assert replayed(stores[0], owner, state, head) == final


def whole_list(store: TodoStore, owner: str) -> dict[str, Todo]:
    found: dict[str, Todo] = {}
    after = None
    while True:
        page = store.page(owner, completed=None, limit=100, after=after)
        found.update({t.id: t for t in page.todos})
        if not page.more:
            return found
        after = page.todos[-1].id


def replayed(store: TodoStore, owner: str, state: dict[str, Todo], head: int) -> dict[str, Todo]:
    out = dict(state)
    while True:
        found = store.changes(owner, after=head, limit=7)
        for change in found.changes:
            if change.deleted:
                out.pop(change.todo.id, None)
            else:
                out[change.todo.id] = change.todo
            head = change.seq
        if not found.more:
            return out

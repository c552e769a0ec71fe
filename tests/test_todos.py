"""The pure core: no AWS, no clock, no randomness but what the test passes in."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from chalicelib import todos
from chalicelib.errors import (
    InvalidCursor,
    InvalidRequest,
    InvalidTodo,
    PayloadTooLarge,
    TodoNotFound,
)

NOW = datetime(2026, 11, 27, 13, 22, 48, 123456, tzinfo=UTC)
ENTROPY = bytes(range(10))


def make(payload: dict[str, object], **overrides: object) -> todos.Todo:
    args: dict[str, object] = {"owner": "owner-1", "now": NOW, "entropy": ENTROPY, **overrides}
    return todos.new_todo(payload, **args)  # type: ignore[arg-type]


def test_new_todo_has_defaults_and_stamps() -> None:
    todo = make({"title": "  buy milk  "})
    assert todo.title == "buy milk"
    assert todo.completed is False
    assert todo.order is None
    assert todo.owner == "owner-1"
    assert todo.created_at == todo.updated_at == "2026-11-27T13:22:48.123Z"


def test_task_is_an_alias_of_title() -> None:
    assert make({"task": "walk"}).title == "walk"
    assert make({"task": "walk", "title": "walk"}).title == "walk"


def test_title_and_task_that_disagree_are_refused() -> None:
    with pytest.raises(InvalidTodo, match="disagree"):
        make({"task": "walk", "title": "run"})


def test_ids_sort_by_time_and_differ_by_entropy() -> None:
    first = todos.new_id(NOW, ENTROPY)
    later = todos.new_id(NOW + timedelta(milliseconds=1), bytes(10))
    other = todos.new_id(NOW, bytes(9) + b"\x01")
    assert len(first) == 26
    assert todos.is_todo_id(first)
    assert first < later
    assert first != other


def test_id_encodes_the_millisecond_clock() -> None:
    # The ULID spec's own example: 1469918176385 ms encodes as 01ARYZ6S41.
    moment = datetime.fromtimestamp(1469918176.385, tz=UTC)
    assert todos.new_id(moment, bytes(10)).startswith("01ARYZ6S41")


@pytest.mark.parametrize(
    "value",
    [
        "",
        "01ARYZ6S41",
        "01ARYZ6S41TSV4RRFFQ69G5FAVX",
        "01arYZ6S41TSV4RRFFQ69G5FAV",
        "81ARYZ6S41TSV4RRFFQ69G5FAV",
        "01ARYZ6S41TSV4RRFFQ69G5FAU",
        "../../etc/passwd",
        "01ARYZ6S41TSV4RRFFQ69G5FA\n",
    ],
)
def test_malformed_ids_are_not_found(value: str) -> None:
    with pytest.raises(TodoNotFound):
        todos.todo_id(value)


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({}, "required"),
        ({"completed": True}, "required"),
        ({"title": ""}, "1 to 500"),
        ({"title": "   "}, "1 to 500"),
        ({"title": "x" * 501}, "1 to 500"),
        ({"title": 5}, "string"),
        ({"title": None}, "string"),
        ({"title": ["a"]}, "string"),
        ({"title": "a\u0000b"}, "control"),
        ({"title": "a\nb"}, "control"),
        ({"title": "a\u2028b"}, "control"),
        ({"title": "a\ud800b"}, "control"),
        ({"title": "a", "completed": "true"}, "true or false"),
        ({"title": "a", "completed": 1}, "true or false"),
        ({"title": "a", "completed": None}, "true or false"),
        ({"title": "a", "order": 1.5}, "integer"),
        ({"title": "a", "order": True}, "integer"),
        ({"title": "a", "order": "1"}, "integer"),
        ({"title": "a", "order": 2**53}, "integer"),
        ({"title": "a", "id": "01ARYZ6S41TSV4RRFFQ69G5FAV"}, "read-only"),
        ({"title": "a", "owner": "bob"}, "read-only"),
        ({"title": "a", "url": "http://x"}, "read-only"),
        ({"title": "a", "createdAt": "2020-01-01T00:00:00Z"}, "read-only"),
        ({"title": "a", "updatedAt": "2020-01-01T00:00:00Z"}, "read-only"),
        ({"title": "a", "admin": True}, "unknown field"),
    ],
)
def test_invalid_new_todos_are_refused(payload: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidTodo, match=message):
        make(payload)


def test_title_limit_counts_characters_not_bytes() -> None:
    assert make({"title": "é" * 500}).title == "é" * 500


def test_order_bounds_are_inclusive() -> None:
    assert make({"title": "a", "order": 2**53 - 1}).order == 2**53 - 1
    assert make({"title": "a", "order": -(2**53 - 1)}).order == -(2**53 - 1)


def test_patch_sets_only_what_is_given() -> None:
    patch = todos.todo_patch({"completed": True}, now=NOW)
    assert patch == todos.TodoPatch(updated_at="2026-11-27T13:22:48.123Z", completed=True)


def test_patch_with_null_order_removes_it() -> None:
    patch = todos.todo_patch({"order": None}, now=NOW)
    assert patch.set_order
    assert patch.order is None


def test_empty_patch_is_refused() -> None:
    with pytest.raises(InvalidTodo, match="at least one"):
        todos.todo_patch({}, now=NOW)


def test_patch_refuses_read_only_fields() -> None:
    with pytest.raises(InvalidTodo, match="read-only"):
        todos.todo_patch({"owner": "mallory"}, now=NOW)


def test_json_representation() -> None:
    todo = make({"title": "a", "order": 3})
    assert todos.todo_json(todo, "https://h/dev") == {
        "id": todo.id,
        "title": "a",
        "completed": False,
        "order": 3,
        "url": f"https://h/dev/todos/{todo.id}",
        "createdAt": "2026-11-27T13:22:48.123Z",
        "updatedAt": "2026-11-27T13:22:48.123Z",
    }
    assert "order" not in todos.todo_json(make({"title": "a"}), "http://h")


@pytest.mark.parametrize(
    ("raw", "error"),
    [
        (b"", InvalidRequest),
        (b"   ", InvalidRequest),
        (b"{", InvalidRequest),
        (b"[]", InvalidRequest),
        (b'"title"', InvalidRequest),
        (b"null", InvalidRequest),
        (b"1", InvalidRequest),
        (b'{"title": NaN}', InvalidRequest),
        (b'{"order": Infinity}', InvalidRequest),
        (b'{"title": "a", "title": "b"}', InvalidRequest),
        (b'{"title": "\xff"}', InvalidRequest),
        ('{"title": "a"}'.encode("utf-16"), InvalidRequest),
        (b"[" * 100_000 + b"]" * 100_000, PayloadTooLarge),
        (b"[" * 4000 + b"]" * 4000, InvalidRequest),
        (b'{"a":' * 1300 + b"1" + b"}" * 1300, InvalidRequest),
        (b'{"order": 1' + b"0" * 5000 + b"}", InvalidRequest),
        (b'{"title": "' + b"x" * todos.MAX_BODY_BYTES + b'"}', PayloadTooLarge),
    ],
)
def test_hostile_bodies_are_client_errors(raw: bytes, error: type[Exception]) -> None:
    with pytest.raises(error):
        todos.parse_body(raw)


def test_parse_body_accepts_an_object() -> None:
    assert todos.parse_body(b' {"title": "a\\u00e9"} ') == {"title": "aé"}


def test_list_query_defaults() -> None:
    assert todos.list_query({}, owner="o") == todos.ListQuery(limit=100, completed=None, after=None)


@pytest.mark.parametrize(
    "params",
    [
        {"limit": ["0"]},
        {"limit": ["101"]},
        {"limit": ["-1"]},
        {"limit": ["1.5"]},
        {"limit": ["ten"]},
        {"limit": [""]},
        {"limit": ["٣"]},
        {"limit": ["0001"]},
        {"limit": ["1", "2"]},
        {"completed": ["yes"]},
        {"completed": ["True"]},
        {"page": ["2"]},
    ],
)
def test_bad_list_queries_are_refused(params: dict[str, list[str]]) -> None:
    with pytest.raises(InvalidRequest):
        todos.list_query(params, owner="o")


def test_cursor_round_trips_for_its_owner_only() -> None:
    after = todos.new_id(NOW, ENTROPY)
    cursor = todos.encode_cursor(after, owner="alice")
    assert todos.decode_cursor(cursor, owner="alice") == after
    with pytest.raises(InvalidCursor):
        todos.decode_cursor(cursor, owner="bob")


@pytest.mark.parametrize(
    "cursor",
    ["", "x", "!!!!", "é", "A" * 500, todos.encode_cursor("01ARYZ6S41TSV4RRFFQ69G5FAV", owner="o")[:-2]],
)
def test_tampered_cursors_are_refused(cursor: str) -> None:
    with pytest.raises(InvalidCursor):
        todos.decode_cursor(cursor, owner="o")


def test_next_link_keeps_the_filter_and_limit() -> None:
    query = todos.ListQuery(limit=2, completed=True, after=None)
    link = todos.next_link("http://h", query, after_id="01ARYZ6S41TSV4RRFFQ69G5FAV", owner="o")
    cursor = todos.encode_cursor("01ARYZ6S41TSV4RRFFQ69G5FAV", owner="o")
    assert link == f'<http://h/todos?limit=2&completed=true&cursor={cursor}>; rel="next"'


def test_clear_query() -> None:
    assert todos.clear_query({}) is None
    assert todos.clear_query({"completed": ["true"]}) is True
    with pytest.raises(InvalidRequest):
        todos.clear_query({"limit": ["3"]})


@pytest.mark.parametrize(
    ("header", "versions"),
    [
        (None, None),
        ("*", None),
        ('"3"', frozenset({3})),
        ('"3", "5"', frozenset({3, 5})),
        ('W/"3"', frozenset()),
        ('W/"3", "4"', frozenset({4})),
    ],
)
def test_if_match(header: str | None, versions: frozenset[int] | None) -> None:
    assert todos.if_match(header) == versions


@pytest.mark.parametrize(
    "header", ["3", '"x"', '"3', "", '"3",, "4"', ", ".join(['"1"'] * 11), '"' + "9" * 16 + '"']
)
def test_malformed_if_match_is_400(header: str) -> None:
    with pytest.raises(InvalidRequest):
        todos.if_match(header)


def test_etag_is_the_quoted_version() -> None:
    todo = make({"title": "a"})
    assert todos.etag(todo) == '"1"'
    assert todos.if_match(todos.etag(todo)) == frozenset({1})

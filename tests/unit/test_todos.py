"""The pure core: no AWS, no clock, no randomness but what the test passes in."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from chalicelib import todos
from chalicelib.errors import (
    InvalidTodo,
)
from tests.support import NOW, make_todo


def test_new_todo_has_defaults_and_stamps() -> None:
    todo = make_todo({"title": "  buy milk  "})
    assert todo.title == "buy milk"
    assert todo.completed is False
    assert todo.order is None
    assert todo.owner == "owner-1"
    assert todo.created_at == todo.updated_at == "2026-11-27T13:22:48.123Z"


def test_task_is_an_alias_of_title() -> None:
    assert make_todo({"task": "walk"}).title == "walk"


def test_title_and_task_together_are_refused_even_when_they_agree() -> None:
    # openapi.yaml can say "one of them" (not: required both); it cannot say "equal".
    for both in ({"task": "walk", "title": "run"}, {"task": "walk", "title": "walk"}):
        with pytest.raises(InvalidTodo, match="not both"):
            make_todo(both)
        with pytest.raises(InvalidTodo, match="not both"):
            todos.todo_patch(both, now=NOW)


def test_a_title_is_at_most_600_characters_as_sent_and_500_once_trimmed() -> None:
    assert make_todo({"title": " " * 50 + "x" * 500 + " " * 50}).title == "x" * 500
    with pytest.raises(InvalidTodo, match="600 characters as sent"):
        make_todo({"title": " " * 51 + "x" * 500 + " " * 50})
    with pytest.raises(InvalidTodo, match="1 to 500"):
        make_todo({"title": "x" * 501})


def test_ids_sort_by_time_and_differ_by_entropy() -> None:
    first = todos.new_id(NOW, bytes(range(10)))
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
        make_todo(payload)


def test_title_limit_counts_characters_not_bytes() -> None:
    assert make_todo({"title": "é" * 500}).title == "é" * 500


def test_order_bounds_are_inclusive() -> None:
    assert make_todo({"title": "a", "order": 2**53 - 1}).order == 2**53 - 1
    assert make_todo({"title": "a", "order": -(2**53 - 1)}).order == -(2**53 - 1)


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

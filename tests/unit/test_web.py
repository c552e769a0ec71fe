"""The HTTP edge's parsing and representation: bodies, headers, query strings, cursors,
Links and the Todo-Backend JSON. Pure functions over strings: no AWS, no server."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib import todos, web
from chalicelib.errors import (
    InvalidCursor,
    InvalidRequest,
    PayloadTooLarge,
    TodoNotFound,
)
from tests.support import NOW, SPEC, make_todo


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
        web.todo_id_or_404(value)


def test_json_representation() -> None:
    todo = make_todo({"title": "a", "order": 3})
    assert web.todo_json(todo, "https://h/dev") == {
        "id": todo.id,
        "title": "a",
        "completed": False,
        "order": 3,
        "url": f"https://h/dev/todos/{todo.id}",
        "createdAt": "2026-11-27T13:22:48.123Z",
        "updatedAt": "2026-11-27T13:22:48.123Z",
    }
    assert "order" not in web.todo_json(make_todo({"title": "a"}), "http://h")


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
        (b'{"title": "' + b"x" * web.MAX_BODY_BYTES + b'"}', PayloadTooLarge),
    ],
)
def test_hostile_bodies_are_client_errors(raw: bytes, error: type[Exception]) -> None:
    with pytest.raises(error):
        web.parse_body(raw)


def test_parse_body_accepts_an_object() -> None:
    assert web.parse_body(b' {"title": "a\\u00e9"} ') == {"title": "aé"}


def test_list_query_defaults() -> None:
    assert web.list_query({}, owner="o") == web.ListQuery(limit=100, completed=None, after=None)


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
        web.list_query(params, owner="o")


def test_cursor_round_trips_for_its_owner_only() -> None:
    after = todos.new_id(NOW, bytes(range(10)))
    cursor = web.encode_cursor(after, owner="alice")
    assert web.decode_cursor(cursor, owner="alice") == after
    with pytest.raises(InvalidCursor):
        web.decode_cursor(cursor, owner="bob")


@pytest.mark.parametrize(
    "cursor",
    ["", "x", "!!!!", "é", "A" * 500, web.encode_cursor("01ARYZ6S41TSV4RRFFQ69G5FAV", owner="o")[:-2]],
)
def test_tampered_cursors_are_refused(cursor: str) -> None:
    with pytest.raises(InvalidCursor):
        web.decode_cursor(cursor, owner="o")


def test_next_link_keeps_the_filter_and_limit() -> None:
    query = web.ListQuery(limit=2, completed=True, after=None)
    link = web.next_link("http://h", query, after_id="01ARYZ6S41TSV4RRFFQ69G5FAV", owner="o")
    cursor = web.encode_cursor("01ARYZ6S41TSV4RRFFQ69G5FAV", owner="o")
    assert link == f'<http://h/todos?limit=2&completed=true&cursor={cursor}>; rel="next"'


def test_clear_query() -> None:
    assert web.clear_query({}) is None
    assert web.clear_query({"completed": ["true"]}) is True
    with pytest.raises(InvalidRequest):
        web.clear_query({"limit": ["3"]})


@pytest.mark.parametrize(
    ("header", "versions"),
    [
        (None, None),
        ("*", None),
        ('"3"', frozenset({3})),
        ('"3", "5"', frozenset({3, 5})),
        ('W/"3"', frozenset()),
        ('W/"3", "4"', frozenset({4})),
        ("3", frozenset({3})),  # a version without its quotes: read as its tag
        ('3, "5", W/7', frozenset({3, 5})),
    ],
)
def test_if_match(header: str | None, versions: frozenset[int] | None) -> None:
    assert web.if_match(header) == versions


IF_MATCH = SPEC["components"]["parameters"]["IfMatch"]["schema"]["pattern"]


@given(st.from_regex(IF_MATCH, fullmatch=True))
def test_every_if_match_the_contract_allows_is_read(header: str) -> None:
    web.if_match(header)  # no 400 for a header openapi.yaml calls valid


@pytest.mark.parametrize(
    "header", ['"x"', '"3', '3"', "", '"3",, "4"', ", ".join(['"1"'] * 11), '"' + "9" * 16 + '"']
)
def test_malformed_if_match_is_400(header: str) -> None:
    with pytest.raises(InvalidRequest):
        web.if_match(header)


def test_etag_is_the_quoted_version() -> None:
    todo = make_todo({"title": "a"})
    assert web.etag(todo) == '"1"'
    assert web.if_match(web.etag(todo)) == frozenset({1})


def test_nesting_is_bounded_the_same_on_every_python() -> None:
    def nested(depth: int) -> bytes:
        return b'{"a":' * (depth - 1) + b"{}" + b"}" * (depth - 1)

    assert web.parse_body(nested(web.MAX_JSON_DEPTH))
    with pytest.raises(InvalidRequest, match="nests deeper"):
        web.parse_body(nested(web.MAX_JSON_DEPTH + 1))
    # Brackets inside strings (escaped quotes included) are text, not nesting.
    assert web.parse_body(b'{"title": "a\\"[[[[[[[[[[[[{{{{"}') == {"title": 'a"[[[[[[[[[[[[{{{{'}

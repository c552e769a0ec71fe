"""The pure core: the Todo value, input parsing and validation, ids, cursors.

Nothing here knows AWS, the environment or the clock: time, randomness and the
caller's identity arrive as parameters, so this module is tested without moto.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from chalicelib.errors import (
    InvalidCursor,
    InvalidRequest,
    InvalidTodo,
    PayloadTooLarge,
    TodoNotFound,
)

MAX_BODY_BYTES = 8 * 1024
MAX_TITLE_CHARS = 500
DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 100
# JSON clients (browsers) read numbers as doubles: keep `order` exactly representable.
MAX_ORDER = 2**53 - 1
_MAX_CURSOR_CHARS = 128
# Control characters, lone surrogates (which cannot be encoded for DynamoDB) and
# the line/paragraph separators that break log lines and some JSON consumers.
_FORBIDDEN_CHAR_CATEGORIES = frozenset({"Cc", "Cs", "Zl", "Zp"})

# Ids are ULIDs: 48 bits of milliseconds then 80 random bits, in Crockford's
# base32. They sort by creation time and never collide in practice.
_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_ID_PATTERN = re.compile(r"[0-7][0-9A-HJKMNP-TV-Z]{25}")
_ID_ENTROPY_BYTES = 10

_WRITABLE_FIELDS = frozenset({"title", "task", "completed", "order"})
_READ_ONLY_FIELDS = frozenset({"id", "url", "owner", "createdAt", "updatedAt"})


@dataclass(frozen=True)
class Todo:
    owner: str
    id: str
    title: str
    completed: bool
    order: int | None
    created_at: str
    updated_at: str
    # When it was (last) completed; None while open. Drives the purge of old completed todos.
    completed_at: str | None = None
    # Incremented by every change: the ETag, and the guard of conditional requests.
    version: int = 1


@dataclass(frozen=True)
class TodoPatch:
    """A partial update. `None` leaves a field alone; `order` counts only if `set_order`."""

    updated_at: str
    title: str | None = None
    completed: bool | None = None
    order: int | None = None
    set_order: bool = False


@dataclass(frozen=True)
class ListQuery:
    limit: int
    completed: bool | None
    after: str | None


def timestamp(now: datetime) -> str:
    """ISO-8601 UTC with milliseconds, e.g. ``2026-11-27T13:22:48.123Z``."""
    utc = now.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def new_id(now: datetime, entropy: bytes) -> str:
    if len(entropy) != _ID_ENTROPY_BYTES:
        raise ValueError(f"an id needs {_ID_ENTROPY_BYTES} bytes of entropy")
    millis = int(now.timestamp() * 1000)
    value = (millis << 80) | int.from_bytes(entropy, "big")
    return "".join(_CROCKFORD[(value >> shift) & 31] for shift in range(125, -1, -5))


def is_todo_id(value: str) -> bool:
    return _ID_PATTERN.fullmatch(value) is not None


def todo_id(value: str) -> str:
    """A path's id, or 404: a string that is not an id names no todo, and never
    reaches DynamoDB (an empty or oversize key would be a ValidationException)."""
    if not is_todo_id(value):
        raise TodoNotFound()
    return value


# --- request bodies -------------------------------------------------------------


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"duplicate key {key!r}")
        result[key] = value
    return result


def parse_body(raw: bytes) -> dict[str, Any]:
    """Strict JSON object from a request body, or a 4xx.

    Stricter than `json.loads`: UTF-8 only, no NaN/Infinity, no duplicate keys,
    nesting too deep for the parser is a 400 (not a RecursionError, i.e. a 500).
    """
    if len(raw) > MAX_BODY_BYTES:
        raise PayloadTooLarge(f"the body is larger than {MAX_BODY_BYTES} bytes")
    if not raw.strip():
        raise InvalidRequest("a JSON object body is required")
    try:
        text = raw.decode("utf-8")
        payload = json.loads(text, parse_constant=_reject_constant, object_pairs_hook=_unique_keys)
    except (ValueError, RecursionError):  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise InvalidRequest("the body is not valid UTF-8 JSON") from None
    if not isinstance(payload, dict):
        raise InvalidRequest("the body must be a JSON object")
    return payload


def _check_fields(payload: Mapping[str, Any]) -> None:
    for key in payload:
        if key in _READ_ONLY_FIELDS:
            raise InvalidTodo(f"field {key!r} is read-only")
        if key not in _WRITABLE_FIELDS:
            raise InvalidTodo(f"unknown field {key[:40]!r}")


def _title(payload: Mapping[str, Any]) -> str | None:
    """The title, from `title` or its alias `task` (the originating tutorial's name)."""
    given = [payload[k] for k in ("title", "task") if k in payload]
    if not given:
        return None
    if len(given) == 2 and given[0] != given[1]:
        raise InvalidTodo("'title' and its alias 'task' disagree")
    value = given[0]
    if not isinstance(value, str):
        raise InvalidTodo("'title' must be a string")
    title = value.strip()
    if not 1 <= len(title) <= MAX_TITLE_CHARS:
        raise InvalidTodo(f"'title' must be 1 to {MAX_TITLE_CHARS} characters")
    if any(unicodedata.category(ch) in _FORBIDDEN_CHAR_CATEGORIES for ch in title):
        raise InvalidTodo("'title' must not contain control characters")
    return title


def _completed(payload: Mapping[str, Any]) -> bool | None:
    if "completed" not in payload:
        return None
    value = payload["completed"]
    if not isinstance(value, bool):
        raise InvalidTodo("'completed' must be true or false")
    return value


def _order(payload: Mapping[str, Any]) -> int | None:
    value = payload.get("order")
    if value is None:
        return None
    # bool is an int in Python; JSON `true` is not an order.
    if isinstance(value, bool) or not isinstance(value, int) or abs(value) > MAX_ORDER:
        raise InvalidTodo(f"'order' must be an integer between -{MAX_ORDER} and {MAX_ORDER}")
    return value


def new_todo(payload: Mapping[str, Any], *, owner: str, now: datetime, entropy: bytes) -> Todo:
    _check_fields(payload)
    title = _title(payload)
    if title is None:
        raise InvalidTodo("'title' is required")
    stamp = timestamp(now)
    completed = _completed(payload) or False
    return Todo(
        owner=owner,
        id=new_id(now, entropy),
        title=title,
        completed=completed,
        order=_order(payload),
        created_at=stamp,
        updated_at=stamp,
        completed_at=stamp if completed else None,
    )


def todo_patch(payload: Mapping[str, Any], *, now: datetime) -> TodoPatch:
    _check_fields(payload)
    if not payload:
        raise InvalidTodo("the body must change at least one of 'title', 'completed', 'order'")
    return TodoPatch(
        updated_at=timestamp(now),
        title=_title(payload),
        completed=_completed(payload),
        order=_order(payload),
        set_order="order" in payload,
    )


def purge_cutoff(now: datetime, keep_completed_for: timedelta) -> str:
    """Completed todos whose completion is older than this timestamp may be purged."""
    if keep_completed_for <= timedelta(0):
        raise ValueError("the retention period must be positive")
    return timestamp(now - keep_completed_for)


def todo_json(todo: Todo, base_url: str) -> dict[str, Any]:
    """The Todo-Backend representation; `order` appears only when set."""
    body: dict[str, Any] = {
        "id": todo.id,
        "title": todo.title,
        "completed": todo.completed,
        "url": todo_url(base_url, todo.id),
        "createdAt": todo.created_at,
        "updatedAt": todo.updated_at,
    }
    if todo.order is not None:
        body["order"] = todo.order
    return body


def todo_url(base_url: str, todo_id: str) -> str:
    return f"{base_url}/todos/{todo_id}"


def etag(todo: Todo) -> str:
    """A strong entity tag: the todo's version (RFC 9110, section 8.8.3)."""
    return f'"{todo.version}"'


_IDEMPOTENCY_KEY = re.compile(r"[A-Za-z0-9_.:-]{1,128}")
IDEMPOTENCY_WINDOW = timedelta(hours=24)


@dataclass(frozen=True)
class Idempotency:
    """A create's Idempotency-Key, what the request asked for, and the key's lifetime."""

    key: str
    fingerprint: str
    now_epoch: int
    expires_epoch: int


def idempotency(header: str | None, payload: Mapping[str, Any], *, now: datetime) -> Idempotency | None:
    if header is None:
        return None
    if not _IDEMPOTENCY_KEY.fullmatch(header):
        raise InvalidRequest("Idempotency-Key must be 1-128 letters, digits or _.:- (a UUID will do)")
    # What the request asked for, independent of key order and spacing.
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return Idempotency(
        key=header,
        fingerprint=hashlib.sha256(canonical.encode("ascii")).hexdigest(),
        now_epoch=int(now.timestamp()),
        expires_epoch=int((now + IDEMPOTENCY_WINDOW).timestamp()),
    )


_ETAG = re.compile(r'(W/)?"(\d{1,15})"')
MAX_IF_MATCH_TAGS = 10


def if_match(header: str | None) -> frozenset[int] | None:
    """The versions an `If-Match` header accepts; None when any existing todo will do.

    If-Match compares strongly, so a weak tag (`W/"3"`) matches nothing: a request that
    names only weak tags fails its precondition (412), as RFC 9110 says.
    """
    if header is None or header.strip() == "*":
        return None
    versions = set()
    tags = [tag.strip() for tag in header.split(",")]
    if len(tags) > MAX_IF_MATCH_TAGS:
        raise InvalidRequest(f"If-Match may list at most {MAX_IF_MATCH_TAGS} entity tags")
    for tag in tags:
        match = _ETAG.fullmatch(tag)
        if match is None:
            raise InvalidRequest('If-Match must be "*" or a list of entity tags such as "3"')
        if match[1] is None:
            versions.add(int(match[2]))
    return frozenset(versions)


# --- query strings and cursors --------------------------------------------------


def _single(params: Mapping[str, Sequence[str]], name: str) -> str | None:
    values = params.get(name)
    if values is None:
        return None
    if len(values) != 1:
        raise InvalidRequest(f"query parameter {name!r} must be given once")
    return values[0]


def _check_params(params: Mapping[str, Sequence[str]], allowed: frozenset[str]) -> None:
    unknown = sorted(set(params) - allowed)
    if unknown:
        raise InvalidRequest(f"unknown query parameter {unknown[0][:40]!r}")


def _completed_param(params: Mapping[str, Sequence[str]]) -> bool | None:
    value = _single(params, "completed")
    if value is None:
        return None
    if value not in ("true", "false"):
        raise InvalidRequest("'completed' must be 'true' or 'false'")
    return value == "true"


def list_query(params: Mapping[str, Sequence[str]], *, owner: str) -> ListQuery:
    _check_params(params, frozenset({"limit", "cursor", "completed"}))
    raw_limit = _single(params, "limit")
    limit = DEFAULT_PAGE_SIZE
    if raw_limit is not None:
        if not (raw_limit.isascii() and raw_limit.isdigit() and len(raw_limit) <= 3):
            raise InvalidRequest(f"'limit' must be an integer from 1 to {MAX_PAGE_SIZE}")
        limit = int(raw_limit)
        if not 1 <= limit <= MAX_PAGE_SIZE:
            raise InvalidRequest(f"'limit' must be an integer from 1 to {MAX_PAGE_SIZE}")
    cursor = _single(params, "cursor")
    after = None if cursor is None else decode_cursor(cursor, owner=owner)
    return ListQuery(limit=limit, completed=_completed_param(params), after=after)


def clear_query(params: Mapping[str, Sequence[str]]) -> bool | None:
    """`DELETE /todos`: which todos to delete (None: all of them)."""
    _check_params(params, frozenset({"completed"}))
    return _completed_param(params)


def _owner_tag(owner: str) -> str:
    # Binds a cursor to the caller who received it. It is a consistency check, not a
    # secret: the store never reads the owner from a cursor, only from the identity.
    return hashlib.sha256(owner.encode("utf-8")).hexdigest()[:16]


def encode_cursor(after_id: str, *, owner: str) -> str:
    raw = f"{after_id}.{_owner_tag(owner)}".encode("ascii")
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def decode_cursor(cursor: str, *, owner: str) -> str:
    if not cursor.isascii() or len(cursor) > _MAX_CURSOR_CHARS:
        raise InvalidCursor("invalid cursor")
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
    except (binascii.Error, ValueError):
        raise InvalidCursor("invalid cursor") from None
    after_id, _, tag = raw.partition(".")
    if not is_todo_id(after_id) or tag != _owner_tag(owner):
        raise InvalidCursor("invalid cursor")
    return after_id


def next_link(base_url: str, query: ListQuery, *, after_id: str, owner: str) -> str:
    """An RFC 8288 `Link` header value for the next page."""
    params: dict[str, str] = {"limit": str(query.limit)}
    if query.completed is not None:
        params["completed"] = "true" if query.completed else "false"
    params["cursor"] = encode_cursor(after_id, owner=owner)
    return f'<{base_url}/todos?{urlencode(params)}>; rel="next"'

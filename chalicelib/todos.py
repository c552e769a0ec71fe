"""The pure core: the Todo value, its fields' rules, ids and times, the state changes.

Nothing here knows HTTP, AWS, the environment or the clock: time, randomness and the
caller's identity arrive as parameters, so this module is tested without moto. Reading a
request (bodies, headers, query strings, cursors) is the HTTP edge's (chalicelib/web.py);
storing a todo is the store's (chalicelib/store.py, in the shape of chalicelib/schema.py).
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from chalicelib.errors import InvalidTodo

MAX_TITLE_CHARS = 500
# As sent, with the whitespace that is trimmed: any such title keeps a create under 8 KiB.
MAX_SENT_TITLE_CHARS = 600
# JSON clients (browsers) read numbers as doubles: keep `order` exactly representable.
MAX_ORDER = 2**53 - 1
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


class Todo(NamedTuple):
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


class TodoPatch(NamedTuple):
    """A partial update. `None` leaves a field alone; `order` counts only if `set_order`."""

    updated_at: str
    title: str | None = None
    completed: bool | None = None
    order: int | None = None
    set_order: bool = False


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


def _check_fields(payload: Mapping[str, Any]) -> None:
    for key in payload:
        if key in _READ_ONLY_FIELDS:
            raise InvalidTodo(f"field {key!r} is read-only")
        if key not in _WRITABLE_FIELDS:
            raise InvalidTodo(f"unknown field {key[:40]!r}")


def _title(payload: Mapping[str, Any]) -> str | None:
    """The title, from `title` or its alias `task` (the originating tutorial's name): one of
    them (openapi.yaml can say that, and not that two agree)."""
    given = [payload[k] for k in ("title", "task") if k in payload]
    if not given:
        return None
    if len(given) == 2:
        raise InvalidTodo("give 'title' or its alias 'task', not both")
    value = given[0]
    if not isinstance(value, str):
        raise InvalidTodo("'title' must be a string")
    if len(value) > MAX_SENT_TITLE_CHARS:
        raise InvalidTodo(f"'title' must be at most {MAX_SENT_TITLE_CHARS} characters as sent")
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


def patched(todo: Todo, patch: TodoPatch) -> Todo:
    """`todo` with `patch` applied: one version on, `completedAt` set when it is completed (a
    completed todo completed again keeps its first time) and cleared when it is reopened."""
    completed = todo.completed if patch.completed is None else patch.completed
    if not completed:
        completed_at = None
    elif todo.completed and todo.completed_at is not None:
        completed_at = todo.completed_at
    else:
        completed_at = patch.updated_at
    return todo._replace(
        title=todo.title if patch.title is None else patch.title,
        completed=completed,
        order=patch.order if patch.set_order else todo.order,
        updated_at=patch.updated_at,
        completed_at=completed_at,
        version=todo.version + 1,
    )


def restored(todo: Todo, *, now: datetime) -> Todo:
    """A deleted todo brought back: as it was, one version on (an If-Match of the deleted
    version no longer matches)."""
    return todo._replace(updated_at=timestamp(now), version=todo.version + 1)


# --- sync tokens ------------------------------------------------------------------------
#
# A sync token names a point in an owner's change sequence (every change of their todos
# takes the next number, chalicelib/store.py) and the time it was issued. The changes after
# it were all made after that time, so they are kept for the retention window from then: a
# token older than the window (less a margin for clocks) may have lost some, and is refused.
SYNC_MARGIN = timedelta(hours=1)


class SyncToken(NamedTuple):
    seq: int
    issued_epoch: int

    def __str__(self) -> str:
        return f"{self.seq}.{self.issued_epoch}"


def sync_token_fresh(token: SyncToken, *, now: datetime, retention: timedelta) -> bool:
    """Whether every change after `token` is still kept (see above)."""
    return now.timestamp() - token.issued_epoch < (retention - SYNC_MARGIN).total_seconds()


def purge_cutoff(now: datetime, keep_completed_for: timedelta) -> str:
    """Completed todos whose completion is older than this timestamp may be purged."""
    if keep_completed_for <= timedelta(0):
        raise ValueError("the retention period must be positive")
    return timestamp(now - keep_completed_for)


IDEMPOTENCY_WINDOW = timedelta(hours=24)


class ClearJob(NamedTuple):
    """A bulk delete that outgrew its request: the rest of it, finished by a scheduled job.

    It deletes the owner's todos (all, or those with `completed` as given) whose id sorts
    before `before`, the first id its request could not have seen: the request's time,
    no entropy. A todo created after the request began is never deleted by it.
    """

    id: str
    owner: str
    completed: bool | None
    before: str
    deleted: int
    created_at: str
    finished_at: str | None = None


def first_id_at(now: datetime) -> str:
    """The smallest id a todo created at `now` (or later) can have."""
    return new_id(now, bytes(_ID_ENTROPY_BYTES))


# How long a finished job stays readable at its Location.
FINISHED_JOB_KEPT = timedelta(days=1)


class Idempotency(NamedTuple):
    """A create's Idempotency-Key, what the request asked for, and the key's lifetime."""

    key: str
    fingerprint: str
    now_epoch: int
    expires_epoch: int


def idempotency(key: str, payload: Mapping[str, Any], *, now: datetime) -> Idempotency:
    """A create's idempotency record: its key (web.idempotency_key checked its form), a
    fingerprint of what the request asked for, and the key's lifetime from `now`."""
    # What the request asked for, independent of key order and spacing.
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return Idempotency(
        key=key,
        fingerprint=hashlib.sha256(canonical.encode("ascii")).hexdigest(),
        now_epoch=int(now.timestamp()),
        expires_epoch=int((now + IDEMPOTENCY_WINDOW).timestamp()),
    )

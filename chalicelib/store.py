"""The only module that talks to DynamoDB: each operation as one request (or one
transaction) on the shapes chalicelib/schema.py defines, the SDK's faults translated into
the API's errors, and the loops that bulk deletes, purges and idempotent creates need.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, NamedTuple

from botocore.exceptions import ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as BotoConnectionError

from chalicelib import schema, todos
from chalicelib.errors import (
    IdempotencyKeyReused,
    JobNotFound,
    PreconditionFailed,
    ServiceUnavailable,
    TodoLimitReached,
    TodoNotFound,
    TooManyRequests,
)
from chalicelib.schema import Change, Expression, Item
from chalicelib.todos import ClearJob, Idempotency, Todo, TodoPatch

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient

# Throttling and server faults that survived the client's own retries.
_UNAVAILABLE_CODES = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "InternalServerError",
        "ServiceUnavailable",
    }
)
# Deletes per TransactWriteItems: each with its tombstone and log entry, and the owner's
# counter and a job's tally: at most 77 of its 100 items.
_BATCH_SIZE = 25
# Tries of a change whose number another change of the same owner took first (each reads the
# counter again): enough for a handful of one person's devices writing at the same moment.
_SEQ_ATTEMPTS = 12
_BULK_ATTEMPTS = 12  # a bulk delete's chunk: it reads the counter again each time
SYNC_DAYS = 30  # how long changes and tombstones are kept, unless the stage's TODO_SYNC_DAYS says
# Defaults of the runtime settings max-todos and max-idempotency-keys (chalicelib/settings.py).
MAX_TODOS = 10_000
MAX_IDEMPOTENCY_KEYS_PER_DAY = 10_000
_BATCH_ATTEMPTS = 6
_RETRYABLE_REASONS = frozenset(
    {
        "None",
        "TransactionConflict",
        "ThrottlingError",
        "ProvisionedThroughputExceeded",
        "RequestLimitExceeded",
    }
)


class Created(NamedTuple):
    todo: Todo
    replayed: bool


class Cleared(NamedTuple):
    deleted: int
    finished: bool  # False: stopped when told to, with todos left to delete


class Page(NamedTuple):
    todos: list[Todo]
    more: bool


class PurgeCandidate(NamedTuple):
    """A completed todo as the purge index last saw it."""

    owner: str
    id: str
    completed_at: str


@dataclass
class DeleteOutcome:
    deleted: int = 0
    skipped: int = 0  # no longer eligible when we got there: reopened, re-completed or gone
    left: int = 0  # still contended after our retries: the next run takes them


class _ConditionalDelete(NamedTuple):
    todo: Todo  # as last read: its tombstone, and the version the delete requires
    condition: Expression  # what else must still hold when the delete runs
    keep: Callable[[Todo], bool]  # whether a todo changed meanwhile is still to delete


class Changes(NamedTuple):
    changes: list[Change]
    more: bool


# Jitter from the OS at each draw: no generator state that a SnapStart snapshot would give
# every environment alike (a retry storm would then stay in step).
_JITTER = random.SystemRandom()


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


@contextmanager
def _dynamodb_errors() -> Iterator[None]:
    """Faults that outlived the client's retry budget become a 503, not a 500."""
    try:
        yield
    except ClientError as exc:
        if _code(exc) in _UNAVAILABLE_CODES:
            raise ServiceUnavailable("the data store is unavailable; retry later") from exc
        raise
    except (BotoConnectionError, HTTPClientError) as exc:
        raise ServiceUnavailable("the data store is unavailable; retry later") from exc


class _Cancelled(Exception):
    """A transaction cancelled for a reason other than contention: each item's reason."""

    def __init__(self, error: ClientError, reasons: list[dict[str, Any]]) -> None:
        super().__init__([r.get("Code") for r in reasons])
        self.error = error
        self.reasons = reasons


def _reason(cancelled: _Cancelled, index: int) -> str:
    return str(cancelled.reasons[index].get("Code", "None"))


class TodoStore:
    def __init__(
        self,
        client: DynamoDBClient,
        table_name: str,
        *,
        max_todos: int = MAX_TODOS,
        max_keys_per_day: int = MAX_IDEMPOTENCY_KEYS_PER_DAY,
        sync_window: timedelta = timedelta(days=SYNC_DAYS),
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._client = client
        self._table = table_name
        self._max_todos = max_todos
        self._max_keys = max_keys_per_day
        self._sync_seconds = int(sync_window.total_seconds())
        self._sleep = sleep
        self._clock = clock

    def _expires(self) -> int:
        """When a log entry or tombstone written now may go (TTL)."""
        return int(self._clock()) + self._sync_seconds

    def _read(self, keys: Sequence[Item]) -> list[Item | None]:
        """The items at `keys` (None where there is none), strongly consistent, in one
        BatchGetItem (keys it leaves unprocessed are asked for again)."""
        found: dict[tuple[str, str], Item] = {}
        request: dict[str, Any] = {self._table: {"Keys": list(keys), "ConsistentRead": True}}
        for attempt in range(_BATCH_ATTEMPTS):
            if attempt:
                self._backoff(attempt)
            with _dynamodb_errors():
                response = self._client.batch_get_item(RequestItems=request)
            for stored in response["Responses"].get(self._table, []):
                found[(stored["owner"]["S"], stored["id"]["S"])] = stored
            request = dict(response.get("UnprocessedKeys") or {})
            if not request:
                return [found.get((k["owner"]["S"], k["id"]["S"])) for k in keys]
        raise ServiceUnavailable("the data store is busy; retry later")

    def _change(
        self,
        owner: str,
        build: Callable[[int, list[Item | None]], list[Any]],
        *,
        reading: Sequence[Item] = (),
        counter_at: int,
        stale: Callable[[_Cancelled], bool] = lambda _: False,
    ) -> int:
        """One sequenced change of `owner`'s todos: read their counter (and `reading`) in one
        request, run the transaction `build(last number, what was read)` makes (its item at
        `counter_at` the counter's `schema.sequenced`), and again from the read while another
        change took the number first, or `stale` says what was read changed meanwhile.
        Returns the last number before this change's."""
        for attempt in range(_SEQ_ATTEMPTS):
            if attempt:
                self._backoff(min(attempt, 4))
            counter, *found = self._read([schema.usage_key(owner), *reading])
            seen = schema.seq_of(counter)
            items = build(seen, found)
            try:
                self._transact(items)
                return seen
            except _Cancelled as cancelled:
                if self._number_taken(cancelled, counter_at, seen) or stale(cancelled):
                    continue
                raise
        raise ServiceUnavailable("the data store is busy; retry later")

    def _change_of(
        self, owner: str, key: Item, build: Callable[[int, list[Item | None]], list[Any]], *, watched: int = 1
    ) -> int:
        """`_change` of the item at `key`, as read with the counter (the counter first in the
        transaction): read again if it changed before the write (item `watched`'s condition)."""
        return self._change(
            owner,
            build,
            reading=[key],
            counter_at=0,
            stale=lambda c: _reason(c, watched) == "ConditionalCheckFailed",
        )

    @staticmethod
    def _number_taken(cancelled: _Cancelled, counter_at: int, seen: int) -> bool:
        """The counter's condition failed because another change moved it (not the limit)."""
        if _reason(cancelled, counter_at) != "ConditionalCheckFailed":
            return False
        return schema.seq_of(cancelled.reasons[counter_at].get("Item")) != seen

    def _transact(self, items: list[Any]) -> None:
        """One TransactWriteItems, tried again (with backoff) while only contention or
        throttling cancelled it; cancelled for any other reason, `_Cancelled`.

        The SDK gives each call a ClientRequestToken and keeps it across its own retries,
        so DynamoDB applies a retried transaction once (within ten minutes).
        """
        for attempt in range(_BATCH_ATTEMPTS):
            if attempt:
                self._backoff(attempt)
            with _dynamodb_errors():
                try:
                    self._client.transact_write_items(TransactItems=items)
                    return
                except ClientError as exc:
                    if _code(exc) != "TransactionCanceledException":
                        raise
                    error = exc
            reasons: list[Any] = list(error.response.get("CancellationReasons") or [])
            if len(reasons) == len(items) and any(
                str(r.get("Code", "None")) not in _RETRYABLE_REASONS for r in reasons
            ):
                raise _Cancelled(error, reasons)
        raise ServiceUnavailable("the data store is busy; retry later")

    def create(self, todo: Todo, *, idempotency: Idempotency | None = None) -> Created:
        """Create `todo` and count it, unless its owner holds `max_todos` already; with an
        Idempotency-Key, at most once per key (see `_create_once`). Sequenced: its log entry
        is written with it."""
        if idempotency is not None:
            return self._create_once(todo, idempotency)
        item = schema.item(todo)
        put = {"Put": {"TableName": self._table, "Item": item, **schema.IS_NEW.condition_args()}}
        expires = self._expires()

        def build(seen: int, _: list[Item | None]) -> list[Any]:
            return [
                put,
                self._sequenced(todo.owner, seen, count=1, limit=True),
                self._log(seen + 1, todo, expires),
            ]

        try:
            # A retry of a landed create (its answer lost) carries the SDK's token: DynamoDB
            # answers it as the first attempt, so it is counted once (`_transact`).
            self._change(todo.owner, build, counter_at=1)
        except _Cancelled as cancelled:
            self._raise_limit(cancelled, 1)
            raise cancelled.error from None  # an id taken already: not ours to answer
        return Created(todo, replayed=False)

    def _sequenced(
        self, owner: str, seen: int, *, taken: int = 1, count: int = 0, limit: bool = False
    ) -> Any:
        update = schema.sequenced(
            owner, seen=seen, taken=taken, count=count, below=self._max_todos if limit else None
        )
        return {"Update": {"TableName": self._table, **update}}

    def _log(self, seq: int, todo: Todo, expires: int, *, deleted: bool = False) -> Any:
        entry = schema.change_entry(todo.owner, seq, todo, deleted=deleted, expires_epoch=expires)
        return {"Put": {"TableName": self._table, "Item": entry, **schema.IS_NEW.condition_args()}}

    def _raise_limit(self, cancelled: _Cancelled, index: int) -> None:
        if _reason(cancelled, index) == "ConditionalCheckFailed":
            raise TodoLimitReached(
                f"you have {self._max_todos} todos, the most this API keeps for one user: delete some first"
            ) from cancelled

    def _create_once(self, todo: Todo, idempotency: Idempotency) -> Created:
        """Create `todo` unless this owner's key already created one: then that one again.

        One TransactWriteItems writes the todo, the key's record and both counts (the
        owner's todos, and the Idempotency-Keys used today, at most `max_keys_per_day`, so
        an owner's live records are bounded by twice that: each lives 24 hours), so a key
        never points at a todo that was not created, nor a todo escapes its key or count.
        """
        now_epoch = idempotency.now_epoch
        item = schema.item(todo)
        record = schema.idempotency_record(
            todo.owner, idempotency.key, idempotency.fingerprint, item, idempotency.expires_epoch
        )
        day = time.strftime("%Y-%m-%d", time.gmtime(now_epoch))
        key_use = schema.key_use(
            todo.owner, day, below=self._max_keys, expires_epoch=idempotency.expires_epoch
        )
        expires = self._expires()

        def build(seen: int, _: list[Item | None]) -> list[Any]:
            return [
                {
                    "Put": {
                        "TableName": self._table,
                        "Item": record,
                        **schema.record_free(now_epoch).condition_args(),
                    }
                },
                {"Put": {"TableName": self._table, "Item": item, **schema.IS_NEW.condition_args()}},
                self._sequenced(todo.owner, seen, count=1, limit=True),
                {"Update": {"TableName": self._table, **key_use}},
                self._log(seen + 1, todo, expires),
            ]

        for attempt in range(_BATCH_ATTEMPTS):
            if attempt:
                self._backoff(attempt)
            try:
                self._change(todo.owner, build, counter_at=2)
                return Created(todo, replayed=False)
            except _Cancelled as cancelled:
                if _reason(cancelled, 0) != "ConditionalCheckFailed":
                    # The key is free: the todo's count or the day's keys refused it.
                    self._raise_limit(cancelled, 2)
                    if _reason(cancelled, 3) == "ConditionalCheckFailed":
                        raise TooManyRequests(
                            f"{self._max_keys} Idempotency-Keys used today, the most for one user: "
                            "retry tomorrow, or without the header"
                        ) from cancelled
                    raise cancelled.error from None
            # The key exists (an earlier request of the caller's with it landed), or a
            # request with it is in flight.
            with _dynamodb_errors():
                found = self._client.get_item(
                    TableName=self._table,
                    Key=schema.idempotency_key(todo.owner, idempotency.key),
                    ConsistentRead=True,
                )
            existing = found.get("Item")
            if existing is None or int(existing["expiresAt"]["N"]) < now_epoch:
                continue  # in flight, or expired meanwhile: try again
            if existing["fingerprint"]["S"] != idempotency.fingerprint:
                raise IdempotencyKeyReused("this Idempotency-Key was used for a different request")
            return Created(schema.todo(existing["todo"]["M"]), replayed=True)
        raise ServiceUnavailable("the data store is busy; retry later")

    def get(self, owner: str, todo_id: str) -> Todo:
        with _dynamodb_errors():
            response = self._client.get_item(
                TableName=self._table, Key=schema.key(owner, todo_id), ConsistentRead=True
            )
        if "Item" not in response:
            raise TodoNotFound()
        return schema.todo(response["Item"])

    def update(
        self, owner: str, todo_id: str, patch: TodoPatch, *, versions: frozenset[int] | None = None
    ) -> Todo:
        """Apply `patch` to the todo as read, sequenced: written only if the todo is still at
        the version read (else read again); `versions` are those If-Match accepts."""
        key = schema.key(owner, todo_id)
        changed: list[Todo] = []
        expires = self._expires()

        def build(seen: int, found: list[Item | None]) -> list[Any]:
            current = self._found(found[0], versions)
            new = todos.patched(current, patch)
            changed[:] = [new]
            put = {"Put": {"TableName": self._table, "Item": schema.item(new)}}
            put["Put"].update(schema.is_version(current.version).condition_args())
            return [self._sequenced(owner, seen), put, self._log(seen + 1, new, expires)]

        self._change_of(owner, key, build)
        return changed[0]

    @staticmethod
    def _found(stored: Item | None, versions: frozenset[int] | None) -> Todo:
        """The todo read, if it exists and If-Match accepts its version."""
        if stored is None:
            raise TodoNotFound()
        current = schema.todo(stored)
        if versions is not None and current.version not in versions:
            raise PreconditionFailed("the todo has changed; fetch it again")
        return current

    def delete(self, owner: str, todo_id: str, *, versions: frozenset[int] | None = None) -> None:
        """Delete the todo as read, count it out, keep its tombstone and log its deletion, in
        one transaction; `versions` as for update."""
        key = schema.key(owner, todo_id)
        expires = self._expires()

        def build(seen: int, found: list[Item | None]) -> list[Any]:
            current = self._found(found[0], versions)
            delete = {"Delete": {"TableName": self._table, "Key": key}}
            delete["Delete"].update(schema.is_version(current.version).condition_args())
            stone = {"Put": {"TableName": self._table, "Item": schema.tombstone(current, seen + 1, expires)}}
            return [
                self._sequenced(owner, seen, count=-1),
                delete,
                stone,
                self._log(seen + 1, current, expires, deleted=True),
            ]

        self._change_of(owner, key, build)

    def restore(self, owner: str, todo_id: str, *, now: datetime) -> Todo:
        """Bring a deleted todo back from its tombstone, one version on, counted again (within
        `max_todos`); 404 once its tombstone is gone (the sync window passed) or never was."""
        stone_key = schema.tombstone_key(owner, todo_id)
        back: list[Todo] = []
        expires = self._expires()
        now_epoch = int(now.timestamp())

        def build(seen: int, found: list[Item | None]) -> list[Any]:
            stone = found[0]
            if stone is None or int(stone[schema.EXPIRES_AT]["N"]) < now_epoch:  # TTL deletes late
                raise TodoNotFound()
            restored = todos.restored(schema.todo(stone["todo"]["M"]), now=now)
            back[:] = [restored]
            put = {"Put": {"TableName": self._table, "Item": schema.item(restored)}}
            put["Put"].update(schema.IS_NEW.condition_args())
            taken = {"Delete": {"TableName": self._table, "Key": stone_key}}
            taken["Delete"].update(
                Expression(
                    "#deletedSeq = :deletedSeq",
                    {"#deletedSeq": "deletedSeq"},
                    {":deletedSeq": stone["deletedSeq"]},
                ).condition_args()
            )
            return [
                self._sequenced(owner, seen, count=1, limit=True),
                put,
                taken,
                self._log(seen + 1, restored, expires),
            ]

        try:
            self._change_of(owner, stone_key, build, watched=2)
        except _Cancelled as cancelled:
            self._raise_limit(cancelled, 0)
            raise TodoNotFound() from cancelled  # the todo is back already (a racing restore)
        return back[0]

    def head(self, owner: str) -> int:
        """The number of the owner's last change (0: none yet), strongly consistent."""
        return schema.seq_of(self._read([schema.usage_key(owner)])[0])

    def changes(self, owner: str, *, after: int, limit: int) -> Changes:
        """The owner's changes after number `after`, in their order, at most `limit`: one Query.

        Numbers are dense (each taken by a change that committed), but a Query is only
        read-committed against transactions: it may meet a later change's entry and not yet an
        earlier one's, committing meanwhile (DynamoDB Developer Guide, "Isolation levels for
        DynamoDB transactions", read 2026-12-08). So the answer stops at the first missing
        number, and the next `since` starts there."""
        args = {"TableName": self._table, **schema.changes_query(owner, after), "Limit": limit + 1}
        with _dynamodb_errors():
            response = self._client.query(**args)
        found: list[Change] = []
        for item in response["Items"]:
            change = schema.change(item)
            if change.seq != after + len(found) + 1:
                return Changes(found, more=False)  # a gap: not yet committed, as far as we saw
            found.append(change)
        more = len(found) > limit or ("LastEvaluatedKey" in response and bool(found))
        return Changes(found[:limit], more=more)

    def page(self, owner: str, *, completed: bool | None, limit: int, after: str | None) -> Page:
        """One page in id (creation) order: a single Query, whatever the filter."""
        args = {"TableName": self._table, **schema.owner_query(owner, completed)}
        # One more than asked tells whether another page exists, so the last page
        # never carries a `next` link to an empty page.
        args["Limit"] = limit + 1
        if after is not None:
            args["ExclusiveStartKey"] = schema.start_key(owner, after, completed)
        with _dynamodb_errors():
            response = self._client.query(**args)
        items = response["Items"]
        todos = [schema.todo(item) for item in items[:limit]]
        more = bool(todos) and (len(items) > limit or "LastEvaluatedKey" in response)
        return Page(todos=todos, more=more)

    def clear(
        self,
        owner: str,
        *,
        completed: bool | None,
        before: str | None = None,
        allowance: Callable[[int], int] = lambda _: _BATCH_SIZE,
        job: str | None = None,
    ) -> Cleared:
        """Delete the caller's todos (all, or those with `completed` as given; if `before` is
        given, only those whose id sorts before it), a page at a time, each of at most
        `allowance(deleted so far)` todos (up to 25), until none match or it says 0.

        A todo created after `before` survives. Each delete is conditional on the todo still
        matching (existing; with a filter, still so), so a todo reopened during "clear
        completed" is kept; the owner's count and, for a `job`, its tally of deletes change
        in the deletes' own transaction, so both stay exact if the caller dies midway.
        """
        args: dict[str, Any] = {"TableName": self._table, **schema.clear_query(owner, completed, before)}
        condition = schema.EXISTS if completed is None else schema.still_completed(completed)

        def keep(todo: Todo) -> bool:
            return completed is None or todo.completed == completed

        deleted = 0
        while (page := min(_BATCH_SIZE, allowance(deleted))) > 0:
            args["Limit"] = page
            with _dynamodb_errors():
                response = self._client.query(**args)
            deletes = [_ConditionalDelete(schema.todo(item), condition, keep) for item in response["Items"]]
            outcome = self._delete_conditionally(deletes, job=job)
            if outcome.left:
                raise ServiceUnavailable("the data store is busy; retry later")
            deleted += outcome.deleted
            if "LastEvaluatedKey" not in response:
                return Cleared(deleted, finished=True)
            args["ExclusiveStartKey"] = response["LastEvaluatedKey"]
        return Cleared(deleted, finished=False)

    def _backoff(self, attempt: int) -> None:
        # Exponential, with full jitter so that retrying workers spread out.
        self._sleep(_JITTER.uniform(0, 0.05 * 2**attempt))

    def _delete_conditionally(
        self, deletes: list[_ConditionalDelete], *, job: str | None = None
    ) -> DeleteOutcome:
        """Each delete happens only if its condition still holds when it runs, and the todo
        is still as read (its tombstone is what was deleted).

        Deletes go in TransactWriteItems chunks of one owner's todos (BatchWriteItem takes no
        conditions), each with its tombstone and log entry, the owner's counter (count and
        change numbers) and a job's tally. A cancelled chunk says per item why: a todo whose
        condition failed is read again, and deleted as it now is if `keep` says it still
        should be, else dropped (skipped); the rest are retried with backoff, up to a bound
        (then left for later).
        """
        outcome = DeleteOutcome()
        owners: dict[str, list[_ConditionalDelete]] = {}
        for delete in deletes:
            owners.setdefault(delete.todo.owner, []).append(delete)
        for owner, mine in owners.items():
            for start in range(0, len(mine), _BATCH_SIZE):
                pending = mine[start : start + _BATCH_SIZE]
                for attempt in range(_BULK_ATTEMPTS):
                    if attempt:
                        self._backoff(min(attempt, 4))
                    seen = schema.seq_of(self._read([schema.usage_key(owner)])[0])
                    reasons = self._transact_deletes(owner, pending, seen, job)
                    if reasons is None:
                        outcome.deleted += len(pending)
                        pending = []
                        break
                    counter, *each = reasons
                    if counter == "ConditionalCheckFailed":
                        continue  # another change took the number: read it again
                    pending = self._still_pending(pending, each, outcome)
                    if not pending:
                        break
                outcome.left += len(pending)
        return outcome

    def _still_pending(
        self, pending: list[_ConditionalDelete], reasons: list[str], outcome: DeleteOutcome
    ) -> list[_ConditionalDelete]:
        """What a cancelled chunk leaves to retry: each failed condition read again."""
        failed = [d for d, reason in zip(pending, reasons, strict=True) if reason == "ConditionalCheckFailed"]
        fresh = (
            dict(
                zip(
                    (d.todo.id for d in failed),
                    self._read([schema.key(d.todo.owner, d.todo.id) for d in failed]),
                    strict=True,
                )
            )
            if failed
            else {}
        )
        retry = []
        for delete, reason in zip(pending, reasons, strict=True):
            if reason == "ConditionalCheckFailed":
                now = fresh[delete.todo.id]
                if now is None or not delete.keep(schema.todo(now)):
                    outcome.skipped += 1
                else:
                    retry.append(delete._replace(todo=schema.todo(now)))
            elif reason in _RETRYABLE_REASONS:
                retry.append(delete)
            else:
                raise ServiceUnavailable(f"unexpected cancellation reason: {reason}")
        return retry

    def _transact_deletes(
        self, owner: str, deletes: list[_ConditionalDelete], seen: int, job: str | None
    ) -> list[str] | None:
        """None when all were deleted; else the counter's cancellation reason code, then each
        delete's."""
        expires = self._expires()
        items: list[Any] = [self._sequenced(owner, seen, taken=len(deletes), count=-len(deletes))]
        for n, d in enumerate(deletes, start=seen + 1):
            guard = Expression(
                f"({d.condition.text}) AND #version = :read",
                {**d.condition.names, "#version": "version"},
                {**d.condition.values, ":read": {"N": str(d.todo.version)}},
            )
            key = schema.key(owner, d.todo.id)
            items.append({"Delete": {"TableName": self._table, "Key": key, **guard.condition_args()}})
            items.append({"Put": {"TableName": self._table, "Item": schema.tombstone(d.todo, n, expires)}})
            items.append(self._log(n, d.todo, expires, deleted=True))
        if job is not None:
            items.append({"Update": {"TableName": self._table, **schema.job_progress(job, len(deletes))}})
        with _dynamodb_errors():
            try:
                self._client.transact_write_items(TransactItems=items)
            except ClientError as exc:
                if _code(exc) != "TransactionCanceledException":
                    raise
                reasons = exc.response.get("CancellationReasons") or []
                if len(reasons) != len(items):
                    return ["None"] * (len(deletes) + 1)
                codes = [str(reason.get("Code", "None")) for reason in reasons]
                counter = codes[0]
                if counter == "ConditionalCheckFailed" and schema.seq_of(reasons[0].get("Item")) == seen:
                    counter = "None"  # (a count condition: bulk deletes have none)
                return [counter, *codes[1 : 1 + 3 * len(deletes) : 3]]
        return None

    # --- bulk deletes that outlive their request -----------------------------------------

    def start_job(self, job: ClearJob) -> None:
        item = schema.job_item(job.id, job.owner, job.completed, job.before, job.deleted, job.created_at)
        with _dynamodb_errors():
            self._client.put_item(TableName=self._table, Item=item, **schema.IS_NEW.condition_args())

    def job(self, owner: str, job_id: str) -> ClearJob:
        with _dynamodb_errors():
            response = self._client.get_item(
                TableName=self._table, Key=schema.job_key(job_id), ConsistentRead=True
            )
        if "Item" not in response or response["Item"]["jobOwner"]["S"] != owner:
            raise JobNotFound()
        return schema.job(response["Item"])

    def running_jobs(self) -> list[ClearJob]:
        args = {"TableName": self._table, **schema.running_jobs_query()}
        jobs = []
        while True:
            with _dynamodb_errors():
                response = self._client.query(**args)
            jobs += [schema.job(item) for item in response["Items"]]
            if "LastEvaluatedKey" not in response:
                return jobs
            args["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    def finish_job(self, job_id: str, *, now: str, expires_epoch: int) -> None:
        """Mark the job finished; a job another run finished already stays as that run left it."""
        with _dynamodb_errors():
            try:
                self._client.update_item(
                    TableName=self._table, Key=schema.job_key(job_id), **schema.job_finish(now, expires_epoch)
                )
            except ClientError as exc:
                if _code(exc) != "ConditionalCheckFailedException":
                    raise

    # --- purge of old completed todos ------------------------------------------------

    def purge_candidates(
        self, shard: str, cutoff: str, page_size: int = 100
    ) -> Iterator[list[PurgeCandidate]]:
        """Pages of the completed todos in one shard whose completion is before `cutoff`.

        Reads only eligible items, oldest first: the key condition stops at the cutoff.
        The index is eventually consistent, so the deletes re-check each candidate.
        """
        args = {"TableName": self._table, **schema.purge_query(shard, cutoff), "Limit": page_size}
        while True:
            with _dynamodb_errors():
                response = self._client.query(**args)
            yield [
                PurgeCandidate(item["owner"]["S"], item["id"]["S"], item[schema.COMPLETED_AT]["S"])
                for item in response["Items"]
            ]
            if "LastEvaluatedKey" not in response:
                return
            args["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    def purge(self, candidates: list[PurgeCandidate]) -> DeleteOutcome:
        """Delete each candidate only if it still has the completion time we saw: a todo
        reopened (or reopened and completed again) or deleted meanwhile is left alone. The
        index holds keys only: the todos are read whole first, for their tombstones."""
        outcome = DeleteOutcome()
        found = self._read([schema.key(c.owner, c.id) for c in candidates]) if candidates else []
        deletes = []
        for candidate, stored in zip(candidates, found, strict=True):
            todo = None if stored is None else schema.todo(stored)
            if todo is None or todo.completed_at != candidate.completed_at:
                outcome.skipped += 1
                continue
            deletes.append(
                _ConditionalDelete(
                    todo, schema.completed_at_is(candidate.completed_at), _completed_at(candidate)
                )
            )
        done = self._delete_conditionally(deletes)
        outcome.deleted, outcome.left = done.deleted, done.left
        outcome.skipped += done.skipped
        return outcome


def _completed_at(candidate: PurgeCandidate) -> Callable[[Todo], bool]:
    """Whether a todo, read again, still has the completion time the purge saw."""
    return lambda todo: todo.completed_at == candidate.completed_at

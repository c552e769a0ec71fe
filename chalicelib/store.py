"""The only module that talks to DynamoDB: each operation as one request (or one
transaction) on the shapes chalicelib/schema.py defines, the SDK's faults translated into
the API's errors, and the loops that bulk deletes, purges and idempotent creates need.
"""

from __future__ import annotations

import random
import secrets
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

from botocore.exceptions import ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as BotoConnectionError

from chalicelib import schema
from chalicelib.errors import (
    IdempotencyKeyReused,
    JobNotFound,
    PreconditionFailed,
    ServiceUnavailable,
    TodoLimitReached,
    TodoNotFound,
    TooManyRequests,
)
from chalicelib.schema import WRITE_ID, Expression, Item
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
_BATCH_SIZE = 25  # deletes per TransactWriteItems (with one count per owner: at most 51 of its 100)
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
    key: Item
    condition: Expression


# Jitter from the OS at each draw: no generator state that a SnapStart snapshot would give
# every environment alike (a retry storm would then stay in step).
_JITTER = random.SystemRandom()


def _new_write_id() -> str:
    return secrets.token_hex(8)


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
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._client = client
        self._table = table_name
        self._max_todos = max_todos
        self._max_keys = max_keys_per_day
        self._sleep = sleep

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

    def _count(self, owner: str, delta: int, *, limit: bool = False) -> dict[str, Any]:
        change = schema.count_change(owner, delta, below=self._max_todos if limit else None)
        return {"Update": {"TableName": self._table, **change}}

    def create(self, todo: Todo, *, idempotency: Idempotency | None = None) -> Created:
        """Create `todo` and count it, unless its owner holds `max_todos` already; with an
        Idempotency-Key, at most once per key (see `_create_once`)."""
        if idempotency is not None:
            return self._create_once(todo, idempotency)
        item = {**schema.item(todo), WRITE_ID: schema.s(_new_write_id())}
        put = {"Put": {"TableName": self._table, "Item": item, **schema.IS_NEW.condition_args()}}
        try:
            # A retry of a landed create (its answer lost) carries the SDK's token: DynamoDB
            # answers it as the first attempt, so it is counted once (`_transact`).
            self._transact([put, self._count(todo.owner, 1, limit=True)])
        except _Cancelled as cancelled:
            self._raise_limit(cancelled, 1)
            raise cancelled.error from None  # an id taken already: not ours to answer
        return Created(todo, replayed=False)

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
        item = {**schema.item(todo), WRITE_ID: schema.s(_new_write_id())}
        record = schema.idempotency_record(
            todo.owner, idempotency.key, idempotency.fingerprint, item, idempotency.expires_epoch
        )
        day = time.strftime("%Y-%m-%d", time.gmtime(now_epoch))
        key_use = schema.key_use(
            todo.owner, day, below=self._max_keys, expires_epoch=idempotency.expires_epoch
        )
        transaction: list[Any] = [
            {
                "Put": {
                    "TableName": self._table,
                    "Item": record,
                    **schema.record_free(now_epoch).condition_args(),
                }
            },
            {"Put": {"TableName": self._table, "Item": item, **schema.IS_NEW.condition_args()}},
            self._count(todo.owner, 1, limit=True),
            {"Update": {"TableName": self._table, **key_use}},
        ]
        for attempt in range(_BATCH_ATTEMPTS):
            if attempt:
                self._backoff(attempt)
            try:
                self._transact(transaction)
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

    @staticmethod
    def _raise_if_condition_failed(exc: ClientError) -> None:
        """A failed condition is a 412 if the todo exists (at another version), else a 404."""
        if _code(exc) == "ConditionalCheckFailedException":
            if exc.response.get("Item"):
                raise PreconditionFailed("the todo has changed; fetch it again") from exc
            raise TodoNotFound() from exc

    def update(
        self, owner: str, todo_id: str, patch: TodoPatch, *, versions: frozenset[int] | None = None
    ) -> Todo:
        """Apply `patch` in one conditional request; `versions` are those If-Match accepts."""
        write_id = _new_write_id()
        change = schema.update(todo_id, patch, versions=versions, write_id=write_id)
        with _dynamodb_errors():
            try:
                response = self._client.update_item(
                    TableName=self._table,
                    Key=schema.key(owner, todo_id),
                    UpdateExpression=change.expression,
                    **change.condition.condition_args(),
                    ReturnValues="ALL_NEW",
                    ReturnValuesOnConditionCheckFailure="ALL_OLD",
                )
            except ClientError as exc:
                landed: Any = exc.response.get("Item")
                if landed and landed.get(WRITE_ID) == schema.s(write_id):
                    return schema.todo(landed)  # a retry met our own landed write
                self._raise_if_condition_failed(exc)
                raise
        return schema.todo(response["Attributes"])

    def delete(self, owner: str, todo_id: str, *, versions: frozenset[int] | None = None) -> None:
        """Delete the todo and count it out, in one transaction; `versions` as for update."""
        delete = {
            "Delete": {
                "TableName": self._table,
                "Key": schema.key(owner, todo_id),
                **schema.version_guard(versions).condition_args(),
                "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
            }
        }
        try:
            self._transact([delete, self._count(owner, -1)])
        except _Cancelled as cancelled:
            if _reason(cancelled, 0) == "ConditionalCheckFailed":
                if cancelled.reasons[0].get("Item"):
                    raise PreconditionFailed("the todo has changed; fetch it again") from cancelled
                # Not an SDK retry of our own landed delete: DynamoDB answers that one as the
                # first attempt (the token); the todo was not there.
                raise TodoNotFound() from cancelled
            raise cancelled.error from None

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
        deleted = 0
        while (page := min(_BATCH_SIZE, allowance(deleted))) > 0:
            args["Limit"] = page
            with _dynamodb_errors():
                response = self._client.query(**args)
            keys = [schema.key(owner, item["id"]["S"]) for item in response["Items"]]
            deletes = [_ConditionalDelete(key, condition) for key in keys]
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
        """Each delete happens only if its condition still holds when it runs.

        Deletes go in TransactWriteItems chunks (BatchWriteItem takes no conditions), with
        each owner's count (and a job's tally) moved by what the chunk deletes. A cancelled
        chunk says per item why: failed conditions are dropped (skipped), the rest are
        retried with backoff, up to a bound (then left for later).
        """
        outcome = DeleteOutcome()
        for start in range(0, len(deletes), _BATCH_SIZE):
            pending = deletes[start : start + _BATCH_SIZE]
            for attempt in range(_BATCH_ATTEMPTS):
                if attempt:
                    self._backoff(attempt)
                reasons = self._transact_deletes(pending, job)
                if reasons is None:
                    outcome.deleted += len(pending)
                    pending = []
                    break
                retry = []
                for delete, reason in zip(pending, reasons, strict=True):
                    if reason == "ConditionalCheckFailed":
                        outcome.skipped += 1
                    elif reason in _RETRYABLE_REASONS:
                        retry.append(delete)
                    else:
                        raise ServiceUnavailable(f"unexpected cancellation reason: {reason}")
                pending = retry
                if not pending:
                    break
            outcome.left += len(pending)
        return outcome

    def _transact_deletes(self, deletes: list[_ConditionalDelete], job: str | None) -> list[str] | None:
        """None when all were deleted; else each delete's cancellation reason code."""
        items: list[Any] = [
            {"Delete": {"TableName": self._table, "Key": d.key, **d.condition.condition_args()}}
            for d in deletes
        ]
        per_owner = Counter(d.key["owner"]["S"] for d in deletes)
        items += [self._count(owner, -n) for owner, n in per_owner.items()]
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
                    return ["None"] * len(deletes)
                return [str(reason.get("Code", "None")) for reason in reasons[: len(deletes)]]
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
        reopened (or reopened and completed again) or deleted meanwhile is left alone."""
        return self._delete_conditionally(
            [
                _ConditionalDelete(schema.key(c.owner, c.id), schema.completed_at_is(c.completed_at))
                for c in candidates
            ]
        )

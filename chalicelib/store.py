"""The only module that talks to DynamoDB: each operation as one request (or one
transaction) on the shapes chalicelib/schema.py defines, the SDK's faults translated into
the API's errors, and the loops that bulk deletes, purges and idempotent creates need.
"""

from __future__ import annotations

import random
import secrets
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

from botocore.exceptions import ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as BotoConnectionError

from chalicelib import schema
from chalicelib.errors import IdempotencyKeyReused, PreconditionFailed, ServiceUnavailable, TodoNotFound
from chalicelib.schema import WRITE_ID, Expression, Item
from chalicelib.todos import Idempotency, Todo, TodoPatch

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
_BATCH_SIZE = 25  # BatchWriteItem's maximum; also our TransactWriteItems chunk
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


class TodoStore:
    def __init__(
        self,
        client: DynamoDBClient,
        table_name: str,
        *,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._client = client
        self._table = table_name
        self._sleep = sleep

    def create(self, todo: Todo, *, idempotency: Idempotency | None = None) -> Created:
        """Create `todo`; with an Idempotency-Key, at most once per key (see `_create_once`)."""
        if idempotency is not None:
            return self._create_once(todo, idempotency)
        self._put_new(todo)
        return Created(todo, replayed=False)

    def _put_new(self, todo: Todo) -> None:
        item = {**schema.item(todo), WRITE_ID: schema.s(_new_write_id())}
        with _dynamodb_errors():
            try:
                self._client.put_item(
                    TableName=self._table,
                    Item=item,
                    **schema.IS_NEW.condition_args(),
                    ReturnValuesOnConditionCheckFailure="ALL_OLD",
                )
            except ClientError as exc:
                # The SDK retries a put whose response was lost; the retry then meets
                # our own item. That is success, not a collision.
                if _code(exc) == "ConditionalCheckFailedException" and exc.response.get("Item") == item:
                    return
                raise

    def _create_once(self, todo: Todo, idempotency: Idempotency) -> Created:
        """Create `todo` unless this owner's key already created one: then that one again.

        One TransactWriteItems writes the todo and the key's record together, so a key
        never points at a todo that was not created, nor a todo escapes its key.
        """
        now_epoch = idempotency.now_epoch
        item = {**schema.item(todo), WRITE_ID: schema.s(_new_write_id())}
        record = schema.idempotency_record(
            todo.owner, idempotency.key, idempotency.fingerprint, item, idempotency.expires_epoch
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
        ]
        for attempt in range(_BATCH_ATTEMPTS):
            if attempt:
                self._backoff(attempt)
            with _dynamodb_errors():
                try:
                    self._client.transact_write_items(TransactItems=transaction)
                    return Created(todo, replayed=False)
                except ClientError as exc:
                    if _code(exc) != "TransactionCanceledException":
                        raise
            # The key exists (another request of the caller's took it, or this very one
            # landed and the SDK retried it), or a request with it is in flight.
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
        with _dynamodb_errors():
            try:
                self._client.delete_item(
                    TableName=self._table,
                    Key=schema.key(owner, todo_id),
                    **schema.version_guard(versions).condition_args(),
                    ReturnValuesOnConditionCheckFailure="ALL_OLD",
                )
            except ClientError as exc:
                retried = exc.response.get("ResponseMetadata", {}).get("RetryAttempts", 0) > 0
                if (
                    retried
                    and not exc.response.get("Item")
                    and _code(exc) == "ConditionalCheckFailedException"
                ):
                    # The todo is gone and an earlier attempt of this very call may have
                    # deleted it (its response lost): DELETE's outcome holds either way.
                    return
                self._raise_if_condition_failed(exc)
                raise

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

    def clear(self, owner: str, *, completed: bool | None) -> int:
        """Delete the caller's todos (all, or those with `completed` as given).

        Deletes what matched when the listing was read; a todo created meanwhile
        survives. With a filter, each delete is conditional on the todo still matching
        it, so a todo reopened during "clear completed" is kept.
        """
        args = {"TableName": self._table, **schema.owner_query(owner, completed)}
        args["ProjectionExpression"] = "#id"
        args["ExpressionAttributeNames"] = {**args["ExpressionAttributeNames"], "#id": "id"}
        deleted = 0
        while True:
            with _dynamodb_errors():
                response = self._client.query(**args)
            keys = [schema.key(owner, item["id"]["S"]) for item in response["Items"]]
            if completed is None:
                for start in range(0, len(keys), _BATCH_SIZE):
                    self._delete_batch(keys[start : start + _BATCH_SIZE])
                deleted += len(keys)
            else:
                still = schema.still_completed(completed)
                outcome = self._delete_conditionally([_ConditionalDelete(key, still) for key in keys])
                if outcome.left:
                    raise ServiceUnavailable("the data store is busy; retry later")
                deleted += outcome.deleted
            if "LastEvaluatedKey" not in response:
                return deleted
            args["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    def _delete_batch(self, keys: list[Item]) -> None:
        requests: list[Any] = [{"DeleteRequest": {"Key": key}} for key in keys]
        for attempt in range(_BATCH_ATTEMPTS):
            if attempt:
                self._backoff(attempt)
            with _dynamodb_errors():
                response = self._client.batch_write_item(RequestItems={self._table: requests})
            requests = response.get("UnprocessedItems", {}).get(self._table, [])
            if not requests:
                return
        raise ServiceUnavailable("the data store is busy; retry later")

    def _backoff(self, attempt: int) -> None:
        # Exponential, with full jitter so that retrying workers spread out.
        self._sleep(_JITTER.uniform(0, 0.05 * 2**attempt))

    def _delete_conditionally(self, deletes: list[_ConditionalDelete]) -> DeleteOutcome:
        """Each delete happens only if its condition still holds when it runs.

        BatchWriteItem takes no conditions, so deletes go in TransactWriteItems chunks.
        A cancelled chunk says per item why: failed conditions are dropped (skipped),
        the rest are retried with backoff, up to a bound (then left for later).
        """
        outcome = DeleteOutcome()
        for start in range(0, len(deletes), _BATCH_SIZE):
            pending = deletes[start : start + _BATCH_SIZE]
            for attempt in range(_BATCH_ATTEMPTS):
                if attempt:
                    self._backoff(attempt)
                reasons = self._transact_deletes(pending)
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

    def _transact_deletes(self, deletes: list[_ConditionalDelete]) -> list[str] | None:
        """None when all were deleted; else each item's cancellation reason code."""
        items: list[Any] = [
            {"Delete": {"TableName": self._table, "Key": d.key, **d.condition.condition_args()}}
            for d in deletes
        ]
        with _dynamodb_errors():
            try:
                self._client.transact_write_items(TransactItems=items)
            except ClientError as exc:
                if _code(exc) != "TransactionCanceledException":
                    raise
                reasons = exc.response.get("CancellationReasons") or []
                if len(reasons) != len(deletes):
                    return ["None"] * len(deletes)
                return [str(reason.get("Code", "None")) for reason in reasons]
        return None

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

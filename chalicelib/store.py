"""The only module that knows DynamoDB: the table's shape, keys, expressions, paging.

One table. Partition key `owner` (the caller's verified `sub`), sort key `id` (a
ULID, so a partition reads in creation order). Every request names the owner in
its key, so another user's todo is indistinguishable from a missing one.

Two sparse local secondary indexes serve `?completed=` exactly, one request per
page, with strongly consistent reads (a GSI could not): an open todo carries
`openId`, a completed one `doneId` (both equal to `id`), so each index holds only
one kind. The attributes are kept in step with `completed` by the same request
that changes it.

A sparse global secondary index serves the purge of old completed todos without a
Scan: only a completed todo carries `completedAt` (its completion time) and
`purgeShard` (one of PURGE_SHARDS partitions, from its id), so the index holds
completed todos by completion time and a purge reads only what it deletes.
"""

from __future__ import annotations

import random
import secrets
import time
import zlib
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as BotoConnectionError

from chalicelib.errors import IdempotencyKeyReused, PreconditionFailed, ServiceUnavailable, TodoNotFound
from chalicelib.todos import Idempotency, Todo, TodoPatch

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import TimeToLiveSpecificationTypeDef

OPEN_INDEX = "open"
DONE_INDEX = "done"
PURGE_INDEX = "completed-by-time"
PURGE_SHARDS = 16  # spreads the index's writes; a purge pass reads each shard once
_OPEN_KEY = "openId"
_DONE_KEY = "doneId"
_SHARD_KEY = "purgeShard"
_COMPLETED_AT = "completedAt"
# A random token per write. When the SDK retries a write whose first attempt landed
# (its response was lost), the retry meets the token and the store knows the write is
# its own: success, applied exactly once.
_WRITE_ID = "writeId"

# Every item states the shape it was written in. Version 1 is an item without the
# attribute: written before versions existed, and perhaps before the purge index, so a
# completed one may lack completedAt. The store reads every version it may still meet;
# `make migrate` (tools/migrate.py) brings old items up with the steps in MIGRATIONS.
SCHEMA_KEY = "schemaVersion"
SCHEMA_VERSION = 2


def _lsi(name: str, sort_key: str) -> dict[str, Any]:
    return {
        "IndexName": name,
        "KeySchema": [
            {"AttributeName": "owner", "KeyType": "HASH"},
            {"AttributeName": sort_key, "KeyType": "RANGE"},
        ],
        "Projection": {"ProjectionType": "ALL"},
    }


# The table, in the property names that both CreateTable and CloudFormation's
# AWS::DynamoDB::Table use: tests, `make run` and the template read it from here.
TABLE_DEFINITION: dict[str, Any] = {
    "BillingMode": "PAY_PER_REQUEST",
    "AttributeDefinitions": [
        {"AttributeName": name, "AttributeType": "S"}
        for name in ("owner", "id", _OPEN_KEY, _DONE_KEY, _SHARD_KEY, _COMPLETED_AT)
    ],
    "KeySchema": [
        {"AttributeName": "owner", "KeyType": "HASH"},
        {"AttributeName": "id", "KeyType": "RANGE"},
    ],
    "LocalSecondaryIndexes": [_lsi(OPEN_INDEX, _OPEN_KEY), _lsi(DONE_INDEX, _DONE_KEY)],
    "GlobalSecondaryIndexes": [
        {
            "IndexName": PURGE_INDEX,
            "KeySchema": [
                {"AttributeName": _SHARD_KEY, "KeyType": "HASH"},
                {"AttributeName": _COMPLETED_AT, "KeyType": "RANGE"},
            ],
            # Keys only: the table's keys plus completedAt, all a purge needs.
            "Projection": {"ProjectionType": "KEYS_ONLY"},
        }
    ],
}

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


# Idempotency records live in a partition of their own per owner ("<sub>#idempotency"),
# so no listing, clear or purge of todos ever meets them, and they expire by TTL (which
# deletes late: reads treat an expired record as absent).
TIME_TO_LIVE: TimeToLiveSpecificationTypeDef = {"AttributeName": "expiresAt", "Enabled": True}
_IDEMPOTENCY_PARTITION = "{owner}#idempotency"


@dataclass(frozen=True)
class Created:
    todo: Todo
    replayed: bool


@dataclass(frozen=True)
class Page:
    todos: list[Todo]
    more: bool


@dataclass(frozen=True)
class PurgeCandidate:
    """A completed todo as the purge index last saw it."""

    owner: str
    id: str
    completed_at: str


@dataclass
class DeleteOutcome:
    deleted: int = 0
    skipped: int = 0  # no longer eligible when we got there: reopened, re-completed or gone
    left: int = 0  # still contended after our retries: the next run takes them


@dataclass(frozen=True)
class _ConditionalDelete:
    key: dict[str, Any]
    condition: str
    names: dict[str, str]
    values: dict[str, Any]


def _new_write_id() -> str:
    return secrets.token_hex(8)


def purge_shard(todo_id: str) -> str:
    """The purge index partition of a todo: "00" to "15", spread evenly by id."""
    return f"{zlib.crc32(todo_id.encode()) % PURGE_SHARDS:02d}"


def _s(value: str) -> dict[str, Any]:
    return {"S": value}


def _item(todo: Todo) -> dict[str, Any]:
    item: dict[str, Any] = {
        "owner": _s(todo.owner),
        "id": _s(todo.id),
        "title": _s(todo.title),
        "completed": {"BOOL": todo.completed},
        "createdAt": _s(todo.created_at),
        "updatedAt": _s(todo.updated_at),
        "version": {"N": str(todo.version)},
        SCHEMA_KEY: {"N": str(SCHEMA_VERSION)},
        (_DONE_KEY if todo.completed else _OPEN_KEY): _s(todo.id),
    }
    if todo.order is not None:
        item["order"] = {"N": str(todo.order)}
    if todo.completed and todo.completed_at is not None:
        item[_COMPLETED_AT] = _s(todo.completed_at)
        item[_SHARD_KEY] = _s(purge_shard(todo.id))
    return item


def _todo(item: Mapping[str, Any]) -> Todo:
    # The low-level client returns numbers as strings: no Decimal reaches the core.
    return Todo(
        owner=item["owner"]["S"],
        id=item["id"]["S"],
        title=item["title"]["S"],
        completed=item["completed"]["BOOL"],
        order=int(item["order"]["N"]) if "order" in item else None,
        created_at=item["createdAt"]["S"],
        updated_at=item["updatedAt"]["S"],
        completed_at=item[_COMPLETED_AT]["S"] if _COMPLETED_AT in item else None,
        version=int(item["version"]["N"]),
    )


Item = dict[str, Any]


def schema_version(item: Mapping[str, Any]) -> int:
    return int(item[SCHEMA_KEY]["N"]) if SCHEMA_KEY in item else 1


def _to_v2(item: Item) -> Item:
    """Stamp the version; give a completed todo that predates the purge index its
    completion time (its last update: the best bound kept) so that the purge finds it."""
    upgraded = {**item, SCHEMA_KEY: {"N": "2"}}
    if item["completed"]["BOOL"] and _COMPLETED_AT not in item:
        upgraded[_COMPLETED_AT] = item["updatedAt"]
        upgraded[_SHARD_KEY] = _s(purge_shard(item["id"]["S"]))
    return upgraded


# Version reached -> the step from the one before. Pure functions of an item: a step
# never reads other items, so items migrate one at a time, in any order.
MIGRATIONS: dict[int, Callable[[Item], Item]] = {2: _to_v2}


def upgrade(item: Item, target: int = SCHEMA_VERSION) -> Item:
    for version in range(schema_version(item) + 1, target + 1):
        item = MIGRATIONS[version](item)
    return item


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

    def _key(self, owner: str, todo_id: str) -> dict[str, Any]:
        return {"owner": _s(owner), "id": _s(todo_id)}

    def create(self, todo: Todo, *, idempotency: Idempotency | None = None) -> Created:
        """Create `todo`; with an Idempotency-Key, at most once per key (see `_create_once`)."""
        if idempotency is not None:
            return self._create_once(todo, idempotency)
        self._put_new(todo)
        return Created(todo, replayed=False)

    def _put_new(self, todo: Todo) -> None:
        item = {**_item(todo), _WRITE_ID: _s(_new_write_id())}
        with _dynamodb_errors():
            try:
                self._client.put_item(
                    TableName=self._table,
                    Item=item,
                    ConditionExpression="attribute_not_exists(#id)",
                    ExpressionAttributeNames={"#id": "id"},
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
        key, fingerprint, now_epoch = idempotency.key, idempotency.fingerprint, idempotency.now_epoch
        record_key = {"owner": _s(_IDEMPOTENCY_PARTITION.format(owner=todo.owner)), "id": _s(key)}
        item = {**_item(todo), _WRITE_ID: _s(_new_write_id())}
        record = {
            **record_key,
            "fingerprint": _s(fingerprint),
            "todo": {"M": item},
            "expiresAt": {"N": str(idempotency.expires_epoch)},
        }
        transaction: list[Any] = [
            {
                "Put": {
                    "TableName": self._table,
                    "Item": record,
                    "ConditionExpression": "attribute_not_exists(#id) OR #expiresAt < :now",
                    "ExpressionAttributeNames": {"#id": "id", "#expiresAt": "expiresAt"},
                    "ExpressionAttributeValues": {":now": {"N": str(now_epoch)}},
                }
            },
            {
                "Put": {
                    "TableName": self._table,
                    "Item": item,
                    "ConditionExpression": "attribute_not_exists(#id)",
                    "ExpressionAttributeNames": {"#id": "id"},
                }
            },
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
                found = self._client.get_item(TableName=self._table, Key=record_key, ConsistentRead=True)
            existing = found.get("Item")
            if existing is None or int(existing["expiresAt"]["N"]) < now_epoch:
                continue  # in flight, or expired meanwhile: try again
            if existing["fingerprint"]["S"] != fingerprint:
                raise IdempotencyKeyReused("this Idempotency-Key was used for a different request")
            return Created(_todo(existing["todo"]["M"]), replayed=True)
        raise ServiceUnavailable("the data store is busy; retry later")

    def get(self, owner: str, todo_id: str) -> Todo:
        with _dynamodb_errors():
            response = self._client.get_item(
                TableName=self._table, Key=self._key(owner, todo_id), ConsistentRead=True
            )
        if "Item" not in response:
            raise TodoNotFound()
        return _todo(response["Item"])

    def _guard(self, versions: frozenset[int] | None) -> tuple[str, dict[str, str], dict[str, Any]]:
        """The condition that the todo exists and, if `versions` is given, has one of them."""
        if versions is None:
            return "attribute_exists(#id)", {"#id": "id"}, {}
        if not versions:  # only weak tags: nothing can match
            return "attribute_not_exists(#id) AND attribute_exists(#id)", {"#id": "id"}, {}
        values = {f":v{n}": {"N": str(v)} for n, v in enumerate(sorted(versions))}
        return f"#version IN ({', '.join(values)})", {"#version": "version"}, values

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
        condition, names, values = self._guard(versions)
        write_id = _new_write_id()
        condition = f"({condition}) AND (attribute_not_exists(#writeId) OR #writeId <> :writeId)"
        names.update({"#updatedAt": "updatedAt", "#version": "version", "#writeId": _WRITE_ID})
        values.update({":updatedAt": _s(patch.updated_at), ":one": {"N": "1"}, ":writeId": _s(write_id)})
        sets = ["#updatedAt = :updatedAt", "#version = #version + :one", "#writeId = :writeId"]
        removes = []
        if patch.title is not None:
            names["#title"] = "title"
            values[":title"] = _s(patch.title)
            sets.append("#title = :title")
        if patch.completed is not None:
            now_in, now_out = (_DONE_KEY, _OPEN_KEY) if patch.completed else (_OPEN_KEY, _DONE_KEY)
            names.update({"#completed": "completed", "#in": now_in, "#out": now_out})
            names.update({"#completedAt": _COMPLETED_AT, "#shard": _SHARD_KEY})
            values.update({":completed": {"BOOL": patch.completed}, ":id": _s(todo_id)})
            sets += ["#completed = :completed", "#in = :id"]
            removes.append("#out")
            if patch.completed:
                # Completing a completed todo again keeps its original completion time.
                values[":shard"] = _s(purge_shard(todo_id))
                sets += ["#completedAt = if_not_exists(#completedAt, :updatedAt)", "#shard = :shard"]
            else:
                removes += ["#completedAt", "#shard"]
        if patch.set_order:
            names["#order"] = "order"
            if patch.order is None:
                removes.append("#order")
            else:
                values[":order"] = {"N": str(patch.order)}
                sets.append("#order = :order")
        expression = "SET " + ", ".join(sets)
        if removes:
            expression += " REMOVE " + ", ".join(removes)
        with _dynamodb_errors():
            try:
                response = self._client.update_item(
                    TableName=self._table,
                    Key=self._key(owner, todo_id),
                    UpdateExpression=expression,
                    ConditionExpression=condition,
                    ExpressionAttributeNames=names,
                    ExpressionAttributeValues=values,
                    ReturnValues="ALL_NEW",
                    ReturnValuesOnConditionCheckFailure="ALL_OLD",
                )
            except ClientError as exc:
                landed: Any = exc.response.get("Item")
                if landed and landed.get(_WRITE_ID) == _s(write_id):
                    return _todo(landed)  # a retry met our own landed write
                self._raise_if_condition_failed(exc)
                raise
        return _todo(response["Attributes"])

    def delete(self, owner: str, todo_id: str, *, versions: frozenset[int] | None = None) -> None:
        condition, names, values = self._guard(versions)
        args: dict[str, Any] = {
            "TableName": self._table,
            "Key": self._key(owner, todo_id),
            "ConditionExpression": condition,
            "ExpressionAttributeNames": names,
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }
        if values:
            args["ExpressionAttributeValues"] = values
        with _dynamodb_errors():
            try:
                self._client.delete_item(**args)
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

    def _query_args(self, owner: str, completed: bool | None) -> dict[str, Any]:
        args: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "#owner = :owner",
            "ExpressionAttributeNames": {"#owner": "owner"},
            "ExpressionAttributeValues": {":owner": _s(owner)},
            "ConsistentRead": True,
        }
        if completed is not None:
            args["IndexName"] = DONE_INDEX if completed else OPEN_INDEX
        return args

    def _start_key(self, owner: str, after: str, completed: bool | None) -> dict[str, Any]:
        key = self._key(owner, after)
        if completed is not None:
            key[_DONE_KEY if completed else _OPEN_KEY] = _s(after)
        return key

    def page(self, owner: str, *, completed: bool | None, limit: int, after: str | None) -> Page:
        """One page in id (creation) order: a single Query, whatever the filter."""
        args = self._query_args(owner, completed)
        # One more than asked tells whether another page exists, so the last page
        # never carries a `next` link to an empty page.
        args["Limit"] = limit + 1
        if after is not None:
            args["ExclusiveStartKey"] = self._start_key(owner, after, completed)
        with _dynamodb_errors():
            response = self._client.query(**args)
        items = response["Items"]
        todos = [_todo(item) for item in items[:limit]]
        more = bool(todos) and (len(items) > limit or "LastEvaluatedKey" in response)
        return Page(todos=todos, more=more)

    def clear(self, owner: str, *, completed: bool | None) -> int:
        """Delete the caller's todos (all, or those with `completed` as given).

        Deletes what matched when the listing was read; a todo created meanwhile
        survives. With a filter, each delete is conditional on the todo still matching
        it, so a todo reopened during "clear completed" is kept.
        """
        args = self._query_args(owner, completed)
        args["ProjectionExpression"] = "#id"
        args["ExpressionAttributeNames"]["#id"] = "id"
        deleted = 0
        while True:
            with _dynamodb_errors():
                response = self._client.query(**args)
            keys = [self._key(owner, item["id"]["S"]) for item in response["Items"]]
            if completed is None:
                for start in range(0, len(keys), _BATCH_SIZE):
                    self._delete_batch(keys[start : start + _BATCH_SIZE])
                deleted += len(keys)
            else:
                still = {"#completed": "completed"}, {":completed": {"BOOL": completed}}
                outcome = self._delete_conditionally(
                    [_ConditionalDelete(key, "#completed = :completed", *still) for key in keys]
                )
                if outcome.left:
                    raise ServiceUnavailable("the data store is busy; retry later")
                deleted += outcome.deleted
            if "LastEvaluatedKey" not in response:
                return deleted
            args["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    def _delete_batch(self, keys: list[dict[str, Any]]) -> None:
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
        self._sleep(random.uniform(0, 0.05 * 2**attempt))  # noqa: S311 - not cryptographic

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
            {
                "Delete": {
                    "TableName": self._table,
                    "Key": d.key,
                    "ConditionExpression": d.condition,
                    "ExpressionAttributeNames": d.names,
                    "ExpressionAttributeValues": d.values,
                }
            }
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
        args: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": PURGE_INDEX,
            "KeyConditionExpression": "#shard = :shard AND #completedAt < :cutoff",
            "ExpressionAttributeNames": {"#shard": _SHARD_KEY, "#completedAt": _COMPLETED_AT},
            "ExpressionAttributeValues": {":shard": _s(shard), ":cutoff": _s(cutoff)},
            "Limit": page_size,
        }
        while True:
            with _dynamodb_errors():
                response = self._client.query(**args)
            yield [
                PurgeCandidate(item["owner"]["S"], item["id"]["S"], item[_COMPLETED_AT]["S"])
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
                _ConditionalDelete(
                    self._key(c.owner, c.id),
                    "#completedAt = :seen",
                    {"#completedAt": _COMPLETED_AT},
                    {":seen": _s(c.completed_at)},
                )
                for c in candidates
            ]
        )

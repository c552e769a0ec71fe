"""The table's item schema, pure: attribute names, keys and indexes, the encoding of a
Todo, the schema's versions and their migrations, and the expressions each request uses.

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
`purgeShard` (one of PURGE_SHARD_NAMES, from its id), so the index holds completed
todos by completion time and a purge reads only what it deletes.

Nothing here sends a request: chalicelib/store.py does, with what this module builds.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, NamedTuple

from chalicelib.todos import ClearJob, Todo

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.type_defs import TimeToLiveSpecificationTypeDef

Item = dict[str, Any]

OPEN_INDEX = "open"
DONE_INDEX = "done"
PURGE_INDEX = "completed-by-time"
OPEN_KEY = "openId"
DONE_KEY = "doneId"
SHARD_KEY = "purgeShard"
COMPLETED_AT = "completedAt"
# The purge index's partitions: they spread its writes; a purge pass reads each once.
PURGE_SHARDS = 16
PURGE_SHARD_NAMES = tuple(f"{n:02d}" for n in range(PURGE_SHARDS))
# Every item states the shape it was written in. Version 1 is an item without the
# attribute: written before versions existed, and perhaps before the purge index, so a
# completed one may lack completedAt. The store reads every version it may still meet;
# `make migrate` (tools/migrate.py) brings old items up with the steps in MIGRATIONS.
SCHEMA_KEY = "schemaVersion"
SCHEMA_VERSION = 2

# Partitions that are no user's own hold RESERVED_MARK, which the HTTP edge refuses in a
# caller's `sub`: idempotency records, one partition per owner ("<sub>#idempotency"), so
# no listing, clear or purge of todos ever meets them, expiring by TTL (which deletes
# late: reads treat an expired record as absent); each owner's counters ("<sub>#usage");
# the bulk deletes still running ("#clear-jobs"); and `make migrate`'s checkpoint.
RESERVED_MARK = "#"
MIGRATION_PARTITION = f"{RESERVED_MARK}migration"
JOBS_PARTITION = f"{RESERVED_MARK}clear-jobs"
TIME_TO_LIVE: TimeToLiveSpecificationTypeDef = {"AttributeName": "expiresAt", "Enabled": True}


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
        for name in ("owner", "id", OPEN_KEY, DONE_KEY, SHARD_KEY, COMPLETED_AT)
    ],
    "KeySchema": [
        {"AttributeName": "owner", "KeyType": "HASH"},
        {"AttributeName": "id", "KeyType": "RANGE"},
    ],
    "LocalSecondaryIndexes": [_lsi(OPEN_INDEX, OPEN_KEY), _lsi(DONE_INDEX, DONE_KEY)],
    "GlobalSecondaryIndexes": [
        {
            "IndexName": PURGE_INDEX,
            "KeySchema": [
                {"AttributeName": SHARD_KEY, "KeyType": "HASH"},
                {"AttributeName": COMPLETED_AT, "KeyType": "RANGE"},
            ],
            # Keys only: the table's keys plus completedAt, all a purge needs.
            "Projection": {"ProjectionType": "KEYS_ONLY"},
        }
    ],
}


def purge_shard(todo_id: str) -> str:
    """The purge index partition of a todo: one of PURGE_SHARD_NAMES, spread evenly by id."""
    return PURGE_SHARD_NAMES[zlib.crc32(todo_id.encode()) % PURGE_SHARDS]


def s(value: str) -> dict[str, Any]:
    """A string attribute value."""
    return {"S": value}


def key(owner: str, todo_id: str) -> Item:
    return {"owner": s(owner), "id": s(todo_id)}


def item(todo: Todo) -> Item:
    """The item of `todo`, in the current schema version."""
    encoded: Item = {
        **key(todo.owner, todo.id),
        "title": s(todo.title),
        "completed": {"BOOL": todo.completed},
        "createdAt": s(todo.created_at),
        "updatedAt": s(todo.updated_at),
        "version": {"N": str(todo.version)},
        SCHEMA_KEY: {"N": str(SCHEMA_VERSION)},
        (DONE_KEY if todo.completed else OPEN_KEY): s(todo.id),
    }
    if todo.order is not None:
        encoded["order"] = {"N": str(todo.order)}
    if todo.completed and todo.completed_at is not None:
        encoded[COMPLETED_AT] = s(todo.completed_at)
        encoded[SHARD_KEY] = s(purge_shard(todo.id))
    return encoded


def todo(stored: Mapping[str, Any]) -> Todo:
    """The Todo an item of any schema version holds."""
    # The low-level client returns numbers as strings: no Decimal reaches the core.
    return Todo(
        owner=stored["owner"]["S"],
        id=stored["id"]["S"],
        title=stored["title"]["S"],
        completed=stored["completed"]["BOOL"],
        order=int(stored["order"]["N"]) if "order" in stored else None,
        created_at=stored["createdAt"]["S"],
        updated_at=stored["updatedAt"]["S"],
        completed_at=stored[COMPLETED_AT]["S"] if COMPLETED_AT in stored else None,
        version=int(stored["version"]["N"]),
    )


# --- versions and migrations --------------------------------------------------------


def schema_version(stored: Mapping[str, Any]) -> int:
    return int(stored[SCHEMA_KEY]["N"]) if SCHEMA_KEY in stored else 1


def _to_v2(stored: Item) -> Item:
    """Stamp the version; give a completed todo that predates the purge index its
    completion time (its last update: the best bound kept) so that the purge finds it."""
    upgraded = {**stored, SCHEMA_KEY: {"N": "2"}}
    if stored["completed"]["BOOL"] and COMPLETED_AT not in stored:
        upgraded[COMPLETED_AT] = stored["updatedAt"]
        upgraded[SHARD_KEY] = s(purge_shard(stored["id"]["S"]))
    return upgraded


# Version reached -> the step from the one before. Pure functions of an item: a step
# never reads other items, so items migrate one at a time, in any order.
MIGRATIONS: dict[int, Callable[[Item], Item]] = {2: _to_v2}


def upgrade(stored: Item, target: int = SCHEMA_VERSION) -> Item:
    for version in range(schema_version(stored) + 1, target + 1):
        stored = MIGRATIONS[version](stored)
    return stored


# --- expressions ----------------------------------------------------------------------


class Expression(NamedTuple):
    """A condition (or update) expression and the names and values it refers to."""

    text: str
    names: dict[str, str]
    values: dict[str, Any]

    def condition_args(self) -> dict[str, Any]:
        """As a request's ConditionExpression (DynamoDB refuses empty value maps)."""
        args: dict[str, Any] = {"ConditionExpression": self.text, "ExpressionAttributeNames": self.names}
        if self.values:
            args["ExpressionAttributeValues"] = self.values
        return args


IS_NEW = Expression("attribute_not_exists(#id)", {"#id": "id"}, {})
EXISTS = Expression("attribute_exists(#id)", {"#id": "id"}, {})


def owner_query(owner: str, completed: bool | None) -> dict[str, Any]:
    """A Query of the owner's todos in id order: all, or those with `completed` as given."""
    args: dict[str, Any] = {
        "KeyConditionExpression": "#owner = :owner",
        "ExpressionAttributeNames": {"#owner": "owner"},
        "ExpressionAttributeValues": {":owner": s(owner)},
        "ConsistentRead": True,
    }
    if completed is not None:
        args["IndexName"] = DONE_INDEX if completed else OPEN_INDEX
    return args


def start_key(owner: str, after: str, completed: bool | None) -> Item:
    """The ExclusiveStartKey that resumes `owner_query` after the todo `after`."""
    start = key(owner, after)
    if completed is not None:
        start[DONE_KEY if completed else OPEN_KEY] = s(after)
    return start


def still_completed(completed: bool) -> Expression:
    return Expression(
        "#completed = :completed", {"#completed": "completed"}, {":completed": {"BOOL": completed}}
    )


def completed_at_is(seen: str) -> Expression:
    """The todo still has the completion time a purge saw (not reopened, not deleted)."""
    return Expression("#completedAt = :seen", {"#completedAt": COMPLETED_AT}, {":seen": s(seen)})


def purge_query(shard: str, cutoff: str) -> dict[str, Any]:
    """A Query of one purge shard's completed todos whose completion is before `cutoff`."""
    return {
        "IndexName": PURGE_INDEX,
        "KeyConditionExpression": "#shard = :shard AND #completedAt < :cutoff",
        "ExpressionAttributeNames": {"#shard": SHARD_KEY, "#completedAt": COMPLETED_AT},
        "ExpressionAttributeValues": {":shard": s(shard), ":cutoff": s(cutoff)},
    }


# --- idempotency records --------------------------------------------------------------


def idempotency_key(owner: str, request_key: str) -> Item:
    """The key of `owner`'s record of an Idempotency-Key, in the owner's record partition."""
    return {"owner": s(f"{owner}{RESERVED_MARK}idempotency"), "id": s(request_key)}


def idempotency_record(
    owner: str, request_key: str, fingerprint: str, created: Item, expires_epoch: int
) -> Item:
    return {
        **idempotency_key(owner, request_key),
        "fingerprint": s(fingerprint),
        "todo": {"M": created},
        "expiresAt": {"N": str(expires_epoch)},
    }


def record_free(now_epoch: int) -> Expression:
    """No record of the key, or only an expired one (TTL deletes late)."""
    return Expression(
        "attribute_not_exists(#id) OR #expiresAt < :now",
        {"#id": "id", "#expiresAt": "expiresAt"},
        {":now": {"N": str(now_epoch)}},
    )


# --- per-owner counters ---------------------------------------------------------------
#
# An owner's todo count lives in one item ("<sub>#usage", "todos"), changed by the same
# transaction as each create, restore or delete of a todo: a create adds one on the condition
# that the count is below the limit, so two creates at the limit cannot both pass (DynamoDB
# serializes conditional writes on one item). The same item holds the number of the owner's
# last change (`seq`, below), which every change moves: `make migrate`'s count of existing
# todos can tell by it that none happened while it counted. Reads (GET) never change it.
COUNT = "todoCount"


def usage_key(owner: str, counter: str = "todos") -> Item:
    return {"owner": s(f"{owner}{RESERVED_MARK}usage"), "id": s(counter)}


def count_change(owner: str, delta: int, *, below: int | None = None) -> dict[str, Any]:
    """A transaction's Update of `owner`'s todo count by `delta`; with `below`, only while
    the count is under it (an owner never counted yet has no count: zero). Changes are
    sequenced (`sequenced`, below), which builds on this."""
    update: dict[str, Any] = {
        "Key": usage_key(owner),
        "UpdateExpression": "ADD #count :delta",
        "ExpressionAttributeNames": {"#count": COUNT},
        "ExpressionAttributeValues": {":delta": {"N": str(delta)}},
    }
    if below is not None:
        update["ConditionExpression"] = "attribute_not_exists(#count) OR #count < :below"
        update["ExpressionAttributeValues"][":below"] = {"N": str(below)}
    return update


# --- the change sequence, its log and tombstones (sync) ---------------------------------
#
# Every change of an owner's todos takes the next number of their sequence: `seq` on their
# counter item, moved by the change's own transaction on the condition that it still holds
# the number read before (so two changes never take one number, and a number is taken only
# by a change that commits: numbers are dense, and commit in their order). Each change
# leaves a log entry ("<sub>#changes", the number zero-padded so that ids sort by it) with
# the todo as it became, or a deletion marker; a deleted todo leaves a tombstone
# ("<sub>#deleted", by todo id) to restore it from. Both expire by TTL after the sync window.
SEQ = "seq"
EXPIRES_AT = "expiresAt"
_SEQ_DIGITS = 15


def changes_partition(owner: str) -> str:
    return f"{owner}{RESERVED_MARK}changes"


def tombstone_key(owner: str, todo_id: str) -> Item:
    return {"owner": s(f"{owner}{RESERVED_MARK}deleted"), "id": s(todo_id)}


def seq_of(counter: Mapping[str, Any] | None) -> int:
    """The last number an owner's changes took (0: none yet)."""
    return int(counter[SEQ]["N"]) if counter and SEQ in counter else 0


def sequenced(
    owner: str, *, seen: int, taken: int, count: int = 0, below: int | None = None
) -> dict[str, Any]:
    """A transaction's Update of `owner`'s counter: `taken` numbers after `seen`, on the
    condition that `seen` is still the last; the todo count moved by `count` (with `below`,
    only while it is under it). An old failure returns the counter, to tell which."""
    update = count_change(owner, count, below=below)
    update["UpdateExpression"] += " SET #seq = :seq"
    update["ExpressionAttributeNames"]["#seq"] = SEQ
    update["ExpressionAttributeValues"][":seq"] = {"N": str(seen + taken)}
    if seen:
        update["ExpressionAttributeValues"][":seen"] = {"N": str(seen)}
        held = "#seq = :seen"
    else:
        held = "attribute_not_exists(#seq)"
    limit = update.get("ConditionExpression")
    update["ConditionExpression"] = held if limit is None else f"({held}) AND ({limit})"
    update["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
    return update


def change_entry(owner: str, seq: int, todo: Todo, *, deleted: bool, expires_epoch: int) -> Item:
    """The log entry of change `seq`: the todo as it became, or as it was when deleted."""
    return {
        "owner": s(changes_partition(owner)),
        "id": s(f"{seq:0{_SEQ_DIGITS}d}"),
        "todo": {"M": item(todo)},
        "deleted": {"BOOL": deleted},
        EXPIRES_AT: {"N": str(expires_epoch)},
    }


class Change(NamedTuple):
    seq: int
    todo: Todo  # as it became; as it was, if deleted
    deleted: bool


def change(stored: Mapping[str, Any]) -> Change:
    return Change(int(stored["id"]["S"]), todo(stored["todo"]["M"]), stored["deleted"]["BOOL"])


def changes_query(owner: str, after: int) -> dict[str, Any]:
    """A strongly consistent Query of the changes after number `after`, in their order."""
    return {
        "KeyConditionExpression": "#owner = :owner AND #id > :after",
        "ExpressionAttributeNames": {"#owner": "owner", "#id": "id"},
        "ExpressionAttributeValues": {
            ":owner": s(changes_partition(owner)),
            ":after": s(f"{after:0{_SEQ_DIGITS}d}"),
        },
        "ConsistentRead": True,
    }


def tombstone(deleted: Todo, seq: int, expires_epoch: int) -> Item:
    return {
        **tombstone_key(deleted.owner, deleted.id),
        "todo": {"M": item(deleted)},
        "deletedSeq": {"N": str(seq)},
        EXPIRES_AT: {"N": str(expires_epoch)},
    }


def is_version(version: int) -> Expression:
    """The todo exists at exactly `version` (the one its change was made from)."""
    return Expression("#version = :read", {"#version": "version"}, {":read": {"N": str(version)}})


def keys_counter(day: str) -> str:
    """The counter of Idempotency-Keys an owner used on `day` (UTC, YYYY-MM-DD)."""
    return f"idempotency-keys#{day}"


def key_use(owner: str, day: str, *, below: int, expires_epoch: int) -> dict[str, Any]:
    """A transaction's Update that takes one of `owner`'s Idempotency-Keys for `day`, while
    fewer than `below` were taken; the counter expires with the day's last record."""
    return {
        "Key": usage_key(owner, keys_counter(day)),
        "UpdateExpression": "ADD #count :one SET #expiresAt = :expires",
        "ConditionExpression": "attribute_not_exists(#count) OR #count < :below",
        "ExpressionAttributeNames": {"#count": COUNT, "#expiresAt": "expiresAt"},
        "ExpressionAttributeValues": {
            ":one": {"N": "1"},
            ":below": {"N": str(below)},
            ":expires": {"N": str(expires_epoch)},
        },
    }


# --- bulk deletes that outlive their request --------------------------------------------


def job_key(job_id: str) -> Item:
    return {"owner": s(JOBS_PARTITION), "id": s(job_id)}


def job_item(job_id: str, owner: str, completed: bool | None, before: str, deleted: int, now: str) -> Item:
    encoded = {
        **job_key(job_id),
        "jobOwner": s(owner),
        "before": s(before),
        "deleted": {"N": str(deleted)},
        "createdAt": s(now),
        "status": s("running"),
    }
    if completed is not None:
        encoded["completed"] = {"BOOL": completed}
    return encoded


def job(stored: Mapping[str, Any]) -> ClearJob:
    return ClearJob(
        id=stored["id"]["S"],
        owner=stored["jobOwner"]["S"],
        completed=stored["completed"]["BOOL"] if "completed" in stored else None,
        before=stored["before"]["S"],
        deleted=int(stored["deleted"]["N"]),
        created_at=stored["createdAt"]["S"],
        finished_at=stored["finishedAt"]["S"] if "finishedAt" in stored else None,
    )


def job_finish(now: str, expires_epoch: int) -> dict[str, Any]:
    """An UpdateItem that marks a job finished (at most once) and lets TTL remove it later."""
    return {
        "UpdateExpression": "SET #status = :done, #finishedAt = :now, #expiresAt = :expires",
        "ConditionExpression": "#status = :running",
        "ExpressionAttributeNames": {
            "#status": "status",
            "#finishedAt": "finishedAt",
            "#expiresAt": "expiresAt",
        },
        "ExpressionAttributeValues": {
            ":done": s("done"),
            ":running": s("running"),
            ":now": s(now),
            ":expires": {"N": str(expires_epoch)},
        },
    }


def running_jobs_query() -> dict[str, Any]:
    return {
        "KeyConditionExpression": "#owner = :jobs",
        "FilterExpression": "#status = :running",
        "ExpressionAttributeNames": {"#owner": "owner", "#status": "status"},
        "ExpressionAttributeValues": {":jobs": s(JOBS_PARTITION), ":running": s("running")},
        "ConsistentRead": True,
    }


def job_progress(job_id: str, deleted: int) -> dict[str, Any]:
    """A transaction's Update that counts `deleted` todos to a job, in the deletes' own transaction."""
    return {
        "Key": job_key(job_id),
        "UpdateExpression": "ADD #deleted :n",
        "ExpressionAttributeNames": {"#deleted": "deleted"},
        "ExpressionAttributeValues": {":n": {"N": str(deleted)}},
    }


def clear_query(owner: str, completed: bool | None, before: str | None) -> dict[str, Any]:
    """A Query of the owner's todos (all, or with `completed` as given), whole (their
    tombstones keep them), and, with `before`, only those whose id sorts before it: a bulk
    delete's request passes the first id of its own moment, so a todo created after it began
    is never in it."""
    args = owner_query(owner, completed)
    if before is not None:
        sort_key = "id" if completed is None else (DONE_KEY if completed else OPEN_KEY)
        args["KeyConditionExpression"] = "#owner = :owner AND #sort < :before"
        args["ExpressionAttributeNames"] = {**args["ExpressionAttributeNames"], "#sort": sort_key}
        args["ExpressionAttributeValues"] = {**args["ExpressionAttributeValues"], ":before": s(before)}
    return args

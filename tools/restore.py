"""`make restore STAGE=... AT=<time>`: the stage's table restored to a point in time, into a new
table (DynamoDB never restores in place), waited for, given what a restore does not carry,
verified, and the steps to point the stage at it printed.

DynamoDB (API reference, RestoreTableToPointInTime and PointInTimeRecoveryDescription; read
2026-12-07): a table with point-in-time recovery can be restored to any second from its
EarliestRestorableDateTime (at most 35 days back, its RecoveryPeriodInDays) to its
LatestRestorableDateTime ("typically 5 minutes before the current time"), into a new table that
gets the source's indexes, capacity and encryption; its TTL, point-in-time recovery, stream,
tags, alarms and IAM policies must be set again. This sets the table's own (TTL, recovery,
deletion protection: infrastructure/table.py) and verifies what was restored: each owner's
stored count against the todos restored for them, every todo readable at a schema version this
code reads (a sample decoded whole), and the number of each.

The local stage talks to `make run`'s embedded backend, whose restores replay a journal of its
writes (tools/embedded.py); any other stage uses your AWS configuration, like `make deploy`.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from typing import Any, NamedTuple

from chalicelib import schema
from infrastructure import stages
from infrastructure.table import table_properties
from tools import clients

SAMPLE = 20  # todos decoded whole, at random
WAIT_SECONDS = 3600  # how long to wait for the new table to be ACTIVE (DynamoDB states no bound)


class Restored(NamedTuple):
    table: str
    todos: int
    owners: int
    versions: dict[int, int]  # schema version -> todos at it
    mismatched: list[str]  # owners whose stored count is not the todos restored for them


def parse_at(text: str, now: datetime) -> datetime:
    """AT as an ISO 8601 time with its offset (e.g. 2026-12-07T22:30:00Z), never in the future."""
    try:
        at = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise SystemExit(
            f"AT={text!r} is not a time: give it as ISO 8601 with its offset, e.g. 2026-12-07T22:30:00Z"
        ) from None
    if at.tzinfo is None:
        raise SystemExit(f"AT={text!r} has no offset: add Z (UTC) or +hh:mm, so the time is not a guess")
    if at > now:
        raise SystemExit(f"AT={text} is in the future (it is {now:%Y-%m-%dT%H:%M:%SZ} now)")
    return at.astimezone(UTC)


def window(dynamodb: Any, table: str) -> tuple[datetime, datetime]:
    """The times the table can be restored to, as DynamoDB says."""
    described = dynamodb.describe_continuous_backups(TableName=table)["ContinuousBackupsDescription"]
    recovery = described.get("PointInTimeRecoveryDescription", {})
    if recovery.get("PointInTimeRecoveryStatus") != "ENABLED":
        raise SystemExit(f"{table} has no point-in-time recovery on: it cannot be restored to a time")
    return _utc(recovery["EarliestRestorableDateTime"]), _utc(recovery["LatestRestorableDateTime"])


def _utc(value: Any) -> datetime:
    return value.astimezone(UTC) if isinstance(value, datetime) else datetime.fromtimestamp(float(value), UTC)


def restore(
    dynamodb: Any, source: str, at: datetime, *, target: str | None = None, sleep: Any = time.sleep
) -> Restored:
    """Restore `source` as it was at `at` into a new table (`target`, or one named for the
    second restored to); wait; set what a restore does not carry; verify."""
    earliest, latest = window(dynamodb, source)
    if not earliest <= at <= latest:
        raise SystemExit(
            f"AT={at:%Y-%m-%dT%H:%M:%S}Z is outside what {source} can be restored to: "
            f"{earliest:%Y-%m-%dT%H:%M:%S}Z to {latest:%Y-%m-%dT%H:%M:%S}Z"
        )
    target = target or f"{source}-at-{at:%Y%m%dT%H%M%SZ}"
    dynamodb.restore_table_to_point_in_time(
        SourceTableName=source, TargetTableName=target, RestoreDateTime=at
    )
    deadline = time.monotonic() + WAIT_SECONDS
    while dynamodb.describe_table(TableName=target)["Table"]["TableStatus"] != "ACTIVE":
        if time.monotonic() > deadline:
            raise SystemExit(f"{target} is still not ACTIVE after {WAIT_SECONDS} s: see it in the console")
        sleep(10)
    wanted = table_properties(target)
    dynamodb.update_time_to_live(TableName=target, TimeToLiveSpecification=wanted["TimeToLiveSpecification"])
    dynamodb.update_continuous_backups(
        TableName=target, PointInTimeRecoverySpecification=wanted["PointInTimeRecoverySpecification"]
    )
    dynamodb.update_table(TableName=target, DeletionProtectionEnabled=wanted["DeletionProtectionEnabled"])
    return verify(dynamodb, target)


def verify(dynamodb: Any, table: str) -> Restored:
    """Each owner's stored count against the todos restored for them; every todo's schema
    version one this code reads; a sample decoded whole."""
    todos: Counter[str] = Counter()
    counts: dict[str, int] = {}
    versions: Counter[int] = Counter()
    sample: list[dict[str, Any]] = []
    seen = 0
    args: dict[str, Any] = {"TableName": table, "ConsistentRead": True}
    while True:
        page = dynamodb.scan(**args)
        for item in page["Items"]:
            owner = item["owner"]["S"]
            if owner.endswith("#usage") and item.get("id", {}).get("S") == "todos":
                counts[owner.removesuffix("#usage")] = int(item.get(schema.COUNT, {"N": "0"})["N"])
            elif schema.RESERVED_MARK not in owner:
                todos[owner] += 1
                versions[schema.schema_version(item)] += 1
                # A uniform sample of SAMPLE todos, whatever the table's size (reservoir sampling).
                seen += 1
                if len(sample) < SAMPLE:
                    sample.append(item)
                elif (slot := random.randrange(seen)) < SAMPLE:  # noqa: S311 - a sample, not a secret
                    sample[slot] = item
        if "LastEvaluatedKey" not in page:
            break
        args["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    newer = sorted(v for v in versions if v > schema.SCHEMA_VERSION)
    if newer:
        raise SystemExit(f"{table} holds todos at schema version {newer}, newer than this code reads")
    for item in sample:
        schema.todo(schema.upgrade(item))  # raises if a todo does not decode
    mismatched = sorted(o for o in set(todos) | set(counts) if todos.get(o, 0) != counts.get(o, 0))
    return Restored(table, sum(todos.values()), len(todos), dict(versions), mismatched)


def report(stage: str, source: str, at: datetime, restored: Restored) -> str:
    counts = (
        "every owner's count matches"
        if not restored.mismatched
        else f"{len(restored.mismatched)} owner(s) whose count differs from their todos "
        "(make migrate recounts them)"
    )
    versions = ", ".join(f"v{v}: {n}" for v, n in sorted(restored.versions.items())) or "none"
    lines = [
        f"restored {source} as it was at {at:%Y-%m-%dT%H:%M:%S}Z into {restored.table}",
        f"  {restored.todos} todos of {restored.owners} owners; schema versions {versions}; {counts}",
        "  set on it: TTL, point-in-time recovery, deletion protection (a restore carries none of them)",
    ]
    if stage == clients.LOCAL:
        # make run's data lives in its memory: a restart would start empty, restored table and all.
        return "\n".join(
            [
                *lines,
                f"it lives in make run's backend until make run stops: read it there, table {restored.table}",
            ]
        )
    return "\n".join(
        [
            *lines,
            f"to point stage {stage} at it (the table name is deploy-time configuration, not code):",
            f"  1. in .chalice/config.json, stage {stage}: TODO_TABLE = {restored.table}",
            f"  2. make deploy STAGE={stage}: its bootstrap finds {restored.table} by that name, checks "
            "its shape, and writes the roles for it (the packaged route instead: import it into the "
            "stack as TodoTable with a CloudFormation import change set, the old table having left "
            "the stack, which keeps it, then deploy the package made with the new TODO_TABLE)",
            f"  3. make migrate STAGE={stage} DRY_RUN=1: what of the restored todos is behind",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    import botocore.exceptions

    parser = argparse.ArgumentParser(prog="make restore", description=__doc__.splitlines()[0])
    parser.add_argument("--stage", required=True)
    parser.add_argument("--at", required=True, help="ISO 8601 with its offset, e.g. 2026-12-07T22:30:00Z")
    args = parser.parse_args(argv)
    stages.declared(args.stage)  # an unknown stage: a message naming the known ones
    at = parse_at(args.at, datetime.now(UTC))
    source = stages.environment(args.stage)["TODO_TABLE"]
    try:
        restored = restore(clients.client(args.stage, "dynamodb"), source, at)
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
        raise SystemExit(f"the restore of {source} failed: {exc}") from None
    print(report(args.stage, source, at, restored))
    return 1 if restored.mismatched else 0


if __name__ == "__main__":
    sys.exit(main())

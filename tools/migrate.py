"""`make migrate STAGE=dev [DRY_RUN=1]`: bring every todo up to the current schema version.

A separate operator step, run after the code that reads both shapes is deployed: never
at Lambda start (the function does not even contain this runner). It scans the table
page by page and rewrites each item that is behind with the steps in
`schema.MIGRATIONS`, each write conditional on the item being exactly as read (same
`version` and schema version), so a concurrent change by the API is never overwritten:
the runner takes the changed item and migrates that instead. The representation and
`version` (the ETag) do not change, so clients' If-Match values stay valid.

Progress is checkpointed in the table itself, after each page, in a reserved partition
("#migration", which no caller can own: the API refuses a `sub` containing '#'). An
interrupted run (Ctrl-C, a crash, credentials expiring) resumes from the last finished
page; a finished migration is not run again. Items in '#' partitions (idempotency
records, which expire within a day, counts, jobs and the checkpoint itself) are not
todos and are left as they are. Run one migration at a time per table.

Then it counts: each owner's todo count (the per-user limit's, `schema.count_change`) is
set to the number of todos they hold, for owners whose todos predate counts. Exactly,
while the API runs: it reads the count item (and its `seq`, the owner's last change), counts
the owner's todos with a strongly consistent Query, and writes the number only if `seq` is
still what it read. Every change moves `seq` in its own transaction, so a write that landed
while it counted makes it count again. A rerun recounts; it never double-counts.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.schema import (
    COUNT,
    MIGRATION_PARTITION,
    RESERVED_MARK,
    SCHEMA_KEY,
    SCHEMA_VERSION,
    SEQ,
    schema_version,
    upgrade,
    usage_key,
)
from infrastructure import stages
from tools import clients

_ATTEMPTS = 5  # per item, against concurrent writes by the API


@dataclass
class Report:
    target: int
    scanned: int = 0  # items read (reserved partitions included: a Scan reads them too)
    behind: dict[int, int] = field(default_factory=dict)  # todos found behind, by version
    migrated: int = 0
    gone: int = 0  # deleted by the API between our read and our write
    resumed: bool = False
    finished: bool = False
    finished_before: str | None = None  # when an earlier run finished it: nothing was done

    def line(self, dry_run: bool) -> str:
        if self.finished_before:
            return f"schema v{self.target}: already finished at {self.finished_before}"
        behind = ", ".join(f"v{v}: {n}" for v, n in sorted(self.behind.items())) or "none"
        verb = "would migrate" if dry_run else "migrated"
        count = sum(self.behind.values()) if dry_run else self.migrated
        resumed = " (resumed)" if self.resumed else ""
        return (
            f"schema v{self.target}{resumed}: scanned {self.scanned} items, todos behind {behind}; "
            f"{verb} {count}, gone meanwhile {self.gone}"
        )


class Migrator:
    def __init__(
        self,
        client: Any,
        table: str,
        *,
        target: int = SCHEMA_VERSION,
        page_size: int = 100,
    ) -> None:
        self._client = client
        self._table = table
        self._target = target
        self._page_size = page_size
        self._checkpoint_key = {"owner": {"S": MIGRATION_PARTITION}, "id": {"S": f"schema-v{target}"}}

    def run(self, *, dry_run: bool = False) -> Report:
        report = Report(self._target)
        checkpoint = self._client.get_item(
            TableName=self._table, Key=self._checkpoint_key, ConsistentRead=True
        ).get("Item", {})
        if "finishedAt" in checkpoint:
            report.finished, report.finished_before = True, checkpoint["finishedAt"]["S"]
            return report
        args: dict[str, Any] = {
            "TableName": self._table,
            "ConsistentRead": True,
            "Limit": self._page_size,
            # Only todos that are behind come back; every item is still read (and paid for).
            "FilterExpression": "NOT contains(#owner, :reserved) AND "
            "(attribute_not_exists(#schema) OR #schema < :target)",
            "ExpressionAttributeNames": {"#owner": "owner", "#schema": SCHEMA_KEY},
            "ExpressionAttributeValues": {
                ":reserved": {"S": RESERVED_MARK},
                ":target": {"N": str(self._target)},
            },
        }
        if "startKey" in checkpoint and not dry_run:
            args["ExclusiveStartKey"] = json.loads(checkpoint["startKey"]["S"])
            report.resumed = True
        while True:
            response = self._client.scan(**args)
            report.scanned += response["ScannedCount"]
            migrated_before = report.migrated
            for item in response["Items"]:
                version = schema_version(item)
                report.behind[version] = report.behind.get(version, 0) + 1
                if not dry_run:
                    self._migrate(item, report)
            last = response.get("LastEvaluatedKey")
            if not dry_run:
                self._save(last, report.migrated - migrated_before, response["ScannedCount"])
            if last is None:
                break
            args["ExclusiveStartKey"] = last
        report.finished = not dry_run
        return report

    def _migrate(self, item: dict[str, Any], report: Report) -> None:
        for _ in range(_ATTEMPTS):
            version = schema_version(item)
            if version >= self._target:
                return  # a concurrent runner got there first
            schema_is = "attribute_not_exists(#schema)" if version == 1 else "#schema = :from"
            values = {":seen": item["version"]}
            if version > 1:
                values[":from"] = {"N": str(version)}
            try:
                self._client.put_item(
                    TableName=self._table,
                    Item=upgrade(item, self._target),
                    ConditionExpression=f"#version = :seen AND {schema_is}",
                    ExpressionAttributeNames={"#version": "version", "#schema": SCHEMA_KEY},
                    ExpressionAttributeValues=values,
                    ReturnValuesOnConditionCheckFailure="ALL_OLD",
                )
                report.migrated += 1
                return
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                    raise
                changed: Any = exc.response.get("Item")
                if not changed:
                    report.gone += 1
                    return
                item = changed  # the API changed it meanwhile: migrate what is there now
        raise RuntimeError(f"item {item['id']['S']} kept changing; run the migration again")

    def _save(self, last: dict[str, Any] | None, migrated: int, scanned: int) -> None:
        """Record a finished page: the totals over all runs, and where to go on from."""
        names = {"#migrated": "migrated", "#scanned": "scanned"}
        values: dict[str, Any] = {":migrated": {"N": str(migrated)}, ":scanned": {"N": str(scanned)}}
        if last is None:
            names["#mark"] = "finishedAt"
            values[":mark"] = {"S": datetime.now(UTC).isoformat(timespec="seconds")}
        else:
            names["#mark"] = "startKey"
            values[":mark"] = {"S": json.dumps(last)}
        self._client.update_item(
            TableName=self._table,
            Key=self._checkpoint_key,
            UpdateExpression="ADD #migrated :migrated, #scanned :scanned SET #mark = :mark",
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
        )


@dataclass
class CountReport:
    owners: int = 0
    corrected: int = 0  # owners whose stored count was not the number of todos they hold
    recounted: int = 0  # counts taken again because a write landed while counting

    def line(self, dry_run: bool) -> str:
        verb = "would correct" if dry_run else "corrected"
        return f"todo counts: {self.owners} owners, {verb} {self.corrected}, recounted {self.recounted}"


class Counter:
    """Sets each owner's todo count to the number of todos they hold (module docstring)."""

    def __init__(self, client: Any, table: str, *, page_size: int = 100) -> None:
        self._client = client
        self._table = table
        self._page_size = page_size

    def owners(self) -> set[str]:
        args: dict[str, Any] = {
            "TableName": self._table,
            "ProjectionExpression": "#owner",
            "FilterExpression": "NOT contains(#owner, :reserved)",
            "ExpressionAttributeNames": {"#owner": "owner"},
            "ExpressionAttributeValues": {":reserved": {"S": RESERVED_MARK}},
            "Limit": self._page_size,
        }
        found: set[str] = set()
        while True:
            response = self._client.scan(**args)
            found |= {item["owner"]["S"] for item in response["Items"]}
            if "LastEvaluatedKey" not in response:
                return found
            args["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    def held(self, owner: str) -> int:
        args: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "#owner = :owner",
            "ExpressionAttributeNames": {"#owner": "owner"},
            "ExpressionAttributeValues": {":owner": {"S": owner}},
            "Select": "COUNT",
            "ConsistentRead": True,
        }
        total = 0
        while True:
            response = self._client.query(**args)
            total += int(response["Count"])
            if "LastEvaluatedKey" not in response:
                return total
            args["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    def run(self, *, dry_run: bool = False) -> CountReport:
        report = CountReport()
        for owner in sorted(self.owners()):
            report.owners += 1
            self._count(owner, report, dry_run)
        return report

    def _count(self, owner: str, report: CountReport, dry_run: bool) -> None:
        key = usage_key(owner)
        for _ in range(_ATTEMPTS):
            stored = self._client.get_item(TableName=self._table, Key=key, ConsistentRead=True).get(
                "Item", {}
            )
            held = self.held(owner)
            if COUNT in stored and int(stored[COUNT]["N"]) == held:
                return
            if dry_run:
                report.corrected += 1
                return
            names = {"#count": COUNT, "#seq": SEQ}
            values: dict[str, Any] = {":held": {"N": str(held)}}
            if SEQ in stored:  # every change moves it (schema.sequenced)
                unchanged = "#seq = :seen"
                values[":seen"] = stored[SEQ]
            else:
                unchanged = "attribute_not_exists(#seq)"
            try:
                self._client.update_item(
                    TableName=self._table,
                    Key=key,
                    UpdateExpression="SET #count = :held",
                    ConditionExpression=unchanged,
                    ExpressionAttributeNames=names,
                    ExpressionAttributeValues=values,
                )
                report.corrected += 1
                return
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                    raise
                report.recounted += 1  # a create or delete landed while we counted
        raise RuntimeError(f"the todos of {owner} kept changing; run the migration again")


def stage_table(stage: str) -> str:
    return stages.environment(stage)["TODO_TABLE"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.migrate", description=__doc__.split("\n")[0])
    parser.add_argument("--stage", required=True)
    parser.add_argument("--dry-run", action="store_true", help="count what would change; write nothing")
    parser.add_argument("--page-size", type=int, default=100)
    args = parser.parse_args(argv)
    table = stage_table(args.stage)
    # Adaptive retries also pace the client when DynamoDB throttles: a migration is a bulk
    # job sharing the table with live traffic, and should slow down rather than fail.
    retries = Config(retries={"mode": "adaptive", "total_max_attempts": 10})
    client = clients.session().create_client("dynamodb", config=retries)
    migrator = Migrator(client, table, page_size=args.page_size)
    print(f"{'dry run on' if args.dry_run else 'migrating'} {table} to schema v{SCHEMA_VERSION}", flush=True)
    try:
        report = migrator.run(dry_run=args.dry_run)
    except KeyboardInterrupt:
        print("interrupted: run it again to resume after the last finished page", file=sys.stderr)
        return 130
    except (BotoCoreError, ClientError) as exc:  # throttled past the retries, credentials expired...
        print(f"stopped: {exc}\nrun it again to resume after the last finished page", file=sys.stderr)
        return 1
    print(report.line(args.dry_run))
    try:
        counts = Counter(client, table, page_size=args.page_size).run(dry_run=args.dry_run)
    except (BotoCoreError, ClientError, KeyboardInterrupt) as exc:
        print(f"stopped counting: {exc!r}\nrun it again: counting starts over, exactly", file=sys.stderr)
        return 1
    print(counts.line(args.dry_run))
    return 0


if __name__ == "__main__":
    sys.exit(main())

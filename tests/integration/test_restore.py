"""`make restore` on the embedded backend's point-in-time recovery (tools/embedded.py): a table
restored to a moment holds exactly what the table held then, into a new table, with what a
restore does not carry set again, and verified."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from chalicelib import schema, todos
from chalicelib.store import TodoStore
from tests.support import TABLE, make_todo
from tools import restore

OWNER = "9b2e6f0a-3c4e-4f0a-9a53-5c1f3d1e9b21"


def _titles(dynamodb: Any, table: str) -> list[str]:
    items = dynamodb.query(
        TableName=table,
        KeyConditionExpression="#owner = :owner",
        ExpressionAttributeNames={"#owner": "owner"},
        ExpressionAttributeValues={":owner": {"S": OWNER}},
        ConsistentRead=True,
    )["Items"]
    return sorted(item["title"]["S"] for item in items)


def test_a_restore_holds_what_the_table_held_at_that_moment(dynamodb: Any, store: TodoStore) -> None:
    dynamodb.update_continuous_backups(
        TableName=TABLE, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
    )
    first = make_todo({"title": "first"}, owner=OWNER)
    other = make_todo({"title": "other"}, owner=OWNER, entropy=bytes(range(1, 11)))
    store.create(first)
    store.create(other)
    created = datetime.now(UTC)
    store.update(OWNER, first.id, todos.todo_patch({"title": "renamed"}, now=created))
    renamed = datetime.now(UTC)
    store.delete(OWNER, first.id)
    store.delete(OWNER, other.id)
    assert _titles(dynamodb, TABLE) == []
    at_created = restore.restore(dynamodb, TABLE, created, target="restored-created")
    at_renamed = restore.restore(dynamodb, TABLE, renamed, target="restored-renamed")
    assert _titles(dynamodb, "restored-created") == ["first", "other"]
    assert _titles(dynamodb, "restored-renamed") == ["other", "renamed"]
    assert (at_created.todos, at_created.owners, at_created.mismatched) == (2, 1, [])
    assert at_renamed.versions == {schema.SCHEMA_VERSION: 2}
    steps = restore.report("prod", TABLE, created, at_created)
    assert "TODO_TABLE = restored-created" in steps
    assert "make deploy STAGE=prod: its bootstrap finds restored-created" in steps
    described = dynamodb.describe_table(TableName="restored-created")["Table"]
    assert described["DeletionProtectionEnabled"] is True
    backups = dynamodb.describe_continuous_backups(TableName="restored-created")
    recovery = backups["ContinuousBackupsDescription"]["PointInTimeRecoveryDescription"]
    assert recovery["PointInTimeRecoveryStatus"] == "ENABLED"  # a restore carries none: set again
    assert _titles(dynamodb, TABLE) == []  # the source is untouched


def test_a_count_that_disagrees_with_the_restored_todos_is_reported(dynamodb: Any, store: TodoStore) -> None:
    dynamodb.update_continuous_backups(
        TableName=TABLE, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
    )
    store.create(make_todo({"title": "counted"}, owner=OWNER))
    # A todo written behind the store's back (as before counts existed): not counted.
    stray = make_todo({"title": "stray"}, owner=OWNER, entropy=bytes(range(2, 12)))
    dynamodb.put_item(TableName=TABLE, Item=schema.item(stray))
    restored = restore.restore(dynamodb, TABLE, datetime.now(UTC), target="restored-now")
    assert restored.mismatched == [OWNER]
    assert "1 owner(s) whose count differs" in restore.report("dev", TABLE, datetime.now(UTC), restored)


def test_a_moment_outside_the_window_is_refused_before_anything_is_made(dynamodb: Any) -> None:
    dynamodb.update_continuous_backups(
        TableName=TABLE, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
    )
    with pytest.raises(SystemExit, match="is outside what todo-api-dev can be restored to"):
        restore.restore(dynamodb, TABLE, datetime.now(UTC) - timedelta(days=1))
    assert dynamodb.list_tables()["TableNames"] == [TABLE]


def test_a_table_without_point_in_time_recovery_is_refused(dynamodb: Any) -> None:
    with pytest.raises(SystemExit, match="has no point-in-time recovery on"):
        restore.restore(dynamodb, TABLE, datetime.now(UTC))

"""`make migrate`: versioned data migrations on moto, with items written in the old shape.

Version 1 items are what the code wrote before schema versions (and, for the oldest,
before the purge index): no `schemaVersion`, and a completed todo without `completedAt`.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import botocore.session
import pytest

from chalicelib import cleanup, todos
from chalicelib.schema import MIGRATION_PARTITION, SCHEMA_VERSION, TABLE_DEFINITION, purge_shard
from chalicelib.store import TodoStore
from tests.servers import aws_env, emulator_client, make_env, moto_server
from tests.support import ROOT, TABLE, counted, items_in_table, sub_of
from tools.migrate import Counter, Migrator, main

Auth = Callable[..., dict[str, str]]
NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def v1_item(owner: str, n: int, *, completed: bool, updated: datetime = NOW) -> dict[str, Any]:
    """A todo exactly as the code before schema versions stored it."""
    todo_id = todos.new_id(updated - timedelta(days=60), n.to_bytes(10, "big"))
    stamp = updated.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return {
        "owner": {"S": owner},
        "id": {"S": todo_id},
        "title": {"S": f"todo {n}"},
        "completed": {"BOOL": completed},
        "createdAt": {"S": stamp},
        "updatedAt": {"S": stamp},
        "version": {"N": "3"},
        ("doneId" if completed else "openId"): {"S": todo_id},
        "writeId": {"S": f"w{n}"},
    }


def seed_v1(dynamodb: Any, count: int) -> list[dict[str, Any]]:
    owners = [sub_of(user) for user in ("alice", "bob", "carol")]
    items = [v1_item(owners[n % 3], n, completed=n % 2 == 0) for n in range(count)]
    for item in items:
        dynamodb.put_item(TableName=TABLE, Item=item)
    return items


@pytest.fixture
def operator() -> Any:
    """The operator's own client (not the app's), as `make migrate` builds it."""
    return botocore.session.get_session().create_client("dynamodb", region_name="us-east-1")


def todo_items(dynamodb: Any) -> list[dict[str, Any]]:
    return [item for item in items_in_table(dynamodb) if "#" not in item["owner"]["S"]]


def checkpoint(dynamodb: Any) -> dict[str, Any] | None:
    key = {"owner": {"S": MIGRATION_PARTITION}, "id": {"S": f"schema-v{SCHEMA_VERSION}"}}
    item: dict[str, Any] | None = dynamodb.get_item(TableName=TABLE, Key=key).get("Item")
    return item


def expected_v2(item: dict[str, Any]) -> dict[str, Any]:
    upgraded = {**item, "schemaVersion": {"N": "2"}}
    if item["completed"]["BOOL"]:
        upgraded["completedAt"] = item["updatedAt"]
        upgraded["purgeShard"] = {"S": purge_shard(item["id"]["S"])}
    return upgraded


def on_put(client: Any, action: Callable[[int], None]) -> None:
    """Call `action(n)` before the migrator's n-th PutItem (1-based) is sent."""
    count = [0]

    def hook(**_: Any) -> None:
        count[0] += 1
        action(count[0])

    client.meta.events.register("before-call.dynamodb.PutItem", hook)


def test_the_api_serves_an_old_item_and_writes_new_ones_at_the_current_version(
    api: Any, auth: Auth, dynamodb: Any
) -> None:
    old = v1_item(sub_of("alice"), 1, completed=True)
    dynamodb.put_item(TableName=TABLE, Item=old)
    response = api.get(f"/todos/{old['id']['S']}", headers=auth("alice"))
    assert response.status_code == 200
    assert response.json_body["completed"] is True
    created = api.post("/todos", headers=auth("alice"), body='{"title": "new"}')
    new_id = created.json_body["id"]
    [stored] = [i for i in todo_items(dynamodb) if i["id"]["S"] == new_id]
    assert stored["schemaVersion"] == {"N": str(SCHEMA_VERSION)}


def test_every_item_changes_shape_across_pages_and_keeps_its_etag(
    api: Any, auth: Auth, dynamodb: Any, operator: Any
) -> None:
    old = seed_v1(dynamodb, 57)
    before = {user: api.get("/todos", headers=auth(user)).body for user in ("alice", "bob", "carol")}
    one = f"/todos/{old[0]['id']['S']}"
    etag = api.get(one, headers=auth("alice")).headers["ETag"]
    scans = []
    operator.meta.events.register("before-call.dynamodb.Scan", lambda **_: scans.append(1))
    report = Migrator(operator, TABLE, page_size=10).run()
    assert len(scans) == 6  # several pages: 57 items, 10 per page
    assert (report.scanned, report.behind, report.migrated, report.finished) == (57, {1: 57}, 57, True)
    assert todo_items(dynamodb) == sorted(
        (expected_v2(item) for item in old), key=lambda i: (i["owner"]["S"], i["id"]["S"])
    )
    after = {user: api.get("/todos", headers=auth(user)).body for user in ("alice", "bob", "carol")}
    assert after == before  # the same representation
    assert api.get(one, headers=auth("alice")).headers["ETag"] == etag  # If-Match values stay valid


def test_a_dry_run_counts_and_writes_nothing(dynamodb: Any, operator: Any) -> None:
    seed_v1(dynamodb, 23)
    stored = items_in_table(dynamodb)
    writes = []
    for operation in ("PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"):
        operator.meta.events.register(f"before-call.dynamodb.{operation}", lambda **_: writes.append(1))
    report = Migrator(operator, TABLE, page_size=10).run(dry_run=True)
    assert (report.scanned, report.behind, report.migrated) == (23, {1: 23}, 0)
    assert report.line(dry_run=True).endswith("would migrate 23, gone meanwhile 0")
    assert writes == []
    assert items_in_table(dynamodb) == stored


def test_an_interrupted_run_resumes_after_its_last_finished_page(dynamodb: Any, operator: Any) -> None:
    old = seed_v1(dynamodb, 47)

    def interrupt(n: int) -> None:
        if n == 25:  # pages 1 and 2 done, 4 items of page 3 written
            raise KeyboardInterrupt

    on_put(operator, interrupt)
    with pytest.raises(KeyboardInterrupt):
        Migrator(operator, TABLE, page_size=10).run()
    assert sum("schemaVersion" in item for item in todo_items(dynamodb)) == 24
    saved = checkpoint(dynamodb)
    assert saved is not None
    assert "startKey" in saved
    assert "finishedAt" not in saved
    assert (saved["migrated"], saved["scanned"]) == ({"N": "20"}, {"N": "20"})

    resumed = Migrator(operator, TABLE, page_size=10).run()
    assert resumed.resumed
    assert resumed.finished
    assert resumed.scanned == 47 - 20  # from page 3 on, not from the start
    assert resumed.migrated == 47 - 24  # the 4 already written are not written again
    assert todo_items(dynamodb) == sorted(
        (expected_v2(item) for item in old), key=lambda i: (i["owner"]["S"], i["id"]["S"])
    )
    done = checkpoint(dynamodb)
    assert done is not None
    assert "finishedAt" in done
    assert done["migrated"] == {"N": "43"}  # 20 by the first run's finished pages, 23 by this one
    assert Migrator(operator, TABLE, page_size=10).run().finished_before == done["finishedAt"]["S"]


def test_a_change_by_the_api_during_the_migration_is_kept(
    api: Any, auth: Auth, dynamodb: Any, operator: Any
) -> None:
    [item] = seed_v1(dynamodb, 1)
    path = f"/todos/{item['id']['S']}"

    def edit_first(n: int) -> None:
        if n == 1:  # after the migrator read the item, before its write lands
            assert api.patch(path, headers=auth("alice"), body='{"title": "edited"}').status_code == 200

    on_put(operator, edit_first)
    report = Migrator(operator, TABLE).run()
    # The API writes a todo whole, in the current schema: its edit migrated the todo first,
    # and the migrator's conditional write, meeting it changed, found nothing left to do.
    assert report.migrated == 0
    [stored] = todo_items(dynamodb)
    assert stored["title"] == {"S": "edited"}
    assert stored["version"] == {"N": "4"}  # the API's write, and only that, moved it
    assert stored["schemaVersion"] == {"N": "2"}
    # Completion time unknown: the last update bounds it from above, so a purge comes late, never early.
    assert stored["completedAt"] == stored["updatedAt"]


def test_a_todo_deleted_during_the_migration_stays_deleted(
    api: Any, auth: Auth, dynamodb: Any, operator: Any
) -> None:
    items = seed_v1(dynamodb, 2)
    doomed = items[0]

    def delete_first(n: int) -> None:
        if n == 1:
            assert api.delete(f"/todos/{doomed['id']['S']}", headers=auth("alice")).status_code == 204

    on_put(operator, delete_first)
    report = Migrator(operator, TABLE).run()
    assert (report.migrated, report.gone) == (1, 1)
    assert [i["id"] for i in todo_items(dynamodb)] == [items[1]["id"]]


def test_idempotency_records_and_other_reserved_partitions_are_left_alone(
    dynamodb: Any, operator: Any
) -> None:
    record = {
        "owner": {"S": f"{sub_of('alice')}#idempotency"},
        "id": {"S": "key-1"},
        "fingerprint": {"S": "f"},
    }
    dynamodb.put_item(TableName=TABLE, Item=record)
    report = Migrator(operator, TABLE).run()
    assert report.behind == {}
    assert record in items_in_table(dynamodb)


def test_after_the_migration_the_purge_finds_completed_todos_that_predate_its_index(
    dynamodb: Any, store: TodoStore, operator: Any
) -> None:
    long_ago = datetime.now(UTC) - timedelta(days=45)
    old_done = v1_item(sub_of("alice"), 1, completed=True, updated=long_ago)
    old_open = v1_item(sub_of("alice"), 2, completed=False, updated=long_ago)
    for item in (old_done, old_open):
        dynamodb.put_item(TableName=TABLE, Item=item)

    def purge() -> Any:
        return cleanup.purge_completed(
            store, now=datetime.now(UTC), keep_completed_for=timedelta(days=30), remaining_ms=lambda: 900_000
        )

    assert purge().purged == 0  # invisible to the index until migrated
    Migrator(operator, TABLE).run()
    assert purge().purged == 1
    assert [i["id"] for i in todo_items(dynamodb)] == [old_open["id"]]


# --- counting the todos that predate counts -------------------------------------------


def test_counting_sets_each_owner_to_the_todos_they_hold(
    api: Any, auth: Auth, dynamodb: Any, operator: Any
) -> None:
    seed_v1(dynamodb, 7)  # alice 3, bob 2, carol 2, never counted
    # alice creates one after counts exist: her count says 1, though she holds 4.
    assert api.post("/todos", headers=auth("alice"), body='{"title": "new"}').status_code == 201
    assert counted(dynamodb, sub_of("alice")) == 1
    report = Counter(operator, TABLE, page_size=3).run()
    assert (report.owners, report.corrected) == (3, 3)
    assert [counted(dynamodb, sub_of(u)) for u in ("alice", "bob", "carol")] == [4, 2, 2]
    again = Counter(operator, TABLE).run()
    assert (again.owners, again.corrected) == (3, 0)  # exact already: nothing written


def test_a_create_while_counting_is_counted(api: Any, auth: Auth, dynamodb: Any, operator: Any) -> None:
    seed_v1(dynamodb, 3)
    sent: list[bool] = []

    def create_first(params: dict[str, Any], **_: Any) -> None:
        # After alice's count was taken, before it is written.
        if params["Key"]["owner"]["S"].startswith(sub_of("alice")) and not sent:
            sent.append(True)
            assert api.post("/todos", headers=auth("alice"), body='{"title": "meanwhile"}').status_code == 201

    operator.meta.events.register("before-parameter-build.dynamodb.UpdateItem", create_first)
    report = Counter(operator, TABLE).run()
    assert report.recounted == 1
    assert counted(dynamodb, sub_of("alice")) == 2  # 1 seeded + the one created meanwhile
    held = [i for i in todo_items(dynamodb) if i["owner"]["S"] == sub_of("alice")]
    assert len(held) == 2


def test_the_limit_holds_once_counted(
    api: Any, auth: Auth, dynamodb: Any, operator: Any, setting: Any
) -> None:
    seed_v1(dynamodb, 3)  # one each
    Counter(operator, TABLE).run()
    setting("max-todos", "2")
    first = api.post("/todos", headers=auth("alice"), body='{"title": "second"}')
    refused = api.post("/todos", headers=auth("alice"), body='{"title": "third"}')
    assert first.status_code == 201
    assert refused.status_code == 409
    assert refused.json_body["Code"] == "TodoLimitReached"
    assert counted(dynamodb, sub_of("alice")) == 2


def test_the_command_line_dry_run_then_run(dynamodb: Any, capsys: pytest.CaptureFixture[str]) -> None:
    seed_v1(dynamodb, 5)
    assert main(["--stage", "dev", "--dry-run"]) == 0
    assert "would migrate 5" in capsys.readouterr().out
    assert all("schemaVersion" not in item for item in todo_items(dynamodb))
    assert main(["--stage", "dev"]) == 0
    out = capsys.readouterr().out
    assert "migrated 5" in out
    assert "todo counts: 3 owners, corrected 3" in out
    assert main(["--stage", "dev"]) == 0
    assert "already finished" in capsys.readouterr().out
    assert all(item["schemaVersion"] == {"N": "2"} for item in todo_items(dynamodb))


@pytest.mark.server
def test_make_migrate_uses_the_callers_aws_configuration() -> None:
    """`make migrate` over a real endpoint (a moto server here, through AWS_ENDPOINT_URL)."""
    with moto_server() as port:
        dynamodb = emulator_client("dynamodb", port)
        dynamodb.create_table(TableName=TABLE, **TABLE_DEFINITION)
        seed_v1(dynamodb, 3)
        env = {**make_env(), **aws_env(port)}

        def make(*args: str) -> str:
            done = subprocess.run(
                ["make", "-s", "migrate", "STAGE=dev", *args],
                cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=True,
            )  # fmt: skip
            return done.stdout

        assert "would migrate 3" in make("DRY_RUN=1")
        assert all("schemaVersion" not in item for item in items_in_table(dynamodb))
        assert "migrated 3" in make()
        assert sorted(item["schemaVersion"]["N"] for item in todo_items(dynamodb)) == ["2", "2", "2"]


def test_the_command_line_stops_with_a_message_not_a_traceback(
    dynamodb: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--stage", "prod"]) == 1  # no todo-api-prod table in this account
    err = capsys.readouterr().err
    assert "ResourceNotFoundException" in err
    assert "run it again to resume" in err
    assert "Traceback" not in err

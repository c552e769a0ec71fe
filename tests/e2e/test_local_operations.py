"""An operator's commands and a crowd's concurrent clients against a running `make run`:
`make cleanup`, `make load`, `make settings` (a lever pulled without a restart), and
If-Match races that must lose no update. One server for the module, as in test_local_server.py."""

from __future__ import annotations

import http.client
import json
import subprocess
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from chalicelib import todos
from chalicelib.errors import RETRY_AFTER_SECONDS, TodoNotFound
from chalicelib.store import TodoStore
from infrastructure import stages
from tests.servers import Server, emulator_client
from tests.support import ROOT

# One worker takes the module, so that one `make run` serves all of it.
pytestmark = [pytest.mark.server, pytest.mark.no_moto]


def test_make_cleanup_runs_the_jobs_against_the_local_backend(server: Server) -> None:
    owner = server.token("cleanup-hana")
    _, _, recent = server.request("POST", "/todos", owner, {"title": "done today", "completed": True})
    backend = emulator_client("dynamodb", server.backend_port)
    store = TodoStore(backend, table_name="todo-api-local")
    long_ago = datetime.now(UTC) - timedelta(days=45)
    old = todos.new_todo(
        {"title": "done long ago", "completed": True}, owner="x", now=long_ago, entropy=bytes(10)
    )
    store.create(old)
    # A bulk delete that answered 202, left for finish_clears.
    for n in range(3):
        store.create(todos.new_todo({"title": "bulk"}, owner="y", now=long_ago, entropy=bytes([n]) * 10))
    now = datetime.now(UTC)
    job = todos.ClearJob(
        id=todos.new_id(now, bytes(10)),
        owner="y",
        completed=None,
        before=todos.first_id_at(now),
        deleted=0,
        created_at=todos.timestamp(now),
    )
    store.start_job(job)
    reports = json.loads(server.make("cleanup").stdout.strip().splitlines()[-1])
    report = reports["purge_completed"]
    assert report["purged"] >= 1
    assert report["finished"] is True
    with pytest.raises(TodoNotFound):
        store.get("x", old.id)
    assert server.request("GET", f"/todos/{recent['id']}", owner)[0] == 200
    assert reports["finish_clears"]["finished"] is True
    finished = store.job("y", job.id)
    assert (finished.deleted, finished.finished_at is not None) == (3, True)
    assert store.page("y", completed=None, limit=10, after=None).todos == []


def test_make_load_runs_and_loses_nothing(server: Server) -> None:
    # A smoke run of the load tool (the real load is `make load`, outside `make test`).
    result = server.make("load", "CLIENTS=2", "SECONDS=2", check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "errors: 0" in result.stdout
    assert "lost: 0" in result.stdout
    assert "lost updates: 0, versions given twice: 0" in result.stdout


def test_if_match_races_lose_no_update_and_never_cross_users(server: Server) -> None:
    # DynamoDB makes a conditional write atomic; the local backend must too (moto alone is
    # not thread-safe). 20 clients increment one todo with If-Match at once, while another
    # user reads their own todo throughout (each request thread must see its own caller).
    alice, bob = server.token("race-alice"), server.token("race-bob")
    _, _, todo = server.request("POST", "/todos", alice, {"title": "counter", "order": 0})
    _, _, own = server.request("POST", "/todos", bob, {"title": "bob's own"})
    path, lock = f"/todos/{todo['id']}", threading.Lock()
    # Without the backend's lock, 20 clients lost about one update in seven: 40 successes
    # are plenty to show a loss, and each needs a round of 412s among the others.
    won: list[str] = []
    wanted = 40
    unexpected: list[tuple[str, int]] = []
    stop = threading.Event()

    def call(connection: http.client.HTTPConnection, method: str, body: Any = None, **headers: str) -> Any:
        data = None if body is None else json.dumps(body)
        connection.request(method, path, body=data, headers={"Authorization": alice, **headers})
        response = connection.getresponse()
        raw = response.read()
        return response.status, response.getheader("ETag"), json.loads(raw) if raw else None

    def increment() -> None:
        # One kept-alive connection per client, as browsers and SDKs do: requests overlap.
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
        try:
            for _ in range(400):
                if len(won) >= wanted:
                    return
                status, etag, current = call(connection, "GET")
                if status != 200:
                    unexpected.append(("GET", status))
                    continue
                body = {"order": current["order"] + 1}
                status, etag, _ = call(
                    connection, "PATCH", body, **{"If-Match": etag, "Content-Type": "application/json"}
                )
                if status == 200:
                    with lock:
                        won.append(etag)
                elif status != 412:
                    unexpected.append(("PATCH", status))
        finally:
            connection.close()

    def read_own() -> None:
        while not stop.wait(0.01):
            status, _, seen = server.request("GET", f"/todos/{own['id']}", bob)
            if (status, seen and seen.get("title")) != (200, "bob's own"):
                unexpected.append(("bob GET", status))

    readers = [threading.Thread(target=read_own)]
    writers = [threading.Thread(target=increment) for _ in range(20)]
    for thread in readers + writers:
        thread.start()
    for thread in writers:
        thread.join(timeout=300)
    stop.set()
    for thread in readers:
        thread.join(timeout=30)
    assert unexpected == []
    assert len(won) >= wanted
    stored = server.request("GET", path, alice)[2]["order"]
    assert stored == len(won)  # every success is one increment stored: none lost
    assert len(set(won)) == len(won)  # and each success made a version of its own


def test_make_settings_flips_read_only_on_a_running_server_within_its_period(server: Server) -> None:
    """The lever of docs/runbook.md, as an operator pulls it: `make settings SET=...` against
    `make run`, no restart. The local stage reads its settings every 5 s (TODO_SETTINGS_SECONDS);
    the writes' answers turn within that period (polled for at most three of them)."""
    frank = server.token("settings-frank")
    seconds = int(stages.environment("local")["TODO_SETTINGS_SECONDS"])

    def make_settings(*extra: str) -> str:
        done = subprocess.run(
            ["make", "-s", "settings", "STAGE=local", f"BACKEND_PORT={server.backend_port}", *extra],
            cwd=ROOT, env=server.env, capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        return done.stdout

    def until(status: int) -> list[int]:
        seen = []
        for _ in range(3 * seconds * 4):
            seen.append(server.request("POST", "/todos", frank, {"title": "t"})[0])
            if seen[-1] == status:
                return seen
            time.sleep(0.25)
        raise AssertionError(f"never {status} within {3 * seconds} s: {seen}")

    assert "read-only              false    Parameter Store" in make_settings()
    assert "set read-only=true" in make_settings("SET=read-only=true")
    until(503)
    status, headers, error = server.request(
        "PATCH", "/todos/01KWC6D1G00000000000000067", frank, {"title": "x"}
    )
    assert (status, error["Code"], headers["Retry-After"]) == (
        503,
        "ServiceUnavailable",
        str(RETRY_AFTER_SECONDS),
    )
    assert "read-only" in error["Message"]
    assert server.request("GET", "/todos", frank)[0] == 200  # reads keep working
    make_settings("SET=read-only=false")
    until(201)
    # A bad value written behind make settings' back is ignored, with a log line; the last
    # good value holds and nothing fails.
    ssm = emulator_client("ssm", server.backend_port)
    ssm.put_parameter(Name="/todo-api/local/read-only", Value="perhaps", Type="String", Overwrite=True)
    for _ in range(3 * seconds * 4):
        # A second reading of the server's output (its own offset: the server's is left alone).
        with open(f"/proc/self/fd/{server.log.fileno()}") as output:
            logged = output.read()
        if "runtime setting read-only: 'perhaps' must be true or false; kept False" in logged:
            break
        assert server.request("POST", "/todos", frank, {"title": "t"})[0] == 201
        time.sleep(0.25)
    else:
        raise AssertionError("the bad value was never read and logged")
    assert server.request("POST", "/todos", frank, {"title": "t"})[0] == 201
    assert "read-only              false    default; stored 'perhaps'" in make_settings()
    make_settings("SET=read-only=false")
    refused = subprocess.run(
        ["make", "-s", "settings", "STAGE=local", f"BACKEND_PORT={server.backend_port}", "SET=read-only=yes"],
        cwd=ROOT, env=server.env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert refused.returncode != 0
    assert "read-only must be true or false" in refused.stderr
    assert "Traceback" not in refused.stderr


def test_make_restore_brings_back_what_a_mistake_deleted(server: Server) -> None:
    """The restore drill of docs/runbook.md, against `make run`: write, delete by mistake, restore
    the table to before the mistake into a new one, and compare. The embedded backend restores
    from a journal of its writes, as DynamoDB restores to a second (tools/embedded.py)."""
    import base64
    import re

    grace = server.token("restore-grace")
    payload = grace.split(".")[1]
    sub = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["sub"]
    for title in ("keep me", "and me", "me too"):
        assert server.request("POST", "/todos", grace, {"title": title})[0] == 201
    kept = server.request("GET", "/todos", grace)[2]
    before_the_mistake = datetime.now(UTC)
    assert server.request("DELETE", "/todos", grace)[0] == 204  # the mistake
    assert server.request("GET", "/todos", grace)[2] == []
    done = server.make("restore", "STAGE=local", f"AT={before_the_mistake.isoformat()}", check=False)
    assert done.returncode == 0, done.stderr
    assert "every owner's count matches" in done.stdout
    assert "it lives in make run's backend until make run stops" in done.stdout  # local: nothing to deploy
    restored = re.search(r"into (\S+)", done.stdout)
    assert restored is not None
    dynamodb = emulator_client("dynamodb", server.backend_port)
    found = dynamodb.query(
        TableName=restored.group(1),
        KeyConditionExpression="#owner = :owner",
        ExpressionAttributeNames={"#owner": "owner"},
        ExpressionAttributeValues={":owner": {"S": sub}},
        ConsistentRead=True,
    )["Items"]
    assert sorted(item["id"]["S"] for item in found) == sorted(todo["id"] for todo in kept)
    assert sorted(item["title"]["S"] for item in found) == sorted(todo["title"] for todo in kept)
    described = dynamodb.describe_table(TableName=restored.group(1))["Table"]
    assert described["DeletionProtectionEnabled"] is True  # set again: a restore carries none
    assert (
        dynamodb.describe_time_to_live(TableName=restored.group(1))["TimeToLiveDescription"][
            "TimeToLiveStatus"
        ]
        == "ENABLED"
    )
    assert server.request("GET", "/todos", grace)[2] == []  # the stage's own table is untouched
    # Before the table existed: outside what it can be restored to, said in one line.
    early = server.make("restore", "STAGE=local", "AT=2001-01-01T00:00:00Z", check=False)
    assert early.returncode != 0
    assert "is outside what todo-api-local can be restored to" in early.stderr
    assert "Traceback" not in early.stderr

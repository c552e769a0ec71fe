"""`make load SIZES=100,1000,10000`: the `make run` server at real sizes.

Starts `make run`'s server (`python -m tools.local run`) on free loopback ports, then, for
each size in turn, fills one user's list to that many todos (written straight into the
backend, 25 to a batch, as the store writes them, with their count) and measures through
the API, one request at a time:

- create (POST /todos), 30 times, and list (GET /todos, the first page), 30 times: medians;
- the server's resident memory (VmRSS) after them;
- then, at the largest size, 2,000 more transactions (creates and deletes) and the memory
  again: memory that grew with the history, not the data, would show here;
- a bulk clear of the whole list: DELETE /todos (the stage's budget in the request, 202 past
  it), then the scheduled jobs as `make cleanup` runs them until the job is done: its time,
  and whether the job's tally and the user's count add up exactly;
- last, a clear of 10,000 todos left running and Ctrl-C (SIGINT) sent to the server: the
  seconds until it has exited and nothing listens on its ports.

Prints a table; exits 1 if a tally or count is off or the stop took over STOP_BAR seconds.
Loopback only, bounded by the sizes it is given (at most MAX_SIZE each).
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import http.client
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3

from chalicelib import schema, todos
from infrastructure import stages
from tools import local

MAX_SIZE = 20_000
SAMPLES = 30
HISTORY_TRANSACTIONS = 2_000
STOP_BAR = 5.0
ROOT = stages.ROOT


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class Running:
    """The server process, its ports, a token and the backend's DynamoDB client."""

    def __init__(self) -> None:
        self.port, self.backend_port = _free_port(), _free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_ENDPOINT", "TODO_"))}
        ports = [f"--port={self.port}", f"--backend-port={self.backend_port}"]
        self.process = subprocess.Popen(  # noqa: S603 - this Python, our module, numbers
            [sys.executable, "-m", "tools.local", "run", *ports],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + 60
        while not _listening(self.port):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise SystemExit("the server did not start")
            time.sleep(0.2)
        self.auth = local.token("sizes", self.backend_port)
        self.owner = owner_of(self.auth)
        self.table = stages.environment("local")["TODO_TABLE"]
        # The backend's fake credentials are in this process's environment (local.token).
        url = f"http://127.0.0.1:{self.backend_port}"
        self.dynamodb = boto3.client("dynamodb", endpoint_url=url, region_name="us-east-1")
        self.connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, dict[str, str], Any]:
        headers = {"Authorization": self.auth, "Content-Type": "application/json"}
        self.connection.request(
            method, path, body=None if body is None else json.dumps(body), headers=headers
        )
        response = self.connection.getresponse()
        raw = response.read()
        return response.status, dict(response.getheaders()), json.loads(raw) if raw else None

    def count(self) -> int:
        return counted(self.dynamodb, self.table, self.owner)

    def stored(self) -> int:
        return stored(self.dynamodb, self.table, self.owner)

    def fill(self, size: int) -> None:
        """Top the list up to `size` todos."""
        fill(self.dynamodb, self.table, self.owner, size - self.count())

    def jobs(self) -> None:
        """The scheduled jobs once, as `make cleanup` runs them (their reports not shown)."""
        ports = [f"--port={self.port}", f"--backend-port={self.backend_port}"]
        command = [sys.executable, "-m", "tools.local", "cleanup", *ports]
        subprocess.run(command, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)  # noqa: S603 - as above

    def stop(self, sig: int = signal.SIGTERM) -> float:
        """Signal the server's process group: the seconds until it exited."""
        started = time.monotonic()
        try:
            os.killpg(self.process.pid, sig)
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
            return float("inf")
        except ProcessLookupError:
            pass
        return time.monotonic() - started


def owner_of(token: str) -> str:
    """The `sub` of a token (a local one, whose signature the server has checked)."""
    payload = token.split(".")[1]
    return str(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["sub"])


def counted(dynamodb: Any, table: str, owner: str) -> int:
    """The owner's todo count as the store keeps it (0: never counted)."""
    found = dynamodb.get_item(TableName=table, Key=schema.usage_key(owner), ConsistentRead=True)
    return int(found.get("Item", {}).get(schema.COUNT, {"N": "0"})["N"])


def stored(dynamodb: Any, table: str, owner: str) -> int:
    """How many todos the owner really has: a count of every page of their Query."""
    total, start = 0, None
    while True:
        query: dict[str, Any] = {"TableName": table, "Select": "COUNT"}
        query |= schema.owner_query(owner, None) | ({"ExclusiveStartKey": start} if start else {})
        page = dynamodb.query(**query)
        total += page["Count"]
        start = page.get("LastEvaluatedKey")
        if not start:
            return int(total)


def fill(dynamodb: Any, table: str, owner: str, missing: int) -> None:
    """`missing` more todos for `owner`, written as the store writes them (25 to a batch,
    created a day ago) and counted: a list of thousands without thousands of requests."""
    start = datetime.now(UTC) - timedelta(days=1)
    batch: list[Any] = []
    for n in range(max(missing, 0)):
        when = start + timedelta(microseconds=n)
        todo = todos.new_todo({"title": f"stored {n}"}, owner=owner, now=when, entropy=os.urandom(10))
        batch.append({"PutRequest": {"Item": schema.item(todo)}})
        if len(batch) == 25 or n == missing - 1:
            dynamodb.batch_write_item(RequestItems={table: batch})
            batch = []
    if missing > 0:
        dynamodb.update_item(TableName=table, **schema.count_change(owner, missing))


def _timed(call: Any) -> float:
    started = time.perf_counter()
    call()
    return (time.perf_counter() - started) * 1000


def _create(server: Running) -> None:
    status, _, _ = server.call("POST", "/todos", {"title": "measured"})
    if status != 201:
        raise SystemExit(f"a create answered {status}")


def _clear(server: Running) -> tuple[float, float, int, int, int]:
    """DELETE /todos, then the jobs until done: (seconds in the request, in all, todos there,
    the job's tally, the count left)."""
    there = server.count()
    started = time.monotonic()
    status, headers, body = server.call("DELETE", "/todos")
    in_request = time.monotonic() - started
    deleted = 0
    if status == 202:
        job = headers["Location"]
        while True:
            server.jobs()
            _, _, state = server.call("GET", job)
            if state["status"] == "done":
                deleted = int(state["deleted"])
                break
    elif status == 204:
        deleted = there
    else:
        raise SystemExit(f"DELETE /todos answered {status}: {body}")
    return in_request, time.monotonic() - started, there, deleted, server.count()


def run(sizes: list[int]) -> int:
    os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")
    server = Running()
    failures = []
    try:
        print(f"make run at real sizes (one user's list; medians of {SAMPLES}; one request at a time)")
        print(f"{'todos':>7} {'create ms':>10} {'list ms':>8} {'RSS MB':>7}")
        created: dict[int, float] = {}
        for size in sizes:
            server.fill(size - SAMPLES - 1)  # the creates bring it to `size` (the limit, at most)
            creates = [_timed(lambda: _create(server)) for _ in range(SAMPLES)]
            lists = [_timed(lambda: server.call("GET", "/todos")) for _ in range(SAMPLES)]
            created[size] = statistics.median(creates)
            rss = _rss_mb(server.process.pid)
            print(f"{size:>7,} {created[size]:>10.1f} {statistics.median(lists):>8.1f} {rss:>7.0f}")
        largest = max(sizes)
        before = _rss_mb(server.process.pid)
        for n in range(HISTORY_TRANSACTIONS // 2):  # a create and a delete: two transactions
            _, _, made = server.call("POST", "/todos", {"title": f"history {n}"})
            server.call("DELETE", f"/todos/{made['id']}")
        after = _rss_mb(server.process.pid)
        print(
            f"{HISTORY_TRANSACTIONS:,} more transactions at {largest:,} todos: "
            f"RSS {before:.0f} -> {after:.0f} MB"
        )
        smallest = min(sizes)
        print(f"create at {largest:,} / at {smallest:,}: {created[largest] / created[smallest]:.2f}x")
        in_request, seconds, there, deleted, left = _clear(server)
        print(
            f"clear of {there:,} todos: {in_request:.1f} s in DELETE /todos (the stage's budget), "
            f"{seconds:.1f} s with the jobs; deleted {deleted:,}, count left {left}"
        )
        if deleted != there or left != 0 or server.stored() != 0:
            failures.append("the clear's tally or the count did not add up")
        server.fill(10_000)
        clearing = threading.Thread(target=lambda: _quietly(server.call, "DELETE", "/todos"), daemon=True)
        clearing.start()
        time.sleep(1.0)  # the clear is inside its request
        stopped = server.stop(signal.SIGINT)
        ports_free = not _listening(server.port) and not _listening(server.backend_port)
        print(f"Ctrl-C during a clear of 10,000: stopped in {stopped:.1f} s, ports free: {ports_free}")
        if stopped > STOP_BAR or not ports_free:
            failures.append(f"the server took {stopped:.1f} s to stop (bar: {STOP_BAR} s)")
    finally:
        server.stop(signal.SIGKILL) if server.process.poll() is None else None
    for failure in failures:
        print(f"FAILED: {failure}", file=sys.stderr)
    return 1 if failures else 0


def _quietly(call: Any, *args: Any) -> None:
    with contextlib.suppress(OSError, http.client.HTTPException):  # the server stopped under it
        call(*args)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tools.sizes")
    parser.add_argument("--sizes", default="100,1000,10000", help="comma-separated list sizes")
    args = parser.parse_args(argv)
    try:
        sizes = sorted({int(size) for size in args.sizes.split(",")})
    except ValueError:
        raise SystemExit(f"SIZES must be numbers separated by commas, not {args.sizes!r}") from None
    if not sizes or not all(1 <= size <= MAX_SIZE for size in sizes):
        raise SystemExit(f"each of SIZES must be 1-{MAX_SIZE:,}")
    sys.exit(run(sizes))


if __name__ == "__main__":
    main()

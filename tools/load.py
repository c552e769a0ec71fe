"""`make load`: N concurrent clients for T seconds against the `make run` server, then a
check that every todo they created is still there; then a conditional-update race: the
clients increment one todo's `order` with `If-Match` at once, retrying on 412, and the
count of successes must equal the increments stored (no lost update) with every success
on a version of its own (DynamoDB's guarantee, which the local backend must keep).

Loopback only (the host is fixed), bounded in clients, time and requests. Reports
throughput, latency percentiles per operation and errors. Not part of `make test`:
on this machine it measures moto and Chalice's local server more than the app (see
BENCHMARKS.md for the app's own costs).
"""

from __future__ import annotations

import argparse
import http.client
import json
import statistics
import sys
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from tools.local import token

HOST = "127.0.0.1"
MAX_CLIENTS = 64
MAX_SECONDS = 600
MAX_REQUESTS_PER_CLIENT = 100_000
RACE_INCREMENTS = 5


@dataclass
class Tally:
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    statuses: Counter[str] = field(default_factory=Counter)
    created: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, operation: str, seconds: float, status: int | str) -> None:
        with self.lock:
            self.latencies[operation].append(seconds)
            self.statuses[f"{operation} {status}"] += 1


def _call(connection: http.client.HTTPConnection, method: str, path: str, auth: str, body: Any = None) -> Any:
    headers = {"Authorization": auth}
    data = None
    if body is not None:
        headers["Content-Type"] = "application/json"
        data = json.dumps(body)
    connection.request(method, path, body=data, headers=headers)
    response = connection.getresponse()
    raw = response.read()
    return response.status, dict(response.getheaders()), json.loads(raw) if raw else None


def _client(n: int, port: int, auth: str, deadline: float, tally: Tally) -> None:
    connection = http.client.HTTPConnection(HOST, port, timeout=30)
    for i in range(MAX_REQUESTS_PER_CLIENT):
        if time.monotonic() >= deadline:
            break
        steps: list[tuple[str, str, str, Any]] = [("create", "POST", "/todos", {"title": f"load {n}-{i}"})]
        for operation, method, path, body in steps:
            started = time.perf_counter()
            try:
                status, _, result = _call(connection, method, path, auth, body)
            except (OSError, http.client.HTTPException) as exc:
                tally.record(operation, time.perf_counter() - started, type(exc).__name__)
                connection.close()
                connection = http.client.HTTPConnection(HOST, port, timeout=30)
                continue
            tally.record(operation, time.perf_counter() - started, status)
            if operation == "create" and status == 201:
                with tally.lock:
                    tally.created[auth].add(result["id"])
                one = f"/todos/{result['id']}"
                steps += [
                    ("get", "GET", one, None),
                    ("update", "PATCH", one, {"completed": i % 2 == 0}),
                    ("list", "GET", "/todos?limit=20", None),
                ]
    connection.close()


def _stored_ids(port: int, auth: str) -> set[str]:
    connection = http.client.HTTPConnection(HOST, port, timeout=30)
    ids, path = set(), "/todos?limit=100"
    while path:
        status, headers, page = _call(connection, "GET", path, auth)
        if status != 200:
            raise SystemExit(f"listing for the check failed: {status} {page}")
        ids |= {todo["id"] for todo in page}
        link = headers.get("Link")
        path = link.split(f"{HOST}:{port}", 1)[1].split(">", 1)[0] if link else ""
    connection.close()
    return ids


@dataclass
class Race:
    successes: int = 0
    precondition_failures: int = 0
    other: Counter[str] = field(default_factory=Counter)
    versions: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def _incrementer(port: int, auth: str, path: str, increments: int, race: Race) -> None:
    connection = http.client.HTTPConnection(HOST, port, timeout=30)
    done = attempts = 0
    while done < increments and attempts < increments * 50:
        attempts += 1
        status, headers, todo = _call(connection, "GET", path, auth)
        if status != 200:
            with race.lock:
                race.other[f"GET {status}"] += 1
            continue
        connection.request(
            "PATCH",
            path,
            body=json.dumps({"order": todo["order"] + 1}),
            headers={"Authorization": auth, "Content-Type": "application/json", "If-Match": headers["ETag"]},
        )
        response = connection.getresponse()
        response.read()
        with race.lock:
            if response.status == 200:
                race.successes += 1
                race.versions.append(str(response.getheader("ETag")))
                done += 1
            elif response.status == 412:
                race.precondition_failures += 1
            else:
                race.other[f"PATCH {response.status}"] += 1
    connection.close()


def conditional_race(port: int, auth: str, clients: int, increments: int) -> tuple[Race, int]:
    """`clients` threads each make `increments` If-Match increments of one todo; the race
    and the order stored at the end."""
    connection = http.client.HTTPConnection(HOST, port, timeout=30)
    status, _, todo = _call(connection, "POST", "/todos", auth, {"title": "race", "order": 0})
    if status != 201:
        raise SystemExit(f"creating the race's todo failed: {status} {todo}")
    path = f"/todos/{todo['id']}"
    race = Race()
    threads = [
        threading.Thread(target=_incrementer, args=(port, auth, path, increments, race), daemon=True)
        for _ in range(clients)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    final = _call(connection, "GET", path, auth)[2]["order"]
    connection.close()
    return race, int(final)


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def run(port: int, backend_port: int, clients: int, seconds: float) -> int:
    if not 1 <= clients <= MAX_CLIENTS or not 0 < seconds <= MAX_SECONDS:
        raise SystemExit(f"CLIENTS must be 1-{MAX_CLIENTS} and SECONDS 1-{MAX_SECONDS}")
    tokens = [token(f"load-{n}", backend_port) for n in range(clients)]
    tally = Tally()
    started = time.monotonic()
    deadline = started + seconds
    threads = [
        threading.Thread(target=_client, args=(n, port, auth, deadline, tally), daemon=True)
        for n, auth in enumerate(tokens)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=seconds + 60)
    elapsed = time.monotonic() - started
    lost = sum(len(ids - _stored_ids(port, auth)) for auth, ids in tally.created.items())
    created = sum(len(ids) for ids in tally.created.values())
    total = sum(len(v) for v in tally.latencies.values())
    errors = {k: v for k, v in tally.statuses.items() if not k.split()[-1].startswith("2")}
    rate = total / elapsed
    print(f"{clients} clients for {seconds:g} s on http://{HOST}:{port}: {total} requests, {rate:.1f}/s")
    print("operation   count     p50 ms   p90 ms   p99 ms   max ms")
    for operation, values in sorted(tally.latencies.items()):
        ms = [v * 1000 for v in values]
        print(
            f"{operation:<10} {len(ms):>6} {statistics.median(ms):>10.1f} {_percentile(ms, 0.9):>8.1f}"
            f" {_percentile(ms, 0.99):>8.1f} {max(ms):>8.1f}"
        )
    print(f"errors: {sum(errors.values())} {dict(errors) if errors else ''}".rstrip())
    print(f"created: {created}, lost: {lost}")
    race, final = conditional_race(port, tokens[0], max(clients, 2), RACE_INCREMENTS)
    lost_updates = race.successes - final
    repeated = len(race.versions) - len(set(race.versions))
    print(
        f"conditional updates: {max(clients, 2)} clients x {RACE_INCREMENTS} If-Match increments of one todo:"
        f" {race.successes} succeeded, {race.precondition_failures} got 412 and retried,"
        f" {sum(race.other.values())} other {dict(race.other) if race.other else ''}".rstrip()
    )
    print(f"lost updates: {lost_updates}, versions given twice: {repeated}")
    return 1 if errors or lost or lost_updates or repeated or race.other else 0


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tools.load")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--backend-port", type=int, default=None)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=30)
    args = parser.parse_args()
    sys.exit(run(args.port, args.backend_port or args.port + 1, args.clients, args.seconds))


if __name__ == "__main__":
    main()

"""`make load`: N concurrent clients for T seconds against the `make run` server, then a
check that every todo they created is still there.

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
    return 1 if errors or lost else 0


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

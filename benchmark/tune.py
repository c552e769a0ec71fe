"""`make tune`: what AWS Lambda Power Tuning does, without an account.

It measures, here, the CPU time of a cold start and of each kind of request, through the
handler of the `make package` zip (unpacked as Lambda unpacks it) against a loopback
DynamoDB with canned answers, as `make bench` does. Then it models Lambda's allocation:
CPU in proportion to memory, one full vCPU at 1,769 MB (AWS: "at 1,769 MB, a function has
the equivalent of one vCPU"), and no faster beyond it, since a request runs on one thread;
each DynamoDB round trip adds a stated latency, at any memory. From that, for 128 to
3,008 MB: the cold start, each request's duration, and the cost per million requests of
a stated mix, at the prices of benchmark/prices.json, billed by the millisecond.

The recommendation is the smallest memory whose mean request of the mix is within
RECOMMEND_WITHIN of the fastest the model allows: beyond it, each step up costs more and
buys less than that. `.chalice/config.json`'s lambda_memory_size should be it; `make tune`
says whether it is. Writes benchmark/README.md's tune section, build/tune.json (for `make
cost`) and docs/tune.png.

Where the model stops: CPU speed is this machine's, not a Graviton's; the interpreter's
own start and Lambda's runtime bootstrap are not counted; whether INIT gets more CPU than
memory allots (often observed, never documented) is not assumed.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import statistics
import tempfile
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple

from benchmark import plot
from benchmark.harness import (
    EVENT,
    ITEM,
    SUB,
    TABLE,
    TODO_ID,
    canned_dynamodb,
    run_child,
    unpacked,
    write_section,
)
from infrastructure import stages

MEMORY_SIZES = (128, 256, 384, 512, 640, 768, 1024, 1280, 1536, 1769, 2048, 3008)
FULL_VCPU_MB = 1769
DYNAMODB_MS = 5.0  # one round trip from Lambda to DynamoDB in the same region, over a kept connection
RECOMMEND_WITHIN = 0.25
PRICES = Path(__file__).with_name("prices.json")
# Shown in benchmark/README.md: the recorded run, like its tables (--no-write: into --out instead).
CHART = stages.ROOT / "docs/tune.png"
MARKERS = ("<!-- tune:start -->", "<!-- tune:end -->")
PAGE = 20  # todos in a listing, and completed todos in a "clear completed"


class Kind(NamedTuple):
    """One kind of request: its share of the traffic and its DynamoDB round trips."""

    share: float
    round_trips: int
    method: str
    path: str
    body: str | None = None
    query: Mapping[str, str] | None = None


# The traffic mix behind every per-request figure (and `make cost`'s), as a TodoMVC client
# uses the API: mostly listings and toggles.
MIX: dict[str, Kind] = {
    # The list's first page reads its owner's counter first (its Sync-Token and ETag); a change
    # reads it (and the todo) before its transaction (sync's order).
    "GET /todos": Kind(0.50, 2, "GET", "/todos"),
    "POST /todos": Kind(0.15, 2, "POST", "/todos", body='{"title": "buy milk"}'),
    "PATCH /todos/{id}": Kind(0.20, 2, "PATCH", "/todos/{id}", body='{"completed": true}'),
    "GET /todos/{id}": Kind(0.05, 1, "GET", "/todos/{id}"),
    "DELETE /todos/{id}": Kind(0.08, 2, "DELETE", "/todos/{id}"),
    "DELETE /todos?completed=true": Kind(0.02, 3, "DELETE", "/todos", query={"completed": "true"}),
}

# A change's read: the todo and its owner's counter (its last change number).
COUNTER = {"owner": {"S": f"{SUB}#usage"}, "id": {"S": "todos"}, "todoCount": {"N": "1"}, "seq": {"N": "7"}}
CANNED = {
    "DynamoDB_20120810.GetItem": {"Item": ITEM},
    "DynamoDB_20120810.BatchGetItem": {"Responses": {TABLE: [ITEM, COUNTER]}, "UnprocessedKeys": {}},
    "DynamoDB_20120810.TransactWriteItems": {},
    "DynamoDB_20120810.Query": {"Items": [ITEM] * PAGE, "Count": PAGE, "ScannedCount": PAGE},
    "DynamoDB_20120810.BatchWriteItem": {"UnprocessedItems": {}},
}


def event(kind: Kind) -> dict[str, Any]:
    """The API Gateway proxy event of `kind`, as the Cognito authorizer passes it on."""
    path = kind.path.replace("{id}", TODO_ID)
    resource = kind.path.replace("{id}", "{todo_id}")
    headers = {**EVENT["headers"], "Content-Type": "application/json"}
    return {
        **EVENT,
        "resource": resource,
        "path": path,
        "httpMethod": kind.method,
        "headers": headers,
        "multiValueQueryStringParameters": {k: [v] for k, v in (kind.query or {}).items()} or None,
        "pathParameters": {"todo_id": TODO_ID} if "{id}" in kind.path else None,
        "requestContext": {
            **EVENT["requestContext"],
            "resourcePath": resource,
            "httpMethod": kind.method,
            "path": f"/dev{path}",
        },
        "body": kind.body,
    }


class Measured(NamedTuple):
    """CPU milliseconds at one full vCPU (this machine's), and log bytes per request."""

    cold_ms: float
    warm_ms: dict[str, float]
    log_bytes: dict[str, int]


def measure(rounds: int, calls: int) -> Measured:
    events = json.dumps({name: event(kind) for name, kind in MIX.items()})
    runs = []
    with tempfile.TemporaryDirectory() as tmp, canned_dynamodb(CANNED) as endpoint:
        task = unpacked(Path(tmp))
        for _ in range(rounds):
            result = run_child("tune_calls", task, endpoint, BENCH_EVENTS=events, BENCH_WARM=str(calls))
            failed = {name: code for name, code in result["status"].items() if code >= 400}
            if failed:
                raise SystemExit(f"requests failed, so their timings would mean nothing: {failed}")
            runs.append(result)
    return Measured(
        cold_ms=statistics.median(r["cold_ms"] for r in runs),
        warm_ms={name: statistics.median(r["warm_ms"][name] for r in runs) for name in MIX},
        log_bytes=runs[0]["log_bytes"],
    )


# --- the model -----------------------------------------------------------------------


def cpu_share(memory_mb: int) -> float:
    """The share of one vCPU a function of this memory gets (a one-thread request uses no more)."""
    return min(1.0, memory_mb / FULL_VCPU_MB)


def duration_ms(cpu_ms: float, round_trips: int, memory_mb: int, dynamodb_ms: float = DYNAMODB_MS) -> float:
    return cpu_ms / cpu_share(memory_mb) + round_trips * dynamodb_ms


def billed_ms(duration: float, granularity_ms: int = 1) -> int:
    return math.ceil(duration / granularity_ms) * granularity_ms


def gb_seconds(duration: float, memory_mb: int) -> float:
    """What Lambda bills for one invocation: billed milliseconds times memory in GB (1,024 MB)."""
    return billed_ms(duration) / 1000 * memory_mb / 1024


def prices() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(PRICES.read_text())
    return loaded


class Row(NamedTuple):
    memory_mb: int
    cpu_share: float
    cold_ms: float
    durations: dict[str, float]
    mean_ms: float
    cost_per_million: dict[str, float]  # by architecture: requests and duration


def row(measured: Measured, memory_mb: int, lambda_prices: Mapping[str, Any], dynamodb_ms: float) -> Row:
    durations = {
        name: duration_ms(measured.warm_ms[name], kind.round_trips, memory_mb, dynamodb_ms)
        for name, kind in MIX.items()
    }
    mean = sum(MIX[name].share * d for name, d in durations.items())
    gbs = sum(MIX[name].share * gb_seconds(d, memory_mb) for name, d in durations.items())
    costs = {
        arch: lambda_prices["requests_per_million"] + 1e6 * gbs * price
        for arch, price in lambda_prices["gb_second"].items()
    }
    # The cold start: the import and a first GET /todos/{id}, with its one round trip.
    cold = duration_ms(measured.cold_ms, 1, memory_mb, dynamodb_ms)
    return Row(memory_mb, cpu_share(memory_mb), cold, durations, mean, costs)


def table(measured: Measured, dynamodb_ms: float = DYNAMODB_MS) -> list[Row]:
    lambda_prices = prices()["lambda"]
    return [row(measured, memory, lambda_prices, dynamodb_ms) for memory in MEMORY_SIZES]


def recommend(rows: Sequence[Row], within: float = RECOMMEND_WITHIN) -> int:
    """The smallest memory whose mean request is within `within` of the fastest."""
    fastest = min(r.mean_ms for r in rows)
    return min(r.memory_mb for r in rows if r.mean_ms <= fastest * (1 + within))


def configured_memory(root: Path = stages.ROOT) -> int:
    return int(stages.document(root)["lambda_memory_size"])


# --- the report ----------------------------------------------------------------------


def report(measured: Measured, rows: Sequence[Row], dynamodb_ms: float, architecture: str) -> str:
    chosen = recommend(rows)
    configured = configured_memory()
    verdict = (
        f"`lambda_memory_size` is {configured} MB: the recommendation."
        if configured == chosen
        else f"**`lambda_memory_size` is {configured} MB, not the recommended {chosen} MB.**"
    )
    mix = ", ".join(f"{name} {kind.share:.0%}" for name, kind in MIX.items())
    lines = [
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC by `make tune`, through the `make package` "
        f"handler, Python {platform.python_version()}. CPU per request at one vCPU (this machine's): "
        + ", ".join(f"{name} {ms:.2f} ms" for name, ms in measured.warm_ms.items())
        + f"; cold start (import and first request) {measured.cold_ms:.0f} ms of CPU. "
        f"DynamoDB round trip: {dynamodb_ms:g} ms (stated). Mix: {mix}. "
        f"Prices: benchmark/prices.json ({prices()['as_of']}), {architecture} first.",
        "",
        f"| memory | vCPU share | cold start | mean request | GET /todos | POST /todos "
        f"| $ per million, {architecture} | other architecture |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        mark = " **(recommended)**" if r.memory_mb == chosen else ""
        other = next(a for a in r.cost_per_million if a != architecture)
        lines.append(
            f"| {r.memory_mb} MB{mark} | {r.cpu_share:.2f} | {r.cold_ms:,.0f} ms | {r.mean_ms:.1f} ms "
            f"| {r.durations['GET /todos']:.1f} ms | {r.durations['POST /todos']:.1f} ms "
            f"| ${r.cost_per_million[architecture]:.3f} | ${r.cost_per_million[other]:.3f} ({other}) |"
        )
    lines += [
        "",
        f"Recommended: **{chosen} MB**, the smallest memory whose mean request is within "
        f"{RECOMMEND_WITHIN:.0%} of the fastest the model allows. {verdict} Lambda's cost per million "
        "requests counts the requests and billed duration only (API Gateway, DynamoDB and logs: `make "
        "cost`).",
        "",
        "![Latency and cost against memory](../docs/tune.png)",
    ]
    return "\n".join(lines)


def chart(rows: Sequence[Row], architecture: str, path: Path) -> None:
    memories = [float(r.memory_mb) for r in rows]
    plot.line_chart(
        path,
        title=f"Lambda memory: latency and cost ({architecture}, model from measured CPU)",
        x_label="memory (MB)",
        x=memories,
        left=plot.Axis(
            "milliseconds",
            {
                "cold start": [r.cold_ms for r in rows],
                "mean request": [r.mean_ms for r in rows],
            },
            log=True,
        ),
        right=plot.Axis("$ per million requests", {"cost": [r.cost_per_million[architecture] for r in rows]}),
        x_log=True,
        marker=(float(recommend(rows)), f"recommended: {recommend(rows)} MB"),
    )


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmark.tune")
    parser.add_argument("--rounds", type=int, default=7, help="fresh processes (medians)")
    parser.add_argument("--calls", type=int, default=200, help="timed calls of each kind per process")
    parser.add_argument("--dynamodb-ms", type=float, default=DYNAMODB_MS, help="one DynamoDB round trip")
    parser.add_argument("--out", type=Path, default=stages.ROOT / "build")
    parser.add_argument("--no-write", action="store_true", help="print only; leave benchmark/README.md alone")
    args = parser.parse_args()
    measured = measure(args.rounds, args.calls)
    rows = table(measured, args.dynamodb_ms)
    architecture = stages.document()["lambda_architecture"]
    text = report(measured, rows, args.dynamodb_ms, architecture)
    print(text)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "tune.json").write_text(
        json.dumps({"measured": measured._asdict(), "dynamodb_ms": args.dynamodb_ms}, indent=2) + "\n"
    )
    chart(rows, architecture, args.out / "tune.png" if args.no_write else CHART)
    if not args.no_write:
        write_section(stages.ROOT / "benchmark" / "README.md", MARKERS, text)


if __name__ == "__main__":
    main()

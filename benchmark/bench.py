"""`make bench`: cold start, CPU per request, package size, memory and DynamoDB requests.

Every time is a ratio against a baseline measured in the same run, interleaved with it
in fresh processes (this machine is noisy; absolute numbers mean little). The API's
handler is imported from the packaged zip's contents, as Lambda imports it; DynamoDB is
a canned-response HTTP server on loopback (no moto in the timed processes), so both
sides pay the same SDK and network costs and differ only in what the handler adds.

Writes the results between the markers in benchmark/README.md; the rest of that file is
prose kept by hand.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import platform
import random
import shutil
import socket
import statistics
import sys
import tempfile
import threading
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmark import cost, harness
from benchmark.harness import (
    EVENT,
    SCHEDULED,
    SUB,
    TABLE,
    canned_dynamodb,
    run_child,
    unpacked,
    write_section,
)
from infrastructure import names
from infrastructure.package import BUDGET_BYTES, package
from infrastructure.stages import ROOT

MARKERS = ("<!-- bench:start -->", "<!-- bench:end -->")
TARGETS = {"cold": 1.00, "warm": 1.10, "zip_kb": BUDGET_BYTES // 1024}

# The handlers timed besides the API (benchmark/handlers/, real modules that ruff and mypy
# check): the framework-less baselines (the same DynamoDB calls with a boto3 client, nothing
# else), and the frameworks a user would pick instead of Chalice, each serving the same route
# the same way (the caller's sub from the authorizer's claims, one GetItem, a JSON answer), as
# its documentation shows; the peers are installed in .venv-bench only.
HANDLERS = Path(__file__).with_name("handlers")
BASELINES = ("bench_get_item", "bare_api", "bare_job")
PEERS = {
    "powertools": "peer_powertools",
    # The same, with the observability the API has: Logger and Metrics (EMF).
    "powertools+logs": "peer_powertools_logs",
    "flask": "peer_flask",
    "fastapi": "peer_fastapi",
}


def _variants(work: Path, peers: bool) -> dict[str, dict[str, Any]]:
    """Each variant: a task directory (what Lambda would unpack), how to get the handler, the event."""
    tasks = {
        name: unpacked(work / name, bytecode=bytecode)
        for name, bytecode in (("zip", True), ("zip-as-chalice-ships", False))
    }
    bare = work / "bare-task"
    bare.mkdir()
    for module in (*BASELINES, *(PEERS.values() if peers else ())):
        shutil.copy(HANDLERS / f"{module}.py", bare / f"{module}.py")
    # Each handler as `module:attribute.path` (benchmark/children/cold.py finds it so).
    api, job = "app:app", "app:app.handler_map.purge_completed"
    variants = {
        "bare": {"task": bare, "handler": "bare_api:handler", "event": EVENT},
        "api": {"task": tasks["zip"], "handler": api, "event": EVENT},
        "api-source": {"task": tasks["zip-as-chalice-ships"], "handler": api, "event": EVENT},
        "bare-job": {"task": bare, "handler": "bare_job:handler", "event": SCHEDULED},
        "job": {"task": tasks["zip"], "handler": job, "event": SCHEDULED},
    }
    for name, module in PEERS.items() if peers else ():
        variants[name] = {"task": bare, "handler": f"{module}:handler", "event": EVENT}
    return variants


@contextmanager
def xray_daemon() -> Iterator[dict[str, str]]:
    """A UDP sink on loopback standing in for Lambda's X-Ray daemon, drained as it fills:
    yields the environment of a sampled invocation whose subsegments go to it."""
    sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sink.bind(("127.0.0.1", 0))
    sink.settimeout(0.2)
    running = threading.Event()
    running.set()

    def drain() -> None:
        while running.is_set():
            with contextlib.suppress(TimeoutError):
                sink.recv(65536)

    thread = threading.Thread(target=drain, daemon=True)
    thread.start()
    try:
        yield {
            "AWS_XRAY_DAEMON_ADDRESS": f"127.0.0.1:{sink.getsockname()[1]}",
            "_X_AMZN_TRACE_ID": "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1",
        }
    finally:
        running.clear()
        thread.join()
        sink.close()


def measure_processes(rounds: int, warm: int, peers: bool = False) -> dict[str, dict[str, float]]:
    with tempfile.TemporaryDirectory() as tmp, canned_dynamodb() as endpoint, xray_daemon() as traced:
        variants = _variants(Path(tmp), peers)
        # The API again, its DynamoDB calls sent as X-Ray subsegments of a sampled invocation.
        variants["api-traced"] = {**variants["api"], "env": traced}
        cold: dict[str, list[dict[str, Any]]] = {name: [] for name in variants}
        warm_runs: list[dict[str, Any]] = []
        traced_runs: list[dict[str, Any]] = []
        in_warm = {
            "bare": "bare_api",
            **{name: module for name, module in PEERS.items() if name in variants},
        }
        for _ in range(rounds):
            order = [*variants, "warm", "warm-traced"]
            random.shuffle(order)  # interleaved, in a new order each round
            for name in order:
                if name.startswith("warm"):
                    extra = {
                        "BENCH_BARE": str(variants["bare"]["task"]),
                        "BENCH_WARM": str(warm),
                        "BENCH_EVENT": json.dumps(EVENT),
                        "BENCH_HANDLERS": json.dumps(in_warm if name == "warm" else {"bare": "bare_api"}),
                        **({} if name == "warm" else traced),
                    }
                    runs = warm_runs if name == "warm" else traced_runs
                    runs.append(run_child("warm", variants["api"]["task"], endpoint, **extra))
                    continue
                variant = variants[name]
                event = json.dumps(variant["event"])
                cold[name].append(
                    run_child(
                        "cold", variant["task"], endpoint,
                        BENCH_EVENT=event, BENCH_HANDLER=variant["handler"], **variant.get("env", {}),
                    )
                )  # fmt: skip
        for name, runs in cold.items():  # a timing of an error would mean nothing
            response = runs[0]["response"]
            if "job" not in name and response["statusCode"] != 200:
                raise SystemExit(f"{name} answered {response}")
    summary: dict[str, dict[str, float]] = {
        name: {
            "cold_ms": statistics.median(r["cold_ms"] for r in runs),
            "maxrss_mb": statistics.median(r["maxrss_kb"] for r in runs) / 1024,
        }
        for name, runs in cold.items()
    }
    # Cold ratios pair each variant with its baseline of the same round (run minutes apart
    # at most), which a slow spell of the machine slows alike; the quartiles show the spread.
    for name, runs in cold.items():
        base = "bare-job" if "job" in name else "bare"
        ratios = [r["cold_ms"] / b["cold_ms"] for r, b in zip(runs, cold[base], strict=True)]
        summary[name]["cold_ratio"] = statistics.median(ratios)
        summary[name]["cold_q1"], _, summary[name]["cold_q3"] = statistics.quantiles(ratios, n=4)
    summary["api-traced"]["warm_us"] = statistics.median(r["api"] for r in traced_runs)
    summary["api-traced"]["warm_ratio"] = statistics.median(r["api"] / r["bare"] for r in traced_runs)
    for name in ("api", *in_warm):
        summary[name]["warm_us"] = statistics.median(r[name] for r in warm_runs)
        summary[name]["warm_ratio"] = statistics.median(r[name] / r["bare"] for r in warm_runs)
    return summary


def zip_sizes() -> dict[str, int]:
    with tempfile.TemporaryDirectory() as tmp:
        shipped = package("dev", Path(tmp, "zip")) / "deployment.zip"
        plain = package("dev", Path(tmp, "plain"), bytecode=False) / "deployment.zip"
        with zipfile.ZipFile(shipped) as archive:
            third_party = sorted(
                {n.split("/")[0] for n in archive.namelist()} - {"app.pyc", "chalice", "chalicelib"}
            )
        if third_party:
            raise SystemExit(f"third-party code in the Lambda bundle: {third_party}")
        return {"zip": shipped.stat().st_size, "zip-as-chalice-ships": plain.stat().st_size}


def dynamodb_requests() -> dict[str, list[str]]:
    """The DynamoDB requests behind each API operation and a purge run, counted on moto."""
    os.environ.update(
        {
            "AWS_ACCESS_KEY_ID": "bench",
            "AWS_SECRET_ACCESS_KEY": "bench",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_EC2_METADATA_DISABLED": "true",
        }
    )
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_DYNAMODB", "AWS_PROFILE"):
        os.environ.pop(name, None)
    from chalice.test import Client
    from moto import mock_aws

    import app as todo_app
    from chalicelib import todos
    from chalicelib.schema import TABLE_DEFINITION
    from chalicelib.store import TodoStore

    counts: dict[str, list[str]] = {}
    calls: list[str] = []

    def record(model: Any, **_: Any) -> None:
        calls.append(model.name)

    def measure(label: str, action: Any) -> Any:
        calls.clear()
        result = action()
        counts[label] = list(calls)
        return result

    headers = {
        "Authorization": _unsigned_token(),
        "Host": "bench.example",
        "Content-Type": "application/json",
    }
    # As in Lambda, behind API Gateway's authorizer, which verified the (here unsigned) token.
    os.environ["AWS_LAMBDA_FUNCTION_NAME"] = names.of("bench")
    with mock_aws():
        todo_app.dynamodb_client.cache_clear()
        todo_app.runtime_settings.cache_clear()
        todo_app.token_verifier.cache_clear()
        client = todo_app.dynamodb_client()  # the app's own client: the hook sees its calls
        client.meta.events.register("before-call.dynamodb", record)
        client.create_table(TableName=TABLE, **TABLE_DEFINITION)
        with Client(todo_app.app, stage_name="dev", project_dir=str(ROOT)) as chalice:
            http = chalice.http
            todo = measure("POST /todos", lambda: http.post("/todos", headers=headers, body='{"title": "a"}'))
            path = f"/todos/{todo.json_body['id']}"
            measure("GET /todos/{id}", lambda: http.get(path, headers=headers))
            measure(
                "PATCH /todos/{id}", lambda: http.patch(path, headers=headers, body='{"completed": true}')
            )
            for n in range(4):
                http.post("/todos", headers=headers, body=json.dumps({"title": f"t{n}", "completed": n < 2}))
            measure("GET /todos (page of 2)", lambda: http.get("/todos?limit=2", headers=headers))
            measure(
                "GET /todos?completed=false (page)",
                lambda: http.get("/todos?completed=false", headers=headers),
            )
            measure("DELETE /todos/{id}", lambda: http.delete(path, headers=headers))
            measure(
                "DELETE /todos?completed=true (2 todos)",
                lambda: http.delete("/todos?completed=true", headers=headers),
            )
            measure("DELETE /todos (2 todos)", lambda: http.delete("/todos", headers=headers))
            store = TodoStore(client, table_name=TABLE, sleep=lambda _: None)
            now = datetime.now(UTC)
            for scale in (1, 10):
                for n in range(100 * scale):  # not eligible: open or recently completed
                    fields = {"title": "x", "completed": n % 2 == 0}
                    store.create(todos.new_todo(fields, owner=f"u{n % 9}", now=now, entropy=os.urandom(10)))
                for n in range(10):  # eligible: completed a year ago
                    fields = {"title": "x", "completed": True}
                    old = now.replace(year=now.year - 1)
                    store.create(todos.new_todo(fields, owner=f"u{n}", now=old, entropy=os.urandom(10)))
                measure(
                    f"purge_completed: 10 eligible, {100 * scale} not",
                    lambda: chalice.lambda_.invoke("purge_completed", dict(SCHEDULED)),
                )
        todo_app.runtime_settings.cache_clear()
        todo_app.dynamodb_client.cache_clear()
    return counts


def _unsigned_token() -> str:
    import base64

    def b64(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

    return f"{b64({'alg': 'RS256'})}.{b64({'sub': SUB, 'cognito:username': 'alice'})}.c2ln"


def _versions() -> str:
    from importlib.metadata import version

    return ", ".join(f"{name} {version(name)}" for name in ("chalice", "boto3", "botocore", "moto"))


def report(
    processes: dict[str, dict[str, float]], sizes: dict[str, int], requests: dict[str, list[str]]
) -> str:
    def cold_ratio(name: str) -> str:
        values = processes[name]
        return f"{values['cold_ratio']:.2f}x ({values['cold_q1']:.2f}-{values['cold_q3']:.2f})"

    cold = processes["api"]["cold_ratio"]
    warm = processes["api"]["warm_ratio"]
    lines = [
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {platform.machine()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}, {_versions()}. Command: `make bench` ({ROUNDS} rounds; "
        "each round runs every variant in a fresh process, in a new random order; medians).",
        "",
        "| measure | result | target |",
        "|---|---|---|",
        f"| cold start, API (`make package` zip) vs bare boto3 handler, median of rounds (quartiles) "
        f"| **{cold:.2f}x** ({processes['api']['cold_q1']:.2f}-{processes['api']['cold_q3']:.2f}) "
        f"| <= {TARGETS['cold']:.2f}x |",
        f"| cold start, API as Chalice ships it (sources only) vs bare | {cold_ratio('api-source')} | |",
        f"| cold start, purge job vs bare boto3 job (16 queries) | {cold_ratio('job')} | |",
        f"| warm CPU per request, API vs bare (one process, in turn) | **{warm:.2f}x** "
        f"| <= {TARGETS['warm']:.2f}x |",
        "| cold start and warm CPU, API with X-Ray subsegments (sampled) vs bare "
        f"| {cold_ratio('api-traced')}, {processes['api-traced']['warm_ratio']:.2f}x | |",
        f"| deployment.zip (`make package`) | **{sizes['zip'] / 1024:.1f} KB** | <= {TARGETS['zip_kb']} KB |",
        f"| deployment.zip as Chalice ships it | {sizes['zip-as-chalice-ships'] / 1024:.1f} KB | |",
        f"| peak memory of a cold API process (bare) | {processes['api']['maxrss_mb']:.1f} MB "
        f"({processes['bare']['maxrss_mb']:.1f} MB) | |",
        "",
        "Absolute medians, for scale only (this machine is shared and noisy):",
        "",
        "| variant | cold: import + first invocation | warm CPU per invocation | peak memory |",
        "|---|---|---|---|",
    ]
    for name, values in processes.items():
        warm_us = f"{values['warm_us']:.0f} µs" if "warm_us" in values else ""
        lines.append(f"| {name} | {values['cold_ms']:.1f} ms | {warm_us} | {values['maxrss_mb']:.1f} MB |")
    peers = [name for name in PEERS if name in processes]
    if peers:
        lines += [
            "",
            "The same route on the frameworks a user would pick instead (.venv-bench; each as its "
            "documentation shows, on boto3 and the same canned DynamoDB; they do less than the API: no "
            "validation, no ETag, and no log line but powertools+logs' two, its Logger's and its EMF "
            "Metrics'), against the same bare handler:",
            "",
            "| handler | cold start vs bare | warm CPU vs bare | peak memory |",
            "|---|---|---|---|",
        ]
        for name in ("api", *peers):
            lines.append(
                f"| {'API (Chalice, this project)' if name == 'api' else name} "
                f"| {cold_ratio(name)} | {processes[name]['warm_ratio']:.2f}x "
                f"| {processes[name]['maxrss_mb']:.1f} MB |"
            )
    lines += [
        "",
        "DynamoDB requests per operation (botocore event hooks, on moto), and for single todos the "
        "request units `make cost` charges (AWS's sizing rules on the items as the store writes "
        "them, `benchmark/cost.py`; its section has the list's and the clear's, for pages of 20):",
        "",
        "| operation | requests | read units | write units |",
        "|---|---|---|---|",
    ]
    model = cost.operation_units()
    for label, calls in requests.items():
        summary = ", ".join(f"{calls.count(op)} {op}" for op in dict.fromkeys(calls)) or "none"
        charged = model.get(label)
        units = f"{charged.reads:g} | {charged.writes:g}" if charged else " | "
        lines.append(f"| {label} | {len(calls)}: {summary} | {units} |")
    scans = sum(calls.count("Scan") for calls in requests.values())
    lines += ["", f"Scans in all of the above: {scans}."]
    return "\n".join(lines)


ROUNDS = 15


def main() -> None:
    global ROUNDS
    parser = argparse.ArgumentParser(prog="python -m benchmark.bench")
    parser.add_argument("--rounds", type=int, default=ROUNDS, help="fresh processes per variant (>= 15)")
    parser.add_argument(
        "--warm", type=int, default=500, help="timed warm invocations per handler and process"
    )
    parser.add_argument(
        "--peers-python", help="an interpreter with the peer frameworks (.venv-bench): compare with them"
    )
    parser.add_argument("--no-write", action="store_true", help="print only; leave benchmark/README.md alone")
    args = parser.parse_args()
    ROUNDS = args.rounds
    harness.PYTHON = args.peers_python or sys.executable
    processes = measure_processes(args.rounds, args.warm, peers=bool(args.peers_python))
    sizes = zip_sizes()
    with contextlib.redirect_stdout(io.StringIO()):  # the app's own log lines, on moto
        requests = dynamodb_requests()
    text = report(processes, sizes, requests)
    print(text)
    if not args.no_write:
        write_section(ROOT / "benchmark" / "README.md", MARKERS, text)


if __name__ == "__main__":
    main()

"""`make tune`'s model of Lambda's allocation, and the mix it measures against the API."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from benchmark import tune
from tests.support import ROOT

Auth = Any


def test_one_full_vcpu_at_1769_mb_and_no_faster_beyond() -> None:
    # AWS: "At 1,769 MB, a function has the equivalent of one vCPU"; CPU is allotted in
    # proportion to memory, and one request's single thread cannot use a second vCPU.
    assert tune.cpu_share(1769) == 1.0
    assert tune.cpu_share(3008) == 1.0
    assert tune.cpu_share(128) == pytest.approx(128 / 1769)
    assert tune.duration_ms(4.0, 2, 1769, dynamodb_ms=5.0) == pytest.approx(14.0)
    assert tune.duration_ms(4.0, 2, 3008, dynamodb_ms=5.0) == pytest.approx(14.0)
    # Half the CPU share doubles the CPU part only: waiting on DynamoDB takes no CPU.
    half = tune.duration_ms(4.0, 2, 1769 // 2, dynamodb_ms=5.0)
    assert half == pytest.approx(4.0 * 1769 / (1769 // 2) + 10.0)


def test_duration_is_billed_by_the_millisecond_rounded_up() -> None:
    assert tune.billed_ms(7.0) == 7
    assert tune.billed_ms(7.01) == 8
    assert tune.billed_ms(0.2) == 1
    assert tune.gb_seconds(100.0, 1024) == pytest.approx(0.1)
    assert tune.gb_seconds(99.2, 512) == pytest.approx(0.05)


def _measured(cpu_ms: float) -> tune.Measured:
    return tune.Measured(cold_ms=400.0, warm_ms=dict.fromkeys(tune.MIX, cpu_ms), log_bytes={})


def test_the_recommendation_is_the_knee_not_the_cheapest_nor_the_fastest() -> None:
    rows = tune.table(_measured(3.0), dynamodb_ms=5.0)
    by_memory = {r.memory_mb: r for r in rows}
    chosen = tune.recommend(rows)
    fastest = min(r.mean_ms for r in rows)
    assert by_memory[chosen].mean_ms <= fastest * (1 + tune.RECOMMEND_WITHIN)
    smaller = [m for m in tune.MEMORY_SIZES if m < chosen]
    assert all(by_memory[m].mean_ms > fastest * (1 + tune.RECOMMEND_WITHIN) for m in smaller)
    # Cost per million rises with memory, latency falls: the knee is in between.
    cheapest = min(rows, key=lambda r: r.cost_per_million["arm64"]).memory_mb
    assert cheapest == 128 < chosen < 1769
    # More CPU per request moves the knee up; a request that is all waiting, down.
    assert tune.recommend(tune.table(_measured(20.0), dynamodb_ms=5.0)) > chosen
    assert tune.recommend(tune.table(_measured(0.5), dynamodb_ms=5.0)) < chosen


def test_arm64_costs_less_than_x86_64_at_every_memory() -> None:
    for r in tune.table(_measured(3.0)):
        assert r.cost_per_million["arm64"] < r.cost_per_million["x86_64"]


def test_each_kind_in_the_mix_makes_the_dynamodb_round_trips_the_model_charges(
    api: Any, auth: Auth, dynamodb_calls: list[str]
) -> None:
    assert sum(kind.share for kind in tune.MIX.values()) == pytest.approx(1.0)
    for n in range(tune.PAGE):
        api.post("/todos", headers=auth(), body=json.dumps({"title": f"t{n}", "completed": n % 2 == 0}))
    todo_id = json.loads(api.get("/todos?completed=false", headers=auth()).body)[0]["id"]
    for name, kind in tune.MIX.items():
        query = "&".join(f"{k}={v}" for k, v in (kind.query or {}).items())
        path = kind.path.replace("{id}", todo_id) + (f"?{query}" if query else "")
        dynamodb_calls.clear()
        response = getattr(api, kind.method.lower())(path, headers=auth(), body=kind.body or "")
        assert response.status_code < 300, (name, response.body)
        assert len(dynamodb_calls) == kind.round_trips, (name, dynamodb_calls)


@pytest.mark.server
def test_make_tune_measures_the_packaged_handler_and_writes_its_results(tmp_path: Path) -> None:
    # Small rounds: this checks that it runs and what it writes, not its figures.
    subprocess.run(
        [
            sys.executable,
            "-B",
            "-m",
            "benchmark.tune",
            "--rounds",
            "1",
            "--calls",
            "3",
            "--no-write",
            "--out",
            str(tmp_path),
        ],
        cwd=ROOT,
        check=True,
        capture_output=True,
        timeout=300,
    )
    measured = json.loads((tmp_path / "tune.json").read_text())["measured"]
    assert set(measured["warm_ms"]) == set(tune.MIX)
    assert all(ms > 0 for ms in measured["warm_ms"].values())
    assert measured["cold_ms"] > max(measured["warm_ms"].values())
    # Every request writes its one structured line (what make cost bills as logs).
    assert all(100 < size < 2000 for size in measured["log_bytes"].values())
    with Image.open(tmp_path / "tune.png") as chart:
        assert chart.format == "PNG"
        assert chart.size == (1000, 560)

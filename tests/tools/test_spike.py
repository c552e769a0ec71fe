"""make spike: the journey's arithmetic, the walls' order on hand-computed cases, and every
quota with its source."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from benchmark import spike
from infrastructure import capacity
from tests.support import ROOT

QUOTAS: dict[str, Any] = capacity.quotas()
# A minute of the stage as prod packages it: room for everyone at the gateway.
ROOMY = spike.Stage(
    rate=10_000,
    burst=5_000,
    waf_limit=None,
    memory_mb=1280,
    reserved=None,
    provisioned=0,
    ses=True,
    tier="ESSENTIALS",
    settings_seconds=60,
)
FAST = {"GET /todos": 20.0, "POST /todos": 20.0}  # ms: Lambda's room is 1,000 / 0.02 s
UNITS = {"GET /todos": (1.0, 0), "POST /todos": (0.0, 6), "PATCH /todos/{id}": (0.0, 4)}


def quotas(**values: float) -> dict[str, Any]:
    changed = json.loads(json.dumps(QUOTAS))
    for name, value in values.items():
        changed[name]["value"] = value
    return changed


def test_every_quota_names_its_source_unit_and_what_to_ask_for() -> None:
    assert QUOTAS["as_of"]
    assert QUOTAS["region"]
    for name, quota in QUOTAS.items():
        if name.startswith("_") or name in ("as_of", "region"):
            continue
        assert quota["source"].startswith("https://docs.aws.amazon.com/"), name
        assert quota["value"] > 0, name
        assert quota["unit"], name
        assert quota["quota_name"], name
        assert isinstance(quota["adjustable"], bool), name
    # The figures the issue and the runbook quote, as AWS documents them.
    assert QUOTAS["cognito_default_email_per_day"]["value"] == 50
    assert QUOTAS["cognito_user_creation_rps"]["value"] == 50
    assert QUOTAS["cognito_user_authentication_rps"]["value"] == 120
    assert (QUOTAS["apigateway_account_rps"]["value"], QUOTAS["apigateway_account_burst"]["value"]) == (
        10_000,
        5_000,
    )
    assert QUOTAS["lambda_unreserved_minimum"]["value"] == 100
    assert QUOTAS["dynamodb_partition_wru"]["value"] == 1000


def test_the_peak_and_the_throttle_by_hand() -> None:
    # 600 people over 60 s: 10 a second. The busiest second holds the page (4) and the
    # list and first create of those who arrived 48-55 s earlier: 4 + 1 + 1 requests each.
    assert capacity.peak_api_rate(600, 60) == 10 * 6
    # 10,000 over 60 s: 166.7 people a second x 6 = 1,000/s; x 1.25 = 1,250; burst twice that.
    assert capacity.stage_throttle(10_000, 60) == capacity.Throttle(1250, 2500)
    # Never above the account's bucket.
    assert capacity.stage_throttle(1_000_000, 60) == capacity.Throttle(10_000, 5_000)
    with pytest.raises(ValueError, match="at least one person"):
        capacity.stage_throttle(0, 60)


def test_the_default_sender_serves_fifty_sign_ups_a_day() -> None:
    on_cognito = ROOMY._replace(ses=False)
    outcome = spike.simulate(60, 60, spike.World(on_cognito, QUOTAS, FAST, UNITS))
    assert list(outcome.walls) == ["email_day"]
    hit = outcome.walls["email_day"]
    # One a second: the 51st arrives at 50 s and signs up at 55 s; nobody retries a day's cap.
    assert (hit.first_second, hit.refused, hit.gave_up) == (55, 10, 10)
    assert outcome.served == 50


def test_sign_ups_past_the_category_rate_wait_and_are_served() -> None:
    # 100 people in one second: SignUp at 5 s for all of them, 50 admitted; the other 50
    # back off 1 s and are admitted at 6 s (the rate refills each second).
    outcome = spike.simulate(100, 1, spike.World(ROOMY, quotas(ses_per_second=1000), FAST, UNITS))
    hit = outcome.walls["UserCreation"]
    assert (hit.first_second, hit.refused, hit.gave_up) == (5, 50, 0)
    assert outcome.served == 100


def test_the_stage_bucket_refuses_past_its_burst() -> None:
    # 30 people at once open the page: 120 requests against a bucket of 100 (rate 100/s).
    stage = ROOMY._replace(rate=100, burst=100)
    outcome = spike.simulate(30, 1, spike.World(stage, quotas(ses_per_second=1000), FAST, UNITS))
    hit = outcome.walls["stage"]
    assert (hit.first_second, hit.refused) == (0, 5)  # 25 pages of 4 fit; 5 wait a second
    assert outcome.served == 30


def test_settings_reads_by_hand() -> None:
    # 1,000 environments started at once, each reading in its first 60 s and every 60 s after.
    assert spike.settings_reads(1000, 60) == pytest.approx(33.33, abs=0.01)
    assert spike.settings_reads(1000, 60) < capacity.quota("ssm_default_throughput")


def test_walls_come_in_the_order_they_are_hit_each_raised_in_turn() -> None:
    on_cognito = ROOMY._replace(ses=False, rate=50, burst=100)
    walls = spike.walls_in_order(1000, 10, spike.World(on_cognito, QUOTAS, FAST, UNITS))
    names = [name for name, _, _ in walls]
    assert names[0] == "stage"  # 100 people a second open the page at 0 s: 400 requests
    assert "email_day" in names
    assert "UserCreation" in names
    seconds = [hit.first_second for _, hit, _ in walls[:-1]]
    assert names.index("email_day") > names.index("stage")
    assert walls[-1][0] == ""
    assert walls[-1][2].served == 1000
    assert all(s >= 0 for s in seconds)


@pytest.mark.parametrize("stage", ["prod", "dev"])
def test_make_spike_names_its_walls_from_the_packaged_stage(
    packaged: Callable[..., Path], tmp_path: Path, stage: str
) -> None:
    tune_json = tmp_path / "tune.json"
    tune_json.write_text(json.dumps({
        "measured": {"warm_ms": dict.fromkeys(capacity_routes(), 2.0), "cold_ms": 300.0, "log_bytes": {}},
        "dynamodb_ms": 5.0,
    }))  # fmt: skip
    result = subprocess.run(
        [str(ROOT / ".venv/bin/python"), "-m", "benchmark.spike", f"--stage={stage}", "--no-chart",
         f"--package-dir={packaged(stage)}", f"--tune={tune_json}"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    )  # fmt: skip
    out = result.stdout
    if stage == "prod":
        assert "e-mail through SES" in out
        assert "1. at 5 s: SES (the pool's sender)" in out  # not Cognito's 50 a day
        assert "Cognito UserCreation" in out
        assert "docs.aws.amazon.com/cognito" in out
        # Both Cognito walls stand at 5 s: the second is named in the first's run too.
        assert "also met in this run: Cognito UserCreation at 5 s" in out
        # Reserved 250 environments, each reading every 60 s, at most two reads in a period:
        # 2 x 250 / 60 = 8.3 a second, of Parameter Store's 40.
        assert "250 API environments at most read Parameter Store up to 8.3 times a second" in out
        assert "21% of its default 40/s" in out
    else:
        assert "keeps Cognito's default sender: 50 e-mails a day" in out
        assert "s: Cognito's e-mail sender: 50 e-mails a day" in out


def capacity_routes() -> list[str]:
    from benchmark import tune

    return list(tune.MIX)


def test_bad_arguments_are_a_message_not_a_traceback() -> None:
    for args in (["--users=lots"], ["--users=0"], ["--over=-5"]):
        result = subprocess.run(
            [str(ROOT / ".venv/bin/python"), "-m", "benchmark.spike", *args],
            cwd=ROOT, capture_output=True, text=True, check=False,
        )  # fmt: skip
        assert result.returncode != 0
        assert "Traceback" not in result.stderr
        assert "USERS" in result.stderr

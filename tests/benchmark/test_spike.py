"""make spike: the journey's arithmetic, the walls' order on hand-computed cases, and every
quota with its source."""

from __future__ import annotations

import json
import re
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
ROOMY = spike.Packaged(
    rate=10_000,
    burst=5_000,
    waf_limit=None,
    memory_mb=1280,
    reserved=None,
    provisioned=0,
    ses=True,
    tier="LITE",
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
    # One a second: the 51st arrives at 50 s and signs up at 55 s. The page tries a refused
    # sign-up again as often as it tries any Cognito refusal (its COGNITO_RETRIES), in vain.
    retries = capacity.patience().cognito_retries
    assert (hit.first_second, hit.refused, hit.gave_up) == (55, 10 * (1 + retries), 10)
    assert outcome.served == 50


def test_sign_ups_past_the_category_rate_wait_and_are_served() -> None:
    # 100 people in one second: SignUp at 5 s for all of them, 50 admitted; the other 50
    # wait as the page waits and are admitted later (the rate refills each second).
    outcome = spike.simulate(100, 1, spike.World(ROOMY, quotas(ses_per_second=1000), FAST, UNITS))
    hit = outcome.walls["UserCreation"]
    assert (hit.first_second, hit.gave_up) == (5, 0)
    assert hit.refused >= 50
    assert outcome.served == 100


@pytest.mark.parametrize("api", ["rest", "http"])
def test_the_stages_throttle_counts_each_route_on_its_own(packaged: Callable[..., Path], api: str) -> None:
    # 60 people at once open the page: GET / 60 times, GET /site/{name} 120 times, GET
    # /config.json 60 times, against a bucket of 100 for each route (REST's MethodSettings
    # "/*/*", an HTTP API's DefaultRouteSettings: route-level throttling).
    template = json.loads((packaged("dev", api=api if api == "http" else None) / "sam.json").read_text())
    stage = spike.stage_of(template)._replace(rate=100, burst=100, ses=True, waf_limit=None, reserved=None)
    world = spike.World(stage, quotas(ses_per_second=1000), FAST, UNITS)
    hit = spike.simulate(60, 1, world).walls["stage"]
    assert (hit.first_second, hit.refused) == (0, 10)  # the files' route: 50 people's two each
    assert spike.simulate(60, 1, world).served == 60  # the page waits and tries again


def test_the_pages_retry_count_is_the_models() -> None:
    # The model reads the page's own constants: a page that gives up sooner serves fewer.
    script = capacity.PAGE_SCRIPT.read_text()
    assert capacity.patience(script) == capacity.patience()
    fewer = capacity.patience(script.replace("const COGNITO_RETRIES = 4;", "const COGNITO_RETRIES = 1;"))
    assert fewer.cognito_retries == 1
    world = spike.World(ROOMY, quotas(ses_per_second=1000), FAST, UNITS)
    patient = spike.simulate(400, 1, world).served
    hasty = spike.simulate(400, 1, world._replace(patience=fewer)).served
    assert hasty < patient
    with pytest.raises(SystemExit, match="COGNITO_RETRIES"):
        capacity.patience(script.replace("const COGNITO_RETRIES = 4;", "let COGNITO_RETRIES = 4;"))


def test_lambda_serves_ten_requests_a_second_per_environment_and_starts_cold() -> None:
    # 20 reserved environments: at most 200 requests a second, whatever the duration; and a
    # first second spent mostly initialising serves less.
    stage = ROOMY._replace(reserved=20)
    world = spike.World(stage, quotas(ses_per_second=1000), FAST, UNITS)
    outcome = spike.simulate(60, 1, world)  # 240 page requests at second 0
    assert outcome.walls["lambda"].first_second == 0
    assert max(outcome.admitted) <= 20 * 10
    cold = spike.simulate(60, 1, world._replace(cold_start_ms=900))
    assert cold.admitted[0] < outcome.admitted[0]


def test_dynamodb_reads_and_writes_share_one_warm_throughput() -> None:
    # "4,000 write units or 12,000 read units, or a linear combination": half the writes
    # leave half the reads.
    heavy = {**UNITS, "GET /todos": (6000.0, 0), "POST /todos": (0.0, 2000)}
    world = spike.World(ROOMY, quotas(ses_per_second=1000), FAST, heavy)
    journey = (capacity.Step(0, "both", routes=("POST /todos", "GET /todos")),)
    alone = spike.simulate(1, 1, world, journey=(capacity.Step(0, "read", routes=("GET /todos",)),))
    assert alone.walls == {}
    both = spike.simulate(1, 1, world, journey=journey)
    assert both.walls == {}  # 2000/4000 + 6000/12000 = 1: exactly the whole
    more = {**heavy, "GET /todos": (6001.0, 0)}
    assert "table" in spike.simulate(1, 1, world._replace(units=more), journey=journey).walls


def test_the_global_index_has_a_warm_throughput_of_its_own() -> None:
    # Writes that land on the purge index count against its 4,000 a second, not the table's:
    # 3,000 table writes and 3,000 index writes both fit; 4,001 index writes do not.
    world = spike.World(ROOMY, quotas(ses_per_second=1000), FAST, {"PATCH /todos/{id}": (0.0, 6000, 3000)})
    journey = (capacity.Step(0, "toggle", routes=("PATCH /todos/{id}",)),)
    assert spike.simulate(1, 1, world, journey=journey).walls == {}
    over = world._replace(units={"PATCH /todos/{id}": (0.0, 4001, 4001)})
    assert "table" in spike.simulate(1, 1, over, journey=journey).walls
    # Charged to the table alone, as before, 6,000 writes would not have fit.
    alone = world._replace(units={"PATCH /todos/{id}": (0.0, 6000)})
    assert "table" in spike.simulate(1, 1, alone, journey=journey).walls


def test_the_return_an_hour_on_renews_the_token_at_cognitos_rate() -> None:
    # The page renews its ID token at the first call after 59 minutes: the crowd's renewals
    # meet UserAuthentication an hour on, and a renewal that gives up loses the person.
    world = spike.World(ROOMY, quotas(ses_per_second=1000, cognito_user_creation_rps=1000,
                                      cognito_user_authentication_rps=1000), FAST, UNITS)  # fmt: skip
    assert spike.simulate(500, 1, world).served == 500
    tight = world._replace(quotas=quotas(ses_per_second=1000, cognito_user_creation_rps=1000,
                                          cognito_user_authentication_rps=5))  # fmt: skip
    outcome = spike.simulate(500, 1, tight)
    assert outcome.walls["UserAuthentication"].gave_up > 0
    assert outcome.peaks["UserAuthentication"] > 5


def test_settings_reads_by_hand() -> None:
    # 1,000 environments started at once, each reading in its first 60 s and every 60 s after.
    assert spike.settings_reads(1000, 60) == pytest.approx(33.33, abs=0.01)
    assert spike.settings_reads(1000, 60) < capacity.quota("ssm_default_throughput")


def test_walls_are_ranked_by_what_raising_them_serves() -> None:
    on_cognito = ROOMY._replace(ses=False, rate=50, burst=100)
    world = spike.World(on_cognito, QUOTAS, FAST, UNITS)
    packaged, order, final = spike.walls_in_order(1000, 10, world)
    names = [step.wall for step in order]
    assert {"email_day", "UserCreation", "stage"} <= set(names)
    assert final.served == 1000
    afters = [step.after for step in order]
    assert afters == sorted(afters)  # each raise serves at least as many as before it
    for n, step in enumerate(order):
        raised = frozenset(names[:n])
        # Of the walls met in that round, none raised instead would have served more.
        for other in step.outcome.walls:
            if other not in raised:
                assert spike.simulate(1000, 10, world, raised | {other}).served <= step.after
        assert step.alone == spike.simulate(1000, 10, world, frozenset({step.wall})).served
    assert packaged.served == spike.simulate(1000, 10, world).served


def test_every_quota_is_read_by_the_model_or_the_code() -> None:
    # A figure in quotas.json nothing reads is a figure that drifts unseen.
    sources = "".join(
        path.read_text()
        for folder in ("benchmark", "infrastructure", "tools")
        for path in (ROOT / folder).rglob("*.py")
    )
    unread = [name for name in QUOTAS if not name.startswith("_") and name not in ("as_of", "region")
              and f'"{name}"' not in sources and f"'{name}'" not in sources]  # fmt: skip
    assert unread == []


@pytest.mark.parametrize("stage", ["prod", "dev"])
def test_make_spike_names_its_walls_from_the_packaged_stage(
    packaged: Callable[..., Path], tmp_path: Path, stage: str
) -> None:
    tune_json = measured(tmp_path)
    result = subprocess.run(
        [str(ROOT / ".venv/bin/python"), "-m", "benchmark.spike", f"--stage={stage}", "--no-chart",
         f"--package-dir={packaged(stage)}", f"--tune={tune_json}"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    )  # fmt: skip
    out = result.stdout
    walls = re.findall(r"^(\d+)\. ", out, re.MULTILINE)
    assert walls == [str(n) for n in range(1, len(walls) + 1)]
    assert out.count("raising it alone: served") == len(walls) > 0
    assert "the page (chalicelib/site/app.js): retries the API 3 times and Cognito 4 times" in out
    if stage == "prod":
        assert "e-mail: SES, production access" in out
        assert "assumed: SES sends 14/s" in out
        assert "1. SES (the pool's sender)" in out  # the raise that serves the most first
        assert "Cognito UserCreation" in out
        assert "RPS bought: $" in out  # Cognito's capacity above its quota is paid for
        # Every stage's environments in the account read one 40 a second: 2 x 1,000 / 60.
        assert "read Parameter Store up to 33.3 times a second" in out
        assert "83% of its default 40/s" in out
        assert "shared: stage dev" in out
    else:
        assert "keeps Cognito's default sender: 50 e-mails a day" in out
        assert "1. Cognito's e-mail sender: 50 e-mails a day" in out
        assert "raising it alone: served 50 -> " in out


def measured(tmp_path: Path) -> Path:
    """A `make tune` result of 2 ms a request and a 300 ms cold start, 200 log bytes each."""
    path = tmp_path / "tune.json"
    routes = capacity_routes()
    path.write_text(json.dumps({
        "measured": {"warm_ms": dict.fromkeys(routes, 2.0), "cold_ms": 300.0,
                     "log_bytes": dict.fromkeys(routes, 200)},
        "dynamodb_ms": 5.0,
    }))  # fmt: skip
    return path


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


def _stubbed(service: str, answers: list[tuple[str, dict[str, Any], dict[str, Any] | None]]) -> Any:
    """A client of `service` that answers as botocore's model of the service says it may (moto
    has neither sesv2's GetAccount, Cognito's GetProvisionedLimit nor these Service Quotas):
    each request and answer is checked against the service's own shapes; nothing is sent."""
    import boto3
    from botocore.stub import Stubber

    client = boto3.client(service, region_name="us-east-1")
    stubber = Stubber(client)
    for operation, answer, expected in answers:
        stubber.add_response(operation, answer, expected)
    stubber.activate()
    return client


def test_account_reads_the_accounts_own_quotas_in_place_of_the_documented_defaults() -> None:
    ses = _stubbed("sesv2", [("get_account", {
        "ProductionAccessEnabled": False,
        "SendQuota": {"Max24HourSend": 200.0, "MaxSendRate": 1.0, "SentLast24Hours": 0.0},
    }, {})])  # fmt: skip
    cognito = _stubbed("cognito-idp", [
        ("get_provisioned_limit", {"Limit": {
            "LimitDefinition": {"LimitClass": "API_CATEGORY", "Attributes": {"Category": category}},
            "FreeLimitValue": int(QUOTAS[key]["value"]),
            "ProvisionedLimitValue": int(QUOTAS[key]["value"]) * 3,
        }}, {"LimitDefinition": {"LimitClass": "API_CATEGORY", "Attributes": {"Category": category}}})
        for category, key in capacity.CATEGORY_QUOTAS.items()
    ])  # fmt: skip
    listed = {"lambda": [("Concurrent executions", 3000.0)], "apigateway": [("Throttle rate", 20000.0)],
              "dynamodb": [("Some other quota", 1.0)]}  # fmt: skip
    service_quotas = _stubbed("service-quotas", [
        ("list_service_quotas", {"Quotas": [
            {"ServiceCode": service, "QuotaName": name, "QuotaCode": "L-0000000" + str(n), "Value": value}
            for n, (name, value) in enumerate(quotas_listed)
        ]}, {"ServiceCode": service})
        for service, quotas_listed in listed.items()
    ])  # fmt: skip
    read, sandbox, lines = spike.account_quotas(QUOTAS, ses, cognito, service_quotas)
    assert sandbox
    assert (read["ses_sandbox_per_day"]["value"], read["ses_sandbox_per_second"]["value"]) == (200.0, 1.0)
    assert read["cognito_user_creation_rps"]["value"] == 3 * QUOTAS["cognito_user_creation_rps"]["value"]
    assert read["lambda_concurrency"]["value"] == 3000.0
    assert read["apigateway_account_rps"]["value"] == 20000.0
    assert read["dynamodb_table_wru"] == QUOTAS["dynamodb_table_wru"]  # not listed: the default stays
    assert any("not listed by Service Quotas" in line for line in lines)
    assert QUOTAS["lambda_concurrency"]["value"] == 1000  # the documented defaults are left alone
    # Read this way, a crowd meets the account's rates: three times the sign-ups a second.
    world = spike.World(ROOMY, read, FAST, UNITS)
    assert spike.simulate(150, 1, world).walls.keys().isdisjoint({"UserCreation"})
    assert "UserCreation" in spike.simulate(150, 1, world._replace(quotas=QUOTAS)).walls


def test_account_without_credentials_is_a_message_not_a_traceback(
    packaged: Callable[..., Path], tmp_path: Path
) -> None:
    import os

    tune_json = measured(tmp_path)
    keys = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE")
    env = {k: v for k, v in os.environ.items() if k not in keys}
    env |= {"AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
            "AWS_EC2_METADATA_DISABLED": "true", "AWS_DEFAULT_REGION": "us-east-1"}  # fmt: skip
    result = subprocess.run(
        [str(ROOT / ".venv/bin/python"), "-m", "benchmark.spike", "--account", "--no-chart",
         f"--package-dir={packaged('prod')}", f"--tune={tune_json}"],
        cwd=ROOT, capture_output=True, text=True, check=False, env=env, timeout=60,
    )  # fmt: skip
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert "ACCOUNT=1 reads your account's quotas with your AWS credentials, and could not" in result.stderr


def test_make_cost_shows_the_spikes_price(packaged: Callable[..., Path], tmp_path: Path) -> None:
    tune_json = measured(tmp_path)
    readme = (ROOT / "benchmark/README.md").read_text()
    result = subprocess.run(
        [str(ROOT / ".venv/bin/python"), "-m", "benchmark.spike", "--price", "--no-write", "--stage=prod",
         f"--package-dir={packaged('prod')}", f"--tune={tune_json}"],
        cwd=ROOT, capture_output=True, text=True, check=True, timeout=120,
    )  # fmt: skip
    assert result.stdout.startswith("A spike as `make spike` plays it, on this configuration: 10,000 people")
    assert re.search(r"\+\d[\d,]* UserCreation", result.stdout)
    assert (ROOT / "benchmark/README.md").read_text() == readme  # --no-write

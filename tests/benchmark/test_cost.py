"""`make cost`'s arithmetic on fixed inputs, and DynamoDB's capacity rules as AWS states them."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from benchmark import cost, tune
from infrastructure import stages
from tests.support import ROOT

# DynamoDB developer guide, "Item sizes and formats": a string is its UTF-8 bytes; a
# number about one byte per two significant digits (leading and trailing zeros trimmed)
# plus one; a boolean or null one byte; a map or list 3 bytes plus one per element; every
# attribute adds its name's bytes.
SIZES = [
    ({"a": {"S": "b"}}, 2),
    ({"title": {"S": "é"}}, 5 + 2),
    ({"n": {"N": "12345"}}, 1 + 3 + 1),
    ({"n": {"N": "0.0100"}}, 1 + 1 + 1),
    ({"n": {"N": "-120"}}, 1 + 1 + 1),
    ({"done": {"BOOL": True}}, 4 + 1),
    ({"m": {"M": {"k": {"S": "vv"}}}}, 1 + 3 + (1 + 1 + 2)),
    ({"l": {"L": [{"S": "x"}, {"BOOL": False}]}}, 1 + 3 + (1 + 1) + (1 + 1)),
]


@pytest.mark.parametrize(("item", "size"), SIZES)
def test_item_sizes_follow_dynamodbs_rules(item: dict[str, Any], size: int) -> None:
    assert cost.item_size(item) == size


def test_capacity_units_round_up_per_request_as_dynamodb_bills_them() -> None:
    # One write unit per 1 KB (at least one), doubled in a transaction; one read unit per
    # 4 KB (at least one) strongly consistent, half eventually consistent.
    assert [cost.write_units(n) for n in (1, 1024, 1025, 3000)] == [1, 1, 2, 3]
    assert cost.write_units(1025, transactional=True) == 4
    assert [cost.read_units(n, consistent=True) for n in (1, 4096, 4097)] == [1, 1, 2]
    assert cost.read_units(4097, consistent=False) == 1.0
    assert cost.read_units(10, consistent=False) == 0.5


def test_units_per_operation_from_the_items_the_store_writes() -> None:
    # The sample open todo, by hand: owner 5+36, id 2+26, title 5+30, completed 9+1,
    # createdAt and updatedAt 9+24 each, version 7+2, schemaVersion 13+2, openId 6+26,
    # order 5+2 = 243 bytes. Completed: doneId instead of openId, plus completedAt 11+24 and
    # purgeShard 10+2 = 290; its purge-index entry (the table's keys and the index's)
    # 41+28+12+35 = 116.
    assert cost.item_size(cost._sample(False)) == 243
    assert cost.item_size(cost._sample(True)) == 290
    units = cost.operation_units(page=20)
    # 20 x 243 bytes, one Query: 2 x 4 KB; and the first page's read of the owner's counter.
    assert units["GET /todos"] == cost.Units(3, 0)
    assert units["GET /todos/{id}"] == cost.Units(1, 0)
    # The owner's counter: owner 5 + 42 ("<sub>#usage"), id 2 + 5, todoCount 9 + 3 (9999),
    # seq 3 + 4 (999999).
    assert cost._count_size() == 5 + 42 + 2 + 5 + 9 + 3 + 3 + 4
    # A log entry: owner 5 + 44 ("<sub>#changes"), id 2 + 15, todo 4 + 3 + the completed todo
    # as a map (its 12 names one byte each more: 290 + 12), deleted 7 + 1, expiresAt 9 + 2
    # (1,800,000,000: two significant digits).
    assert cost._sync_sizes()[0] == 5 + 44 + 2 + 15 + 4 + 3 + 290 + 12 + 7 + 1 + 9 + 2
    # A create reads the counter, then one transaction (each item x 2): the table and `open`,
    # the counter, the log entry.
    assert units["POST /todos"] == cost.Units(1, 4 + 2 + 2)
    # Completing reads the todo and the counter; in the transaction: the table, out of `open`,
    # into `done`, into the purge index, the counter, the log entry.
    assert units["PATCH /todos/{id}"] == cost.Units(2, 12, 2)  # 2 of them on the purge index
    # A delete: the table and `open`, the counter, the tombstone, the log entry.
    assert units["DELETE /todos/{id}"] == cost.Units(2, 10)
    # 20 transactional deletes, each from the table, `done` and the purge index, with a
    # tombstone and a log entry (20 x 2 x 5), and one counter update (2) and read (1).
    assert units["DELETE /todos?completed=true"] == cost.Units(3, 202, 40)  # 20 x 2 on the purge index


PRICES: dict[str, Any] = {
    "as_of": "test",
    "region": "test",
    "lambda": {
        "requests_per_million": 0.2,
        "gb_second": {"arm64": 1e-5, "x86_64": 2e-5},
        "provisioned_gb_second": {"arm64": 1e-6},
        "provisioned_duration_gb_second": {"arm64": 5e-6},
        "snapstart_cache_gb_second": 1e-6,
        "snapstart_restore_gb": 1e-4,
    },
    "api_gateway": {"rest_per_million": [[None, 3.5]], "http_per_million": [[None, 1.0]]},
    "dynamodb": {
        "read_request_unit_per_million": 0.125,
        "write_request_unit_per_million": 0.625,
        "storage_gb_month": 0.25,
        "point_in_time_recovery_gb_month": 0.2,
        "backup_gb_month": 0.1,
    },
    "cloudwatch": {
        "logs_ingested_gb": 0.5,
        "logs_stored_gb_month": 0.03,
        "custom_metric_month": 0.3,
        "alarm_metric_month": 0.1,
        "dashboard_month": 3.0,
    },
    "xray": {
        "traces_recorded_per_million": 5.0,
        "default_sampling": {"reservoir_per_second": 1, "rate": 0.05},
    },
    "cognito": {"plans": {plan: {"per_mau": [[None, 0.015]]} for plan in ("LITE", "ESSENTIALS", "PLUS")}},
    "waf": {"web_acl_month": 5.0, "rule_month": 1.0, "requests_per_million": 0.6},
    "container": {
        "vcpu": 0.5,
        "memory_gb": 1.0,
        "vcpu_hour": 0.03238,
        "gb_hour": 0.00356,
        "load_balancer_hour": 0.0225,
        "load_balancer_lcu_hour": 0.008,
        "hours_month": 730,
    },
}
CONFIG = cost.Configuration(
    name="test",
    memory_mb=1769,
    architecture="arm64",
    api="rest",
    log_retention_days=30,
    tracing=False,
    provisioned_concurrency=0,
    snapstart=False,
    waf_rules=None,
    alarm_metrics=0,
    access_log_bytes=100,
)
CPU = {name: 2.0 if name == "DELETE /todos?completed=true" else 1.0 for name in tune.MIX}
MEASURED = cost.Measured(
    cpu_ms=CPU, cold_cpu_ms=100.0, log_bytes=dict.fromkeys(tune.MIX, 200), dynamodb_ms=5.0
)
MILLION = cost.Profile(requests=1_000_000, users=0, cold_share=0.0, metric_pairs=0)


def test_a_month_of_a_million_requests_by_hand() -> None:
    lines = cost.monthly(CONFIG, MILLION, MEASURED, PRICES)
    gb = 1769 / 1024
    # Lambda: (a million + 720 hourly purge runs + 43,200 runs of finish_clears) requests;
    # each API request 1 ms of CPU plus 5 ms per round trip: two for the list's first page and
    # each change (its read of the owner's counter first), one for a GET of one todo, three for
    # the clear (2 ms + 3 x 5); billed at 1,769 MB; each purge run a 100 ms cold start and 16
    # queries of 5 ms; each finish_clears run warm, one query of 5 ms.
    warm = 1e6 * (0.93 * 11 + 0.05 * 6 + 0.02 * 17) / 1000 * gb
    jobs = 720 * (100 + 80) / 1000 * gb + 43_200 * 5 / 1000 * gb
    assert lines["Lambda"] == pytest.approx((1e6 + 720 + 43_200) * 0.2 / 1e6 + (warm + jobs) * 1e-5)
    assert lines["API Gateway"] == pytest.approx(3.5)
    # Per request (cost.operation_units): reads 0.5 x 3 + 0.15 x 1 + 0.2 x 2 + 0.05 x 1 + 0.08 x 2
    # + 0.02 x 3, writes 0.15 x 8 + 0.2 x 12 + 0.08 x 10 + 0.02 x 202; the purge's 16 eventually
    # consistent queries an hour, half a unit each; finish_clears' one consistent query a minute.
    reads, writes = 2.32e6 + 720 * 16 * 0.5 + 43_200, 8.44e6
    assert lines["DynamoDB"] == pytest.approx(reads * 0.125 / 1e6 + writes * 0.625 / 1e6)
    # 200 bytes of our line, Lambda's 330, the access log's 100, kept 30 days.
    # And finish_clears' runs: its 400-byte line and Lambda's 330.
    logged = 630 * 1e6 / 1e9 + 43_200 * 730 / 1e9
    assert lines["CloudWatch Logs"] == pytest.approx(logged * (0.5 + 0.03))
    assert lines["CloudWatch metrics and alarms"] == pytest.approx(6 * 0.3)  # each job's three
    assert lines["Cognito"] == 0
    assert "X-Ray" not in lines
    assert "WAF" not in lines


def test_options_add_their_lines() -> None:
    profile = MILLION._replace(requests=10_000_000, users=1000, cold_share=0.01)
    config = CONFIG._replace(tracing=True, waf_rules=3, provisioned_concurrency=2, snapstart=True)
    lines = cost.monthly(config, profile, MEASURED, PRICES)
    # The default sampling rule: one request a second, then 5% of the rest.
    month = 30 * 24 * 3600
    assert lines["X-Ray"] == pytest.approx((month + 0.05 * (1e7 - month)) * 5 / 1e6)
    assert lines["WAF"] == pytest.approx(5 + 3 + 10 * 0.6)
    assert lines["WAF logs"] == pytest.approx(1e7 * cost.WAF_LOG_BYTES / 1e9 * (0.5 + 0.03))
    assert lines["Cognito"] == pytest.approx(15.0)
    with_dashboard = cost.monthly(CONFIG._replace(dashboards=1), profile, MEASURED, PRICES)
    assert with_dashboard["CloudWatch metrics and alarms"] == pytest.approx(
        cost.monthly(CONFIG, profile, MEASURED, PRICES)["CloudWatch metrics and alarms"] + 3.0
    )
    gb = 1769 / 1024
    assert lines["Lambda provisioned concurrency"] == pytest.approx(2 * gb * month * 1e-6)
    assert lines["Lambda SnapStart"] == pytest.approx(gb * month * 1e-6 + 1e5 * gb * 1e-4)

    # Weekly backups kept a year: 53 whole copies of the stored table, at the backup price.
    kept = cost.monthly(CONFIG._replace(backups_kept=53), profile, MEASURED, PRICES)
    stored_gb = profile.users * cost.TODOS_PER_USER * cost.stored_bytes_per_todo(cost.COMPLETED_SHARE) / 1e9
    assert kept["DynamoDB backups"] == pytest.approx(53 * stored_gb * 0.1)
    assert "DynamoDB backups" not in lines


def test_the_backups_kept_are_read_from_the_packaged_plan(packaged: Callable[..., Path]) -> None:
    kept = cost.configuration(json.loads((packaged("prod", None, backup_days=365) / "sam.json").read_text()))
    assert kept.backups_kept == 53  # 365 days of one a week
    assert cost.configuration(json.loads((packaged("prod") / "sam.json").read_text())).backups_kept == 0


def test_gateway_prices_are_tiered() -> None:
    tiers = json.loads((ROOT / "benchmark/prices.json").read_text())["api_gateway"]["rest_per_million"]
    assert cost._tiered(400e6, tiers) == pytest.approx(333 * 3.5 + 67 * 2.8)
    assert cost._tiered(1e6, [[None, 1.0]]) == pytest.approx(1.0)


def test_the_break_even_is_where_lambda_and_the_gateway_cost_what_the_container_does() -> None:
    container = cost.container_monthly(PRICES)
    assert container == pytest.approx((0.5 * 0.03238 + 0.00356 + 0.0225 + 0.008) * 730)
    for config in (CONFIG, CONFIG._replace(api="http")):
        even = cost.break_even(config, MEASURED, PRICES)
        front = cost.monthly(config, cost.Profile(int(even), 0, 0.001, 0), MEASURED, PRICES)
        assert sum(v for k, v in front.items() if k in cost.FRONT) == pytest.approx(container, rel=1e-3)
    assert cost.break_even(CONFIG._replace(api="http"), MEASURED, PRICES) > cost.break_even(
        CONFIG, MEASURED, PRICES
    )


def test_the_configuration_is_read_from_the_packaged_template(packaged: Callable[..., Path]) -> None:
    template = json.loads((packaged("dev") / "sam.json").read_text())
    config = cost.configuration(template)
    document = stages.document()
    assert config.memory_mb == document["lambda_memory_size"]
    assert config.architecture == document["lambda_architecture"]
    assert config.api == "rest"
    assert config.log_retention_days == stages.log_retention_days("dev")
    assert config.tracing is document["xray"]
    assert config.waf_rules is None
    alarms = [r for r in template["Resources"].values() if r["Type"] == "AWS::CloudWatch::Alarm"]
    assert config.alarm_metrics >= len(alarms) > 0
    assert config.access_log_bytes > 50
    assert config.dashboards == 1
    http = cost.configuration(json.loads((packaged("dev", api="http") / "sam.json").read_text()))
    assert http._replace(api="rest", access_log_bytes=0) == config._replace(access_log_bytes=0)
    assert http.api == "http"


@pytest.mark.server
def test_make_cost_prints_every_profile_and_draws_its_chart(
    packaged: Callable[[str], Path], tmp_path: Path
) -> None:
    measured = tmp_path / "tune.json"
    measured.write_text(
        json.dumps({"measured": MEASURED._asdict() | {"warm_ms": CPU, "cold_ms": 100.0}, "dynamodb_ms": 5.0})
    )
    result = subprocess.run(
        [
            sys.executable,
            "-B",
            "-m",
            "benchmark.cost",
            "--template",
            str(packaged("dev") / "sam.json"),
            "--measured",
            str(measured),
            "--out",
            str(tmp_path),
            "--no-write",
        ],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert all(name in result.stdout for name in cost.PROFILES)
    assert "break-even" in result.stdout
    assert (tmp_path / "cost.png").read_bytes().startswith(b"\x89PNG")


def test_the_pool_is_on_the_cheapest_plan_with_every_feature_it_uses(packaged: Callable[..., Path]) -> None:
    from benchmark.cost import check_plan

    template = json.loads((packaged("prod") / "sam.json").read_text())
    pool = template["Resources"]["UserPool"]["Properties"]
    assert "LITE, the cheapest plan" in check_plan(template)
    pool["UserPoolTier"] = "ESSENTIALS"  # dearer, for nothing it uses
    with pytest.raises(SystemExit, match=r"plan is ESSENTIALS, but it uses nothing beyond LITE"):
        check_plan(template)
    pool["Policies"]["PasswordPolicy"]["PasswordHistorySize"] = 5  # now Essentials earns its price
    assert "ESSENTIALS, the cheapest plan" in check_plan(template)
    pool["UserPoolAddOns"] = {"AdvancedSecurityMode": "AUDIT"}
    with pytest.raises(SystemExit, match=r"uses .*threat protection.*: PLUS is the cheapest"):
        check_plan(template)


def test_each_feature_plan_is_priced_on_its_own_tiers() -> None:
    prices = {"cognito": {"plans": {
        "LITE": {"per_mau": [[100, 0.5], [None, 0.25]]},
        "ESSENTIALS": {"per_mau": [[None, 1.0]]},
        "PLUS": {"per_mau": [[None, 2.0]]},
    }}}  # fmt: skip
    profile = cost.Profile(requests=0, users=300, cold_share=0.0, metric_pairs=0)
    lite = cost.monthly(CONFIG._replace(plan="LITE"), profile, MEASURED, {**PRICES, **prices})["Cognito"]
    plus = cost.monthly(CONFIG._replace(plan="PLUS"), profile, MEASURED, {**PRICES, **prices})["Cognito"]
    assert (lite, plus) == (100 * 0.5 + 200 * 0.25, 600.0)
    table = "\n".join(cost.plans(CONFIG._replace(plan="LITE"), {**PRICES, **prices}, "why"))
    assert all(f"| {row} |" in table for row in ("LITE (packaged)", "ESSENTIALS", "PLUS"))


def test_a_spike_is_priced_with_the_cognito_capacity_its_peaks_need(packaged: Callable[..., Path]) -> None:
    from benchmark import spike
    from benchmark.tune import prices

    template = json.loads((packaged("prod") / "sam.json").read_text())
    world = spike.world_of(template, MEASURED)
    peaks = spike.simulate(10_000, 60, world, lifted=frozenset(spike.WALLS)).peaks
    crowd = spike.price(template, MEASURED, prices())
    creation = peaks["UserCreation"] - world.quotas["cognito_user_creation_rps"]["value"]
    assert crowd.bought["UserCreation"] == creation > 0
    part = prices()["cognito"]["provisioned_rps_part_month"]
    assert crowd.capacity_part == sum(crowd.bought.values()) * part
    assert crowd.usage > 0
    few = spike.price(template, MEASURED, prices(), users=100, over=600)
    assert (few.bought, few.capacity_part) == (dict.fromkeys(few.bought, 0), 0)
    assert few.usage < crowd.usage

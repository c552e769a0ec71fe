"""`make cost`: what the packaged stack costs a month, at three traffic profiles.

Inputs, none typed in by hand except the stated assumptions below:
- the packaged template (`make package`): memory, architecture, API type, log retention,
  tracing, provisioned concurrency, SnapStart, a WAF, the alarms and their metrics;
- `make tune`'s measurements (build/tune.json): CPU per request of each kind and of a
  cold start, the bytes each request writes to the log, modelled into billed duration;
- DynamoDB read and write units per operation, by AWS's rules (`item_size`,
  `read_units`, `write_units`) applied to items encoded as the store encodes them, with
  the writes to each index an item is in;
- prices from benchmark/prices.json, one dated file with its sources.

Prints, and writes to benchmark/README.md's cost section, a line per service at each profile,
the totals of other configurations (HTTP API, x86_64) and the break-even against one
always-on container; and plots cost against traffic (docs/cost.png).
"""

from __future__ import annotations

import argparse
import json
import math
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple

from benchmark import plot, tune
from benchmark.harness import write_section
from chalicelib import schema
from chalicelib.settings import SETTINGS
from chalicelib.todos import Todo
from infrastructure import backups, identity, stages

SECONDS_A_MONTH = 30 * 24 * 3600
# Shown in benchmark/README.md: the recorded run, like its tables (--no-write: into --out instead).
CHART = stages.ROOT / "docs/cost.png"
MARKERS = ("<!-- cost:start -->", "<!-- cost:end -->")


# --- DynamoDB's capacity rules (developer guide: "Item sizes and formats", "Read and write
# capacity units", "Secondary indexes: provisioned throughput considerations") ----------


def _number_size(text: str) -> int:
    """A number: about one byte per two significant digits, plus one."""
    digits = text.lstrip("-").replace(".", "").strip("0") or "0"
    return math.ceil(len(digits) / 2) + 1


def value_size(value: Mapping[str, Any]) -> int:
    (kind, content), *_ = value.items()
    if kind == "S":
        return len(content.encode())
    if kind == "N":
        return _number_size(content)
    if kind == "B":
        return len(content)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "M":
        return 3 + sum(1 + len(k.encode()) + value_size(v) for k, v in content.items())
    if kind == "L":
        return 3 + sum(1 + value_size(v) for v in content)
    if kind in ("SS", "NS", "BS"):
        return sum(_number_size(v) if kind == "NS" else len(v) for v in content)
    raise ValueError(f"unknown DynamoDB type {kind}")


def item_size(item: Mapping[str, Any]) -> int:
    """An item's size as DynamoDB bills it: each attribute's name and value, in bytes."""
    return sum(len(name.encode()) + value_size(value) for name, value in item.items())


def write_units(size: int, *, transactional: bool = False) -> int:
    """Write request units for one write: one per 1 KB, at least one; two in a transaction."""
    return max(1, math.ceil(size / 1024)) * (2 if transactional else 1)


def read_units(size: int, *, consistent: bool) -> float:
    """Read request units for one read of `size` bytes (a Query: all it returned): one per
    4 KB, at least one, strongly consistent; half that, eventually consistent."""
    units = max(1, math.ceil(size / 4096))
    return float(units) if consistent else units / 2


class Units(NamedTuple):
    reads: float
    writes: float  # all of them, as billed: the table's, its local indexes' and the global one's
    # The part of `writes` that lands on the global (purge) index, which has a warm throughput
    # of its own; local indexes share the table's ("Local secondary indexes": they share the
    # table's throughput, developer guide).
    global_writes: float = 0


def _todo(completed: bool) -> Todo:
    """A todo with a 30-character title."""
    return Todo(
        owner="6f1c0d52-3c4e-4f0a-9a53-5c1f3d1e9b21",
        id="01ARYZ6S41TSV4RRFFQ69G5FAV",
        title="buy milk and eggs on the way h",
        completed=completed,
        order=12,
        created_at="2026-11-27T12:00:00.000Z",
        updated_at="2026-11-27T12:00:00.000Z",
        version=3,
        completed_at="2026-11-27T12:00:00.000Z" if completed else None,
    )


def _sample(completed: bool) -> dict[str, Any]:
    """A todo as the store writes it."""
    return schema.item(_todo(completed))


def _sizes() -> tuple[int, int, int]:
    """Bytes of an open todo, a completed one, and a completed one's purge-index entry
    (keys only: the table's keys and the index's, from schema.TABLE_DEFINITION)."""
    done = _sample(True)
    (purge_index,) = schema.TABLE_DEFINITION["GlobalSecondaryIndexes"]
    keys = [k["AttributeName"] for k in (*schema.TABLE_DEFINITION["KeySchema"], *purge_index["KeySchema"])]
    return item_size(_sample(False)), item_size(done), item_size({name: done[name] for name in keys})


def _sync_sizes() -> tuple[int, int]:
    """Bytes of a change's log entry and of a tombstone, each holding a todo (schema.py)."""
    todo = _todo(True)
    entry = schema.change_entry(todo.owner, 10**9, todo, deleted=False, expires_epoch=1_800_000_000)
    return item_size(entry), item_size(schema.tombstone(todo, 10**9, 1_800_000_000))


def operation_units(page: int = tune.PAGE) -> dict[str, Units]:
    """Units per request of each kind in tune.MIX, from real item sizes.

    An open todo is in the table and the `open` index (all attributes projected); a
    completed one in the table, the `done` index and the keys-only purge index (the
    table's keys and the index's). A change of an index key deletes the old entry and
    puts the new one: two index writes.

    Every change is sequenced (schema.sequenced): it first reads its owner's counter (and the
    todo, for a change or delete), strongly consistent, then writes in one transaction the
    todo, the counter and a log entry (and, for a delete, a tombstone). The first page of a
    list reads the counter too (its Sync-Token and ETag).
    """
    open_size, done_size, purge_entry = _sizes()
    log, stone = _sync_sizes()
    count = write_units(_count_size(), transactional=True)
    logged = write_units(log, transactional=True)
    counter_read = read_units(_count_size(), consistent=True)
    todo_read = read_units(max(open_size, done_size), consistent=True)
    toggle = (
        write_units(max(open_size, done_size), transactional=True)  # the table
        + write_units(open_size, transactional=True)  # out of `open`
        + write_units(done_size, transactional=True)  # into `done`
        + write_units(purge_entry, transactional=True)  # into the purge index
    )
    delete_done = sum(write_units(size, transactional=True) for size in (done_size, done_size, purge_entry))
    purged = write_units(purge_entry, transactional=True)  # of delete_done, on the purge index
    kept = write_units(stone, transactional=True) + logged  # each delete's tombstone and log entry
    open_todo = write_units(open_size, transactional=True) * 2  # the table and `open`
    chunks = math.ceil(page / 25)  # one counter update (and read) per transaction of 25 deletes
    return {
        "GET /todos": Units(read_units(page * open_size, consistent=True) + counter_read, 0),
        "POST /todos": Units(counter_read, open_todo + count + logged),
        "PATCH /todos/{id}": Units(
            counter_read + todo_read, toggle + count + logged, write_units(purge_entry, transactional=True)
        ),
        "GET /todos/{id}": Units(read_units(open_size, consistent=True), 0),
        "DELETE /todos/{id}": Units(counter_read + todo_read, open_todo + count + kept),
        "DELETE /todos?completed=true": Units(
            read_units(page * done_size, consistent=True) + chunks * counter_read,
            page * (delete_done + kept) + chunks * count,
            page * purged,
        ),
    }


def _count_size() -> int:
    """Bytes of an owner's count item, as create and delete leave it."""
    owner = "6f1c0d52-3c4e-4f0a-9a53-5c1f3d1e9b21"
    return item_size(
        {
            **schema.usage_key(owner),
            schema.COUNT: {"N": "9999"},
            schema.SEQ: {"N": "999999"},
        }
    )


def stored_bytes_per_todo(completed_share: float) -> float:
    """Storage: each item and index entry plus DynamoDB's 100 bytes of overhead each."""
    open_size, done_size, purge_entry = _sizes()
    open_bytes = 2 * (open_size + 100)
    done_bytes = 2 * (done_size + 100) + purge_entry + 100
    return (1 - completed_share) * open_bytes + completed_share * done_bytes


# --- what the stack is -----------------------------------------------------------------


class Configuration(NamedTuple):
    name: str
    memory_mb: int
    architecture: str
    api: str  # "rest" or "http"
    log_retention_days: int
    tracing: bool
    provisioned_concurrency: int
    snapstart: bool
    waf_rules: int | None  # None: no web ACL
    alarm_metrics: int
    access_log_bytes: int
    dashboards: int = 0
    settings_seconds: float = 60.0  # how often each environment reads the runtime settings
    plan: str = identity.USER_POOL_TIER  # the user pool's feature plan
    backups_kept: int = 0  # whole copies of the table kept at once (infrastructure/backups.py)


def settings_seconds(function: Mapping[str, Any]) -> float:
    """A packaged function's period of reading the runtime settings (chalicelib/settings.py)."""
    variables = function.get("Environment", {}).get("Variables", {})
    return float(stages.variable(variables, "TODO_SETTINGS_SECONDS"))


def _access_log_bytes(log_format: str) -> int:
    """An access log line: the format with each $context variable as a 24-byte value."""
    return len(re.sub(r"\$context\.[A-Za-z.]+", "x" * 24, log_format).encode()) + 1


def configuration(template: Mapping[str, Any], name: str = "as packaged") -> Configuration:
    resources = template["Resources"]
    function = resources["APIHandler"]["Properties"]
    apis = [
        r for r in resources.values() if r["Type"] in ("AWS::Serverless::Api", "AWS::Serverless::HttpApi")
    ]
    (api,) = apis
    log_format = api["Properties"].get("AccessLogSetting", api["Properties"].get("AccessLogSettings", {}))
    acls = [r for r in resources.values() if r["Type"] == "AWS::WAFv2::WebACL"]
    alarm_metrics = sum(
        len([m for m in r["Properties"].get("Metrics", []) if "MetricStat" in m]) or 1
        for r in resources.values()
        if r["Type"] == "AWS::CloudWatch::Alarm"
    )
    retention = {
        r["Properties"].get("RetentionInDays")
        for r in resources.values()
        if r["Type"] == "AWS::Logs::LogGroup"
    }
    if len(retention) != 1 or None in retention:
        raise SystemExit(f"the log groups' retention is not one number: {retention}")
    return Configuration(
        name=name,
        memory_mb=int(function["MemorySize"]),
        architecture=function.get("Architectures", ["x86_64"])[0],
        api="http" if api["Type"] == "AWS::Serverless::HttpApi" else "rest",
        log_retention_days=int(retention.pop()),
        tracing=function.get("Tracing") == "Active",
        provisioned_concurrency=int(
            function.get("ProvisionedConcurrencyConfig", {}).get("ProvisionedConcurrentExecutions", 0)
        ),
        snapstart=function.get("SnapStart", {}).get("ApplyOn") == "PublishedVersions",
        waf_rules=len(acls[0]["Properties"]["Rules"]) if acls else None,
        alarm_metrics=alarm_metrics,
        access_log_bytes=_access_log_bytes(log_format.get("Format", "")) if log_format else 0,
        dashboards=sum(r["Type"] == "AWS::CloudWatch::Dashboard" for r in resources.values()),
        settings_seconds=settings_seconds(function),
        plan=str(resources["UserPool"]["Properties"]["UserPoolTier"]),
        backups_kept=backups_kept(resources),
    )


def backups_kept(resources: Mapping[str, Any]) -> int:
    """How many weekly backups the stack keeps at once: its plan's days over a week's."""
    plan = resources.get("BackupPlan", {}).get("Properties", {}).get("BackupPlan", {})
    days: int = sum(int(rule["Lifecycle"]["DeleteAfterDays"]) for rule in plan.get("BackupPlanRule", []))
    return math.ceil(days / backups.EVERY_DAYS)


# --- who uses it ---------------------------------------------------------------------


class Profile(NamedTuple):
    requests: int  # a month, in tune.MIX's proportions
    users: int  # monthly active users
    cold_share: float  # of requests that meet a cold start (stated: sparse traffic meets more)
    metric_pairs: int  # distinct (route, status) pairs a month: each is its own EMF metric


def profile_at(requests: int) -> Profile:
    """Who sends `requests` a month (stated): a user sends about a thousand (some 30 a day),
    sparse traffic meets more cold starts, and busier APIs see more (route, status) pairs."""
    if requests <= 10_000:
        return Profile(requests, max(20, requests // 1000), 0.20, 12)
    if requests <= 1_000_000:
        return Profile(requests, requests // 1000, 0.01, 20)
    return Profile(requests, requests // 1000, 0.001, 25)


PROFILES = {
    name: profile_at(n) for name, n in (("10 thousand", 10_000), ("1 million", 10**6), ("100 million", 10**8))
}
TODOS_PER_USER = 30
COMPLETED_SHARE = 0.3
# Lambda's own lines per invocation (START, END, REPORT, and REPORT's X-Ray line), as
# Lambda writes them: about this many bytes (stated, not measured here).
PLATFORM_LOG_BYTES = 330
# A WAF log record (the request's headers, the rules that matched, the action): about this
# many bytes (stated, not measured here).
WAF_LOG_BYTES = 1500
# EMF metrics per (route, status) pair: Requests and Latency (and a few pairs more).
METRICS_PER_PAIR = 2
JOB_METRICS = 3  # per scheduled job: ItemsDeleted, JobRuns, RunsBehind
JOB_RUNS = 30 * 24  # purge_completed: hourly
JOB_QUERIES = len(schema.PURGE_SHARD_NAMES)
# finish_clears: every minute (so kept warm), one strongly consistent Query of the running
# jobs (one read unit while they are few), and its job line (about this many bytes, stated).
CLEAR_RUNS = 30 * 24 * 60
CLEAR_LINE_BYTES = 400


def _tiered(count: float, tiers: Sequence[Sequence[Any]], unit: float = 1e6) -> float:
    """Price `count` on tiers of [this many more, $ per `unit`] (None: the rest): requests
    per million, monthly active users one by one."""
    cost, left = 0.0, count
    for size, price in tiers:
        part = left if size is None else min(left, size)
        cost += part * price / unit
        left -= part
        if left <= 0:
            break
    return cost


class Measured(NamedTuple):
    cpu_ms: dict[str, float]
    cold_cpu_ms: float
    log_bytes: dict[str, int]
    dynamodb_ms: float


def load_measured(path: Path) -> Measured:
    data = json.loads(path.read_text())
    m = data["measured"]
    return Measured(m["warm_ms"], m["cold_ms"], m["log_bytes"], data["dynamodb_ms"])


def monthly(
    config: Configuration, profile: Profile, measured: Measured, prices: Mapping[str, Any]
) -> dict[str, float]:
    """Dollars a month, per service, for `config` serving `profile`."""
    mix = tune.MIX
    lam = prices["lambda"]
    requests = profile.requests
    memory_gb = config.memory_mb / 1024
    gbs_price = lam["gb_second"][config.architecture]
    durations = {
        name: tune.duration_ms(
            measured.cpu_ms[name], kind.round_trips, config.memory_mb, measured.dynamodb_ms
        )
        for name, kind in mix.items()
    }
    warm_gbs = requests * sum(
        mix[n].share * tune.gb_seconds(d, config.memory_mb) for n, d in durations.items()
    )
    cold_ms = tune.duration_ms(measured.cold_cpu_ms, 0, config.memory_mb)
    job_ms = cold_ms + JOB_QUERIES * measured.dynamodb_ms  # hourly: every run starts cold
    colds = requests * profile.cold_share
    lines: dict[str, float] = {}
    lambda_requests = (requests + JOB_RUNS + CLEAR_RUNS) * lam["requests_per_million"] / 1e6
    init_gbs = (colds + JOB_RUNS) * tune.gb_seconds(cold_ms, config.memory_mb)
    job_gbs = JOB_RUNS * tune.gb_seconds(job_ms - cold_ms, config.memory_mb)
    job_gbs += CLEAR_RUNS * tune.gb_seconds(measured.dynamodb_ms, config.memory_mb)
    warm_price = gbs_price
    if config.provisioned_concurrency:
        kept = config.provisioned_concurrency * memory_gb * SECONDS_A_MONTH
        lines["Lambda provisioned concurrency"] = kept * lam["provisioned_gb_second"][config.architecture]
        warm_price = lam["provisioned_duration_gb_second"][config.architecture]  # served by those kept
    lines["Lambda"] = lambda_requests + warm_gbs * warm_price + (init_gbs + job_gbs) * gbs_price
    if config.snapstart:
        lines["Lambda SnapStart"] = (
            memory_gb * SECONDS_A_MONTH * lam["snapstart_cache_gb_second"]
            + colds * memory_gb * lam["snapstart_restore_gb"]
        )
    gateway = prices["api_gateway"]
    lines["API Gateway"] = _tiered(
        requests, gateway["rest_per_million" if config.api == "rest" else "http_per_million"]
    )
    units = operation_units()
    dynamo = prices["dynamodb"]
    reads = (
        requests * sum(mix[n].share * u.reads for n, u in units.items())
        + JOB_RUNS * JOB_QUERIES * 0.5
        + CLEAR_RUNS * 1.0
    )
    writes = requests * sum(mix[n].share * u.writes for n, u in units.items())
    stored_gb = profile.users * TODOS_PER_USER * stored_bytes_per_todo(COMPLETED_SHARE) / 1e9
    lines["DynamoDB"] = (
        reads * dynamo["read_request_unit_per_million"] / 1e6
        + writes * dynamo["write_request_unit_per_million"] / 1e6
        + stored_gb * (dynamo["storage_gb_month"] + dynamo["point_in_time_recovery_gb_month"])
    )
    if config.backups_kept:
        lines["DynamoDB backups"] = config.backups_kept * stored_gb * dynamo["backup_gb_month"]
    watch = prices["cloudwatch"]
    app_bytes = sum(mix[n].share * measured.log_bytes[n] for n in mix)
    log_gb = requests * (app_bytes + PLATFORM_LOG_BYTES + config.access_log_bytes) / 1e9
    log_gb += CLEAR_RUNS * (CLEAR_LINE_BYTES + PLATFORM_LOG_BYTES) / 1e9
    lines["CloudWatch Logs"] = log_gb * (
        watch["logs_ingested_gb"] + watch["logs_stored_gb_month"] * config.log_retention_days / 30
    )
    metrics = profile.metric_pairs * METRICS_PER_PAIR + JOB_METRICS * 2
    lines["CloudWatch metrics and alarms"] = (
        metrics * watch["custom_metric_month"] + config.alarm_metrics * watch["alarm_metric_month"]
    )
    if config.dashboards:  # (an account's first three are free: not applied, as no free tier is)
        lines["CloudWatch metrics and alarms"] += config.dashboards * watch["dashboard_month"]
    if config.tracing:
        sampling = prices["xray"]["default_sampling"]
        reservoir = min(requests, sampling["reservoir_per_second"] * SECONDS_A_MONTH)
        traces = reservoir + sampling["rate"] * (requests - reservoir)
        lines["X-Ray"] = traces * prices["xray"]["traces_recorded_per_million"] / 1e6
    lines["Cognito"] = _tiered(profile.users, prices["cognito"]["plans"][config.plan]["per_mau"], unit=1)
    if config.waf_rules is not None:
        # WAF logs every request it inspects to its own log group, kept as long as the rest.
        waf_log_gb = requests * WAF_LOG_BYTES / 1e9
        lines["WAF logs"] = waf_log_gb * (
            watch["logs_ingested_gb"] + watch["logs_stored_gb_month"] * config.log_retention_days / 30
        )
        waf = prices["waf"]
        lines["WAF"] = (
            waf["web_acl_month"]
            + config.waf_rules * waf["rule_month"]
            + requests * waf["requests_per_million"] / 1e6
        )
    return lines


def container_monthly(prices: Mapping[str, Any]) -> float:
    """The always-on container's compute and load balancer, a month (one LCU stated)."""
    c = prices["container"]
    hourly = (
        c["vcpu"] * c["vcpu_hour"]
        + c["memory_gb"] * c["gb_hour"]
        + c["load_balancer_hour"]
        + c["load_balancer_lcu_hour"]
    )
    return float(hourly * c["hours_month"])


FRONT = ("Lambda", "Lambda provisioned concurrency", "Lambda SnapStart", "API Gateway")


def break_even(config: Configuration, measured: Measured, prices: Mapping[str, Any]) -> float:
    """Requests a month at which Lambda and API Gateway cost what the container costs; the
    rest (DynamoDB, Cognito, logs) is the same either way. Lambda's side is near linear."""
    target = container_monthly(prices)

    def front(requests: float) -> float:
        profile = Profile(int(requests), 0, 0.001, 0)
        return sum(v for k, v in monthly(config, profile, measured, prices).items() if k in FRONT)

    low, high = 0.0, 1e10
    if front(high) < target:
        return math.inf
    for _ in range(60):
        middle = (low + high) / 2
        low, high = (middle, high) if front(middle) < target else (low, middle)
    return high


# --- the report ----------------------------------------------------------------------


def variants(config: Configuration) -> list[Configuration]:
    other_api = "http" if config.api == "rest" else "rest"
    other_arch = "x86_64" if config.architecture == "arm64" else "arm64"
    return [
        config,
        config._replace(name=f"{other_api.upper()} API", api=other_api),
        config._replace(name=other_arch, architecture=other_arch),
    ]


def money(value: float) -> str:
    return f"${value:,.2f}" if value >= 0.01 or value == 0 else f"${value:.4f}"


def report(config: Configuration, measured: Measured, prices: Mapping[str, Any], why: str = "") -> str:
    tables = {name: monthly(config, p, measured, prices) for name, p in PROFILES.items()}
    services = list(dict.fromkeys(k for t in tables.values() for k in t))
    head = " | ".join(f"{name} requests, {p.users:,} users" for name, p in PROFILES.items())
    lines = [
        f"Computed {datetime.now(UTC):%Y-%m-%d %H:%M} UTC by `make cost` from the packaged `dev` template "
        f"({config.api.upper()} API, {config.architecture}, {config.memory_mb} MB, logs kept "
        f"{config.log_retention_days} days, tracing {'on' if config.tracing else 'off'}, "
        f"provisioned concurrency {config.provisioned_concurrency}, "
        f"SnapStart {'on' if config.snapstart else 'off'}, "
        f"WAF {'on' if config.waf_rules is not None else 'off'}, {config.alarm_metrics} alarm metrics, "
        f"Cognito {config.plan}), "
        f"`make tune`'s measurements and benchmark/prices.json ({prices['as_of']}, {prices['region']}, "
        "no free tier). Monthly, in USD:",
        "",
        f"| service | {head} |",
        "|---|" + "---|" * len(PROFILES),
    ]
    for service in services:
        lines.append(
            f"| {service} | " + " | ".join(money(t.get(service, 0.0)) for t in tables.values()) + " |"
        )
    lines.append(
        "| **total** | " + " | ".join(f"**{money(sum(t.values()))}**" for t in tables.values()) + " |"
    )
    lines += [
        "",
        "Other configurations, totals (the same stack with one thing changed) and the break-even "
        f"against one always-on container ({money(container_monthly(prices))} a month: "
        f"{prices['container']['about']}):",
        "",
        "| configuration | " + " | ".join(PROFILES) + " | break-even vs container |",
        "|---|" + "---|" * (len(PROFILES) + 1),
    ]
    for variant in variants(config):
        totals = [sum(monthly(variant, p, measured, prices).values()) for p in PROFILES.values()]
        even = break_even(variant, measured, prices)
        lines.append(
            f"| {variant.name} | "
            + " | ".join(money(t) for t in totals)
            + f" | {even / 1e6:,.1f} million requests |"
        )
    ssm, reads = prices["ssm"], 30 * 86_400 / float(config.settings_seconds)
    lines += [
        "",
        f"Runtime settings (Parameter Store): {len(SETTINGS)} Standard parameters, "
        f"{money(len(SETTINGS) * ssm['standard_parameter_month'])} a month; each environment reads "
        f"them every {config.settings_seconds:g} s, {reads:,.0f} reads a month if it lives all month, "
        f"at standard throughput {money(reads / 10_000 * ssm['standard_throughput_per_10k'])} "
        f"(with higher throughput enabled, {money(reads / 10_000 * ssm['higher_throughput_per_10k'])} an "
        f"environment; not needed: `make spike`). {ssm['source']}.",
    ]
    lines += plans(config, prices, why or f"the pool is on {config.plan}")
    units = operation_units()
    lines += [
        "",
        "DynamoDB request units per operation (AWS's sizing rules on items as the store writes them: "
        f"a {item_size(_sample(False))}-byte open todo, {item_size(_sample(True))}-byte completed, "
        f"pages of {tune.PAGE}): "
        + ", ".join(f"{n} {u.reads:g} read, {u.writes:g} write" for n, u in units.items())
        + ".",
        "",
        "![Monthly cost against traffic](../docs/cost.png)",
    ]
    return "\n".join(lines)


def chart(config: Configuration, measured: Measured, prices: Mapping[str, Any], path: Path) -> None:
    """What differs between the configurations: compute and front door (Lambda and API
    Gateway, or the container and its load balancer); the rest costs the same in each."""
    traffic = [10 ** (4 + n / 2) for n in range(9)]  # 10 thousand to 100 million

    def front(variant: Configuration, requests: float) -> float:
        lines = monthly(variant, profile_at(int(requests)), measured, prices)
        return sum(v for k, v in lines.items() if k in FRONT)

    series = {variant.name: [front(variant, r) for r in traffic] for variant in variants(config)}
    series["one always-on container"] = [container_monthly(prices)] * len(traffic)
    plot.line_chart(
        path,
        title="Compute and front door a month: Lambda and API Gateway, or one container and its ALB",
        x_label="requests a month (benchmark/prices.json, no free tier)",
        x=traffic,
        left=plot.Axis("USD a month", series, log=True),
        x_log=True,
    )


def check_plan(template: Mapping[str, Any]) -> str:
    """The pool's feature plan is the cheapest with every feature the stack gives it (Cognito
    bills each plan differently, and a dearer plan must earn its price). Returns why."""
    resources = template["Resources"]
    features = identity.plan_features(resources, "UserPool")
    plan, cheapest = resources["UserPool"]["Properties"].get("UserPoolTier"), identity.cheapest_plan(features)
    used = "; ".join(f"{f} ({p})" for f, p in features.items()) or f"nothing beyond {identity.PLANS[0]}"
    if plan != cheapest:
        raise SystemExit(
            f"the pool's feature plan is {plan}, but it uses {used}: "
            f"{cheapest} is the cheapest plan with that"
        )
    return f"the pool is on {plan}, the cheapest plan with every feature it uses ({used})"


def plans(config: Configuration, prices: Mapping[str, Any], why: str) -> list[str]:
    """What Cognito would cost at each profile on each feature plan."""
    head = " | ".join(f"{p.users:,} users" for p in PROFILES.values())
    lines = [
        "",
        f"Cognito's feature plans, a month ({why}; what each adds: infrastructure/identity.py):",
        "",
        f"| plan | {head} |",
        "|---|" + "---|" * len(PROFILES),
    ]
    for plan in identity.PLANS:
        tiers = prices["cognito"]["plans"][plan]["per_mau"]
        mark = " (packaged)" if plan == config.plan else ""
        lines.append(
            f"| {plan}{mark} | "
            + " | ".join(money(_tiered(p.users, tiers, unit=1)) for p in PROFILES.values())
            + " |"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmark.cost")
    parser.add_argument("--template", type=Path, default=stages.ROOT / "build/package/sam.json")
    parser.add_argument("--measured", type=Path, default=stages.ROOT / "build/tune.json")
    parser.add_argument("--out", type=Path, default=stages.ROOT / "build")
    parser.add_argument("--no-write", action="store_true", help="print only; leave benchmark/README.md alone")
    args = parser.parse_args()
    template = json.loads(args.template.read_text())
    config = configuration(template)
    measured = load_measured(args.measured)
    prices = tune.prices()
    text = report(config, measured, prices, check_plan(template))
    print(text)
    chart(config, measured, prices, args.out / "cost.png" if args.no_write else CHART)
    if not args.no_write:
        write_section(stages.ROOT / "benchmark" / "README.md", MARKERS, text)


if __name__ == "__main__":
    main()

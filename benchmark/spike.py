"""`make spike`: who a stage, as packaged, serves when N people arrive over T seconds.

Inputs, none typed in here but the stated behaviour of people and the web app:
- the packaged template (`make package`): the stage's throttle, the firewall's per-address
  rule, memory, reserved concurrency, the pool's e-mail sender and feature plan;
- `make tune`'s measured CPU per request (build/tune.json), modelled into duration at the
  stage's memory as `make cost` does, and `make cost`'s DynamoDB units per request;
- AWS's quotas, one dated file with their sources (infrastructure/quotas.json);
- the journey of an arriving person (infrastructure/capacity.py).

Second by second, each person's next step meets the layers in the order a request does
(the firewall, the stage's bucket, the account's bucket, Lambda's concurrency, the table),
or Cognito's category rate and the e-mail sender. A refused step is retried as the web app
would retry (exponential backoff, at most RETRIES times; today the page says what
happened and the person tries again, which the model takes as the same) unless retrying
cannot help (the day's e-mail is spent); a person refused for good is not served. Every wall
is printed in the order it is first hit: when, which quota, what people see, how many are
refused, what to raise and what that costs. Deterministic: the same inputs, the same walls.
"""

from __future__ import annotations

import argparse
import collections
import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple

from benchmark import cost, plot, tune
from infrastructure import capacity, stages

CHART = stages.ROOT / "docs/spike.png"
RETRIES = 5  # the web app's bounded retries (then it says so and stops)
MAX_BACKOFF_SECONDS = 32
# People of the crowd who share one public address (a carrier NAT, a campus), as the model
# plays them: stated, PER_ADDRESS= plays another. (The firewall's rule is sized for more,
# capacity.PEOPLE_PER_ADDRESS: the most it serves behind one address.)
ASSUMED_PER_ADDRESS = 250
WAF_WINDOW_SECONDS = capacity.WAF_WINDOW_SECONDS
MAX_USERS = 10_000_000
MAX_OVER = 86_400


class Wall(NamedTuple):
    key: str  # a quotas.json entry, or the stage's own setting
    layer: str
    sees: str  # what a person sees there
    retry: bool  # whether waiting helps
    raise_how: str


WALLS: dict[str, Wall] = {
    "email_day": Wall("cognito_default_email_per_day", "Cognito's e-mail sender",
                      "sign-up refused: 400 LimitExceededException (\"Exceeded daily email limit\"); "
                      "the page shows it and the person cannot sign up today", False,
                      "send through SES: the stage's `email` (a verified identity)"),
    "ses_day": Wall("ses_per_day", "SES (the pool's sender)",
                    "sign-up refused: the code cannot be sent today", False,
                    "ask SES for a larger sending quota"),
    "ses_rate": Wall("ses_per_second", "SES (the pool's sender)",
                     "sign-up refused for a moment (the code is not sent); the page says so", True,
                     "ask SES for a higher sending rate"),
    "UserCreation": Wall("cognito_user_creation_rps", "Cognito UserCreation",
                         "sign-up or confirm refused: 400 TooManyRequestsException; "
                         "the page says so", True,
                         "Service Quotas: Rate of UserCreation requests"),
    "UserAuthentication": Wall("cognito_user_authentication_rps", "Cognito UserAuthentication",
                               "sign-in or token refresh refused: 400 "
                               "TooManyRequestsException; the page says so", True,
                               "Service Quotas: Rate of UserAuthentication requests"),
    "waf": Wall("waf_rate_limit", "WAF per-address rule",
                "429 TooManyRequests (Retry-After: 60) from the firewall for everyone behind that "
                "address", True,
                "raise the firewall's per-address limit (infrastructure/firewall.py, RATE_LIMIT)"),
    "stage": Wall("stage_throttle", "the stage's throttle",
                  "429 TooManyRequests with Retry-After; the page says so", True,
                  "raise the stage's spike_target (.chalice/config.json) and package again"),
    "account": Wall("apigateway_account_rps", "API Gateway's account throttle",
                    "429 TooManyRequests with Retry-After", True,
                    "Service Quotas: Throttle rate (API Gateway)"),
    "lambda": Wall("lambda_concurrency", "Lambda concurrency",
                   "429 from the gateway (Lambda's throttle) or 502/503 where its retries "
                   "give up", True,
                   "Service Quotas: Concurrent executions (Lambda); reserved concurrency in the stage"),
    "wru": Wall("dynamodb_new_table_wru", "DynamoDB writes (a new on-demand table)",
                "503 ServiceUnavailable with Retry-After once the SDK's retries are spent", True,
                "pre-warm the table (WarmThroughput), billed once"),
    "rru": Wall("dynamodb_new_table_rru", "DynamoDB reads (a new on-demand table)",
                "503 ServiceUnavailable with Retry-After once the SDK's retries are spent", True,
                "pre-warm the table (WarmThroughput), billed once"),
}  # fmt: skip


class Stage(NamedTuple):
    """What the packaged template says, for the walls it sets itself."""

    rate: int
    burst: int
    waf_limit: int | None
    memory_mb: int
    reserved: int | None
    provisioned: int  # environments kept initialized (no cold start for the first N at once)
    ses: bool
    tier: str
    settings_seconds: float  # how often each environment reads the runtime settings


def stage_of(template: Mapping[str, Any]) -> Stage:
    resources = template["Resources"]
    function = resources["APIHandler"]["Properties"]
    settings: dict[str, Any] = {}
    for resource in resources.values():
        properties = resource.get("Properties", {})
        if resource["Type"] == "AWS::Serverless::Api":
            settings = properties["MethodSettings"][0]
        elif resource["Type"] == "AWS::Serverless::HttpApi":
            settings = properties["DefaultRouteSettings"]
    acls = [r for r in resources.values() if r["Type"] == "AWS::WAFv2::WebACL"]
    limits = [
        rule["Statement"]["RateBasedStatement"]["Limit"]
        for acl in acls
        for rule in acl["Properties"]["Rules"]
        if "RateBasedStatement" in rule["Statement"]
    ]
    pool = resources["UserPool"]["Properties"]
    return Stage(
        rate=int(settings["ThrottlingRateLimit"]),
        burst=int(settings["ThrottlingBurstLimit"]),
        waf_limit=min(limits) if limits else None,
        memory_mb=int(function["MemorySize"]),
        reserved=function.get("ReservedConcurrentExecutions"),
        provisioned=int(
            function.get("ProvisionedConcurrencyConfig", {}).get("ProvisionedConcurrentExecutions", 0)
        ),
        ses=pool.get("EmailConfiguration", {}).get("EmailSendingAccount") == "DEVELOPER",
        tier=str(pool.get("UserPoolTier", "not set")),
        settings_seconds=cost.settings_seconds(function),
    )


def settings_reads(environments: int, period: float) -> float:
    """Parameter Store reads a second at most, for `environments` started at once: each reads
    once at a random moment of its first period, then once a period (chalicelib/settings.py),
    so at most two reads of one environment fall in any one period."""
    return 2 * environments / period


class Bucket:
    """A token bucket refilled every second (API Gateway's throttles are token buckets)."""

    def __init__(self, rate: float, burst: float) -> None:
        self.rate, self.burst, self.tokens = rate, burst, burst

    def refill(self) -> None:
        self.tokens = min(self.burst, self.tokens + self.rate)

    def take(self, n: float = 1) -> bool:
        if self.tokens >= n:
            self.tokens -= n
            return True
        return False


class Hit(NamedTuple):
    first_second: int
    refused: int
    gave_up: int


class Outcome(NamedTuple):
    walls: dict[str, Hit]  # in the order first hit
    served: int  # people who finished the journey up to the hourly refresh
    users: int
    demand: list[int]  # API requests asked for, each second
    admitted: list[int]  # API requests served, each second
    finished: list[int]  # people who finished the journey, each second


class World(NamedTuple):
    """Everything a spike meets: the stage, AWS's quotas (divided by `scale`), the API's
    duration per route (ms) and DynamoDB units per route, and how many people share an address."""

    stage: Stage
    quotas: Mapping[str, Any]
    durations_ms: Mapping[str, float]
    units: Mapping[str, Any]
    per_address: int = ASSUMED_PER_ADDRESS
    scale: float = 1.0


def simulate(
    users: int,
    over: int,
    world: World,
    lifted: frozenset[str] = frozenset(),
    journey: tuple[capacity.Step, ...] = capacity.JOURNEY,
) -> Outcome:
    """Play `journey` for `users` people arriving evenly over `over` seconds. `scale`
    divides every rate and count quota (the local rehearsal's machine-sized quotas); the
    walls in `lifted` are taken as raised out of reach. Per-second quotas are token
    buckets (a second's worth at most), as API Gateway documents its throttles and as the
    local rehearsal enforces Cognito's (tools/limits.py)."""

    stage, quotas, durations_ms, units, per_address, scale = world

    def q(name: str) -> float:
        return float(quotas[name]["value"]) / scale

    def per_second(name: str) -> Bucket:
        return Bucket(q(name), max(q(name), 1.0))

    horizon = max(step.at for step in journey) + over + RETRIES * MAX_BACKOFF_SECONDS
    due: dict[int, list[tuple[int, int, int]]] = collections.defaultdict(list)  # second: (person, step, try)
    for person in range(users):
        due[person * over // users].append((person, 0, 0))
    stage_bucket = Bucket(stage.rate / scale, stage.burst / scale)
    account = Bucket(q("apigateway_account_rps"), q("apigateway_account_burst"))
    categories = {
        "UserCreation": per_second("cognito_user_creation_rps"),
        "UserAuthentication": per_second("cognito_user_authentication_rps"),
    }
    ses_rate = per_second("ses_per_second")
    concurrency = (stage.reserved / scale) if stage.reserved else q("lambda_concurrency")
    addresses: dict[int, collections.deque[int]] = collections.defaultdict(collections.deque)
    waf_limit = stage.waf_limit / scale if stage.waf_limit else None
    emails_today = 0
    walls: dict[str, list[int]] = {}
    finished = 0
    demand, admitted, done = [0] * (horizon + 1), [0] * (horizon + 1), [0] * (horizon + 1)
    last = len(journey) - 1 if journey[-1].what == "the hourly token refresh" else len(journey)
    for second in range(horizon + 1):
        for bucket in (stage_bucket, account, ses_rate, *categories.values()):
            bucket.refill()
        lambda_left = concurrency / max(durations_ms.values()) * 1000  # requests this second
        wru_left, rru_left = q("dynamodb_new_table_wru"), q("dynamodb_new_table_rru")
        for person, index, attempt in due.pop(second, []):
            step = journey[index]
            refused = ""

            def wall(name: str, holds: bool) -> bool:
                """Whether `name` refuses here (never, once it is raised out of reach)."""
                return name not in lifted and holds

            if step.cognito:
                # The order Cognito meets them: its rate (the request counts either way),
                # then the sender: the day's e-mails, then SES's rate.
                sender_day = "ses_day" if stage.ses else "email_day"
                day_cap = q("ses_per_day") if stage.ses else q("cognito_default_email_per_day")
                if wall(step.cognito, not categories[step.cognito].take()):
                    refused = step.cognito
                elif step.emails and wall(sender_day, emails_today + step.emails > day_cap):
                    refused = sender_day
                elif step.emails and stage.ses and wall("ses_rate", not ses_rate.take(step.emails)):
                    refused = "ses_rate"
                else:
                    emails_today += step.emails
            if step.api:
                demand[second] += step.api
                window = addresses[person // per_address] if waf_limit else None
                if window is not None:
                    while window and window[0] <= second - WAF_WINDOW_SECONDS:
                        window.popleft()
                read, write = units.get(step.route, (0.0, 0)) if step.route else (0.0, 0)
                if window is not None and wall("waf", len(window) + step.api > waf_limit):  # type: ignore[operator]
                    refused = "waf"
                elif wall("stage", not stage_bucket.take(step.api)):
                    refused = "stage"
                elif wall("account", not account.take(step.api)):
                    refused = "account"
                elif wall("lambda", lambda_left < step.api):
                    refused = "lambda"
                elif wall("wru", wru_left < write):
                    refused = "wru"
                elif wall("rru", rru_left < read):
                    refused = "rru"
                else:
                    lambda_left -= step.api
                    wru_left -= write
                    rru_left -= read
                    admitted[second] += step.api
                if window is not None:
                    window.extend([second] * step.api)  # WAF counts what it blocks too
            if refused:
                hit = walls.setdefault(refused, [second, 0, 0])
                hit[1] += 1
                if WALLS[refused].retry and attempt < RETRIES:
                    wait = min(MAX_BACKOFF_SECONDS, 2**attempt)
                    due[second + wait].append((person, index, attempt + 1))
                else:
                    hit[2] += 1
                continue
            if index + 1 < last:  # up to, not counting, the hourly refresh
                next_step = journey[index + 1]
                due[second + next_step.at - step.at].append((person, index + 1, 0))
            else:
                finished += 1
                done[second] += 1
    ordered = dict(sorted(((k, Hit(*v)) for k, v in walls.items()), key=lambda kv: kv[1].first_second))
    return Outcome(ordered, finished, users, demand, admitted, done)


def walls_in_order(users: int, over: int, world: World) -> list[tuple[str, Hit, Outcome]]:
    """Every wall in the order an operator meets them: play the spike, take the first wall
    hit, raise it out of reach, play again, until the crowd is served. Each wall comes with
    the run in which it was first (who was served with the walls before it raised)."""
    lifted: frozenset[str] = frozenset()
    found: list[tuple[str, Hit, Outcome]] = []
    while True:
        outcome = simulate(users, over, world, lifted)
        fresh = [(name, hit) for name, hit in outcome.walls.items() if name not in lifted]
        if not fresh:
            return [*found, ("", Hit(-1, 0, 0), outcome)]
        name, hit = fresh[0]
        found.append((name, hit, outcome))
        lifted |= {name}


def refresh_wall(users: int, over: int, quotas: Mapping[str, Any], scale: float = 1.0) -> float:
    """The hourly refresh (an hour after each sign-in) arrives as the sign-ins did: the
    share of the UserAuthentication rate it needs, one hour on."""
    return (users / over) / (float(quotas["cognito_user_authentication_rps"]["value"]) / scale)


def _source(key: str, quotas: Mapping[str, Any], stage: Stage) -> tuple[str, str]:
    if key == "stage_throttle":
        return (
            f"{stage.rate}/s, burst {stage.burst} (the packaged stage)",
            "infrastructure/capacity.py, the stage's spike_target",
        )
    if key == "waf_rate_limit":
        return (
            f"{stage.waf_limit} requests per address in 5 minutes (the packaged web ACL)",
            "infrastructure/template.py",
        )
    quota = quotas[key]
    adjustable = "adjustable" if quota["adjustable"] else "not adjustable"
    return f"{quota['value']:,} {quota['unit']} ({adjustable})", quota["source"]


def report(
    walls: list[tuple[str, Hit, Outcome]],
    stage: Stage,
    stage_name: str,
    over: int,
    quotas: Mapping[str, Any],
    prices: Mapping[str, Any],
) -> str:
    users = walls[0][2].users
    lines = [
        f"make spike: {users:,} people arriving over {over} s at stage {stage_name} as packaged "
        f"(quotas as of {quotas['as_of']}, {quotas['region']})",
        f"stage throttle {stage.rate}/s burst {stage.burst}; WAF per address "
        f"{stage.waf_limit or 'none'}; {stage.memory_mb} MB; "
        f"reserved concurrency {stage.reserved or 'none'}, provisioned {stage.provisioned or 'none'}; "
        f"e-mail {'through SES' if stage.ses else 'Cognito default sender'}; feature plan {stage.tier}",
    ]
    if not stage.ses:
        lines.append(
            f"NOTE: stage {stage_name} keeps Cognito's default sender: 50 e-mails a day per account, "
            "so at most 50 people a day can get a sign-up code. Fine for development; a production "
            "stage must send through SES."
        )
    lines += ["", "walls, in the order they are hit (each raised in turn to find the next):"]
    for n, (name, hit, outcome) in enumerate(walls, 1):
        if not name:
            break
        wall = WALLS[name]
        value, source = _source(wall.key, quotas, stage)
        lines += [
            f"{n}. at {hit.first_second} s: {wall.layer}: {value}",
            f"   people see: {wall.sees}",
            f"   refused {hit.refused:,} times; {hit.gave_up:,} people gave up there; "
            f"served with it in place: {outcome.served:,} of {users:,} ({outcome.served / users:.0%})",
            f"   raise: {wall.raise_how}",
            f"   source: {source}",
        ]
        # Walls this run met later, some only through the retries of the first: raised with it,
        # they may not come back, so they are named here rather than lost.
        raised = {earlier for earlier, _, _ in walls[:n]}
        later = [
            f"{WALLS[w].layer} at {h.first_second} s" for w, h in outcome.walls.items() if w not in raised
        ]
        if later:
            lines.append(f"   also met in this run: {'; '.join(later)}")
    if len(walls) == 1:
        lines.append("none: every step of every person is served")
    refresh = refresh_wall(users, over, quotas)
    if refresh > 1:
        lines.append(
            f"then, an hour on: the ID tokens' refresh needs {refresh:.1f}x Cognito's "
            "UserAuthentication rate (the same crowd, signing in again): raise it before then"
        )
    final = walls[-1][2]
    lines += [
        "",
        f"with every wall above raised: {final.served:,} of {users:,} served ({final.served / users:.0%})",
    ]
    # Not a wall: a throttled read of the runtime settings keeps the last values, nobody is
    # refused; but the operator's levers would then take longer to act.
    environments = stage.reserved or int(quotas["lambda_concurrency"]["value"])
    reads, allowed = settings_reads(environments, stage.settings_seconds), quotas["ssm_default_throughput"]
    lines.append(
        f"runtime settings: {environments:,} API environments at most read Parameter Store up to "
        f"{reads:.1f} times a second (each every {stage.settings_seconds:.0f} s), "
        f"{reads / float(allowed['value']):.0%} of its default {allowed['value']}/s shared by the account "
        f"({allowed['source'].split(' ')[0]}); past it, reads are throttled and the last values hold"
    )
    ses_price = prices["ses"]["per_thousand_emails"]
    lines.append(
        f"cost of the e-mail at SES's price: ${users * ses_price / 1000:,.2f} for {users:,} codes "
        f"(${ses_price} per 1,000, {prices['ses']['source']}). Quota increases take hours to days: ask "
        "before the launch, not at 3 AM. SES's, API Gateway's and Lambda's are free; Cognito's "
        "category rates above the default are bought per RPS a month (its pricing page; the price "
        "is not in benchmark/prices.json, not checked here)"
    )
    return "\n".join(lines)


def chart(walls: list[tuple[str, Hit, Outcome]], path: Path) -> None:
    """People through the journey over time: as packaged, then with each wall raised in turn."""
    runs = walls[: len(plot.COLOURS)]
    last = max(max((s for s, n in enumerate(o.finished) if n), default=1) for _, _, o in runs)
    seconds = list(range(last + 1))
    series: dict[str, list[float]] = {}
    raised: list[str] = []
    for name, _, outcome in runs:
        label = "as packaged" if not raised else f"{raised[-1]} raised"
        total, line = 0, []
        for s in seconds:
            total += outcome.finished[s]
            line.append(float(total))
        series[label] = line
        if name:
            raised.append(WALLS[name].layer)
    plot.line_chart(
        path,
        title=f"make spike: {runs[0][2].users:,} people; through the journey as each wall is raised",
        x_label="seconds after the first arrival",
        x=[float(s) for s in seconds],
        left=plot.Axis("people through the journey", series),
    )


def inputs(
    package_dir: Path, tune_json: Path, stage: str
) -> tuple[dict[str, Any], dict[str, float], dict[str, Any]]:
    """The stage's packaged template, the API's duration per route at its memory, and the
    DynamoDB units."""
    template = json.loads((package_dir / "sam.json").read_text())
    packaged = template["Resources"]["UserPool"]["Properties"]["UserPoolName"]
    if packaged != f"todo-api-{stage}":
        raise SystemExit(f"{package_dir} holds {packaged}, not stage {stage}: make package STAGE={stage}")
    memory = stage_of(template).memory_mb
    measured = cost.load_measured(tune_json)
    durations = {
        route: tune.duration_ms(measured.cpu_ms[route], kind.round_trips, memory, measured.dynamodb_ms)
        for route, kind in tune.MIX.items()
    }
    return template, durations, {route: tuple(u) for route, u in cost.operation_units().items()}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmark.spike")
    parser.add_argument("--stage", default="prod")
    parser.add_argument("--users", default="10000")
    parser.add_argument("--over", default="60")
    parser.add_argument("--per-address", default=str(ASSUMED_PER_ADDRESS))
    parser.add_argument("--package-dir", type=Path, default=stages.ROOT / "build/package")
    parser.add_argument("--tune", type=Path, default=stages.ROOT / "build/tune.json")
    parser.add_argument("--no-chart", action="store_true")
    args = parser.parse_args(argv)
    try:
        users, over, per_address = int(args.users), int(args.over), int(args.per_address)
    except ValueError:
        raise SystemExit("USERS, OVER and PER_ADDRESS must be whole numbers") from None
    if not (1 <= users <= MAX_USERS and 1 <= over <= MAX_OVER and per_address >= 1):
        raise SystemExit(
            f"USERS must be 1-{MAX_USERS:,}, OVER 1-{MAX_OVER:,} seconds, PER_ADDRESS at least 1"
        )
    template, durations, units = inputs(args.package_dir, args.tune, args.stage)
    quotas = capacity.quotas()
    stage = stage_of(template)
    walls = walls_in_order(users, over, World(stage, quotas, durations, units, per_address))
    print(report(walls, stage, args.stage, over, quotas, tune.prices()))
    if not args.no_chart:
        # The recorded chart is prod's (benchmark/README.md shows it); other stages' go to build/.
        chart(walls, CHART if args.stage == "prod" else stages.ROOT / f"build/spike-{args.stage}.png")


if __name__ == "__main__":
    main(sys.argv[1:])

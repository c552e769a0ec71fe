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
import math
import random
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple

from benchmark import cost, plot, tune
from benchmark.harness import write_section
from chalicelib.errors import RETRY_AFTER_SECONDS
from infrastructure import capacity, names, stages
from infrastructure.firewall import RATE_BLOCKED_SECONDS
from infrastructure.identity import APP_CLIENT_SETTINGS, SES_ACCOUNT_TAG

CHART = stages.ROOT / "docs/spike.png"
# make cost's section of benchmark/README.md for a spike's price, after its own.
PRICE_MARKERS = ("<!-- spike-price:start -->", "<!-- spike-price:end -->")
# People of the crowd who share one public address (a carrier NAT, a campus), as the model
# plays them: stated, PER_ADDRESS= plays another. (The firewall's rule is sized for more,
# capacity.PEOPLE_PER_ADDRESS: the most it serves behind one address.)
ASSUMED_PER_ADDRESS = 250
WAF_WINDOW_SECONDS = capacity.WAF_WINDOW_SECONDS
MAX_USERS = 10_000_000
MAX_OVER = 86_400
SEED = 3  # the jitter's: the same inputs, the same walls
DEFAULT_USERS, DEFAULT_OVER = 10_000, 60  # the crowd `make spike` plays unless told


# How fast Cognito's category rates rise: UpdateProvisionedLimit "sets the provisioned limit
# for a specific API category. The value must be between the default limit and your
# account-level maximum limit in Service Quotas" (Cognito API reference, read 2026-12-07): at
# once up to that maximum; past it, a Service Quotas request, whose time AWS does not state.
COGNITO_RAISE = (
    "aws cognito-idp update-provisioned-limit --limit-definition "
    "'LimitClass=API_CATEGORY,Attributes={{Category={}}}' --requested-limit-value RPS "
    "(bought per RPS a month)"
)
COGNITO_RAISE_TIME = (
    "effect at once up to the account's maximum in Service Quotas; past it, a Service Quotas "
    "request (how long, AWS does not say)"
)


class Wall(NamedTuple):
    key: str  # a quotas.json entry, or the stage's own setting
    layer: str
    sees: str  # what a person sees there
    retry: bool  # whether waiting can help (the page waits either way, as it is written to)
    raise_how: str
    raise_time: str  # how long a raise takes
    retry_after: int = RETRY_AFTER_SECONDS  # what the refusal's Retry-After says (API walls)


WALLS: dict[str, Wall] = {
    "email_day": Wall("cognito_default_email_per_day", "Cognito's e-mail sender",
                      "sign-up refused: 400 LimitExceededException (\"Exceeded daily email limit\"); "
                      "the page waits, tries again, then says it cannot send more codes today", False,
                      "send through SES: the stage's `email` (a verified identity)", "one deploy"),
    "ses_sandbox": Wall("ses_sandbox_per_day", "SES sandbox (verified recipients only)",
                        "sign-up made, but no code reaches anyone not verified in SES; sending it "
                        "again fails the same way", False,
                        "request SES production access, then set email.ses_account to production",
                        "about a day (AWS reviews the request)"),
    "ses_day": Wall("ses_per_day", "SES (the pool's sender)",
                    "sign-up made, but the code cannot be sent today", False,
                    "ask SES for a larger sending quota", "hours to a day"),
    "ses_rate": Wall("ses_per_second", "SES (the pool's sender)",
                     "sign-up made, its code refused for a moment: the page sends it again", True,
                     "ask SES for a higher sending rate", "hours to a day"),
    "UserCreation": Wall("cognito_user_creation_rps", "Cognito UserCreation",
                         "sign-up or confirm refused: 400 TooManyRequestsException; "
                         "the page says so and tries again", True,
                         COGNITO_RAISE.format("UserCreation"),
                         COGNITO_RAISE_TIME),
    "UserAuthentication": Wall("cognito_user_authentication_rps", "Cognito UserAuthentication",
                               "sign-in or token renewal refused: 400 TooManyRequestsException; "
                               "the page tries again; a renewal that gives up signs the person out", True,
                               COGNITO_RAISE.format("UserAuthentication"),
                               COGNITO_RAISE_TIME),
    "UserAccountRecovery": Wall("cognito_user_account_recovery_rps", "Cognito UserAccountRecovery",
                                "sending the code again refused: 400 TooManyRequestsException; "
                                "the page tries again", True,
                                COGNITO_RAISE.format("UserAccountRecovery"),
                                COGNITO_RAISE_TIME),
    "waf": Wall("waf_rate_limit", "WAF per-address rule",
                "429 TooManyRequests (Retry-After: 60) from the firewall for everyone behind that "
                "address", True,
                "raise the firewall's per-address limit (infrastructure/firewall.py, RATE_LIMIT)",
                "one deploy", RATE_BLOCKED_SECONDS),
    "stage": Wall("stage_throttle", "the stage's throttle",
                  "429 TooManyRequests with Retry-After; the page says so and tries again", True,
                  "raise the stage's spike_target (.chalice/config.json) and package again", "one deploy"),
    "account": Wall("apigateway_account_rps", "API Gateway's account throttle",
                    "429 TooManyRequests with Retry-After", True,
                    "Service Quotas: Throttle rate (API Gateway)", "hours to days"),
    "lambda_scaling": Wall("lambda_scaling_per_10s", "Lambda scaling and cold starts",
                           "429 from the gateway while new environments start (1,000 every 10 s, each "
                           "initialising before it serves)", True,
                           "provisioned concurrency (the stage's provisioned_concurrency; billed while "
                           "it is set)", "one deploy"),
    "lambda": Wall("lambda_concurrency", "Lambda concurrency",
                   "429 from the gateway (Lambda's throttle): at most 10 requests a second per "
                   "environment", True,
                   "Service Quotas: Concurrent executions (Lambda); reserved concurrency in the stage",
                   "hours to days"),
    "table": Wall("dynamodb_new_table_wru", "DynamoDB (a new on-demand table)",
                  "503 ServiceUnavailable with Retry-After once the SDK's retries are spent", True,
                  "pre-warm the table and its global index (WarmThroughput on both; the local "
                  "indexes share the table's), billed once", "minutes"),
    "table_max": Wall("dynamodb_table_wru", "DynamoDB's table-level maximum",
                      "503 ServiceUnavailable with Retry-After once the SDK's retries are spent", True,
                      "Service Quotas: Table-level write throughput limit", "hours to days"),
}  # fmt: skip


class Packaged(NamedTuple):
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
    ses_sandbox: bool = False  # the pool's SES account is still in the sandbox
    token_minutes: int = APP_CLIENT_SETTINGS["IdTokenValidity"]  # the ID token's lifetime (minutes)


def stage_of(template: Mapping[str, Any]) -> Packaged:
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
    client = resources["UserPoolClient"]["Properties"]
    return Packaged(
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
        ses_sandbox=pool.get("UserPoolTags", {}).get(SES_ACCOUNT_TAG) == "sandbox",
        token_minutes=int(client["IdTokenValidity"]),
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
    served: int  # people who finished the journey, the return an hour on included
    users: int
    demand: list[int]  # API requests asked for, each second
    admitted: list[int]  # API requests served, each second
    finished: list[int]  # people who finished the journey, each second
    peaks: dict[str, int]  # the most requests a second each Cognito category was asked for


class World(NamedTuple):
    """Everything a spike meets: the stage, AWS's quotas (divided by `scale`), the API's
    duration per route (ms), a cold start (ms), DynamoDB units per route, how the page waits
    (its own constants), and how many people share an address."""

    stage: Packaged
    quotas: Mapping[str, Any]
    durations_ms: Mapping[str, float]
    units: Mapping[str, Any]
    per_address: int = ASSUMED_PER_ADDRESS
    scale: float = 1.0
    cold_start_ms: float = 0.0
    patience: capacity.Patience = capacity.patience()


# The Cognito refusals the page waits on and tries again (chalicelib/site/app.js, COGNITO_BUSY):
# every Cognito wall, the day's e-mails included (waiting cannot help those; the page does not
# know). A SignUp whose code SES refused is never tried again: the page sends the code again.
_SENDER_WALLS = frozenset({"ses_rate", "ses_sandbox"})


def _wait(world: World, wall: str, attempt: int, rng: random.Random) -> int:
    """Whole seconds the page waits before its next try: Retry-After (API walls) plus a random
    share of a cap that doubles each attempt, as the page's backoff()."""
    patience = world.patience
    cap_ms = min(patience.cap_ms, patience.first_ms * 2**attempt)
    after = WALLS[wall].retry_after if not WALLS[wall].key.startswith(("cognito", "ses")) else 0
    return max(1, math.ceil(after + rng.uniform(0, cap_ms) / 1000))


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
    local rehearsal enforces Cognito's (tools/limits.py). Refusals are waited on and tried
    again as the page does (World.patience, read from its script)."""

    stage, quotas, durations_ms, units, per_address, scale, cold_ms, patience = world
    rng = random.Random(SEED)  # noqa: S311 - a model's jitter, not a secret

    def q(name: str) -> float:
        return float(quotas[name]["value"]) / scale

    def per_second(name: str) -> Bucket:
        return Bucket(q(name), max(q(name), 1.0))

    def wall(name: str, holds: bool) -> bool:
        """Whether `name` refuses here (never, once it is raised out of reach)."""
        return name not in lifted and holds

    longest_wait = patience.cap_ms // 1000 + RATE_BLOCKED_SECONDS + 1
    retries = max(patience.api_retries, patience.cognito_retries) + 1
    horizon = max(step.at for step in journey) + over + 2 * retries * longest_wait
    # second: (person, step, attempt, what): what is "" (the step), "resend" or "renew"
    due: dict[int, list[tuple[int, int, int, str]]] = collections.defaultdict(list)
    for person in range(users):
        due[person * over // users].append((person, 0, 0, ""))
    # The stage's throttle applies to each route on its own: a REST stage's MethodSettings
    # "/*/*" to each method, an HTTP API's DefaultRouteSettings to each route ("Route-level
    # throttling", developer guide: Throttling requests to your HTTP API, read 2026-12-07).
    stage_buckets: dict[str, Bucket] = collections.defaultdict(
        lambda: Bucket(stage.rate / scale, stage.burst / scale)
    )
    account = Bucket(q("apigateway_account_rps"), q("apigateway_account_burst"))
    categories = {name: per_second(quota) for name, quota in capacity.CATEGORY_QUOTAS.items()}
    asked: dict[str, list[int]] = {name: [0] * (horizon + 1) for name in categories}
    sandbox = stage.ses and stage.ses_sandbox
    ses_rate = per_second("ses_sandbox_per_second" if sandbox else "ses_per_second")
    # Lambda: environments up to the concurrency, at most 10 requests a second each; new ones
    # come at 1,000 every 10 s per function (refilled continuously, AWS says), and spend their
    # first second's init (the measured cold start) before serving.
    concurrency = (stage.reserved / scale) if stage.reserved else q("lambda_concurrency")
    per_environment = min(q_raw(quotas, "lambda_requests_per_environment"), 1000 / max(durations_ms.values()))
    cold_share = max(0.0, 1000 - cold_ms) / 1000
    scaling = Bucket(q("lambda_scaling_per_10s") / 10, q("lambda_scaling_per_10s"))
    environments = float(stage.provisioned) / scale
    addresses: dict[int, collections.deque[int]] = collections.defaultdict(collections.deque)
    waf_limit = stage.waf_limit / scale if stage.waf_limit else None
    emails_today = 0
    walls: dict[str, list[int]] = {}
    finished = 0
    demand, admitted, done = [0] * (horizon + 1), [0] * (horizon + 1), [0] * (horizon + 1)
    signed_at: dict[int, int] = {}
    renew_after = stage.token_minutes * 60 - patience.renew_before_ms / 1000
    sign_in = next((i for i, step in enumerate(journey) if step.what == capacity.SIGN_IN), None)
    for second in range(horizon + 1):
        for bucket in (*stage_buckets.values(), account, ses_rate, scaling, *categories.values()):
            bucket.refill()
        lambda_left = environments * per_environment
        table_left = index_left = 1.0  # the share of a second's warm throughput still unused
        for person, index, attempt, what in due.pop(second, []):
            step = journey[index]
            refused = ""
            renewing = what == "renew" or (
                what == "" and step.api and person in signed_at and second - signed_at[person] >= renew_after
            )
            if renewing:
                # The page renews its ID token at this call, before sending it (app.js idToken).
                asked["UserAuthentication"][second] += 1
                if wall("UserAuthentication", not categories["UserAuthentication"].take()):
                    refused = "UserAuthentication"
                else:
                    signed_at[person] = second
            elif step.cognito or what == "resend":
                category = "UserAccountRecovery" if what == "resend" else step.cognito
                asked[category][second] += 1
                sender_day = "ses_day" if stage.ses else "email_day"
                day_cap = (
                    q("ses_sandbox_per_day" if sandbox else "ses_per_day")
                    if stage.ses
                    else q("cognito_default_email_per_day")
                )
                emails = step.emails or (1 if what == "resend" else 0)
                if wall(category, not categories[category].take()):
                    refused = category
                elif emails and wall(sender_day, emails_today + emails > day_cap):
                    refused = sender_day
                elif emails and sandbox and wall("ses_sandbox", True):
                    refused = "ses_sandbox"  # no code reaches an unverified address
                elif emails and stage.ses and wall("ses_rate", not ses_rate.take(emails)):
                    refused = "ses_rate"
                else:
                    emails_today += emails
                    if index == sign_in:
                        signed_at[person] = second
            if step.api and not refused and what != "renew":
                demand[second] += step.api
                window = addresses[person // per_address] if waf_limit else None
                if window is not None:
                    while window and window[0] <= second - WAF_WINDOW_SECONDS:
                        window.popleft()
                read, write, global_write = (
                    sum(float((*units.get(r, ()), 0.0, 0.0, 0.0)[n]) for r in step.routes) for n in range(3)
                )
                # DynamoDB's warm throughput: "4,000 write units or 12,000 read units, or a
                # linear combination" (on-demand capacity mode, quotas.json), for the table (its
                # local indexes share it) and, on its own, for each global index, which a new
                # table's index starts with too; a write waits for both. Pre-warmed out of
                # reach, each still serves at most the table-level maximum.
                wru = q("dynamodb_table_wru") if "table" in lifted else q("dynamodb_new_table_wru")
                rru = q("dynamodb_new_table_rru") * wru / q("dynamodb_new_table_wru")
                share, global_share = (write - global_write) / wru + read / rru, global_write / wru
                if window is not None and wall("waf", len(window) + step.api > waf_limit):  # type: ignore[operator]
                    refused = "waf"
                elif wall("stage", not all(stage_buckets[route].take() for route in step.routes)):
                    refused = "stage"
                elif wall("account", not account.take(step.api)):
                    refused = "account"
                else:
                    while lambda_left < step.api and environments < concurrency and scaling.take():
                        environments += 1
                        lambda_left += per_environment * cold_share  # its first second starts cold
                    if wall("lambda", lambda_left < step.api and environments >= concurrency):
                        refused = "lambda"
                    elif wall("lambda_scaling", lambda_left < step.api):
                        refused = "lambda_scaling"
                    elif (table_left < share or index_left < global_share) and (
                        "table" not in lifted or wall("table_max", True)
                    ):
                        refused = "table" if "table" not in lifted else "table_max"
                    else:
                        lambda_left -= step.api
                        table_left -= share
                        index_left -= global_share
                        admitted[second] += step.api
                if window is not None:
                    window.extend([second] * step.api)  # WAF counts what it blocks too
            if refused:
                hit = walls.setdefault(refused, [second, 0, 0])
                hit[1] += 1
                # A SignUp whose code the sender refused has made the user: the page sends the
                # code again (UserAccountRecovery) instead of signing up again.
                again = "resend" if refused in _SENDER_WALLS and step.cognito == "UserCreation" else what
                if renewing:
                    again = "renew"
                limit = patience.api_retries if step.api and not renewing else patience.cognito_retries
                if refused in _SENDER_WALLS and what == "":
                    attempt = -1  # the resend starts its own count
                if attempt < limit:
                    due[second + _wait(world, refused, max(attempt, 0), rng)].append(
                        (person, index, attempt + 1, again)
                    )
                else:
                    hit[2] += 1  # gave up; a renewal that gives up signs the person out
                continue
            if what == "renew":
                due[second].append((person, index, 0, ""))  # the call itself, now renewed
                continue
            if index + 1 < len(journey):
                next_step = journey[index + 1]
                due[second + next_step.at - step.at].append((person, index + 1, 0, ""))
            else:
                finished += 1
                done[second] += 1
    ordered = dict(sorted(((k, Hit(*v)) for k, v in walls.items()), key=lambda kv: kv[1].first_second))
    peaks = {name: max(counts) for name, counts in asked.items()}
    return Outcome(ordered, finished, users, demand, admitted, done, peaks)


def q_raw(quotas: Mapping[str, Any], name: str) -> float:
    """A per-unit quota, not divided by the scale (a property of one environment, not of a crowd)."""
    return float(quotas[name]["value"])


class Raise(NamedTuple):
    wall: str
    hit: Hit  # in the run with the walls before it raised
    alone: int  # served with only this wall raised
    after: int  # served with it and every wall before it raised
    outcome: Outcome  # the run with the walls before it raised


def walls_in_order(users: int, over: int, world: World) -> tuple[Outcome, list[Raise], Outcome]:
    """The walls in the order to raise them: each round, of the walls the crowd meets, the one
    whose raise (with those already raised) serves the most people; ties go to the first met.
    Each comes with what raising it alone would serve. Returns the run as packaged, the
    raises, and the run with every one of them raised."""
    runs: dict[frozenset[str], Outcome] = {}

    def run(lifted: frozenset[str]) -> Outcome:
        if lifted not in runs:
            runs[lifted] = simulate(users, over, world, lifted)
        return runs[lifted]

    packaged = run(frozenset())
    lifted: frozenset[str] = frozenset()
    order: list[Raise] = []
    current = packaged
    while True:
        met = [name for name in current.walls if name not in lifted]
        if not met:
            return packaged, order, current
        best = max(met, key=lambda name: (run(lifted | {name}).served, -met.index(name)))
        after = run(lifted | {best})
        order.append(Raise(best, current.walls[best], run(frozenset({best})).served, after.served, current))
        lifted |= {best}
        current = after


def _source(key: str, quotas: Mapping[str, Any], stage: Packaged) -> tuple[str, str]:
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


def raise_cost(name: str, after: Outcome, quotas: Mapping[str, Any], prices: Mapping[str, Any]) -> str:
    """What raising a wall costs: Cognito's categories are bought per RPS a month, for the
    peak the crowd asked of it with the wall raised; the others as their raise says."""
    if name in capacity.CATEGORY_QUOTAS:
        extra = max(0, after.peaks[name] - int(quotas[capacity.CATEGORY_QUOTAS[name]]["value"]))
        cognito = prices["cognito"]
        return (
            f"+{extra:,} RPS bought: ${extra * cognito['provisioned_rps_month']:,.0f} a month "
            f"(${extra * cognito['provisioned_rps_part_month']:,.0f} for part of one; {cognito['source']})"
        )
    if name == "ses_rate" or name == "ses_day" or name == "ses_sandbox":
        return "free (e-mails cost ${} per 1,000: {})".format(
            prices["ses"]["per_thousand_emails"], prices["ses"]["source"]
        )
    if name == "lambda_scaling":
        return "provisioned concurrency is billed by the GB-second while set (make cost)"
    if name == "table":
        return "warm throughput is billed once, by the units asked for"
    return "nothing by itself"


def shared_stages(stage_name: str) -> list[str]:
    """The other stages of .chalice/config.json in the same account and Region (from their
    pools' ARNs): they share every per-account quota this stage meets."""
    own = stages.environment(stage_name).get("TODO_USER_POOL_ARN", "").split(":")[3:5]
    return [
        name
        for name in sorted(stages.document()["stages"])
        if name not in (stage_name, "local")
        and stages.environment(name).get("TODO_USER_POOL_ARN", "").split(":")[3:5] == own
    ]


def report(
    packaged: Outcome,
    order: list[Raise],
    final: Outcome,
    stage: Packaged,
    stage_name: str,
    over: int,
    quotas: Mapping[str, Any],
    prices: Mapping[str, Any],
    patience: capacity.Patience,
) -> str:
    users = packaged.users
    sender = "Cognito default sender"
    if stage.ses:
        sender = "SES, account in the sandbox" if stage.ses_sandbox else "SES, production access"
    lines = [
        f"make spike: {users:,} people arriving over {over} s at stage {stage_name} as packaged "
        f"(quotas as of {quotas['as_of']}, {quotas['region']})",
        f"stage throttle {stage.rate}/s burst {stage.burst} "
        "(each route on its own); WAF per address "
        f"{stage.waf_limit or 'none'}; {stage.memory_mb} MB; "
        f"reserved concurrency {stage.reserved or 'none'}, provisioned {stage.provisioned or 'none'}; "
        f"e-mail: {sender}; feature plan {stage.tier}; ID tokens live {stage.token_minutes} min",
        f"the page (chalicelib/site/app.js): retries the API {patience.api_retries} times and Cognito "
        f"{patience.cognito_retries} times, each wait random up to {patience.first_ms / 1000:g} s "
        f"doubling to {patience.cap_ms / 1000:g} s (after Retry-After); renews its token at the first "
        f"call {patience.renew_before_ms / 1000:g} s before it expires",
    ]
    if stage.ses and not stage.ses_sandbox:
        lines.append(
            f"assumed: SES sends {quotas['ses_per_second']['value']}/s and "
            f"{quotas['ses_per_day']['value']:,} a day (the figures AWS gave an account leaving the "
            "sandbox; production limits now vary by account: the SES console shows yours)"
        )
    if not stage.ses:
        lines.append(
            f"NOTE: stage {stage_name} keeps Cognito's default sender: "
            f"{quotas['cognito_default_email_per_day']['value']} e-mails a day per account, so at most "
            "that many people a day can get a sign-up code. A production stage must send through SES."
        )
    others = shared_stages(stage_name)
    if others:
        lines.append(
            f"shared: stage{'s' if len(others) > 1 else ''} {', '.join(others)} sit in the same account "
            "and Region: Cognito's category rates, the e-mail sender, API Gateway's account bucket, "
            "Lambda's account concurrency and Parameter Store's reads are shared with them; this model "
            "gives all of each to this stage"
        )
    lines += [
        "",
        f"as packaged: {packaged.served:,} of {users:,} served ({packaged.served / users:.0%}), "
        "the return an hour on included",
        "walls, in the order to raise them (each round, the raise that serves the most):",
    ]
    for n, step in enumerate(order, 1):
        wall = WALLS[step.wall]
        value, source = _source(wall.key, quotas, stage)
        lines += [
            f"{n}. {wall.layer}: {value}",
            f"   raising it alone: served {packaged.served:,} -> {step.alone:,} of {users:,}",
            f"   raised in this order, with those above: {step.after:,} of {users:,} "
            f"({step.after / users:.0%})",
            f"   met at {step.hit.first_second} s (with those above raised): refused "
            f"{step.hit.refused:,} times; {step.hit.gave_up:,} gave up there",
            f"   people see: {wall.sees}",
            f"   raise: {wall.raise_how}; takes {wall.raise_time}",
            f"   costs: {raise_cost(step.wall, final, quotas, prices)}",
            f"   source: {source}",
        ]
    if not order:
        lines.append("none: every step of every person is served")
    lines += [
        "",
        f"with every wall above raised: {final.served:,} of {users:,} served ({final.served / users:.0%})",
    ]
    # Not a wall: a throttled read of the runtime settings keeps the last values, nobody is
    # refused; but the operator's levers would then take longer to act. Every stage's
    # environments in the account read the same 40 a second.
    environments = int(quotas["lambda_concurrency"]["value"])
    reads, allowed = settings_reads(environments, stage.settings_seconds), quotas["ssm_default_throughput"]
    lines.append(
        f"runtime settings: the account's {environments:,} environments at most (every stage's) read "
        f"Parameter Store up to {reads:.1f} times a second (each every {stage.settings_seconds:.0f} s), "
        f"{reads / float(allowed['value']):.0%} of its default {allowed['value']}/s shared by the account "
        f"(higher throughput: {quotas['ssm_high_throughput_by_path']['value']}/s, billed; "
        f"{allowed['source'].split(' ')[0]}); past it, reads are throttled and the last values hold"
    )
    ses_price = prices["ses"]["per_thousand_emails"]
    lines.append(
        f"cost of the e-mail at SES's price: ${users * ses_price / 1000:,.2f} for {users:,} codes "
        f"(${ses_price} per 1,000, {prices['ses']['source']})"
    )
    return "\n".join(lines)


def chart(packaged: Outcome, order: list[Raise], final: Outcome, path: Path) -> None:
    """People through the journey over time: as packaged, then with each wall raised in turn."""
    runs = [("as packaged", packaged)]
    runs += [
        (f"{WALLS[r.wall].layer} raised", o)
        for r, o in zip(order, [*[r.outcome for r in order[1:]], final], strict=True)
    ]
    runs = runs[: len(plot.COLOURS)]
    last = max(max((s for s, n in enumerate(o.finished) if n), default=1) for _, o in runs)
    seconds = list(range(last + 1))
    series: dict[str, list[float]] = {}
    for label, outcome in runs:
        total, line = 0, []
        for s in seconds:
            total += outcome.finished[s]
            line.append(float(total))
        series[label] = line
    plot.line_chart(
        path,
        title=f"make spike: {packaged.users:,} people; through the journey as each wall is raised",
        x_label="seconds after the first arrival",
        x=[float(s) for s in seconds],
        left=plot.Axis("people through the journey", series),
    )


def world_of(
    template: Mapping[str, Any], measured: cost.Measured, per_address: int = ASSUMED_PER_ADDRESS
) -> World:
    """The world a packaged template meets: its stage, AWS's quotas, `make tune`'s CPU per route
    modelled into duration at the stage's memory (as `make cost` does), `make cost`'s DynamoDB
    units, a cold start, and the page's patience read from its script."""
    stage = stage_of(template)
    durations = {
        route: tune.duration_ms(
            measured.cpu_ms[route], kind.round_trips, stage.memory_mb, measured.dynamodb_ms
        )
        for route, kind in tune.MIX.items()
    }
    units = {route: tuple(u) for route, u in cost.operation_units().items()}
    cold = tune.duration_ms(measured.cold_cpu_ms, 0, stage.memory_mb)
    return World(stage, capacity.quotas(), durations, units, per_address, 1.0, cold, capacity.patience())


def inputs(package_dir: Path, stage: str) -> dict[str, Any]:
    """The stage's packaged template (`make package STAGE=stage`)."""
    template: dict[str, Any] = json.loads((package_dir / "sam.json").read_text())
    packaged = template["Resources"]["UserPool"]["Properties"]["UserPoolName"]
    if packaged != names.of(stage):
        raise SystemExit(f"{package_dir} holds {packaged}, not stage {stage}: make package STAGE={stage}")
    return template


# `make spike ACCOUNT=1`: quotas.json's documented defaults replaced by the figures of the account
# your AWS credentials name, where its services say them: SES's own (sesv2 GetAccount: whether it
# has production access, its sending quota and rate), Cognito's enforced category rates
# (GetProvisionedLimit) and the applied quotas Service Quotas lists, found by quotas.json's
# quota_name (ListServiceQuotas lists only quotas whose applied value it has).
SERVICE_QUOTAS = {"lambda_concurrency": "lambda", "apigateway_account_rps": "apigateway",
                  "dynamodb_table_wru": "dynamodb"}  # fmt: skip


def _read(quotas: dict[str, Any], key: str, value: float, where: str) -> str:
    quotas[key] = {**quotas[key], "value": value, "source": f"{where}, read from the account"}
    return f"{key}: {value:,g} ({where})"


def account_quotas(
    quotas: Mapping[str, Any], ses: Any, cognito: Any, service_quotas: Any
) -> tuple[dict[str, Any], bool, list[str]]:
    """The quotas with the account's own figures, whether its SES is in the sandbox, and a line
    per figure read (those not read stay the documented defaults, and say so)."""
    read = {key: dict(value) if isinstance(value, dict) else value for key, value in quotas.items()}
    lines = []
    account = ses.get_account()
    sandbox = not account.get("ProductionAccessEnabled", False)
    send = account.get("SendQuota", {})
    prefix = "ses_sandbox" if sandbox else "ses"
    lines.append(f"SES: {'in the sandbox' if sandbox else 'production access'} (sesv2 GetAccount)")
    if "Max24HourSend" in send:
        lines.append(_read(read, f"{prefix}_per_day", float(send["Max24HourSend"]), "sesv2 GetAccount"))
    if "MaxSendRate" in send:
        lines.append(_read(read, f"{prefix}_per_second", float(send["MaxSendRate"]), "sesv2 GetAccount"))
    for category, key in capacity.CATEGORY_QUOTAS.items():
        limit = cognito.get_provisioned_limit(
            LimitDefinition={"LimitClass": "API_CATEGORY", "Attributes": {"Category": category}}
        )["Limit"]
        lines.append(
            _read(read, key, float(limit["ProvisionedLimitValue"]), "cognito-idp GetProvisionedLimit")
        )
    for key, service in SERVICE_QUOTAS.items():
        pages = service_quotas.get_paginator("list_service_quotas").paginate(ServiceCode=service)
        applied = [q for page in pages for q in page["Quotas"] if q["QuotaName"] == quotas[key]["quota_name"]]
        if applied:
            lines.append(_read(read, key, float(applied[0]["Value"]), f"Service Quotas, {service}"))
        else:
            lines.append(
                f"{key}: {quotas[key]['value']:,} (not listed by Service Quotas: the documented default)"
            )
    return read, sandbox, lines


def read_account(quotas: Mapping[str, Any]) -> tuple[dict[str, Any], bool, list[str]]:
    """account_quotas, with clients of the account your AWS credentials name; a clear message,
    not a traceback, when they cannot read it."""
    import boto3
    import botocore.exceptions

    session = boto3.session.Session()
    try:
        return account_quotas(
            quotas, session.client("sesv2"), session.client("cognito-idp"), session.client("service-quotas")
        )
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
        raise SystemExit(
            f"ACCOUNT=1 reads your account's quotas with your AWS credentials, and could not: {exc}"
        ) from None


class Price(NamedTuple):
    users: int
    over: int
    requests: int  # API requests of the whole crowd's journey
    emails: int
    ses: bool  # the e-mails go through SES (billed), not Cognito's own sender (free, 50 a day)
    usage: float  # what those requests, users and e-mails add to the month, in dollars
    bought: dict[str, int]  # RPS above each Cognito category's free limit, to serve them all
    capacity_month: float  # that capacity, bought for a month
    capacity_part: float  # bought for less than a month


def price(
    template: Mapping[str, Any],
    measured: cost.Measured,
    prices: Mapping[str, Any],
    users: int = DEFAULT_USERS,
    over: int = DEFAULT_OVER,
) -> Price:
    """What a spike adds to the month on the packaged configuration: its requests, users and
    e-mails (what `make cost` charges a month with it, less a month without), and the Cognito
    capacity that serves every one of them at the peaks they ask for (with every wall raised)."""
    world = world_of(template, measured)
    served = simulate(users, over, world, lifted=frozenset(WALLS))
    requests = users * sum(step.api for step in capacity.JOURNEY)
    emails = users * sum(step.emails for step in capacity.JOURNEY)
    config = cost.configuration(template)
    quiet = cost.Profile(0, 0, 0.0, 0)
    crowd = cost.Profile(requests, users, 1.0 / sum(step.api for step in capacity.JOURNEY), 0)
    usage = sum(cost.monthly(config, crowd, measured, prices).values())
    usage -= sum(cost.monthly(config, quiet, measured, prices).values())
    if world.stage.ses:
        usage += emails * prices["ses"]["per_thousand_emails"] / 1000
    bought = {
        name: max(0, served.peaks[name] - int(world.quotas[quota]["value"]))
        for name, quota in capacity.CATEGORY_QUOTAS.items()
    }
    rps, cognito = sum(bought.values()), prices["cognito"]
    month, part = rps * cognito["provisioned_rps_month"], rps * cognito["provisioned_rps_part_month"]
    return Price(users, over, requests, emails, world.stage.ses, usage, bought, month, part)


def price_line(price: Price) -> str:
    """A spike's price, for `make cost` to show beside its profiles: what it adds to its month."""
    bought = ", ".join(f"+{rps:,} {name}" for name, rps in price.bought.items() if rps) or "none"
    return (
        f"A spike as `make spike` plays it, on this configuration: {price.users:,} people in "
        f"{price.over} s, {price.requests:,} API requests and {price.emails:,} e-mails "
        f"({'through SES' if price.ses else 'Cognito sender: free, but 50 a day'}): "
        f"{cost.money(price.usage)} added to its month; to serve every one at once, Cognito capacity "
        f"above the free rates ({bought} RPS at the peaks the crowd asks for) costs "
        f"{cost.money(price.capacity_part)} bought for part of a month, {cost.money(price.capacity_month)} "
        "for a full one: the spike's largest cost, unless the page's retries spread it (make spike "
        "shows who is served without it)."
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmark.spike")
    parser.add_argument("--stage", default="prod")
    parser.add_argument("--users", default=str(DEFAULT_USERS))
    parser.add_argument("--over", default=str(DEFAULT_OVER))
    parser.add_argument("--per-address", default=str(ASSUMED_PER_ADDRESS))
    parser.add_argument("--package-dir", type=Path, default=stages.ROOT / "build/package")
    parser.add_argument("--tune", type=Path, default=stages.ROOT / "build/tune.json")
    parser.add_argument("--no-chart", action="store_true")
    parser.add_argument("--account", action="store_true", help="read the quotas of your AWS account")
    parser.add_argument("--price", action="store_true", help="print the crowd's price only (make cost)")
    parser.add_argument(
        "--no-write", action="store_true", help="with --price: leave benchmark/README.md alone"
    )
    args = parser.parse_args(argv)
    try:
        users, over, per_address = int(args.users), int(args.over), int(args.per_address)
    except ValueError:
        raise SystemExit("USERS, OVER and PER_ADDRESS must be whole numbers") from None
    if not (1 <= users <= MAX_USERS and 1 <= over <= MAX_OVER and per_address >= 1):
        raise SystemExit(
            f"USERS must be 1-{MAX_USERS:,}, OVER 1-{MAX_OVER:,} seconds, PER_ADDRESS at least 1"
        )
    template = inputs(args.package_dir, args.stage)
    if args.price:  # make cost's: this crowd's price on the packaged configuration
        text = price_line(price(template, cost.load_measured(args.tune), tune.prices(), users, over))
        print(text)
        if not args.no_write:
            write_section(stages.ROOT / "benchmark" / "README.md", PRICE_MARKERS, text)
        return
    world = world_of(template, cost.load_measured(args.tune), per_address)
    if args.account:
        quotas, sandbox, read = read_account(world.quotas)
        print("read from your account (the rest: infrastructure/quotas.json's documented defaults):")
        print("\n".join(f"  {line}" for line in read))
        if sandbox and world.stage.ses and not world.stage.ses_sandbox:
            print(
                f"  NOTE: stage {args.stage} says its SES account has production access; the account says not"
            )
        world = world._replace(quotas=quotas, stage=world.stage._replace(ses_sandbox=sandbox))
    packaged, order, final = walls_in_order(users, over, world)
    print(
        report(
            packaged, order, final, world.stage, args.stage, over, world.quotas, tune.prices(), world.patience
        )
    )
    if not args.no_chart:
        # The recorded chart is prod's (benchmark/README.md shows it); other stages' go to build/.
        path = CHART if args.stage == "prod" else stages.ROOT / f"build/spike-{args.stage}.png"
        chart(packaged, order, final, path)


if __name__ == "__main__":
    main(sys.argv[1:])

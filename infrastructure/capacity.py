"""The arriving person, stated once: what each one sends, to whom, and when.

`make spike` plays this journey for N people arriving over T seconds against a stage's
walls (benchmark/spike.py); the packaged template sizes the stage's throttle from it for a
stated target (`spike_target` in a stage's config, default below), so that the stage's
own limit sits above the crowd it was built for and under the account's. Pure
arithmetic: no AWS, no template.

The journey (stated, from the web app's own calls, chalicelib/site/app.js): open the page
(its four files: /, /site/app.js, /site/app.css, /config.json), sign up (Cognito SignUp,
which sends the code by e-mail), type the code (ConfirmSignUp), sign in (InitiateAuth), the
first list, three creates and two toggles a few seconds apart, and the ID token's hourly
refresh (InitiateAuth again).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, NamedTuple

from infrastructure import stages

# AWS's quotas that decide who is served in a spike, dated, each with its source.
QUOTAS_FILE = Path(__file__).with_name("quotas.json")


def quotas() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(QUOTAS_FILE.read_text())
    return loaded


def quota(name: str) -> int:
    """One quota's value, as the dated table states it (with its source)."""
    return int(quotas()[name]["value"])


class Step(NamedTuple):
    at: int  # seconds after the person arrives
    what: str  # in a person's words
    api: int = 0  # requests to the stage (API Gateway, then Lambda)
    route: str = ""  # the API route, for DynamoDB units (make cost's names)
    cognito: str = ""  # the Cognito quota category of its request, if any
    emails: int = 0  # e-mails Cognito sends for it


JOURNEY: tuple[Step, ...] = (
    Step(0, "open the page", api=4),
    Step(5, "sign up", cognito="UserCreation", emails=1),
    Step(45, "confirm the e-mailed code", cognito="UserCreation"),
    Step(47, "sign in", cognito="UserAuthentication"),
    Step(48, "see the list", api=1, route="GET /todos"),
    Step(55, "add a todo", api=1, route="POST /todos"),
    Step(62, "add a todo", api=1, route="POST /todos"),
    Step(70, "add a todo", api=1, route="POST /todos"),
    Step(80, "tick one off", api=1, route="PATCH /todos/{id}"),
    Step(90, "tick one off", api=1, route="PATCH /todos/{id}"),
    Step(3600, "the hourly token refresh", cognito="UserAuthentication"),
)

# The crowd a stage is built for unless its config says otherwise (`spike_target`): the
# scene this project opens with, ten thousand people in a minute.
DEFAULT_TARGET = {"users": 10_000, "over": 60}
# Above the target's peak, for people who reload or retry.
HEADROOM = 1.25
# API Gateway's account-level bucket (infrastructure/quotas.json): no stage may ask for more.
ACCOUNT_RATE, ACCOUNT_BURST = quota("apigateway_account_rps"), quota("apigateway_account_burst")


def peak_api_rate(users: int, over: int) -> float:
    """Requests a second at the busiest second, people arriving evenly over `over` s."""
    arriving = users / over
    busiest = max(
        sum(step.api for step in JOURNEY if step.at <= t < step.at + over)
        for t in range(max(s.at for s in JOURNEY) + over)
    )
    return arriving * busiest


class Throttle(NamedTuple):
    rate: int
    burst: int


def stage_throttle(users: int, over: int) -> Throttle:
    """The stage's rate and burst for a target: its peak with headroom, rounded up to 50,
    within the account's bucket; the burst holds two seconds of it (a page's four files
    come at once), within the account's burst."""
    if users < 1 or over < 1:
        raise ValueError("a target needs at least one person over at least one second")
    rate = min(ACCOUNT_RATE, 50 * math.ceil(peak_api_rate(users, over) * HEADROOM / 50))
    return Throttle(rate, min(ACCOUNT_BURST, 2 * rate))


# People of one spike behind one public address (a carrier NAT, a campus, a venue's
# Wi-Fi) that the firewall's per-address rule must still serve: stated.
PEOPLE_PER_ADDRESS = 600
WAF_WINDOW_SECONDS = 300  # WAF's rate-based rules count over the trailing 5 minutes


def per_address_limit(people: int = PEOPLE_PER_ADDRESS) -> int:
    """Requests from one address in 5 minutes that `people` arriving behind it send."""
    return people * sum(step.api for step in JOURNEY if step.at < WAF_WINDOW_SECONDS)


def spike_target(stage: str, root: Path = stages.ROOT) -> dict[str, int]:
    """The crowd the stage is built for (`spike_target`: users arriving over seconds)."""
    target = stages.declared(stage, root).spike_target or DEFAULT_TARGET
    if set(target) != {"users", "over"} or not all(isinstance(v, int) and v >= 1 for v in target.values()):
        raise SystemExit(
            f'stage {stage}: spike_target needs "users" and "over" (seconds), whole numbers >= 1'
        )
    return dict(target)


def throttling(stage: str, root: Path = stages.ROOT) -> dict[str, int]:
    """Stage-wide throttling (both API types), sized by infrastructure/capacity.py for the stage's
    target: that crowd is served, and a runaway client still meets 429s, not the table."""
    target = spike_target(stage, root)
    rate, burst = stage_throttle(target["users"], target["over"])
    return {"ThrottlingBurstLimit": burst, "ThrottlingRateLimit": rate}

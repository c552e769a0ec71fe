"""The arriving person, stated once: what each one sends, to whom, and when.

`make spike` plays this journey for N people arriving over T seconds against a stage's
walls (benchmark/spike.py); the packaged template sizes the stage's throttle from it for a
stated target (`spike_target` in a stage's config, default below), so that the stage's
own limit sits above the crowd it was built for and under the account's. Pure
arithmetic: no AWS, no template.

The journey (stated, from the web app's own calls, chalicelib/site/app.js): open the page
(its four files: /, /site/app.js, /site/app.css, /config.json), sign up (Cognito SignUp,
which sends the code by e-mail), type the code (ConfirmSignUp), sign in (InitiateAuth), the
first list, three creates and two toggles a few seconds apart, and back to the list an hour
on, when the page renews its ID token (InitiateAuth again) at that call, as it does. How the
page waits and retries is read from its script (`patience`).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
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


# Cognito's quota categories the journey meets, and each one's rate in quotas.json: one map
# for the model (benchmark/spike.py) and the local rehearsal of them (tools/limits.py).
CATEGORY_QUOTAS = {
    "UserCreation": "cognito_user_creation_rps",
    "UserAuthentication": "cognito_user_authentication_rps",
    "UserAccountRecovery": "cognito_user_account_recovery_rps",
}


class Step(NamedTuple):
    at: int  # seconds after the person arrives
    what: str  # in a person's words
    routes: tuple[str, ...] = ()  # its requests to the stage, each by its method and resource
    cognito: str = ""  # the Cognito quota category of its request, if any
    emails: int = 0  # e-mails Cognito sends for it

    @property
    def api(self) -> int:
        """Requests to the stage (API Gateway, then Lambda)."""
        return len(self.routes)


# The page's four files, each a method of the REST API (its throttle counts per method).
PAGE_FILES = ("GET /", "GET /site/{name}", "GET /site/{name}", "GET /config.json")
SIGN_IN = "sign in"  # the step after which the page holds an ID token
JOURNEY: tuple[Step, ...] = (
    Step(0, "open the page", routes=PAGE_FILES),
    Step(5, "sign up", cognito="UserCreation", emails=1),
    Step(45, "confirm the e-mailed code", cognito="UserCreation"),
    Step(47, SIGN_IN, cognito="UserAuthentication"),
    Step(48, "see the list", routes=("GET /todos",)),
    Step(55, "add a todo", routes=("POST /todos",)),
    Step(62, "add a todo", routes=("POST /todos",)),
    Step(70, "add a todo", routes=("POST /todos",)),
    Step(80, "tick one off", routes=("PATCH /todos/{id}",)),
    Step(90, "tick one off", routes=("PATCH /todos/{id}",)),
    # Back an hour on, in the same tab (tokens live in sessionStorage): the page renews its
    # ID token lazily, at this first call (Patience.renew_before_ms before it expires).
    Step(3600, "back to the list an hour on", routes=("GET /todos",)),
)

# The web app's own constants for waiting and renewing, read from its script: the model of a
# crowd retries as the page retries, never as a copy of it says it does.
PAGE_SCRIPT = stages.ROOT / "chalicelib/site/app.js"


class Patience(NamedTuple):
    api_retries: int  # after a 429 or 503 from the stage
    cognito_retries: int  # after Cognito's TooManyRequests, LimitExceeded, CodeDeliveryFailure
    first_ms: int  # the first wait's cap; it doubles each attempt ("full jitter")
    cap_ms: int  # the most any one wait's cap grows to
    renew_before_ms: int  # the ID token is renewed at the first call this close to its expiry


def patience(script: str | None = None) -> Patience:
    """The page's retry counts, backoff and renewal margin, from `const NAME = number;`."""
    text = PAGE_SCRIPT.read_text() if script is None else script

    def constant(name: str) -> int:
        found = re.search(rf"^const {name} = ([0-9_]+);$", text, re.MULTILINE)
        if found is None:
            raise SystemExit(f"{PAGE_SCRIPT}: no `const {name} = <number>;` (make spike reads it)")
        return int(found.group(1).replace("_", ""))

    return Patience(
        constant("API_RETRIES"),
        constant("COGNITO_RETRIES"),
        constant("BACKOFF_FIRST_MS"),
        constant("BACKOFF_CAP_MS"),
        constant("RENEW_BEFORE_MS"),
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


def throttling(target: Mapping[str, int] | None) -> dict[str, int]:
    """Stage-wide throttling (both API types), sized for the stage's `spike_target` (DEFAULT_TARGET
    when it sets none): that crowd is served, and a runaway client still meets 429s, not the table."""
    target = target or DEFAULT_TARGET
    rate, burst = stage_throttle(target["users"], target["over"])
    return {"ThrottlingBurstLimit": burst, "ThrottlingRateLimit": rate}

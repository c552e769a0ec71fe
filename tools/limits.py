"""The deployed stage's walls, enforced by `make run` so that a spike can be rehearsed here.

- **The stage's throttle**: API Gateway meters a stage with a token bucket (rate, burst;
  "Throttle API requests for better throughput", API Gateway developer guide). The local
  server takes a token per request from a bucket of the stage's rate and burst (the same
  numbers the packaged stage gets, infrastructure/capacity.py) and, when none is left, answers as the
  deployed gateway response does: 429 `TooManyRequests` in the app's error shape, with
  `Retry-After`, CORS and the security headers.
- **Cognito's category rates** on the embedded pool: UserCreation (SignUp, ConfirmSignUp,
  AdminCreateUser, AdminConfirmSignUp), UserAuthentication (InitiateAuth, AdminInitiateAuth,
  and the challenge responses) and UserAccountRecovery, per second (infrastructure/quotas.json).
  Past the rate: HTTP 400 `TooManyRequestsException`, as Cognito answers.
- **Cognito's default sender**: the local pool, like any pool without SES, sends at most 50
  e-mails a day (SignUp, ResendConfirmationCode, ForgotPassword each send one). Past that:
  HTTP 400 `LimitExceededException`, with Cognito's words. Each operation reserves its e-mail
  before it runs and gives it back if nothing was sent, so concurrent sign-ups never pass the
  cap together. Rehearsing a stage that sends through SES (`make run LIKE=prod`): SES's daily
  quota and sending rate instead. Past the rate, `CodeDeliveryFailureException`: a SignUp has
  then already made the user (unconfirmed, with no code), the order AWS documents for
  AdminCreateUser; a ResendConfirmationCode made nothing. (How Cognito words it when SES
  throttles it is not documented: the exception is the one its API reference lists.)

`scale` divides every rate, burst and count (`make spike LOCAL=1` plays a crowd this machine
can carry against quotas shrunk by one factor). `make run LIMITS=off` turns all of it off,
for load tests of the code itself. Where it stops: the real services' buckets are
distributed and approximate; this one is exact and in one process. The account-wide
quotas (API Gateway's 10,000/s, Lambda's concurrency, DynamoDB's table and partition
rates) are not rehearsed here: `make spike` models them.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from infrastructure import capacity

QUOTAS: dict[str, Any] = capacity.quotas()

CATEGORIES = {
    "UserCreation": ("SignUp", "ConfirmSignUp", "AdminCreateUser", "AdminConfirmSignUp"),
    "UserAuthentication": (
        "InitiateAuth",
        "AdminInitiateAuth",
        "RespondToAuthChallenge",
        "AdminRespondToAuthChallenge",
    ),
    "UserAccountRecovery": ("ResendConfirmationCode", "ForgotPassword", "ConfirmForgotPassword"),
}
# The operations whose success sends the user an e-mail (the confirmation or reset code).
SENDS_EMAIL = frozenset({"SignUp", "ResendConfirmationCode", "ForgotPassword"})
# Cognito's own words for both refusals.
TOO_MANY_REQUESTS = "Too many requests"
EMAIL_LIMIT = (
    "Exceeded daily email limit for the operation or the account. If a higher limit is required, "
    "please configure your user pool to use your own Amazon SES configuration for sending email."
)


SES_THROTTLED = "Unable to deliver the code: the e-mail service's sending rate was exceeded."


class TokenBucket:
    """`rate` tokens a second, at most `burst` kept; thread-safe."""

    def __init__(self, rate: float, burst: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate, self.burst = rate, burst
        self._clock = clock
        self._tokens = burst
        self._last = clock()
        self._lock = threading.Lock()

    def take(self) -> bool:
        with self._lock:
            now = self._clock()
            self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
            self._last = now
            if self._tokens >= 1:
                self._tokens -= 1
                return True
            return False


class CognitoQuotas:
    """WSGI middleware in front of the embedded backend: Cognito's rates and its default
    sender's daily cap for the user-pool operations; everything else passes untouched."""

    def __init__(self, app: Callable[..., Iterable[bytes]], scale: float = 1.0, ses: bool = False) -> None:
        self._app = app
        categories = capacity.CATEGORY_QUOTAS.items()
        rates = {name: float(QUOTAS[quota]["value"]) / scale for name, quota in categories}
        # Cognito meters a second at a time: a bucket of one second's requests.
        self._buckets = {name: TokenBucket(rate, max(rate, 1.0)) for name, rate in rates.items()}
        self._category = {op: name for name, ops in CATEGORIES.items() for op in ops}
        day = "ses_per_day" if ses else "cognito_default_email_per_day"
        self.emails_a_day = max(1, int(QUOTAS[day]["value"] / scale))
        rate = float(QUOTAS["ses_per_second"]["value"]) / scale
        self._ses = TokenBucket(rate, max(rate, 1.0)) if ses else None
        self._day, self._sent = "", 0  # e-mails reserved or sent on that day (UTC)
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        target = str(environ.get("HTTP_X_AMZ_TARGET", ""))
        service, _, operation = target.partition(".")
        if service != "AWSCognitoIdentityProviderService":
            return self._app(environ, start_response)
        category = self._category.get(operation)
        if category is not None and not self._buckets[category].take():
            return _refuse(start_response, "TooManyRequestsException", TOO_MANY_REQUESTS)
        if operation not in SENDS_EMAIL:
            return self._app(environ, start_response)
        if not self._reserve():
            return _refuse(start_response, "LimitExceededException", EMAIL_LIMIT)
        delivered = self._ses is None or self._ses.take()
        if not delivered and operation != "SignUp":
            self._release()
            return _refuse(start_response, "CodeDeliveryFailureException", SES_THROTTLED)
        status, headers, body = _answer(self._app, environ)
        if not status.startswith("200"):
            self._release()  # refused (the user exists, a bad password...): nothing was sent
        elif not delivered:
            # SignUp has made the user, then the code cannot be sent: Cognito's order (AWS
            # documents it for AdminCreateUser). The person exists, unconfirmed, with no code:
            # the page sends it again (ResendConfirmationCode) rather than signing up again.
            self._release()
            return _refuse(start_response, "CodeDeliveryFailureException", SES_THROTTLED)
        start_response(status, headers)
        return body

    def _reserve(self) -> bool:
        """Take one of the day's e-mails before the operation runs, or say none is left: a
        count checked before and added after lets concurrent sign-ups pass the cap together."""
        day = datetime.now(UTC).strftime("%Y-%m-%d")
        with self._lock:
            if self._day != day:
                self._day, self._sent = day, 0  # yesterday's count goes
            if self._sent >= self.emails_a_day:
                return False
            self._sent += 1
            return True

    def _release(self) -> None:
        """Give back a reserved e-mail that was not sent."""
        with self._lock:
            self._sent -= 1

    @property
    def sent_today(self) -> int:
        with self._lock:
            return self._sent


App = Callable[..., Iterable[bytes]]


def _answer(app: App, environ: dict[str, Any]) -> tuple[str, list[Any], list[bytes]]:
    """The wrapped app's whole answer (status, headers, body), not yet sent on."""
    answered: list[Any] = []

    def recording(status: str, headers: list[tuple[str, str]], *rest: Any) -> Callable[[bytes], None]:
        answered[:] = [status, headers]
        return lambda _: None

    body = list(app(environ, recording))
    return answered[0], answered[1], body


def _refuse(start_response: Callable[..., Any], kind: str, message: str) -> list[bytes]:
    body = json.dumps({"__type": kind, "message": message}).encode()
    start_response(
        "400 Bad Request",
        [
            ("Content-Type", "application/x-amz-json-1.1"),
            ("Content-Length", str(len(body))),
            ("x-amzn-ErrorType", kind),
            # The page calls Cognito from the browser: it must be able to read the refusal.
            ("Access-Control-Allow-Origin", "*"),
            ("Access-Control-Expose-Headers", "x-amzn-ErrorType"),
        ],
    )
    return [body]

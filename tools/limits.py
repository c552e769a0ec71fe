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
  HTTP 400 `LimitExceededException`, with Cognito's words. Rehearsing a stage that sends
  through SES (`make run LIKE=prod`): SES's daily quota and sending rate instead; past the
  rate, `CodeDeliveryFailureException` and no user is made (our assumption: AWS does not
  document how Cognito answers when SES throttles it).

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
_CATEGORY_QUOTA = {
    "UserCreation": "cognito_user_creation_rps",
    "UserAuthentication": "cognito_user_authentication_rps",
    "UserAccountRecovery": "cognito_user_account_recovery_rps",
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
        rates = {name: float(QUOTAS[quota]["value"]) / scale for name, quota in _CATEGORY_QUOTA.items()}
        # Cognito meters a second at a time: a bucket of one second's requests.
        self._buckets = {name: TokenBucket(rate, max(rate, 1.0)) for name, rate in rates.items()}
        self._category = {op: name for name, ops in CATEGORIES.items() for op in ops}
        day = "ses_per_day" if ses else "cognito_default_email_per_day"
        self.emails_a_day = max(1, int(QUOTAS[day]["value"] / scale))
        rate = float(QUOTAS["ses_per_second"]["value"]) / scale
        self._ses = TokenBucket(rate, max(rate, 1.0)) if ses else None
        self._sent: dict[str, int] = {}
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
        day = datetime.now(UTC).strftime("%Y-%m-%d")
        with self._lock:
            if self._sent.get(day, 0) >= self.emails_a_day:
                return _refuse(start_response, "LimitExceededException", EMAIL_LIMIT)
        if self._ses is not None and not self._ses.take():
            return _refuse(start_response, "CodeDeliveryFailureException", SES_THROTTLED)
        status: list[str] = []

        def recording(code: str, headers: list[tuple[str, str]], *rest: Any) -> Any:
            status.append(code)
            return start_response(code, headers, *rest)

        body = list(self._app(environ, recording))
        if status and status[0].startswith("200"):
            with self._lock:
                self._sent = {day: self._sent.get(day, 0) + 1}  # yesterday's count goes
        return body


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

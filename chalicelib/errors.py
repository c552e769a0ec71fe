"""The API's errors: each class is one HTTP status and one `Code` in the error body.

Chalice renders any `ChaliceViewError` raised by a view as
``{"Code": <class name>, "Message": <message>}`` with the class's status code, so
this hierarchy *is* the HTTP error map. Raise where the fact is known; never map
errors by their message text.
"""

from chalice.app import (
    BadRequestError,
    ChaliceViewError,
    ForbiddenError,
    MethodNotAllowedError,
    NotFoundError,
    TooManyRequestsError,
    UnauthorizedError,
    UnprocessableEntityError,
)


class InvalidRequest(BadRequestError):
    """The request is malformed: body, JSON, query string or headers."""


class InvalidTodo(BadRequestError):
    """The body is well-formed JSON but not a valid todo or change to one."""


class InvalidCursor(BadRequestError):
    """A pagination cursor that this API did not issue to this caller."""


class Unauthenticated(UnauthorizedError):
    """The request carries no verified identity."""

    MESSAGE = "a valid Cognito ID token is required"


class Forbidden(ForbiddenError):
    """Refused in front of the app (a resource policy, a firewall rule, an API key)."""

    MESSAGE = "this request is not allowed"


class RouteNotFound(NotFoundError):
    """No route has this path (API Gateway calls it MISSING_AUTHENTICATION_TOKEN: a 403)."""

    MESSAGE = "no such route"


class TodoNotFound(NotFoundError):
    """No such todo for this caller (another user's todo is indistinguishable)."""

    def __init__(self) -> None:
        super().__init__("todo not found")


class JobNotFound(NotFoundError):
    """No such bulk delete for this caller (another user's job is indistinguishable)."""

    def __init__(self) -> None:
        super().__init__("job not found")


class MethodNotAllowed(MethodNotAllowedError):
    """The resource exists but does not support the request's method."""


class PreconditionFailed(ChaliceViewError):
    """`If-Match` named a version the todo no longer has: someone else changed it."""

    STATUS_CODE = 412


class SyncTokenExpired(ChaliceViewError):
    """A sync token older than the changes kept (the stage's sync window): the client reloads
    the whole list and takes the new token it answers with."""

    STATUS_CODE = 410


class IdempotencyKeyReused(UnprocessableEntityError):
    """An Idempotency-Key already used, within its 24 hours, for a different request."""


class TodoLimitReached(ChaliceViewError):
    """The caller holds as many todos as the stage allows (the max-todos setting): nothing was
    written; deleting some makes room."""

    STATUS_CODE = 409


class PayloadTooLarge(ChaliceViewError):
    STATUS_CODE = 413
    MESSAGE = "the request body is too large"


class UnsupportedMediaType(ChaliceViewError):
    """A body that is not application/json (Chalice answers its content-type check with
    this code, before any route runs)."""

    STATUS_CODE = 415
    MESSAGE = "the body must be application/json"


class TooManyRequests(TooManyRequestsError):
    """The stage's throttling (or a usage plan's quota) refused the request; retry later."""

    MESSAGE = "too many requests: retry after a pause"


class InternalServerError(ChaliceViewError):
    """Something failed that the client cannot fix (Chalice's own code for unhandled errors)."""

    MESSAGE = "an internal error occurred"


class GatewayTimeout(ChaliceViewError):
    """The function did not answer within API Gateway's integration timeout."""

    STATUS_CODE = 504
    MESSAGE = "the request timed out"


class ServiceUnavailable(ChaliceViewError):
    """DynamoDB stayed unavailable within our retry budget; the client may retry."""

    STATUS_CODE = 503


# The one vocabulary: every `Code` a client can meet, from the app or from in front of it.
CODES = (
    "InvalidRequest", "InvalidTodo", "InvalidCursor", "Unauthenticated", "Forbidden", "RouteNotFound",
    "TodoNotFound", "JobNotFound", "MethodNotAllowed", "PreconditionFailed", "SyncTokenExpired",
    "PayloadTooLarge", "UnsupportedMediaType", "IdempotencyKeyReused", "TodoLimitReached", "TooManyRequests",
    "InternalServerError", "ServiceUnavailable", "GatewayTimeout",
)  # fmt: skip

# API Gateway answers these itself, before or instead of the function: each gateway
# response type gets the status and the body the app would give (the packaged template
# renders them; `make run`'s server answers the same for its own refusals). The two
# DEFAULT types catch every other type of their class.
GATEWAY_ERRORS: dict[str, type[ChaliceViewError]] = {
    "UNAUTHORIZED": Unauthenticated,
    "ACCESS_DENIED": Forbidden,
    "WAF_FILTERED": Forbidden,
    "INVALID_API_KEY": Forbidden,
    "MISSING_AUTHENTICATION_TOKEN": RouteNotFound,
    "RESOURCE_NOT_FOUND": RouteNotFound,
    "THROTTLED": TooManyRequests,
    "QUOTA_EXCEEDED": TooManyRequests,
    "REQUEST_TOO_LARGE": PayloadTooLarge,
    "UNSUPPORTED_MEDIA_TYPE": UnsupportedMediaType,
    "BAD_REQUEST_BODY": InvalidRequest,
    "BAD_REQUEST_PARAMETERS": InvalidRequest,
    "INTEGRATION_TIMEOUT": GatewayTimeout,
    "DEFAULT_4XX": InvalidRequest,
    "DEFAULT_5XX": InternalServerError,
}
# Retry-After on a 429 (the gateway's throttling) and a 503 (the app's): seconds to wait.
RETRY_AFTER_SECONDS = 1


def body(code: str, message: str) -> dict[str, str]:
    """The one error body, wherever an error is written (the app, the gateway, make run)."""
    return {"Code": code, "Message": message}


def gateway_message(error: type[ChaliceViewError]) -> str:
    return str(getattr(error, "MESSAGE", "the request is not valid"))

"""The API's errors: each class is one HTTP status and one `Code` in the error body.

Chalice renders any `ChaliceViewError` raised by a view as
``{"Code": <class name>, "Message": <message>}`` with the class's status code, so
this hierarchy *is* the HTTP error map. Raise where the fact is known; never map
errors by their message text.
"""

from chalice.app import (
    BadRequestError,
    ChaliceViewError,
    MethodNotAllowedError,
    NotFoundError,
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


class TodoNotFound(NotFoundError):
    """No such todo for this caller (another user's todo is indistinguishable)."""

    def __init__(self) -> None:
        super().__init__("todo not found")


class MethodNotAllowed(MethodNotAllowedError):
    """The resource exists but does not support the request's method."""


class PreconditionFailed(ChaliceViewError):
    """`If-Match` named a version the todo no longer has: someone else changed it."""

    STATUS_CODE = 412


class IdempotencyKeyReused(UnprocessableEntityError):
    """An Idempotency-Key already used, within its 24 hours, for a different request."""


class PayloadTooLarge(ChaliceViewError):
    STATUS_CODE = 413


class ServiceUnavailable(ChaliceViewError):
    """DynamoDB stayed unavailable within our retry budget; the client may retry."""

    STATUS_CODE = 503

"""The HTTP edge: what a Chalice request says about the caller, the body, the query and
the API's own absolute URL. Knows Chalice's request, not DynamoDB."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from chalice.app import ChaliceViewError, Request, Response, RouteEntry

from chalicelib import errors
from chalicelib.errors import InvalidRequest, Unauthenticated
from chalicelib.todos import parse_body

_MAX_SUB_CHARS = 128
# A host name, IPv4 or bracketed IPv6 literal, with an optional port. Anything else
# would be copied into `url` and `Location`, so it is refused.
_HOST = re.compile(r"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]{1,253})(:[0-9]{1,5})?")
_PATH_PREFIX = re.compile(r"(/[A-Za-z0-9._~%!$&'()*+,;=:@-]*)*")


def gateway_claims(request: Request) -> Any:
    """The claims API Gateway's Cognito authorizer verified and put in the context.

    The local gateway puts unverified claims there, and none at all when a request
    has no token: outside Lambda the app verifies tokens itself (chalicelib/auth.py).
    """
    authorizer = request.context.get("authorizer")
    return authorizer.get("claims") if isinstance(authorizer, dict) else None


def owner(claims: Any) -> str:
    """The owner of the caller's data: the verified `sub` claim, and nothing else
    (never the body, path or query). Without one, no data is touched."""
    sub = claims.get("sub") if isinstance(claims, dict) else None
    # Cognito's subs are UUIDs; "#" is refused because the store derives other partitions
    # from an owner with it ("<sub>#idempotency"), which no user's own partition may equal.
    if not isinstance(sub, str) or not 0 < len(sub) <= _MAX_SUB_CHARS or not sub.isprintable() or "#" in sub:
        raise Unauthenticated(Unauthenticated.MESSAGE)
    return sub


def body(request: Request) -> dict[str, Any]:
    raw = request.raw_body
    return parse_body(raw if isinstance(raw, bytes) else raw.encode("utf-8"))


def query(request: Request) -> dict[str, list[str]]:
    params = request.query_params
    if params is None:
        return {}
    return {name: list(params.getlist(name)) for name in params}


def base_url(request: Request) -> str:
    """The API's root as the client reached it, e.g. ``https://abc.execute-api.../dev``.

    Host from the `Host` header; scheme from `X-Forwarded-Proto` (API Gateway sets
    https; `chalice local` sets nothing: http); the path prefix (API Gateway's stage
    or a custom domain's base path) is what precedes `/todos` in the request path.
    """
    host = request.headers.get("host", "")
    if not _HOST.fullmatch(host):
        raise InvalidRequest("the Host header is missing or invalid")
    scheme = request.headers.get("x-forwarded-proto", "http").split(",")[0].strip().lower()
    if scheme not in ("http", "https"):
        raise InvalidRequest("the X-Forwarded-Proto header is invalid")
    path = str(request.context.get("path") or "")
    prefix = path[: path.rfind("/todos")] if "/todos" in path else ""
    if not _PATH_PREFIX.fullmatch(prefix):
        prefix = ""
    return f"{scheme}://{host}{prefix}"


def error_response(error: ChaliceViewError, headers: dict[str, str | list[str]]) -> Response:
    """An error in the one body shape Chalice gives raised errors, plus headers."""
    return Response(
        body=errors.body(type(error).__name__, str(error)),
        status_code=error.STATUS_CODE,
        headers=headers,
    )


_METHOD_ORDER = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")


def allowed_methods(routes: Mapping[str, Mapping[str, RouteEntry]], path: str) -> str:
    """The `Allow` of a path's 405s: the methods its routes serve, less those that answer 405."""
    served = {
        method for method, entry in routes[path].items() if not entry.view_name.endswith("method_not_allowed")
    }
    return ", ".join(method for method in _METHOD_ORDER if method in served)


_NOTES = "todo-api.notes"


def note(request: Request, **facts: Any) -> None:
    """Facts a route learnt (who asked, what it created or deleted) for the request's log line."""
    request.context.setdefault(_NOTES, {}).update(facts)


def notes(request: Request) -> dict[str, Any]:
    found = request.context.get(_NOTES)
    return dict(found) if isinstance(found, dict) else {}

"""The HTTP edge: what a request says (the caller, its body, headers, query and cursor,
the API's own absolute URL) and what a response says (the representation, ETag, Link,
errors). Knows Chalice's request and HTTP's rules; not DynamoDB's requests, nor the
todo's rules (of the item schema, one fact: the mark that no caller's `sub` may hold)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple
from urllib.parse import urlencode

from chalice.app import ChaliceViewError, Request, Response, RouteEntry

from chalicelib import errors, todos
from chalicelib.errors import (
    InvalidCursor,
    InvalidRequest,
    JobNotFound,
    PayloadTooLarge,
    TodoNotFound,
    Unauthenticated,
)
from chalicelib.schema import RESERVED_MARK, Change
from chalicelib.todos import ClearJob, Todo

MAX_BODY_BYTES = 8 * 1024
# A todo is one flat object; a little room for clients that send more than they need.
MAX_JSON_DEPTH = 8
DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 100
_MAX_CURSOR_CHARS = 128

_MAX_SUB_CHARS = 128
# A host name, IPv4 or bracketed IPv6 literal, with an optional port. Anything else
# would be copied into `url` and `Location`, so it is refused.
_HOST = re.compile(r"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]{1,253})(:[0-9]{1,5})?")
_PATH_PREFIX = re.compile(r"(/[A-Za-z0-9._~%!$&'()*+,;=:@-]*)*")


def gateway_claims(request: Request) -> Any:
    """The claims API Gateway's authorizer (REST: Cognito; HTTP: JWT) verified and put in
    the context, those of an ID token only.

    The local gateway puts unverified claims there, and none at all when a request
    has no token: outside Lambda the app verifies tokens itself (chalicelib/auth.py).
    """
    authorizer = request.context.get("authorizer")
    claims = authorizer.get("claims") if isinstance(authorizer, dict) else None
    # An HTTP API's JWT authorizer also passes the app client's access tokens; the REST
    # API's Cognito authorizer, and the app outside Lambda, take ID tokens only.
    if isinstance(claims, dict) and claims.get("token_use", "id") != "id":
        return None
    return claims


def owner(claims: Any) -> str:
    """The owner of the caller's data: the verified `sub` claim, and nothing else
    (never the body, path or query). Without one, no data is touched."""
    sub = claims.get("sub") if isinstance(claims, dict) else None
    # Cognito's subs are UUIDs; the schema's reserved mark is refused: the partitions that
    # are no user's own hold it ("<sub>#idempotency"), and no caller may own one of those.
    if (
        not isinstance(sub, str)
        or not 0 < len(sub) <= _MAX_SUB_CHARS
        or not sub.isprintable()
        or RESERVED_MARK in sub
    ):
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
    or a custom domain's base path) is what precedes the route in the request path.
    """
    host = request.headers.get("host", "")
    if not _HOST.fullmatch(host):
        raise InvalidRequest("the Host header is missing or invalid")
    scheme = request.headers.get("x-forwarded-proto", "http").split(",")[0].strip().lower()
    if scheme not in ("http", "https"):
        raise InvalidRequest("the X-Forwarded-Proto header is invalid")
    return f"{scheme}://{host}{path_prefix(request)}"


# --- the path, the body and the headers -------------------------------------------


def todo_id_or_404(value: str) -> str:
    """A path's todo id, or TodoNotFound: a string that is not an id names no todo, and
    never reaches DynamoDB (an empty or oversize key would be a ValidationException)."""
    if not todos.is_todo_id(value):
        raise TodoNotFound()
    return value


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"duplicate key {key!r}")
        result[key] = value
    return result


def _nesting_depth(text: str) -> int:
    """How deep the arrays and objects of a JSON text nest, read lexically (no recursion)."""
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


def parse_body(raw: bytes) -> dict[str, Any]:
    """Strict JSON object from a request body, or a 4xx.

    Stricter than `json.loads`: UTF-8 only, no NaN/Infinity, no duplicate keys, at most
    MAX_JSON_DEPTH levels of nesting. The depth is checked before parsing: how deep the
    parser itself recurses before a RecursionError differs between Python versions
    (3.11 refused 1,300 nested objects; 3.13 parses them).
    """
    if len(raw) > MAX_BODY_BYTES:
        raise PayloadTooLarge(f"the body is larger than {MAX_BODY_BYTES} bytes")
    if not raw.strip():
        raise InvalidRequest("a JSON object body is required")
    try:
        text = raw.decode("utf-8")
        if _nesting_depth(text) > MAX_JSON_DEPTH:
            raise InvalidRequest(f"the body nests deeper than {MAX_JSON_DEPTH} levels")
        payload = json.loads(text, parse_constant=_reject_constant, object_pairs_hook=_unique_keys)
    except InvalidRequest:
        raise
    except (ValueError, RecursionError):  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise InvalidRequest("the body is not valid UTF-8 JSON") from None
    if not isinstance(payload, dict):
        raise InvalidRequest("the body must be a JSON object")
    return payload


_IDEMPOTENCY_KEY = re.compile(r"[A-Za-z0-9_.:-]{1,128}")


def idempotency_key(header: str | None) -> str | None:
    """An `Idempotency-Key` header's key, if one was sent, or a 400."""
    if header is not None and not _IDEMPOTENCY_KEY.fullmatch(header):
        raise InvalidRequest("Idempotency-Key must be 1-128 letters, digits or _.:- (a UUID will do)")
    return header


# An entity tag, or its version without the quotes (3 for "3"): read leniently, as the
# contract says (a header of letters and digits only is what many clients and fuzzers send).
_ETAG = re.compile(r'(W/)?(?:"(\d{1,15})"|(\d{1,15}))')
MAX_IF_MATCH_TAGS = 10


def if_match(header: str | None) -> frozenset[int] | None:
    """The versions an `If-Match` header accepts; None when any existing todo will do.

    If-Match compares strongly, so a weak tag (`W/"3"`) matches nothing: a request that
    names only weak tags fails its precondition (412), as RFC 9110 says.
    """
    if header is None or header.strip() == "*":
        return None
    versions = set()
    tags = [tag.strip() for tag in header.split(",")]
    if len(tags) > MAX_IF_MATCH_TAGS:
        raise InvalidRequest(f"If-Match may list at most {MAX_IF_MATCH_TAGS} entity tags")
    for tag in tags:
        match = _ETAG.fullmatch(tag)
        if match is None:
            raise InvalidRequest('If-Match must be "*" or a list of entity tags such as "3"')
        if match[1] is None:
            versions.add(int(match[2] or match[3]))
    return frozenset(versions)


# --- query strings and cursors --------------------------------------------------


class ListQuery(NamedTuple):
    limit: int
    completed: bool | None
    after: str | None
    since: todos.SyncToken | None = None  # the changes after this sync token, instead of the list


def _single(params: Mapping[str, Sequence[str]], name: str) -> str | None:
    values = params.get(name)
    if values is None:
        return None
    if len(values) != 1:
        raise InvalidRequest(f"query parameter {name!r} must be given once")
    return values[0]


def _check_params(params: Mapping[str, Sequence[str]], allowed: frozenset[str]) -> None:
    unknown = sorted(set(params) - allowed)
    if unknown:
        raise InvalidRequest(f"unknown query parameter {unknown[0][:40]!r}")


def _completed_param(params: Mapping[str, Sequence[str]]) -> bool | None:
    value = _single(params, "completed")
    if value is None:
        return None
    if value not in ("true", "false"):
        raise InvalidRequest("'completed' must be 'true' or 'false'")
    return value == "true"


# A sync token as this API writes it (todos.SyncToken): the change number, the issue time.
_SYNC_TOKEN = re.compile(r"([0-9]{1,15})\.([0-9]{1,12})")


def _since(params: Mapping[str, Sequence[str]]) -> todos.SyncToken | None:
    value = _single(params, "since")
    if value is None:
        return None
    match = _SYNC_TOKEN.fullmatch(value)
    if match is None:
        raise InvalidRequest("'since' must be a Sync-Token this API answered with")
    if "cursor" in params:
        raise InvalidRequest("'since' takes no cursor: the changes are paged by their own links")
    return todos.SyncToken(int(match[1]), int(match[2]))


def list_query(params: Mapping[str, Sequence[str]], *, owner: str) -> ListQuery:
    _check_params(params, frozenset({"limit", "cursor", "completed", "since"}))
    raw_limit = _single(params, "limit")
    limit = DEFAULT_PAGE_SIZE
    if raw_limit is not None:
        if not (raw_limit.isascii() and raw_limit.isdigit() and len(raw_limit) <= 3):
            raise InvalidRequest(f"'limit' must be an integer from 1 to {MAX_PAGE_SIZE}")
        limit = int(raw_limit)
        if not 1 <= limit <= MAX_PAGE_SIZE:
            raise InvalidRequest(f"'limit' must be an integer from 1 to {MAX_PAGE_SIZE}")
    since = _since(params)
    cursor = _single(params, "cursor")
    after = None if cursor is None else decode_cursor(cursor, owner=owner)
    return ListQuery(limit=limit, completed=_completed_param(params), after=after, since=since)


def clear_query(params: Mapping[str, Sequence[str]]) -> bool | None:
    """`DELETE /todos`: which todos to delete (None: all of them)."""
    _check_params(params, frozenset({"completed"}))
    return _completed_param(params)


def _owner_tag(owner: str) -> str:
    # Binds a cursor to the caller who received it. It is a consistency check, not a
    # secret: the store never reads the owner from a cursor, only from the identity.
    return hashlib.sha256(owner.encode("utf-8")).hexdigest()[:16]


def encode_cursor(after_id: str, *, owner: str) -> str:
    raw = f"{after_id}.{_owner_tag(owner)}".encode("ascii")
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def decode_cursor(cursor: str, *, owner: str) -> str:
    if not cursor.isascii() or len(cursor) > _MAX_CURSOR_CHARS:
        raise InvalidCursor("invalid cursor")
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
    except (binascii.Error, ValueError):
        raise InvalidCursor("invalid cursor") from None
    after_id, _, tag = raw.partition(".")
    if not todos.is_todo_id(after_id) or tag != _owner_tag(owner):
        raise InvalidCursor("invalid cursor")
    return after_id


def next_link(base_url: str, query: ListQuery, *, after_id: str, owner: str) -> str:
    """An RFC 8288 `Link` header value for the next page."""
    params: dict[str, str] = {"limit": str(query.limit)}
    if query.completed is not None:
        params["completed"] = "true" if query.completed else "false"
    params["cursor"] = encode_cursor(after_id, owner=owner)
    return f'<{base_url}/todos?{urlencode(params)}>; rel="next"'


def changes_link(base_url: str, query: ListQuery, since: todos.SyncToken) -> str:
    """The `Link` header value for the next page of changes."""
    params = {"limit": str(query.limit), "since": str(since)}
    if query.completed is not None:
        params["completed"] = "true" if query.completed else "false"
    return f'<{base_url}/todos?{urlencode(params)}>; rel="next"'


def list_etag(head: int, query: ListQuery) -> str:
    """A weak entity tag of a list's first page: its owner's last change and what it asked."""
    completed = "all" if query.completed is None else str(query.completed).lower()
    return f'W/"{head}-{completed}-{query.limit}"'


def none_match(header: str | None, tag: str) -> bool:
    """Whether If-None-Match names `tag` (or "*"): compared weakly, as RFC 9110 says."""
    if header is None:
        return False
    opaque = tag.removeprefix("W/")
    return any(
        t.strip() == "*" or t.strip().removeprefix("W/") == opaque
        for t in header.split(",")[:MAX_IF_MATCH_TAGS]
    )


# --- responses ---------------------------------------------------------------------


def todo_json(todo: Todo, base_url: str) -> dict[str, Any]:
    """The Todo-Backend representation; `order` appears only when set."""
    body: dict[str, Any] = {
        "id": todo.id,
        "title": todo.title,
        "completed": todo.completed,
        "url": todo_url(base_url, todo.id),
        "createdAt": todo.created_at,
        "updatedAt": todo.updated_at,
    }
    if todo.order is not None:
        body["order"] = todo.order
    return body


def change_json(change: Change, base_url: str, completed: bool | None = None) -> dict[str, Any]:
    """A change in the changes since a sync token: the todo as it became; a deleted one as it
    was, with `deleted`. For the view of `completed` ones (or open ones), a todo that left
    the view is deleted from it."""
    body = todo_json(change.todo, base_url)
    if change.deleted or (completed is not None and change.todo.completed != completed):
        body["deleted"] = True
    return body


def todo_url(base_url: str, todo_id: str) -> str:
    return f"{base_url}/todos/{todo_id}"


def job_url(base_url: str, job_id: str) -> str:
    return f"{base_url}/jobs/{job_id}"


def job_json(job: ClearJob, base_url: str) -> dict[str, Any]:
    """A bulk delete's state: `running` until every todo it covers is deleted, then `done`."""
    return {
        "id": job.id,
        "url": job_url(base_url, job.id),
        "status": "running" if job.finished_at is None else "done",
        "completed": job.completed,
        "deleted": job.deleted,
        "createdAt": job.created_at,
        "finishedAt": job.finished_at,
    }


def job_id_or_404(value: str) -> str:
    if not todos.is_todo_id(value):  # job ids are ids too
        raise JobNotFound()
    return value


def etag(todo: Todo) -> str:
    """A strong entity tag: the todo's version (RFC 9110, section 8.8.3)."""
    return f'"{todo.version}"'


# Headers every response carries, errors and the gateway's own included (infrastructure/template.py
# gives API Gateway's responses the same; tools/local.py the local server's): one user's
# data is never stored by a cache, and no body is sniffed into another type.
SECURITY_HEADERS = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}
# Wherever the API is reached over TLS (API Gateway always is): browsers keep to HTTPS.
HSTS = {"Strict-Transport-Security": "max-age=31536000; includeSubDomains"}


def security_headers(request: Request) -> dict[str, str]:
    """SECURITY_HEADERS, and HSTS when the request came over HTTPS (a browser ignores HSTS
    sent over plain HTTP, and the local server is plain HTTP)."""
    proto = request.headers.get("x-forwarded-proto", "").split(",")[0].strip().lower()
    return {**SECURITY_HEADERS, **HSTS} if proto == "https" else dict(SECURITY_HEADERS)


def path_prefix(request: Request) -> str:
    """What precedes the route in the request's path (API Gateway's stage, a custom domain's
    base path, or nothing), e.g. ``/dev`` for ``/dev/site/app.js`` on ``/site/{name}``."""
    path = str(request.context.get("path") or "")
    route = str(request.context.get("resourcePath") or "/")
    depth = len([part for part in route.split("/") if part])
    parts = path.rstrip("/").split("/")
    prefix = "/".join(parts[: len(parts) - depth]) if depth else path.rstrip("/")
    return prefix if _PATH_PREFIX.fullmatch(prefix) else ""


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

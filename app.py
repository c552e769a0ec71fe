"""todo-api: a per-user To-Do REST API (the Todo-Backend contract) on Chalice.

This module is the table of contents: the app, the Cognito authorizer, the routes
and how the parts are composed. The logic lives in chalicelib/.
"""

from __future__ import annotations

import functools
import logging
import os
import random
import re
import time
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, cast

import botocore.session
from botocore.config import Config
from chalice.app import (
    Chalice,
    CloudWatchEvent,
    CognitoUserPoolAuthorizer,
    CORSConfig,
    Rate,
    Request,
    Response,
)

from chalicelib import cleanup, pages, settings, telemetry, todos, tracing, web
from chalicelib.auth import TokenVerifier, UserPool, fetch_jwks, user_pool
from chalicelib.errors import RETRY_AFTER_SECONDS, MethodNotAllowed, ServiceUnavailable, SyncTokenExpired
from chalicelib.settings import variable
from chalicelib.store import TodoStore

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient

app = Chalice(app_name="todo-api")

# Chalice reads a stage's environment_variables before importing this module under
# `chalice local`, `package` and `deploy`. Tests import it without them, and the
# authorizer's ARN only matters to the deployed API, so only here is a fallback used.
USER_POOL_ARN = os.environ.get(
    "TODO_USER_POOL_ARN", "arn:aws:cognito-idp:us-east-1:000000000000:userpool/us-east-1_unset"
)
authorizer = CognitoUserPoolAuthorizer("TodoUsers", provider_arns=[USER_POOL_ARN])

# Tokens travel in the Authorization header, never in cookies, so any origin may call.
cors = CORSConfig(
    allow_origin="*",
    allow_headers=["Authorization", "Content-Type", "If-Match", "Idempotency-Key"],
    expose_headers=["Location", "Link", "ETag", "Idempotent-Replayed", "Sync-Token"],
    max_age=600,
)

ENTROPY_BYTES = 10
LOOPBACK_URL = re.compile(r"http://(127\.0\.0\.1|localhost):[0-9]{1,5}")
DYNAMODB_CONFIG = Config(
    # Explicit: the default retry mode differs between botocore versions, and Lambda's
    # bundled botocore may be older than ours. Worst case, 3 attempts x (1 s connect +
    # 2 s read) + up to 1 s and 2 s of backoff = 12 s, inside the API's 15 s timeout
    # (a test holds this), itself inside API Gateway's 29 s.
    retries={"mode": "standard", "total_max_attempts": 3},
    # Not checked again on every request (botocore: "you can disable parameter validation for
    # performance reasons"): mypy checks every call against DynamoDB's model (mypy-boto3-dynamodb,
    # `make typecheck`), and DynamoDB itself refuses an invalid request. 2% of warm CPU (BENCHMARKS.md).
    parameter_validation=False,
    connect_timeout=1,
    read_timeout=2,
)
# One attempt, briefly: a failed read of the runtime settings keeps the last values and is
# tried again a settings period later (chalicelib/settings.py), never in a retry storm.
SSM_CONFIG = Config(retries={"mode": "standard", "total_max_attempts": 1}, connect_timeout=1, read_timeout=1)
READ_ONLY = "the API is read-only for now (an operator's switch, during an incident): reads work; retry later"


@functools.cache
def aws_session() -> botocore.session.Session:
    """One botocore session per container: it loads each service's model once (clients
    built from a new session load them again, ~0.2 s each)."""
    return botocore.session.get_session()


@functools.cache
def dynamodb_client() -> DynamoDBClient:
    """Built on first use, once per container: importing this module reads nothing.

    Straight from botocore: `import boto3` also imports s3transfer and multiprocessing,
    which cost a cold start more than everything else here (see BENCHMARKS.md). The local
    stage names an emulator on loopback (`make backend`), which takes any credentials. In
    Lambda (where the X-Ray daemon's address is set) each call becomes a subsegment of the
    invocation's trace when it is sampled (chalicelib/tracing.py).
    """
    return cast("DynamoDBClient", _client("dynamodb", DYNAMODB_CONFIG))


@functools.cache
def ssm_client() -> Any:
    """Parameter Store's client, built as the DynamoDB one is, once per container."""
    return _client("ssm", SSM_CONFIG)


LOCAL_CONNECTIONS = 64


def _client(service: str, config: Config) -> Any:
    session = aws_session()
    backend = local_backend()
    if backend is None:
        client = session.create_client(service, config=config)
        daemon = os.environ.get("AWS_XRAY_DAEMON_ADDRESS")  # Lambda's X-Ray daemon, traced or not
        if daemon:
            tracing.Tracer(daemon, client.meta.region_name).register(client.meta.events)
        return client
    return session.create_client(
        service,
        endpoint_url=backend,
        region_name=user_pool(variable("TODO_USER_POOL_ARN")).region,
        aws_access_key_id="local",
        aws_secret_access_key="local",  # noqa: S106 - an emulator's, not a secret
        # One process serves every local request at once (Lambda: one an environment).
        config=config.merge(Config(max_pool_connections=LOCAL_CONNECTIONS)),
    )


def local_backend() -> str | None:
    """The emulator the local stage serves from (TODO_LOCAL_BACKEND): loopback only, so
    that its stand-in credentials are never sent anywhere else."""
    backend = variable("TODO_LOCAL_BACKEND")
    if not backend:
        return None
    if not LOOPBACK_URL.fullmatch(backend):
        raise RuntimeError("TODO_LOCAL_BACKEND must be http://127.0.0.1:PORT or http://localhost:PORT")
    return backend


@functools.cache
def runtime_settings() -> settings.RuntimeSettings:
    """The stage's runtime settings, read with a cache (chalicelib/settings.py); a stage
    with no TODO_SETTINGS_PATH serves the defaults. The SSM client is built at the first
    read, not here: a cold start's first request does not load Parameter Store's model."""
    path = variable("TODO_SETTINGS_PATH")

    def fetch() -> dict[str, str]:
        return settings.fetch(ssm_client(), path) if path else {}

    return settings.RuntimeSettings(
        fetch,
        seconds=float(variable("TODO_SETTINGS_SECONDS")),
        log=app.log.warning,
    )


def todo_store() -> TodoStore:
    """The store, with the limits the runtime settings give now."""
    values = runtime_settings().current()
    return _store(values.max_todos, values.max_idempotency_keys)


@functools.cache
def _store(max_todos: int, max_keys_per_day: int) -> TodoStore:
    """One store per container and limits (a change of limits builds one more, its client the same)."""
    return TodoStore(
        dynamodb_client(),
        table_name=variable("TODO_TABLE"),
        max_todos=max_todos,
        max_keys_per_day=max_keys_per_day,
        sync_window=sync_window(),
    )


def sync_window() -> timedelta:
    """How long changes and tombstones are kept (the stage's TODO_SYNC_DAYS)."""
    return timedelta(days=int(variable("TODO_SYNC_DAYS")))


def writable(request: Request) -> None:
    """Writes answer 503 while an operator holds the API read-only: noted as held, not a 5xx."""
    if runtime_settings().current().read_only:
        web.note(request, held=True)
        raise ServiceUnavailable(READ_ONLY)


@functools.cache
def token_verifier() -> TokenVerifier | None:
    """Who checks tokens. In Lambda (which sets AWS_LAMBDA_FUNCTION_NAME), API Gateway's
    Cognito authorizer has verified the token before the app runs. Anywhere else, in any
    stage, Chalice's local gateway trusts any token, so the app verifies it against the
    stage's pool (TODO_USER_POOL_ARN): its JWKS at the issuer, or on the local backend."""
    if os.environ.get("AWS_LAMBDA_FUNCTION_NAME"):
        return None
    pool = user_pool(variable("TODO_USER_POOL_ARN"))
    backend = local_backend()
    # Cognito serves a pool's keys under its issuer; an emulator, under the pool's id.
    keys_at = f"{backend}/{pool.id}" if backend else pool.issuer
    jwks_url = variable("TODO_JWKS_URL") or f"{keys_at}/.well-known/jwks.json"
    return TokenVerifier(
        issuer=pool.issuer,
        client_id=variable("TODO_COGNITO_CLIENT_ID") or None,
        fetch_jwks=functools.partial(fetch_jwks, jwks_url),
    )


def caller(request: Request) -> str:
    """Who is asking: the `sub` of a verified Cognito ID token."""
    verifier = token_verifier()
    claims = (
        web.gateway_claims(request)
        if verifier is None
        else verifier.verify(request.headers.get("authorization"))
    )
    owner = web.owner(claims)
    web.note(request, owner=owner)  # for the request's log line, as a pseudonym
    return owner


@functools.cache
def environment_started() -> None:
    """What each execution environment sets up on its first invocation, never at import:
    with SnapStart, everything import made is restored into every environment alike.

    The `random` module seeded from the OS: botocore draws its retry jitter from it, and a
    state restored from one snapshot would give every environment the same jitter (AWS:
    "Handling uniqueness with Lambda SnapStart"). Ids, write ids and our own jitter take the
    OS's randomness at each use already (the runtime settings' first read, too).
    """
    random.seed()


def invocation_started() -> settings.Values:
    """Each invocation's start: the environment's, once, and the runtime settings as they
    are now, whose log level governs diagnostics (Chalice's app.log: unhandled errors and
    the like; the request and job lines carry the metrics the alarms watch: no level drops them)."""
    environment_started()
    values = runtime_settings().current()
    if app.log.level != logging.getLevelName(values.log_level):
        app.log.setLevel(values.log_level)
    return values


@app.middleware("http")
def observe(event: Request, get_response: Any) -> Response:
    """One structured log line, with its metrics, per request; the security headers on
    every response; Retry-After on 503s."""
    started = time.perf_counter()
    invocation_started()
    response: Response = get_response(event)
    for name, value in web.security_headers(event).items():
        response.headers.setdefault(name, value)  # the web app's files may be cached
    if response.status_code == ServiceUnavailable.STATUS_CODE:
        response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    notes = web.notes(event)
    telemetry.write(
        telemetry.request_line(
            timestamp_ms=int(time.time() * 1000),
            request_id=str(
                event.context.get("requestId") or getattr(event.lambda_context, "aws_request_id", "")
            ),
            route=f"{event.method} {event.path}",
            status=response.status_code,
            latency_ms=(time.perf_counter() - started) * 1000,
            user=telemetry.user_ref(notes.get("owner")),
            created=int(notes.get("created", 0)),
            deleted=int(notes.get("deleted", 0)),
            held=bool(notes.get("held")),
        )
    )
    return response


def current_request() -> Request:
    request = app.current_request
    if request is None:  # only outside a request, which no route is
        raise RuntimeError("no current request")
    return request


def now() -> datetime:
    return datetime.now(UTC)


@app.route("/todos", methods=["POST"], authorizer=authorizer, cors=cors)
def create_todo() -> Response:
    request = current_request()
    owner = caller(request)
    writable(request)
    base = web.base_url(request)
    payload = web.body(request)
    moment = now()
    todo = todos.new_todo(payload, owner=owner, now=moment, entropy=os.urandom(ENTROPY_BYTES))
    key = web.idempotency_key(request.headers.get("idempotency-key"))
    idempotency = None if key is None else todos.idempotency(key, payload, now=moment)
    created = todo_store().create(todo, idempotency=idempotency)
    web.note(request, created=0 if created.replayed else 1)
    return Response(
        body=web.todo_json(created.todo, base),
        status_code=201,
        headers={
            "Location": web.todo_url(base, created.todo.id),
            "ETag": web.etag(created.todo),
            "Idempotent-Replayed": "true" if created.replayed else "false",
        },
    )


@app.route("/todos", methods=["GET"], authorizer=authorizer, cors=cors)
def list_todos() -> Response:
    """A page of the caller's todos; with `since`, their changes after that sync token. The
    first page carries the Sync-Token to ask for the changes after it, and an ETag: sent back
    in If-None-Match while nothing changed, it answers 304 without reading the list."""
    request = current_request()
    owner = caller(request)
    base = web.base_url(request)
    query = web.list_query(web.query(request), owner=owner)
    moment = now()
    if query.since is not None:
        return _changes(owner, base, query, query.since, moment)
    headers: dict[str, str | list[str]] = {}
    if query.after is None:
        head = todo_store().head(owner)  # read before the page: the page holds every change up to it
        tag = web.list_etag(head, query)
        headers = {"ETag": tag, "Sync-Token": str(todos.SyncToken(head, int(moment.timestamp())))}
        if web.none_match(request.headers.get("if-none-match"), tag):
            return Response(body="", status_code=304, headers=headers)
    page = todo_store().page(owner, completed=query.completed, limit=query.limit, after=query.after)
    if page.more:
        headers["Link"] = web.next_link(base, query, after_id=page.todos[-1].id, owner=owner)
    return Response(body=[web.todo_json(t, base) for t in page.todos], headers=headers)


def _changes(
    owner: str, base: str, query: web.ListQuery, since: todos.SyncToken, moment: datetime
) -> Response:
    """The changes after `since`, a page at a time: each todo as it became, or as it was with
    `deleted`; the next page's link keeps the token's time, the last page's token is new."""
    if not todos.sync_token_fresh(since, now=moment, retention=sync_window()):
        raise SyncTokenExpired(
            "this sync token is older than the changes kept: "
            "reload the list (GET /todos) and use its Sync-Token"
        )
    found = todo_store().changes(owner, after=since.seq, limit=query.limit)
    last = found.changes[-1].seq if found.changes else since.seq
    headers: dict[str, str | list[str]] = {}
    if found.more:
        headers["Link"] = web.changes_link(base, query, todos.SyncToken(last, since.issued_epoch))
    else:
        headers["Sync-Token"] = str(todos.SyncToken(last, int(moment.timestamp())))
    body = [web.change_json(c, base, query.completed) for c in found.changes]
    return Response(body=body, headers=headers)


@app.route("/todos", methods=["DELETE"], authorizer=authorizer, cors=cors)
def clear_todos() -> Response:
    """204 when done within the request's budget; else 202 and a job to poll that finishes it."""
    request = current_request()
    owner = caller(request)
    completed = web.clear_query(web.query(request))
    writable(request)
    moment = now()
    before = todos.first_id_at(moment)
    budget = runtime_settings().current().clear_budget
    cleared = todo_store().clear(owner, completed=completed, before=before, allowance=lambda n: budget - n)
    web.note(request, deleted=cleared.deleted)
    if cleared.finished:
        return Response(body="", status_code=204)
    job = todos.ClearJob(
        id=todos.new_id(moment, os.urandom(ENTROPY_BYTES)),
        owner=owner,
        completed=completed,
        before=before,
        deleted=cleared.deleted,
        created_at=todos.timestamp(moment),
    )
    todo_store().start_job(job)
    base = web.base_url(request)
    return Response(
        body=web.job_json(job, base), status_code=202, headers={"Location": web.job_url(base, job.id)}
    )


@app.route("/jobs/{job_id}", methods=["GET"], authorizer=authorizer, cors=cors)
def get_job(job_id: str) -> Response:
    request = current_request()
    owner = caller(request)
    job = todo_store().job(owner, web.job_id_or_404(job_id))
    return Response(body=web.job_json(job, web.base_url(request)))


@app.route("/todos/{todo_id}", methods=["GET"], authorizer=authorizer, cors=cors)
def get_todo(todo_id: str) -> Response:
    request = current_request()
    owner = caller(request)
    todo = todo_store().get(owner, web.todo_id_or_404(todo_id))
    return Response(body=web.todo_json(todo, web.base_url(request)), headers={"ETag": web.etag(todo)})


@app.route("/todos/{todo_id}", methods=["PATCH"], authorizer=authorizer, cors=cors)
def update_todo(todo_id: str) -> Response:
    request = current_request()
    owner = caller(request)
    base = web.base_url(request)
    versions = web.if_match(request.headers.get("if-match"))
    patch = todos.todo_patch(web.body(request), now=now())
    writable(request)
    todo = todo_store().update(owner, web.todo_id_or_404(todo_id), patch, versions=versions)
    return Response(body=web.todo_json(todo, base), headers={"ETag": web.etag(todo)})


@app.route("/todos/{todo_id}", methods=["DELETE"], authorizer=authorizer, cors=cors)
def delete_todo(todo_id: str) -> Response:
    request = current_request()
    owner = caller(request)
    versions = web.if_match(request.headers.get("if-match"))
    writable(request)
    todo_store().delete(owner, web.todo_id_or_404(todo_id), versions=versions)
    web.note(request, deleted=1)
    return Response(body="", status_code=204)


@app.route("/todos/{todo_id}/restore", methods=["POST"], authorizer=authorizer, cors=cors)
def restore_todo(todo_id: str) -> Response:
    """Undo a delete: the todo back as it was, one version on, while its tombstone is kept."""
    request = current_request()
    owner = caller(request)
    writable(request)
    base = web.base_url(request)
    todo = todo_store().restore(owner, web.todo_id_or_404(todo_id), now=now())
    web.note(request, created=1)
    return Response(
        body=web.todo_json(todo, base),
        headers={"ETag": web.etag(todo), "Location": web.todo_url(base, todo.id)},
    )


# API Gateway answers an undeclared method with 403 "Missing Authentication Token";
# declaring the other methods makes it the 405 (with `Allow`) the contract promises.
@app.route("/todos", methods=["PUT", "PATCH"], authorizer=authorizer, cors=cors)
def todos_method_not_allowed() -> Response:
    return _method_not_allowed("/todos")


@app.route("/todos/{todo_id}", methods=["POST", "PUT"], authorizer=authorizer, cors=cors)
def todo_method_not_allowed(todo_id: str) -> Response:
    return _method_not_allowed("/todos/{todo_id}")


def _method_not_allowed(path: str) -> Response:
    request = current_request()
    caller(request)  # as deployed: the authorizer answers first
    error = MethodNotAllowed(f"{request.method} is not allowed here")
    return web.error_response(error, {"Allow": web.allowed_methods(app.routes, path)})


# --- the web app (chalicelib/site/): public files, same origin as the API -----------


def _stage_pool() -> UserPool:
    return user_pool(os.environ.get("TODO_USER_POOL_ARN") or USER_POOL_ARN)


def _page_headers(media_type: str, cache: str) -> dict[str, str | list[str]]:
    pool = _stage_pool()
    return {
        "Content-Type": media_type,
        "Cache-Control": cache,
        **pages.page_headers(pages.cognito_endpoint(pool.region, local_backend())),
    }


@app.route("/", methods=["GET"])
def web_app() -> Response:
    page = pages.index(web.path_prefix(current_request()))
    return Response(body=page, headers=_page_headers("text/html; charset=utf-8", pages.PAGE_CACHE))


@app.route("/site/{name}", methods=["GET"])
def web_app_file(name: str) -> Response:
    text, media_type = pages.asset(name)
    return Response(body=text, headers=_page_headers(media_type, pages.ASSET_CACHE))


@app.route("/config.json", methods=["GET"])
def web_app_config() -> Response:
    """Where the page finds the API and the stage's pool: from this function's environment."""
    request = current_request()
    pool = _stage_pool()
    body = pages.config(
        api=web.base_url(request),
        region=pool.region,
        user_pool_id=pool.id,
        client_id=variable("TODO_COGNITO_CLIENT_ID"),
        cognito=pages.cognito_endpoint(pool.region, local_backend()),
        sign_ups=not runtime_settings().current().sign_ups_paused,
    )
    return Response(body=body, headers={"Cache-Control": pages.PAGE_CACHE})


# --- scheduled jobs ------------------------------------------------------------------

# A run while the API is read-only deletes nothing: the next run after it catches up.
HELD: dict[str, Any] = {"readOnly": True}


@app.schedule(Rate(1, unit=Rate.HOURS), name="purge_completed")
def purge_completed(event: CloudWatchEvent) -> dict[str, Any]:
    """Delete completed todos whose completion is older than TODO_KEEP_COMPLETED_DAYS."""
    context: Any = event.context
    if invocation_started().read_only:
        return _reported("purge_completed", context, HELD)
    keep_for = timedelta(days=int(variable("TODO_KEEP_COMPLETED_DAYS")))
    report = cleanup.purge_completed(
        todo_store(),
        now=now(),
        keep_completed_for=keep_for,
        remaining_ms=context.get_remaining_time_in_millis,
    )
    return _reported("purge_completed", context, report.as_dict())


@app.schedule(Rate(1, unit=Rate.MINUTES), name="finish_clears")
def finish_clears(event: CloudWatchEvent) -> dict[str, Any]:
    """Finish the bulk deletes that outgrew their request (DELETE /todos answered 202)."""
    context: Any = event.context
    if invocation_started().read_only:
        return _reported("finish_clears", context, HELD)
    report = cleanup.finish_clears(todo_store(), now=now, remaining_ms=context.get_remaining_time_in_millis)
    return _reported("finish_clears", context, report.as_dict())


def _reported(job: str, context: Any, report: dict[str, Any]) -> dict[str, Any]:
    """A run's report, written as its job line (with the metrics the alarms watch)."""
    request_id = str(getattr(context, "aws_request_id", ""))
    stamp = int(time.time() * 1000)
    telemetry.write(telemetry.job_line(timestamp_ms=stamp, job=job, request_id=request_id, report=report))
    return report

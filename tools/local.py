"""The API on this machine, offline: `make backend`, `make run`, `make token`, `make cleanup`.

`backend` starts moto's server (DynamoDB and a Cognito user pool) on a loopback port
(8001 by default), creates the table, the pool and an app client, and serves them until
stopped. The pool's and client's ids are predictable (moto's hashed id strategies), so
the `local` stage in .chalice/config.json names them: with the backend up,
`chalice local --stage local` serves the API against it, tokens verified.

Each request to that backend is handled alone (one lock around moto): moto is not
thread-safe, while DynamoDB makes every conditional write atomic, and clients of the
local API rely on that (two `If-Match` updates of one version: one wins, one gets 412).

`run` is both in one process: the backend, then the app served as `chalice local --stage
local` serves it (Chalice's own config loading, local server and thread-local request),
with one guard in front: a malformed `Authorization` header, which makes Chalice's local
gateway drop the connection, gets a 401 instead, and the gateway's own refusals come in
the app's error codes. Outside Lambda the app verifies every token (chalicelib/auth.py).

Both enforce the deployed stage's walls (tools/limits.py): `run` the stage's throttle, and
the embedded pool Cognito's rates and e-mail sender; `--scale` shrinks them, `--like STAGE`
takes that stage's, `--no-limits` turns them off.

`token USER` creates USER in that pool if needed and prints a real ID token for them.
`cleanup` runs the scheduled jobs once against that backend and prints their reports.

Not shipped to Lambda: Chalice packages only app.py, chalicelib/ and requirements.txt.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import contextlib
import json
import logging
import os
import re
import secrets
import signal
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterable, Iterator
from http import HTTPStatus
from typing import Any, NoReturn

import boto3
from chalice.app import ChaliceViewError
from chalice.cli.factory import CLIFactory
from chalice.local import ChaliceRequestHandler, LocalDevServer, LocalGatewayException, ThreadedHTTPServer

from chalicelib import errors
from chalicelib.errors import (
    GATEWAY_ERRORS,
    RETRY_AFTER_SECONDS,
    TooManyRequests,
    Unauthenticated,
    gateway_message,
)
from chalicelib.web import HSTS, SECURITY_HEADERS, allowed_methods
from infrastructure import contract, names, runtime_settings, stages
from infrastructure.bootstrap import ensure_table
from infrastructure.capacity import throttling
from infrastructure.events import scheduled_event
from infrastructure.functions import SCHEDULED_JOBS
from infrastructure.identity import email_configuration
from infrastructure.stages import ROOT
from tools import embedded
from tools.limits import QUOTAS, CognitoQuotas, TokenBucket

STAGE = "local"
REGION = "us-east-1"
POOL_NAME = CLIENT_NAME = names.of(STAGE)
DEFAULT_BACKEND_PORT = 8001
MAX_AUTHORIZATION_CHARS = 8 * 1024
_USER = re.compile(r"[A-Za-z0-9._@+-]{1,64}")
_FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "local",
    "AWS_SECRET_ACCESS_KEY": "local",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_EC2_METADATA_DISABLED": "true",
}
# moto derives ids from the pool's region, name and settings: the same ids every run.
_PREDICTABLE_IDS = {
    "MOTO_COGNITO_IDP_USER_POOL_ID_STRATEGY": "HASH",
    "MOTO_COGNITO_IDP_USER_POOL_CLIENT_ID_STRATEGY": "HASH",
}
_SHELL_POOL = ("TODO_USER_POOL_ARN", "TODO_COGNITO_CLIENT_ID", "TODO_JWKS_URL")


def stage_settings() -> dict[str, str]:
    """The local stage's environment_variables, as .chalice/config.json has them."""
    return stages.environment(STAGE)


def find_pool(cognito: Any) -> tuple[str, str] | None:
    for pool in cognito.list_user_pools(MaxResults=60)["UserPools"]:
        if pool["Name"] == POOL_NAME:
            clients = cognito.list_user_pool_clients(UserPoolId=pool["Id"], MaxResults=60)["UserPoolClients"]
            for client in clients:
                if client["ClientName"] == CLIENT_NAME:
                    return pool["Id"], client["ClientId"]
    return None


def _region() -> str:
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or REGION


def create_table() -> None:
    """The local stage's table and runtime settings, made as `make deploy` makes a stage's
    (tools/deploy.py)."""
    ensure_table(boto3.client("dynamodb", region_name=_region()), stage_settings()["TODO_TABLE"])
    runtime_settings.ensure(
        boto3.client("ssm", region_name=_region()), stage_settings()["TODO_SETTINGS_PATH"]
    )


def user_pool() -> tuple[str, str]:
    """The local user pool and app client, created if missing: (pool id, client id)."""
    cognito = boto3.client("cognito-idp", region_name=_region())
    found = find_pool(cognito)
    if found is not None:
        return found
    pool_id = cognito.create_user_pool(PoolName=POOL_NAME)["UserPool"]["Id"]
    client_id = cognito.create_user_pool_client(
        UserPoolId=pool_id,
        ClientName=CLIENT_NAME,
        # The web app's flows, and `make token`'s (an administrator's sign-in, local only).
        ExplicitAuthFlows=[
            "ALLOW_USER_PASSWORD_AUTH",
            "ALLOW_REFRESH_TOKEN_AUTH",
            "ALLOW_ADMIN_USER_PASSWORD_AUTH",
        ],
    )["UserPoolClient"]["ClientId"]
    return pool_id, client_id


class OneRequestAtATime:
    """A WSGI wrapper that lets one request at a time into the app it wraps (moto's).

    DynamoDB makes each request atomic (a condition expression and its write are one
    step); moto's in-memory backends are not thread-safe, and a threaded server lets two
    conditional writes interleave and both pass. With the lock, the local backend keeps
    DynamoDB's guarantee. The response is read whole inside the lock.
    """

    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self._app = app
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        with self._lock:
            result = self._app(environ, start_response)
            try:
                return list(result)
            finally:
                close = getattr(result, "close", None)
                if close is not None:
                    close()


@contextlib.contextmanager
def embedded_backend(port: int, limits: bool = True, scale: float = 1.0, ses: bool = False) -> Iterator[str]:
    """moto's server on 127.0.0.1:`port`, one request at a time, stopped on exit: its URL.
    With `limits`, Cognito's rates and its default sender's daily cap (tools/limits.py)."""
    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from werkzeug.serving import make_server

    os.environ.update(_FAKE_CREDENTIALS)
    os.environ.update(_PREDICTABLE_IDS)
    embedded.install()
    app: Callable[..., Iterable[bytes]] = OneRequestAtATime(DomainDispatcherApplication(create_backend_app))
    if limits:
        app = CognitoQuotas(app, scale, ses)
    server = make_server("127.0.0.1", port, app, threaded=True, request_handler=MotoRequestHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    os.environ["AWS_ENDPOINT_URL"] = url  # this process's own clients (table, pool, tokens)
    try:
        yield url
    finally:
        server.shutdown()
        thread.join()
        server.server_close()


def provision() -> None:
    """The table, pool and client on the backend, checked against the local stage config."""
    create_table()
    pool_id, client_id = user_pool()
    settings = stage_settings()
    expected = settings["TODO_USER_POOL_ARN"].rsplit("/", 1)[1], settings["TODO_COGNITO_CLIENT_ID"]
    if (pool_id, client_id) != expected:
        raise SystemExit(
            f"the backend made pool {pool_id} and client {client_id}, but .chalice/config.json's local "
            f"stage names {expected[0]} and {expected[1]}: update it"
        )


def configure_external_tokens(shell: dict[str, str | None]) -> None:
    """With BACKEND=external: verify against the shell's pool, or make one on the emulator."""
    for name in _SHELL_POOL:
        os.environ.pop(name, None)
    if shell["TODO_USER_POOL_ARN"]:
        os.environ.update({k: v for k, v in shell.items() if v})
        return
    endpoint = os.environ.get("AWS_ENDPOINT_URL_COGNITO_IDP") or os.environ.get("AWS_ENDPOINT_URL")
    if not endpoint:
        # Never create a user pool in a real AWS account behind the user's back.
        raise SystemExit("with a real AWS account, set TODO_USER_POOL_ARN (and TODO_COGNITO_CLIENT_ID)")
    pool_id, client_id = user_pool()
    cognito = boto3.client("cognito-idp", region_name=_region())
    os.environ["TODO_USER_POOL_ARN"] = cognito.describe_user_pool(UserPoolId=pool_id)["UserPool"]["Arn"]
    os.environ["TODO_COGNITO_CLIENT_ID"] = client_id
    # Emulators serve the JWKS at their own address, not at the issuer's.
    os.environ["TODO_JWKS_URL"] = f"{endpoint.rstrip('/')}/{pool_id}/.well-known/jwks.json"


class GuardedHandler(ChaliceRequestHandler):
    """Chalice's local request handler, minus one way to drop a connection.

    Chalice's local gateway base64-decodes a Cognito token's payload before the app
    runs and raises (IndexError, binascii.Error, ...) on one it cannot decode, which
    ends the connection with no response. Such a header can never verify, so it is
    answered here with the 401 the app would give. Everything else goes to Chalice.
    """

    def __init__(self, request: Any, client_address: Any, server: Any, app_object: Any, config: Any) -> None:
        self._routes = app_object.routes  # before the base class handles the request
        super().__init__(request, client_address, server, app_object, config)

    # The stage's throttle (tools/limits.py), set by serve_app; None: not enforced.
    throttle: TokenBucket | None = None

    def _generic_handle(self) -> None:
        if self.throttle is not None and not self.throttle.take():
            # API Gateway throttles before its authorizer and the function: so here.
            self.rfile.read(int(self.headers.get("Content-Length") or 0))  # keep the connection usable
            self._send_json_error(
                TooManyRequests.STATUS_CODE,
                TooManyRequests.__name__,
                gateway_message(TooManyRequests),
                **{"Retry-After": str(RETRY_AFTER_SECONDS)},
            )
            return
        if self.command in ("GET", "HEAD") and self.path.split("?")[0] == contract.DOCUMENT_PATH:
            self._send_document()  # the deployed gateway's mock integration answers it, no Lambda
            return
        authorization = self.headers.get("Authorization")
        if authorization is not None and not _decodable(authorization):
            self.rfile.read(int(self.headers.get("Content-Length") or 0))  # keep the connection usable
            self._send_gateway_error(Unauthenticated)
            return
        super()._generic_handle()

    def _send_error_response(self, error: LocalGatewayException) -> None:
        """Chalice's local gateway answers a path with no route as API Gateway does by
        default (a 403: "Missing Authentication Token", or a SigV4 complaint when the
        request has an Authorization header; both are MISSING_AUTHENTICATION_TOKEN). The
        deployed stage's gateway responses answer in the app's vocabulary
        (errors.GATEWAY_ERRORS), and so does this server."""
        error_type = error.headers.get("x-amzn-ErrorType")
        if error.CODE == 403 and error_type == "UnauthorizedException":  # no such route
            kind = "MISSING_AUTHENTICATION_TOKEN"
        else:
            kind = {401: "UNAUTHORIZED", 403: "ACCESS_DENIED"}.get(error.CODE, "DEFAULT_4XX")
        self._send_gateway_error(GATEWAY_ERRORS[kind])

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """http.server's own errors (a header line over 64 KiB, a bad request line) in our
        error shape rather than HTML. Headers too large to read carry no usable token: 401.
        A method the server has no handler for is a 405, as for any method a path lacks."""
        if code == HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE:
            self._send_gateway_error(Unauthenticated)
        elif code == HTTPStatus.NOT_IMPLEMENTED:  # a method http.server has no do_* for (TRACE, ...)
            collection = self.path.split("?")[0].rstrip("/") == "/todos"
            allow = allowed_methods(self._routes, "/todos" if collection else "/todos/{todo_id}")
            self._send_json_error(405, "MethodNotAllowed", f"{self.command} is not allowed here", Allow=allow)
        else:
            error = GATEWAY_ERRORS["DEFAULT_5XX" if code >= 500 else "DEFAULT_4XX"]
            self._send_json_error(code, error.__name__, HTTPStatus(code).phrase)
        self.close_connection = True

    def _send_document(self) -> None:
        """openapi.yaml as the stage's gateway serves it, with this server's URL."""
        host, port = self.server.server_address[:2]
        document = contract.served(contract.load(), f"http://{host}:{port}")
        body = json.dumps(document, separators=(",", ":")).encode()
        self.send_response(200)
        for name, value in contract.document_headers().items():
            if name not in HSTS:  # plain HTTP here
                self.send_header(name, value)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _send_gateway_error(self, error: type[ChaliceViewError]) -> None:
        self._send_json_error(error.STATUS_CODE, error.__name__, gateway_message(error))

    def _send_json_error(self, status: int, code: str, message: str, **headers: str) -> None:
        body = json.dumps(errors.body(code, message)).encode()
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Access-Control-Allow-Origin", "*")
        for name, value in SECURITY_HEADERS.items():  # plain HTTP here: no HSTS
            self.send_header(name, value)
        self.end_headers()
        if getattr(self, "command", None) != "HEAD":
            self.wfile.write(body)

    # The base class binds its do_* methods to its own _generic_handle.
    do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = do_PATCH = do_OPTIONS = _generic_handle


class _Server(ThreadedHTTPServer):
    # http.server's listen backlog is 5: a burst of more connections at once is reset by
    # the kernel before the app (or the throttle) sees it. A gateway takes them all.
    request_queue_size = 1024


def _decodable(authorization: str) -> bool:
    """Whether Chalice's local gateway can decode the header's payload segment."""
    if len(authorization) > MAX_AUTHORIZATION_CHARS:
        return False
    parts = authorization.split(".")
    if len(parts) != 3:
        return False
    try:
        payload = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except (binascii.Error, ValueError, RecursionError):
        return False
    return isinstance(payload, dict)


# How long an orderly stop may take before the process ends anyway: a request in flight
# (a long clear, the minute job) must not keep a person's Ctrl-C waiting.
STOP_GRACE_SECONDS = 3.0


def _stop(signum: int, frame: Any) -> NoReturn:
    # The first signal stops us. Later ones are ignored so that cleanup finishes: Ctrl-C
    # reaches make and us at once, and make forwards SIGTERM to us a second time.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    deadline = threading.Timer(STOP_GRACE_SECONDS, _stop_now)
    deadline.daemon = True
    deadline.start()
    raise SystemExit(0)


def _stop_now() -> None:
    print(f"{names.APP} local: stopped after {STOP_GRACE_SECONDS:g} s; local data discarded", flush=True)
    os._exit(0)  # the listening sockets close with the process


def _until_stopped() -> None:
    # Both stop the process, even when started with SIGINT ignored (as background jobs are).
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)


def _quiet_logs() -> None:
    # As `chalice local` does: the app's log lines on stdout, as Lambda would show them.
    logging.basicConfig(stream=sys.stdout, level=logging.INFO, format="%(message)s")
    for noisy in ("botocore", "werkzeug"):  # the SDK's and the embedded backend's chatter
        logging.getLogger(noisy).setLevel(logging.WARNING)


def backend(port: int, limits: bool = True, scale: float = 1.0) -> None:
    """`make backend`: the embedded backend alone, for `chalice local --stage local`."""
    _until_stopped()
    _quiet_logs()
    with embedded_backend(port, limits, scale) as url:
        try:
            provision()
            settings = stage_settings()
            pool = settings["TODO_USER_POOL_ARN"].rsplit("/")[-1]
            print(
                "\n".join(
                    [
                        f"{names.APP} local backend (moto: DynamoDB, Cognito, Parameter Store) on {url}",
                        f"table {settings['TODO_TABLE']}, user pool {pool}",
                        "data: kept in memory only; it is gone when this process stops",
                        "serve the API: .venv/bin/chalice local --stage local",
                        f"get a token:  make -s token USER=alice BACKEND_PORT={port}",
                        "stop: Ctrl-C",
                    ]
                ),
                flush=True,
            )
            while True:
                time.sleep(3600)
        finally:
            print(f"{names.APP} local backend: stopped; local data discarded", flush=True)


def serve_app(
    port: int, environment: dict[str, str], unset: Iterable[str] = (), throttle: TokenBucket | None = None
) -> None:
    """The app as `chalice local --stage local` serves it, with `environment` set (and
    `unset` removed) after the stage's: the ports and pool chosen at run time; `throttle`,
    the stage's, in front of it."""
    from chalice.local import CustomLocalChalice, LocalChalice

    # As the chalice CLI does: the stage's environment_variables go into os.environ.
    factory = CLIFactory(project_dir=str(ROOT), environ=os.environ)
    config = factory.create_config_obj(chalice_stage_name=STAGE)
    app = config.chalice_app  # loading it applies the stage's environment_variables
    for name in unset:
        os.environ.pop(name, None)
    os.environ.update(environment)
    # As chalice.local.create_local_server does: each request thread sees its own
    # app.current_request (a plain Chalice app shares one between threads, so concurrent
    # requests could read each other's caller).
    CustomLocalChalice.__bases__ = (LocalChalice, app.__class__)
    app.__class__ = CustomLocalChalice
    # Chalice warns that its local gateway admits every request to a Cognito route. True
    # of the gateway, not of this server: outside Lambda the app verifies each token itself
    # (the banner says so; tests/e2e/test_local_server.py refuses forged and unsigned ones).
    warnings.filterwarnings("ignore", message="CognitoUserPoolAuthorizer is not a supported in local mode")
    GuardedHandler.throttle = throttle
    server = LocalDevServer(app, config, "127.0.0.1", port, handler_cls=GuardedHandler, server_cls=_Server)
    _finish_clears_every_minute(app, config)
    server.serve_forever()


def stage_throttle(scale: float = 1.0, like: str = STAGE) -> TokenBucket:
    """The throttle of stage `like` (the local stage's own by default), as the packaged
    stage gets it (infrastructure/capacity.py), scaled."""
    settings = throttling(stages.declared(like).spike_target)
    return TokenBucket(settings["ThrottlingRateLimit"] / scale, settings["ThrottlingBurstLimit"] / scale)


def run(
    port: int, backend_port: int, embedded: bool, limits: bool = True, scale: float = 1.0, like: str = STAGE
) -> None:
    """`make run`; with `like`, the limits of that stage (its throttle, its e-mail sender)."""
    _until_stopped()
    _quiet_logs()
    shell = {name: os.environ.get(name) for name in _SHELL_POOL}
    with contextlib.ExitStack() as stack:
        try:
            ses = email_configuration(stages.declared(like))["EmailSendingAccount"] == "DEVELOPER"
            if embedded:
                url = stack.enter_context(embedded_backend(backend_port, limits, scale, ses))
                provision()
                environment: dict[str, str] = {"TODO_LOCAL_BACKEND": url}
                unset: tuple[str, ...] = ()
            else:
                create_table()
                configure_external_tokens(shell)
                environment = {k: os.environ[k] for k in _SHELL_POOL if k in os.environ}
                # The app then uses the shell's AWS configuration and the pool chosen here.
                unset = ("TODO_LOCAL_BACKEND", *_SHELL_POOL)
            throttle = stage_throttle(scale, like) if limits else None
            sender = (
                "SES's quotas"
                if ses
                else (f"{QUOTAS['cognito_default_email_per_day']['value'] / scale:g} e-mails a day")
            )
            _banner(port, backend_port, embedded, throttle, sender)
            serve_app(port, environment, unset, throttle)
        finally:
            print(f"{names.APP} local: stopped" + ("; local data discarded" if embedded else ""), flush=True)


def _banner(port: int, backend_port: int, embedded: bool, throttle: TokenBucket | None, sender: str) -> None:
    where = (
        f"embedded moto (DynamoDB, Cognito, Parameter Store) on http://127.0.0.1:{backend_port}"
        if embedded
        else f"your AWS configuration (endpoint: {os.environ.get('AWS_ENDPOINT_URL', 'AWS')})"
    )
    lines = [
        f"{names.APP} (stage {STAGE}) on http://127.0.0.1:{port}",
        f"web app:  http://127.0.0.1:{port}/ (sign up there"
        + ("; this pool sends no e-mail: any confirmation code will do)" if embedded else ")"),
        f"backend: {where}",
        "tokens: verified by the app against the pool's JWKS (RS256, exp, iss, aud, token_use=id)",
    ]
    if embedded:
        lines.append("data: kept in memory only; it is gone when this process stops")
    if throttle is None:
        lines.append("limits: off (LIMITS=off): no throttle, no Cognito quotas")
    else:
        lines.append(
            f"limits: the stage's throttle ({throttle.rate:g}/s, burst {throttle.burst:g}: 429s past it)"
            + (f"; Cognito's rates and {sender} on the local pool" if embedded else "")
            + " (LIMITS=off turns them off)"
        )
    lines += [
        f"get a token: make -s token USER=alice PORT={port}",
        f'try it:      curl -H "Authorization: $(make -s token USER=alice PORT={port})" http://127.0.0.1:{port}/todos',
        "stop: Ctrl-C",
    ]
    print("\n".join(lines), flush=True)


def token(user: str, backend_port: int) -> str:
    """A real ID token from the local pool for `user` (created if missing)."""
    if not _USER.fullmatch(user):
        raise SystemExit("USER must be 1-64 letters, digits or ._@+-")
    os.environ.update({k: v for k, v in _FAKE_CREDENTIALS.items() if k not in os.environ})
    os.environ.setdefault("AWS_ENDPOINT_URL", f"http://127.0.0.1:{backend_port}")
    cognito = boto3.client("cognito-idp", region_name=_region())
    try:
        found = find_pool(cognito)
    except Exception as exc:
        raise SystemExit(
            f"no local backend on {os.environ['AWS_ENDPOINT_URL']}: is `make run` or `make backend` up?"
        ) from exc
    if found is None:
        raise SystemExit("the local user pool does not exist: start `make run` or `make backend` first")
    return str(sign_in(cognito, user, *found)["IdToken"])


def sign_in(cognito: Any, user: str, pool_id: str, client_id: str) -> dict[str, Any]:
    """Create `user` in the pool if needed and sign in: Cognito's AuthenticationResult."""
    # A fresh random password each time: local users are throwaway identities.
    password = "Aa1!" + secrets.token_urlsafe(24)
    with contextlib.suppress(cognito.exceptions.UsernameExistsException):
        cognito.admin_create_user(UserPoolId=pool_id, Username=user, MessageAction="SUPPRESS")
    cognito.admin_set_user_password(UserPoolId=pool_id, Username=user, Password=password, Permanent=True)
    result = cognito.admin_initiate_auth(
        UserPoolId=pool_id,
        ClientId=client_id,
        AuthFlow="ADMIN_USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": user, "PASSWORD": password},
    )
    return dict(result["AuthenticationResult"])


def cleanup(backend_port: int) -> dict[str, Any]:
    """Run the scheduled jobs once against the `make run` backend, as Lambda would."""
    os.environ.update({k: v for k, v in _FAKE_CREDENTIALS.items() if k not in os.environ})
    os.environ.setdefault("AWS_ENDPOINT_URL", f"http://127.0.0.1:{backend_port}")
    factory = CLIFactory(project_dir=str(ROOT), environ=os.environ)
    config = factory.create_config_obj(chalice_stage_name=STAGE)
    app = config.chalice_app  # loading it applies the stage's environment_variables
    os.environ.pop("TODO_LOCAL_BACKEND", None)  # the jobs use AWS_ENDPOINT_URL: this backend
    reports = {}
    for name in SCHEDULED_JOBS.values():
        reports[name] = _run_job(app, config, name)
    return reports


def _run_job(app: Any, config: Any, name: str) -> Any:
    from chalice.local import LambdaContext

    event = scheduled_event(name, region=_region())
    timeout_ms = config.scope(STAGE, name).lambda_timeout * 1000
    context = LambdaContext(name, memory_size=128, max_runtime_ms=timeout_ms)
    return app.handler_map[name](event, context)


def _finish_clears_every_minute(app: Any, config: Any) -> None:
    """As the deployed schedule does: bulk deletes that answered 202 get finished."""

    def loop() -> None:
        while True:
            time.sleep(60)
            try:
                _run_job(app, config, "finish_clears")
            except Exception as exc:  # as on Lambda: said, and the next run tries again
                print(f"finish_clears failed: {exc!r}; the next run tries again", file=sys.stderr, flush=True)

    threading.Thread(target=loop, name="finish_clears", daemon=True).start()


def _scale(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"SCALE must be a number, not {text!r}") from None
    if not 1 <= value <= 10_000:
        raise argparse.ArgumentTypeError("SCALE must be from 1 to 10,000")
    return value


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tools.local")
    commands = parser.add_subparsers(dest="command", required=True)
    run_cmd = commands.add_parser("run", help="serve the API locally")
    backend_cmd = commands.add_parser("backend", help="serve the embedded backend alone")
    backend_cmd.add_argument("--backend-port", type=int, default=DEFAULT_BACKEND_PORT)
    for cmd in (run_cmd, backend_cmd):
        cmd.add_argument("--no-limits", action="store_true", help="no throttle, no Cognito quotas")
        cmd.add_argument("--scale", type=_scale, default=1.0, help="divide every quota by this")
    run_cmd.add_argument("--like", choices=sorted(stages.document()["stages"]), default=STAGE,
                         help="enforce this stage's throttle and e-mail sender")  # fmt: skip
    token_cmd = commands.add_parser("token", help="print an ID token for a local user")
    token_cmd.add_argument("user")
    cleanup_cmd = commands.add_parser("cleanup", help="run the scheduled jobs once against the local backend")
    for cmd in (run_cmd, token_cmd, cleanup_cmd):
        cmd.add_argument("--port", type=int, default=8000)
        cmd.add_argument("--backend-port", type=int, default=None, help="default: port + 1")
    run_cmd.add_argument("--backend", choices=["embedded", "external"], default="embedded")
    args = parser.parse_args(argv)
    if args.command == "backend":
        backend(args.backend_port, not args.no_limits, args.scale)
        return
    backend_port = args.backend_port or args.port + 1
    if args.command == "run":
        run(args.port, backend_port, args.backend == "embedded", not args.no_limits, args.scale, args.like)
    elif args.command == "token":
        print(token(args.user, backend_port))
    else:
        print(json.dumps(cleanup(backend_port)))


if __name__ == "__main__":
    main(sys.argv[1:])

"""`make run` and `make token`: the API served on this machine, offline, on an embedded AWS.

`run` starts moto's server (DynamoDB and a Cognito user pool) on a loopback port,
creates the table, the pool and an app client, then serves the app exactly as
`chalice local --stage local` does (Chalice's own config loading and local server),
with one guard in front: a malformed `Authorization` header, which makes Chalice's
local gateway drop the connection, gets a 401 instead. The `local` stage verifies
every token in the app (chalicelib/auth.py) against the pool's JWKS.

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
import time
import uuid
from http import HTTPStatus
from pathlib import Path
from typing import Any, NoReturn

import boto3
from chalice.app import ChaliceViewError
from chalice.cli.factory import CLIFactory
from chalice.local import ChaliceRequestHandler, LocalDevServer, LocalGatewayException

from chalicelib.errors import GATEWAY_ERRORS, Unauthenticated, gateway_message

ROOT = Path(__file__).resolve().parent.parent
STAGE = "local"
REGION = "us-east-1"
POOL_NAME = "todo-api-local"
CLIENT_NAME = "todo-api-local"
MAX_AUTHORIZATION_CHARS = 8 * 1024
_USER = re.compile(r"[A-Za-z0-9._@+-]{1,64}")
_FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "local",
    "AWS_SECRET_ACCESS_KEY": "local",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_EC2_METADATA_DISABLED": "true",
}


def _table_name() -> str:
    config = json.loads((ROOT / ".chalice" / "config.json").read_text())
    name: str = config["stages"][STAGE]["environment_variables"]["TODO_TABLE"]
    return name


def _find_pool(cognito: Any) -> tuple[str, str] | None:
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
    """The local stage's table, made as `make deploy` makes a stage's (tools/deploy.py)."""
    from tools.deploy import ensure_table

    ensure_table(boto3.client("dynamodb", region_name=_region()), _table_name())


def user_pool() -> tuple[str, str]:
    """The local user pool and app client, created if missing: (pool id, client id)."""
    cognito = boto3.client("cognito-idp", region_name=_region())
    found = _find_pool(cognito)
    if found is not None:
        return found
    pool_id = cognito.create_user_pool(PoolName=POOL_NAME)["UserPool"]["Id"]
    client_id = cognito.create_user_pool_client(
        UserPoolId=pool_id,
        ClientName=CLIENT_NAME,
        ExplicitAuthFlows=["ALLOW_ADMIN_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
    )["UserPoolClient"]["ClientId"]
    return pool_id, client_id


def configure_tokens() -> None:
    """Point the app's token verification at a pool: the one given, or a local one."""
    if "TODO_COGNITO_ISSUER" in os.environ:
        return
    endpoint = os.environ.get("AWS_ENDPOINT_URL_COGNITO_IDP") or os.environ.get("AWS_ENDPOINT_URL")
    if not endpoint:
        # Never create a user pool in a real AWS account behind the user's back.
        raise SystemExit("with a real AWS account, set TODO_COGNITO_ISSUER and TODO_COGNITO_CLIENT_ID")
    pool_id, client_id = user_pool()
    os.environ["TODO_COGNITO_ISSUER"] = f"https://cognito-idp.{_region()}.amazonaws.com/{pool_id}"
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

    def _generic_handle(self) -> None:
        authorization = self.headers.get("Authorization")
        if authorization is not None and not _decodable(authorization):
            self.rfile.read(int(self.headers.get("Content-Length") or 0))  # keep the connection usable
            self._send_gateway_error(Unauthenticated)
            return
        super()._generic_handle()

    def _send_error_response(self, error: LocalGatewayException) -> None:
        """Chalice's local gateway answers a path with no route as API Gateway does by
        default (403 "Missing Authentication Token"); the deployed stage's gateway responses
        answer in the app's vocabulary (errors.GATEWAY_ERRORS), and so does this server."""
        kind = {401: "UNAUTHORIZED", 403: "ACCESS_DENIED"}.get(error.CODE, "DEFAULT_4XX")
        if b"Missing Authentication Token" in (error.body or b""):
            kind = "MISSING_AUTHENTICATION_TOKEN"
        self._send_gateway_error(GATEWAY_ERRORS[kind])

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """http.server's own errors (a header line over 64 KiB, a bad request line) in our
        error shape rather than HTML. Headers too large to read carry no usable token: 401.
        A method the server has no handler for is a 405, as for any method a path lacks."""
        if code == HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE:
            self._send_gateway_error(Unauthenticated)
        elif code == HTTPStatus.NOT_IMPLEMENTED:  # a method http.server has no do_* for (TRACE, ...)
            collection = self.path.split("?")[0].rstrip("/") == "/todos"
            allow = "GET, POST, DELETE" if collection else "GET, PATCH, DELETE"
            self._send_json_error(405, "MethodNotAllowed", f"{self.command} is not allowed here", Allow=allow)
        else:
            error = GATEWAY_ERRORS["DEFAULT_5XX" if code >= 500 else "DEFAULT_4XX"]
            self._send_json_error(code, error.__name__, HTTPStatus(code).phrase)
        self.close_connection = True

    def _send_gateway_error(self, error: type[ChaliceViewError]) -> None:
        self._send_json_error(error.STATUS_CODE, error.__name__, gateway_message(error))

    def _send_json_error(self, status: int, code: str, message: str, **headers: str) -> None:
        body = json.dumps({"Code": code, "Message": message}).encode()
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Access-Control-Allow-Origin", "*")
        self.end_headers()
        if getattr(self, "command", None) != "HEAD":
            self.wfile.write(body)

    # The base class binds its do_* methods to its own _generic_handle.
    do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = do_PATCH = do_OPTIONS = _generic_handle


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


def _stop(signum: int, frame: Any) -> NoReturn:
    # The first signal stops us. Later ones are ignored so that cleanup finishes: Ctrl-C
    # reaches make and us at once, and make forwards SIGTERM to us a second time.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    raise SystemExit(0)


def run(port: int, backend_port: int, embedded: bool) -> None:
    backend = None
    if embedded:
        from moto.server import ThreadedMotoServer

        os.environ.update(_FAKE_CREDENTIALS)
        backend = ThreadedMotoServer(ip_address="127.0.0.1", port=backend_port, verbose=False)
        backend.start()
        os.environ["AWS_ENDPOINT_URL"] = f"http://127.0.0.1:{backend_port}"
    # Both stop the server, even when started with SIGINT ignored (as background jobs are).
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    # As `chalice local` does: the app's log lines on stdout, as Lambda would show them.
    logging.basicConfig(stream=sys.stdout, level=logging.INFO, format="%(message)s")
    for noisy in ("botocore", "werkzeug"):  # the SDK's and the embedded backend's chatter
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        create_table()
        configure_tokens()
        # As the chalice CLI does: the stage's environment_variables go into os.environ.
        factory = CLIFactory(project_dir=str(ROOT), environ=os.environ)
        config = factory.create_config_obj(chalice_stage_name=STAGE)
        server = LocalDevServer(config.chalice_app, config, "127.0.0.1", port, handler_cls=GuardedHandler)
        _banner(port, backend_port, embedded)
        server.serve_forever()
    finally:
        if backend is not None:
            backend.stop()
        print("todo-api local: stopped" + ("; local data discarded" if embedded else ""), flush=True)


def _banner(port: int, backend_port: int, embedded: bool) -> None:
    where = (
        f"embedded moto (DynamoDB + Cognito) on http://127.0.0.1:{backend_port}"
        if embedded
        else f"your AWS configuration (endpoint: {os.environ.get('AWS_ENDPOINT_URL', 'AWS')})"
    )
    lines = [
        f"todo-api (stage {STAGE}) on http://127.0.0.1:{port}",
        f"backend: {where}",
        "tokens: verified by the app against the pool's JWKS (RS256, exp, iss, aud, token_use=id)",
    ]
    if embedded:
        lines.append("data: kept in memory only; it is gone when this process stops")
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
        found = _find_pool(cognito)
    except Exception as exc:
        raise SystemExit(
            f"no local backend answers on {os.environ['AWS_ENDPOINT_URL']}: is `make run` up?"
        ) from exc
    if found is None:
        raise SystemExit("the local user pool does not exist: start `make run` first")
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
    from chalice.local import LambdaContext

    os.environ.update({k: v for k, v in _FAKE_CREDENTIALS.items() if k not in os.environ})
    os.environ.setdefault("AWS_ENDPOINT_URL", f"http://127.0.0.1:{backend_port}")
    factory = CLIFactory(project_dir=str(ROOT), environ=os.environ)
    config = factory.create_config_obj(chalice_stage_name=STAGE)
    app = config.chalice_app
    reports = {}
    for name in ("purge_completed",):
        event = {  # what EventBridge sends a scheduled function
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": "Scheduled Event",
            "source": "aws.events",
            "account": "000000000000",
            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "region": _region(),
            "resources": [f"arn:aws:events:{_region()}:000000000000:rule/{name}"],
            "detail": {},
        }
        timeout_ms = config.scope(STAGE, name).lambda_timeout * 1000
        context = LambdaContext(name, memory_size=128, max_runtime_ms=timeout_ms)
        reports[name] = app.handler_map[name](event, context)
    return reports


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tools.local")
    commands = parser.add_subparsers(dest="command", required=True)
    run_cmd = commands.add_parser("run", help="serve the API locally")
    token_cmd = commands.add_parser("token", help="print an ID token for a local user")
    token_cmd.add_argument("user")
    cleanup_cmd = commands.add_parser("cleanup", help="run the scheduled jobs once against the local backend")
    for cmd in (run_cmd, token_cmd, cleanup_cmd):
        cmd.add_argument("--port", type=int, default=8000)
        cmd.add_argument("--backend-port", type=int, default=None, help="default: port + 1")
    run_cmd.add_argument("--backend", choices=["embedded", "external"], default="embedded")
    args = parser.parse_args(argv)
    backend_port = args.backend_port or args.port + 1
    if args.command == "run":
        run(args.port, backend_port, embedded=args.backend == "embedded")
    elif args.command == "token":
        print(token(args.user, backend_port))
    else:
        print(json.dumps(cleanup(backend_port)))


if __name__ == "__main__":
    main(sys.argv[1:])

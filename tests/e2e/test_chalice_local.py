"""`chalice local`, as Chalice users type it, over real HTTP.

`make backend` serves the embedded backend alone; `chalice local --stage local` then
serves the API against it, with tokens from `make token` verified. In the dev and prod
stages `chalice local` verifies tokens against the stage's own pool: no local run ever
trusts an unsigned token, although Chalice's local gateway would.
"""

from __future__ import annotations

import contextlib
import http.server
import json
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from infrastructure import stages
from infrastructure.bootstrap import ensure_table
from tests.servers import (
    Server,
    aws_env,
    emulator_client,
    free_port,
    make_env,
    moto_server,
    stop_server,
)
from tests.support import ROOT, copy_project
from tests.tokens import RsaKey, id_claims, rs256, unsigned
from tools.local import DEFAULT_BACKEND_PORT, stage_settings

pytestmark = [pytest.mark.server, pytest.mark.no_moto]

CHALICE = str(Path(sys.executable).parent / "chalice")
STARTUP_SECONDS = 60


def start(command: list[str], port: int, cwd: Path, env: dict[str, str], ready: str) -> Server:
    log = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115 - closed by stop_server
    process = subprocess.Popen(
        command, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT, text=True, start_new_session=True
    )
    server = Server(process, port, port, env, log)
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{command[:3]} exited: {stop_server(server)}")
        log.seek(0)
        if ready in log.read():
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return server
        time.sleep(0.2)
    raise RuntimeError(f"{command[:3]} did not start in time: {stop_server(server)}")


@contextlib.contextmanager
def running(server: Server) -> Iterator[Server]:
    try:
        yield server
    finally:
        stop_server(server)


def project_copy(tmp_path: Path, backend_port: int) -> Path:
    """What `chalice local` reads, with the local stage pointed at `backend_port` (the test's
    free port, where the committed config names make backend's default)."""
    copy_project(tmp_path)
    config_path = tmp_path / ".chalice" / "config.json"
    config = json.loads(config_path.read_text())
    config["stages"]["local"]["environment_variables"]["TODO_LOCAL_BACKEND"] = (
        f"http://127.0.0.1:{backend_port}"
    )
    config_path.write_text(json.dumps(config))
    return tmp_path


def test_the_local_stage_points_at_make_backends_default_port() -> None:
    assert stage_settings()["TODO_LOCAL_BACKEND"] == f"http://127.0.0.1:{DEFAULT_BACKEND_PORT}"
    makefile = (ROOT / "Makefile").read_text()
    assert "PORT ?= 8000" in makefile  # and BACKEND_PORT defaults to PORT + 1
    assert DEFAULT_BACKEND_PORT == 8001


def test_chalice_local_serves_the_walkthrough_against_make_backend(tmp_path: Path) -> None:
    backend_port, port = free_port(), free_port()
    backend = start(
        ["make", "-s", "backend", f"BACKEND_PORT={backend_port}"],
        backend_port,
        ROOT,
        make_env(),
        "serve the API",
    )
    with running(backend):
        # No AWS credentials, region or endpoint in chalice local's environment: the local
        # stage's settings are all it needs.
        api = start(
            [CHALICE, "local", "--stage", "local", "--port", str(port)],
            port,
            project_copy(tmp_path, backend_port),
            make_env(),
            "Serving on",
        )
        api.backend_port = backend_port
        with running(api):
            alice = api.make_token("walk-alice")
            status, headers, todo = api.request("POST", "/todos", alice, {"title": "buy milk", "order": 1})
            assert status == 201
            assert todo["url"] == headers["Location"] == f"http://127.0.0.1:{port}/todos/{todo['id']}"
            assert (
                api.request("POST", "/todos", alice, {"task": "walk the dog"})[2]["title"] == "walk the dog"
            )
            assert [t["title"] for t in api.request("GET", "/todos", alice)[2]] == [
                "buy milk",
                "walk the dog",
            ]
            one = f"/todos/{todo['id']}"
            assert api.request("PATCH", one, alice, {"completed": True})[2]["completed"] is True
            assert api.request("DELETE", "/todos?completed=true", alice)[0] == 204
            assert api.request("DELETE", one, alice)[0] == 404
            assert api.request("GET", "/todos", api.token("walk-bob"))[2] == []
            issuer, client = api.issuer_and_client
            forged = rs256(RsaKey.generate("dummy"), id_claims(issuer, client, time.time()))
            for refused in (None, unsigned(id_claims(issuer, client, time.time())), forged):
                status, _, error = api.request("GET", "/todos", refused)
                assert (status, error["Code"]) == (401, "Unauthenticated")
        stored = emulator_client("dynamodb", backend_port).scan(TableName="todo-api-local")["Items"]
        assert [item["title"]["S"] for item in stored if "#" not in item["owner"]["S"]] == ["walk the dog"]


class _Jwks(http.server.BaseHTTPRequestHandler):
    document = b""

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(self.document)))
        self.end_headers()
        self.wfile.write(self.document)

    def log_message(self, *args: Any) -> None:
        pass


@contextlib.contextmanager
def jwks_server(key: RsaKey) -> Iterator[str]:
    """A stand-in for the stage pool's JWKS endpoint (the real one is on the internet)."""
    handler = type("Jwks", (_Jwks,), {"document": json.dumps({"keys": [key.public_jwk()]}).encode()})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/.well-known/jwks.json"
    finally:
        server.shutdown()
        thread.join()
        server.server_close()


@pytest.mark.parametrize("stage", ["dev", "prod"])
def test_chalice_local_verifies_tokens_against_the_stages_pool(stage: str) -> None:
    settings = stages.raw(stage)
    pool_arn = settings["environment_variables"]["TODO_USER_POOL_ARN"]
    region, pool_id = pool_arn.split(":")[3], pool_arn.rsplit("/", 1)[1]
    issuer = f"https://cognito-idp.{region}.amazonaws.com/{pool_id}"
    pool_key = RsaKey.generate("stage-key")
    port = free_port()
    with moto_server() as backend_port, jwks_server(pool_key) as jwks_url:
        env = {**make_env(), **aws_env(backend_port), "TODO_JWKS_URL": jwks_url}
        ensure_table(emulator_client("dynamodb", backend_port, key="operator"), f"todo-api-{stage}")
        api = start([CHALICE, "local", "--stage", stage, "--port", str(port)], port, ROOT, env, "Serving on")
        with running(api):
            now = time.time()
            good = id_claims(issuer, "any-app-client-of-the-pool", now)  # as API Gateway's authorizer
            status, _, created = api.request("POST", "/todos", rs256(pool_key, good), {"title": "verified"})
            assert (status, created["title"]) == (201, "verified")
            for name, token in {
                "none": None,
                "unsigned": unsigned(good),
                "unsigned-rs256": unsigned(good, alg="RS256", kid="stage-key", signature="c2ln"),
                "another-key": rs256(RsaKey.generate("stage-key"), good),
                "another-pool": rs256(pool_key, {**good, "iss": issuer + "x"}),
                "expired": rs256(pool_key, {**good, "exp": int(now) - 60}),
            }.items():
                status, _, error = api.request("GET", "/todos", token)
                assert (status, error["Code"]) == (401, "Unauthenticated"), name


@pytest.mark.parametrize("stage", ["local", "dev", "prod"])
def test_no_stage_can_switch_verification_off_or_point_a_function_at_loopback(stage: str) -> None:
    variables = stages.environment(stage)
    # The app trusts the gateway's claims only where Lambda sets this; a stage that set it
    # would make `chalice local` trust unsigned tokens (and Lambda refuses it anyway).
    assert "AWS_LAMBDA_FUNCTION_NAME" not in variables
    if stage != "local":  # deployed stages reach AWS, never an emulator or a stand-in key server
        assert not {"TODO_LOCAL_BACKEND", "TODO_JWKS_URL"} & set(variables)

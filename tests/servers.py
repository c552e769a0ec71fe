"""Servers on loopback for the tests that talk to real processes: the one place that starts
and stops them (`make run`, moto servers), makes their clients and their environment.

Every server listens on 127.0.0.1, on a free port, and is stopped by the test (or the
fixture) that started it.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import http.client
import json
import os
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
from moto.server import ThreadedMotoServer

from tests.support import ROOT
from tools.local import find_pool, sign_in

STARTUP_SECONDS = 60


def emulator_client(service: str, port: int, region: str = "us-east-1", key: str = "local") -> Any:
    """A boto3 client for a moto server on loopback, with its fake credentials."""
    return boto3.client(
        service,
        endpoint_url=f"http://127.0.0.1:{port}",
        region_name=region,
        aws_access_key_id=key,
        aws_secret_access_key=key,
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def moto_server() -> Iterator[int]:
    """A separate moto server on a free loopback port, stopped on exit: yields its port."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=free_port(), verbose=False)
    server.start()
    try:
        yield server.get_host_and_port()[1]
    finally:
        server.stop()


def aws_env(port: int, region: str = "us-east-1", key: str = "operator") -> dict[str, str]:
    """A child process's own AWS configuration (as a user's would be), pointed at `port`."""
    return {
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
        "AWS_ACCESS_KEY_ID": key,
        "AWS_SECRET_ACCESS_KEY": key,
        "AWS_DEFAULT_REGION": region,
    }


def make_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "TODO_", "MAKE"))}
    env["AWS_EC2_METADATA_DISABLED"] = "true"
    return env


@dataclass
class Server:
    process: subprocess.Popen[str]
    port: int
    backend_port: int
    env: dict[str, str]
    log: Any  # the server's output goes to a file: an unread pipe would fill and stall it

    def request(
        self,
        method: str,
        path: str,
        token: str | None = None,
        body: Any = None,
        headers: dict[str, str] | None = None,
        timeout: float = 10,
    ) -> tuple[int, dict[str, str], Any]:
        all_headers = dict(headers or {})
        if token is not None:
            all_headers["Authorization"] = token
        data = None
        if body is not None:
            data = body if isinstance(body, str | bytes) else json.dumps(body)
            all_headers.setdefault("Content-Type", "application/json")
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            # The server may answer (and close) before reading all we send, as it does with
            # headers over its limit: its answer is still there to read.
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                connection.request(method, path, body=data, headers=all_headers)
            response = connection.getresponse()
            raw = response.read()
            return response.status, dict(response.getheaders()), json.loads(raw) if raw else None
        finally:
            connection.close()

    def make(
        self, *command: str, timeout: float = 120, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        """`make -s COMMAND...` against this server, as a user would type it."""
        return subprocess.run(
            ["make", "-s", *command, f"PORT={self.port}", f"BACKEND_PORT={self.backend_port}"],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=check,
        )

    def cognito(self, operation: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """A call to the embedded pool as the page makes it (no SDK: no retries of its own)."""
        connection = http.client.HTTPConnection("127.0.0.1", self.backend_port, timeout=10)
        try:
            headers = {
                "Content-Type": "application/x-amz-json-1.1",
                "X-Amz-Target": f"AWSCognitoIdentityProviderService.{operation}",
            }
            connection.request("POST", "/", body=json.dumps(body), headers=headers)
            response = connection.getresponse()
            return response.status, json.loads(response.read() or b"{}")
        finally:
            connection.close()

    def make_token(self, user: str) -> str:
        """`make -s token USER=user`, as the README has a user type it."""
        return self.make("token", f"USER={user}", timeout=60).stdout.strip()

    def token(self, user: str) -> str:
        """A real ID token of the server's pool: what `make token` prints, signed in from
        here (one test runs `make token` itself; a process per token would cost seconds)."""
        return str(self.sign_in(user)["IdToken"])

    def access_token(self, user: str) -> str:
        """An access token the local pool really issued (the API accepts ID tokens only)."""
        return str(self.sign_in(user)["AccessToken"])

    def sign_in(self, user: str) -> dict[str, Any]:
        # The backend's region and account: the server's own AWS configuration, if given.
        region = self.env.get("AWS_DEFAULT_REGION", "us-east-1")
        cognito = emulator_client(
            "cognito-idp", self.backend_port, region, self.env.get("AWS_ACCESS_KEY_ID", "local")
        )
        found = find_pool(cognito)
        assert found is not None, "the server's backend has no local pool"
        return sign_in(cognito, user, *found)

    @functools.cached_property
    def issuer_and_client(self) -> tuple[str, str]:
        """The pool's issuer and client id, read from a real token of it."""
        payload = self.token("probe").split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return claims["iss"], claims["aud"]


def start_server(*args: str, backend_port: int | None = None, **env: str) -> Server:
    port, backend_port = free_port(), backend_port or free_port()
    full_env = {**make_env(), **env}
    log = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115 - closed by stop_server
    process = subprocess.Popen(
        ["make", "-s", "run", f"PORT={port}", f"BACKEND_PORT={backend_port}", *args],
        cwd=ROOT,
        env=full_env,
        stdout=log,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group, so the test can stop all of it
    )
    server = Server(process, port, backend_port, full_env, log)
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"make run exited: {stop_server(server)}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return server
        except OSError:
            time.sleep(0.2)
    stop_server(server)
    raise RuntimeError("make run did not start in time")


def stop_server(server: Server, sig: int = signal.SIGTERM) -> str:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(server.process.pid, sig)
    try:
        server.process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(server.process.pid, signal.SIGKILL)
        server.process.wait()
    server.log.seek(0)
    output = str(server.log.read())
    server.log.close()
    return output

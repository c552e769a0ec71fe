"""`make spike LOCAL=1`: the spike played for real against `make run`, beside the model.

Every quota is divided by one factor (SCALE; by default USERS / 100, so that a hundred
people are played), and so is the crowd: USERS / SCALE people arrive over OVER seconds.
`make run LIKE=STAGE SCALE=...` enforces the stage's throttle and Cognito's rates and
e-mail sender at that scale (tools/limits.py), and each person, a thread here, walks the
journey (infrastructure/capacity.py) three times faster than a person would (so the run stays near
two minutes): the page's four files, SignUp, ConfirmSignUp and InitiateAuth sent to the
embedded pool as the page sends them, the list, three creates (each with an
Idempotency-Key) and two toggles. A refused step waits and tries again as the page does and
as the model's people do: its retry count for the service, waits of full jitter under a cap
that doubles, after Retry-After (the page's own constants, infrastructure/capacity.py patience).

The model (benchmark/spike.py) plays the same people, journey and scaled quotas, with the walls
`make run` does not enforce (the account's gateway bucket, Lambda, DynamoDB, the firewall)
left out; the walls each met are printed side by side, and the command fails if they are
not the same walls in the same order. Loopback only; bounded by MAX_PEOPLE and DEADLINE.
"""

from __future__ import annotations

import argparse
import http.client
import json
import math
import os
import random
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmark import cost, spike
from chalicelib.errors import RETRY_AFTER_SECONDS
from infrastructure import capacity, stages

MAX_PEOPLE = 300
PEOPLE = 100  # the crowd played here by default: USERS / SCALE
SPEED = 3  # the journey's pauses, this many times shorter
DEADLINE = 240  # seconds, whatever happens
PATIENCE = capacity.patience()
NOT_REHEARSED = frozenset({"waf", "account", "lambda", "lambda_scaling", "table"})
PASSWORD = "Aa1!" + secrets.token_urlsafe(18)  # the crowd's: throwaway users of a throwaway pool


def fast_journey(speed: int = SPEED) -> tuple[capacity.Step, ...]:
    """The journey without its hourly refresh, its pauses `speed` times shorter."""
    return tuple(step._replace(at=math.ceil(step.at / speed)) for step in capacity.JOURNEY if step.at < 3600)


class Walls:
    """The walls the people met: first moment (seconds since the first arrival) and count."""

    def __init__(self) -> None:
        self.met: dict[str, list[float]] = {}
        self.served = 0
        self._lock = threading.Lock()

    def hit(self, name: str, when: float) -> None:
        with self._lock:
            self.met.setdefault(name, [when, 0])[1] += 1

    def done(self) -> None:
        with self._lock:
            self.served += 1

    def ordered(self) -> list[tuple[str, float, int]]:
        return sorted(((k, v[0], int(v[1])) for k, v in self.met.items()), key=lambda w: w[1])


class Person:
    """One person of the crowd, speaking HTTP to the server and its pool as the page does."""

    def __init__(self, n: int, port: int, backend_port: int, client_id: str, ses: bool) -> None:
        self.email = f"crowd{n}-{uuid.uuid4().hex[:8]}@example.com"
        self.port, self.backend_port, self.client_id, self.ses = port, backend_port, client_id, ses
        self.token = ""
        self.todos: list[str] = []
        self.made = False  # signed up, its code refused: the code is sent again instead
        self.jitter = random.Random(n)  # noqa: S311 - a wait's jitter, not a secret

    def _http(self, port: int, method: str, path: str, body: Any, headers: dict[str, str]) -> tuple[int, Any]:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        try:
            connection.request(method, path, body=None if body is None else json.dumps(body), headers=headers)
            response = connection.getresponse()
            raw = response.read()
            try:
                return response.status, json.loads(raw) if raw else None
            except ValueError:
                return response.status, None  # the page's files
        finally:
            connection.close()

    def cognito(self, operation: str, body: dict[str, Any]) -> tuple[str, Any]:
        headers = {
            "Content-Type": "application/x-amz-json-1.1",
            "X-Amz-Target": f"AWSCognitoIdentityProviderService.{operation}",
        }
        status, answer = self._http(
            self.backend_port, "POST", "/", {"ClientId": self.client_id, **body}, headers
        )
        if status == 200:
            return "", answer
        kind = str((answer or {}).get("__type", "")).split("#")[-1]
        categories = {"SignUp": "UserCreation", "ConfirmSignUp": "UserCreation",
                      "ResendConfirmationCode": "UserAccountRecovery"}  # fmt: skip
        category = categories.get(operation, "UserAuthentication")
        refusals = {
            "TooManyRequestsException": category,
            "LimitExceededException": "ses_day" if self.ses else "email_day",
            "CodeDeliveryFailureException": "ses_rate",
        }
        if kind not in refusals:
            raise RuntimeError(f"{operation} answered {status} {answer}")
        return refusals[kind], None

    def api(self, method: str, path: str, body: Any = None, **headers: str) -> tuple[str, Any]:
        sent = {"Content-Type": "application/json", **headers}
        if self.token:
            sent["Authorization"] = self.token
        status, answer = self._http(self.port, method, path, body, sent)
        if status == 429:
            return "stage", None
        if status >= 400:
            raise RuntimeError(f"{method} {path} answered {status} {answer}")
        return "", answer

    def step(self, step: capacity.Step, pending: list[str], key: str) -> str:
        """Try `step` once: "" when it is done, else the wall that refused it."""
        if step.what == "open the page":
            for path in list(pending):
                refused, _ = self.api("GET", path)
                if refused:
                    return refused
                pending.remove(path)
            return ""
        if step.what == "sign up" and self.made:
            # Its code was refused after the user was made: send it again, as the page does.
            return self.cognito("ResendConfirmationCode", {"Username": self.email})[0]
        if step.what == "sign up":
            attributes = [{"Name": "email", "Value": self.email}]
            return self.cognito(
                "SignUp", {"Username": self.email, "Password": PASSWORD, "UserAttributes": attributes}
            )[0]
        if step.what == "confirm the e-mailed code":
            return self.cognito("ConfirmSignUp", {"Username": self.email, "ConfirmationCode": "000000"})[0]
        if step.what == "sign in":
            parameters = {"USERNAME": self.email, "PASSWORD": PASSWORD}
            refused, answer = self.cognito(
                "InitiateAuth", {"AuthFlow": "USER_PASSWORD_AUTH", "AuthParameters": parameters}
            )
            if not refused:
                self.token = answer["AuthenticationResult"]["IdToken"]
            return refused
        if step.routes == ("GET /todos",):
            return self.api("GET", "/todos")[0]
        if step.routes == ("POST /todos",):
            refused, made = self.api("POST", "/todos", {"title": "at 3 AM"}, **{"Idempotency-Key": key})
            if not refused:
                self.todos.append(made["id"])
            return refused
        return self.api("PATCH", f"/todos/{self.todos[len(self.todos) - 1]}", {"completed": True})[0]

    def walk(
        self,
        journey: tuple[capacity.Step, ...],
        arrive: float,
        origin: float,
        walls: Walls,
        stop: threading.Event,
    ) -> None:
        """Walk the journey from `arrive`; walls are timed from `origin`, the first arrival."""
        moment = arrive
        for index, step in enumerate(journey):
            if index:
                moment += step.at - journey[index - 1].at
            pending = ["/", "/site/app.js", "/site/app.css", "/config.json"]
            key = str(uuid.uuid4())
            # As the page: its retry count for the service, full-jitter waits after Retry-After.
            retries = PATIENCE.api_retries if step.api else PATIENCE.cognito_retries
            attempt = 0
            while True:
                if stop.wait(max(0.0, moment - time.monotonic())):
                    return
                refused = self.step(step, pending, key)
                if not refused:
                    break
                walls.hit(refused, time.monotonic() - origin)
                if refused == "ses_rate" and step.what == "sign up" and not self.made:
                    self.made, attempt = True, -1  # the resend counts its own tries
                if attempt >= retries:
                    return  # gave up
                cap = min(PATIENCE.cap_ms, PATIENCE.first_ms * 2 ** max(attempt, 0)) / 1000
                after = RETRY_AFTER_SECONDS if step.api else 0
                moment = time.monotonic() + after + self.jitter.uniform(0, cap)
                attempt += 1
            moment = time.monotonic()
        walls.done()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _client_id() -> str:
    return stages.environment("local")["TODO_COGNITO_CLIENT_ID"]


def rehearse(
    people: int, over: int, scale: float, like: str, ses: bool, log: Callable[[str], None] = print
) -> Walls:
    """Start `make run`'s server like `like` at `scale`, play the crowd, stop it: the walls met."""
    port, backend_port = _free_port(), _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_ENDPOINT", "TODO_"))}
    command = [sys.executable, "-m", "tools.local", "run", f"--port={port}", f"--backend-port={backend_port}",
               f"--scale={scale}", f"--like={like}"]  # fmt: skip
    server = subprocess.Popen(  # noqa: S603 - this Python, our module, numbers
        command,
        cwd=stages.ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    break
            if server.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("make run did not start")
            time.sleep(0.2)
        time.sleep(1.5)  # the buckets fill
        walls, stop = Walls(), threading.Event()
        journey = fast_journey()
        crowd = [Person(n, port, backend_port, _client_id(), ses) for n in range(people)]
        origin = time.monotonic()
        threads = [
            threading.Thread(
                target=person.walk, args=(journey, origin + n * over / people, origin, walls, stop)
            )
            for n, person in enumerate(crowd)
        ]
        for thread in threads:
            thread.start()
        end = origin + DEADLINE
        for thread in threads:
            thread.join(max(0.0, end - time.monotonic()))
        stop.set()
        for thread in threads:
            thread.join()  # each ends at its next wait, or with its request's timeout
        log(f"played in {time.monotonic() - origin:.0f} s")
        return walls
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmark.spike_local")
    parser.add_argument("--stage", default="prod")
    parser.add_argument("--users", default=str(spike.DEFAULT_USERS))
    parser.add_argument("--over", default=str(spike.DEFAULT_OVER))
    parser.add_argument("--scale", default="")
    parser.add_argument("--package-dir", type=Path, default=stages.ROOT / "build/package")
    parser.add_argument("--tune", type=Path, default=stages.ROOT / "build/tune.json")
    args = parser.parse_args(argv)
    try:
        users, over = int(args.users), int(args.over)
        scale = float(args.scale) if args.scale else users / PEOPLE
    except ValueError:
        raise SystemExit("USERS and OVER must be whole numbers, SCALE a number") from None
    people = round(users / scale) if scale > 0 else 0
    if not (1 <= people <= MAX_PEOPLE and 1 <= over <= 120 and scale >= 1):
        raise SystemExit(f"USERS / SCALE must be 1-{MAX_PEOPLE} people, OVER 1-120 s, SCALE at least 1")
    template = spike.inputs(args.package_dir, args.stage)
    # Lambda is not played here (NOT_REHEARSED), so neither are its cold starts.
    world = spike.world_of(template, cost.load_measured(args.tune))._replace(scale=scale, cold_start_ms=0.0)
    stage, journey = world.stage, fast_journey()
    model = spike.simulate(people, over, world, lifted=NOT_REHEARSED, journey=journey)
    print(
        f"make spike LOCAL=1: {people} people over {over} s against make run like stage {args.stage}, "
        f"every quota / {scale:g}, the journey {SPEED}x faster"
    )
    walls = rehearse(people, over, scale, args.stage, stage.ses)
    print(f"{'wall':<34} {'model: first s, refused':>24} {'make run: first s, refused':>28}")
    seen = {name: (first, count) for name, first, count in walls.ordered()}
    for name in dict.fromkeys([*model.walls, *seen]):
        predicted = model.walls.get(name)
        met = seen.get(name)
        left = f"{predicted.first_second} s, {predicted.refused}" if predicted else "not hit"
        right = f"{met[0]:.1f} s, {met[1]}" if met else "not met"
        print(f"{spike.WALLS[name].layer:<34} {left:>24} {right:>28}")
    print(f"served: model {model.served} of {people}; make run {walls.served} of {people}")
    same = list(model.walls) == [name for name, _, _ in walls.ordered()]
    print(f"the same walls in the same order: {'yes' if same else 'no'}")
    sys.exit(0 if same else 1)


if __name__ == "__main__":
    main(sys.argv[1:])

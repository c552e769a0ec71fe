"""Fixtures: every test runs on its own moto account with the real table definition.

moto, chalice.test and the fault helpers are imported where a fixture first needs them:
pytest-xdist's controller process loads this file too, runs no test, and would otherwise
spend seconds importing them before a worker starts.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.retries.standard import ExponentialBackoff
from chalice.local import LambdaContext

import app as todo_app
from chalicelib.schema import TABLE_DEFINITION
from chalicelib.store import TodoStore
from infrastructure import stages
from infrastructure.events import scheduled_event
from infrastructure.package import package
from tests.support import (
    CONFIG,
    HOST,
    ROOT,
    SCANNED,
    STAGE,
    TABLE,
    copy_project,
    record_calls,
    sub_of,
    unsigned_token,
)

# What app.py builds once per container, found rather than listed: each test starts (and
# leaves) with none built, but for the botocore session, kept for the whole run: it holds
# the loaded service models, and the fake credentials every test sets alike (a client's
# region and endpoint are read from each test's environment when it is built).
FACTORIES = [
    value
    for value in vars(todo_app).values()
    if callable(getattr(value, "cache_clear", None)) and value is not todo_app.aws_session
]


@pytest.fixture(autouse=True)
def aws(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Fake credentials and moto for every test but those marked `no_moto` (they bring
    their own AWS, or need none); yields the DynamoDB operations sent. moto keeps
    DynamoDB's transaction rules in every test, as in the embedded backend (tools/embedded.py)."""
    from tools import embedded

    embedded.install()
    if request.node.get_closest_marker("no_moto"):
        yield []
        return
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_EC2_METADATA_DISABLED": "true",
        # As in Lambda, behind API Gateway, whose Cognito authorizer has verified the token
        # (the app trusts the gateway's claims only there; tests of the other case unset it).
        "AWS_LAMBDA_FUNCTION_NAME": "todo-api-dev",
    }.items():
        monkeypatch.setenv(name, value)
    for name in (
        "AWS_PROFILE",
        "AWS_ENDPOINT_URL",
        "AWS_ENDPOINT_URL_DYNAMODB",
        "AWS_XRAY_DAEMON_ADDRESS",
        "_X_AMZN_TRACE_ID",
    ):
        monkeypatch.delenv(name, raising=False)
    for factory in FACTORIES:
        factory.cache_clear()
    calls: list[str] = []
    from moto import mock_aws

    with mock_aws():
        yield calls
    for factory in FACTORIES:
        factory.cache_clear()


@pytest.fixture
def dynamodb(aws: list[str]) -> Any:
    """The app's own DynamoDB client (so hooks on it see the app's calls), with the table."""
    client = todo_app.dynamodb_client()
    record_calls(client, aws)
    client.create_table(TableName=TABLE, **TABLE_DEFINITION)
    return client


@pytest.fixture
def store(dynamodb: Any) -> TodoStore:
    return TodoStore(dynamodb, table_name=TABLE, sleep=lambda _: None)


@pytest.fixture
def dynamodb_calls(aws: list[str]) -> list[str]:
    """The DynamoDB operations this test has sent so far (the app's included)."""
    return aws


@pytest.fixture
def api(dynamodb: Any) -> Iterator[Any]:
    from chalice.test import Client

    with Client(todo_app.app, stage_name=STAGE, project_dir=str(ROOT)) as client:
        yield client.http


@pytest.fixture
def setting(aws: list[str], monkeypatch: pytest.MonkeyPatch) -> Callable[[str, str], None]:
    """setting(name, value): the stage's runtime setting stored in (moto's) Parameter Store,
    as `make settings SET=name=value` stores it; from then on the app reads the settings on
    every request (TODO_SETTINGS_SECONDS=0), so each change shows at once."""
    import boto3

    ssm = boto3.client("ssm")
    path = CONFIG["stages"][STAGE]["environment_variables"]["TODO_SETTINGS_PATH"]
    monkeypatch.setenv("TODO_SETTINGS_SECONDS", "0")
    todo_app.runtime_settings.cache_clear()

    def put(name: str, value: str) -> None:
        ssm.put_parameter(Name=f"{path}/{name}", Value=value, Type="String", Overwrite=True)

    return put


@pytest.fixture
def auth() -> Callable[..., dict[str, str]]:
    def headers(user: str = "alice", **extra: str) -> dict[str, str]:
        token = unsigned_token(sub=sub_of(user), **{"cognito:username": user, "token_use": "id"})
        return {"Authorization": token, "Host": HOST, "Content-Type": "application/json", **extra}

    return headers


@pytest.fixture
def run_job(monkeypatch: pytest.MonkeyPatch) -> Callable[[str], Any]:
    """Invoke a scheduled function as Lambda does: the stage's environment, a scheduled
    event and the job's own 300 s budget (chalice.test.Client's context allows only 3 s,
    which the SDK's backoff under injected faults could eat)."""
    for name, value in CONFIG["stages"][STAGE]["environment_variables"].items():
        monkeypatch.setenv(name, value)

    def run(name: str) -> Any:
        event = scheduled_event(name)
        return todo_app.app.handler_map[name](event, LambdaContext(name, 128, 300_000))

    return run


@pytest.fixture
def backoffs(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The delays the SDK's retry policy chooses, recorded and not slept: the retries stay
    the SDK's own, without the seconds of waiting a throttled request would cost."""
    chosen: list[float] = []
    delay_amount = ExponentialBackoff.delay_amount

    def record(self: ExponentialBackoff, context: Any) -> float:
        chosen.append(delay_amount(self, context))
        return 0

    monkeypatch.setattr(ExponentialBackoff, "delay_amount", record)
    return chosen


@pytest.fixture
def inject(dynamodb: Any, backoffs: list[float]) -> Iterator[Callable[[str, Any, int], list[int]]]:
    """inject(operation, fault, times): the next `times` sends of `operation` by the app's
    client meet `fault` (tests/faults.py); yields how many each installed fault has met."""
    from tests.faults import Fault, answering

    hooks: list[tuple[str, Any]] = []

    def install(operation: str, fault: Fault, times: int) -> list[int]:
        hook, seen = answering(fault, times)
        event = f"before-send.dynamodb.{operation}"
        dynamodb.meta.events.register_first(event, hook)
        hooks.append((event, hook))
        return seen

    yield install
    for event, hook in hooks:
        dynamodb.meta.events.unregister(event, hook)


@pytest.fixture(scope="session")
def packaged(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Path]:
    """packaged(stage, api=None, **settings): `make package`'s output for the stage (bytecode
    and all; `api="http"`: as `make package API=http`; `settings`: set in the stage's config,
    of a copy of the project), built on first use by whichever test process needs it first
    and shared by all of them (each build is a second of `chalice package`). Read it only:
    every test is handed the same directory."""
    import fcntl
    import hashlib

    # pytest-xdist's workers (and only they) share the parent of their base directories.
    base = tmp_path_factory.getbasetemp()
    shared = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "packaged"
    shared.mkdir(exist_ok=True)
    built: dict[str, Path] = {}

    def build(stage: str, api: str | None = None, **settings: Any) -> Path:
        key = hashlib.sha256(json.dumps([stage, api, settings], sort_keys=True).encode()).hexdigest()[:16]
        if key in built:
            return built[key]
        work = shared / f"{stage}-{api}-{key}"
        with open(shared / f"{key}.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # one process builds it; the others wait for it
            if not (work / "built").exists():
                shutil.rmtree(work, ignore_errors=True)
                work.mkdir()
                root = ROOT
                if settings:
                    (work / "project").mkdir()
                    root = copy_project(work / "project")
                    config = stages.document(root)
                    config["stages"][stage].update(settings)
                    stages.write_json(stages.config_path(root), config)
                package(stage, work / "out", api=api, root=root)
                (work / "built").touch()
        built[key] = work / "out"
        return built[key]

    return build


@pytest.fixture(scope="session")
def scanned(packaged: Callable[..., Path], tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Any]:
    """scanned(variant): checkov's report on a packaged variant (support.SCANNED), all of
    them from one checkov run (its start-up is most of its time)."""
    from tests.scanners import checkov_reports

    reports: dict[str, Any] = {}

    def report(variant: str) -> Any:
        if not reports:
            templates = {
                name: packaged(stage, api, **settings) / "sam.json"
                for name, (stage, api, settings) in SCANNED.items()
            }
            reports.update(checkov_reports(templates, tmp_path_factory.mktemp("checkov")))
        return reports[variant]

    return report


@pytest.fixture
def lambda_backend() -> Iterator[tuple[str, Any]]:
    """A separate moto server on loopback with the dev stage's table, for a packaged handler
    run in its own process (support.lambda_env): its URL, and a client to look inside."""
    import boto3

    from tests.servers import moto_server

    with moto_server() as port:
        url = f"http://127.0.0.1:{port}"
        creds = {"aws_access_key_id": "x", "aws_secret_access_key": "x", "region_name": "us-east-1"}
        client = boto3.client("dynamodb", endpoint_url=url, **creds)
        client.create_table(TableName="todo-api-dev", **TABLE_DEFINITION)
        yield url, client


@pytest.fixture(scope="module")
def server() -> Iterator[Any]:
    """`make run` on free loopback ports, for a module's tests (stopped after them)."""
    from tests.servers import start_server, stop_server

    running = start_server()
    try:
        yield running
    finally:
        stop_server(running)

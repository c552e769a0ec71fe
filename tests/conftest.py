"""Fixtures: every test runs on its own moto account with the real table definition."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from chalice.local import LambdaContext
from chalice.test import Client
from moto import mock_aws

import app as todo_app
from chalicelib.store import TABLE_DEFINITION, TodoStore

ROOT = Path(__file__).resolve().parent.parent
STAGE = "dev"
CONFIG = json.loads((ROOT / ".chalice" / "config.json").read_text())
TABLE = CONFIG["stages"][STAGE]["environment_variables"]["TODO_TABLE"]
HOST = "api.example.test"
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
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Fake credentials and moto for every test; yields the DynamoDB operations sent."""
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
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_DYNAMODB"):
        monkeypatch.delenv(name, raising=False)
    for factory in FACTORIES:
        factory.cache_clear()
    calls: list[str] = []
    with mock_aws():
        yield calls
    for factory in FACTORIES:
        factory.cache_clear()


def record_calls(client: Any, calls: list[str]) -> None:
    """Append the name of every operation `client` sends to `calls` (botocore event hook)."""

    def record(model: Any, **_: Any) -> None:
        calls.append(model.name)

    client.meta.events.register("before-call.dynamodb", record)


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
    with Client(todo_app.app, stage_name=STAGE, project_dir=str(ROOT)) as client:
        yield client.http


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def unsigned_token(**claims: Any) -> str:
    """What the local gateway trusts without checking (API Gateway would verify it)."""
    return f"{_b64({'alg': 'RS256', 'kid': 'test'})}.{_b64(claims)}.c2lnbmF0dXJl"


def sub_of(user: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"user:{user}"))


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
        event = {
            "version": "0", "id": "1", "detail-type": "Scheduled Event", "source": "aws.events",
            "account": "000000000000", "time": "2026-11-27T12:00:00Z", "region": "us-east-1",
            "resources": [f"arn:aws:events:us-east-1:000000000000:rule/{name}"], "detail": {},
        }  # fmt: skip
        return todo_app.app.handler_map[name](event, LambdaContext(name, 128, 300_000))

    return run


def items_in_table(dynamodb: Any) -> list[dict[str, Any]]:
    """Every stored item, sorted: to show that a request changed nothing."""
    items = dynamodb.scan(TableName=TABLE, ConsistentRead=True)["Items"]
    return sorted(items, key=lambda item: (item["owner"]["S"], item["id"]["S"]))

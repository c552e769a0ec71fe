"""What tests share besides fixtures: the project's paths and stage, identities, the
stored items, the OpenAPI document. Fixtures live in conftest.py; servers in servers.py,
tokens in tokens.py, injected DynamoDB faults in faults.py. Test modules import from
these, never from each other."""

from __future__ import annotations

import base64
import json
import shutil
import uuid
import zipfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from chalicelib import schema, todos
from infrastructure import contract, stages

ROOT = stages.ROOT
STAGE = "dev"
CONFIG = stages.document()
TABLE = CONFIG["stages"][STAGE]["environment_variables"]["TODO_TABLE"]
HOST = "api.example.test"
# The xdist group of the tests that read the packaged stack (the `packaged` fixture).
SPEC: dict[str, Any] = contract.load()


def resolve(node: Any) -> Any:
    """A part of openapi.yaml with every local $ref inlined (the document has no cycles)."""
    return contract.inlined(node, SPEC)


def record_calls(client: Any, calls: list[str]) -> None:
    """Append the name of every operation `client` sends to `calls` (botocore event hook)."""

    def record(model: Any, **_: Any) -> None:
        calls.append(model.name)

    client.meta.events.register("before-call.dynamodb", record)


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def unsigned_token(**claims: Any) -> str:
    """What the local gateway trusts without checking (API Gateway would verify it)."""
    return f"{_b64({'alg': 'RS256', 'kid': 'test'})}.{_b64(claims)}.c2lnbmF0dXJl"


def sub_of(user: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"user:{user}"))


def items_in_table(dynamodb: Any) -> list[dict[str, Any]]:
    """Every stored item, sorted: to show that a request changed nothing."""
    pages = dynamodb.get_paginator("scan").paginate(TableName=TABLE, ConsistentRead=True)
    items = [item for page in pages for item in page["Items"]]
    return sorted(items, key=lambda item: (item["owner"]["S"], item["id"]["S"]))


def path_of(url: str) -> str:
    """The path of one of the API's absolute URLs (as the test client's Host builds them)."""
    return url.removeprefix(f"http://{HOST}")


def todo_items(dynamodb: Any) -> list[dict[str, Any]]:
    """The stored todos, sorted: every item outside the reserved ('#') partitions."""
    return [i for i in items_in_table(dynamodb) if schema.RESERVED_MARK not in i["owner"]["S"]]


def held(dynamodb: Any, owner: str) -> int:
    """How many todos the owner's partition holds, by a Query that counts (no items sent)."""
    args = {**schema.owner_query(owner, None), "Select": "COUNT"}
    pages = dynamodb.get_paginator("query").paginate(TableName=TABLE, **args)
    return sum(page["Count"] for page in pages)


def counted(dynamodb: Any, owner: str) -> int | None:
    """The owner's todo count as stored (None: never counted)."""
    found = dynamodb.get_item(TableName=TABLE, Key=schema.usage_key(owner), ConsistentRead=True)
    return int(found["Item"][schema.COUNT]["N"]) if "Item" in found else None


# The moment the pure tests make their todos at (microseconds too: to see them cut to ms).
NOW = datetime(2026, 11, 27, 13, 22, 48, 123456, tzinfo=UTC)


def make_todo(payload: dict[str, object], **overrides: object) -> todos.Todo:
    """todos.new_todo with a fixed owner, moment and entropy unless overridden."""
    args: dict[str, object] = {"owner": "owner-1", "now": NOW, "entropy": bytes(range(10)), **overrides}
    return todos.new_todo(payload, **args)  # type: ignore[arg-type]


def unpack(archive: Path, into: Path) -> Path:
    """A deployment zip unpacked as Lambda unpacks it into /var/task."""
    with zipfile.ZipFile(archive) as opened:
        opened.extractall(into)
    return into


def lambda_env(backend: str) -> dict[str, str]:
    """A child process's environment as Lambda gives the dev stage's API function (behind
    API Gateway's authorizer), with DynamoDB at `backend`."""
    return {
        "AWS_ENDPOINT_URL": backend,
        "AWS_ACCESS_KEY_ID": "x",
        "AWS_SECRET_ACCESS_KEY": "x",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_EC2_METADATA_DISABLED": "true",
        "TODO_TABLE": "todo-api-dev",
        "AWS_LAMBDA_FUNCTION_NAME": "todo-api-dev",  # set by Lambda: the gateway verified the token
        "PYTHONDONTWRITEBYTECODE": "1",
    }


# Client applications with usage plans, as a stage may configure them
# (tests/infrastructure/test_usage_plans.py).
USAGE_PLANS = {
    "web": {"rate": 20, "burst": 40, "quota": 100000, "period": "DAY"},
    "partner": {"rate": 5, "burst": 10, "quota": 1000000, "period": "MONTH"},
}
# The packaged variants checkov scans (conftest `scanned`): (stage, api, stage settings).
SCANNED: dict[str, tuple[str, str | None, dict[str, Any]]] = {
    "dev": ("dev", None, {}),
    "prod": ("prod", None, {}),
    "dev-http": ("dev", "http", {}),
    "prod-http": ("prod", "http", {"waf": False}),
    "dev-plans": ("dev", None, {"usage_plans": USAGE_PLANS}),
    "prod-backups": ("prod", None, {"backup_days": 365}),
}


def copy_project(into: Path) -> Path:
    """A copy of what `make package` reads (app, library, config, requirements, the contract),
    to change freely."""
    for name in ("app.py", "requirements.txt", "openapi.yaml"):
        shutil.copy(ROOT / name, into / name)
    for name in ("chalicelib", ".chalice"):
        shutil.copytree(ROOT / name, into / name, ignore=shutil.ignore_patterns("__pycache__", "deployed"))
    return into

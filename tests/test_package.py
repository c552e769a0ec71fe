"""The Lambda bundle `make package` builds: our code only, bytecode only, and it serves."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import boto3
import pytest

from chalicelib.schema import TABLE_DEFINITION
from tests.servers import moto_server
from tests.support import PACKAGED

pytestmark = pytest.mark.xdist_group(PACKAGED)

PACKAGE_BUDGET_BYTES = 100 * 1024


@pytest.fixture(scope="module")
def built(packaged: Callable[[str], Path]) -> Path:
    return packaged("dev")


def test_the_zip_holds_our_code_and_chalices_runtime_only(built: Path) -> None:
    with zipfile.ZipFile(built / "deployment.zip") as archive:
        names = archive.namelist()
    assert {n.split("/")[0] for n in names} == {"app.pyc", "chalice", "chalicelib"}
    assert all(n.endswith(".pyc") for n in names), "sources should be replaced by bytecode"
    assert (built / "deployment.zip").stat().st_size <= PACKAGE_BUDGET_BYTES


def test_the_template_runs_the_packaging_python(built: Path) -> None:
    resources = json.loads((built / "sam.json").read_text())["Resources"]
    runtimes = {
        r["Properties"]["Runtime"] for r in resources.values() if r["Type"] == "AWS::Serverless::Function"
    }
    assert runtimes == {f"python{sys.version_info.major}.{sys.version_info.minor}"}


@pytest.fixture
def backend() -> Iterator[str]:
    with moto_server() as port:
        yield f"http://127.0.0.1:{port}"


@pytest.mark.server
def test_the_unpacked_zip_serves_a_request(built: Path, tmp_path: Path, backend: str) -> None:
    task = tmp_path / "task"
    with zipfile.ZipFile(built / "deployment.zip") as archive:
        archive.extractall(task)
    creds = {"aws_access_key_id": "x", "aws_secret_access_key": "x", "region_name": "us-east-1"}
    client = boto3.client("dynamodb", endpoint_url=backend, **creds)
    client.create_table(TableName="todo-api-dev", **TABLE_DEFINITION)
    script = """
import json, sys
sys.path.insert(0, sys.argv[1])
from app import app
event = {"resource": "/todos", "path": "/todos", "httpMethod": "POST",
         "headers": {"Host": "api.example", "Content-Type": "application/json"},
         "multiValueQueryStringParameters": None, "pathParameters": None, "stageVariables": None,
         "requestContext": {"resourcePath": "/todos", "httpMethod": "POST", "path": "/dev/todos",
                            "authorizer": {"claims": {"sub": "user-1"}}},
         "body": '{"title": "from the zip"}', "isBase64Encoded": False}
print(json.dumps(app(event, None)))
"""
    env = {
        "AWS_ENDPOINT_URL": backend,
        "AWS_ACCESS_KEY_ID": "x",
        "AWS_SECRET_ACCESS_KEY": "x",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_EC2_METADATA_DISABLED": "true",
        "TODO_TABLE": "todo-api-dev",
        "AWS_LAMBDA_FUNCTION_NAME": "todo-api-dev",  # as Lambda sets it: behind API Gateway's authorizer
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    result = subprocess.run(
        [sys.executable, "-c", script, str(task)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    response = json.loads(result.stdout.strip().splitlines()[-1])
    assert response["statusCode"] == 201, response
    assert json.loads(response["body"])["title"] == "from the zip"
    [item] = client.scan(TableName="todo-api-dev")["Items"]
    assert item["owner"] == {"S": "user-1"}

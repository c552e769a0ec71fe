"""The Lambda bundle `make package` builds: our code only, bytecode only, and it serves."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from chalice.cli.factory import CLIFactory
from chalice.deploy import models
from chalice.deploy.appgraph import ApplicationGraphBuilder

from infrastructure import stages
from infrastructure.package import BUDGET_BYTES, to_bytecode
from tests.support import ROOT, lambda_env, unpack


@pytest.fixture(scope="module")
def built(packaged: Callable[[str], Path]) -> Path:
    return packaged("dev")


def test_the_zip_holds_our_code_and_chalices_runtime_only(built: Path) -> None:
    with zipfile.ZipFile(built / "deployment.zip") as archive:
        names = archive.namelist()
    assert {n.split("/")[0] for n in names} == {"app.pyc", "chalice", "chalicelib"}
    site = sorted(n for n in names if n.startswith("chalicelib/site/"))
    assert site == ["chalicelib/site/app.css", "chalicelib/site/app.js", "chalicelib/site/index.html"]
    code = [n for n in names if n not in site]
    assert all(n.endswith(".pyc") for n in code), "sources should be replaced by bytecode"
    assert (built / "deployment.zip").stat().st_size <= BUDGET_BYTES


def test_the_zip_holds_the_page_as_it_is_served(built: Path) -> None:
    # The same bytes make run serves and the browser tests use: the comments out, the
    # licence's attribution and every line of code in.
    from chalicelib import pages

    with zipfile.ZipFile(built / "deployment.zip") as archive:
        for name in ("app.js", "app.css", "index.html"):
            shipped = archive.read(f"chalicelib/site/{name}").decode()
            source = (pages.SITE / name).read_text()
            assert shipped == pages.served(name, source)
    script = archive_text(built, "app.js")
    source = (pages.SITE / "app.js").read_text().splitlines()
    assert script.splitlines() == [line for line in source if not line.lstrip().startswith("//")]
    # A line starting `//` inside a template literal would be code, not a comment: none spans lines.
    assert all(line.count("`") % 2 == 0 for line in (pages.SITE / "app.js").read_text().splitlines())
    assert archive_text(built, "app.css").startswith("/*! todomvc-app-css 2.4.3 (npm), by Sindre Sorhus")
    assert "/* Mobile Safari */" not in archive_text(built, "app.css")
    assert pages.asset("app.js")[0] == script  # what the function answers


def archive_text(built: Path, name: str) -> str:
    with zipfile.ZipFile(built / "deployment.zip") as archive:
        return archive.read(f"chalicelib/site/{name}").decode()


# Run in a process of its own: every open() of the stage config while `make package
# STAGE=prod` builds (Python's audit hook sees each; `chalice package`, a child process of
# its own, reads it apart, as Chalice does).
_COUNT_CONFIG_READS = """
import sys
from pathlib import Path
reads = []
sys.addaudithook(lambda event, args: reads.append(1) if event == "open"
                 and str(args[0]).endswith(".chalice/config.json") else None)
from infrastructure.package import package
package("prod", Path(sys.argv[1]), bytecode=False)
print(len(reads))
"""


def test_make_package_reads_the_stage_config_once(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-c", _COUNT_CONFIG_READS, str(tmp_path / "package")],
        cwd=ROOT, capture_output=True, text=True, check=True, timeout=300,
    )  # fmt: skip
    assert result.stdout.split()[-1] == "1", result.stdout


def test_caches_a_local_run_left_in_chalicelib_are_not_shipped(tmp_path: Path) -> None:
    # Chalice zips chalicelib/ as it finds it; a run without PYTHONDONTWRITEBYTECODE leaves
    # __pycache__ there (it once took the zip from 91 KB to 144 KB).
    archive = tmp_path / "deployment.zip"
    with zipfile.ZipFile(archive, "w") as draft:
        draft.writestr("chalicelib/x.py", "X = 1\n")
        draft.writestr("chalicelib/__pycache__/x.cpython-313.pyc", b"stale")
    to_bytecode(archive, stages.lambda_runtime())
    with zipfile.ZipFile(archive) as shipped:
        assert shipped.namelist() == ["chalicelib/x.pyc"]


# What each runtime's Python accepts as a .pyc (importlib's MAGIC_NUMBER, from CPython's
# Lib/importlib/_bootstrap_external.py): a .pyc with another is refused, and a
# sourceless zip would then not import at all.
PYC_MAGIC = {"python3.11": 3495, "python3.12": 3531, "python3.13": 3571}


def test_both_deploy_routes_build_for_the_configured_runtime_and_arm64(built: Path) -> None:
    runtime = stages.lambda_runtime()
    assert runtime == "python3.13"  # the default (docs/architecture.md): python3.11 is deprecated 2027-06-30
    # The tests run on it: .venv is built on the runtime's Python (Makefile, tools/find-python).
    assert f"python{sys.version_info[0]}.{sys.version_info[1]}" == runtime
    resources = json.loads((built / "sam.json").read_text())["Resources"]
    packaged = {
        (r["Properties"]["Runtime"], tuple(r["Properties"]["Architectures"]))
        for r in resources.values()
        if r["Type"] == "AWS::Serverless::Function"
    }
    assert packaged == {(runtime, ("arm64",))}
    config = CLIFactory(project_dir=str(ROOT)).create_config_obj(chalice_stage_name="prod")
    application = ApplicationGraphBuilder().build(config, "prod")  # what `chalice deploy` plans
    planned = [
        candidate
        for resource in application.resources
        for candidate in (resource, getattr(resource, "lambda_function", None))
        if isinstance(candidate, models.LambdaFunction)
    ]
    assert planned
    assert {(f.runtime, f.architecture) for f in planned} == {(runtime, "arm64")}


def test_the_zips_bytecode_is_the_runtimes_own(built: Path) -> None:
    magic = PYC_MAGIC[stages.lambda_runtime()].to_bytes(2, "little") + b"\r\n"
    with zipfile.ZipFile(built / "deployment.zip") as archive:
        headers = {name: archive.read(name)[:4] for name in archive.namelist() if name.endswith(".pyc")}
    assert headers
    assert {name for name, header in headers.items() if header != magic} == set()


@pytest.mark.server
def test_the_unpacked_zip_serves_a_request(
    built: Path, tmp_path: Path, lambda_backend: tuple[str, Any]
) -> None:
    task = unpack(built / "deployment.zip", tmp_path / "task")
    backend, client = lambda_backend
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
    env = lambda_env(backend)
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
    [item] = [i for i in client.scan(TableName="todo-api-dev")["Items"] if "#" not in i["owner"]["S"]]
    assert item["owner"] == {"S": "user-1"}

"""`make contract`: openapi.yaml against its last release (releases/openapi.yaml). Each kind of
breaking change is made to a copy of the contract and caught; a new major version lets it
through; what cannot break a client (an added path, field or optional parameter, a looser
bound) passes; bad arguments are a message."""

from __future__ import annotations

import copy
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from infrastructure import contract
from tests.support import ROOT, SPEC
from tools import contract_gate as gate

pytestmark = pytest.mark.no_moto

Edit = Callable[[dict[str, Any]], None]


def schema(document: dict[str, Any], name: str) -> dict[str, Any]:
    found: dict[str, Any] = document["components"]["schemas"][name]
    return found


BREAKS: dict[str, tuple[Edit, str]] = {
    "a removed path": (lambda d: d["paths"].pop("/jobs/{job_id}"), "removed path /jobs/{job_id}"),
    "a removed method": (lambda d: d["paths"]["/todos"].pop("delete"), "removed operation DELETE /todos"),
    "a removed status": (
        lambda d: d["paths"]["/todos"]["post"]["responses"].pop("201"),
        "POST /todos: removed status 201",
    ),
    "a removed response field": (
        lambda d: schema(d, "Todo")["properties"].pop("url"),
        "POST /todos 201: removed field 'url'",
    ),
    "a response field no longer always there": (
        lambda d: schema(d, "Todo")["required"].remove("url"),
        "field 'url' no longer always there",
    ),
    "a removed request field": (
        lambda d: schema(d, "NewTodo")["properties"].pop("order"),
        "POST /todos body: removed field 'order'",
    ),
    "a narrowed request type": (
        lambda d: schema(d, "NewTodo")["properties"]["order"].pop("nullable"),
        "POST /todos body.order: type narrowed",
    ),
    "a narrowed enum": (
        lambda d: d["paths"]["/todos"]["get"]["parameters"][1]["schema"]["enum"].remove("false"),
        "GET /todos completed: enum narrowed",
    ),
    "a lowered bound": (
        lambda d: d["paths"]["/todos"]["get"]["parameters"][0]["schema"].update(maximum=50),
        "GET /todos limit: maximum lowered to 50",
    ),
    "a changed pattern": (
        lambda d: schema(d, "Title").update(pattern="^[a-z]+$"),
        "POST /todos body.title: pattern added or changed",
    ),
    "a changed response type": (
        lambda d: schema(d, "Todo")["properties"]["completed"].update(type="string"),
        "GET /todos/{todo_id} 200.completed: type changed",
    ),
    "a new required field": (
        lambda d: schema(d, "TodoPatch").update(required=["completed"]),
        "PATCH /todos/{todo_id} body: new required field 'completed'",
    ),
    "a new required parameter": (
        lambda d: d["paths"]["/todos"]["get"]["parameters"].append(
            {"name": "owner", "in": "query", "required": True, "schema": {"type": "string"}}
        ),
        "GET /todos: query parameter 'owner' now required",
    ),
    "a removed parameter": (
        lambda d: d["paths"]["/todos"]["get"]["parameters"].pop(0),
        "GET /todos: removed query parameter 'limit'",
    ),
    "a body made required": (
        lambda d: d["paths"]["/todos/{todo_id}"]["delete"].update(
            requestBody={"required": True, "content": {"application/json": {"schema": {"type": "object"}}}}
        ),
        "DELETE /todos/{todo_id}: a request body now required",
    ),
}


@pytest.mark.parametrize("kind", sorted(BREAKS))
def test_each_kind_of_break_is_caught(kind: str) -> None:
    edit, expected = BREAKS[kind]
    changed = copy.deepcopy(SPEC)
    edit(changed)
    found = gate.breaks(SPEC, changed)
    assert any(expected in line for line in found), found


def test_what_cannot_break_a_client_passes() -> None:
    changed = copy.deepcopy(SPEC)
    changed["paths"]["/todos/{todo_id}/notes"] = {"get": {"responses": {"200": {"description": "new"}}}}
    schema(changed, "Todo")["properties"]["tags"] = {"type": "array", "items": {"type": "string"}}
    changed["paths"]["/todos"]["get"]["parameters"].append(
        {"name": "q", "in": "query", "schema": {"type": "string"}}
    )
    changed["paths"]["/todos"]["get"]["parameters"][0]["schema"]["maximum"] = 200  # a looser bound
    assert gate.breaks(SPEC, changed) == []


def write(path: Path, document: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def run(*arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(ROOT / ".venv/bin/python"), "-m", "tools.contract_gate", *arguments],
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def test_the_repositorys_contract_keeps_its_release() -> None:
    found, _ = gate.check()
    assert found == [], found

    def version(document: dict[str, Any]) -> tuple[int, ...]:
        return tuple(int(part) for part in str(document["info"]["version"]).split("."))

    assert version(contract.load(gate.RELEASED)) <= version(SPEC)


def test_a_break_fails_unless_a_new_major_version_intends_it(tmp_path: Path) -> None:
    released = write(tmp_path / "released.yaml", SPEC)
    broken = copy.deepcopy(SPEC)
    broken["paths"].pop("/jobs/{job_id}")
    refused = run(f"--contract={write(tmp_path / 'broken.yaml', broken)}", f"--released={released}")
    assert refused.returncode == 1
    assert "BREAKING: removed path /jobs/{job_id}" in refused.stdout
    assert "undo them, or make them a new major version" in refused.stderr
    broken["info"]["version"] = f"{gate.major(SPEC) + 1}.0.0"
    intended = run(
        f"--contract={write(tmp_path / 'major.yaml', broken)}", f"--released={released}", "--release"
    )
    assert intended.returncode == 0, intended.stderr
    assert "intended: removed path /jobs/{job_id}" in intended.stdout
    assert contract.load(released) == broken  # recorded as the release


def test_bad_arguments_are_a_message_not_a_traceback(tmp_path: Path) -> None:
    missing = run(f"--released={tmp_path / 'none.yaml'}")
    assert missing.returncode != 0
    assert "is missing" in missing.stderr
    (tmp_path / "broken.yaml").write_text("paths: [\n")
    broken = run(f"--contract={tmp_path / 'broken.yaml'}")
    assert broken.returncode != 0
    assert "is not YAML" in broken.stderr
    garbled = run(f"--contract={write(tmp_path / 'garbled.yaml', {'paths': 3})}")
    assert garbled.returncode != 0
    assert "not an OpenAPI document" in garbled.stderr
    made = subprocess.run(
        ["make", "-s", "contract", "RELEASE=maybe"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert made.returncode != 0
    assert "RELEASE must be 1" in made.stderr
    for result in (missing, broken, garbled, made):
        assert "Traceback" not in result.stderr

"""What a SnapStart snapshot would hold: whatever importing app.py leaves in memory is
restored into every execution environment alike, so it must hold nothing unique (AWS:
"Handling uniqueness with Lambda SnapStart")."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import app as todo_app
from tests.support import ROOT

Auth = Callable[..., dict[str, str]]


def test_importing_the_app_builds_nothing() -> None:
    # A fresh interpreter, as Lambda's init: after the import no client, session, verifier
    # or runtime settings exist yet (each is made on first use, after a restore: a restored
    # environment never serves a read of Parameter Store made before the snapshot).
    script = (
        "import json, app; print(json.dumps({name: value.cache_info().currsize"
        " for name, value in vars(app).items() if hasattr(value, 'cache_info')}))"
    )
    env = {"AWS_DEFAULT_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true", "PATH": "/usr/bin:/bin"}
    result = subprocess.run(
        [sys.executable, "-B", "-c", script],  # -B: no __pycache__ in the project
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    built = json.loads(result.stdout)
    assert {"aws_session", "dynamodb_client", "ssm_client", "runtime_settings", "environment_started"} <= set(
        built
    )
    assert set(built.values()) == {0}


def test_two_environments_restored_from_one_snapshot_draw_different_jitter(
    api: Any, auth: Auth, dynamodb: Any
) -> None:
    # botocore's retry jitter comes from the `random` module. Restore the state import left
    # into two environments, serve each one's first request, then draw as botocore would.
    snapshot = random.getstate()
    draws = []
    for _ in range(2):
        random.setstate(snapshot)
        todo_app.environment_started.cache_clear()  # a restored environment has not started
        assert api.get("/todos", headers=auth()).status_code == 200
        draws.append([random.random() for _ in range(3)])  # noqa: S311 - as botocore draws it
    assert draws[0] != draws[1]

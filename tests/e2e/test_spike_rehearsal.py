"""`make spike LOCAL=1`, shrunk: a crowd played for real against `make run` at a tenth of
every quota meets the walls the capacity model predicts, in the same order."""

from __future__ import annotations

import json
from typing import Any

import pytest

pytestmark = [pytest.mark.server, pytest.mark.no_moto]


def test_the_local_spike_meets_the_walls_the_model_predicts(packaged: Any, tmp_path: Any) -> None:
    """`make spike LOCAL=1` on dev, shrunk: 20 people in 10 s at a tenth of every quota.
    Dev keeps Cognito's own sender: 5 e-mails a day at this scale, so the sixth sign-up is
    refused for the day, in the model and on make run alike."""
    import subprocess

    from benchmark import tune
    from tests.servers import ROOT, make_env

    tune_json = tmp_path / "tune.json"
    tune_json.write_text(json.dumps({
        "measured": {"warm_ms": dict.fromkeys(tune.MIX, 2.0), "cold_ms": 300.0, "log_bytes": {}},
        "dynamodb_ms": 5.0,
    }))  # fmt: skip
    result = subprocess.run(
        [str(ROOT / ".venv/bin/python"), "-m", "benchmark.spike_local", "--stage=dev", "--users=200",
         "--over=10", "--scale=10", f"--package-dir={packaged('dev')}", f"--tune={tune_json}"],
        cwd=ROOT, env=make_env(), capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "the same walls in the same order: yes" in result.stdout
    rows = [line for line in result.stdout.splitlines() if line.startswith("Cognito's e-mail sender")]
    assert len(rows) == 1, result.stdout
    assert "not hit" not in rows[0]
    assert "not met" not in rows[0]

"""Contract fuzzing: schemathesis drives `make run` from openapi.yaml with a valid token.

Bounded by examples per operation, with a fixed seed: every run checks the same inputs,
however fast the machine (`make fuzz` is the long run on demand: FUZZ_EXAMPLES, FUZZ_SEED).
Loopback only. Every check runs but
two whose premise this API rejects on purpose, both documented in openapi.yaml:
- positive_data_acceptance: some schema-valid inputs are refused by rules JSON Schema
  cannot say (an opaque cursor bound to its user, a title of spaces, `title` and `task`
  that disagree), with the documented 400;
- ensure_resource_availability: an Idempotency-Key replay answers with the todo it
  created, even after that todo was deleted, as idempotent replays do.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.servers import start_server, stop_server
from tests.support import ROOT

pytestmark = [pytest.mark.server, pytest.mark.fuzz, pytest.mark.no_moto]


EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "15"))
SEED = os.environ.get("FUZZ_SEED", "20261127")


def test_the_running_api_keeps_its_contract(tmp_path: Path) -> None:
    server = start_server()
    try:
        token = server.token("fuzzer")
        result = subprocess.run(
            [
                str(Path(sys.executable).parent / "schemathesis"),
                "run",
                str(ROOT / "openapi.yaml"),
                "--url",
                f"http://127.0.0.1:{server.port}",
                "--header",
                f"Authorization: {token}",
                "--checks",
                "all",
                "--exclude-checks",
                "positive_data_acceptance,ensure_resource_availability",
                "--max-examples",
                str(EXAMPLES),
                "--seed",
                SEED,
                "--request-timeout",
                "10",
                "--report",
                "junit",
                "--report-dir",
                str(tmp_path),
            ],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60 + 10 * EXAMPLES,  # a hang, not a slow machine: 15 examples take ~30 s here
            check=False,
        )
    finally:
        stop_server(server)
    assert result.returncode == 0, result.stdout[-6000:]

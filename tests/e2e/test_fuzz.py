"""Contract fuzzing: schemathesis drives `make run` from the contract it serves
(`GET /openapi.json`, openapi.yaml with the server's URL), with a valid token.

Bounded by examples per operation, with a fixed seed: every run checks the same inputs,
however fast the machine (`make fuzz` is the long run on demand: FUZZ_EXAMPLES, FUZZ_SEED).
Loopback only. Every check runs, positive_data_acceptance included: no schema-valid input may
be refused as invalid (400, 413, 415). Its accepted statuses add the answers that depend on
what is stored or when, not on the input, all documented: 410 (a sync token older than the
window: a token's form cannot say when it was given), 412 (an If-Match naming another version)
and 422 (an Idempotency-Key used before with another body). One check is left out, on purpose:
- ensure_resource_availability: an Idempotency-Key replay answers with the todo it
  created, even after that todo was deleted, as idempotent replays do.
The stage's clear-budget is set to 1 (`make settings`), so that a clear of two todos is a job:
the fuzzer follows the 202's link to `GET /jobs/{job_id}` with a real job, and its 200 is held
to the contract too.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.servers import start_server, stop_server
from tests.support import ROOT

pytestmark = [pytest.mark.server, pytest.mark.fuzz, pytest.mark.no_moto]


EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "15"))
SEED = os.environ.get("FUZZ_SEED", "20261127")
# schemathesis' own list, and the state-dependent answers above.
ACCEPTED = ["2xx", "3xx", "401", "403", "404", "409", "410", "412", "422", "429", "5xx"]
REAL_JOB = '"Route":"GET /jobs/{job_id}","Status":"200"'


def test_the_running_api_keeps_its_contract(tmp_path: Path) -> None:
    (tmp_path / "schemathesis.toml").write_text(
        f"[checks.positive_data_acceptance]\nexpected-statuses = {ACCEPTED!r}\n".replace("'", '"')
    )
    server = start_server()
    try:
        backend = f"BACKEND_PORT={server.backend_port}"
        subprocess.run(
            ["make", "-s", "settings", "STAGE=local", backend, "SET=clear-budget=1"],
            cwd=ROOT, env=server.env, capture_output=True, text=True, timeout=120, check=True,
        )  # fmt: skip
        probe = server.token("fuzz-probe")
        for _ in range(60):  # the local stage reads its settings every 5 s
            for title in ("a", "b"):
                server.request("POST", "/todos", probe, {"title": title})
            if server.request("DELETE", "/todos", probe)[0] == 202:
                break
            time.sleep(0.25)
        else:
            raise AssertionError("clear-budget=1 never reached the server")
        token = server.token("fuzzer")
        result = subprocess.run(
            [
                str(Path(sys.executable).parent / "schemathesis"),
                "run",
                f"http://127.0.0.1:{server.port}/openapi.json",
                "--header",
                f"Authorization: {token}",
                "--checks",
                "all",
                "--exclude-checks",
                "ensure_resource_availability",
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
        output = stop_server(server)
    assert result.returncode == 0, result.stdout[-6000:]
    assert REAL_JOB in output, "the fuzzer never read a real job"

"""Real processes over loopback: `make run`, `make backend` with `chalice local`, a browser,
schemathesis. Every test here starts a server (or `make`) in a subprocess, so each is marked
`server` (left out of `make test-fast`); the servers are started and stopped by the tests
and fixtures that need them (tests/servers.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

HERE = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in Path(item.path).parents:
            item.add_marker(pytest.mark.server)

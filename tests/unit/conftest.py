"""The pure core and the HTTP edge's parsing: no AWS (moto stays off), no clock, no
servers; what a test needs it passes in."""

from __future__ import annotations

from pathlib import Path

import pytest

HERE = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in Path(item.path).parents:
            item.add_marker(pytest.mark.no_moto)

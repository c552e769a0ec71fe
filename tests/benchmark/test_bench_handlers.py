"""The baselines `make bench` times against the API answer as the API does, on moto: the
same route, the same item (the peers need .venv-bench's frameworks: `make bench` runs them)."""

from __future__ import annotations

import importlib
import json
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from benchmark.bench import BASELINES, HANDLERS, PEERS
from benchmark.harness import EVENT, ITEM, SCHEDULED, TABLE


@pytest.fixture
def baselines(dynamodb: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """The handler modules imported as the task directory has them (top-level names)."""
    monkeypatch.syspath_prepend(str(HANDLERS))
    monkeypatch.setenv("TODO_TABLE", TABLE)  # the dynamodb fixture's table: the stage's
    yield {name: importlib.import_module(name) for name in BASELINES}
    for name in BASELINES:
        sys.modules.pop(name, None)


def test_the_bare_handlers_serve_the_benchmarked_route_and_job(
    baselines: dict[str, Any], dynamodb: Any
) -> None:
    dynamodb.put_item(TableName=TABLE, Item=ITEM)
    response = baselines["bare_api"].handler(EVENT, None)
    assert response["statusCode"] == 200
    assert json.loads(response["body"]) == {"id": ITEM["id"]["S"], "title": ITEM["title"]["S"]}
    assert baselines["bare_job"].handler(SCHEDULED, None) == {"purged": 0}


def test_every_peer_has_its_handler_file() -> None:
    for module in PEERS.values():
        assert (HANDLERS / f"{module}.py").exists(), module

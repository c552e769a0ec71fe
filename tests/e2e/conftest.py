"""Real processes over loopback: `make run`, `make backend` with `chalice local`, a browser,
schemathesis. Every test here starts a server (or `make`) in a subprocess, so each is marked
`server` (left out of `make test-fast`); the servers are started and stopped by the tests
and fixtures that need them (tests/servers.py). The browser tests share one Chromium per
module and a person per context (tests/browsers.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browsers import CHROMIUM_ARGS, Person, chromium
from tests.servers import Server

HERE = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in Path(item.path).parents:
            item.add_marker(pytest.mark.server)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium(), args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def person(browser: Any, server: Server) -> Iterator[Callable[[], Person]]:
    """Makes people, each in a browser context of their own; closes them after the test."""
    people: list[Person] = []

    def make() -> Person:
        people.append(Person(browser, server))
        return people[-1]

    yield make
    for someone in people:
        someone.close()

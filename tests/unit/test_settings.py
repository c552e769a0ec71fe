"""The runtime settings' rules (chalicelib/settings.py): what a read keeps, when it reads."""

from __future__ import annotations

import os
import random
from collections import Counter
from collections.abc import Mapping

import pytest

from chalicelib import settings
from chalicelib.settings import DEFAULTS, ENVIRONMENT, SETTINGS, RuntimeSettings, Values, choose


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Store:
    """What Parameter Store holds under the path, and the reads it was sent."""

    def __init__(self, **stored: str) -> None:
        self.stored = dict(stored)
        self.reads = 0
        self.failing: Exception | None = None

    def __call__(self) -> Mapping[str, str]:
        self.reads += 1
        if self.failing is not None:
            raise self.failing
        return dict(self.stored)


def reader(store: Store, clock: Clock, *, seconds: float = 60, first_in: float = 0) -> RuntimeSettings:
    return RuntimeSettings(
        store, seconds=seconds, log=logged.append, clock=clock, spread=lambda a, b: first_in
    )


logged: list[str] = []


def test_every_setting_has_its_default_in_the_defaults_and_parses_its_own_text() -> None:
    for setting in SETTINGS:
        assert setting.parse(setting.text) == setting.default
        assert getattr(DEFAULTS, setting.name.replace("-", "_")) == setting.default


def test_stored_values_are_read_and_the_rest_are_defaults() -> None:
    reading = choose({"max-todos": "3", "read-only": "TRUE"}, DEFAULTS)
    assert reading.values == Values(
        3, DEFAULTS.max_idempotency_keys, DEFAULTS.clear_budget, "INFO", True, False
    )
    assert reading.refused == {}


@pytest.mark.parametrize(
    ("name", "text"),
    [("max-todos", "0"), ("max-todos", "-1"), ("max-todos", "1e3"), ("max-todos", "100001"),
     ("clear-budget", "ten"), ("log-level", "LOUD"), ("read-only", "yes"), ("sign-ups-paused", "")],
)  # fmt: skip
def test_a_bad_value_keeps_the_last_good_one_and_says_why(name: str, text: str) -> None:
    last = choose({"max-todos": "7", "clear-budget": "30", "log-level": "ERROR", "read-only": "true",
                   "sign-ups-paused": "true"}, DEFAULTS).values  # fmt: skip
    reading = choose({name: text}, last)
    field = name.replace("-", "_")
    assert getattr(reading.values, field) == getattr(last, field)
    assert repr(text) in reading.refused[name]


def test_a_name_that_is_no_setting_is_ignored_and_reported() -> None:
    reading = choose({"max-todo": "3"}, DEFAULTS)
    assert reading.values == DEFAULTS
    assert reading.refused == {"max-todo": "not a setting; ignored"}


def test_parse_names_the_settings_for_an_unknown_name() -> None:
    with pytest.raises(ValueError, match="the settings are max-todos, "):
        settings.parse("max-todo", "3")
    assert settings.parse("read-only", "false") is False


def test_the_first_read_waits_for_its_moment_then_one_read_per_period() -> None:
    store, clock = Store(**{"max-todos": "5"}), Clock()
    read = reader(store, clock, seconds=60, first_in=20)
    assert read.current() == DEFAULTS  # the deployed defaults, until the first read
    clock.now += 19.9
    assert (read.current(), store.reads) == (DEFAULTS, 0)
    clock.now += 0.1
    assert read.current().max_todos == 5
    store.stored["max-todos"] = "6"
    for _ in range(100):
        clock.now += 0.5
        read.current()
    assert (store.reads, read.current().max_todos) == (1, 5)  # 50 s later: still the one read
    clock.now += 10
    assert (read.current().max_todos, store.reads) == (6, 2)  # within 60 s of the change


def test_a_failed_read_keeps_the_last_values_and_is_not_retried_before_the_period() -> None:
    store, clock = Store(**{"read-only": "true"}), Clock()
    read = reader(store, clock, seconds=60)
    assert read.current().read_only is True
    store.failing = RuntimeError("ThrottlingException")
    clock.now += 60
    assert read.current().read_only is True
    for _ in range(59):
        clock.now += 1
        assert read.current().read_only is True
    assert store.reads == 2  # one failed read, then nothing until its period is over
    store.failing = None
    store.stored = {}
    clock.now += 1
    assert read.current() == DEFAULTS  # a parameter deleted: its default again


def test_with_no_seconds_every_call_reads() -> None:
    store, clock = Store(), Clock()
    read = RuntimeSettings(store, seconds=0, log=logged.append, clock=clock)
    for _ in range(3):
        read.current()
    assert store.reads == 3


def test_a_thousand_environments_started_in_ten_seconds_stay_under_parameter_stores_rate() -> None:
    # Lambda scales a function by up to 1,000 environments every 10 s; Parameter Store's
    # default throughput is 40 reads a second for the account and Region (quotas.json).
    # Each environment reads first at a random moment of its first 60 s, then every 60 s.
    from infrastructure.capacity import quota

    chance = random.Random(7)  # noqa: S311 - a model's draws
    reads: Counter[int] = Counter()
    for n in range(1000):
        clock, store = Clock(), Store()
        clock.now = n / 100  # 100 environments a second for 10 s
        read = RuntimeSettings(store, seconds=60, log=logged.append, clock=clock, spread=chance.uniform)
        while clock.now < 300:
            before = store.reads
            read.current()
            if store.reads > before:
                reads[int(clock.now)] += 1
            clock.now += 1  # a request a second in every environment (reads fall on whole seconds)
    assert max(reads.values()) < quota("ssm_default_throughput")


def test_every_variable_the_code_reads_is_listed_and_a_required_one_must_be_set(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    names = {v.name for v in ENVIRONMENT}
    root = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))
    import re

    used = set()
    for path in ["app.py", *(f"chalicelib/{n}" for n in os.listdir(os.path.join(root, "chalicelib")))]:
        if path.endswith(".py") and path != "chalicelib/settings.py":
            with open(os.path.join(root, path)) as source:
                used |= set(re.findall(r'"(TODO_[A-Z_]+)"', source.read()))
    assert used == names
    monkeypatch.delenv("TODO_TABLE", raising=False)
    with pytest.raises(RuntimeError, match="TODO_TABLE is not set"):
        settings.variable("TODO_TABLE")
    with pytest.raises(KeyError):
        settings.variable("TODO_TABEL")

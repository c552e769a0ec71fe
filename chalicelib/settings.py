"""Everything a deployment is told, in one place: its environment and its runtime settings.

- **The environment** (`ENVIRONMENT`): the `TODO_*` variables a stage sets in
  `.chalice/config.json`, fixed at deploy. Each is listed here with its default and meaning;
  `variable(name)` reads one, and refuses a name not listed.
- **Runtime settings** (`SETTINGS`): the levers an operator changes without a deploy, kept
  in SSM Parameter Store under the stage's path (`/todo-api/STAGE/NAME`, String parameters:
  none is a secret, so no SecureString and no KMS key). `RuntimeSettings` reads them with a
  cache: at most one `GetParametersByPath` per execution environment every `seconds`
  (TODO_SETTINGS_SECONDS, 60 by default), lazily, never at import. A new environment serves
  the deployed defaults until its first read, which it makes at a random moment within its
  first `seconds`: Lambda starts up to 1,000 environments a function every 10 s, and
  Parameter Store serves 40 reads a second by default, for the account and Region
  (infrastructure/quotas.json). Spread so, 1,000 environments read 1,000 / 60 = 17 times a
  second. Every value is validated when read: a bad one keeps the last good value (or the
  default) and is logged; a failed read (throttled, timed out, refused) keeps them all.

The pure parts (parsing, choosing) live here; app.py builds the SSM client once per
container and passes `fetch` to `RuntimeSettings`.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

from chalicelib.store import MAX_IDEMPOTENCY_KEYS_PER_DAY, MAX_TODOS, SYNC_DAYS

# --- the environment -------------------------------------------------------------------


class Variable(NamedTuple):
    name: str
    default: str | None  # None: the stage must set it
    meaning: str


ENVIRONMENT: tuple[Variable, ...] = (
    Variable("TODO_TABLE", None, "the DynamoDB table of todos, counts, keys and jobs"),
    Variable("TODO_USER_POOL_ARN", None, "the Cognito user pool whose tokens the API accepts"),
    Variable("TODO_COGNITO_CLIENT_ID", "", "the pool's app client the web app signs in with"),
    Variable("TODO_KEEP_COMPLETED_DAYS", "30", "days a completed todo is kept before the hourly purge"),
    Variable(
        "TODO_SYNC_DAYS",
        str(SYNC_DAYS),
        "days changes and deleted todos are kept: sync tokens and undo last that long",
    ),
    Variable("TODO_SETTINGS_PATH", "", "the Parameter Store path of the runtime settings (/todo-api/STAGE)"),
    Variable("TODO_SETTINGS_SECONDS", "60", "the most seconds a runtime setting's change takes to apply"),
    Variable("TODO_LOCAL_BACKEND", "", "local stage only: the embedded AWS on loopback that serves it"),
    Variable("TODO_JWKS_URL", "", "off Lambda only: where the pool's signing keys are (default: its issuer)"),
)
_VARIABLES = {v.name: v for v in ENVIRONMENT}


def variable(name: str) -> str:
    """A listed variable's value, or its default; a required one that is unset is an error."""
    declared = _VARIABLES[name]  # a KeyError: a variable nobody listed
    value = os.environ.get(name) or declared.default
    if value is None:
        raise RuntimeError(f"{name} is not set ({declared.meaning})")
    return value


# --- runtime settings ------------------------------------------------------------------

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def _whole(low: int, high: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        if not text.strip().isdigit() or not low <= int(text) <= high:
            raise ValueError(f"must be a whole number from {low:,} to {high:,}")
        return int(text)

    return parse


def _switch(text: str) -> bool:
    if text.strip().lower() not in ("true", "false"):
        raise ValueError("must be true or false")
    return text.strip().lower() == "true"


def _level(text: str) -> str:
    if text.strip().upper() not in LOG_LEVELS:
        raise ValueError(f"must be one of {', '.join(LOG_LEVELS)}")
    return text.strip().upper()


class Setting(NamedTuple):
    name: str  # the parameter's name under the stage's path
    default: Any
    parse: Callable[[str], Any]  # raises ValueError, saying what is allowed
    meaning: str

    @property
    def text(self) -> str:
        """The default as Parameter Store holds it."""
        return str(self.default).lower() if isinstance(self.default, bool) else str(self.default)


SETTINGS: tuple[Setting, ...] = (
    Setting("max-todos", MAX_TODOS, _whole(1, 100_000), "the most todos one user may hold"),
    Setting(
        "max-idempotency-keys",
        MAX_IDEMPOTENCY_KEYS_PER_DAY,
        _whole(1, 100_000),
        "Idempotency-Keys one user may use a day",
    ),
    # A DELETE /todos deletes this many todos itself (about 80 DynamoDB requests, a second
    # or two) and leaves the rest to the finish_clears job: no bulk delete ends in a 504.
    Setting(
        "clear-budget", 1000, _whole(1, 5_000), "todos one DELETE /todos deletes before a job finishes it"
    ),
    Setting(
        "log-level", "INFO", _level, "the level of diagnostics (request and job lines are always written)"
    ),
    Setting("read-only", False, _switch, "true: writes answer 503 with Retry-After; reads keep working"),
    Setting(
        "sign-ups-paused", False, _switch, "true: the web app offers sign-in only; sign-in keeps working"
    ),
)
_SETTINGS = {s.name: s for s in SETTINGS}


class Values(NamedTuple):
    """One reading of every runtime setting (the field of each is its name in snake case)."""

    max_todos: int
    max_idempotency_keys: int
    clear_budget: int
    log_level: str
    read_only: bool
    sign_ups_paused: bool


DEFAULTS = Values(**{s.name.replace("-", "_"): s.default for s in SETTINGS})
assert set(Values._fields) == {s.name.replace("-", "_") for s in SETTINGS}


def parse(name: str, text: str) -> Any:
    """`text` as setting `name`'s value; ValueError saying why not (an unknown name too)."""
    if name not in _SETTINGS:
        raise ValueError(f"no setting {name!r}: the settings are {', '.join(_SETTINGS)}")
    return _SETTINGS[name].parse(text)


class Reading(NamedTuple):
    """What one read decided: the values, and a line for each stored value refused."""

    values: Values
    refused: dict[str, str]


def choose(stored: Mapping[str, str], last: Values) -> Reading:
    """The values from what the path holds (name -> text): a valid stored value; else, for
    a stored but invalid one, the last good value; for none stored, the default. Names
    under the path that are not settings are ignored (and reported)."""
    chosen: dict[str, Any] = {}
    refused: dict[str, str] = {}
    for setting in SETTINGS:
        field = setting.name.replace("-", "_")
        if setting.name not in stored:
            chosen[field] = setting.default
            continue
        try:
            chosen[field] = setting.parse(stored[setting.name])
        except ValueError as error:
            chosen[field] = getattr(last, field)
            refused[setting.name] = f"{stored[setting.name]!r} {error}; kept {getattr(last, field)!r}"
    for name in stored.keys() - _SETTINGS.keys():
        refused[name] = "not a setting; ignored"
    return Reading(Values(**chosen), refused)


class RuntimeSettings:
    """The runtime settings as this execution environment last read them (see the module)."""

    def __init__(
        self,
        fetch: Callable[[], Mapping[str, str]],
        *,
        seconds: float,
        log: Callable[[str], None],
        clock: Callable[[], float] = time.monotonic,
        spread: Callable[[float, float], float] | None = None,
    ) -> None:
        self._fetch = fetch
        self._seconds = seconds
        self._log = log
        self._clock = clock
        self._values = DEFAULTS
        # The first read, at a random moment of the environment's first `seconds` (the OS's
        # randomness: environments restored from one snapshot must not draw alike).
        uniform = spread or random.SystemRandom().uniform
        self._next_read = clock() + uniform(0, seconds)

    def current(self) -> Values:
        now = self._clock()
        if now >= self._next_read:
            self._next_read = now + self._seconds  # whatever happens: no retry storm
            self._read()
        return self._values

    def _read(self) -> None:
        try:
            stored = self._fetch()
        except Exception as error:
            self._log(f"runtime settings not read ({type(error).__name__}): keeping the last values")
            return
        reading = choose(stored, self._values)
        for name, why in reading.refused.items():
            self._log(f"runtime setting {name}: {why}")
        self._values = reading.values


def fetch(client: Any, path: str) -> dict[str, str]:
    """Every parameter directly under `path` (name -> value), with Parameter Store's paging."""
    prefix = path.rstrip("/") + "/"
    found: dict[str, str] = {}
    token: str | None = None
    while True:
        more = {"NextToken": token} if token else {}
        page = client.get_parameters_by_path(Path=path.rstrip("/"), Recursive=False, **more)
        for parameter in page["Parameters"]:
            found[parameter["Name"].removeprefix(prefix)] = parameter["Value"]
        token = page.get("NextToken")
        if not token:
            return found

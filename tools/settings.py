"""`make settings STAGE=... [SET=name=value]`: a stage's runtime settings, and the lever to
change one without a deploy (chalicelib/settings.py).

Without SET it shows each setting's value in force and where it comes from: Parameter
Store, the default (none stored), or the default or last good value (a stored value the
runtime refuses). With SET it validates the value by the runtime's own rules, then writes
it; every environment applies it within the stage's TODO_SETTINGS_SECONDS.

The local stage talks to `make run`'s embedded backend (its TODO_LOCAL_BACKEND, or the
environment's); any other stage uses your AWS configuration, like `make deploy`.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from chalicelib import settings
from infrastructure import stages
from tools import clients


def client(stage: str) -> Any:
    """Parameter Store, with short timeouts: a lever pulled at 3 AM says so fast if it cannot."""
    from botocore.config import Config

    config = Config(connect_timeout=2, read_timeout=5, retries={"mode": "standard", "total_max_attempts": 3})
    return clients.client(stage, "ssm", config)


def path(stage: str) -> str:
    """The stage's runtime settings' path in Parameter Store (its TODO_SETTINGS_PATH)."""
    return stages.environment(stage)["TODO_SETTINGS_PATH"]


def show(stage: str, stored: dict[str, str]) -> str:
    reading = settings.choose(stored, settings.DEFAULTS)
    seconds = stages.variable(stages.environment(stage), "TODO_SETTINGS_SECONDS")
    lines = [f"{stage}: {path(stage)} (changes apply within {seconds} s)"]
    for setting in settings.SETTINGS:
        value = getattr(reading.values, setting.name.replace("-", "_"))
        if setting.name in reading.refused:
            source = f"default; stored {reading.refused[setting.name]}"
        elif setting.name in stored:
            source = "Parameter Store"
        else:
            source = "default (not stored)"
        shown = str(value).lower() if isinstance(value, bool) else str(value)
        lines.append(f"  {setting.name:<22} {shown:<8} {source:<22} {setting.meaning}")
    for name in sorted(set(reading.refused) - {s.name for s in settings.SETTINGS}):
        lines.append(f"  {name:<22} (ignored: not a setting)")
    return "\n".join(lines)


def parse_assignment(text: str) -> tuple[str, str]:
    name, equals, value = text.partition("=")
    if not equals or not name.strip():
        raise SystemExit(f"SET={text!r}: write SET=name=value, e.g. SET=read-only=true")
    name, value = name.strip(), value.strip()
    try:
        settings.parse(name, value)
    except ValueError as error:
        raise SystemExit(
            f"SET={text}: {name} {error}" if name in _names() else f"SET={text}: {error}"
        ) from None
    return name, value


def _names() -> set[str]:
    return {s.name for s in settings.SETTINGS}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make settings", description=__doc__.split("\n\n")[0])
    parser.add_argument("--stage", required=True)
    parser.add_argument("--set", dest="assignment", help="name=value")
    args = parser.parse_args(argv)
    stages.declared(args.stage)  # an unknown stage: a message naming the known ones
    assignment = parse_assignment(args.assignment) if args.assignment else None
    from botocore.exceptions import BotoCoreError, ClientError

    ssm = client(args.stage)
    try:
        if assignment is not None:
            name, value = assignment
            ssm.put_parameter(
                Name=f"{path(args.stage)}/{name}", Value=value, Type="String", Tier="Standard", Overwrite=True
            )
            print(f"set {name}={value} in {path(args.stage)}")
        stored = settings.fetch(ssm, path(args.stage))
    except (BotoCoreError, ClientError) as error:
        where = (
            "make run's backend (is make run running?)" if args.stage == clients.LOCAL else "Parameter Store"
        )
        raise SystemExit(f"{args.stage}: could not reach {where}: {error}") from None
    print(show(args.stage, stored))
    return 0


if __name__ == "__main__":
    sys.exit(main())

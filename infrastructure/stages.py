"""The stages of .chalice/config.json, read (and, by `make deploy`, written) in one place
for every tool: a stage's settings, its environment variables, and a function's settings
as Chalice itself resolves them (function, then stage, then top level).

`load` makes the one value a build hands down: the stage's own keys, checked, with its
environment, the API handler's settings as Chalice resolves them, the Lambda runtime and the
app's inventory, read once. Every template builder takes it (`resources(stage)`) and reads
neither this file's config nor the app again."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import fields
from pathlib import Path
from typing import Any

from chalice.config import Config

from infrastructure.stage import Stage

ROOT = Path(__file__).resolve().parent.parent


def config_path(root: Path = ROOT) -> Path:
    return root / ".chalice" / "config.json"


def document(root: Path = ROOT) -> dict[str, Any]:
    """The whole config file."""
    loaded: dict[str, Any] = json.loads(config_path(root).read_text())
    return loaded


def raw(stage: str, root: Path = ROOT) -> dict[str, Any]:
    """The stage's own block of the config file, as written."""
    return _stage_block(stage, document(root))


def _stage_block(stage: str, config: Mapping[str, Any]) -> dict[str, Any]:
    known = config["stages"]
    if stage not in known:
        stages = ", ".join(sorted(known))
        raise SystemExit(f"no stage {stage!r} in .chalice/config.json: the stages are {stages}")
    found: dict[str, Any] = known[stage]
    return found


# The keys Chalice reads from a stage (chalice.config.Config's lookups).
CHALICE_KEYS = frozenset(
    {
        "api_gateway_custom_domain", "api_gateway_endpoint_type", "api_gateway_endpoint_vpce",
        "api_gateway_policy_file", "api_gateway_stage", "autogen_policy", "automatic_layer",
        "environment_variables", "iam_policy_file", "iam_role_arn", "lambda_architecture",
        "lambda_functions", "lambda_memory_size", "lambda_timeout", "layers", "log_retention_in_days",
        "manage_iam_role", "minimum_compression_size", "reserved_concurrency", "security_group_ids",
        "subnet_ids", "tags", "websocket_api_custom_domain", "xray",
    }
)  # fmt: skip


HANDED_DOWN = frozenset({"environment", "reserved_concurrency", "runtime", "inventory"})
OUR_KEYS = frozenset(f.name for f in fields(Stage)) - {"name"} - HANDED_DOWN
_TYPES = {f.name: f.type for f in fields(Stage)}


def load(stage: str, root: Path = ROOT) -> Stage:
    """The stage as a build hands it down, from one read of the config file (see the module)."""
    from infrastructure import inventory

    config = document(root)
    found = _declared(stage, config)
    handler = Config(chalice_stage=stage, function_name="api_handler", config_from_disk=config)
    return dataclasses.replace(
        found,
        environment=dict(_stage_block(stage, config)["environment_variables"]),
        reserved_concurrency=handler.reserved_concurrency,
        runtime=str(config["lambda_runtime"]),
        inventory=inventory.read(),
    )


def declared(stage: str, root: Path = ROOT) -> Stage:
    """The stage's own settings, checked (for a tool that needs only those)."""
    return _declared(stage, document(root))


def _declared(stage: str, config: Mapping[str, Any]) -> Stage:
    """The stage's own settings, checked: every key is Chalice's or one of OUR_KEYS, each of
    ours of its type."""
    block = _stage_block(stage, config)
    unknown = sorted(set(block) - CHALICE_KEYS - OUR_KEYS)
    if unknown:
        raise SystemExit(
            f"stage {stage} in .chalice/config.json: unknown key(s) {', '.join(unknown)}. "
            f"The project's keys: {', '.join(sorted(OUR_KEYS))}. "
            f"Chalice's: {', '.join(sorted(CHALICE_KEYS))}."
        )
    ours = {key: block[key] for key in OUR_KEYS if key in block}
    for key, value in ours.items():
        wanted = {"bool": bool, "int": int, "str": str}.get(str(_TYPES[key]))
        if wanted is not None and (type(value) is not wanted):
            raise SystemExit(f"stage {stage}: {key} must be a {wanted.__name__}, not {value!r}")
    if ours.get("api", "rest") not in API_TYPES:
        raise SystemExit(f"stage {stage}: api must be one of {', '.join(API_TYPES)}, not {ours['api']!r}")
    target = ours.get("spike_target")
    if target is not None and (
        not isinstance(target, dict)
        or set(target) != {"users", "over"}
        or not all(type(v) is int and v >= 1 for v in target.values())
    ):
        raise SystemExit(
            f'stage {stage}: spike_target needs "users" and "over" (seconds), whole numbers >= 1'
        )
    check_environment(stage, block.get("environment_variables", {}))
    return Stage(name=stage, **ours)


def check_environment(stage: str, variables: Mapping[str, str]) -> None:
    """Every TODO_* variable a stage sets is one the runtime lists (chalicelib/settings.py)."""
    from chalicelib.settings import ENVIRONMENT

    listed = {v.name for v in ENVIRONMENT}
    unknown = sorted(name for name in variables if name.startswith("TODO_") and name not in listed)
    if unknown:
        raise SystemExit(
            f"stage {stage} in .chalice/config.json: unknown environment variable(s) {', '.join(unknown)}. "
            f"The runtime's: {', '.join(sorted(listed))} (chalicelib/settings.py; the levers an "
            "operator changes at run time are Parameter Store settings: make settings)."
        )
    seconds = variable(variables, "TODO_SETTINGS_SECONDS")
    if not seconds.isdigit():
        raise SystemExit(
            f"stage {stage}: TODO_SETTINGS_SECONDS must be a whole number of seconds, not {seconds!r}"
        )


def variable(variables: Mapping[str, str], name: str) -> str:
    """A TODO_* variable's value in a stage's environment_variables, or the runtime's default
    for it (chalicelib/settings.py ENVIRONMENT: the one place defaults are typed)."""
    from chalicelib.settings import ENVIRONMENT

    default = next(v.default for v in ENVIRONMENT if v.name == name)
    return variables.get(name) or default or ""


def environment(stage: str, root: Path = ROOT) -> dict[str, str]:
    """The stage's environment_variables."""
    variables: dict[str, str] = raw(stage, root)["environment_variables"]
    return variables


def chalice_config(stage: str, function: str, root: Path = ROOT) -> Config:
    """`function`'s settings in `stage`, as Chalice resolves them for deploy and package."""
    return Config(chalice_stage=stage, function_name=function, config_from_disk=document(root))


def lambda_runtime(root: Path = ROOT) -> str:
    """The functions' Lambda runtime (`lambda_runtime`: our key, as Chalice has none; it
    takes the runtime from the Python that runs it, so .venv is built on this one)."""
    runtime: str = document(root)["lambda_runtime"]
    return runtime


def log_retention_days(stage: str, root: Path = ROOT) -> int:
    """How long the stage's log groups keep their events (`log_retention_days`)."""
    return declared(stage, root).log_retention_days


API_TYPES = ("rest", "http")


def api_type(stage: str, root: Path = ROOT) -> str:
    """The stage's API Gateway type (`api`: our key): "rest" (Chalice's) or "http"."""
    return declared(stage, root).api


def set_environment(stage: str, variables: dict[str, str], root: Path = ROOT) -> list[Path]:
    """Write `variables` into the stage's environment_variables; the files changed."""
    config = document(root)
    config["stages"][stage]["environment_variables"].update(variables)
    return write_json(config_path(root), config)


def write_json(path: Path, data: dict[str, Any]) -> list[Path]:
    """Write `data` to `path` as the project formats JSON, if it differs; the files changed."""
    text = json.dumps(data, indent=2) + "\n"
    if path.exists() and path.read_text() == text:
        return []
    path.write_text(text)
    return [path]

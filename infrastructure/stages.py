"""The stages of .chalice/config.json, read (and, by `make deploy`, written) in one place
for every tool: a stage's settings, its environment variables, and a function's settings
as Chalice itself resolves them (function, then stage, then top level)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from chalice.config import Config

ROOT = Path(__file__).resolve().parent.parent
# Our own key: Chalice's `log_retention_in_days` names the API handler's log group
# wrongly and breaks `chalice package` (aws/chalice#2079).
DEFAULT_LOG_RETENTION_DAYS = 14


def config_path(root: Path = ROOT) -> Path:
    return root / ".chalice" / "config.json"


def document(root: Path = ROOT) -> dict[str, Any]:
    """The whole config file."""
    loaded: dict[str, Any] = json.loads(config_path(root).read_text())
    return loaded


def settings(stage: str, root: Path = ROOT) -> dict[str, Any]:
    """The stage's own block of the config file."""
    found: dict[str, Any] = document(root)["stages"][stage]
    return found


def environment(stage: str, root: Path = ROOT) -> dict[str, str]:
    """The stage's environment_variables."""
    variables: dict[str, str] = settings(stage, root)["environment_variables"]
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
    return int(settings(stage, root).get("log_retention_days", DEFAULT_LOG_RETENTION_DAYS))


API_TYPES = ("rest", "http")


def api_type(stage: str, root: Path = ROOT) -> str:
    """The stage's API Gateway type (`api`: our key): "rest" (Chalice's) or "http"."""
    api = str(settings(stage, root).get("api", "rest"))
    if api not in API_TYPES:
        raise SystemExit(f"stage {stage}: api must be one of {', '.join(API_TYPES)}, not {api!r}")
    return api


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

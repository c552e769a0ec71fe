"""The stages of .chalice/config.json, read (and, by `make deploy`, written) in one place
for every tool: a stage's settings, its environment variables, and a function's settings
as Chalice itself resolves them (function, then stage, then top level)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
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
    known = document(root)["stages"]
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


@dataclass(frozen=True)
class Stage:
    """A stage's own settings (beside Chalice's), declared: read once, checked, passed down
    to the builders. An unknown key is refused, so a misspelt one cannot quietly turn a
    feature off."""

    name: str
    api: str = "rest"  # "rest" (Chalice's) or "http" (make package API=http)
    log_retention_days: int = DEFAULT_LOG_RETENTION_DAYS
    waf: bool = False  # a web application firewall on the REST stage
    usage_plans: Mapping[str, Any] = field(default_factory=dict)  # API keys and usage plans per client
    snapstart: bool = False  # cold starts restored from a snapshot
    provisioned_concurrency: int = 0  # environments kept initialized
    production: bool = False  # a production stage: held to production's rules (e-mail through SES)
    spike_target: Mapping[str, int] | None = None  # {"users", "over"}: the crowd its throttle is sized for
    # the pool's SES sender: ses_identity_arn, from, reply_to, ses_account (production or sandbox)
    email: Mapping[str, str] | None = None


OUR_KEYS = frozenset(f.name for f in fields(Stage)) - {"name"}
_TYPES = {f.name: f.type for f in fields(Stage)}


def declared(stage: str, root: Path = ROOT) -> Stage:
    """The stage's own settings, checked: every key is Chalice's or one of OUR_KEYS, each of
    ours of its type."""
    raw = settings(stage, root)
    unknown = sorted(set(raw) - CHALICE_KEYS - OUR_KEYS)
    if unknown:
        raise SystemExit(
            f"stage {stage} in .chalice/config.json: unknown key(s) {', '.join(unknown)}. "
            f"The project's keys: {', '.join(sorted(OUR_KEYS))}. "
            f"Chalice's: {', '.join(sorted(CHALICE_KEYS))}."
        )
    ours = {key: raw[key] for key in OUR_KEYS if key in raw}
    for key, value in ours.items():
        wanted = {"bool": bool, "int": int, "str": str}.get(str(_TYPES[key]))
        if wanted is not None and (type(value) is not wanted):
            raise SystemExit(f"stage {stage}: {key} must be a {wanted.__name__}, not {value!r}")
    if ours.get("api", "rest") not in API_TYPES:
        raise SystemExit(f"stage {stage}: api must be one of {', '.join(API_TYPES)}, not {ours['api']!r}")
    check_environment(stage, raw.get("environment_variables", {}))
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
    seconds = variables.get("TODO_SETTINGS_SECONDS", "60")
    if not seconds.isdigit():
        raise SystemExit(
            f"stage {stage}: TODO_SETTINGS_SECONDS must be a whole number of seconds, not {seconds!r}"
        )


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

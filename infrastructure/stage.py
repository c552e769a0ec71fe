"""The one value a build hands down: a stage, as `infrastructure/stages.py` (`load`) reads it
from .chalice/config.json and the app. Every template builder takes it (`resources(stage) ->
fragment`) and imports neither the config's reader nor the app: this module holds the value
and reads nothing."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from infrastructure.inventory import Inventory

# Our own key: Chalice's `log_retention_in_days` names the API handler's log group
# wrongly and breaks `chalice package` (aws/chalice#2079).
DEFAULT_LOG_RETENTION_DAYS = 14


@dataclass(frozen=True)
class Stage:
    """A stage: its own keys in .chalice/config.json (beside Chalice's), checked (an unknown
    key is refused, so a misspelt one cannot quietly turn a feature off), and, once `load`ed,
    what the build reads besides: its environment, the API handler's Chalice settings, the
    runtime and the app's inventory. Read once, handed to every builder."""

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
    backup_days: int = 0  # weekly backups kept this long, past point-in-time recovery's window (0: none)
    # how a new API version takes traffic: a type of SAM's DeploymentPreference (infrastructure/releases.py)
    traffic_shift: str = "AllAtOnce"
    # Handed down by `load`, beside the keys above (read from the config and the app, not keys):
    environment: Mapping[str, str] = field(default_factory=dict)  # its environment_variables
    reserved_concurrency: int | None = None  # the API handler's, as Chalice resolves it
    runtime: str = ""  # the functions' Lambda runtime (lambda_runtime)
    inventory: Inventory | None = None  # what app.py declares (infrastructure/inventory.py)

    @property
    def app(self) -> Inventory:
        """The app's inventory, which `load` always hands down."""
        if self.inventory is None:
            raise ValueError(f"stage {self.name} was declared, not loaded: stages.load reads the app")
        return self.inventory

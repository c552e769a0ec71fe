"""A stage's cold-start options: SnapStart or provisioned concurrency, on the published
version and alias every function runs on (infrastructure/releases.py)."""

from __future__ import annotations

from typing import Any

from infrastructure.stage import Stage


def resources(stage: Stage) -> dict[str, Any]:
    """The stage's cold-start options, off by default: `snapstart` (restore from a snapshot
    of the initialized function) or `provisioned_concurrency` (N environments kept warm).

    Either applies to a published version only: the one infrastructure/releases.py has SAM
    publish, on the alias the API invokes."""
    snapstart, concurrency = stage.snapstart, stage.provisioned_concurrency
    if not snapstart and not concurrency:
        return {}
    if snapstart and concurrency:
        # Lambda refuses provisioned concurrency on a version that has SnapStart.
        raise SystemExit("a stage may set snapstart or provisioned_concurrency, not both")
    properties: dict[str, Any] = {}
    if snapstart:
        properties["SnapStart"] = {"ApplyOn": "PublishedVersions"}
    else:
        properties["ProvisionedConcurrencyConfig"] = {"ProvisionedConcurrentExecutions": concurrency}
    return {"Resources": {"APIHandler": {"Properties": properties}}}

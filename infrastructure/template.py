"""The stack `make package` merges into Chalice's SAM template (`--merge-template`): one
short composition of a builder per concern, each a module of its own with the checkov
reasons for its resources beside them, each handed the one stage value (`stages.load`).

Chalice emits the functions, their roles, the API and the schedule; the builders add what a
production stack needs around them: the table (infrastructure/table.py) and the user pool
(identity), the API stage (api), the alarms, log groups and
dashboard (observability), the failed runs' queue (protection), the cold-start options
(cold_start), the firewall (firewall), API keys (client_keys) and gradual releases
on published aliases (releases).

Chalice's merge replaces lists and merges mappings, so what is written here wins.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any

from infrastructure import (
    api,
    backups,
    client_keys,
    cold_start,
    firewall,
    identity,
    observability,
    protection,
    releases,
    runtime_settings,
    stages,
    table,
)
from infrastructure.functions import SCHEDULED_JOBS
from infrastructure.stage import Stage

# One builder per concern, each `resources(stage) -> fragment`; an option a stage does not
# set gives an empty fragment.
BUILDERS: tuple[Callable[[Stage], dict[str, Any]], ...] = (
    table.resources,
    identity.resources,
    api.resources,
    observability.resources,
    protection.resources,
    cold_start.resources,
    firewall.resources,
    client_keys.resources,
    runtime_settings.resources,
    backups.resources,
    releases.resources,
)

# checkov findings we accept for the functions and the table (built here or by Chalice),
# each with its reason; the other builders keep theirs (CHECKOV_SKIPS below gathers them).
_NO_VPC = (
    "CKV_AWS_117",
    (
        "Reaches only DynamoDB and CloudWatch over AWS endpoints; a VPC adds NAT or endpoint "
        "cost and cold-start time and protects nothing here."
    ),
)
_NO_CMK_ENV = (
    "CKV_AWS_173",
    (
        "Environment variables hold names, ARNs and numbers only (tests/infrastructure/test_secrets.py); "
        "Lambda encrypts them at rest with an AWS key."
    ),
)
_NO_RESERVED = (
    "CKV_AWS_115",
    (
        "Bounded by API Gateway stage throttling and idempotent, overlap-safe purge runs; "
        "reserved concurrency fails deploys on accounts with the default limit of 10, so only "
        "a stage that sets Chalice's reserved_concurrency (prod) reserves it."
    ),
)
_OWN_SKIPS: dict[str, list[tuple[str, str]]] = {
    "APIHandler": [
        (
            "CKV_AWS_116",
            (
                "Invoked synchronously by API Gateway, which returns the error to the caller: a DLQ "
                "only receives asynchronous invocations."
            ),
        ),
        _NO_VPC,
        _NO_CMK_ENV,
        _NO_RESERVED,
    ],
    **{
        logical: [
            (
                "CKV_AWS_116",
                (
                    "Failed asynchronous runs go to JobFailures through EventInvokeConfig's OnFailure "
                    "destination (which records the error as well); checkov knows only DeadLetterQueue."
                ),
            ),
            _NO_VPC,
            _NO_CMK_ENV,
            _NO_RESERVED,
        ]
        for logical in SCHEDULED_JOBS
    },
    "TodoTable": [
        (
            "CKV_AWS_119",
            (
                "Encrypted at rest with the AWS managed KMS key (SSEEnabled: aws/dynamodb, logged in "
                "CloudTrail); a customer managed key is a per-deployment compliance choice with its "
                "own cost and key policy."
            ),
        ),
    ],
}
CHECKOV_SKIPS: dict[str, list[tuple[str, str]]] = {
    **_OWN_SKIPS,
    **api.CHECKOV_SKIPS,
    **observability.CHECKOV_SKIPS,
    **protection.CHECKOV_SKIPS,
    **firewall.CHECKOV_SKIPS,
    **backups.CHECKOV_SKIPS,
}


# The merge template is built in code, a builder per concern, rather than committed as
# YAML (the other form Chalice documents): most of it is derived from the code's own
# facts (TABLE_DEFINITION, the gateway errors, the function names, checkov's skips), which
# a static file would have to repeat and keep in step by hand.


def merge_template(stage: Stage) -> dict[str, Any]:
    """What `chalice package --merge-template` merges into Chalice's SAM template: every
    builder handed the one stage value (infrastructure/stages.py, `load`)."""
    template = _merged(*(builder(stage) for builder in BUILDERS))
    for logical, skips in CHECKOV_SKIPS.items():
        if logical not in template["Resources"]:
            continue  # an option's resource this stage does not have (WebACLLogs without a WAF)
        resource = template["Resources"][logical]
        if logical == "APIHandler" and stage.reserved_concurrency is not None:
            skips = [skip for skip in skips if skip is not _NO_RESERVED]  # it passes: nothing to skip
        metadata = resource.setdefault("Metadata", {})
        metadata["checkov"] = {"skip": [{"id": check, "comment": why} for check, why in skips]}
    return template


def _merged(*parts: dict[str, Any]) -> dict[str, Any]:
    """The parts merged as Chalice merges: mappings key by key; any other clash is a bug."""

    def merge(into: dict[str, Any], extra: dict[str, Any], path: str) -> None:
        for key, value in extra.items():
            if isinstance(into.get(key), dict) and isinstance(value, dict):
                merge(into[key], value, f"{path}.{key}")
            elif key in into:
                raise ValueError(f"two builders set {path}.{key}")
            else:
                into[key] = value

    template: dict[str, Any] = {"Parameters": {}, "Conditions": {}, "Resources": {}, "Outputs": {}}
    for part in parts:
        merge(template, part, "template")
    return template


def main() -> None:
    stage = sys.argv[1] if len(sys.argv) > 1 else "dev"
    print(json.dumps(merge_template(stages.load(stage)), indent=2))


if __name__ == "__main__":
    main()

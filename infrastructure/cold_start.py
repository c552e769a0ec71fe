"""A stage's cold-start options: SnapStart or provisioned concurrency, on a published alias."""

from __future__ import annotations

from typing import Any

from infrastructure.stage import Stage

# The alias the API invokes when a cold-start option is on (SAM's AutoPublishAlias makes
# it, as APIHandlerAlias<name>, with a new version for each code or configuration change).
ALIAS = "live"
_INVOKE_ALIAS = {
    "Fn::Sub": "arn:${AWS::Partition}:apigateway:${AWS::Region}:lambda:path/2015-03-31/functions/"
    f"${{APIHandlerAlias{ALIAS}}}/invocations"
}


def resources(stage: Stage) -> dict[str, Any]:
    """The stage's cold-start options, off by default: `snapstart` (restore from a snapshot
    of the initialized function) or `provisioned_concurrency` (N environments kept warm).

    Either applies to a published version only, so the function gets an alias and the API
    must invoke that alias, and hold the permission to: Chalice's template points the
    integrations and the permission at the unqualified function, where neither option acts."""
    snapstart, concurrency = stage.snapstart, stage.provisioned_concurrency
    if not snapstart and not concurrency:
        return {}
    if snapstart and concurrency:
        # Lambda refuses provisioned concurrency on a version that has SnapStart.
        raise SystemExit("a stage may set snapstart or provisioned_concurrency, not both")
    properties: dict[str, Any] = {"AutoPublishAlias": ALIAS}
    if snapstart:
        properties["SnapStart"] = {"ApplyOn": "PublishedVersions"}
    else:
        properties["ProvisionedConcurrencyConfig"] = {"ProvisionedConcurrentExecutions": concurrency}
    paths = {
        path: {
            method.lower(): {"x-amazon-apigateway-integration": {"uri": _INVOKE_ALIAS}} for method in methods
        }
        for path, methods in stage.app.routes.items()
    }
    return {
        "Resources": {
            "APIHandler": {"Properties": properties},
            "RestAPI": {"Properties": {"DefinitionBody": {"paths": paths}}},
            "APIHandlerInvokePermission": {
                "Properties": {"FunctionName": {"Ref": f"APIHandlerAlias{ALIAS}"}}
            },
        }
    }

"""API keys and usage plans per client application (a stage's `usage_plans`)."""

from __future__ import annotations

import re
from typing import Any

from infrastructure import names
from infrastructure.stage import Stage

_CLIENT_NAME = re.compile(r"[A-Za-z0-9]{1,40}")
_PLAN_KEYS = {"rate", "burst", "quota", "period"}


def resources(stage: Stage) -> dict[str, Any]:
    """API keys and usage plans (a stage's `usage_plans`, off when absent): one plan and one
    key per client application (`{"web": {"rate": 20, "burst": 40, "quota": 100000,
    "period": "DAY"}}`), and every route requires a key as well as a Cognito ID token.

    A key names the client application that calls (the web app, a mobile app, a partner)
    so that each can be metered and throttled apart; it is not a secret (it ships inside
    those clients) and grants nothing: Cognito remains the only authorization."""
    stage_name, plans = stage.name, stage.usage_plans
    if not plans:
        return {}

    resources: dict[str, Any] = {}
    outputs: dict[str, Any] = {}
    for client, plan in plans.items():
        if not _CLIENT_NAME.fullmatch(client) or set(plan) != _PLAN_KEYS:
            raise SystemExit(
                f"usage_plans: {client!r} needs a name of letters and digits and {sorted(_PLAN_KEYS)}"
            )
        name = names.of(stage_name, client)
        resources[f"UsagePlan{client}"] = {
            "Type": "AWS::ApiGateway::UsagePlan",
            "Properties": {
                "UsagePlanName": name,
                "ApiStages": [{"ApiId": {"Ref": "RestAPI"}, "Stage": {"Ref": "RestAPI.Stage"}}],
                "Throttle": {"RateLimit": plan["rate"], "BurstLimit": plan["burst"]},
                "Quota": {"Limit": plan["quota"], "Period": plan["period"]},
            },
        }
        resources[f"ApiKey{client}"] = {
            "Type": "AWS::ApiGateway::ApiKey",
            "Properties": {
                "Name": name,
                "Enabled": True,
                "Description": f"Identifies the {client} client app: not a secret, not access control",
            },
        }
        resources[f"UsagePlanKey{client}"] = {
            "Type": "AWS::ApiGateway::UsagePlanKey",
            "Properties": {
                "KeyId": {"Ref": f"ApiKey{client}"},
                "KeyType": "API_KEY",
                "UsagePlanId": {"Ref": f"UsagePlan{client}"},
            },
        }
        # The key's id; its value: aws apigateway get-api-key --api-key ID --include-value.
        outputs[f"ApiKeyId{client}"] = {"Value": {"Ref": f"ApiKey{client}"}}
    # Both requirements in one object: a route needs the token and the key (browsers send
    # no key on a CORS preflight, and the OPTIONS methods, not in app.routes, require none).
    security: list[dict[str, list[str]]] = [{"TodoUsers": [], "api_key": []}]
    paths = {
        path: {method.lower(): {"security": security} for method in methods}
        for path, methods in stage.app.routes.items()
    }
    resources["RestAPI"] = {
        "Properties": {
            "DefinitionBody": {
                "x-amazon-apigateway-api-key-source": "HEADER",
                "securityDefinitions": {"api_key": {"type": "apiKey", "name": "x-api-key", "in": "header"}},
                "paths": paths,
            }
        }
    }
    return {"Resources": resources, "Outputs": outputs}

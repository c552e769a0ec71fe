"""The stack `make package` merges into Chalice's SAM template (`--merge-template`): one
short composition of a builder per concern, each a module of its own with the checkov
reasons for its resources beside them, values passed down from the stage's declared settings.

Chalice emits the functions, their roles, the API and the schedule; the builders add what a
production stack needs around them: the table (infrastructure/table.py) and the user pool
(here, from infrastructure/identity.py), the API stage (api), the alarms, log groups and
dashboard (observability), the failed runs' queue (protection), the cold-start options
(cold_start), the firewall (firewall) and API keys (client_keys).

Chalice's merge replaces lists and merges mappings, so what is written here wins.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from infrastructure import (
    api,
    capacity,
    client_keys,
    cold_start,
    firewall,
    observability,
    protection,
    runtime_settings,
    stages,
)
from infrastructure.functions import SCHEDULED_JOBS
from infrastructure.identity import APP_CLIENT_SETTINGS, user_pool_settings
from infrastructure.table import table_properties

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
}


# The merge template is built in code, a builder per concern, rather than committed as
# YAML (the other form Chalice documents): most of it is derived from the code's own
# facts (TABLE_DEFINITION, the gateway errors, the function names, checkov's skips), which
# a static file would have to repeat and keep in step by hand.


def merge_template(stage: str, root: Path = stages.ROOT) -> dict[str, Any]:
    """What `chalice package --merge-template` merges into Chalice's SAM template."""
    declared = stages.declared(stage, root)  # read once, checked: a misspelt key stops here
    retention = declared.log_retention_days
    template = _merged(
        _data(stages.environment(stage, root)["TODO_TABLE"]),
        _identity(stage, root),
        api.resources(retention, capacity.throttling(stage, root)),
        observability.resources(stage, retention),
        protection.resources(stage),
        cold_start.resources(declared),
        firewall.resources(stage, retention) if declared.waf else {},
        client_keys.resources(stage, declared.usage_plans),
        runtime_settings.resources(stage),
    )
    reserved = stages.chalice_config(stage, "api_handler", root).reserved_concurrency
    for logical, skips in CHECKOV_SKIPS.items():
        if logical not in template["Resources"]:
            continue  # an option's resource this stage does not have (WebACLLogs without a WAF)
        resource = template["Resources"][logical]
        if logical == "APIHandler" and reserved is not None:
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


def _data(table_name: str) -> dict[str, Any]:
    """The table, kept on delete and replace."""
    return {
        "Resources": {
            "TodoTable": {
                "Type": "AWS::DynamoDB::Table",
                "DeletionPolicy": "Retain",
                "UpdateReplacePolicy": "Retain",
                "Properties": table_properties(table_name),
            },
        },
        "Outputs": {"TableName": {"Value": {"Ref": "TodoTable"}}},
    }


# The pool the API trusts: this stack's own, or the one ExistingUserPoolArn names.
TRUSTED_POOL_ARN = {
    "Fn::If": ["CreateUserPool", {"Fn::GetAtt": ["UserPool", "Arn"]}, {"Ref": "ExistingUserPoolArn"}]
}


# Its app client: this stack's own, or the one ExistingUserPoolClientId names.
TRUSTED_CLIENT_ID = {
    "Fn::If": ["CreateUserPool", {"Ref": "UserPoolClient"}, {"Ref": "ExistingUserPoolClientId"}]
}


def _identity(stage: str, root: Path) -> dict[str, Any]:
    """A Cognito user pool and app client, and the authorizer's trust in a pool.

    A stack can bring its own pool (one `make deploy` bootstrapped, or one shared with
    other services): then it creates none and the authorizer trusts that one."""
    return {
        "Parameters": {
            "ExistingUserPoolArn": {
                "Type": "String",
                "Default": "",
                "AllowedPattern": r"^$|^arn:aws[\w-]*:cognito-idp:[a-z0-9-]+:\d{12}:userpool/[\w-]+$",
                "Description": "The ARN of an existing Cognito user pool to trust; empty: create one",
            },
            "ExistingUserPoolClientId": {
                "Type": "String",
                "Default": "",
                "AllowedPattern": r"^$|^[\w+]{1,128}$",
                "Description": "With ExistingUserPoolArn: its app client, which the web app signs in with",
            },
        },
        "Conditions": {"CreateUserPool": {"Fn::Equals": [{"Ref": "ExistingUserPoolArn"}, ""]}},
        "Resources": {
            "UserPool": {
                "Type": "AWS::Cognito::UserPool",
                "Condition": "CreateUserPool",
                "DeletionPolicy": "Retain",
                "UpdateReplacePolicy": "Retain",
                "Properties": {
                    "UserPoolName": f"todo-api-{stage}",
                    "DeletionProtection": "ACTIVE",
                    "MfaConfiguration": "OPTIONAL",
                    "EnabledMfas": ["SOFTWARE_TOKEN_MFA"],
                    **user_pool_settings(stage, root),
                },
            },
            "UserPoolClient": {
                "Type": "AWS::Cognito::UserPoolClient",
                "Condition": "CreateUserPool",
                "Properties": {
                    "UserPoolId": {"Ref": "UserPool"},
                    "ClientName": f"todo-api-{stage}",
                    **APP_CLIENT_SETTINGS,
                },
            },
            # The function verifies nothing itself in Lambda, but its web app's config says
            # which pool and client to sign in with: the stack's, not the stage config's.
            "APIHandler": {
                "Properties": {
                    "Environment": {
                        "Variables": {
                            "TODO_USER_POOL_ARN": TRUSTED_POOL_ARN,
                            "TODO_COGNITO_CLIENT_ID": TRUSTED_CLIENT_ID,
                        }
                    }
                }
            },
            "RestAPI": {
                "Properties": {
                    # The authorizer trusts this stack's pool, not the ARN in the stage config.
                    "DefinitionBody": {
                        "securityDefinitions": {
                            "TodoUsers": {
                                "x-amazon-apigateway-authorizer": {"providerARNs": [TRUSTED_POOL_ARN]}
                            }
                        }
                    }
                }
            },
        },
        "Outputs": {
            "UserPoolArn": {"Value": TRUSTED_POOL_ARN},
            "UserPoolId": {"Condition": "CreateUserPool", "Value": {"Ref": "UserPool"}},
            "UserPoolClientId": {"Condition": "CreateUserPool", "Value": {"Ref": "UserPoolClient"}},
        },
    }


def main() -> None:
    stage = sys.argv[1] if len(sys.argv) > 1 else "dev"
    print(json.dumps(merge_template(stage), indent=2))


if __name__ == "__main__":
    main()

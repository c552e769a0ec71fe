"""The user pool and its app client, as both deploy routes create them: the packaged stack
(infrastructure/template.py) and `make deploy`'s bootstrap (infrastructure/bootstrap.py),
in the names CloudFormation and the Cognito API share; with the stage's e-mail sender and
feature plan."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from infrastructure import names
from infrastructure.stage import Stage

# The user pool and its app client, in the names both CloudFormation and the Cognito API
# use: the packaged stack and `make deploy`'s bootstrap (tools/deploy.py) share them.
USER_POOL_SETTINGS: dict[str, Any] = {
    "UsernameAttributes": ["email"],
    "AutoVerifiedAttributes": ["email"],
    "Policies": {
        "PasswordPolicy": {
            "MinimumLength": 12,
            "RequireLowercase": True,
            "RequireUppercase": True,
            "RequireNumbers": True,
        }
    },
}
# Cognito's feature plans, cheapest first. A pool can configure a feature only while its plan
# is active ("Turning off features to change feature plans"). What a plan adds that a pool's
# template can turn on, as AWS's pages list it (read 2026-12-07):
# https://docs.aws.amazon.com/cognito/latest/developerguide/feature-plans-features-essentials.html
# (access-token customization, e-mail MFA, password history, managed login's branding) and
# .../feature-plans-features-plus.html (threat protection, user-activity log export).
PLANS = ("LITE", "ESSENTIALS", "PLUS")


def _pool(properties: Mapping[str, Any]) -> dict[str, str]:
    """The plan-bound features an AWS::Cognito::UserPool's properties turn on, and the plan each needs."""
    features = {}
    trigger = properties.get("LambdaConfig", {}).get("PreTokenGenerationConfig", {})
    if trigger.get("LambdaVersion", "V1_0") != "V1_0":
        features["access-token customization (a V2_0/V3_0 pre token generation trigger)"] = "ESSENTIALS"
    if "EMAIL_OTP" in properties.get("EnabledMfas", []):
        features["e-mail MFA (EnabledMfas EMAIL_OTP)"] = "ESSENTIALS"
    if properties.get("Policies", {}).get("PasswordPolicy", {}).get("PasswordHistorySize"):
        features["password history (PasswordHistorySize)"] = "ESSENTIALS"
    if properties.get("UserPoolAddOns", {}).get("AdvancedSecurityMode", "OFF") != "OFF":
        features["threat protection (UserPoolAddOns AdvancedSecurityMode)"] = "PLUS"
    return features


def plan_features(resources: Mapping[str, Any], pool: str) -> dict[str, str]:
    """Every plan-bound feature a template gives the pool `pool` (its own properties, its
    managed login branding, its user-activity log export), with the plan each needs."""
    features = _pool(resources[pool].get("Properties", {}))
    for resource in resources.values():
        properties = resource.get("Properties", {})
        if properties.get("UserPoolId") != {"Ref": pool}:
            continue
        kind = resource["Type"]
        if kind == "AWS::Cognito::ManagedLoginBranding" or (
            kind == "AWS::Cognito::UserPoolDomain" and properties.get("ManagedLoginVersion") == 2
        ):
            features["managed login (version 2, with its branding)"] = "ESSENTIALS"
        if kind == "AWS::Cognito::LogDeliveryConfiguration" and any(
            c.get("EventSource") == "userAuthEvents" for c in properties.get("LogConfigurations", [])
        ):
            features["user-activity log export (LogDeliveryConfiguration userAuthEvents)"] = "PLUS"
    return features


def cheapest_plan(features: Mapping[str, str]) -> str:
    """The cheapest plan that has every one of `features`."""
    return PLANS[max((PLANS.index(plan) for plan in features.values()), default=0)]


# The pool's plan, explicit (a pool created without one gets Essentials, AWS's default): the
# cheapest that has every feature the app uses. The app signs people up and in with a password
# and renews ID tokens (APP_CLIENT_SETTINGS): Lite has all of that; nothing Essentials or Plus
# adds is used (plan_features; `make cost` prices all three, docs/performance-and-cost.md).
USER_POOL_TIER = PLANS[0]
# Cognito's own sender: "only a limited number of emails each day" (50, infrastructure/quotas.json),
# so sign-up 51 of the day gets no code. A stage that sends through SES names its verified
# identity (`email` in its config); a production stage must.
_EMAIL_KEYS = {"ses_identity_arn", "from", "reply_to", "ses_account"}
PRODUCTION_TAG = names.tag("production")
# Whether the SES account is still in the sandbox, said on the pool for make spike to read: a
# sandboxed account sends 200 a day, 1 a second, to verified recipients only (quotas.json), so
# no code reaches a real person who signs up.
SES_ACCOUNT_TAG = names.tag("ses-account")
SES_ACCOUNTS = ("production", "sandbox")
_SES_IDENTITY = re.compile(r"arn:aws[\w-]*:ses:[a-z0-9-]+:\d{12}:identity/[^\s]+")


def email_configuration(declared: Stage) -> dict[str, Any]:
    """The pool's EmailConfiguration for the stage: through SES where its config says so."""
    stage, email = declared.name, declared.email
    if email is None:
        if declared.production:
            raise SystemExit(
                f"stage {stage} is a production stage and sends e-mail with Cognito's default sender, "
                "which sends 50 a day per account: sign-up 51 would get no code. Set its `email` "
                '(ses_identity_arn of a verified SES identity, "from", "reply_to") in .chalice/config.json'
            )
        return {"EmailSendingAccount": "COGNITO_DEFAULT"}
    if (
        set(email) != _EMAIL_KEYS
        or not _SES_IDENTITY.fullmatch(str(email["ses_identity_arn"]))
        or email["ses_account"] not in SES_ACCOUNTS
    ):
        raise SystemExit(
            f"stage {stage}: email needs {sorted(_EMAIL_KEYS)}, ses_identity_arn an SES identity's ARN, "
            f"ses_account one of {', '.join(SES_ACCOUNTS)} (whether the account has SES production access)"
        )
    if declared.production and email["ses_account"] == "sandbox":
        raise SystemExit(
            f"stage {stage} is a production stage whose SES account is in the sandbox: SES then sends 200 "
            "e-mails a day, 1 a second, to verified recipients only, so no sign-up code reaches a real "
            "person. Request production access (SES console), then set its email.ses_account to "
            '"production" in .chalice/config.json'
        )
    return {
        "EmailSendingAccount": "DEVELOPER",
        "SourceArn": email["ses_identity_arn"],
        "From": email["from"],
        "ReplyToEmailAddress": email["reply_to"],
    }


def user_pool_settings(declared: Stage) -> dict[str, Any]:
    """Everything a stage's pool is created with, by both deploy routes (CloudFormation's
    and the Cognito API's names agree for these)."""
    settings = {
        **USER_POOL_SETTINGS,
        "UserPoolTier": USER_POOL_TIER,
        "EmailConfiguration": email_configuration(declared),
    }
    tags = {}
    if declared.production:
        # Said on the pool itself, where the rehearsal (and an operator) can see it.
        tags[PRODUCTION_TAG] = "true"
    if declared.email is not None:
        tags[SES_ACCOUNT_TAG] = str(declared.email["ses_account"])
    if tags:
        settings["UserPoolTags"] = tags
    return settings


APP_CLIENT_SETTINGS: dict[str, Any] = {
    "GenerateSecret": False,  # a browser or CLI cannot keep one; the page's sign-in needs none
    # Exactly what the web app uses (docs/web-app.md): the password over TLS, then the
    # refresh token to renew the ID token.
    "ExplicitAuthFlows": ["ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
    "PreventUserExistenceErrors": "ENABLED",
    "IdTokenValidity": 60,
    "TokenValidityUnits": {"IdToken": "minutes"},
}


# The pool the API trusts: this stack's own, or the one ExistingUserPoolArn names.
TRUSTED_POOL_ARN = {
    "Fn::If": ["CreateUserPool", {"Fn::GetAtt": ["UserPool", "Arn"]}, {"Ref": "ExistingUserPoolArn"}]
}


# Its app client: this stack's own, or the one ExistingUserPoolClientId names.
TRUSTED_CLIENT_ID = {
    "Fn::If": ["CreateUserPool", {"Ref": "UserPoolClient"}, {"Ref": "ExistingUserPoolClientId"}]
}


def resources(stage: Stage) -> dict[str, Any]:
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
                    "UserPoolName": names.of(stage.name),
                    "DeletionProtection": "ACTIVE",
                    "MfaConfiguration": "OPTIONAL",
                    "EnabledMfas": ["SOFTWARE_TOKEN_MFA"],
                    **user_pool_settings(stage),
                },
            },
            "UserPoolClient": {
                "Type": "AWS::Cognito::UserPoolClient",
                "Condition": "CreateUserPool",
                "Properties": {
                    "UserPoolId": {"Ref": "UserPool"},
                    "ClientName": names.of(stage.name),
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

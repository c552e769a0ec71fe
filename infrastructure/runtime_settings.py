"""The stage's runtime settings in Parameter Store (chalicelib/settings.py), made by both
deploy routes with their defaults: String parameters under the stage's path (none is a
secret: no SecureString, no KMS key). An operator changes them with `make settings`; a
later deploy leaves a changed value alone unless the default itself changes."""

from __future__ import annotations

import contextlib
from typing import Any

from chalicelib.settings import SETTINGS
from infrastructure import stages


def path(stage: str) -> str:
    """The stage's path (its TODO_SETTINGS_PATH)."""
    return stages.environment(stage)["TODO_SETTINGS_PATH"]


def path_arn(stage: str, *, region: str = "${AWS::Region}", account: str = "${AWS::AccountId}") -> str:
    """The path's ARN, which IAM checks GetParametersByPath against (not the parameters it
    returns: "How Parameter Store authorizes parameter retrieval", Systems Manager guide)."""
    return f"arn:aws:ssm:{region}:{account}:parameter{path(stage)}"


def logical_id(name: str) -> str:
    return "Setting" + "".join(part.capitalize() for part in name.split("-"))


def resources(stage: str) -> dict[str, Any]:
    return {
        "Resources": {
            logical_id(setting.name): {
                "Type": "AWS::SSM::Parameter",
                "Properties": {
                    "Name": f"{path(stage)}/{setting.name}",
                    "Type": "String",
                    "Tier": "Standard",
                    "Value": setting.text,
                    "Description": f"todo-api {stage}: {setting.meaning} (make settings)",
                },
            }
            for setting in SETTINGS
        }
    }


def ensure(ssm: Any, stage: str) -> list[str]:
    """The chalice deploy route's (and the local stage's) parameters, each created with its
    default if missing; one an operator has set is kept. The names created."""
    made = []
    for setting in SETTINGS:
        name = f"{path(stage)}/{setting.name}"
        with contextlib.suppress(ssm.exceptions.ParameterAlreadyExists):
            ssm.put_parameter(Name=name, Value=setting.text, Type="String", Tier="Standard", Overwrite=False)
            made.append(name)
    return made

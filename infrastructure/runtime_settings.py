"""The stage's runtime settings in Parameter Store (chalicelib/settings.py), made by both
deploy routes with their defaults: String parameters under the stage's path (none is a
secret: no SecureString, no KMS key). An operator changes them with `make settings`; a
later deploy leaves a changed value alone unless the default itself changes."""

from __future__ import annotations

import contextlib
from typing import Any

from chalicelib.settings import SETTINGS
from infrastructure import names
from infrastructure.stage import Stage


def logical_id(name: str) -> str:
    return "Setting" + "".join(part.capitalize() for part in name.split("-"))


def resources(stage: Stage) -> dict[str, Any]:
    path = stage.environment["TODO_SETTINGS_PATH"]
    return {
        "Resources": {
            logical_id(setting.name): {
                "Type": "AWS::SSM::Parameter",
                "Properties": {
                    "Name": f"{path}/{setting.name}",
                    "Type": "String",
                    "Tier": "Standard",
                    "Value": setting.text,
                    "Description": f"{names.APP} {stage.name}: {setting.meaning} (make settings)",
                },
            }
            for setting in SETTINGS
        }
    }


def ensure(ssm: Any, path: str) -> list[str]:
    """The chalice deploy route's (and the local stage's) parameters under `path` (the stage's
    TODO_SETTINGS_PATH), each created with its default if missing; one an operator has set is
    kept. The names created."""
    made = []
    for setting in SETTINGS:
        name = f"{path}/{setting.name}"
        with contextlib.suppress(ssm.exceptions.ParameterAlreadyExists):
            ssm.put_parameter(Name=name, Value=setting.text, Type="String", Tier="Standard", Overwrite=False)
            made.append(name)
    return made

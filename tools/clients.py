"""The AWS clients an operator's command uses (`make settings`, `make restore`, `make deploy`,
`make migrate`, `make release`): for the local stage, `make run`'s embedded backend (its
TODO_LOCAL_BACKEND, or the environment's, with the emulator's stand-in credentials); for any
other stage, your AWS configuration, and a message, not a traceback, when there is none."""

from __future__ import annotations

import os
from typing import Any

from infrastructure import stages

LOCAL = "local"


def session() -> Any:
    """A botocore session with the operator's own AWS configuration, checked up front."""
    import botocore.session

    made = botocore.session.get_session()
    if not made.get_config_variable("region"):
        raise SystemExit("no AWS region: set AWS_REGION or use a profile that has one")
    if made.get_credentials() is None:
        raise SystemExit("no AWS credentials: set AWS_PROFILE or the AWS_* variables")
    return made


def client(stage: str, service: str, config: Any = None) -> Any:
    import botocore.session

    session = botocore.session.get_session()
    variables = stages.environment(stage)
    region = variables["TODO_USER_POOL_ARN"].split(":")[3]
    if stage == LOCAL:
        return session.create_client(
            service,
            endpoint_url=os.environ.get("TODO_LOCAL_BACKEND") or variables["TODO_LOCAL_BACKEND"],
            region_name=region,
            aws_access_key_id="local",
            aws_secret_access_key="local",  # noqa: S106 - the emulator's, not a secret
            config=config,
        )
    if session.get_credentials() is None:
        raise SystemExit("no AWS credentials: set AWS_PROFILE or the AWS_* variables")
    return session.create_client(
        service, region_name=session.get_config_variable("region") or region, config=config
    )

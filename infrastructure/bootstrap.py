"""The stateful resources of a stage, made apart from the code: its table, its Cognito
user pool and app client, and its functions' log groups (`make deploy`'s first step;
`make backend` makes the local stage's table with it too).

The table and the Cognito user pool (with its app client) outlive every deploy of the
functions, so they are made here, once, by the operator, never by a Lambda at start.
Each step is idempotent: it finds what exists by name and creates only what is missing,
so `make deploy` runs it every time. Both are created with deletion protection, and
the table with point-in-time recovery, encryption and TTL, in the same shape the
packaged template declares (infrastructure/template.py and schema.TABLE_DEFINITION are the one
source of both).

A script rather than a CloudFormation stack: moto (and so the test suite) can create
these resources through their APIs but not a user pool through CloudFormation, and a
bootstrap that no test runs is one that breaks unseen.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from chalicelib.schema import TABLE_DEFINITION
from infrastructure import names, runtime_settings
from infrastructure.functions import FUNCTIONS
from infrastructure.identity import APP_CLIENT_SETTINGS, user_pool_settings
from infrastructure.stage import Stage
from infrastructure.table import table_properties


@dataclass(frozen=True)
class StatefulResources:
    table_name: str
    table_arn: str
    user_pool_id: str
    user_pool_arn: str
    app_client_id: str


def ensure_table(dynamodb: Any, name: str, *, sleep: Callable[[float], None] = time.sleep) -> str:
    """The table of `template.table_properties(name)`, created if missing, brought up to it
    if older; its ARN. An existing table must have our keys."""
    wanted = table_properties(name)
    try:
        table = dynamodb.describe_table(TableName=name)["Table"]
    except dynamodb.exceptions.ResourceNotFoundException:
        table = dynamodb.create_table(
            TableName=name,
            **{key: wanted[key] for key in TABLE_DEFINITION},
            SSESpecification={"Enabled": wanted["SSESpecification"]["SSEEnabled"]},
            DeletionProtectionEnabled=wanted["DeletionProtectionEnabled"],
        )["TableDescription"]
        dynamodb.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 5})
    if table["KeySchema"] != wanted["KeySchema"]:
        raise SystemExit(f"table {name} exists with another key schema: {table['KeySchema']}")
    _ensure_indexes(dynamodb, table, sleep)
    if table.get("DeletionProtectionEnabled", False) != wanted["DeletionProtectionEnabled"]:
        dynamodb.update_table(TableName=name, DeletionProtectionEnabled=wanted["DeletionProtectionEnabled"])
    ttl = dynamodb.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
    if ttl.get("TimeToLiveStatus") not in {"ENABLED", "ENABLING"}:
        dynamodb.update_time_to_live(
            TableName=name, TimeToLiveSpecification=wanted["TimeToLiveSpecification"]
        )
    _ensure_point_in_time_recovery(dynamodb, name, sleep)
    return str(table["TableArn"])


def _ensure_point_in_time_recovery(dynamodb: Any, name: str, sleep: Callable[[float], None]) -> None:
    backups = dynamodb.describe_continuous_backups(TableName=name)["ContinuousBackupsDescription"]
    if backups.get("PointInTimeRecoveryDescription", {}).get("PointInTimeRecoveryStatus") == "ENABLED":
        return
    for _ in range(30):
        try:
            dynamodb.update_continuous_backups(
                TableName=name, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
            )
            return
        except dynamodb.exceptions.ContinuousBackupsUnavailableException:
            sleep(10)  # a new table takes a few minutes before backups can be turned on
    raise SystemExit(f"point-in-time recovery could not be enabled on {name} yet; run the deploy again")


def _ensure_indexes(dynamodb: Any, table: dict[str, Any], sleep: Callable[[float], None]) -> None:
    """A table made by an older version gets the global indexes added since (one at a time,
    as DynamoDB requires); a missing local index cannot be added to an existing table."""
    name = table["TableName"]
    have_local = {index["IndexName"] for index in table.get("LocalSecondaryIndexes", [])}
    missing_local = [
        i["IndexName"] for i in TABLE_DEFINITION["LocalSecondaryIndexes"] if i["IndexName"] not in have_local
    ]
    if missing_local:
        raise SystemExit(f"table {name} lacks local indexes {missing_local}: they exist only from creation")
    have_global = {index["IndexName"] for index in table.get("GlobalSecondaryIndexes", [])}
    for index in TABLE_DEFINITION["GlobalSecondaryIndexes"]:
        if index["IndexName"] in have_global:
            continue
        dynamodb.update_table(
            TableName=name,
            AttributeDefinitions=TABLE_DEFINITION["AttributeDefinitions"],
            GlobalSecondaryIndexUpdates=[{"Create": index}],
        )
        print(f"adding index {index['IndexName']} to {name} (DynamoDB backfills it; this can take a while)")
        _wait_until_indexes_are_active(dynamodb, name, sleep)


def _wait_until_indexes_are_active(dynamodb: Any, name: str, sleep: Callable[[float], None]) -> None:
    for _ in range(240):  # an hour
        indexes = dynamodb.describe_table(TableName=name)["Table"].get("GlobalSecondaryIndexes", [])
        if all(index["IndexStatus"] == "ACTIVE" for index in indexes):
            return
        sleep(15)
    raise SystemExit(f"the indexes of {name} are still being built; run the deploy again later")


def ensure_user_pool(cognito: Any, name: str, settings: dict[str, Any]) -> tuple[str, str]:
    """The user pool called `name`, created with `settings` if missing: (id, ARN)."""
    paginator = cognito.get_paginator("list_user_pools")
    for page in paginator.paginate(MaxResults=60):
        for pool in page["UserPools"]:
            if pool["Name"] == name:
                found = cognito.describe_user_pool(UserPoolId=pool["Id"])["UserPool"]
                return str(found["Id"]), str(found["Arn"])
    created = cognito.create_user_pool(PoolName=name, DeletionProtection="ACTIVE", **settings)
    pool_id = created["UserPool"]["Id"]
    cognito.set_user_pool_mfa_config(
        UserPoolId=pool_id, SoftwareTokenMfaConfiguration={"Enabled": True}, MfaConfiguration="OPTIONAL"
    )
    return str(pool_id), str(created["UserPool"]["Arn"])


def ensure_app_client(cognito: Any, pool_id: str, name: str) -> str:
    """The pool's app client called `name` (public: no secret), created if missing."""
    paginator = cognito.get_paginator("list_user_pool_clients")
    for page in paginator.paginate(UserPoolId=pool_id, MaxResults=60):
        for client in page["UserPoolClients"]:
            if client["ClientName"] == name:
                return str(client["ClientId"])
    created = cognito.create_user_pool_client(UserPoolId=pool_id, ClientName=name, **APP_CLIENT_SETTINGS)
    return str(created["UserPoolClient"]["ClientId"])


def ensure_log_groups(logs: Any, stage: str, days: int) -> list[str]:
    """The functions' log groups, made before Lambda makes them without an expiry.

    Chalice's own `log_retention_in_days` would name the API handler's group wrongly
    (`...-api_handler`; the function is `todo-api-STAGE`), so the groups are made here."""
    groups = [f"/aws/lambda/{names.function(stage, function)}" for function in FUNCTIONS.values()]
    for group in groups:
        with contextlib.suppress(logs.exceptions.ResourceAlreadyExistsException):
            logs.create_log_group(logGroupName=group)
        logs.put_retention_policy(logGroupName=group, retentionInDays=days)
    return groups


def bootstrap(session: Any, stage: Stage) -> StatefulResources:
    name = names.of(stage.name)
    # The table is the stage's TODO_TABLE, a deploy-time value: todo-api-STAGE as configured,
    # or a table `make restore` made, once the stage names it (found, checked, kept).
    table = stage.environment["TODO_TABLE"]
    dynamodb = session.create_client("dynamodb")
    cognito = session.create_client("cognito-idp")
    table_arn = ensure_table(dynamodb, table)
    pool_id, pool_arn = ensure_user_pool(cognito, name, user_pool_settings(stage))
    client_id = ensure_app_client(cognito, pool_id, name)
    ensure_log_groups(session.create_client("logs"), stage.name, stage.log_retention_days)
    runtime_settings.ensure(session.create_client("ssm"), stage.environment["TODO_SETTINGS_PATH"])
    return StatefulResources(table, table_arn, pool_id, pool_arn, client_id)

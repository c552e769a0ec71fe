"""The table, in CloudFormation's names (and DynamoDB's, which agree for these): the packaged
stack declares it and `make deploy`'s bootstrap creates it, from the same definition."""

from __future__ import annotations

from typing import Any

from chalicelib.schema import TABLE_DEFINITION, TIME_TO_LIVE
from infrastructure.stage import Stage


def table_properties(name: str) -> dict[str, Any]:
    """The table, in CloudFormation's names: the packaged stack declares exactly this and
    `make deploy`'s bootstrap (tools/deploy.py) creates and keeps a table to match it."""
    return {
        "TableName": name,
        **TABLE_DEFINITION,
        "TimeToLiveSpecification": TIME_TO_LIVE,
        "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
        "SSESpecification": {"SSEEnabled": True},
        "DeletionProtectionEnabled": True,
    }


def resources(stage: Stage) -> dict[str, Any]:
    """The stage's table (its TODO_TABLE), kept on delete and replace."""
    return {
        "Resources": {
            "TodoTable": {
                "Type": "AWS::DynamoDB::Table",
                "DeletionPolicy": "Retain",
                "UpdateReplacePolicy": "Retain",
                "Properties": table_properties(stage.environment["TODO_TABLE"]),
            },
        },
        "Outputs": {"TableName": {"Value": {"Ref": "TodoTable"}}},
    }

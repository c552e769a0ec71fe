"""The table, in CloudFormation's names (and DynamoDB's, which agree for these): the packaged
stack declares it and `make deploy`'s bootstrap creates it, from the same definition."""

from __future__ import annotations

from typing import Any

from chalicelib.schema import TABLE_DEFINITION, TIME_TO_LIVE


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

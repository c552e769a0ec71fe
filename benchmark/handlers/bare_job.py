"""The framework-less baseline of the purge job: its sixteen shard queries, nothing else."""

from __future__ import annotations

import os
from typing import Any

import boto3

_client: Any = None


def handler(event: dict[str, Any], context: Any) -> dict[str, int]:
    global _client
    if _client is None:
        _client = boto3.client("dynamodb")
    purged = 0
    for shard in range(16):
        found = _client.query(
            TableName=os.environ["TODO_TABLE"],
            IndexName="completed-by-time",
            KeyConditionExpression="purgeShard = :s AND completedAt < :c",
            ExpressionAttributeValues={":s": {"S": f"{shard:02d}"}, ":c": {"S": "2026-10-28T00:00:00.000Z"}},
            Limit=25,
        )
        purged += len(found["Items"])
    return {"purged": purged}

"""The one GetItem every baseline and peer makes, with a boto3 client built on first use."""

from __future__ import annotations

import os
from typing import Any

import boto3

_client: Any = None


def get_item(sub: str, todo_id: str) -> dict[str, str]:
    global _client
    if _client is None:
        _client = boto3.client("dynamodb")
    key = {"owner": {"S": sub}, "id": {"S": todo_id}}
    item = _client.get_item(TableName=os.environ["TODO_TABLE"], Key=key, ConsistentRead=True)["Item"]
    return {"id": item["id"]["S"], "title": item["title"]["S"]}

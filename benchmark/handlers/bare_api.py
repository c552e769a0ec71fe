"""The framework-less baseline of GET /todos/{todo_id}: the caller's sub from the
authorizer's claims, one GetItem, a JSON answer."""

from __future__ import annotations

import json
from typing import Any

from bench_get_item import get_item


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    sub = event["requestContext"]["authorizer"]["claims"]["sub"]
    body = get_item(sub, event["pathParameters"]["todo_id"])
    return {"statusCode": 200, "headers": {"Content-Type": "application/json"}, "body": json.dumps(body)}

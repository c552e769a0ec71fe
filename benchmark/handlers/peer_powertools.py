"""GET /todos/{todo_id} on Powertools for AWS Lambda's event handler, as its docs show."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver
from bench_get_item import get_item

app = APIGatewayRestResolver()


@app.get("/todos/<todo_id>")
def get_todo(todo_id: str) -> dict[str, str]:
    return get_item(app.current_event.request_context.authorizer.claims["sub"], todo_id)


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    response: dict[str, Any] = app.resolve(event, context)
    return response

"""The same on Powertools, with the observability the API has: a structured line per
request (Logger) and its metrics as EMF (Metrics), as Powertools' documentation shows them."""

from __future__ import annotations

import time
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.event_handler import APIGatewayRestResolver
from aws_lambda_powertools.metrics import MetricUnit
from bench_get_item import get_item

app = APIGatewayRestResolver()
logger = Logger(service="todo-api")
metrics = Metrics(namespace="todo-api", service="todo-api")


@app.get("/todos/<todo_id>")
def get_todo(todo_id: str) -> dict[str, str]:
    return get_item(app.current_event.request_context.authorizer.claims["sub"], todo_id)


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    started = time.perf_counter()
    response: dict[str, Any] = app.resolve(event, context)
    route = f"{event['httpMethod']} {event['resource']}"
    latency = (time.perf_counter() - started) * 1000
    metrics.add_dimension(name="Route", value=route)
    metrics.add_dimension(name="Status", value=str(response["statusCode"]))
    metrics.add_metric(name="Requests", unit=MetricUnit.Count, value=1)
    metrics.add_metric(name="Latency", unit=MetricUnit.Milliseconds, value=latency)
    metrics.flush_metrics()
    logger.info("request", extra={"route": route, "status": response["statusCode"], "latencyMs": latency})
    return response

"""Structured logs and CloudWatch metrics: one JSON line per request and per job run.

Each line is also a CloudWatch Embedded Metric Format document, so the metrics cost no
API call: Lambda's log pipeline extracts them. They are always written; the stage's log
level (`TODO_LOG_LEVEL`) governs diagnostics only (Chalice's `app.log`).
Lines carry a request id, the route, the status, the latency and a non-reversible
reference to the user; never a token, a title or any other content of a todo.
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Mapping
from typing import Any

NAMESPACE = "todo-api"


def write(line: str) -> None:
    """Write a request or job line, whatever the log level.

    These lines are records, not diagnostics: CloudWatch extracts the metrics in them,
    and the alarms watch those metrics, so a quieter log level must never drop one.
    Written to whatever sys.stdout is at the time (Lambda ships stdout to CloudWatch).
    """
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def user_ref(sub: str | None) -> str | None:
    """A stable pseudonym for a user: lines of one user can be followed, not named."""
    if not sub:
        return None
    return "u_" + hashlib.sha256(f"todo-api:{sub}".encode()).hexdigest()[:16]


def _emf(
    timestamp_ms: int, dimensions: Mapping[str, str], metrics: Mapping[str, tuple[float, str]]
) -> dict[str, Any]:
    return {
        "_aws": {
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [
                {
                    "Namespace": NAMESPACE,
                    "Dimensions": [list(dimensions)],
                    "Metrics": [{"Name": name, "Unit": unit} for name, (_, unit) in metrics.items()],
                }
            ],
        },
        **dimensions,
        **{name: value for name, (value, _) in metrics.items()},
    }


def request_line(
    *,
    timestamp_ms: int,
    request_id: str,
    route: str,
    status: int,
    latency_ms: float,
    user: str | None,
    created: int = 0,
    deleted: int = 0,
) -> str:
    metrics: dict[str, tuple[float, str]] = {
        "Requests": (1, "Count"),
        "Latency": (round(latency_ms, 3), "Milliseconds"),
    }
    if status >= 500:
        metrics["ServerErrors"] = (1, "Count")
    if created:
        metrics["TodosCreated"] = (created, "Count")
    if deleted:
        metrics["TodosDeleted"] = (deleted, "Count")
    document = {
        "level": "ERROR" if status >= 500 else "INFO",
        "type": "request",
        "requestId": request_id,
        "user": user,
        **_emf(timestamp_ms, {"Route": route, "Status": str(status)}, metrics),
    }
    return json.dumps(document, separators=(",", ":"))


def job_line(*, timestamp_ms: int, job: str, request_id: str, report: Mapping[str, Any]) -> str:
    # A run that stopped at its deadline or left contended items behind: the next run
    # catches up, but many in a row mean the job cannot keep up (an alarm watches this).
    behind = report.get("finished") is False or bool(report.get("left"))
    metrics = {
        "ItemsPurged": (float(report.get("purged", 0)), "Count"),
        "JobRuns": (1.0, "Count"),
        "RunsBehind": (float(behind), "Count"),
    }
    document = {
        "level": "INFO",
        "type": "job",
        "requestId": request_id,
        "report": dict(report),
        **_emf(timestamp_ms, {"Job": job}, metrics),
    }
    return json.dumps(document, separators=(",", ":"))

"""Structured logs and CloudWatch metrics: one JSON line per request and per job run.

Each line is also a CloudWatch Embedded Metric Format document, so the metrics cost no
API call: Lambda's log pipeline extracts them. They are always written; the stage's log
level (the `log-level` runtime setting) governs diagnostics only (Chalice's `app.log`).
Lines carry a request id, the route, the status, the latency, the function version that
served it (a release's alarms count its 5xx by it) and a non-reversible reference to the
user; never a token, a title or any other content of a todo.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
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


@functools.lru_cache(maxsize=1024)
def user_ref(sub: str | None) -> str | None:
    """A stable pseudonym for a user: lines of one user can be followed, not named.
    (Cached: a warm environment serves the same few users again and again.)"""
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


# Stand-ins for a request line's own values in its frame (json.dumps writes "\x00" as \u0000).
_FIELDS = ("\x00request", "\x00user", "\x00time")


# A write held by the read-only setting: a WARNING, never a ServerError (observability.py).
HELD_METRIC = "WritesHeld"


@functools.lru_cache(maxsize=512)
def _request_frame(
    route: str, status: int, metrics: tuple[tuple[str, str], ...], held: bool
) -> tuple[str, ...]:
    """A request line without its own values (request id, user, time, the metrics'
    values), cut where they go: made once per route, status and set of metrics, so a
    request encodes only its own values (the line was most of the log's cost per request)."""
    request_id, user, timestamp = (json.dumps(field) for field in _FIELDS)
    document = {
        "level": "WARNING" if held else "ERROR" if status >= 500 else "INFO",
        "type": "request",
        # Lambda's own variable: the published version an alias runs ($LATEST unqualified).
        "version": os.environ.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"),
        "requestId": _FIELDS[0],
        "user": _FIELDS[1],
        **_emf(0, {"Route": route, "Status": str(status)}, {name: (0, unit) for name, unit in metrics}),
    }
    document["_aws"]["Timestamp"] = _FIELDS[2]
    for name, _ in metrics:
        del document[name]  # their values follow the frame
    text = json.dumps(document, separators=(",", ":"))
    head, text = text.split(request_id)
    after_id, text = text.split(user)
    after_user, after_time = text.split(timestamp)
    return head, after_id, after_user, after_time[:-1]  # the closing brace comes after the values


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
    held: bool = False,
) -> str:
    values: list[tuple[str, str, float]] = [
        ("Requests", "Count", 1),
        ("Latency", "Milliseconds", round(latency_ms, 3)),
    ]
    if held:
        values.append((HELD_METRIC, "Count", 1))
    elif status >= 500:
        values.append(("ServerErrors", "Count", 1))
    if created:
        values.append(("TodosCreated", "Count", created))
    if deleted:
        values.append(("TodosDeleted", "Count", deleted))
    head, after_id, after_user, after_time = _request_frame(
        route, status, tuple((name, unit) for name, unit, _ in values), held
    )
    encode = json.encoder.encode_basestring_ascii  # what json.dumps uses for a str
    parts = [head, encode(request_id), after_id, "null" if user is None else encode(user), after_user]
    parts += [str(timestamp_ms), after_time]
    parts += [f',"{name}":{value!r}' for name, _, value in values]
    return "".join(parts) + "}"


def job_line(*, timestamp_ms: int, job: str, request_id: str, report: Mapping[str, Any]) -> str:
    # A run that stopped at its deadline or left contended items behind: the next run
    # catches up, but many in a row mean the job cannot keep up (an alarm watches this).
    behind = report.get("finished") is False or bool(report.get("left"))
    metrics = {
        # Todos deleted: by the purge (`purged`) or by bulk deletes finished (`deleted`).
        "ItemsDeleted": (float(report.get("purged", 0) + report.get("deleted", 0)), "Count"),
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

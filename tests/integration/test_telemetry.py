"""One structured log line per request and per job run, with EMF metrics, and no secrets."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from typing import Any

import pytest

import app as todo_app
from chalicelib import telemetry
from tests.support import sub_of

Auth = Callable[..., dict[str, str]]


def lines(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    return [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]


def test_each_request_logs_one_line_with_its_metrics(
    api: Any, auth: Auth, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    created = api.post("/todos", headers=auth(), body='{"title": "a"}').json_body
    api.delete(f"/todos/{created['id']}", headers=auth())
    api.get("/todos", headers={"Host": "h"})  # no token
    post, delete, anonymous = lines(capsys)
    assert post["type"] == "request"
    assert (post["Route"], post["Status"], post["Requests"], post["TodosCreated"]) == (
        "POST /todos",
        "201",
        1,
        1,
    )
    assert post["user"] == telemetry.user_ref(sub_of("alice"))
    assert post["Latency"] >= 0
    assert post["requestId"]
    assert (delete["Route"], delete["Status"], delete["TodosDeleted"]) == (
        "DELETE /todos/{todo_id}",
        "204",
        1,
    )
    assert (anonymous["Status"], anonymous["user"]) == ("401", None)
    emf = post["_aws"]["CloudWatchMetrics"][0]
    assert emf["Namespace"] == "todo-api"
    assert emf["Dimensions"] == [["Route", "Status"]]
    assert {m["Name"] for m in emf["Metrics"]} == {"Requests", "Latency", "TodosCreated"}
    for metric in emf["Metrics"]:  # EMF: every declared metric is a number in the document
        assert isinstance(post[metric["Name"]], int | float)


def test_logs_never_carry_tokens_titles_or_user_ids(
    api: Any, auth: Auth, capsys: pytest.CaptureFixture[str]
) -> None:
    secret = "Pick up the SECRET-parcel-77"
    headers = auth()
    created = api.post("/todos", headers=headers, body=json.dumps({"title": secret})).json_body
    api.patch(f"/todos/{created['id']}", headers=headers, body=json.dumps({"title": secret + "!"}))
    api.post("/todos", headers=headers, body=json.dumps({"title": secret * 40}))  # 400
    api.post("/todos", headers=headers, body=json.dumps({"title": secret, "bogus": secret}))  # 400
    api.get("/todos", headers=headers)
    captured = capsys.readouterr()
    everything = captured.out + captured.err
    assert "SECRET-parcel" not in everything
    assert headers["Authorization"] not in everything
    assert headers["Authorization"].split(".")[1] not in everything
    assert sub_of("alice") not in everything
    assert everything.count('"type":"request"') == 5


def test_user_refs_are_stable_pseudonyms() -> None:
    sub = sub_of("alice")
    ref = telemetry.user_ref(sub)
    assert ref == telemetry.user_ref(sub) != telemetry.user_ref(sub_of("bob"))
    assert ref is not None
    assert re.fullmatch(r"u_[0-9a-f]{16}", ref)
    assert telemetry.user_ref(None) is None


@pytest.mark.parametrize("level", ["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"])
def test_every_metric_is_written_whatever_the_log_level(
    api: Any,
    auth: Auth,
    capsys: pytest.CaptureFixture[str],
    setting: Any,
    run_job: Any,
    level: str,
) -> None:
    # The alarms watch metrics that live in the request and job lines: a quieter level
    # (the log-level runtime setting) silences diagnostics (Chalice's app.log), never a metric.
    setting("log-level", level)
    capsys.readouterr()
    created = api.post("/todos", headers=auth(), body='{"title": "a"}')
    assert created.status_code == 201
    assert api.get("/todos", headers={"Host": "h"}).status_code == 401
    assert todo_app.app.log.getEffectiveLevel() == getattr(logging, level)
    run_job("purge_completed")
    post, anonymous, job = lines(capsys)
    assert (post["Status"], post["TodosCreated"], post["Requests"]) == ("201", 1, 1)
    assert (anonymous["Status"], anonymous["Requests"]) == ("401", 1)
    assert (job["type"], job["JobRuns"], job["RunsBehind"]) == ("job", 1, 0)
    assert todo_app.app.log.getEffectiveLevel() == getattr(logging, level)


@pytest.mark.parametrize(
    ("status", "user", "created", "deleted", "held"),
    [(200, "u_1", 0, 0, False), (201, None, 1, 0, False), (204, "u_2", 0, 7, False),
     (503, "u_1", 0, 0, False), (503, "u_1", 0, 0, True)],
)  # fmt: skip
def test_a_request_line_is_the_documented_json_document_whatever_its_frame(
    status: int, user: str | None, created: int, deleted: int, held: bool
) -> None:
    # Lines are assembled from a frame made once per route, status and metrics (for speed):
    # each must still be exactly the EMF document, values escaped as JSON escapes them.
    request_id = 'id-"quoted"\\é\u2028'
    line = telemetry.request_line(
        timestamp_ms=1_796_000_000_123, request_id=request_id, route="GET /todos/{todo_id}",
        status=status, latency_ms=2.71828, user=user, created=created, deleted=deleted, held=held,
    )  # fmt: skip
    metrics = [("Requests", "Count", 1), ("Latency", "Milliseconds", 2.718)]
    metrics += [("WritesHeld", "Count", 1)] if held else []
    metrics += [("ServerErrors", "Count", 1)] if status >= 500 and not held else []
    metrics += [("TodosCreated", "Count", created)] if created else []
    metrics += [("TodosDeleted", "Count", deleted)] if deleted else []
    expected = {
        "level": "WARNING" if held else "ERROR" if status >= 500 else "INFO",
        "type": "request",
        "version": "$LATEST",  # no AWS_LAMBDA_FUNCTION_VERSION here: the unqualified function's
        "requestId": request_id,
        "user": user,
        "_aws": {
            "Timestamp": 1_796_000_000_123,
            "CloudWatchMetrics": [
                {
                    "Namespace": "todo-api",
                    "Dimensions": [["Route", "Status"]],
                    "Metrics": [{"Name": name, "Unit": unit} for name, unit, _ in metrics],
                }
            ],
        },
        "Route": "GET /todos/{todo_id}",
        "Status": str(status),
        **{name: value for name, _, value in metrics},
    }
    assert line == json.dumps(expected, separators=(",", ":"))
    assert "\n" not in line
    # The same frame again (cached), with other values: nothing of the first line stays.
    again = telemetry.request_line(
        timestamp_ms=5, request_id="other", route="GET /todos/{todo_id}", status=status,
        latency_ms=1.0, user=None, created=created, deleted=deleted, held=held,
    )  # fmt: skip
    assert json.loads(again) == {**expected, "requestId": "other", "user": None, "Latency": 1.0,
                                 "_aws": {**expected["_aws"], "Timestamp": 5}}  # fmt: skip

"""The runtime settings as the app serves them, from (moto's) Parameter Store: the
read-only switch, a bad value, a failed read. (The cache's timing: tests/unit/test_settings.py;
the switch flipped on a running `make run`: tests/e2e/test_local_operations.py.)"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import EndpointConnectionError, ReadTimeoutError

import app as todo_app
from chalicelib.errors import RETRY_AFTER_SECONDS
from chalicelib.settings import DEFAULTS
from tests.faults import answering, error, raise_
from tests.support import path_of, todo_items

Auth = Callable[..., dict[str, str]]


def test_read_only_refuses_every_write_with_a_503_and_keeps_the_reads(
    api: Any, auth: Auth, dynamodb: Any, setting: Any, run_job: Any
) -> None:
    todo = api.post("/todos", headers=auth(), body='{"title": "a"}').json_body
    path = path_of(todo["url"])
    setting("read-only", "true")
    stored = todo_items(dynamodb)
    writes = [
        api.post("/todos", headers=auth(), body='{"title": "b"}'),
        api.patch(path, headers=auth(), body='{"completed": true}'),
        api.delete(path, headers=auth()),
        api.delete("/todos", headers=auth()),
    ]
    for refused in writes:
        assert refused.status_code == 503
        assert refused.json_body["Code"] == "ServiceUnavailable"
        assert "read-only" in refused.json_body["Message"]
        assert refused.headers["Retry-After"] == str(RETRY_AFTER_SECONDS)
    assert todo_items(dynamodb) == stored  # nothing written
    assert api.get(path, headers=auth()).status_code == 200
    assert [t["title"] for t in api.get("/todos", headers=auth()).json_body] == ["a"]
    # Who asks is still checked first: no token is a 401, read-only or not.
    assert api.post("/todos", headers={"Host": "h"}, body="{}").status_code == 401
    # The jobs delete nothing meanwhile, and say why.
    assert run_job("finish_clears") == {"readOnly": True}
    setting("read-only", "false")
    assert api.post("/todos", headers=auth(), body='{"title": "b"}').status_code == 201


def test_a_held_write_is_a_warning_counted_as_held_never_a_server_error(
    api: Any, auth: Auth, setting: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    """The read-only lever's 503s are answers the operator chose: deployed, a line at ERROR
    with ServerErrors would set off the 5xx alarm the lever is meant to calm."""
    setting("read-only", "true")
    capsys.readouterr()
    for _ in range(200):
        assert api.post("/todos", headers=auth(), body='{"title": "b"}').status_code == 503
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert len(lines) == 200
    assert {line["level"] for line in lines} == {"WARNING"}
    assert sum(line["WritesHeld"] for line in lines) == 200
    assert not any("ServerErrors" in line for line in lines)
    declared = {m["Name"] for line in lines for m in line["_aws"]["CloudWatchMetrics"][0]["Metrics"]}
    assert declared == {"Requests", "Latency", "WritesHeld"}


def test_a_bad_value_is_never_a_500_and_keeps_the_last_good_one(
    api: Any, auth: Auth, setting: Any, caplog: pytest.LogCaptureFixture
) -> None:
    setting("max-todos", "1")
    assert api.post("/todos", headers=auth(), body='{"title": "a"}').status_code == 201
    setting("max-todos", "one")  # refused when read: the last good value, 1, holds
    refused = api.post("/todos", headers=auth(), body='{"title": "b"}')
    assert (refused.status_code, refused.json_body["Code"]) == (409, "TodoLimitReached")
    assert any("runtime setting max-todos: 'one' must be a whole number" in m for m in caplog.messages)


@pytest.mark.parametrize(
    "fault",
    [error(400, "ThrottlingException"), error(500, "InternalServerError"),
     error(400, "AccessDeniedException"), raise_(ReadTimeoutError), raise_(EndpointConnectionError)],
    ids=["throttled", "server-error", "denied", "read-timeout", "connection-refused"],
)  # fmt: skip
def test_a_failed_read_serves_the_last_values(
    api: Any, auth: Auth, setting: Any, caplog: pytest.LogCaptureFixture, fault: Any
) -> None:
    setting("read-only", "true")
    assert api.post("/todos", headers=auth(), body='{"title": "a"}').status_code == 503
    # Parameter Store refuses the next reads (the SDK is told to try once: no retry storm).
    hook, seen = answering(fault, 3)
    todo_app.ssm_client().meta.events.register_first("before-send.ssm.GetParametersByPath", hook)
    assert api.post("/todos", headers=auth(), body='{"title": "a"}').status_code == 503
    assert api.get("/todos", headers=auth()).status_code == 200
    assert todo_app.runtime_settings().current() != DEFAULTS
    assert seen == [3]  # three reads, one attempt each
    assert sum("runtime settings not read (" in line for line in caplog.messages) == 3

"""DynamoDB calls as X-Ray subsegments, sent to the daemon Lambda runs (here, a UDP socket
on loopback standing in for it), only for sampled invocations."""

from __future__ import annotations

import json
import socket
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import app as todo_app
from chalicelib import tracing

Auth = Callable[..., dict[str, str]]
TRACE = "1-5759e988-bd862e3fe1be46a994272793"
PARENT = "53995c3f42cd8ad8"


@pytest.fixture
def daemon(monkeypatch: pytest.MonkeyPatch) -> Iterator[socket.socket]:
    """The X-Ray daemon's UDP port, on loopback; set before the app builds its client."""
    sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sink.bind(("127.0.0.1", 0))
    sink.settimeout(0.5)
    monkeypatch.setenv("AWS_XRAY_DAEMON_ADDRESS", f"127.0.0.1:{sink.getsockname()[1]}")
    try:
        yield sink
    finally:
        sink.close()


def received(sink: socket.socket) -> list[dict[str, Any]]:
    documents = []
    while True:
        try:
            packet = sink.recv(65536)
        except TimeoutError:
            return documents
        header, _, body = packet.partition(b"\n")
        assert json.loads(header) == {"format": "json", "version": 1}  # the daemon's protocol
        documents.append(json.loads(body))


def test_each_dynamodb_call_of_a_sampled_invocation_is_a_subsegment(
    daemon: socket.socket, api: Any, auth: Auth, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("_X_AMZN_TRACE_ID", f"Root={TRACE};Parent={PARENT};Sampled=1;Lineage=a:1")
    todo = api.post("/todos", headers=auth(), body='{"title": "traced"}').json_body
    api.get(f"/todos/{todo['id']}", headers=auth())
    stale = api.patch(f"/todos/{todo['id']}", headers=auth(**{"If-Match": '"7"'}), body='{"completed": true}')
    assert stale.status_code == 412
    put, get, update = received(daemon)
    for document, operation in ((put, "TransactWriteItems"), (get, "GetItem"), (update, "UpdateItem")):
        assert (document["name"], document["namespace"], document["type"]) == (
            "DynamoDB",
            "aws",
            "subsegment",
        )
        assert (document["trace_id"], document["parent_id"]) == (TRACE, PARENT)
        assert document["aws"]["operation"] == operation
        assert document["aws"]["table_name"] == "todo-api-dev"
        assert document["aws"]["region"] == "us-east-1"
        assert document["start_time"] <= document["end_time"]
        assert len(document["id"]) == 16
    assert put["http"]["response"]["status"] == 200
    assert "error" not in put
    assert "fault" not in put
    # The failed condition is the caller's error (400), not a fault of the service.
    assert update["http"]["response"]["status"] == 400
    assert update["error"] is True
    assert "fault" not in update
    assert len({put["id"], get["id"], update["id"]}) == 3


@pytest.mark.parametrize(
    "header", [None, f"Root={TRACE};Parent={PARENT};Sampled=0", f"Root={TRACE};Sampled=1"]
)
def test_nothing_is_sent_unless_the_invocation_is_sampled(
    daemon: socket.socket, api: Any, auth: Auth, monkeypatch: pytest.MonkeyPatch, header: str | None
) -> None:
    if header is not None:
        monkeypatch.setenv("_X_AMZN_TRACE_ID", header)
    assert api.post("/todos", headers=auth(), body='{"title": "untraced"}').status_code == 201
    assert received(daemon) == []


def test_the_client_is_traced_only_if_built_where_a_daemon_is(
    api: Any, auth: Auth, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Built without a daemon address (as outside Lambda): a daemon appearing later gets nothing.
    api.post("/todos", headers=auth(), body='{"title": "before"}')
    sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sink.bind(("127.0.0.1", 0))
        sink.settimeout(0.5)
        monkeypatch.setenv("AWS_XRAY_DAEMON_ADDRESS", f"127.0.0.1:{sink.getsockname()[1]}")
        monkeypatch.setenv("_X_AMZN_TRACE_ID", f"Root={TRACE};Parent={PARENT};Sampled=1")
        assert api.post("/todos", headers=auth(), body='{"title": "after"}').status_code == 201
        assert received(sink) == []
    finally:
        sink.close()


@pytest.mark.no_moto
def test_nothing_is_sent_on_the_local_backend(
    daemon: socket.socket, lambda_backend: tuple[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, _ = lambda_backend
    monkeypatch.setenv("TODO_LOCAL_BACKEND", url)
    monkeypatch.setenv(
        "TODO_USER_POOL_ARN", "arn:aws:cognito-idp:us-east-1:123456789012:userpool/us-east-1_x"
    )
    monkeypatch.setenv("_X_AMZN_TRACE_ID", f"Root={TRACE};Parent={PARENT};Sampled=1")
    todo_app.dynamodb_client.cache_clear()
    try:
        client = todo_app.dynamodb_client()
        client.get_item(TableName="todo-api-dev", Key={"owner": {"S": "o"}, "id": {"S": "i"}})
        assert received(daemon) == []
    finally:
        todo_app.dynamodb_client.cache_clear()


def test_the_document_marks_throttles_and_faults_as_the_sdks_do() -> None:
    trace = (TRACE, PARENT)
    common = {"trace": trace, "operation": "Query", "table": "t", "region": "eu-west-1",
              "started": 1.0, "ended": 2.0, "request_id": "r", "retries": 2}  # fmt: skip
    throttled = tracing.subsegment(status=400, error_code="ProvisionedThroughputExceededException", **common)
    assert (throttled["throttle"], throttled["error"]) == (True, True)
    assert tracing.subsegment(status=500, **common)["fault"] is True
    assert tracing.subsegment(status=None, **common)["fault"] is True  # no response at all
    assert tracing.subsegment(status=200, **common)["aws"]["retries"] == 2

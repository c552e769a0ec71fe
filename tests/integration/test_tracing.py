"""DynamoDB calls as X-Ray subsegments, sent to the daemon Lambda runs (here, a UDP socket
on loopback standing in for it), only for sampled invocations."""

from __future__ import annotations

import json
import socket
from collections.abc import Callable, Iterator
from typing import Any

import pytest

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
    assert stale.status_code == 412  # found from the read: nothing written
    documents = received(daemon)
    # The create: its read of the counter, then its transaction; the read; the stale change's read.
    operations = ["BatchGetItem", "TransactWriteItems", "GetItem", "BatchGetItem"]
    assert [d["aws"]["operation"] for d in documents] == operations
    for document in documents:
        assert (document["name"], document["namespace"], document["type"]) == (
            "DynamoDB",
            "aws",
            "subsegment",
        )
        assert (document["trace_id"], document["parent_id"]) == (TRACE, PARENT)
        assert document["aws"]["table_name"] == "todo-api-dev"
        assert document["aws"]["region"] == "us-east-1"
        assert document["start_time"] <= document["end_time"]
        assert len(document["id"]) == 16
        assert document["http"]["response"]["status"] == 200
        assert "error" not in document
        assert "fault" not in document
    assert len({d["id"] for d in documents}) == len(documents)


def test_a_failed_condition_is_the_callers_error_not_a_fault(
    daemon: socket.socket, api: Any, auth: Auth, setting: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A create past the per-user limit: the transaction's count condition fails (a 400).
    setting("max-todos", "1")
    assert api.post("/todos", headers=auth(), body='{"title": "the one"}').status_code == 201
    monkeypatch.setenv("_X_AMZN_TRACE_ID", f"Root={TRACE};Parent={PARENT};Sampled=1;Lineage=a:1")
    assert api.post("/todos", headers=auth(), body='{"title": "one too many"}').status_code == 409
    *_, refused = received(daemon)
    assert refused["aws"]["operation"] == "TransactWriteItems"
    assert refused["http"]["response"]["status"] == 400
    assert refused["error"] is True
    assert "fault" not in refused


def test_the_document_marks_throttles_and_faults_as_the_sdks_do() -> None:
    trace = (TRACE, PARENT)
    common = {"trace": trace, "operation": "Query", "table": "t", "region": "eu-west-1",
              "started": 1.0, "ended": 2.0, "request_id": "r", "retries": 2}  # fmt: skip
    throttled = tracing.subsegment(status=400, error_code="ProvisionedThroughputExceededException", **common)
    assert (throttled["throttle"], throttled["error"]) == (True, True)
    assert tracing.subsegment(status=500, **common)["fault"] is True
    assert tracing.subsegment(status=None, **common)["fault"] is True  # no response at all
    assert tracing.subsegment(status=200, **common)["aws"]["retries"] == 2

"""DynamoDB calls as subsegments of the function's X-Ray trace, sent straight to the daemon.

Lambda runs an X-Ray daemon beside a traced function and gives each invocation its trace
header (`_X_AMZN_TRACE_ID`: the trace, the function segment's id, the sampling decision);
a subsegment is a JSON document sent over UDP to `AWS_XRAY_DAEMON_ADDRESS` with that
trace and parent, as AWS's X-Ray SDKs send them (X-Ray Developer Guide, "Sending segment
documents to the X-Ray daemon"). Named `DynamoDB` in the `aws` namespace, with the
operation and table, the service map shows the table and which operation is slow.

Chosen over the X-Ray SDK (a third-party dependency in the zip, in maintenance since
2026-02-25) and the OpenTelemetry layer (hundreds of milliseconds of cold start): two
botocore event hooks and one UDP socket (BENCHMARKS.md has what they cost). Nothing is
sent when the invocation is not sampled, when tracing is off (no trace header) or outside
Lambda (no daemon address), and a send never fails a request.
"""

from __future__ import annotations

import atexit
import json
import os
import secrets
import socket
import time
from typing import Any

HEADER = b'{"format": "json", "version": 1}\n'
_socket: socket.socket | None = None  # one per process, made on the first send
# DynamoDB's answers that mean "slow down" (the SDKs mark them throttle, not fault).
_THROTTLES = frozenset(
    {"ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded"}
)


def _trace(header: str | None) -> tuple[str, str] | None:
    """(trace id, parent id) of a sampled invocation's trace header, else None."""
    if not header:
        return None
    fields = dict(part.split("=", 1) for part in header.split(";") if "=" in part)
    if fields.get("Sampled") != "1" or "Root" not in fields or "Parent" not in fields:
        return None
    return fields["Root"], fields["Parent"]


def subsegment(
    *,
    trace: tuple[str, str],
    operation: str,
    table: str | None,
    region: str,
    started: float,
    ended: float,
    status: int | None,
    request_id: str | None,
    retries: int,
    error_code: str | None = None,
) -> dict[str, Any]:
    """The subsegment document of one DynamoDB call, as the X-Ray SDKs write it."""
    document: dict[str, Any] = {
        "name": "DynamoDB",
        "id": secrets.token_hex(8),
        "trace_id": trace[0],
        "parent_id": trace[1],
        "start_time": started,
        "end_time": ended,
        "type": "subsegment",
        "namespace": "aws",
        "aws": {"operation": operation, "region": region, "request_id": request_id, "retries": retries},
    }
    if table is not None:
        document["aws"]["table_name"] = table
    if status is not None:
        document["http"] = {"response": {"status": status}}
    if error_code in _THROTTLES or status == 429:
        document["throttle"] = document["error"] = True
    elif status is None or status >= 500:
        document["fault"] = True
    elif status >= 400:
        document["error"] = True
    return document


class Tracer:
    """botocore hooks for one client: time each call, send its subsegment if sampled."""

    def __init__(self, daemon: str, region: str) -> None:
        host, _, port = daemon.rpartition(":")
        self._address = (host, int(port))
        self._region = region

    def register(self, events: Any) -> None:
        events.register("provide-client-params.dynamodb", self._table)
        events.register("before-call.dynamodb", self._before)
        events.register("after-call.dynamodb", self._after)
        events.register("after-call-error.dynamodb", self._failed)

    @staticmethod
    def _table(params: Any, context: Any, **_: Any) -> None:
        """The request's table, for its subsegment (the request as the caller gave it)."""
        if not isinstance(params, dict):
            return
        if isinstance(params.get("TableName"), str):
            context["xray_table"] = params["TableName"]
        elif isinstance(params.get("TransactItems"), list):  # each item names its table
            tables = {body.get("TableName") for item in params["TransactItems"] for body in item.values()}
            if len(tables) == 1:
                context["xray_table"] = tables.pop()
        elif isinstance(params.get("RequestItems"), dict) and len(params["RequestItems"]) == 1:
            context["xray_table"] = next(iter(params["RequestItems"]))  # a batch of one table's

    @staticmethod
    def _before(model: Any, context: Any, **_: Any) -> None:
        trace = _trace(os.environ.get("_X_AMZN_TRACE_ID"))
        if trace is not None:
            context["xray"] = (trace, model.name, time.time())

    def _after(self, http_response: Any, parsed: Any, context: Any, **_: Any) -> None:
        metadata = parsed.get("ResponseMetadata", {})
        self._finish(
            context,
            status=getattr(http_response, "status_code", None),
            request_id=metadata.get("RequestId"),
            retries=int(metadata.get("RetryAttempts", 0)),
            error_code=parsed.get("Error", {}).get("Code"),
        )

    def _failed(self, context: Any, **_: Any) -> None:
        """A call that got no response at all (the connection failed): a fault."""
        self._finish(context, status=None, request_id=None, retries=0, error_code=None)

    def _finish(
        self,
        context: Any,
        *,
        status: int | None,
        request_id: str | None,
        retries: int,
        error_code: str | None,
    ) -> None:
        if "xray" not in context:
            return  # not sampled
        trace, operation, started = context.pop("xray")
        self._send(
            subsegment(
                trace=trace,
                operation=operation,
                table=context.get("xray_table"),
                region=self._region,
                started=started,
                ended=time.time(),
                status=status,
                request_id=request_id,
                retries=retries,
                error_code=error_code,
            )
        )

    def _send(self, document: dict[str, Any]) -> None:
        global _socket
        try:
            if _socket is None:
                _socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                atexit.register(_socket.close)
            _socket.sendto(HEADER + json.dumps(document, separators=(",", ":")).encode(), self._address)
        except OSError:
            pass  # tracing is best effort: never the request's failure

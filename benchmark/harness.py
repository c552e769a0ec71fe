"""What `make bench` and `make tune` measure with: a loopback DynamoDB with canned answers, the
dev stage's zip unpacked as Lambda unpacks it, the events a function is handed, a fresh
process per measurement (the programs in benchmark/children/, run by the measured
interpreter), and the README section each run writes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from infrastructure import names
from infrastructure.events import scheduled_event
from infrastructure.package import package

CHILDREN = Path(__file__).with_name("children")
TABLE = names.of("dev")
TODO_ID = "01ARYZ6S41TSV4RRFFQ69G5FAV"
SUB = "6f1c0d52-3c4e-4f0a-9a53-5c1f3d1e9b21"
ITEM = {
    "owner": {"S": SUB},
    "id": {"S": TODO_ID},
    "title": {"S": "buy milk"},
    "completed": {"BOOL": False},
    "order": {"N": "1"},
    "createdAt": {"S": "2026-11-27T12:00:00.000Z"},
    "updatedAt": {"S": "2026-11-27T12:00:00.000Z"},
    "version": {"N": "1"},
    "openId": {"S": TODO_ID},
}
CANNED = {
    "DynamoDB_20120810.GetItem": {"Item": ITEM},
    "DynamoDB_20120810.Query": {"Items": [], "Count": 0, "ScannedCount": 0},
}

# The API Gateway proxy event for GET /todos/{id}, as the Cognito authorizer passes it on.
EVENT: dict[str, Any] = {
    "resource": "/todos/{todo_id}",
    "path": f"/todos/{TODO_ID}",
    "httpMethod": "GET",
    "headers": {"Host": "abc.execute-api.us-east-1.amazonaws.com", "X-Forwarded-Proto": "https"},
    "multiValueQueryStringParameters": None,
    "pathParameters": {"todo_id": TODO_ID},
    "stageVariables": None,
    "requestContext": {
        "resourcePath": "/todos/{todo_id}",
        "httpMethod": "GET",
        "path": f"/dev/todos/{TODO_ID}",
        "stage": "dev",
        "authorizer": {"claims": {"sub": SUB, "cognito:username": "alice"}},
    },
    "body": None,
    "isBase64Encoded": False,
}
SCHEDULED = scheduled_event("purge_completed", when=datetime(2026, 11, 27, 12, tzinfo=UTC))


def _canned_handler(canned: dict[str, Any]) -> type[BaseHTTPRequestHandler]:
    class Canned(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body leave in separate writes: without this, Nagle's algorithm and the
        # client's delayed ACK add ~40 ms to every request, drowning what we measure.
        disable_nagle_algorithm = True

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            body = json.dumps(canned.get(self.headers.get("X-Amz-Target", ""), {})).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/x-amz-json-1.0")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("x-amzn-RequestId", "bench")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    return Canned


@contextmanager
def canned_dynamodb(canned: dict[str, Any] = CANNED) -> Iterator[str]:
    """A loopback DynamoDB that answers each operation (X-Amz-Target) with `canned`'s
    response, or `{}`: the SDK's full cost, none of a database's."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _canned_handler(canned))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def unpacked(work: Path, *, bytecode: bool = True) -> Path:
    """The dev stage's zip as `make package` builds it, unpacked as Lambda unpacks it."""
    out = package("dev", work / "package", bytecode=bytecode)
    task = work / "task"
    with zipfile.ZipFile(out / "deployment.zip") as archive:
        archive.extractall(task)
    return task


# Every timed process runs on this interpreter: `make bench` gives .venv-bench's (the same
# Python, with the peers installed beside the same boto3 and botocore).
PYTHON = sys.executable


def run_child(child: str, task: Path, endpoint: str, **extra: str) -> dict[str, Any]:
    """Run benchmark/children/`child`.py in a fresh process of PYTHON, with `task` (an unpacked
    zip) to import from and DynamoDB at `endpoint`; its last line of output, as JSON."""
    env = {
        "PATH": os.environ.get("PATH", ""),
        "BENCH_TASK": str(task),
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_EC2_METADATA_DISABLED": "true",
        "TODO_TABLE": TABLE,
        "TODO_KEEP_COMPLETED_DAYS": "30",
        # As deployed: the runtime settings are read from Parameter Store (at a random moment
        # of each environment's first minute, so rarely within a measured cold start).
        "TODO_SETTINGS_PATH": f"/{names.APP}/bench",
        "AWS_LAMBDA_FUNCTION_NAME": names.of("bench"),  # as in Lambda: API Gateway verified the token
        "PYTHONDONTWRITEBYTECODE": "1",  # like Lambda's read-only /var/task: no caching between runs
        **extra,
    }
    result = subprocess.run(  # noqa: S603 - our own interpreter and script
        [PYTHON, str(CHILDREN / f"{child}.py")],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    measured: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return measured


def write_section(path: Path, markers: tuple[str, str], text: str) -> None:
    """Put `text` between `markers` in `path` (at the end, if they are not there yet): the
    rest of the file is prose kept by hand."""
    current = path.read_text() if path.exists() else ""
    if markers[0] not in current:
        current = f"{current.rstrip()}\n\n{markers[0]}\n{markers[1]}\n"
    head, _, rest = current.partition(markers[0])
    _, _, tail = rest.partition(markers[1])
    path.write_text(f"{head}{markers[0]}\n{text}\n{markers[1]}{tail}")

"""One fresh process for `make tune`: CPU time of the import and the first request (the cold
start), then of each kind of request (BENCH_EVENTS: name -> event), called in turn BENCH_WARM
times, and the bytes each writes to the log."""

import io
import json
import os
import sys
import time

from lambda_context import Context

t0 = time.process_time()
sys.path.insert(0, os.environ["BENCH_TASK"])
from app import app  # noqa: E402 - from the task directory just put on the path

events = json.loads(os.environ["BENCH_EVENTS"])
first = app(events["GET /todos/{id}"], Context())
cold = time.process_time() - t0
spent = dict.fromkeys(events, 0.0)
log_bytes, status = {}, {"cold": first["statusCode"]}
for name, event in events.items():
    real, sys.stdout = sys.stdout, io.StringIO()
    status[name] = app(event, Context())["statusCode"]
    log_bytes[name] = len(sys.stdout.getvalue().encode())
    sys.stdout = real
calls = int(os.environ["BENCH_WARM"])
for _ in range(calls):
    for name, event in events.items():
        c0 = time.process_time()
        app(event, Context())
        spent[name] += time.process_time() - c0
print(
    json.dumps(
        {
            "cold_ms": cold * 1000,
            "status": status,
            "log_bytes": log_bytes,
            "warm_ms": {name: s / calls * 1000 for name, s in spent.items()},
        }
    )
)

"""A cold start, as Lambda makes one: import the handler's module, then invoke it once. Time runs
from before the import to after the first response; the interpreter's own start-up is the same
for every variant and not counted. The handler is BENCH_HANDLER (`module:attribute.path`, a path
step may be a key of a mapping), imported from BENCH_TASK; the event is BENCH_EVENT."""

import importlib
import json
import os
import resource
import sys
import time
from typing import Any

from lambda_context import Context

module, _, path = os.environ["BENCH_HANDLER"].partition(":")
t0 = time.perf_counter()
sys.path.insert(0, os.environ["BENCH_TASK"])
handler: Any = importlib.import_module(module)
for step in path.split("."):
    handler = handler[step] if isinstance(handler, dict) else getattr(handler, step)
response = handler(json.loads(os.environ["BENCH_EVENT"]), Context())
t1 = time.perf_counter()
print(
    json.dumps(
        {
            "cold_ms": (t1 - t0) * 1000,
            "maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
            "response": response,
        }
    )
)

"""Warm calls: every handler in one fresh process, called in turn (a new order each round), CPU
time summed per handler, so that whatever slows this process down slows all alike. The API from
BENCH_TASK, the others (BENCH_HANDLERS: name -> module) from BENCH_BARE; BENCH_WARM calls each."""

import importlib
import json
import os
import random
import sys
import time

from lambda_context import Context

sys.path.insert(0, os.environ["BENCH_TASK"])
sys.path.insert(0, os.environ["BENCH_BARE"])
from app import app

event = json.loads(os.environ["BENCH_EVENT"])
handlers = {"api": app}
for name, module in json.loads(os.environ["BENCH_HANDLERS"]).items():
    handlers[name] = importlib.import_module(module).handler
spent = dict.fromkeys(handlers, 0.0)
for name, handler in handlers.items():
    response = handler(event, Context())
    assert response["statusCode"] == 200, (name, response)
calls = int(os.environ["BENCH_WARM"])
order = list(handlers)
for _ in range(calls):
    random.shuffle(order)
    for name in order:
        c0 = time.process_time()
        handlers[name](event, Context())
        spent[name] += time.process_time() - c0
print(json.dumps({name: seconds / calls * 1e6 for name, seconds in spent.items()}))

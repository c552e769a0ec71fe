"""The stack's functions, from the app's inventory (infrastructure/inventory.py): the API
handler and one function per `@app.schedule`. Their names: infrastructure/names.py."""

from __future__ import annotations

from infrastructure import inventory

# Logical id (as Chalice's template names it) -> the function's name in app.py.
SCHEDULED_JOBS = dict(inventory.read().jobs)
FUNCTIONS = inventory.read().functions
# The functions whose failed asynchronous runs Lambda sends to the stage's failure queue.
FAILURE_QUEUED = frozenset(SCHEDULED_JOBS.values())

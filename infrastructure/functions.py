"""The stack's functions, from the app's inventory (infrastructure/inventory.py): the API
handler and one function per `@app.schedule`, with the names both deploy routes give them."""

from __future__ import annotations

from infrastructure import inventory

# Logical id (as Chalice's template names it) -> the function's name in app.py.
SCHEDULED_JOBS = dict(inventory.read().jobs)
FUNCTIONS = inventory.read().functions
# Where Lambda sends a function's failed asynchronous invocations (a queue of this stack).
FAILURE_QUEUE = dict.fromkeys(SCHEDULED_JOBS.values(), "todo-api-{stage}-job-failures")


def function_name(stage: str, function: str) -> str:
    """A function's name, as `chalice deploy` names it and the packaged stack too: the API
    handler is plain APP-STAGE. Fixed names let each role name its own log group exactly."""
    return f"todo-api-{stage}" if function == "api_handler" else f"todo-api-{stage}-{function}"

"""The stack's functions, read from app.py: the API handler, and one function per
`@app.schedule` (Chalice makes each its own Lambda, named as the schedule's `name`), so a
new scheduled job cannot be left out of the names, roles, log groups, alarms and
dashboard built from this inventory. Importing the app builds nothing and reads no
credentials (app.py composes lazily)."""

from __future__ import annotations

from chalice.utils import to_cfn_resource_name


def _scheduled_jobs() -> dict[str, str]:
    from app import app

    return {to_cfn_resource_name(source.name): source.name for source in app.event_sources}


# Logical id (as Chalice's template names it) -> the function's name in app.py.
SCHEDULED_JOBS = _scheduled_jobs()
FUNCTIONS = {"APIHandler": "api_handler", **SCHEDULED_JOBS}
# Where Lambda sends a function's failed asynchronous invocations (a queue of this stack).
FAILURE_QUEUE = dict.fromkeys(SCHEDULED_JOBS.values(), "todo-api-{stage}-job-failures")


def function_name(stage: str, function: str) -> str:
    """A function's name, as `chalice deploy` names it and the packaged stack too: the API
    handler is plain APP-STAGE. Fixed names let each role name its own log group exactly."""
    return f"todo-api-{stage}" if function == "api_handler" else f"todo-api-{stage}-{function}"

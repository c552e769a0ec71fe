"""Every name the stack gives what it makes, in one place: the app's name (app.py's
`Chalice(app_name=...)`, read from the app's inventory, as Chalice reads it for what it names)
joined with the stage. Both deploy routes and the tools name things through these."""

from __future__ import annotations

from infrastructure import inventory

APP = inventory.read().name


def of(stage: str, *parts: str) -> str:
    """APP-STAGE[-PART...]: the table, the user pool and its client, the dashboard, the web ACL,
    a usage plan, the failure queue."""
    return "-".join((APP, stage, *parts))


def function(stage: str, function: str) -> str:
    """A function's name, as `chalice deploy` names it and the packaged stack too: the API
    handler is plain APP-STAGE. Fixed names let each role name its own log group exactly."""
    return of(stage) if function == "api_handler" else of(stage, function)


def failure_queue(stage: str) -> str:
    """Where Lambda sends the scheduled jobs' failed runs."""
    return of(stage, "job-failures")


def waf_logs(stage: str) -> str:
    """The web ACL's log group: WAF takes only names that start aws-waf-logs-."""
    return f"aws-waf-logs-{of(stage)}"


def gateway_namespace(stage: str) -> str:
    """The metric namespace of the API's access-log metric filters, one per stage."""
    return f"{APP}/{stage}"


def tag(key: str) -> str:
    """A tag key of ours, on what the stack makes (APP:KEY)."""
    return f"{APP}:{key}"

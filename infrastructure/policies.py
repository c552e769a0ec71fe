"""Each function's IAM policy, made in one place for both deploy routes.

A function's role needs two kinds of permission:

- what its code calls: the DynamoDB actions below, on the stage's table and indexes
  (tests/infrastructure/test_iam.py records the calls the code really makes and holds these to them);
- what the Lambda service does on the function's behalf, because of how the function is
  configured: its log group (always), X-Ray writes when tracing is active, and the queue
  its failed asynchronous invocations go to. No recorder of our calls ever sees these,
  and Lambda refuses to create a traced function whose role lacks X-Ray writes, so they
  are derived here from the configuration itself (Chalice's `xray` setting, the function
  names, the packaged template's failure queue). tests/infrastructure/test_aws_rules.py checks every
  role against AWS's documented requirements, independently of this module.

`make policies` writes them to `.chalice/policy-<function>-<stage>.json`, which
`chalice deploy` and `chalice package` both build the roles from; `make deploy` writes
them again scoped to the real table ARN (account and region included) once it exists.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

from infrastructure import names
from infrastructure.functions import FAILURE_QUEUED
from infrastructure.stages import ROOT, chalice_config, write_json

DEPLOYED_STAGES = ("dev", "prod")
_TABLE_ARN = re.compile(
    r"arn:aws:dynamodb:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):table/(?P<name>[\w.-]+)"
)

# What each function's code calls: (Sid, actions, resources relative to the table ARN).
CODE_GRANTS: dict[str, list[tuple[str, list[str], list[str]]]] = {
    "api_handler": [
        (
            "TodoItems",
            [
                "dynamodb:BatchGetItem",
                "dynamodb:DeleteItem",
                "dynamodb:GetItem",
                "dynamodb:PutItem",
                "dynamodb:Query",
                "dynamodb:UpdateItem",
            ],
            [""],
        ),
        ("TodoListsByState", ["dynamodb:Query"], ["/index/open", "/index/done"]),
    ],
    "purge_completed": [
        ("FindPurgeable", ["dynamodb:Query"], ["/index/completed-by-time"]),
        # The todos read whole, with their owners' counters; deletes, tombstones and log
        # entries (PutItem), and the counters (UpdateItem), in one transaction.
        (
            "PurgeTodos",
            ["dynamodb:BatchGetItem", "dynamodb:DeleteItem", "dynamodb:PutItem", "dynamodb:UpdateItem"],
            [""],
        ),
    ],
    "finish_clears": [
        # The running jobs, the owners' todos and counters, and the deletes (with tombstones,
        # log entries, counters and tallies).
        (
            "ClearTodos",
            [
                "dynamodb:BatchGetItem",
                "dynamodb:DeleteItem",
                "dynamodb:PutItem",
                "dynamodb:Query",
                "dynamodb:UpdateItem",
            ],
            [""],
        ),
        ("ClearListsByState", ["dynamodb:Query"], ["/index/open", "/index/done"]),
    ],
}
# X-Ray's write actions support no resource-level permissions: "*" is the only resource
# IAM evaluates them against (AWS's managed AWSXRayDaemonWriteAccess grants them so).
XRAY_WRITES = ["xray:PutTraceSegments", "xray:PutTelemetryRecords"]


def policy_file(stage: str, function: str, root: Path = ROOT) -> Path:
    name = chalice_config(stage, function, root).iam_policy_file
    return root / ".chalice" / str(name)


def policy(stage: str, function: str, *, table_arn: str | None = None, root: Path = ROOT) -> dict[str, Any]:
    """The policy document of `function` in `stage`. Until the table exists, resources are
    scoped by name in any account and region; with its ARN, to that account and region."""
    config = chalice_config(stage, function, root)
    table_name = config.environment_variables["TODO_TABLE"]
    region = account = "*"
    if table_arn is not None:
        match = _TABLE_ARN.fullmatch(table_arn)
        if match is None or match["name"] != table_name:
            raise ValueError(f"not the ARN of table {table_name}: {table_arn}")
        region, account = match["region"], match["account"]
    table = table_arn or f"arn:aws:dynamodb:*:*:table/{table_name}"
    statements = [
        _statement(sid, actions, [table + suffix for suffix in suffixes])
        for sid, actions, suffixes in CODE_GRANTS[function]
    ]
    # Each function reads its stage's runtime settings (chalicelib/settings.py), by path.
    settings_path = config.environment_variables["TODO_SETTINGS_PATH"]
    statements.append(
        _statement(
            "RuntimeSettings",
            ["ssm:GetParametersByPath"],
            [f"arn:aws:ssm:{region}:{account}:parameter{settings_path}"],
        )
    )
    if function in FAILURE_QUEUED:
        queue = names.failure_queue(stage)
        statements.append(
            _statement("RecordFailedRuns", ["sqs:SendMessage"], [f"arn:aws:sqs:{region}:{account}:{queue}"])
        )
    if config.xray_enabled:
        statements.append(_statement("Tracing", XRAY_WRITES, ["*"]))
    group = f"arn:aws:logs:{region}:{account}:log-group:/aws/lambda/{names.function(stage, function)}"
    statements.append(
        _statement(
            "OwnLogs",
            ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
            # The group, as IAM names it (a trailing ":*"), and its streams.
            [f"{group}:*", f"{group}:log-stream:*"],
        )
    )
    return {"Version": "2012-10-17", "Statement": statements}


# A resource committed for any Region and account, before `make deploy` knows the real ones.
_ANY_PLACE = re.compile(r"arn:aws:(?P<service>dynamodb|sqs|logs|ssm):\*:\*:")


def exact_arns(template: dict[str, Any]) -> dict[str, Any]:
    """The packaged roles' resources in the stack's own Region and account (`Fn::Sub` of
    AWS::Region and AWS::AccountId): the template can name them exactly, so it does."""
    for resource in template["Resources"].values():
        if resource["Type"] != "AWS::IAM::Role":
            continue
        for policy in resource["Properties"].get("Policies", []):
            for statement in policy["PolicyDocument"]["Statement"]:
                statement["Resource"] = [_exact(arn) for arn in statement["Resource"]]
    return template


def _exact(arn: Any) -> Any:
    found = _ANY_PLACE.match(arn) if isinstance(arn, str) else None
    if found is None:
        return arn
    place = f"arn:aws:{found['service']}:${{AWS::Region}}:${{AWS::AccountId}}:"
    return {"Fn::Sub": place + arn[found.end() :]}


def _statement(sid: str, actions: list[str], resources: list[str]) -> dict[str, Any]:
    return {"Sid": sid, "Effect": "Allow", "Action": actions, "Resource": resources}


def scoped_table_arn(path: Path) -> str | None:
    """The real table ARN a policy file was scoped to by `make deploy`, if it was."""
    found = _TABLE_ARN.search(path.read_text()) if path.exists() else None
    return found[0] if found else None


def write(stage: str, *, table_arn: str | None = None, root: Path = ROOT) -> list[Path]:
    """Write the stage's policy files (keeping the table ARN a deploy scoped them to, unless
    given another); the files that changed."""
    changed = []
    for function in CODE_GRANTS:
        path = policy_file(stage, function, root)
        table_arn = table_arn or scoped_table_arn(path)
        changed += write_json(path, policy(stage, function, table_arn=table_arn, root=root))
    return changed


def main() -> None:
    for stage in sys.argv[1:] or DEPLOYED_STAGES:
        for path in write(stage):
            print(f"wrote {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()

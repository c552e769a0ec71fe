"""IAM from the code: each function's packaged policy grants exactly the DynamoDB actions,
on exactly the table and index ARNs, that its code is seen to use.

Chalice's autogen_policy reads only app.py and grants `Resource: "*"`; here the calls the
app really makes are recorded (botocore hooks on its own client) while a scenario walks
every route and the scheduled job, and compared with the roles in the packaged template.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from chalicelib import todos
from chalicelib.store import TodoStore
from infrastructure import stages
from tests.support import ROOT, STAGE, TABLE, path_of

Auth = Callable[..., dict[str, str]]
Grant = tuple[str, str]  # (action, resource relative to the table: "" or "/index/NAME")
TRANSACT_ACTIONS = {
    "Put": "PutItem",
    "Delete": "DeleteItem",
    "Update": "UpdateItem",
    "ConditionCheck": "ConditionCheckItem",
}


def grants_of(operation: str, params: dict[str, Any]) -> set[Grant]:
    """What IAM must allow for one DynamoDB call (transactions: each item's own action), or
    one read of the runtime settings (authorized against the path it names)."""
    if operation == "GetParametersByPath":
        return {("ssm:GetParametersByPath", f"parameter{params['Path']}")}
    if operation == "TransactWriteItems":
        return {
            (f"dynamodb:{TRANSACT_ACTIONS[kind]}", _relative(body["TableName"]))
            for item in params["TransactItems"]
            for kind, body in item.items()
        }
    table = params.get("TableName") or next(iter(params.get("RequestItems", {})))
    index = f"/index/{params['IndexName']}" if "IndexName" in params else ""
    return {(f"dynamodb:{operation}", _relative(table) + index)}


def _relative(table: str) -> str:
    assert table == TABLE, f"a call to another table: {table}"
    return ""


def record(dynamodb: Any) -> list[tuple[str, dict[str, Any]]]:
    """The calls the app's DynamoDB and Parameter Store clients make from now on."""
    import app as todo_app

    calls: list[tuple[str, dict[str, Any]]] = []

    def hook(model: Any, params: dict[str, Any], **_: Any) -> None:
        calls.append((model.name, json.loads(json.dumps(params, default=str))))

    dynamodb.meta.events.register("before-parameter-build.dynamodb", hook)
    todo_app.ssm_client().meta.events.register("before-parameter-build.ssm", hook)
    return calls


def used(calls: list[tuple[str, dict[str, Any]]]) -> set[Grant]:
    return set().union(*(grants_of(operation, params) for operation, params in calls))


@pytest.fixture(scope="module")
def roles(packaged: Callable[[str], Path]) -> dict[str, Any]:
    template = json.loads((packaged(STAGE) / "sam.json").read_text())
    return {name: r for name, r in template["Resources"].items() if r["Type"] == "AWS::IAM::Role"}


def granted(role: dict[str, Any]) -> set[Grant]:
    # The table and the settings' path in the stack's own Region and account (the packaged
    # template names them with Fn::Sub), or by the real ARNs `make deploy` writes.
    place = r"(\$\{AWS::Region\}|[a-z0-9-]+):(\$\{AWS::AccountId\}|\d{12})"
    table = re.compile(rf"arn:aws:dynamodb:{place}:table/{re.escape(TABLE)}")
    path = re.compile(rf"arn:aws:ssm:{place}:")
    result = set()
    for policy in role["Properties"]["Policies"]:
        for statement in policy["PolicyDocument"]["Statement"]:
            for action in statement["Action"]:
                service = action.split(":")[0]
                if service not in ("dynamodb", "ssm"):
                    continue
                for resource in statement["Resource"]:
                    arn = resource["Fn::Sub"] if isinstance(resource, dict) else resource
                    match = (table if service == "dynamodb" else path).match(arn)
                    assert match, arn
                    result.add((action, arn[match.end() :]))
    return result


# Actions IAM evaluates against "*" only: the Service Authorization Reference lists no
# resource type for them, so no narrower grant can allow them.
NO_RESOURCE_LEVEL = {"xray:PutTraceSegments", "xray:PutTelemetryRecords"}


def test_no_role_grants_any_resource_star_but_for_actions_without_resources(roles: dict[str, Any]) -> None:
    assert set(roles) == {"ApiHandlerRole", "PurgeCompletedRole", "FinishClearsRole"}
    for role in roles.values():
        for policy in role["Properties"]["Policies"]:
            for statement in policy["PolicyDocument"]["Statement"]:
                if "*" in statement["Resource"]:
                    assert statement["Resource"] == ["*"]
                    assert set(statement["Action"]) <= NO_RESOURCE_LEVEL


def test_the_api_role_grants_exactly_what_the_routes_use(
    api: Any, auth: Auth, dynamodb: Any, roles: dict[str, Any], setting: Any
) -> None:
    setting("clear-budget", "1")  # so that a clear also starts a job
    calls = record(dynamodb)
    keyed = auth(**{"Idempotency-Key": "iam-1"})
    todo = api.post("/todos", headers=auth(), body='{"title": "a"}').json_body
    api.post("/todos", headers=keyed, body='{"title": "b", "completed": true}')
    api.post("/todos", headers=keyed, body='{"title": "b", "completed": true}')  # replay: reads the key
    one = f"/todos/{todo['id']}"
    api.get(one, headers=auth())
    api.patch(one, headers=auth(**{"If-Match": '"1"'}), body='{"completed": true}')
    for query in ("", "?completed=true", "?completed=false&limit=1"):
        api.get(f"/todos{query}", headers=auth())
    api.delete("/todos?completed=false", headers=auth())
    api.delete("/todos?completed=true", headers=auth())
    api.post("/todos", headers=auth(), body='{"title": "c"}')
    api.post("/todos", headers=auth(), body='{"title": "c2"}')
    job = api.delete("/todos", headers=auth())
    assert job.status_code == 202
    assert api.get(path_of(job.headers["Location"]), headers=auth()).status_code == 200
    last = api.post("/todos", headers=auth(), body='{"title": "d"}').json_body
    assert api.delete(f"/todos/{last['id']}", headers=auth()).status_code == 204
    assert used(calls) == granted(roles["ApiHandlerRole"])


def test_the_purge_role_grants_exactly_what_the_job_uses(
    dynamodb: Any, roles: dict[str, Any], run_job: Any, setting: Any
) -> None:
    store = TodoStore(dynamodb, table_name=TABLE)
    long_ago = datetime.now(UTC) - timedelta(days=60)
    store.create(
        todos.new_todo({"title": "old", "completed": True}, owner="u", now=long_ago, entropy=bytes(10))
    )
    calls = record(dynamodb)
    report = run_job("purge_completed")
    assert report["purged"] == 1
    assert used(calls) == granted(roles["PurgeCompletedRole"])


def test_the_clears_role_grants_exactly_what_the_job_uses(
    api: Any, auth: Auth, dynamodb: Any, roles: dict[str, Any], run_job: Any, setting: Any
) -> None:
    setting("clear-budget", "1")  # each DELETE deletes one itself, a job the rest
    for n in range(6):
        api.post("/todos", headers=auth(), body=f'{{"title": "t{n}", "completed": {str(n > 1).lower()}}}')
    for query in ("?completed=false", "?completed=true", ""):
        assert api.delete(f"/todos{query}", headers=auth()).status_code == 202
    calls = record(dynamodb)
    report = run_job("finish_clears")
    assert (report["deleted"], report["finished_jobs"]) == (3, 3)
    assert used(calls) == granted(roles["FinishClearsRole"])


def test_every_stage_scopes_its_policies_to_its_own_table() -> None:
    config = stages.document()
    for stage, settings in config["stages"].items():
        table = settings["environment_variables"]["TODO_TABLE"]
        policy_table = "todo-api-dev" if stage == "local" else table
        for function in settings["lambda_functions"].values():
            text = Path(ROOT / ".chalice" / function["iam_policy_file"]).read_text()
            assert f"table/{policy_table}" in text
            assert "table/*" not in text


def test_the_packaged_roles_name_their_stacks_own_region_and_account(packaged: Callable[[str], Path]) -> None:
    # The committed policy files name the table, queue, log groups and settings in any
    # Region and account until `make deploy` knows them; the packaged template knows.
    for stage in ("dev", "prod"):
        template = json.loads((packaged(stage) / "sam.json").read_text())
        for resource in template["Resources"].values():
            if resource["Type"] != "AWS::IAM::Role":
                continue
            for policy in resource["Properties"]["Policies"]:
                for statement in policy["PolicyDocument"]["Statement"]:
                    for arn in statement["Resource"]:
                        text = arn["Fn::Sub"] if isinstance(arn, dict) else arn
                        assert ":*:*:" not in text, text
                        assert arn == "*" or (
                            text.startswith("arn:aws:") and ":${AWS::Region}:${AWS::AccountId}:" in text
                        )


def test_both_deploy_routes_make_the_stages_settings_with_their_defaults(
    packaged: Callable[[str], Path],
) -> None:
    import boto3
    from moto import mock_aws

    from chalicelib.settings import SETTINGS
    from infrastructure import runtime_settings

    template = json.loads((packaged(STAGE) / "sam.json").read_text())
    parameters = {
        r["Properties"]["Name"]: r["Properties"]
        for r in template["Resources"].values()
        if r["Type"] == "AWS::SSM::Parameter"
    }
    assert {name: (p["Type"], p["Value"]) for name, p in parameters.items()} == {
        f"/todo-api/{STAGE}/{s.name}": ("String", s.text) for s in SETTINGS
    }
    with mock_aws():
        ssm = boto3.client("ssm", region_name="us-east-1")
        ssm.put_parameter(Name=f"/todo-api/{STAGE}/read-only", Value="true", Type="String")
        made = runtime_settings.ensure(ssm, f"/todo-api/{STAGE}")
        stored = {
            p["Name"]: p["Value"] for p in ssm.get_parameters_by_path(Path=f"/todo-api/{STAGE}")["Parameters"]
        }
    assert len(made) == len(SETTINGS) - 1  # an operator's value is kept
    assert stored == {
        **{name: p["Value"] for name, p in parameters.items()},
        f"/todo-api/{STAGE}/read-only": "true",
    }

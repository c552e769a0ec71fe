"""`make deploy`'s first two steps on moto: the stateful resources, then the stage config.

The third step is `chalice deploy` itself, which moto cannot take (its ImportRestApi
fails on Chalice's API definition); in its place `chalice package` reads the configured
stage exactly as `chalice deploy` does, and the test checks what it would deploy.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import botocore.session
import pytest

from chalicelib.schema import TABLE_DEFINITION
from infrastructure import stages
from infrastructure.bootstrap import bootstrap, ensure_table
from infrastructure.identity import APP_CLIENT_SETTINGS
from tests.servers import aws_env, emulator_client, make_env, moto_server
from tests.support import ROOT, copy_project
from tools.deploy import configure, main


@pytest.fixture
def session() -> Any:
    return botocore.session.get_session()


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of what `chalice deploy` reads: app, library, config, requirements."""
    return copy_project(tmp_path)


def test_bootstrap_makes_the_table_and_pool_protected_and_in_the_declared_shape(session: Any) -> None:
    made = bootstrap(session, stages.load("dev"))
    dynamodb = session.create_client("dynamodb")
    table = dynamodb.describe_table(TableName="todo-api-dev")["Table"]
    assert made.table_arn == table["TableArn"]
    assert table["KeySchema"] == TABLE_DEFINITION["KeySchema"]
    assert sorted(i["IndexName"] for i in table["LocalSecondaryIndexes"]) == sorted(
        i["IndexName"] for i in TABLE_DEFINITION["LocalSecondaryIndexes"]
    )
    assert [i["IndexName"] for i in table["GlobalSecondaryIndexes"]] == ["completed-by-time"]
    assert table["DeletionProtectionEnabled"] is True
    assert table["SSEDescription"]["Status"] == "ENABLED"
    ttl = dynamodb.describe_time_to_live(TableName="todo-api-dev")["TimeToLiveDescription"]
    assert (ttl["TimeToLiveStatus"], ttl["AttributeName"]) == ("ENABLED", "expiresAt")
    backups = dynamodb.describe_continuous_backups(TableName="todo-api-dev")["ContinuousBackupsDescription"]
    assert backups["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"] == "ENABLED"

    cognito = session.create_client("cognito-idp")
    pool = cognito.describe_user_pool(UserPoolId=made.user_pool_id)["UserPool"]
    assert (pool["Arn"], pool["Name"]) == (made.user_pool_arn, "todo-api-dev")
    assert pool["Policies"]["PasswordPolicy"]["MinimumLength"] == 12
    assert pool["UsernameAttributes"] == ["email"]
    assert pool["DeletionProtection"] == "ACTIVE"
    assert cognito.get_user_pool_mfa_config(UserPoolId=made.user_pool_id)["MfaConfiguration"] == "OPTIONAL"
    client = cognito.describe_user_pool_client(UserPoolId=made.user_pool_id, ClientId=made.app_client_id)
    assert "ClientSecret" not in client["UserPoolClient"]
    assert client["UserPoolClient"]["ExplicitAuthFlows"] == APP_CLIENT_SETTINGS["ExplicitAuthFlows"]


def described_as_cloudformation(dynamodb: Any, name: str) -> dict[str, Any]:
    """A live table, read back through DynamoDB's API, in CloudFormation's property names."""
    table = dynamodb.describe_table(TableName=name)["Table"]
    ttl = dynamodb.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
    backups = dynamodb.describe_continuous_backups(TableName=name)["ContinuousBackupsDescription"]

    def index(found: dict[str, Any]) -> dict[str, Any]:
        return {key: found[key] for key in ("IndexName", "KeySchema", "Projection")}

    def by_name(indexes: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return sorted((index(i) for i in indexes), key=lambda i: str(i["IndexName"]))

    return {
        "TableName": table["TableName"],
        "BillingMode": table["BillingModeSummary"]["BillingMode"],
        "AttributeDefinitions": sorted(table["AttributeDefinitions"], key=lambda a: str(a["AttributeName"])),
        "KeySchema": table["KeySchema"],
        "LocalSecondaryIndexes": by_name(table.get("LocalSecondaryIndexes", [])),
        "GlobalSecondaryIndexes": by_name(table.get("GlobalSecondaryIndexes", [])),
        "TimeToLiveSpecification": {
            "AttributeName": ttl.get("AttributeName"),
            "Enabled": ttl.get("TimeToLiveStatus") == "ENABLED",
        },
        "PointInTimeRecoverySpecification": {
            "PointInTimeRecoveryEnabled": backups["PointInTimeRecoveryDescription"][
                "PointInTimeRecoveryStatus"
            ]
            == "ENABLED"
        },
        "SSESpecification": {"SSEEnabled": table.get("SSEDescription", {}).get("Status") == "ENABLED"},
        "DeletionProtectionEnabled": table.get("DeletionProtectionEnabled", False),
    }


def as_declared(properties: dict[str, Any]) -> dict[str, Any]:
    """A template's table properties, with lists in the order DynamoDB describes them."""
    result = dict(properties)
    result["AttributeDefinitions"] = sorted(
        properties["AttributeDefinitions"], key=lambda a: a["AttributeName"]
    )
    for key in ("LocalSecondaryIndexes", "GlobalSecondaryIndexes"):
        result[key] = sorted(properties.get(key, []), key=lambda i: i["IndexName"])
    return result


@pytest.mark.parametrize("stage", ["dev", "prod"])
def test_the_bootstrapped_table_is_the_packaged_table(
    session: Any, packaged: Callable[[str], Path], stage: str
) -> None:
    # Two routes, one table: what `make deploy` creates, read back from DynamoDB, equals
    # what the packaged stack declares, deletion protection and all.
    bootstrap(session, stages.load(stage))
    template = json.loads((packaged(stage) / "sam.json").read_text())
    declared = template["Resources"]["TodoTable"]["Properties"]
    live = described_as_cloudformation(session.create_client("dynamodb"), f"todo-api-{stage}")
    assert live == as_declared(declared)
    assert declared["DeletionProtectionEnabled"] is True


def test_bootstrap_protects_an_older_unprotected_table(session: Any) -> None:
    dynamodb = session.create_client("dynamodb")
    dynamodb.create_table(TableName="todo-api-dev", **TABLE_DEFINITION)
    bootstrap(session, stages.load("dev"))
    assert dynamodb.describe_table(TableName="todo-api-dev")["Table"]["DeletionProtectionEnabled"] is True


def test_bootstrap_gives_the_functions_log_groups_a_retention(session: Any) -> None:
    bootstrap(session, stages.load("dev"))
    groups = session.create_client("logs").describe_log_groups(logGroupNamePrefix="/aws/lambda/todo-api-dev")
    # The names Lambda uses for Chalice's functions: the API handler is plain `APP-STAGE`.
    assert {(g["logGroupName"], g["retentionInDays"]) for g in groups["logGroups"]} == {
        ("/aws/lambda/todo-api-dev", 14),
        ("/aws/lambda/todo-api-dev-purge_completed", 14),
        ("/aws/lambda/todo-api-dev-finish_clears", 14),
    }


def test_bootstrap_again_finds_what_it_made(session: Any) -> None:
    first = bootstrap(session, stages.load("dev"))
    assert bootstrap(session, stages.load("dev")) == first
    cognito = session.create_client("cognito-idp")
    assert len(cognito.list_user_pools(MaxResults=60)["UserPools"]) == 1
    assert len(cognito.list_user_pool_clients(UserPoolId=first.user_pool_id)["UserPoolClients"]) == 1
    assert bootstrap(session, stages.load("prod")).table_name == "todo-api-prod"  # stages never share


def test_bootstrap_refuses_an_existing_table_with_other_keys(session: Any) -> None:
    session.create_client("dynamodb").create_table(
        TableName="todo-api-dev",
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
    )
    with pytest.raises(SystemExit, match="another key schema"):
        bootstrap(session, stages.load("dev"))


def test_a_stage_pointed_at_a_restored_table_deploys_on_it(project: Path, session: Any) -> None:
    # What make restore prints: TODO_TABLE names the restored table, and make deploy's
    # bootstrap finds it by that name (makes no todo-api-prod), and configure scopes the roles to it.
    from datetime import UTC, datetime

    from tools import restore

    bootstrap(session, stages.load("prod", project))
    dynamodb = session.create_client("dynamodb")
    restored = restore.restore(dynamodb, "todo-api-prod", datetime.now(UTC), target="todo-api-prod-at-now")
    config = stages.document(project)
    config["stages"]["prod"]["environment_variables"]["TODO_TABLE"] = restored.table
    stages.write_json(stages.config_path(project), config)
    dynamodb.update_table(TableName="todo-api-prod", DeletionProtectionEnabled=False)
    dynamodb.delete_table(TableName="todo-api-prod")  # so that only a found table can pass
    made = bootstrap(session, stages.load("prod", project))
    assert made.table_name == "todo-api-prod-at-now"
    assert dynamodb.list_tables()["TableNames"] == ["todo-api-prod-at-now"]
    configure(project, "prod", made)
    policy = json.loads((project / ".chalice" / "policy-api-prod.json").read_text())
    resources = [r for s in policy["Statement"] for r in s["Resource"] if r.startswith("arn:aws:dynamodb:")]
    assert resources
    assert all(r.startswith(made.table_arn) for r in resources)


def test_configure_puts_the_names_and_arns_in_the_stage_config(project: Path, session: Any) -> None:
    made = bootstrap(session, stages.load("prod"))
    changed = configure(project, "prod", made)
    chalice_dir = project / ".chalice"
    assert sorted(p.name for p in changed) == [
        "config.json",
        "policy-api-prod.json",
        "policy-clears-prod.json",
        "policy-purge-prod.json",
    ]
    config = json.loads((chalice_dir / "config.json").read_text())
    variables = config["stages"]["prod"]["environment_variables"]
    assert (variables["TODO_TABLE"], variables["TODO_USER_POOL_ARN"]) == ("todo-api-prod", made.user_pool_arn)
    assert variables["TODO_COGNITO_CLIENT_ID"] == made.app_client_id  # the web app signs in with it
    original = stages.document()
    assert config["stages"]["dev"] == original["stages"]["dev"]  # other stages untouched
    for name in ("policy-api-prod.json", "policy-clears-prod.json", "policy-purge-prod.json"):
        resources = [
            r for s in json.loads((chalice_dir / name).read_text())["Statement"] for r in s["Resource"]
        ]
        dynamodb = [r for r in resources if r.startswith("arn:aws:dynamodb:")]
        assert dynamodb
        assert all(r == made.table_arn or r.startswith(made.table_arn + "/index/") for r in dynamodb)
    assert configure(project, "prod", made) == []  # nothing left to change


def test_chalice_reads_the_configured_stage_as_deploy_would(project: Path, session: Any) -> None:
    made = bootstrap(session, stages.load("dev"))
    configure(project, "dev", made)
    out = project / "out"
    subprocess.run(
        [str(Path(sys.executable).parent / "chalice"), "package", "--stage", "dev", str(out)],
        cwd=project, check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    resources = json.loads((out / "sam.json").read_text())["Resources"]
    body = resources["RestAPI"]["Properties"]["DefinitionBody"]
    authorizer = body["securityDefinitions"]["TodoUsers"]["x-amazon-apigateway-authorizer"]
    assert authorizer["providerARNs"] == [made.user_pool_arn]
    functions = [r for r in resources.values() if r["Type"] == "AWS::Serverless::Function"]
    assert {f["Properties"]["Environment"]["Variables"]["TODO_TABLE"] for f in functions} == {made.table_name}
    roles = [r for r in resources.values() if r["Type"] == "AWS::IAM::Role"]
    granted = {
        resource
        for role in roles
        for policy in role["Properties"]["Policies"]
        for statement in policy["PolicyDocument"]["Statement"]
        for resource in statement["Resource"]
        if resource.startswith("arn:aws:dynamodb:")
    }
    assert granted == {
        made.table_arn,
        *(f"{made.table_arn}/index/{i}" for i in ("open", "done", "completed-by-time")),
    }


def test_the_command_bootstraps_and_configures_then_stops_when_asked(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--stage", "dev", "--bootstrap-only", "--project-dir", str(project)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("make deploy is all at once: the new code takes every request the moment it lands")
    assert "updated .chalice/config.json" in out
    config = stages.document(project)
    assert config["stages"]["dev"]["environment_variables"]["TODO_USER_POOL_ARN"] in out
    assert not (project / ".chalice" / "deployed").exists()  # stopped before `chalice deploy`


@pytest.mark.parametrize(
    "option",
    [
        {"snapstart": True},
        {"provisioned_concurrency": 1},
        {"waf": True},
        {"traffic_shift": "Linear10PercentEvery1Minute"},
    ],
)
def test_the_command_refuses_an_option_chalice_deploy_cannot_make(
    project: Path, session: Any, option: dict[str, Any]
) -> None:
    config = stages.document(project)
    config["stages"]["dev"].update(option)
    stages.write_json(stages.config_path(project), config)
    with pytest.raises(SystemExit, match="release it with make release"):
        main(["--stage", "dev", "--project-dir", str(project)])
    dynamodb = session.create_client("dynamodb")
    assert dynamodb.list_tables()["TableNames"] == []  # refused before anything was made


def test_bootstrap_adds_the_global_index_a_table_from_an_older_version_lacks(session: Any) -> None:
    dynamodb = session.create_client("dynamodb")
    older = {key: value for key, value in TABLE_DEFINITION.items() if key != "GlobalSecondaryIndexes"}
    older["AttributeDefinitions"] = [
        a
        for a in TABLE_DEFINITION["AttributeDefinitions"]
        if a["AttributeName"] in {"owner", "id", "openId", "doneId"}
    ]
    dynamodb.create_table(TableName="todo-api-dev", **older)
    bootstrap(session, stages.load("dev"))
    table = dynamodb.describe_table(TableName="todo-api-dev")["Table"]
    assert [(i["IndexName"], i["IndexStatus"]) for i in table["GlobalSecondaryIndexes"]] == [
        ("completed-by-time", "ACTIVE")
    ]


def test_bootstrap_refuses_a_table_without_the_local_indexes(session: Any) -> None:
    dynamodb = session.create_client("dynamodb")
    bare = {key: value for key, value in TABLE_DEFINITION.items() if not key.endswith("Indexes")}
    bare["AttributeDefinitions"] = TABLE_DEFINITION["AttributeDefinitions"][:2]
    dynamodb.create_table(TableName="todo-api-dev", **bare)
    with pytest.raises(SystemExit, match="lacks local indexes"):
        bootstrap(session, stages.load("dev"))


def test_bootstrap_waits_until_a_new_table_can_take_backups(session: Any) -> None:
    # Right after CreateTable, DynamoDB may refuse to enable backups for a few minutes.
    dynamodb = session.create_client("dynamodb")
    refusals = [2]

    def not_yet(**_: Any) -> Any:
        if not refusals[0]:
            return None
        refusals[0] -= 1
        error = {"Code": "ContinuousBackupsUnavailableException", "Message": "Backups are being enabled"}
        return SimpleNamespace(status_code=400, headers={}), {"Error": error, "ResponseMetadata": {}}

    dynamodb.meta.events.register("before-call.dynamodb.UpdateContinuousBackups", not_yet)
    waits: list[float] = []
    ensure_table(dynamodb, "todo-api-dev", sleep=waits.append)
    assert (refusals, waits) == ([0], [10, 10])
    backups = dynamodb.describe_continuous_backups(TableName="todo-api-dev")["ContinuousBackupsDescription"]
    assert backups["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"] == "ENABLED"


@pytest.mark.server
def test_make_deploy_bootstraps_with_the_callers_aws_configuration(project: Path) -> None:
    """`make deploy STAGE=dev BOOTSTRAP_ONLY=1` over a real endpoint (a moto server), in a
    copy of the project so that the config it writes is the copy's."""
    for path in [ROOT / "Makefile", *ROOT.glob("requirements-*")]:
        shutil.copy2(path, project / path.name)  # with its time: older than the install stamps
    for folder in ("tools", "infrastructure"):
        shutil.copytree(ROOT / folder, project / folder, ignore=shutil.ignore_patterns("__pycache__"))
    (project / ".venv").symlink_to(ROOT / ".venv")  # installed already: make finds its stamp
    with moto_server() as port:
        env = {**make_env(), **aws_env(port, "eu-west-1")}
        usage = subprocess.run(["make", "-s", "deploy"], cwd=project, env=env, capture_output=True, text=True)
        assert usage.returncode == 2
        assert "usage: make deploy STAGE=dev|prod" in usage.stderr
        done = subprocess.run(
            ["make", "-s", "deploy", "STAGE=dev", "BOOTSTRAP_ONLY=1"],
            cwd=project, env=env, capture_output=True, text=True, timeout=300, check=True,
        )  # fmt: skip
        cognito = emulator_client("cognito-idp", port, region="eu-west-1", key="operator")
        [pool] = cognito.list_user_pools(MaxResults=10)["UserPools"]
    config = stages.document(project)
    pool_arn = config["stages"]["dev"]["environment_variables"]["TODO_USER_POOL_ARN"]
    # The caller's region, not the Makefile's offline default (us-east-1).
    assert pool_arn.startswith("arn:aws:cognito-idp:eu-west-1:")
    assert pool_arn.endswith(f"/{pool['Id']}")
    assert pool_arn in done.stdout
    assert not (project / ".chalice" / "deployed").exists()
    assert (project / ".venv").is_symlink()  # make used the installed tools, built nothing

"""`make release` and `make rollback` (tools/release.py), rehearsed on moto as far as moto goes.

moto's CloudFormation takes change sets and creates what it can of the stack, but has no SAM
transform, no Lambda aliases in templates and no CodeDeploy deployments: the release here sends
the packaged stack as the rehearsal creates it (SAM transformed offline, the types moto lacks
left out: infrastructure/rehearsal/rehearse.py), and the aliases a release would move are made
through Lambda's own API. What CloudFormation answers when CodeDeploy rolls a release back, and
CodeDeploy's stop, are botocore Stubber answers, each checked against the service's model."""

from __future__ import annotations

import datetime
import io
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import botocore.session
import pytest
from botocore.stub import Stubber

from infrastructure.rehearsal.aws_rules import Stack
from infrastructure.rehearsal.rehearse import BUCKET, for_moto, transform
from infrastructure.releases import ALIAS
from infrastructure.stages import load
from tests.house.test_makefile import refused
from tools import release as tool

STAGE = load("dev")
FUNCTIONS = sorted(
    f"todo-api-dev{'' if n == 'api_handler' else '-' + n}" for n in STAGE.app.functions.values()
)


@pytest.fixture
def session() -> Any:
    return botocore.session.get_session()


@pytest.fixture
def package(packaged: Callable[..., Path], tmp_path: Path, session: Any) -> Path:
    """The dev package, its template as moto's CloudFormation can create it."""
    built = packaged("dev")
    sam = json.loads((built / "sam.json").read_text())
    code = f"s3://{BUCKET}/deployment.zip"
    template = transform(sam, code, "us-east-1")
    document, _ = for_moto(template, Stack(template, "todo-api-dev"))
    out = tmp_path / "package"
    out.mkdir()
    (out / "sam.json").write_text(json.dumps(document))
    shutil.copy(built / "deployment.zip", out / "deployment.zip")
    s3 = session.create_client("s3")
    s3.create_bucket(Bucket=BUCKET)
    s3.put_object(Bucket=BUCKET, Key="deployment.zip", Body=(built / "deployment.zip").read_bytes())
    return out


def run_release(session: Any, package: Path, **kwargs: Any) -> tuple[int, list[str]]:
    said: list[str] = []
    code = tool.release(
        session, STAGE, package, parameters={}, out=said.append, sleep=lambda _: None, **kwargs
    )
    return code, said


def test_a_release_shows_its_change_set_executes_it_follows_it_and_keeps_its_artifacts_private(
    session: Any, package: Path
) -> None:
    code, said = run_release(session, package, yes=True)
    assert code == 0, said
    assert said[0].startswith("CREATE todo-api-dev: ")
    assert "  Add     TodoTable (AWS::DynamoDB::Table)" in said
    assert "traffic: all at once, to the new version of each function" in said
    assert any(line.endswith("todo-api-dev CREATE_COMPLETE ") for line in said)  # followed to the end
    assert said[-2].startswith("released: todo-api-dev is created")
    assert said[-1] == "then, if the schema version changed: make migrate STAGE=dev (DRY_RUN=1 first)"
    cloudformation = session.create_client("cloudformation")
    assert (
        cloudformation.describe_stacks(StackName="todo-api-dev")["Stacks"][0]["StackStatus"]
        == "CREATE_COMPLETE"
    )
    assert sorted(session.create_client("lambda").list_functions()["Functions"][i]["FunctionName"]
                  for i in range(len(FUNCTIONS))) == FUNCTIONS  # fmt: skip
    # The artifacts: in the stage's bucket, which no one outside the account can read.
    s3 = session.create_client("s3")
    bucket = tool.artifact_bucket("dev", "123456789012", "us-east-1")
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]]
    assert sorted(k.rsplit(".", 1)[1] for k in keys) == ["json", "zip"]
    assert all(s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"].values())
    (rule,) = s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
    assert rule["Expiration"]["Days"] == tool.ARTIFACT_DAYS
    # The same package again: nothing to release, and no change set left waiting.
    code, said = run_release(session, package, yes=True)
    assert (code, said) == (0, ["nothing to release: todo-api-dev already runs this template and code"])
    waiting = cloudformation.list_change_sets(StackName="todo-api-dev")["Summaries"]
    assert [c for c in waiting if c["ExecutionStatus"] == "AVAILABLE"] == []


def test_a_release_not_confirmed_executes_nothing(session: Any, package: Path) -> None:
    code, said = run_release(session, package, yes=False, ask=lambda _: "n")
    assert (code, said[-1]) == (1, "not released; the change set was deleted")
    cloudformation = session.create_client("cloudformation")
    assert cloudformation.list_change_sets(StackName="todo-api-dev")["Summaries"] == []
    assert session.create_client("lambda").list_functions()["Functions"] == []


def test_a_change_set_that_would_replace_the_table_is_refused() -> None:
    proposal = tool.Proposal(
        "release-1",
        "UPDATE",
        [{"Action": "Modify", "LogicalResourceId": "TodoTable", "ResourceType": "AWS::DynamoDB::Table",
          "Replacement": "True"}],
    )  # fmt: skip
    with pytest.raises(SystemExit, match="would replace TodoTable, and with it the data it holds"):
        tool.describe(proposal, STAGE)
    prod = tool.describe(tool.Proposal("release-1", "UPDATE", []), load("prod"))
    assert "the API's new version by Canary10Percent5Minutes, rolled back by CodeDeploy" in prod[-1]


def publish(lambda_: Any, function: str) -> str:
    """A new version of `function` (its description changed, as a release changes its code)."""
    lambda_.update_function_configuration(FunctionName=function, Description=f"{datetime.datetime.now()}")
    version: str = lambda_.publish_version(FunctionName=function)["Version"]
    return version


def test_rollback_moves_every_alias_back_to_the_release_before_at_once(session: Any, package: Path) -> None:
    assert run_release(session, package, yes=True)[0] == 0
    lambda_, ssm = session.create_client("lambda"), session.create_client("ssm")
    # Two releases, as CloudFormation would leave them: each function's alias on its version.
    first = {f: publish(lambda_, f) for f in FUNCTIONS}
    for function, version in first.items():
        lambda_.create_alias(FunctionName=function, Name=ALIAS, FunctionVersion=version)
    tool.record(
        ssm, "dev", tool.live_versions(lambda_, STAGE), datetime.datetime(2026, 12, 8, 1, tzinfo=datetime.UTC)
    )
    second = {f: publish(lambda_, f) for f in FUNCTIONS}
    for function, version in second.items():
        lambda_.update_alias(FunctionName=function, Name=ALIAS, FunctionVersion=version)
    tool.record(
        ssm, "dev", tool.live_versions(lambda_, STAGE), datetime.datetime(2026, 12, 8, 2, tzinfo=datetime.UTC)
    )
    said: list[str] = []
    codedeploy = session.create_client("codedeploy")
    assert tool.rollback(lambda_, codedeploy, ssm, STAGE, said.append) == 0
    assert tool.live_versions(lambda_, STAGE) == first
    assert (
        f"todo-api-dev: {ALIAS} moved from version {second['todo-api-dev']} back to {first['todo-api-dev']}"
        in said
    )
    assert said[-1].startswith("rolled back to the release of 2026-12-08T01:00:00Z. The stack still names")
    # Nothing before the first: a second rollback says so, and moves nothing.
    with pytest.raises(SystemExit, match="no earlier release to go back to"):
        tool.rollback(lambda_, codedeploy, ssm, STAGE, said.append)
    assert tool.live_versions(lambda_, STAGE) == first
    # The record is not a runtime setting: the functions read none under it.
    assert not tool.record_name("dev").startswith(STAGE.environment["TODO_SETTINGS_PATH"] + "/")


def test_rollback_during_a_shift_stops_codedeploy_with_rollback(session: Any, package: Path) -> None:
    assert run_release(session, package, yes=True)[0] == 0
    lambda_ = session.create_client("lambda")
    old, new = publish(lambda_, "todo-api-dev"), publish(lambda_, "todo-api-dev")
    lambda_.create_alias(
        FunctionName="todo-api-dev", Name=ALIAS, FunctionVersion=old,
        RoutingConfig={"AdditionalVersionWeights": {new: 0.1}},
    )  # fmt: skip
    codedeploy = session.create_client("codedeploy")
    application = "todo-api-dev-ServerlessDeploymentApplication-1ABC"
    group = "todo-api-dev-APIHandlerDeploymentGroup-1"
    with Stubber(codedeploy) as stub:  # moto's CodeDeploy cannot stop a deployment
        stub.add_response("list_applications", {"applications": ["todo-api-other-X", application]})
        stub.add_response(
            "list_deployment_groups",
            {
                "applicationName": application,
                "deploymentGroups": ["todo-api-dev-APIHandlerDeploymentGroup-1"],
            },
            {"applicationName": application},
        )
        stub.add_response(
            "list_deployments",
            {"deployments": ["d-RELEASE01"]},
            {"applicationName": application, "deploymentGroupName": group,
             "includeOnlyStatuses": ["Created", "Queued", "InProgress", "Ready"]},
        )  # fmt: skip
        stub.add_response(
            "stop_deployment",
            {"status": "Pending", "statusMessage": "Stopping"},
            {"deploymentId": "d-RELEASE01", "autoRollbackEnabled": True},
        )
        said: list[str] = []
        assert tool.rollback(lambda_, codedeploy, session.create_client("ssm"), STAGE, said.append) == 0
        stub.assert_no_pending_responses()
    assert said[0].startswith("a release is shifting traffic: stopped d-RELEASE01 with rollback")


def test_a_release_codedeploy_rolls_back_ends_with_the_alarm_that_fired(session: Any) -> None:
    cloudformation = session.create_client("cloudformation")
    at = datetime.datetime(2026, 12, 8, 3, 0, 5, tzinfo=datetime.UTC)
    reason = (
        "CodeDeploy deployment d-RELEASE02 failed: Deployment stopped: the alarm APIHandlerRelease5xx "
        "was in the ALARM state"
    )
    events = [
        ("UPDATE_ROLLBACK_COMPLETE", "todo-api-dev", "", "AWS::CloudFormation::Stack"),
        ("UPDATE_FAILED", "APIHandlerAliaslive", reason, "AWS::Lambda::Alias"),
        ("UPDATE_IN_PROGRESS", "APIHandlerAliaslive", "", "AWS::Lambda::Alias"),
    ]
    with Stubber(cloudformation) as stub:
        stub.add_response(
            "describe_stack_events",
            {"StackEvents": [
                {"StackId": "arn:aws:cloudformation:us-east-1:123456789012:stack/todo-api-dev/1",
                 "EventId": f"e{n}", "StackName": "todo-api-dev", "LogicalResourceId": logical,
                 "ResourceType": kind, "Timestamp": at, "ResourceStatus": status, "ResourceStatusReason": why}
                for n, (status, logical, why, kind) in enumerate(events)
            ]},
            {"StackName": "todo-api-dev"},
        )  # fmt: skip
        stub.add_response(
            "describe_stacks",
            {
                "Stacks": [
                    {
                        "StackName": "todo-api-dev",
                        "CreationTime": at,
                        "StackStatus": "UPDATE_ROLLBACK_COMPLETE",
                    }
                ]
            },
            {"StackName": "todo-api-dev"},
        )
        said: list[str] = []
        done = tool.follow(
            cloudformation,
            session.create_client("lambda"),
            STAGE,
            out=said.append,
            sleep=lambda _: None,
            seen=set(),
        )
    assert done is False
    assert said[1] == f"03:00:05 APIHandlerAliaslive UPDATE_FAILED {reason}"
    assert said[-2] == f"ROLLED BACK (UPDATE_ROLLBACK_COMPLETE): APIHandlerAliaslive: {reason}"
    assert "every alias serves the version it served before this release" in said[-1]


@pytest.mark.parametrize(
    ("target", "arguments", "said"),
    [
        ("release", [], "usage: make release STAGE=dev|prod [YES=1] [API=rest|http]"),
        ("release", ["STAGE=dev", "YES=yes"], "YES must be 1, or left out"),
        ("release", ["STAGE=nowhere"], "no stage 'nowhere' in .chalice/config.json"),
        ("release", ["STAGE=local"], "the local stage is make run's: there is nothing to release"),
        ("rollback", [], "usage: make rollback STAGE=dev|prod"),
        ("rollback", ["STAGE=local"], "the local stage is make run's"),
    ],
)
def test_make_release_and_rollback_refuse_bad_arguments_with_a_message(
    target: str, arguments: list[str], said: str
) -> None:
    refused(target, arguments, said)


def test_the_release_prompt_needs_a_terminal(
    session: Any, package: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    with pytest.raises(SystemExit, match="not a terminal: run again with YES=1"):
        run_release(session, package, yes=False)

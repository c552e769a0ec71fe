"""Gradual releases in the packaged stack (infrastructure/releases.py), held after the SAM
transform to what CodeDeploy, SAM and CloudFormation need at create time
(infrastructure/rehearsal/aws_rules.py, `_releases_roll_back_by_themselves`), each rule shown
able to refuse by a mutant."""

from __future__ import annotations

import copy
import json
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from chalicelib import telemetry
from infrastructure.rehearsal.aws_rules import Stack, check
from infrastructure.rehearsal.rehearse import offline_aws, rehearse, transform
from infrastructure.releases import ALIAS, API_ALIAS, VERSION_5XX_METRIC
from infrastructure.stages import load

pytestmark = pytest.mark.no_moto

# The prod stage with each API option (an HTTP API has no WAF: the stage's is switched off).
VARIANTS = {"prod-rest": ("prod", None, {}), "prod-http": ("prod", "http", {"waf": False})}


@pytest.fixture(scope="module")
def sam(packaged: Callable[..., Path]) -> dict[str, dict[str, Any]]:
    return {
        name: json.loads((packaged(stage, api, **settings) / "sam.json").read_text())
        for name, (stage, api, settings) in VARIANTS.items()
    }


@pytest.fixture(scope="module")
def plain(sam: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    with offline_aws("us-east-1"):
        return {
            name: transform(template, "s3://bucket/deployment.zip", "us-east-1")
            for name, template in sam.items()
        }


def of_type(template: dict[str, Any], kind: str) -> dict[str, Any]:
    return {logical: r for logical, r in template["Resources"].items() if r["Type"] == kind}


@pytest.mark.parametrize("variant", VARIANTS)
def test_the_api_runs_on_an_alias_shifted_by_codedeploy_and_watched_by_its_own_alarms(
    plain: dict[str, dict[str, Any]], variant: str
) -> None:
    template = plain[variant]
    stack = Stack(template, "todo-api-prod")
    assert check(stack) == []
    alias = template["Resources"][API_ALIAS]
    assert alias["Properties"]["Name"] == ALIAS
    update = alias["UpdatePolicy"]["CodeDeployLambdaAliasUpdate"]
    group = template["Resources"][update["DeploymentGroupName"]["Ref"]]["Properties"]
    assert stack.resolve(group["DeploymentConfigName"]) == "CodeDeployDefault.LambdaCanary10Percent5Minutes"
    assert {"DEPLOYMENT_FAILURE", "DEPLOYMENT_STOP_ON_ALARM"} <= set(
        group["AutoRollbackConfiguration"]["Events"]
    )
    alarms = [template["Resources"][a["Name"]["Ref"]] for a in group["AlarmConfiguration"]["Alarms"]]
    assert {a["Properties"]["MetricName"] for a in alarms} == {"Errors", "Duration", VERSION_5XX_METRIC}
    version = alias["Properties"]["FunctionVersion"]  # the version this release publishes
    for alarm in alarms:
        assert version in [d["Value"] for d in alarm["Properties"]["Dimensions"]]
        assert alarm["Properties"]["Period"] == 60  # CodeDeploy reads them within a 5-minute canary
    # Every request reaches the alias: the API integrates nothing else of the function.
    alias_arn = stack.ref(API_ALIAS)
    api = next(
        iter(
            {
                **of_type(template, "AWS::ApiGateway::RestApi"),
                **of_type(template, "AWS::ApiGatewayV2::Api"),
            }.values()
        )
    )
    uris = re.findall(
        r"functions/([^/\"]+)/invocations", json.dumps(stack.resolve(api["Properties"]["Body"]))
    )
    assert uris
    assert set(uris) == {alias_arn}


def test_dev_releases_at_once_and_the_jobs_run_on_their_own_aliases(packaged: Callable[..., Path]) -> None:
    assert load("dev").traffic_shift == "AllAtOnce"
    with offline_aws("us-east-1"):
        template = transform(
            json.loads((packaged("dev") / "sam.json").read_text()), "s3://b/z.zip", "us-east-1"
        )
    stack = Stack(template, "todo-api-dev")
    assert check(stack) == []
    (group,) = of_type(template, "AWS::CodeDeploy::DeploymentGroup").values()
    assert stack.resolve(group["Properties"]["DeploymentConfigName"]) == "CodeDeployDefault.LambdaAllAtOnce"
    # The jobs: an alias each (no CodeDeploy group: a canary would see no run), which the
    # schedule invokes and whose failed runs still reach the failure queue.
    for job in load("dev").app.jobs:
        alias = template["Resources"][f"{job}Alias{ALIAS}"]
        assert "UpdatePolicy" not in alias
        (rule,) = [r for r in of_type(template, "AWS::Events::Rule").values()
                   if r["Properties"]["Targets"][0]["Arn"] == {"Ref": f"{job}Alias{ALIAS}"}]  # fmt: skip
        assert rule["Properties"]["Targets"][0]["DeadLetterConfig"]
        invoke_config = template["Resources"][f"{job}EventInvokeConfig"]["Properties"]
        assert invoke_config["Qualifier"] == ALIAS
        assert invoke_config["DestinationConfig"]["OnFailure"]


def test_a_request_line_feeds_the_5xx_by_version_metric(packaged: Callable[..., Path]) -> None:
    """The filter reads the app's own line: a 500 of version 7 counts 1 under Version=7."""
    resources = json.loads((packaged("prod") / "sam.json").read_text())["Resources"]
    counted = resources["APIHandler5xxByVersion"]["Properties"]
    assert counted["LogGroupName"] == {"Ref": "APIHandlerLogs"}
    (transformation,) = counted["MetricTransformations"]
    saved = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION")
    os.environ["AWS_LAMBDA_FUNCTION_VERSION"] = "7"
    telemetry._request_frame.cache_clear()  # the frame is made once per process, as in Lambda
    try:
        lines = {
            status: json.loads(
                telemetry.request_line(
                    timestamp_ms=1,
                    request_id="r",
                    route="GET /todos",
                    status=status,
                    latency_ms=1.0,
                    user=None,
                )
            )
            for status in (200, 500)
        }
    finally:
        if saved is None:
            del os.environ["AWS_LAMBDA_FUNCTION_VERSION"]
        else:
            os.environ["AWS_LAMBDA_FUNCTION_VERSION"] = saved
        telemetry._request_frame.cache_clear()
    ((field, value),) = re.findall(r"\$\.(\w+) = (\d+)", counted["FilterPattern"])
    assert [status for status, line in lines.items() if line.get(field) == int(value)] == [500]
    (dimension,) = transformation["Dimensions"]
    assert lines[500][dimension["Value"].removeprefix("$.")] == "7"
    alarm = resources["APIHandlerRelease5xx"]["Properties"]
    assert (alarm["Namespace"], alarm["MetricName"]) == (
        transformation["MetricNamespace"],
        transformation["MetricName"],
    )
    assert [d["Name"] for d in alarm["Dimensions"]] == [dimension["Key"]]


def without_alarms(template: dict[str, Any]) -> None:
    (group,) = of_type(template, "AWS::CodeDeploy::DeploymentGroup").values()
    del group["Properties"]["AlarmConfiguration"]


def with_a_misnamed_alarm(template: dict[str, Any]) -> None:
    (group,) = of_type(template, "AWS::CodeDeploy::DeploymentGroup").values()
    group["Properties"]["AlarmConfiguration"]["Alarms"][0] = {"Name": "todo-api-prod-release-errors"}


def with_an_alarm_on_the_whole_function(template: dict[str, Any]) -> None:
    alarm = template["Resources"]["APIHandlerReleaseErrors"]["Properties"]
    alarm["Dimensions"] = [d for d in alarm["Dimensions"] if d["Name"] == "FunctionName"]


def with_eleven_alarms(template: dict[str, Any]) -> None:
    (group,) = of_type(template, "AWS::CodeDeploy::DeploymentGroup").values()
    alarms = group["Properties"]["AlarmConfiguration"]["Alarms"]
    alarms += [alarms[0]] * (11 - len(alarms))


def without_rollback_on_alarm(template: dict[str, Any]) -> None:
    (group,) = of_type(template, "AWS::CodeDeploy::DeploymentGroup").values()
    group["Properties"]["AutoRollbackConfiguration"]["Events"] = ["DEPLOYMENT_FAILURE"]


def with_an_unknown_configuration(template: dict[str, Any]) -> None:
    (group,) = of_type(template, "AWS::CodeDeploy::DeploymentGroup").values()
    group["Properties"]["DeploymentConfigName"] = "CodeDeployDefault.LambdaCanary50Percent1Minute"


def with_a_role_codedeploy_cannot_assume(template: dict[str, Any]) -> None:
    trust = template["Resources"]["CodeDeployServiceRole"]["Properties"]["AssumeRolePolicyDocument"]
    trust["Statement"][0]["Principal"] = {"Service": ["lambda.amazonaws.com"]}


def with_a_role_without_the_lambda_policy(template: dict[str, Any]) -> None:
    template["Resources"]["CodeDeployServiceRole"]["Properties"]["ManagedPolicyArns"] = [
        "arn:aws:iam::aws:policy/service-role/AWSCodeDeployRole"  # EC2's, not Lambda's
    ]


def with_the_api_on_the_unqualified_function(template: dict[str, Any]) -> None:
    body = json.dumps(template["Resources"]["RestAPI"]["Properties"]["Body"])
    template["Resources"]["RestAPI"]["Properties"]["Body"] = json.loads(
        body.replace(API_ALIAS, "APIHandler.Arn")
    )


@pytest.mark.parametrize(
    ("mutate", "refusal"),
    [
        (without_alarms, "shifts gradually (CodeDeployDefault.LambdaCanary10Percent5Minutes) with no alarm"),
        (with_a_misnamed_alarm, "is not one this stack makes (CloudWatch takes it as OK)"),
        (with_an_alarm_on_the_whole_function, "alarm APIHandlerReleaseErrors watches the whole function"),
        (with_eleven_alarms, "11 alarms, over CodeDeploy's 10"),
        (without_rollback_on_alarm, "its alarms stop a deployment but do not roll it back"),
        (with_an_unknown_configuration, "is not a CodeDeploy deployment configuration for Lambda"),
        (with_a_role_codedeploy_cannot_assume, "does not trust codedeploy.amazonaws.com"),
        (with_a_role_without_the_lambda_policy, "does not allow lambda:UpdateAlias on arn:aws:lambda:"),
        (with_the_api_on_the_unqualified_function, "invokes todo-api-prod, not the alias live"),
    ],
)
def test_each_release_rule_refuses_a_stack_codedeploy_could_not_roll_back(
    plain: dict[str, dict[str, Any]], mutate: Callable[[dict[str, Any]], None], refusal: str
) -> None:
    mutant = copy.deepcopy(plain["prod-rest"])
    mutate(mutant)
    problems = check(Stack(mutant, "todo-api-prod"))
    assert any(refusal in problem for problem in problems), problems


def test_a_deployment_preference_without_an_alias_is_refused_by_the_transform(
    packaged: Callable[..., Path], tmp_path: Path
) -> None:
    # SAM's own rule ("You must specify an AutoPublishAlias ... to use a DeploymentPreference").
    built = packaged("prod")
    mutant = json.loads((built / "sam.json").read_text())
    del mutant["Resources"]["APIHandler"]["Properties"]["AutoPublishAlias"]
    (tmp_path / "sam.json").write_text(json.dumps(mutant))
    (tmp_path / "deployment.zip").write_bytes((built / "deployment.zip").read_bytes())
    report = rehearse(tmp_path, stack_name="todo-api-prod")
    assert report.problems
    assert "the SAM transform refused the template" in report.problems[0]
    assert "AutoPublishAlias" in report.problems[0]

"""Held to AWS's rules, not to our own model of AWS.

Every function of both deploy routes is checked against what Lambda documents it needs
for the function's configuration (infrastructure/rehearsal/aws_rules.py): the packaged stack after the SAM
transform (the rehearsal, infrastructure/rehearsal/rehearse.py, which then creates what moto can of it), and
the functions `chalice deploy` plans from the stage config and policy files. Mutants show
that each rule can fail: the first of them is the stack that could not be created (traced
functions whose roles could not write to X-Ray).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from chalice.cli.factory import CLIFactory
from chalice.deploy import models
from chalice.deploy.appgraph import ApplicationGraphBuilder

from infrastructure import policies
from infrastructure.rehearsal import aws_rules
from infrastructure.rehearsal.aws_rules import Function, Stack, allows, check, function_problems
from infrastructure.rehearsal.rehearse import LEFT_OUT, offline_aws, rehearse, transform
from tests.support import ROOT

pytestmark = pytest.mark.no_moto


@pytest.fixture(scope="module")
def packages(packaged: Callable[[str], Path]) -> dict[str, Path]:
    return {stage: packaged(stage) for stage in ("dev", "prod")}


@pytest.mark.parametrize("stage", ["dev", "prod"])
@pytest.mark.parametrize(
    "parameters",
    [{}, {"ExistingUserPoolArn": "arn:aws:cognito-idp:us-east-1:123456789012:userpool/us-east-1_Shared1"}],
    ids=["own-pool", "existing-pool"],
)
def test_the_packaged_stack_passes_the_rehearsal(
    packages: dict[str, Path], stage: str, parameters: dict[str, str]
) -> None:
    report = rehearse(packages[stage], stack_name=f"todo-api-{stage}", parameters=parameters)
    assert report.problems == []
    assert report.status == "CREATE_COMPLETE"
    made = set(report.created.values())
    assert {
        "AWS::Lambda::Function", "AWS::IAM::Role", "AWS::DynamoDB::Table", "AWS::Logs::LogGroup",
        "AWS::SQS::Queue", "AWS::SNS::Topic", "AWS::Events::Rule", "AWS::Lambda::Permission",
        "AWS::ApiGateway::RestApi",
    } <= made  # fmt: skip
    # Exactly what docs/deploying.md says the rehearsal cannot create, and nothing silently dropped.
    assert set(report.left_out.values()) <= set(LEFT_OUT)
    assert not made & set(LEFT_OUT)
    pools = {"AWS::Cognito::UserPool", "AWS::Cognito::UserPoolClient"}
    assert (pools <= set(report.left_out.values())) == (not parameters)


def chalice_deploy_functions(stage: str) -> list[Function]:
    """The functions `chalice deploy --stage STAGE` would create, as Chalice plans them."""
    config = CLIFactory(project_dir=str(ROOT)).create_config_obj(chalice_stage_name=stage)
    application = ApplicationGraphBuilder().build(config, stage)
    functions = []
    for planned in application.resources:
        # A function is planned on its own, or inside the API or the schedule that invokes it.
        candidates = [planned, *(getattr(planned, name, None) for name in ("lambda_function", "authorizer"))]
        resource = next((c for c in candidates if isinstance(c, models.LambdaFunction)), None)
        if resource is None:
            continue
        role = resource.role
        assert isinstance(role, models.ManagedIAMRole)
        assert isinstance(role.policy, models.FileBasedIAMPolicy)
        document = json.loads(Path(role.policy.filename).read_text())
        functions.append(
            Function(
                name=resource.function_name,
                policies=(document,),
                trust_policy=role.trust_policy,
                tracing=resource.xray,
                log_group_exists=False,  # `make deploy` makes it, but plain `chalice deploy` does not
                in_vpc=bool(resource.subnet_ids),
                environment=resource.environment_variables,
            )
        )
    return functions


@pytest.mark.parametrize("stage", ["dev", "prod"])
def test_the_functions_chalice_deploy_makes_meet_lambdas_requirements(stage: str) -> None:
    functions = {f.name: f for f in chalice_deploy_functions(stage)}
    assert set(functions) == {
        f"todo-api-{stage}",
        f"todo-api-{stage}-purge_completed",
        f"todo-api-{stage}-finish_clears",
    }
    assert all(f.tracing for f in functions.values())  # the X-Ray case is really exercised
    for function in functions.values():
        assert function_problems(function) == []


def test_the_policy_files_are_the_generated_ones() -> None:
    # One place makes them (infrastructure/policies.py); `make policies` writes them again.
    for stage in policies.DEPLOYED_STAGES:
        for function in policies.CODE_GRANTS:
            path = policies.policy_file(stage, function)
            expected = policies.policy(stage, function, table_arn=policies.scoped_table_arn(path))
            assert json.loads(path.read_text()) == expected, f"run `make policies`: {path.name} is stale"


# --- each rule can fail -----------------------------------------------------------------


@pytest.fixture(scope="module")
def transformed(packages: dict[str, Path]) -> dict[str, Any]:
    sam = json.loads((packages["dev"] / "sam.json").read_text())
    with offline_aws("us-east-1"):
        return transform(sam, "s3://bucket/deployment.zip", "us-east-1")


def _statements(template: dict[str, Any], role: str) -> list[dict[str, Any]]:
    statements: list[dict[str, Any]] = template["Resources"][role]["Properties"]["Policies"][0][
        "PolicyDocument"
    ]["Statement"]
    return statements


def without_tracing_grants(template: dict[str, Any]) -> None:
    for role in ("ApiHandlerRole", "PurgeCompletedRole", "FinishClearsRole"):
        statements = _statements(template, role)
        statements[:] = [s for s in statements if not any(a.startswith("xray:") for a in s["Action"])]


def with_the_old_log_scope(template: dict[str, Any]) -> None:
    # What the policy files said before: "todo-api-dev-*" misses the API handler's own
    # group, /aws/lambda/todo-api-dev.
    for statement in _statements(template, "ApiHandlerRole"):
        if statement["Sid"] == "OwnLogs":
            statement["Resource"] = [
                "arn:aws:logs:*:*:log-group:/aws/lambda/todo-api-dev-*",
                "arn:aws:logs:*:*:log-group:/aws/lambda/todo-api-dev-*:log-stream:*",
            ]


def without_queue_grant(template: dict[str, Any]) -> None:
    statements = _statements(template, "PurgeCompletedRole")
    statements[:] = [s for s in statements if s["Sid"] != "RecordFailedRuns"]


def trusted_by_ec2(template: dict[str, Any]) -> None:
    trust = template["Resources"]["ApiHandlerRole"]["Properties"]["AssumeRolePolicyDocument"]
    trust["Statement"][0]["Principal"] = {"Service": "ec2.amazonaws.com"}


def with_a_dangling_reference(template: dict[str, Any]) -> None:
    template["Resources"]["JobFailuresQueued"]["Properties"]["Dimensions"][0]["Value"] = {
        "Fn::GetAtt": ["JobFailure", "QueueName"]
    }


def with_a_long_function_name(template: dict[str, Any]) -> None:
    template["Resources"]["PurgeCompleted"]["Properties"]["FunctionName"] = "todo-api-" + "x" * 60


def with_a_reserved_variable(template: dict[str, Any]) -> None:
    template["Resources"]["APIHandler"]["Properties"]["Environment"]["Variables"]["AWS_REGION"] = "eu-west-1"


def without_the_invoke_permission(template: dict[str, Any]) -> None:
    del template["Resources"]["APIHandlerInvokePermission"]


def with_the_queue_closed_to_eventbridge(template: dict[str, Any]) -> None:
    policy = template["Resources"]["JobFailuresPolicy"]["Properties"]["PolicyDocument"]
    policy["Statement"][0]["Principal"] = {"Service": "sns.amazonaws.com"}


def with_a_vpc(template: dict[str, Any]) -> None:
    template["Resources"]["APIHandler"]["Properties"]["VpcConfig"] = {
        "SubnetIds": ["subnet-0abc"],
        "SecurityGroupIds": ["sg-0abc"],
    }


def as_production_on_cognitos_sender(template: dict[str, Any]) -> None:
    pool = template["Resources"]["UserPool"]["Properties"]
    pool["UserPoolTags"] = {"todo-api:production": "true"}
    assert pool["EmailConfiguration"] == {"EmailSendingAccount": "COGNITO_DEFAULT"}  # dev's, explicit


def through_ses_without_an_identity(template: dict[str, Any]) -> None:
    template["Resources"]["UserPool"]["Properties"]["EmailConfiguration"] = {
        "EmailSendingAccount": "DEVELOPER"
    }


def remembering_passwords_on_lite(template: dict[str, Any]) -> None:
    pool = template["Resources"]["UserPool"]["Properties"]
    assert pool["UserPoolTier"] == "LITE"
    pool["Policies"]["PasswordPolicy"]["PasswordHistorySize"] = 5


def with_threat_protection_on_essentials(template: dict[str, Any]) -> None:
    pool = template["Resources"]["UserPool"]["Properties"]
    pool["UserPoolTier"] = "ESSENTIALS"
    pool["UserPoolAddOns"] = {"AdvancedSecurityMode": "ENFORCED"}


def with_managed_login_on_lite(template: dict[str, Any]) -> None:
    template["Resources"]["UserPoolDomain"] = {
        "Type": "AWS::Cognito::UserPoolDomain",
        "Properties": {"UserPoolId": {"Ref": "UserPool"}, "Domain": "todo-dev", "ManagedLoginVersion": 2},
    }


def with_the_queue_open_to_any_rule(template: dict[str, Any]) -> None:
    del template["Resources"]["JobFailuresPolicy"]["Properties"]["PolicyDocument"]["Statement"][0][
        "Condition"
    ]


def with_the_queue_open_to_another_rule(template: dict[str, Any]) -> None:
    statement = template["Resources"]["JobFailuresPolicy"]["Properties"]["PolicyDocument"]["Statement"][0]
    statement["Condition"] = {
        "ArnEquals": {"aws:SourceArn": ["arn:aws:events:us-east-1:210987654321:rule/x"]}
    }


def without_the_settings_grant(template: dict[str, Any]) -> None:
    statements = _statements(template, "ApiHandlerRole")
    statements[:] = [s for s in statements if s["Sid"] != "RuntimeSettings"]


def reading_every_path(template: dict[str, Any]) -> None:
    for statement in _statements(template, "FinishClearsRole"):
        if statement["Sid"] == "RuntimeSettings":
            statement["Resource"] = ["arn:aws:ssm:*:*:parameter/*"]


@pytest.mark.parametrize(
    ("mutate", "refusal"),
    [
        (with_the_queue_open_to_any_rule, "lets events.amazonaws.com send for any account's rule"),
        (with_the_queue_open_to_another_rule, "EventBridge may not send to its dead-letter queue"),
        (without_the_settings_grant, "does not allow ssm:GetParametersByPath on arn:aws:ssm:us-east-1:"),
        (
            reading_every_path,
            "todo-api-dev-finish_clears: the role may read parameters under /, beyond its own",
        ),
        (as_production_on_cognitos_sender, "a production pool sends with Cognito's default sender"),
        (through_ses_without_an_identity, "EmailSendingAccount DEVELOPER needs the SES identity's SourceArn"),
        (
            remembering_passwords_on_lite,
            "UserPool: password history (PasswordHistorySize) needs the ESSENTIALS",
        ),
        (
            with_threat_protection_on_essentials,
            "threat protection (UserPoolAddOns AdvancedSecurityMode) needs the PLUS",
        ),
        (
            with_managed_login_on_lite,
            "UserPool: managed login (version 2, with its branding) needs the ESSENTIALS",
        ),
        (without_tracing_grants, "does not allow xray:PutTraceSegments on * (active tracing)"),
        (with_the_old_log_scope, "todo-api-dev: the role does not allow logs:CreateLogStream"),
        (without_queue_grant, "does not allow sqs:SendMessage on arn:aws:sqs:us-east-1:123456789012:"),
        (trusted_by_ec2, "todo-api-dev: its role does not trust lambda.amazonaws.com"),
        (with_a_dangling_reference, "references JobFailure, which this stack does not create"),
        (with_a_long_function_name, "is outside the service's limits"),
        (with_a_reserved_variable, "reserved environment variables ['AWS_REGION']"),
        (without_the_invoke_permission, "integrates todo-api-dev:live without permission to invoke it"),
        (with_the_queue_closed_to_eventbridge, "EventBridge may not send to its dead-letter queue"),
        (with_a_vpc, "does not allow ec2:CreateNetworkInterface on *"),
    ],
)
def test_each_rule_refuses_what_aws_refuses(
    transformed: dict[str, Any], mutate: Callable[[dict[str, Any]], None], refusal: str
) -> None:
    assert check(Stack(transformed, "todo-api-dev")) == []
    mutant = copy.deepcopy(transformed)
    mutate(mutant)
    problems = check(Stack(mutant, "todo-api-dev"))
    assert any(refusal in problem for problem in problems), problems


def test_the_chalice_deploy_route_is_refused_without_tracing_grants() -> None:
    [function, *_] = chalice_deploy_functions("dev")
    statements = [s for s in function.policies[0]["Statement"] if s["Sid"] != "Tracing"]
    bare = Function(function.name, ({"Statement": statements},), function.trust_policy, tracing=True)
    assert any("xray:PutTraceSegments" in problem for problem in function_problems(bare))


# --- IAM's evaluation, as documented ----------------------------------------------------


def doc(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def allow(action: Any, resource: Any, effect: str = "Allow") -> dict[str, Any]:
    return {"Effect": effect, "Action": action, "Resource": resource}


@pytest.mark.parametrize(
    ("documents", "action", "resource", "allowed"),
    [
        ([doc(allow("s3:GetObject", "*"))], "s3:GetObject", "arn:aws:s3:::b/k", True),
        ([doc(allow("S3:getobject", "*"))], "s3:GetObject", "arn:aws:s3:::b/k", True),  # actions ignore case
        ([doc(allow("s3:Get*", "arn:aws:s3:::b/*"))], "s3:GetObject", "arn:aws:s3:::b/k/x", True),
        # ARNs do not ignore case
        ([doc(allow("s3:Get*", "arn:aws:s3:::B/*"))], "s3:GetObject", "arn:aws:s3:::b/k", False),
        ([doc(allow("s3:GetObject", "arn:aws:s3:::b/?"))], "s3:GetObject", "arn:aws:s3:::b/kk", False),
        ([doc(allow("logs:*", "arn:aws:logs:*:*:log-group:g:*"))], "logs:PutLogEvents",
         "arn:aws:logs:r:1:log-group:g:log-stream:2026/[$LATEST]a", True),  # "[" is literal
        ([doc(allow("logs:*", "arn:aws:logs:*:*:log-group:g"))], "logs:CreateLogStream",
         "arn:aws:logs:r:1:log-group:g:*", False),
        ([doc(allow("*", "*")), doc(allow("s3:Delete*", "*", "Deny"))], "s3:DeleteObject", "x", False),
        ([doc(allow(["xray:PutTraceSegments"], ["arn:aws:xray:*"]))], "xray:PutTraceSegments", "*", False),
        ([], "s3:GetObject", "x", False),
    ],
)  # fmt: skip
def test_iam_evaluation(documents: list[dict[str, Any]], action: str, resource: str, allowed: bool) -> None:
    assert allows(documents, action, resource) is allowed


def test_generated_names_stay_within_lambdas_limit() -> None:
    template = {"Resources": {"AVeryLongLogicalIdForAFunction" * 2: {"Type": "AWS::Lambda::Function"}}}
    name = Stack(template, "a-stack-name-that-is-long-as-well").physical_name(
        "AVeryLongLogicalIdForAFunction" * 2
    )
    assert aws_rules.NAME_LIMITS["AWS::Lambda::Function"][1].fullmatch(name)


def test_what_the_sam_transform_refuses_is_reported(packages: dict[str, Path], tmp_path: Path) -> None:
    sam = json.loads((packages["dev"] / "sam.json").read_text())
    sam["Resources"]["PurgeCompleted"]["Properties"]["Events"]["PurgeCompletedEvent"]["Type"] = "Nonsense"
    (tmp_path / "sam.json").write_text(json.dumps(sam))
    (tmp_path / "deployment.zip").write_bytes((packages["dev"] / "deployment.zip").read_bytes())
    report = rehearse(tmp_path, stack_name="todo-api-dev")
    assert report.status == "NOT ATTEMPTED"
    assert len(report.problems) == 1
    assert report.problems[0].startswith("the SAM transform refused the template")

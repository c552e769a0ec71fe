"""`make rehearse`: a deploy of the packaged stack, rehearsed offline, as far as offline goes.

From `make package`'s output (build/package: sam.json and deployment.zip):

1. *transform*: the zip is uploaded as `aws cloudformation package` would (to a bucket
   of an in-process moto), CodeUri becomes its s3:// URI, and aws-sam-translator (the
   library behind CloudFormation's AWS::Serverless transform) turns the SAM template
   into the plain CloudFormation that CloudFormation would then create;
2. *check* what CloudFormation and the services refuse at create time that linters do
   not (infrastructure/rehearsal/aws_rules.py): every Ref and GetAtt resolves to a resource the stack
   creates; names are within their limits; every function's role exists in the stack,
   trusts lambda.amazonaws.com and allows what Lambda needs for the function's
   configuration (logs, X-Ray for active tracing, its failure destinations, VPC, KMS);
   no reserved or oversized environment; API Gateway may invoke every function it
   integrates; EventBridge may send to each rule's dead-letter queue;
3. *create* the stack in moto's CloudFormation, with every resource type moto can
   create, then read the functions (environment), roles (their policies), table (keys)
   and log groups (retention) back from moto.

Where it stops, and why: moto cannot create the types in LEFT_OUT (Cognito user pools
and clients, CloudWatch alarms, the SQS queue policy, the API Gateway deployment and
stage, an HTTP API and its stage, Lambda's event-invoke config and aliases, CodeDeploy; the RestApi
is created without its definition, which moto's CloudFormation ignores, and a permission on an
alias is created on its function); they are checked in step 2 only, and references
to them get the values step 2 resolved. moto evaluates no IAM policy, does not run
Lambda's create-time checks and drops a function's TracingConfig, so step 2 is where
those rules live. Beyond any offline rehearsal: account quotas, service-linked roles,
and the API definition as API Gateway imports it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from infrastructure import names
from infrastructure.rehearsal.aws_rules import Stack, TemplateError, check, functions_of, sub_references
from infrastructure.stages import ROOT

BUCKET = f"{names.APP}-rehearsal-artifacts"
# What moto's CloudFormation cannot create (it logs "No Moto CloudFormation support").
LEFT_OUT = {
    "AWS::Cognito::UserPool": "moto's CloudFormation has no Cognito (the bootstrap's API calls are tested)",
    "AWS::Cognito::UserPoolClient": "moto's CloudFormation has no Cognito",
    "AWS::CloudWatch::Alarm": "moto's CloudFormation has no CloudWatch alarms",
    "AWS::SQS::QueuePolicy": "moto's CloudFormation has no SQS queue policies",
    "AWS::ApiGateway::Stage": "moto's CloudFormation has no API Gateway stages",
    "AWS::ApiGateway::Deployment": (
        "moto's CloudFormation ignores a RestApi's Body (the API definition), so a deployment of it "
        "has no methods; the RestApi itself is created empty"
    ),
    "AWS::Lambda::EventInvokeConfig": "moto's CloudFormation has no Lambda event-invoke configs",
    "AWS::ApiGatewayV2::Api": "moto's CloudFormation has no API Gateway v2 (HTTP APIs)",
    "AWS::ApiGatewayV2::Stage": "moto's CloudFormation has no API Gateway v2 (HTTP APIs)",
    "AWS::ApiGateway::UsagePlan": "moto's CloudFormation has no API Gateway usage plans",
    "AWS::ApiGateway::ApiKey": "moto's CloudFormation has no API Gateway API keys",
    "AWS::ApiGateway::UsagePlanKey": "moto's CloudFormation has no API Gateway usage plans",
    "AWS::WAFv2::WebACL": "moto's CloudFormation has no WAF",
    "AWS::WAFv2::WebACLAssociation": "moto's CloudFormation has no WAF",
    "AWS::WAFv2::LoggingConfiguration": "moto's CloudFormation has no WAF",
    "AWS::Logs::MetricFilter": "moto's CloudFormation has no CloudWatch Logs metric filters",
    "AWS::Backup::BackupVault": "moto's CloudFormation has no AWS Backup",
    "AWS::Backup::BackupPlan": "moto's CloudFormation has no AWS Backup",
    "AWS::Backup::BackupSelection": "moto's CloudFormation has no AWS Backup",
    "AWS::Lambda::Alias": (
        "moto's CloudFormation has no Lambda aliases (make release's tests make them through Lambda's API)"
    ),
    "AWS::CodeDeploy::Application": "moto's CloudFormation has no CodeDeploy",
    "AWS::CodeDeploy::DeploymentGroup": "moto's CloudFormation has no CodeDeploy",
}


@dataclass
class Report:
    stack: str
    problems: list[str] = field(default_factory=list)
    created: dict[str, str] = field(default_factory=dict)  # logical id -> type, as moto made them
    left_out: dict[str, str] = field(default_factory=dict)  # logical id -> type, checked only
    status: str = "NOT ATTEMPTED"


def transform(sam: Mapping[str, Any], code_uri: str, region: str) -> dict[str, Any]:
    """SAM to plain CloudFormation, as CloudFormation's AWS::Serverless transform does."""
    from samtranslator.translator.transform import transform as sam_transform  # type: ignore[import-untyped]

    document = json.loads(json.dumps(sam))
    for resource in document["Resources"].values():
        if resource["Type"] == "AWS::Serverless::Function":
            resource["Properties"]["CodeUri"] = code_uri

    class NoManagedPolicies:  # our roles use none; a template naming one would fail here
        def load(self) -> dict[str, str]:
            return {}

    result: dict[str, Any] = sam_transform(document, {"AWS::Region": region}, NoManagedPolicies())
    return result


@contextmanager
def offline_aws(region: str) -> Iterator[None]:
    from moto import mock_aws

    saved = dict(os.environ)
    os.environ.update(
        {
            "AWS_ACCESS_KEY_ID": "local",
            "AWS_SECRET_ACCESS_KEY": "local",
            "AWS_DEFAULT_REGION": region,
            "AWS_EC2_METADATA_DISABLED": "true",
        }
    )
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"):
        os.environ.pop(name, None)
    try:
        with mock_aws():
            yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def _substitute(value: Any, stack: Stack, gone: set[str]) -> Any:
    """`value` with every reference to a left-out resource replaced by its resolved value."""
    if isinstance(value, list):
        return [_substitute(v, stack, gone) for v in value]
    if not isinstance(value, dict):
        return value
    if len(value) == 1:
        ((key, args),) = value.items()
        if key == "Ref" and args in gone:
            return stack.ref(args)
        if key == "Fn::GetAtt":
            logical = (args.split(".", 1) if isinstance(args, str) else args)[0]
            if logical in gone:
                return stack.resolve(value)
        if key == "Fn::Sub":
            text = args if isinstance(args, str) else args[0]
            if any(name.split(".")[0] in gone for name in sub_references(text)):
                return stack.resolve(value)
    return {k: _substitute(v, stack, gone) for k, v in value.items()}


def for_moto(template: dict[str, Any], stack: Stack) -> tuple[dict[str, Any], dict[str, str]]:
    """`template` (already transformed) as moto's CloudFormation can create it: without the
    resources of LEFT_OUT's types, references to them replaced by the values step 2 resolved;
    and those left out (logical id -> type)."""
    created = stack.created()
    gone = {logical for logical, r in created.items() if r["Type"] in LEFT_OUT}
    document = {key: value for key, value in template.items() if key != "Resources"}
    document["Resources"] = {
        logical: _substitute(resource, stack, gone)
        for logical, resource in template["Resources"].items()
        if logical not in gone and resource["Type"] not in LEFT_OUT
    }
    aliases = {
        str(stack.ref(logical)) for logical in gone if created[logical]["Type"] == "AWS::Lambda::Alias"
    }
    for resource in document["Resources"].values():
        # CloudFormation names a RestApi from its Body's info.title; moto wants Name given.
        if resource["Type"] == "AWS::ApiGateway::RestApi" and "Name" not in resource["Properties"]:
            resource["Properties"]["Name"] = resource["Properties"]["Body"]["info"]["title"]
        # A permission on an alias (which moto's CloudFormation cannot make) is made on its
        # function here; step 2 holds it on the alias.
        if (
            resource["Type"] == "AWS::Lambda::Permission"
            and resource["Properties"]["FunctionName"] in aliases
        ):
            resource["Properties"]["FunctionName"] = resource["Properties"]["FunctionName"].rsplit(":", 1)[0]
    # Outputs may name left-out resources too.
    document["Outputs"] = _substitute(template.get("Outputs", {}), stack, gone)
    return document, {logical: created[logical]["Type"] for logical in sorted(gone)}


def create_in_moto(template: dict[str, Any], stack: Stack, report: Report) -> None:
    """Create what moto can of `template` (already transformed) and read it back."""
    import boto3

    cloudformation = boto3.client("cloudformation", region_name=stack.region)
    document, report.left_out = for_moto(template, stack)
    parameters = [{"ParameterKey": k, "ParameterValue": v} for k, v in stack.parameters.items()]
    cloudformation.create_stack(
        StackName=stack.name,
        TemplateBody=json.dumps(document),
        Parameters=parameters,
        Capabilities=["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM"],
    )
    for _ in range(60):
        described = cloudformation.describe_stacks(StackName=stack.name)["Stacks"][0]
        report.status = described["StackStatus"]
        if not report.status.endswith("IN_PROGRESS"):
            break
        time.sleep(0.5)
    if report.status != "CREATE_COMPLETE":
        report.problems.append(
            f"moto's CloudFormation: {report.status} {described.get('StackStatusReason', '')}"
        )
        return
    summaries = cloudformation.list_stack_resources(StackName=stack.name)["StackResourceSummaries"]
    report.created = {s["LogicalResourceId"]: s["ResourceType"] for s in summaries}
    report.problems += _read_back(stack)


def _read_back(stack: Stack) -> list[str]:
    """The functions, roles, table and log groups, as moto holds them after the create.
    (moto's CloudFormation drops a function's TracingConfig and Architectures: those are
    held in step 2 only.)"""
    import boto3

    problems = []
    lambda_ = boto3.client("lambda", region_name=stack.region)
    iam = boto3.client("iam", region_name=stack.region)
    for function in functions_of(stack):
        found = lambda_.get_function(FunctionName=function.name)["Configuration"]
        if found.get("Environment", {}).get("Variables", {}) != dict(function.environment):
            problems.append(f"{function.name}: created with another environment")
        role_name = found["Role"].rsplit("/", 1)[1]
        inline = [
            iam.get_role_policy(RoleName=role_name, PolicyName=name)["PolicyDocument"]
            for name in iam.list_role_policies(RoleName=role_name)["PolicyNames"]
        ]
        if [_as_json(p) for p in inline] != [_as_json(p) for p in function.policies]:
            problems.append(f"{function.name}: its role was created with other policies")
    dynamodb = boto3.client("dynamodb", region_name=stack.region)
    logs = boto3.client("logs", region_name=stack.region)
    for logical, resource in stack.created().items():
        if resource["Type"] == "AWS::DynamoDB::Table":
            table = dynamodb.describe_table(TableName=stack.physical_name(logical))["Table"]
            if table["KeySchema"] != resource["Properties"]["KeySchema"]:
                problems.append(f"{logical}: created with another key schema")
        if resource["Type"] == "AWS::Logs::LogGroup" and "LogGroupName" in resource["Properties"]:
            name = stack.physical_name(logical)
            groups = logs.describe_log_groups(logGroupNamePrefix=name)["logGroups"]
            days = resource["Properties"].get("RetentionInDays")
            if [
                (g["logGroupName"], g.get("retentionInDays")) for g in groups if g["logGroupName"] == name
            ] != [(name, days)]:
                problems.append(f"{logical}: log group {name} was not created with {days} days' retention")
    return problems


def _loads(text: str) -> Any:
    # moto hands back an inline policy given to it as a CloudFormation mapping in Python's
    # repr (single quotes, True) rather than JSON.
    import ast

    try:
        return json.loads(text)
    except ValueError:
        return ast.literal_eval(text)


def _as_json(document: Any) -> str:
    parsed = _loads(document) if isinstance(document, str) else document
    return json.dumps(parsed, sort_keys=True)


def rehearse(
    package_dir: Path,
    *,
    stack_name: str,
    parameters: Mapping[str, str] | None = None,
    region: str = "us-east-1",
) -> Report:
    sam = json.loads((package_dir / "sam.json").read_text())
    report = Report(stack_name)
    with offline_aws(region):
        import boto3

        s3 = boto3.client("s3", region_name=region)
        s3.create_bucket(Bucket=BUCKET)
        s3.put_object(Bucket=BUCKET, Key="deployment.zip", Body=(package_dir / "deployment.zip").read_bytes())
        from samtranslator.model.exceptions import InvalidDocumentException  # type: ignore[import-untyped]

        try:
            template = transform(sam, f"s3://{BUCKET}/deployment.zip", region)
        except InvalidDocumentException as exc:  # what CloudFormation's SAM transform would refuse
            report.problems = [f"the SAM transform refused the template: {exc}"]
            return report
        try:
            stack = Stack(template, stack_name, dict(parameters or {}), region=region)
            report.problems = check(stack)
        except TemplateError as exc:
            report.problems = [str(exc)]
        if not report.problems:
            create_in_moto(template, stack, report)
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infrastructure.rehearsal.rehearse")
    parser.add_argument("--package-dir", type=Path, default=ROOT / "build" / "package")
    parser.add_argument("--stack-name", default=names.of("dev"))
    parser.add_argument("--parameter", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args(argv)
    parameters = dict(p.split("=", 1) for p in args.parameter)
    report = rehearse(args.package_dir, stack_name=args.stack_name, parameters=parameters)
    for problem in report.problems:
        print(f"refused: {problem}")
    print(f"moto's CloudFormation: {report.status}; created {len(report.created)} resources")
    for logical, kind in report.left_out.items():
        print(f"checked, not created: {logical} ({kind}): {LEFT_OUT[kind]}")
    return 1 if report.problems else 0


if __name__ == "__main__":
    sys.exit(main())

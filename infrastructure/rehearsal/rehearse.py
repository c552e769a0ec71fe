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
stage, an HTTP API and its stage, Lambda's event-invoke config; the RestApi is created without its definition,
which moto's CloudFormation ignores); they are checked in step 2 only, and references
to them get the values step 2 resolved. moto evaluates no IAM policy, does not run
Lambda's create-time checks and drops a function's TracingConfig, so step 2 is where
those rules live. Beyond any offline rehearsal: account quotas, service-linked roles,
and the API definition as API Gateway imports it.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from infrastructure import capacity, contract, names
from infrastructure.identity import PLANS, PRODUCTION_TAG, plan_features
from infrastructure.rehearsal.aws_rules import (
    NAME_LIMITS,
    Function,
    Stack,
    TemplateError,
    allows,
    function_problems,
    glob,
    listed,
    listed_statements,
    sub_references,
)
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


def functions_of(stack: Stack) -> list[Function]:
    """The stack's functions as Lambda would see them, every intrinsic resolved."""
    created = stack.created()
    log_groups = {
        stack.resolve(r["Properties"].get("LogGroupName"))
        for r in created.values()
        if r["Type"] == "AWS::Logs::LogGroup" and "LogGroupName" in r.get("Properties", {})
    }
    functions = []
    for logical, resource in created.items():
        if resource["Type"] != "AWS::Lambda::Function":
            continue
        properties = stack.resolve(resource["Properties"])
        name = stack.physical_name(logical)
        role = _role(stack, logical, resource["Properties"]["Role"])
        destinations = []
        for config in created.values():
            if config["Type"] != "AWS::Lambda::EventInvokeConfig":
                continue
            invoke = stack.resolve(config["Properties"])
            if invoke["FunctionName"] in (name, stack.get_att(logical, "Arn")):
                for outcome in ("OnFailure", "OnSuccess"):
                    target = invoke.get("DestinationConfig", {}).get(outcome, {}).get("Destination")
                    if target:
                        destinations.append(target)
        functions.append(
            Function(
                name=name,
                policies=tuple(p["PolicyDocument"] for p in role.get("Policies", [])),
                trust_policy=role["AssumeRolePolicyDocument"],
                tracing=properties.get("TracingConfig", {}).get("Mode") == "Active",
                log_group_exists=f"/aws/lambda/{name}" in log_groups,
                dead_letter_target=properties.get("DeadLetterConfig", {}).get("TargetArn"),
                failure_destinations=tuple(destinations),
                in_vpc=bool(properties.get("VpcConfig", {}).get("SubnetIds")),
                kms_key=properties.get("KmsKeyArn"),
                environment=properties.get("Environment", {}).get("Variables", {}),
                region=stack.region,
                account=stack.account,
            )
        )
    return functions


def _role(stack: Stack, function: str, reference: Any) -> dict[str, Any]:
    target = reference.get("Fn::GetAtt") if isinstance(reference, dict) else None
    logical = (target.split(".")[0] if isinstance(target, str) else target[0]) if target else None
    created = stack.created()
    if logical is None or created.get(logical, {}).get("Type") != "AWS::IAM::Role":
        raise TemplateError(f"{function}: its role is not one this stack creates, so it cannot be checked")
    role = stack.resolve(created[logical]["Properties"])
    if role.get("ManagedPolicyArns"):
        raise TemplateError(f"{logical}: managed policies cannot be evaluated offline")
    return dict(role)


def check(stack: Stack) -> list[str]:
    """What CloudFormation or the services would refuse (or silently break on)."""
    problems = []
    created = stack.created()
    for logical, target in stack.references():
        pseudo = target.startswith("AWS::") or target in stack.values
        if not pseudo and target not in created:
            problems.append(f"{logical}: references {target}, which this stack does not create")
    if problems:
        return problems  # nothing further resolves
    for logical, resource in created.items():
        limit = NAME_LIMITS.get(resource["Type"])
        if limit is not None:
            name = stack.physical_name(logical)
            if not limit[1].fullmatch(name):
                problems.append(f"{logical}: {limit[0]} {name!r} is outside the service's limits")
    try:
        functions = functions_of(stack)
    except TemplateError as exc:
        return [*problems, str(exc)]
    for function in functions:
        problems += function_problems(function)
    problems += _api_may_invoke(stack, functions)
    problems += _rules_may_reach_their_dead_letter_queues(stack)
    problems += _snapstart_where_lambda_offers_it(stack)
    problems += _firewall_where_waf_takes_it(stack)
    problems += _usage_plans_on_stages(stack)
    problems += _request_validation_api_gateway_takes(stack)
    problems += _pools_send_enough_email(stack)
    problems += _pools_have_their_features_plan(stack)
    return problems


def _pools_send_enough_email(stack: Stack) -> list[str]:
    """Cognito refuses a pool that sends through SES (DEVELOPER) without the verified
    identity's ARN (SourceArn); and a production pool must not use Cognito's own sender,
    which sends 50 e-mails a day per account (infrastructure/quotas.json): sign-up 51 of the day
    would get no confirmation code (our rule, from AWS's quota)."""
    problems = []
    for logical, resource in stack.created().items():
        if resource["Type"] != "AWS::Cognito::UserPool":
            continue
        properties = resource.get("Properties", {})
        email = properties.get("EmailConfiguration", {})
        sender = email.get("EmailSendingAccount", "COGNITO_DEFAULT")
        if sender == "DEVELOPER" and not str(email.get("SourceArn", "")).startswith("arn:"):
            problems.append(f"{logical}: EmailSendingAccount DEVELOPER needs the SES identity's SourceArn")
        if properties.get("UserPoolTags", {}).get(PRODUCTION_TAG) == "true" and sender != "DEVELOPER":
            problems.append(
                f"{logical}: a production pool sends with Cognito's default sender (50 e-mails a day per "
                "account: sign-up 51 gets no code); send through SES (the stage's `email`)"
            )
    return problems


def _pools_have_their_features_plan(stack: Stack) -> list[str]:
    """Cognito configures a feature only while the pool's feature plan has it ("Turning off
    features to change feature plans"; the plans' features: infrastructure/identity.py). A pool
    without UserPoolTier gets Essentials, AWS's default."""
    problems = []
    resources = stack.created()
    for logical, resource in resources.items():
        if resource["Type"] != "AWS::Cognito::UserPool":
            continue
        plan = resource.get("Properties", {}).get("UserPoolTier", "ESSENTIALS")
        for feature, needs in plan_features(resources, logical).items():
            if PLANS.index(needs) > PLANS.index(plan):
                problems.append(f"{logical}: {feature} needs the {needs} feature plan; the pool is on {plan}")
    return problems


def _api_may_invoke(stack: Stack, functions: list[Function]) -> list[str]:
    """API Gateway answers 500 for an integration whose function it may not invoke: each
    integration target needs a Lambda permission for apigateway.amazonaws.com on exactly
    that target. A permission on a function does not cover its aliases or versions, nor
    one on an alias the function itself (Lambda: "a qualified ARN ... applies to that
    version or alias only"). API Gateway invokes with the source ARN
    `arn:aws:execute-api:REGION:ACCOUNT:API_ID/STAGE/METHOD/PATH` (a path parameter is
    the request's value), which the permission's SourceArn, if it has one, must match."""
    created = stack.created()
    permissions = []
    for r in created.values():
        properties = r.get("Properties", {})
        if (
            r["Type"] == "AWS::Lambda::Permission"
            and properties.get("Principal") == "apigateway.amazonaws.com"
            and properties.get("Action") == "lambda:InvokeFunction"
        ):
            named = str(stack.resolve(properties["FunctionName"]))
            prefix = f"arn:aws:lambda:{stack.region}:{stack.account}:function:"
            source = stack.resolve(properties["SourceArn"]) if "SourceArn" in properties else "*"
            permissions.append((named if named.startswith("arn:") else prefix + named, str(source)))
    problems = []
    function_names = {function.name for function in functions}
    for logical, resource in created.items():
        if resource["Type"] not in ("AWS::ApiGateway::RestApi", "AWS::ApiGatewayV2::Api"):
            continue
        api_id = stack.ref(logical)
        # The stage in the source ARN: a REST API's own stages; an HTTP API's $default.
        stage_names = {name for api, name in _rest_stages(stack) if api == api_id} or {"$default"}
        paths = stack.resolve(resource["Properties"].get("Body", {})).get("paths", {})
        for path, operations in paths.items():
            for method, operation in operations.items():
                uri = json.dumps(operation.get("x-amazon-apigateway-integration", {}).get("uri", ""))
                for target in _INTEGRATION_TARGET.findall(uri):
                    if target.split(":")[6] not in function_names:
                        continue
                    concrete = re.sub(r"\{[^}]+\}", "x", path)
                    account = f"{stack.region}:{stack.account}"
                    sources = [
                        f"arn:aws:execute-api:{account}:{api_id}/{stage}/{method.upper()}{concrete}"
                        for stage in stage_names
                    ]
                    if not any(
                        arn == target and all(_glob_matches(pattern, source) for source in sources)
                        for arn, pattern in permissions
                    ):
                        qualified_name = target.split(":", 6)[6]  # name, or name:alias
                        problems.append(
                            f"{logical}: {method.upper()} {path} integrates {qualified_name} "
                            "without permission to invoke it"
                        )
    return problems


def _glob_matches(pattern: str, value: str) -> bool:
    """A SourceArn pattern (`*` any run of characters) against an invocation's source ARN."""
    return re.fullmatch(".*".join(re.escape(part) for part in pattern.split("*")), value) is not None


# The function (ARN, perhaps qualified by a version or alias) of a Lambda proxy integration.
_INTEGRATION_TARGET = re.compile(
    r"functions/(arn:aws:lambda:[a-z0-9-]+:\d{12}:function:[\w-]+(?::[\w-]+)?)/invocations"
)


# Python runtimes SnapStart supports (Lambda Developer Guide, "Improving startup
# performance with Lambda SnapStart": Python 3.12 and later).
_SNAPSTART_PYTHON = re.compile(r"python3\.(1[2-9]|[2-9]\d)")


def _snapstart_where_lambda_offers_it(stack: Stack) -> list[str]:
    """Lambda refuses SnapStart on a runtime it does not support, and provisioned
    concurrency on a version that has SnapStart."""
    created = stack.created()
    snapstart = set()
    problems = []
    for logical, resource in created.items():
        properties = resource.get("Properties", {})
        applies = properties.get("SnapStart", {}).get("ApplyOn", "None")
        if resource["Type"] != "AWS::Lambda::Function" or applies == "None":
            continue
        snapstart.add(str(stack.resolve({"Ref": logical})))
        runtime = str(properties.get("Runtime", ""))
        if runtime.startswith("python") and not _SNAPSTART_PYTHON.fullmatch(runtime):
            problems.append(f"{logical}: SnapStart does not support {runtime}")
    for logical, resource in created.items():
        properties = resource.get("Properties", {})
        if resource["Type"] == "AWS::Lambda::Alias" and "ProvisionedConcurrencyConfig" in properties:
            named = str(stack.resolve(properties["FunctionName"]))
            if (named.split(":")[6] if named.startswith("arn:") else named) in snapstart:
                problems.append(f"{logical}: provisioned concurrency on a version with SnapStart")
    return problems


# What a REST API stage's ARN looks like to WAF (WAF Developer Guide, "Associating a web
# ACL with an AWS resource"): regional, the stage's, not the API's.
_REST_STAGE_ARN = re.compile(r"arn:aws:apigateway:([a-z0-9-]+)::/restapis/([^/]+)/stages/([^/]+)")


def _firewall_where_waf_takes_it(stack: Stack) -> list[str]:
    """WAF refuses an association with anything but a regional web ACL and a resource it
    protects (for API Gateway: a REST API stage, never an HTTP API), and sends logs only to
    a log group whose name starts with `aws-waf-logs-`."""
    created = stack.created()
    problems = []
    stages = _rest_stages(stack)
    for logical, resource in created.items():
        properties = resource.get("Properties", {})
        if resource["Type"] == "AWS::WAFv2::WebACL" and properties.get("Scope") != "REGIONAL":
            problems.append(f"{logical}: API Gateway takes regional web ACLs only")
        if resource["Type"] == "AWS::WAFv2::WebACLAssociation":
            arn = str(stack.resolve(properties["ResourceArn"]))
            match = _REST_STAGE_ARN.fullmatch(arn)
            if match is None or match[1] != stack.region or (match[2], match[3]) not in stages:
                problems.append(f"{logical}: {arn} is not a REST API stage of this stack")
        if resource["Type"] == "AWS::WAFv2::LoggingConfiguration":
            for destination in stack.resolve(properties["LogDestinationConfigs"]):
                name = str(destination).split(":log-group:", 1)[-1]
                if not name.startswith("aws-waf-logs-") or name.endswith(":*"):
                    problems.append(f"{logical}: WAF cannot log to {destination}")
    return problems


def _rest_stages(stack: Stack) -> set[tuple[str, str]]:
    """(REST API id, stage name) of every stage the stack creates."""
    return {
        (str(stack.resolve(r["Properties"]["RestApiId"])), str(stack.resolve(r["Properties"]["StageName"])))
        for r in stack.created().values()
        if r["Type"] == "AWS::ApiGateway::Stage"
    }


def _usage_plans_on_stages(stack: Stack) -> list[str]:
    """API Gateway refuses a usage plan on a stage that does not exist ("Invalid stage
    identifier"): each of its API stages must be one the stack creates, and each key of a
    plan an API key of the stack."""
    stages = _rest_stages(stack)
    created = stack.created()
    problems = []
    for logical, resource in created.items():
        properties = resource.get("Properties", {})
        if resource["Type"] == "AWS::ApiGateway::UsagePlan":
            for api_stage in stack.resolve(properties.get("ApiStages", [])):
                if (str(api_stage["ApiId"]), str(api_stage["Stage"])) not in stages:
                    problems.append(
                        f"{logical}: {api_stage['ApiId']}/{api_stage['Stage']} is no stage of this stack"
                    )
        if resource["Type"] == "AWS::ApiGateway::UsagePlanKey":
            key = properties.get("KeyId")
            target = key.get("Ref") if isinstance(key, dict) else None
            if created.get(str(target), {}).get("Type") != "AWS::ApiGateway::ApiKey":
                problems.append(f"{logical}: its key is not an API key of this stack")
    return problems


def _request_validation_api_gateway_takes(stack: Stack) -> list[str]:
    """What API Gateway's import refuses, or drops with a warning, in a REST API's body
    validation and mock integrations: a validator or model an operation names but the API does
    not declare, a model name that is not alphanumeric, a model keyword its draft-4 models do
    not take (infrastructure/contract.py cites AWS's list), a mapping template over its quota."""
    problems = []
    # The served contract's mock response is one mapping template (infrastructure/quotas.json).
    template_limit = capacity.quota("apigateway_mapping_template_bytes")
    for logical, resource in stack.created().items():
        body = (
            resource.get("Properties", {}).get("Body")
            if resource["Type"] == "AWS::ApiGateway::RestApi"
            else None
        )
        if not isinstance(body, dict):
            continue
        validators, models = (
            body.get("x-amazon-apigateway-request-validators", {}),
            body.get("definitions", {}),
        )
        for name, model in models.items():
            if not re.fullmatch(r"[A-Za-z0-9]+", name):
                problems.append(f"{logical}: model {name!r}: API Gateway takes alphanumeric model names only")
            problems += [f"{logical}: model {name}: {p}" for p in contract.model_problems(model)]
        for path, item in body.get("paths", {}).items():
            for method, operation in item.items():
                where = f"{logical}: {method.upper()} {path}"
                named = operation.get("x-amazon-apigateway-request-validator")
                if named is not None and named not in validators:
                    problems.append(f"{where}: validator {named!r} is not declared")
                for parameter in operation.get("parameters", []):
                    target = parameter.get("schema", {}).get("$ref", "").removeprefix("#/definitions/")
                    if parameter.get("in") == "body" and target not in models:
                        problems.append(f"{where}: its body's model {target!r} is not declared")
                integration = operation.get("x-amazon-apigateway-integration", {})
                for response in integration.get("responses", {}).values():
                    for template in response.get("responseTemplates", {}).values():
                        if len(template.encode()) > template_limit:
                            problems.append(f"{where}: a mapping template over its {template_limit:,} bytes")
    return problems


def _rules_may_reach_their_dead_letter_queues(stack: Stack) -> list[str]:
    """EventBridge drops events it cannot deliver to a target's dead-letter queue unless the
    queue's policy lets events.amazonaws.com send to it (EventBridge, "Using dead-letter
    queues"); and a grant to the service with no aws:SourceArn (or aws:SourceAccount)
    condition lets any account's rule send there too, which AWS advises against (IAM,
    "The confused deputy problem")."""
    created = stack.created()
    queue_policies: dict[str, list[Mapping[str, Any]]] = {}
    problems = []
    for logical, resource in created.items():
        if resource["Type"] == "AWS::SQS::QueuePolicy":
            properties = stack.resolve(resource["Properties"])
            for url in properties["Queues"]:
                queue_policies.setdefault(url, []).append(properties["PolicyDocument"])
            for statement in listed_statements(properties["PolicyDocument"]):
                if _principal_is(statement, "events.amazonaws.com") and not _source_bound(statement):
                    problems.append(
                        f"{logical}: lets events.amazonaws.com send for any account's rule "
                        "(no aws:SourceArn or aws:SourceAccount condition)"
                    )
    for logical, resource in created.items():
        if resource["Type"] != "AWS::Events::Rule":
            continue
        rule = str(stack.resolve({"Fn::GetAtt": [logical, "Arn"]}))
        for target in stack.resolve(resource["Properties"]).get("Targets", []):
            queue = target.get("DeadLetterConfig", {}).get("Arn")
            if not queue:
                continue
            _, _, _, region, account, name = queue.split(":")
            url = f"https://sqs.{region}.amazonaws.com/{account}/{name}"
            # The statements whose conditions hold for this rule's deliveries, as evaluated.
            for_rule = [
                {
                    "Statement": [
                        {k: v for k, v in s.items() if k != "Condition"}
                        for s in listed_statements(document)
                        if _for_source(s, rule, account)
                    ]
                }
                for document in queue_policies.get(url, [])
            ]
            if not allows(for_rule, "sqs:SendMessage", queue):
                problems.append(f"{logical}: EventBridge may not send to its dead-letter queue {name}")
    return problems


_SOURCE_KEYS = ("aws:SourceArn", "aws:SourceAccount")


def _source_bound(statement: Mapping[str, Any]) -> bool:
    conditions = statement.get("Condition", {})
    return any(key in test for test in conditions.values() for key in _SOURCE_KEYS)


def _for_source(statement: Mapping[str, Any], rule: str, account: str) -> bool:
    """Whether `statement` applies to the events.amazonaws.com deliveries of rule `rule`
    (its ArnEquals/ArnLike aws:SourceArn and StringEquals aws:SourceAccount conditions)."""
    if not _principal_is(statement, "events.amazonaws.com"):
        return False
    for operator, test in statement.get("Condition", {}).items():
        for key, values in test.items():
            wanted = listed(values)
            if key == "aws:SourceArn" and operator in ("ArnEquals", "ArnLike"):
                if not any(glob(pattern, ignore_case=False).fullmatch(rule) for pattern in wanted):
                    return False
            elif key == "aws:SourceAccount" and operator == "StringEquals":
                if account not in wanted:
                    return False
            else:
                return False  # a condition this rehearsal does not evaluate: assume it fails
    return True


def _principal_is(statement: Mapping[str, Any], service: str) -> bool:
    services = statement.get("Principal", {}).get("Service", [])
    return service in ([services] if isinstance(services, str) else services)


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


def create_in_moto(template: dict[str, Any], stack: Stack, report: Report) -> None:
    """Create what moto can of `template` (already transformed) and read it back."""
    import boto3

    cloudformation = boto3.client("cloudformation", region_name=stack.region)
    created = stack.created()
    gone = {logical for logical, r in created.items() if r["Type"] in LEFT_OUT}
    report.left_out = {logical: created[logical]["Type"] for logical in sorted(gone)}
    document = {key: value for key, value in template.items() if key != "Resources"}
    document["Resources"] = {
        logical: _substitute(resource, stack, gone)
        for logical, resource in template["Resources"].items()
        if logical not in gone and resource["Type"] not in LEFT_OUT
    }
    for resource in document["Resources"].values():
        # CloudFormation names a RestApi from its Body's info.title; moto wants Name given.
        if resource["Type"] == "AWS::ApiGateway::RestApi" and "Name" not in resource["Properties"]:
            resource["Properties"]["Name"] = resource["Properties"]["Body"]["info"]["title"]
    # Outputs may name left-out resources too.
    document["Outputs"] = _substitute(template.get("Outputs", {}), stack, gone)
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

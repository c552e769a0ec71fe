"""What AWS demands of a configuration, encoded from its documentation, not from our code.

Linters check a template's shape and moto accepts almost anything; neither knows that
Lambda refuses to create a traced function whose role cannot write to X-Ray. The rules
here are what the services themselves check (or silently break on) when a function, role
or stack is created. Each rule names its source; each is applied to what a deploy route
would really create (the packaged stack after the SAM transform, or the functions that
`chalice deploy` plans), never to a recording of our own calls.

- `Stack` evaluates a plain CloudFormation template offline: Ref, Fn::GetAtt, Fn::Sub,
  Fn::Join, Fn::If and conditions, with physical names as CloudFormation makes them.
- `allows` is IAM's evaluation of identity policies (explicit Deny wins, then Allow;
  wildcards in actions and resources), enough for the policies a function carries.
- `role_needs` is what Lambda needs from a function's execution role for its configuration.
- `check` applies every rule to a stack: references, names, each function's role, and what API
  Gateway, EventBridge, WAF, Lambda and Cognito refuse or break on (infrastructure/rehearsal/
  rehearse.py runs it; the tests run it on mutants, one per rule).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from infrastructure import capacity, contract
from infrastructure.identity import PLANS, PRODUCTION_TAG, plan_features

ACCOUNT = "123456789012"
REGION = "us-east-1"
_GENERATED_SUFFIX = "REHEARSAL0001"  # CloudFormation appends 12-13 random characters

# Lambda refuses these as environment variable names: the runtime sets them (Lambda
# Developer Guide, "Defined runtime environment variables").
RESERVED_ENVIRONMENT = frozenset(
    {
        "_HANDLER", "_X_AMZN_TRACE_ID", "AWS_DEFAULT_REGION", "AWS_REGION", "AWS_EXECUTION_ENV",
        "AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "AWS_LAMBDA_FUNCTION_VERSION",
        "AWS_LAMBDA_INITIALIZATION_TYPE", "AWS_LAMBDA_LOG_GROUP_NAME", "AWS_LAMBDA_LOG_STREAM_NAME",
        "AWS_ACCESS_KEY", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
        "AWS_LAMBDA_RUNTIME_API", "LAMBDA_TASK_ROOT", "LAMBDA_RUNTIME_DIR",
    }
)  # fmt: skip
ENVIRONMENT_LIMIT_BYTES = 4096  # "The total size of all environment variables" (Lambda quotas)
_FUNCTION_NAME = re.compile(r"[a-zA-Z0-9_-]{1,64}")
_ROLE_NAME = re.compile(r"[\w+=,.@-]{1,64}")
# Name limits of the resources this stack makes (each service's API reference).
NAME_LIMITS: dict[str, tuple[str, re.Pattern[str]]] = {
    "AWS::Lambda::Function": ("FunctionName", _FUNCTION_NAME),
    "AWS::IAM::Role": ("RoleName", _ROLE_NAME),
    "AWS::SQS::Queue": ("QueueName", re.compile(r"[a-zA-Z0-9_-]{1,80}")),
    "AWS::SNS::Topic": ("TopicName", re.compile(r"[a-zA-Z0-9_-]{1,256}")),
    "AWS::DynamoDB::Table": ("TableName", re.compile(r"[a-zA-Z0-9_.-]{3,255}")),
    "AWS::Logs::LogGroup": ("LogGroupName", re.compile(r"[\w#/.-]{1,512}")),
    "AWS::Cognito::UserPool": ("UserPoolName", re.compile(r"[\w\s+=,.@-]{1,128}")),
    "AWS::Cognito::UserPoolClient": ("ClientName", re.compile(r"[\w\s+=,.@-]{1,128}")),
    "AWS::Events::Rule": ("Name", re.compile(r"[.\-_A-Za-z0-9]{1,64}")),
    "AWS::CloudWatch::Alarm": ("AlarmName", re.compile(r".{1,255}")),
}


class TemplateError(Exception):
    """What CloudFormation would answer with a failed validation or create."""


# --- CloudFormation, evaluated ----------------------------------------------------------

# Physical values of each type: (what Ref gives, {attribute: format}). `{name}` is the
# resource's physical name, `{id}` a generated id.
_REF_AND_ATTRIBUTES: dict[str, tuple[str, dict[str, str]]] = {
    "AWS::Lambda::Function": ("{name}", {"Arn": "arn:aws:lambda:{region}:{account}:function:{name}"}),
    "AWS::Lambda::Permission": ("{id}", {}),
    # A version and an alias are qualified ARNs of their function (`{function}`: the
    # function their FunctionName names; `{alias}`: the alias's Name).
    "AWS::Lambda::Version": (
        "arn:aws:lambda:{region}:{account}:function:{function}:1",
        {"Version": "1", "FunctionArn": "arn:aws:lambda:{region}:{account}:function:{function}:1"},
    ),
    "AWS::Lambda::Alias": (
        "arn:aws:lambda:{region}:{account}:function:{function}:{alias}",
        {"AliasArn": "arn:aws:lambda:{region}:{account}:function:{function}:{alias}"},
    ),
    "AWS::Lambda::EventInvokeConfig": ("{id}", {}),
    "AWS::IAM::Role": ("{name}", {"Arn": "arn:aws:iam::{account}:role/{name}", "RoleId": "AROA{id}"}),
    "AWS::SQS::Queue": (
        "https://sqs.{region}.amazonaws.com/{account}/{name}",
        {
            "Arn": "arn:aws:sqs:{region}:{account}:{name}",
            "QueueName": "{name}",
            "QueueUrl": "https://sqs.{region}.amazonaws.com/{account}/{name}",
        },
    ),
    "AWS::SQS::QueuePolicy": ("{id}", {}),
    "AWS::SNS::Topic": (
        "arn:aws:sns:{region}:{account}:{name}",
        {"TopicArn": "arn:aws:sns:{region}:{account}:{name}", "TopicName": "{name}"},
    ),
    "AWS::Logs::LogGroup": ("{name}", {"Arn": "arn:aws:logs:{region}:{account}:log-group:{name}:*"}),
    "AWS::DynamoDB::Table": ("{name}", {"Arn": "arn:aws:dynamodb:{region}:{account}:table/{name}"}),
    "AWS::Cognito::UserPool": (
        "{region}_{id}",
        {
            "Arn": "arn:aws:cognito-idp:{region}:{account}:userpool/{region}_{id}",
            "ProviderName": "cognito-idp.{region}.amazonaws.com/{region}_{id}",
            "ProviderURL": "https://cognito-idp.{region}.amazonaws.com/{region}_{id}",
            "UserPoolId": "{region}_{id}",
        },
    ),
    "AWS::Cognito::UserPoolClient": ("{id}", {"ClientId": "{id}"}),
    "AWS::ApiGateway::RestApi": ("{id}", {"RestApiId": "{id}", "RootResourceId": "{id}"}),
    "AWS::ApiGateway::Deployment": ("{id}", {}),
    "AWS::ApiGateway::Stage": ("{name}", {}),
    "AWS::ApiGatewayV2::Api": (
        "{id}",
        {"ApiId": "{id}", "ApiEndpoint": "https://{id}.execute-api.{region}.amazonaws.com"},
    ),
    "AWS::ApiGatewayV2::Stage": ("{name}", {}),
    "AWS::ApiGateway::UsagePlan": ("{id}", {"Id": "{id}"}),
    "AWS::ApiGateway::ApiKey": ("{id}", {"APIKeyId": "{id}"}),
    "AWS::ApiGateway::UsagePlanKey": ("{id}", {"Id": "{id}"}),
    "AWS::WAFv2::WebACL": (
        "{name}|{id}|REGIONAL",
        {"Arn": "arn:aws:wafv2:{region}:{account}:regional/webacl/{name}/{id}", "Id": "{id}"},
    ),
    "AWS::WAFv2::WebACLAssociation": ("{id}", {}),
    "AWS::WAFv2::LoggingConfiguration": ("{id}", {}),
    "AWS::Logs::MetricFilter": ("{id}", {}),
    "AWS::Events::Rule": ("{name}", {"Arn": "arn:aws:events:{region}:{account}:rule/{name}"}),
    "AWS::CloudWatch::Alarm": ("{name}", {"Arn": "arn:aws:cloudwatch:{region}:{account}:alarm:{name}"}),
    "AWS::CodeDeploy::Application": ("{name}", {}),
    "AWS::CodeDeploy::DeploymentGroup": ("{name}", {}),
}
_NAME_PROPERTY = {kind: prop for kind, (prop, _) in NAME_LIMITS.items()} | {
    "AWS::ApiGateway::Stage": "StageName",
    "AWS::ApiGatewayV2::Stage": "StageName",
    "AWS::WAFv2::WebACL": "Name",
}


@dataclass
class Stack:
    """A plain CloudFormation template, as CloudFormation would resolve it at create time."""

    template: Mapping[str, Any]
    name: str
    parameters: Mapping[str, str] = field(default_factory=dict)
    region: str = REGION
    account: str = ACCOUNT

    def __post_init__(self) -> None:
        self.resources: dict[str, Any] = dict(self.template.get("Resources", {}))
        self._creates: dict[str, Any] | None = None
        declared = self.template.get("Parameters", {})
        unknown = set(self.parameters) - set(declared)
        if unknown:
            raise TemplateError(f"parameters not declared: {sorted(unknown)}")
        self.values: dict[str, str] = {
            name: self.parameters.get(name, spec.get("Default")) for name, spec in declared.items()
        }
        missing = [name for name, value in self.values.items() if value is None]
        if missing:
            raise TemplateError(f"parameters without a value: {missing}")
        for name, spec in declared.items():
            pattern = spec.get("AllowedPattern")
            if pattern and not re.fullmatch(pattern, self.values[name]):
                raise TemplateError(f"parameter {name} does not match its AllowedPattern")
        self.conditions = {
            name: self._condition(body) for name, body in self.template.get("Conditions", {}).items()
        }

    def _condition(self, body: Any) -> bool:
        if isinstance(body, dict) and len(body) == 1:
            ((function, args),) = body.items()
            if function == "Fn::Equals":
                left, right = (self.resolve(arg) for arg in args)
                return bool(left == right)
            if function == "Fn::Not":
                return not self._condition(args[0])
            if function == "Fn::And":
                return all(self._condition(arg) for arg in args)
            if function == "Fn::Or":
                return any(self._condition(arg) for arg in args)
            if function == "Condition":
                return self.conditions[args]
        raise TemplateError(f"unsupported condition: {json.dumps(body)[:80]}")

    def created(self) -> dict[str, Any]:
        """The resources this stack creates: those whose condition holds (decided once)."""
        if self._creates is None:
            self._creates = {}
            for logical, resource in self.resources.items():
                condition = resource.get("Condition")
                if condition is not None and condition not in self.conditions:
                    raise TemplateError(f"{logical}: unknown condition {condition}")
                if condition is None or self.conditions[condition]:
                    self._creates[logical] = resource
        return self._creates

    def physical_name(self, logical: str) -> str:
        resource = self._created(logical)
        prop = _NAME_PROPERTY.get(resource["Type"])
        if prop is not None and prop in resource.get("Properties", {}):
            return str(self.resolve(resource["Properties"][prop]))
        # CloudFormation's generated names: stack-logical-suffix, within the type's limit.
        limit = (
            64 if resource["Type"] in ("AWS::Lambda::Function", "AWS::IAM::Role", "AWS::Events::Rule") else 80
        )
        head = f"{self.name}-{logical}"[: limit - len(_GENERATED_SUFFIX) - 1]
        return f"{head}-{_GENERATED_SUFFIX}"

    def _created(self, logical: str) -> dict[str, Any]:
        created = self.created()
        if logical not in created:
            state = "not created (its condition is false)" if logical in self.resources else "undefined"
            raise TemplateError(f"a reference to {logical}, which is {state}")
        resource: dict[str, Any] = created[logical]
        return resource

    def _format(self, logical: str, pattern: str) -> str:
        generated = re.sub(r"[^A-Za-z0-9]", "", logical)[:10].lower() + "0rehearsal"
        properties = self._created(logical).get("Properties", {})
        function = ""
        if "{function}" in pattern:  # a name, an ARN or a qualified ARN: the name is the 7th part
            named = str(self.resolve(properties["FunctionName"]))
            function = named.split(":")[6] if named.startswith("arn:") else named
        return pattern.format(
            name=self.physical_name(logical) if "{name}" in pattern else "",
            id=generated,
            region=self.region,
            account=self.account,
            function=function,
            alias=str(self.resolve(properties["Name"])) if "{alias}" in pattern else "",
        )

    def ref(self, name: str) -> Any:
        pseudo = {
            "AWS::Region": self.region,
            "AWS::AccountId": self.account,
            "AWS::Partition": "aws",
            "AWS::StackName": self.name,
            "AWS::StackId": f"arn:aws:cloudformation:{self.region}:{self.account}:stack/{self.name}/1",
            "AWS::URLSuffix": "amazonaws.com",
        }
        if name in pseudo:
            return pseudo[name]
        if name in self.values:
            return self.values[name]
        resource = self._created(name)
        kind = resource["Type"]
        if kind not in _REF_AND_ATTRIBUTES:
            raise TemplateError(f"the rehearsal does not know what Ref gives for {kind}")
        return self._format(name, _REF_AND_ATTRIBUTES[kind][0])

    def get_att(self, logical: str, attribute: str) -> str:
        kind = self._created(logical)["Type"]
        attributes = _REF_AND_ATTRIBUTES.get(kind, ("", {}))[1]
        if attribute not in attributes:
            raise TemplateError(f"{logical} ({kind}) has no attribute {attribute} for Fn::GetAtt")
        return self._format(logical, attributes[attribute])

    def resolve(self, value: Any, variables: Mapping[str, Any] | None = None) -> Any:
        """`value` with every intrinsic function evaluated, as CloudFormation would."""
        if isinstance(value, list):
            return [v for v in (self.resolve(item, variables) for item in value) if v is not _NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, args),) = value.items()
            if key == "Ref":
                return _NO_VALUE if args == "AWS::NoValue" else self.ref(args)
            if key == "Fn::GetAtt":
                logical, attribute = args.split(".", 1) if isinstance(args, str) else args
                return self.get_att(logical, attribute)
            if key == "Fn::Sub":
                return self._sub(args)
            if key == "Fn::Join":
                separator, items = args
                return separator.join(str(item) for item in self.resolve(items))
            if key == "Fn::If":
                condition, yes, no = args
                if condition not in self.conditions:
                    raise TemplateError(f"Fn::If names an unknown condition {condition}")
                return self.resolve(yes if self.conditions[condition] else no)
            if key == "Fn::Select":
                index, items = args
                return self.resolve(items)[int(index)]
            if key == "Fn::Split":
                separator, text = args
                return str(self.resolve(text)).split(separator)
            if key.startswith("Fn::") or key == "Condition":
                raise TemplateError(f"the rehearsal cannot evaluate {key}")
        resolved = {k: self.resolve(v) for k, v in value.items()}
        return {k: v for k, v in resolved.items() if v is not _NO_VALUE}

    def _sub(self, args: Any) -> str:
        text, variables = (args, {}) if isinstance(args, str) else (args[0], args[1])
        values = {name: self.resolve(v) for name, v in variables.items()}

        def replace(match: re.Match[str]) -> str:
            name = match[1]
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in values:
                return str(values[name])
            if "." in name and not name.startswith("AWS::"):
                logical, attribute = name.split(".", 1)
                return self.get_att(logical, attribute)
            return str(self.ref(name))

        return re.sub(r"\$\{([^}]+)\}", replace, text)

    def references(self) -> Iterable[tuple[str, str]]:
        """Every (resource, Ref or GetAtt target) in the created resources, for checking."""
        for logical, resource in self.created().items():
            for target in _targets(resource.get("Properties", {}), self.conditions):
                yield logical, target


def sub_references(text: str) -> list[str]:
    """The names an Fn::Sub string refers to (`${Name}`, `${Name.Attribute}`; not `${!Literal}`)."""
    return re.findall(r"\$\{([^}!][^}]*)\}", text)


class _NoValue:
    pass


_NO_VALUE: Any = _NoValue()


def _targets(value: Any, conditions: Mapping[str, bool]) -> Iterable[str]:
    """Ref and GetAtt targets, in the branches of Fn::If that are taken (CloudFormation
    lets the other branch name a resource that its condition leaves out)."""
    if isinstance(value, list):
        for item in value:
            yield from _targets(item, conditions)
    elif isinstance(value, dict):
        for key, args in value.items():
            if key == "Fn::If" and isinstance(args, list) and len(args) == 3 and args[0] in conditions:
                yield from _targets(args[1] if conditions[args[0]] else args[2], conditions)
            elif key == "Ref" and isinstance(args, str):
                yield args
            elif key == "Fn::GetAtt":
                yield (args.split(".", 1) if isinstance(args, str) else args)[0]
            elif key == "Fn::Sub":
                text = args if isinstance(args, str) else args[0]
                local = set() if isinstance(args, str) else set(args[1])
                for name in sub_references(text):
                    if name.split(".", 1)[0] not in local:
                        yield name.split(".", 1)[0]
                yield from _targets(args if isinstance(args, str) else args[1], conditions)
            else:
                yield from _targets(args, conditions)


# --- IAM, evaluated ---------------------------------------------------------------------


def glob(pattern: str, *, ignore_case: bool) -> re.Pattern[str]:
    # IAM's wildcards: `*` any run of characters (colons and slashes included), `?` one.
    # Nothing else is special: `[$LATEST]` in a log stream name is literal.
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile(regex, re.IGNORECASE | re.DOTALL if ignore_case else re.DOTALL)


def listed(value: Any) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def _matches(statement: Mapping[str, Any], action: str, resource: str) -> bool:
    if "NotAction" in statement or "NotResource" in statement or "Condition" in statement:
        raise TemplateError("the rehearsal evaluates Action/Resource statements without conditions only")
    actions = listed(statement["Action"])
    resources = listed(statement["Resource"])
    return any(glob(a, ignore_case=True).fullmatch(action) for a in actions) and any(
        glob(r, ignore_case=False).fullmatch(resource) for r in resources
    )


def allows(documents: Iterable[Mapping[str, Any]], action: str, resource: str) -> bool:
    """Whether identity policies allow `action` on `resource`: an explicit Deny wins, then an
    Allow is needed (IAM's policy evaluation logic, without resource policies or SCPs)."""
    statements = [s for document in documents for s in listed_statements(document)]
    if any(s["Effect"] == "Deny" and _matches(s, action, resource) for s in statements):
        return False
    return any(s["Effect"] == "Allow" and _matches(s, action, resource) for s in statements)


def listed_statements(document: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    statements = document["Statement"]
    return [statements] if isinstance(statements, dict) else list(statements)


def trusts_lambda(trust_policy: Mapping[str, Any]) -> bool:
    """Lambda refuses a role it cannot assume ("The role defined for the function cannot be
    assumed by Lambda"): the trust policy must allow sts:AssumeRole to lambda.amazonaws.com."""
    for statement in listed_statements(trust_policy):
        services = (
            statement.get("Principal", {}).get("Service", []) if statement.get("Principal") != "*" else []
        )
        if (
            statement.get("Effect") == "Allow"
            and "Condition" not in statement
            and "sts:AssumeRole" in listed(statement.get("Action", []))
            and "lambda.amazonaws.com" in listed(services)
        ):
            return True
    return False


# --- What a function's role needs for its configuration ---------------------------------


@dataclass(frozen=True)
class Function:
    """A function as a deploy route would create it (after every intrinsic is resolved)."""

    name: str
    policies: tuple[Mapping[str, Any], ...]
    trust_policy: Mapping[str, Any]
    tracing: bool = False
    log_group_exists: bool = False  # made before the function, by the stack or the bootstrap
    dead_letter_target: str | None = None
    failure_destinations: tuple[str, ...] = ()
    in_vpc: bool = False
    kms_key: str | None = None
    environment: Mapping[str, str] = field(default_factory=dict)
    region: str = REGION
    account: str = ACCOUNT


@dataclass(frozen=True)
class Need:
    action: str
    resource: str
    why: str


def _send_to(target: str, why: str) -> Need:
    service = target.split(":")[2]
    action = {
        "sqs": "sqs:SendMessage",
        "sns": "sns:Publish",
        "lambda": "lambda:InvokeFunction",
        "events": "events:PutEvents",
    }[service]
    return Need(action, target, why)


def role_needs(function: Function) -> list[Need]:
    """The permissions Lambda needs from `function`'s execution role, by configuration."""
    group = f"arn:aws:logs:{function.region}:{function.account}:log-group:/aws/lambda/{function.name}"
    needs = [
        # Lambda Developer Guide, "Sending Lambda function logs to CloudWatch Logs": the role
        # needs these (AWSLambdaBasicExecutionRole); without them logs are lost, silently.
        Need("logs:CreateLogStream", f"{group}:*", "its logs (one stream per instance)"),
        Need("logs:PutLogEvents", f"{group}:log-stream:2026/12/01/[$LATEST]0123456789abcdef", "its logs"),
    ]
    if not function.log_group_exists:
        needs.append(Need("logs:CreateLogGroup", f"{group}:*", "its log group, made on first write"))
    if function.tracing:
        # Lambda refuses CreateFunction/UpdateFunctionConfiguration with active tracing when
        # the role cannot write to X-Ray ("The provided execution role does not have
        # permissions to call PutTraceSegments on XRAY"); X-Ray has no resource-level
        # permissions for these, so IAM evaluates them against "*".
        needs += [
            Need("xray:PutTraceSegments", "*", "active tracing"),
            Need("xray:PutTelemetryRecords", "*", "active tracing"),
        ]
    if function.dead_letter_target:
        # Refused at create: "The provided execution role does not have permissions to call
        # SendMessage on SQS" (Lambda, "Dead-letter queues").
        needs.append(_send_to(function.dead_letter_target, "its dead-letter queue"))
    for destination in function.failure_destinations:
        # PutFunctionEventInvokeConfig is refused when the role cannot reach the destination
        # (Lambda, "Adding a destination": "Execution role permissions").
        needs.append(_send_to(destination, "its on-failure destination"))
    if function.in_vpc:
        # Refused at create: "The provided execution role does not have permissions to call
        # CreateNetworkInterface on EC2" (AWSLambdaENIManagementAccess).
        needs += [
            Need(f"ec2:{action}", "*", "its VPC network interfaces")
            for action in ("CreateNetworkInterface", "DescribeNetworkInterfaces", "DeleteNetworkInterface")
        ]
    if function.kms_key:
        needs.append(Need("kms:Decrypt", function.kms_key, "its environment's customer managed key"))
    settings = function.environment.get("TODO_SETTINGS_PATH")
    if settings:
        # The runtime reads its settings with GetParametersByPath, which IAM authorizes
        # against the path in the request, not the parameters it returns (Systems Manager
        # guide, "How Parameter Store authorizes parameter retrieval").
        needs.append(
            Need("ssm:GetParametersByPath", _parameter_arn(function, settings), "its runtime settings")
        )
    return needs


def _parameter_arn(function: Function, path: str) -> str:
    return f"arn:aws:ssm:{function.region}:{function.account}:parameter{path}"


def function_problems(function: Function) -> list[str]:
    """What Lambda would refuse, or silently break, for `function`; empty when none."""
    problems = [
        f"{function.name}: the role does not allow {need.action} on {need.resource} ({need.why})"
        for need in role_needs(function)
        if not allows(function.policies, need.action, need.resource)
    ]
    if not trusts_lambda(function.trust_policy):
        problems.append(f"{function.name}: its role does not trust lambda.amazonaws.com")
    # Least privilege (our rule): its own stage's settings, and no other path's.
    own = str(function.environment.get("TODO_SETTINGS_PATH") or "/")
    parent = own.rsplit("/", 1)[0] or "/"
    for path in dict.fromkeys(("/", parent, f"{parent.rstrip('/')}/another-stage")):
        if allows(function.policies, "ssm:GetParametersByPath", _parameter_arn(function, path)):
            problems.append(f"{function.name}: the role may read parameters under {path}, beyond its own")
    if not _FUNCTION_NAME.fullmatch(function.name):
        problems.append(f"{function.name}: not a valid function name (1-64 of A-Z a-z 0-9 - _)")
    reserved = sorted(RESERVED_ENVIRONMENT & set(function.environment))
    if reserved:
        problems.append(f"{function.name}: reserved environment variables {reserved}")
    size = sum(len(k.encode()) + len(str(v).encode()) for k, v in function.environment.items())
    if size > ENVIRONMENT_LIMIT_BYTES:
        problems.append(f"{function.name}: environment of {size} bytes, over Lambda's 4 KB")
    return problems


# --- the stack's rules, each as CloudFormation or the service states it --------------------


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
    problems += _releases_roll_back_by_themselves(stack)
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
    for logical, api_id, method, path, target in _integrations(stack):
        if target.split(":")[6] not in function_names:
            continue
        # The stage in the source ARN: a REST API's own stages; an HTTP API's $default.
        stage_names = {name for api, name in _rest_stages(stack) if api == api_id} or {"$default"}
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


def _integrations(stack: Stack) -> Iterator[tuple[str, str, str, str, str]]:
    """Each Lambda integration of the stack's APIs: (API's logical id, its id, method, path,
    the function's ARN as invoked, perhaps qualified)."""
    for logical, resource in stack.created().items():
        if resource["Type"] not in ("AWS::ApiGateway::RestApi", "AWS::ApiGatewayV2::Api"):
            continue
        paths = stack.resolve(resource["Properties"].get("Body", {})).get("paths", {})
        for path, operations in paths.items():
            for method, operation in operations.items():
                uri = json.dumps(operation.get("x-amazon-apigateway-integration", {}).get("uri", ""))
                for target in _INTEGRATION_TARGET.findall(uri):
                    yield logical, str(stack.ref(logical)), method, path, target


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


# --- gradual releases (CodeDeploy, through SAM's DeploymentPreference) ----------------------
# Sources read 2026-12-08: the SAM Developer Guide (DeploymentPreference; "Deploying serverless
# applications gradually with AWS SAM"), CloudFormation's DeploymentPreference and
# CodeDeployLambdaAliasUpdate, and the CodeDeploy User Guide and API Reference named below.

# CodeDeploy's limit on a deployment group's alarms (CodeDeploy API Reference,
# CreateDeploymentGroup: AlarmsLimitExceededException, "more than 10 alarms").
_GROUP_ALARMS_MAX = 10
# What CodeDeploy's role needs to shift a Lambda alias: the service role trusted by
# codedeploy.amazonaws.com (CodeDeploy User Guide, "Step 2: Create a service role for
# CodeDeploy") with the AWS managed policy for Lambda deployments, or its grants itself: the
# alias read and moved, the alarms read.
_CODEDEPLOY_LAMBDA_POLICIES = frozenset(
    f"arn:aws:iam::aws:policy/service-role/{name}"
    for name in ("AWSCodeDeployRoleForLambda", "AWSCodeDeployRoleForLambdaLimited")
)
_CODEDEPLOY_ALIAS_ACTIONS = ("lambda:GetAlias", "lambda:UpdateAlias")


def _codedeploy_configs() -> frozenset[str]:
    """CodeDeploy's predefined Lambda deployment configurations (CodeDeploy User Guide,
    "Deployment configurations on an AWS Lambda compute platform"), as SAM's transform
    names them: CodeDeployDefault.Lambda + SAM's type."""
    from samtranslator.model.preferences.deployment_preference_collection import (  # type: ignore[import-untyped]
        CODEDEPLOY_PREDEFINED_CONFIGURATIONS_LIST,
    )

    return frozenset(f"CodeDeployDefault.Lambda{name}" for name in CODEDEPLOY_PREDEFINED_CONFIGURATIONS_LIST)


def _as_get_att(value: Any) -> Any:
    """A GetAtt in its list form (CloudFormation takes "A.B" and ["A", "B"] alike)."""
    if isinstance(value, dict) and isinstance(value.get("Fn::GetAtt"), str):
        return {"Fn::GetAtt": value["Fn::GetAtt"].split(".", 1)}
    return value


def _alarm_dimensions(alarm: Mapping[str, Any]) -> list[list[Mapping[str, Any]]]:
    """The dimensions of each metric an alarm reads (one metric, or a metric-math query's)."""
    properties = alarm.get("Properties", {})
    if "Metrics" in properties:
        return [
            query["MetricStat"]["Metric"].get("Dimensions", [])
            for query in properties["Metrics"]
            if "MetricStat" in query
        ]
    return [properties.get("Dimensions", [])]


def _releases_roll_back_by_themselves(stack: Stack) -> list[str]:
    """An alias CloudFormation updates through CodeDeploy (the UpdatePolicy SAM writes for a
    DeploymentPreference) needs what CodeDeploy needs to shift it and roll it back:

    - its application and deployment group in the stack (CloudFormation's
      CodeDeployLambdaAliasUpdate update policy names both);
    - the group's service role trusted by codedeploy.amazonaws.com, allowed to read and move
      the alias and read the alarms;
    - a predefined Lambda deployment configuration (or one the stack makes);
    - alarms that exist: CloudWatch takes an alarm that does not exist as OK, so a misnamed
      one never rolls anything back (SAM Developer Guide, DeploymentPreference: Alarms, and
      CloudFormation's DeploymentPreference: "nonexistent alarms ... OK state"), at most 10,
      with automatic rollback on them.

    And this project's rule, the point of a gradual release: a shift that is not all at once
    is watched by alarms on the version it shifts to (a dimension naming the alias's new
    version), not the whole function's history; and every API integration of the function
    invokes the alias, or the shift reaches no request."""
    created = stack.created()
    problems = []
    for alias_id, alias in created.items():
        update = alias.get("UpdatePolicy", {}).get("CodeDeployLambdaAliasUpdate")
        if alias["Type"] != "AWS::Lambda::Alias" or update is None:
            continue
        application, group_ref = update.get("ApplicationName"), update.get("DeploymentGroupName")
        group_id = str(group_ref.get("Ref")) if isinstance(group_ref, dict) else ""
        app_id = str(application.get("Ref")) if isinstance(application, dict) else ""
        if created.get(app_id, {}).get("Type") != "AWS::CodeDeploy::Application":
            problems.append(f"{alias_id}: its update policy names no CodeDeploy application of this stack")
        if created.get(group_id, {}).get("Type") != "AWS::CodeDeploy::DeploymentGroup":
            problems.append(
                f"{alias_id}: its update policy names no CodeDeploy deployment group of this stack"
            )
            continue
        group = created[group_id]["Properties"]
        problems += [f"{group_id}: {p}" for p in _codedeploy_role_problems(stack, group, alias_id)]
        config = stack.resolve(group.get("DeploymentConfigName", "CodeDeployDefault.LambdaAllAtOnce"))
        own_configs = {
            str(stack.ref(c)) for c, r in created.items() if r["Type"] == "AWS::CodeDeploy::DeploymentConfig"
        }
        if config not in _codedeploy_configs() | own_configs:
            problems.append(f"{group_id}: {config} is not a CodeDeploy deployment configuration for Lambda")
        alarms = group.get("AlarmConfiguration", {})
        named = [a.get("Name") for a in alarms.get("Alarms", [])] if alarms.get("Enabled", True) else []
        watched: list[str] = []
        for name in named:
            alarm_id = str(name.get("Ref")) if isinstance(name, dict) else ""
            if created.get(alarm_id, {}).get("Type") != "AWS::CloudWatch::Alarm":
                problems.append(
                    f"{group_id}: alarm {name!r} is not one this stack makes (CloudWatch takes it as OK)"
                )
            else:
                watched.append(alarm_id)
        if len(named) > _GROUP_ALARMS_MAX:
            problems.append(f"{group_id}: {len(named)} alarms, over CodeDeploy's {_GROUP_ALARMS_MAX}")
        rollback = group.get("AutoRollbackConfiguration", {})
        if named and not (
            rollback.get("Enabled") and "DEPLOYMENT_STOP_ON_ALARM" in rollback.get("Events", [])
        ):
            problems.append(f"{group_id}: its alarms stop a deployment but do not roll it back")
        if config == "CodeDeployDefault.LambdaAllAtOnce":
            continue
        if not watched:
            problems.append(f"{group_id}: shifts gradually ({config}) with no alarm to roll it back")
        version = _as_get_att(alias["Properties"]["FunctionVersion"])
        for alarm_id in watched:
            if not any(
                _as_get_att(d.get("Value")) == version
                for dims in _alarm_dimensions(created[alarm_id])
                for d in dims
            ):
                problems.append(
                    f"{group_id}: alarm {alarm_id} watches the whole function, "
                    f"not the version {alias_id} shifts to"
                )
        function = str(stack.ref(alias["Properties"]["FunctionName"]["Ref"]))
        alias_name = alias["Properties"]["Name"]
        for api, _, method, path, target in _integrations(stack):
            name, _, qualifier = target.split(":", 6)[6].partition(":")
            if name == function and qualifier != alias_name:
                problems.append(
                    f"{api}: {method.upper()} {path} invokes {target.split(':', 6)[6]}, "
                    f"not the alias {alias_name} that {group_id} shifts"
                )
    return problems


def _codedeploy_role_problems(stack: Stack, group: Mapping[str, Any], alias_id: str) -> list[str]:
    """CodeDeploy cannot deploy with a role it cannot assume, nor shift an alias it may not move."""
    role_arn = str(stack.resolve(group.get("ServiceRoleArn", "")))
    role_id = next(
        (
            logical
            for logical, r in stack.created().items()
            if r["Type"] == "AWS::IAM::Role" and stack.resolve({"Fn::GetAtt": [logical, "Arn"]}) == role_arn
        ),
        None,
    )
    if role_id is None:
        return [f"its service role {role_arn} is not one this stack makes"]
    role = stack.created()[role_id]["Properties"]
    trusted = any(
        statement.get("Effect") == "Allow"
        and "sts:AssumeRole" in listed(statement.get("Action", []))
        and _principal_is(statement, "codedeploy.amazonaws.com")
        for statement in listed_statements(stack.resolve(role.get("AssumeRolePolicyDocument", {})))
    )
    problems = [] if trusted else [f"its role {role_id} does not trust codedeploy.amazonaws.com"]
    if _CODEDEPLOY_LAMBDA_POLICIES & {str(stack.resolve(a)) for a in role.get("ManagedPolicyArns", [])}:
        return problems
    documents = [stack.resolve(p["PolicyDocument"]) for p in role.get("Policies", [])]
    alias_arn = str(stack.ref(alias_id))
    for action, resource in [
        *((a, alias_arn) for a in _CODEDEPLOY_ALIAS_ACTIONS),
        ("cloudwatch:DescribeAlarms", "*"),
    ]:
        if not allows(documents, action, resource):
            problems.append(f"its role {role_id} does not allow {action} on {resource}")
    return problems

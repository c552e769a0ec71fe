"""The packaged CloudFormation (SAM) template, checked offline: what `make package` ships."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from chalicelib import telemetry
from chalicelib.errors import GATEWAY_ERRORS
from chalicelib.pages import PUBLIC_ROUTES
from chalicelib.schema import TABLE_DEFINITION, TIME_TO_LIVE
from infrastructure import contract, identity
from infrastructure.functions import FUNCTIONS
from infrastructure.stages import load as load_stage
from tests.support import CONFIG, STAGE, copy_project


@pytest.fixture(scope="module")
def built(packaged: Callable[[str], Path]) -> Path:
    return packaged(STAGE)


@pytest.fixture(scope="module")
def template(built: Path) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((built / "sam.json").read_text())
    return document


@pytest.fixture(scope="module")
def resources(template: dict[str, Any]) -> dict[str, Any]:
    return dict(template["Resources"])


def test_the_table_is_the_one_the_code_knows_and_is_kept_safe(resources: dict[str, Any]) -> None:
    table = resources["TodoTable"]
    assert (table["DeletionPolicy"], table["UpdateReplacePolicy"]) == ("Retain", "Retain")
    properties = table["Properties"]
    for key, value in TABLE_DEFINITION.items():
        assert properties[key] == value
    assert properties["BillingMode"] == "PAY_PER_REQUEST"
    assert properties["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert properties["SSESpecification"] == {"SSEEnabled": True}
    assert properties["TimeToLiveSpecification"] == TIME_TO_LIVE


def test_every_route_uses_the_stacks_cognito_pool(resources: dict[str, Any]) -> None:
    body = resources["RestAPI"]["Properties"]["DefinitionBody"]
    authorizer = body["securityDefinitions"]["TodoUsers"]
    assert authorizer["x-amazon-apigateway-authtype"] == "cognito_user_pools"
    # The stack's own pool, unless the ExistingUserPoolArn parameter names another.
    assert authorizer["x-amazon-apigateway-authorizer"]["providerARNs"] == [
        {"Fn::If": ["CreateUserPool", {"Fn::GetAtt": ["UserPool", "Arn"]}, {"Ref": "ExistingUserPoolArn"}]}
    ]
    operations = {
        (path, method): op
        for path, item in body["paths"].items()
        for method, op in item.items()
        if method != "options"
    }
    assert len(operations) == 16  # the app's 15 and the contract, which the gateway serves
    for (path, _), operation in operations.items():
        if path in PUBLIC_ROUTES | {contract.DOCUMENT_PATH}:  # no one's data: no authorizer
            assert "security" not in operation, path
        else:
            assert operation["security"] == [{"TodoUsers": []}], path
    assert resources["UserPoolClient"]["Properties"]["UserPoolId"] == {"Ref": "UserPool"}
    assert resources["UserPoolClient"]["Properties"]["GenerateSecret"] is False


def test_functions_are_traced_logged_briefly_and_bounded(resources: dict[str, Any]) -> None:
    days = CONFIG["stages"][STAGE]["log_retention_days"]
    assert days == 14
    for name in FUNCTIONS:
        properties = resources[name]["Properties"]
        assert properties["Tracing"] == "Active"
        logs = resources[f"{name}Logs"]["Properties"]
        assert logs["LogGroupName"] == {"Fn::Sub": f"/aws/lambda/${{{name}}}"}
        assert logs["RetentionInDays"] == days
    assert resources["APIHandler"]["Properties"]["Timeout"] <= 28  # API Gateway gives up at 29 s
    api = resources["RestAPI"]["Properties"]
    assert api["TracingEnabled"] is True
    assert api["AccessLogSetting"]["DestinationArn"] == {"Fn::GetAtt": ["ApiAccessLogs", "Arn"]}
    assert resources["ApiAccessLogs"]["Properties"]["RetentionInDays"] == days


def test_every_gateway_response_carries_the_security_headers(resources: dict[str, Any]) -> None:
    # API Gateway's own answers (its authorizer's 401, throttling, a path with no route...)
    # never reach the app's middleware: the stage must add the headers itself. Over TLS
    # always, so HSTS as well. Header values are quoted literals in API Gateway's mapping.
    responses = resources["RestAPI"]["Properties"]["GatewayResponses"]
    assert set(responses) == set(GATEWAY_ERRORS)
    for kind, response in responses.items():
        headers = response["ResponseParameters"]["Headers"]
        assert headers["Cache-Control"] == "'no-store'", kind
        assert headers["X-Content-Type-Options"] == "'nosniff'", kind
        assert headers["Strict-Transport-Security"] == "'max-age=31536000; includeSubDomains'", kind


def test_gateway_errors_carry_cors_and_the_error_shape(resources: dict[str, Any]) -> None:
    responses = resources["RestAPI"]["Properties"]["GatewayResponses"]
    for kind in ("DEFAULT_4XX", "DEFAULT_5XX"):
        assert responses[kind]["ResponseParameters"]["Headers"]["Access-Control-Allow-Origin"] == "'*'"
        template = responses[kind]["ResponseTemplates"]["application/json"]
        assert '"Code"' in template
        assert '"Message"' in template


def test_alarms_and_failure_destinations(resources: dict[str, Any]) -> None:
    rate = resources["Api5xxRate"]["Properties"]
    assert rate["Threshold"] == 0.01
    metrics = {m["Id"]: m for m in rate["Metrics"]}
    assert metrics["errors"]["MetricStat"]["Metric"]["MetricName"] == "5XXError"
    assert metrics["requests"]["MetricStat"]["Metric"]["MetricName"] == "Count"
    # The writes an operator holds read-only are 503s the gateway counts: taken out again,
    # from the metric the API function's own log lines give (the held line's field).
    held = metrics["held"]["MetricStat"]["Metric"]
    counted = resources["ApiWritesHeldCount"]["Properties"]
    assert counted["LogGroupName"] == {"Ref": "APIHandlerLogs"}
    assert counted["MetricTransformations"][0]["MetricName"] == held["MetricName"] == "WritesHeld"
    assert counted["MetricTransformations"][0]["MetricNamespace"] == held["Namespace"]
    assert "$.WritesHeld = 1" in counted["FilterPattern"]
    assert metrics["rate"]["Expression"] == "(FILL(errors, 0) - FILL(held, 0)) / requests"
    watched = resources["ApiWritesHeld"]["Properties"]
    assert (watched["Namespace"], watched["MetricName"]) == (held["Namespace"], "WritesHeld")
    for name in FUNCTIONS:
        for metric in ("Errors", "Throttles"):
            alarm = resources[f"{name}{metric}"]["Properties"]
            assert alarm["MetricName"] == metric
            assert alarm["Dimensions"] == [{"Name": "FunctionName", "Value": {"Ref": name}}]
            assert alarm["AlarmActions"] == [{"Ref": "AlarmTopic"}]
    failure = {"Fn::GetAtt": ["JobFailures", "Arn"]}
    for name in ("PurgeCompleted", "FinishClears"):
        job = resources[name]["Properties"]
        assert job["EventInvokeConfig"]["DestinationConfig"]["OnFailure"]["Destination"] == failure
        assert job["Events"][f"{name}Event"]["Properties"]["DeadLetterConfig"] == {"Arn": failure}
    assert resources["JobFailuresQueued"]["Properties"]["Threshold"] == 0


@pytest.mark.parametrize(
    ("alarm_name", "job"), [("PurgeBehind", "purge_completed"), ("ClearsBehind", "finish_clears")]
)
def test_each_jobs_alarm_watches_a_metric_its_job_line_emits(
    resources: dict[str, Any], alarm_name: str, job: str
) -> None:
    alarm = resources[alarm_name]["Properties"]

    def line(**report: Any) -> dict[str, Any]:
        text = telemetry.job_line(timestamp_ms=0, job=job, request_id="r", report=report)
        document: dict[str, Any] = json.loads(text)
        return document

    stopped = line(purged=3, left=0, finished=False)
    [declared] = stopped["_aws"]["CloudWatchMetrics"]
    assert declared["Namespace"] == alarm["Namespace"]
    assert alarm["MetricName"] in {metric["Name"] for metric in declared["Metrics"]}
    assert [{"Name": name, "Value": stopped[name]} for name in declared["Dimensions"][0]] == alarm[
        "Dimensions"
    ]
    assert stopped[alarm["MetricName"]] == 1
    assert line(purged=3, left=2, finished=True)[alarm["MetricName"]] == 1
    assert line(purged=3, left=0, finished=True)[alarm["MetricName"]] == 0


def test_an_existing_pool_can_replace_the_stacks_own(template: dict[str, Any]) -> None:
    parameter = template["Parameters"]["ExistingUserPoolArn"]
    assert parameter["Default"] == ""
    pattern = re.compile(parameter["AllowedPattern"])
    assert pattern.match("")
    assert pattern.match("arn:aws:cognito-idp:eu-west-1:123456789012:userpool/eu-west-1_AbC123")
    assert not pattern.match("arn:aws:cognito-idp:eu-west-1:123456789012:userpool/x/../y")
    assert template["Conditions"]["CreateUserPool"] == {"Fn::Equals": [{"Ref": "ExistingUserPoolArn"}, ""]}
    resources = template["Resources"]
    assert resources["UserPool"]["Condition"] == resources["UserPoolClient"]["Condition"] == "CreateUserPool"
    outputs = template["Outputs"]
    assert outputs["UserPoolId"]["Condition"] == outputs["UserPoolClientId"]["Condition"] == "CreateUserPool"
    # The web app's config (GET /config.json) names the pool and client the stack trusts, not
    # the stage config's placeholders.
    variables = resources["APIHandler"]["Properties"]["Environment"]["Variables"]
    assert variables["TODO_USER_POOL_ARN"] == {
        "Fn::If": ["CreateUserPool", {"Fn::GetAtt": ["UserPool", "Arn"]}, {"Ref": "ExistingUserPoolArn"}]
    }
    assert variables["TODO_COGNITO_CLIENT_ID"] == {
        "Fn::If": ["CreateUserPool", {"Ref": "UserPoolClient"}, {"Ref": "ExistingUserPoolClientId"}]
    }
    assert resources["UserPoolClient"]["Properties"]["ExplicitAuthFlows"] == [
        "ALLOW_USER_PASSWORD_AUTH",  # exactly the page's flows
        "ALLOW_REFRESH_TOKEN_AUTH",
    ]


def test_a_production_stage_cannot_be_packaged_on_cognitos_own_sender(tmp_path: Path) -> None:
    from infrastructure import stages as stage_config
    from infrastructure.template import merge_template

    root = copy_project(tmp_path)
    config = stage_config.document(root)
    del config["stages"]["prod"]["email"]
    stage_config.write_json(stage_config.config_path(root), config)
    with pytest.raises(SystemExit, match="50 a day per account: sign-up 51 would get no code"):
        merge_template(load_stage("prod", root))


def test_a_production_stage_in_the_ses_sandbox_is_refused_with_the_reason(tmp_path: Path) -> None:
    from infrastructure import stages as stage_config
    from infrastructure.template import merge_template

    root = copy_project(tmp_path)
    config = stage_config.document(root)
    config["stages"]["prod"]["email"]["ses_account"] = "sandbox"
    stage_config.write_json(stage_config.config_path(root), config)
    # What make package says (it builds the stack with merge_template, SystemExit: a message).
    with pytest.raises(
        SystemExit, match="SES account is in the sandbox: SES then sends 200 e-mails a day"
    ) as refused:
        merge_template(load_stage("prod", root))
    assert "to verified recipients only, so no sign-up code reaches a real person" in str(refused.value)
    config["stages"]["prod"]["email"]["ses_account"] = "maybe"
    stage_config.write_json(stage_config.config_path(root), config)
    with pytest.raises(SystemExit, match="ses_account one of production, sandbox"):
        identity.user_pool_settings(stage_config.declared("prod", root))


def test_prod_sends_through_ses_on_an_explicit_plan_with_the_spike_alarms() -> None:
    from infrastructure.template import merge_template

    resources = merge_template(load_stage("prod"))["Resources"]
    pool = resources["UserPool"]["Properties"]
    assert pool["EmailConfiguration"]["EmailSendingAccount"] == "DEVELOPER"
    assert pool["EmailConfiguration"]["SourceArn"].startswith("arn:aws:ses:")
    assert (
        pool["UserPoolTier"] == "LITE"
    )  # the cheapest with every feature used (benchmark/cost.py check_plan)
    assert pool["UserPoolTags"]["todo-api:ses-account"] == "production"  # make spike reads it
    for alarm in ("CognitoThrottles", "AccountConcurrencyNearLimit", "Api429Rate", "TableThrottles"):
        assert resources[alarm]["Type"] == "AWS::CloudWatch::Alarm", alarm
    dev = merge_template(load_stage("dev"))["Resources"]
    assert dev["UserPool"]["Properties"]["EmailConfiguration"] == {"EmailSendingAccount": "COGNITO_DEFAULT"}


def test_prods_reserved_concurrency_is_its_throttles_and_both_routes_apply_it(
    packaged: Callable[..., Path],
) -> None:
    from infrastructure import capacity, stages
    from infrastructure.observability import reserved_concurrency

    # Chalice's own setting, so that `chalice deploy` and the packaged stack both reserve it.
    configured = stages.chalice_config("prod", "api_handler").reserved_concurrency
    rate = capacity.throttling(stages.declared("prod").spike_target)["ThrottlingRateLimit"]
    assert configured == reserved_concurrency(rate) == math.ceil(rate * 0.2)  # 0.2 s a request
    assert 0 < configured <= 1000 - 100  # AWS keeps 100 of the account's default 1,000 unreserved
    prod = json.loads((packaged("prod") / "sam.json").read_text())["Resources"]
    assert prod["APIHandler"]["Properties"]["ReservedConcurrentExecutions"] == configured
    dev = json.loads((packaged("dev") / "sam.json").read_text())["Resources"]
    assert "ReservedConcurrentExecutions" not in dev["APIHandler"]["Properties"]


def test_a_reserved_concurrency_apart_from_the_stages_target_stops_make_package(tmp_path: Path) -> None:
    # Chalice needs the number in the config (for chalice deploy); it must be the derived one.
    from infrastructure import stages as stage_config
    from infrastructure.template import merge_template

    root = copy_project(tmp_path)
    config = stage_config.document(root)
    functions = config["stages"]["prod"]["lambda_functions"]["api_handler"]
    functions["reserved_concurrency"] += 1
    stage_config.write_json(stage_config.config_path(root), config)
    with pytest.raises(SystemExit, match=r"reserved_concurrency is \d+, but the stage's spike_target needs"):
        merge_template(load_stage("prod", root))


def test_a_misspelt_stage_key_stops_make_package_naming_the_known_ones(tmp_path: Path) -> None:
    from infrastructure import stages as stage_config
    from infrastructure.template import merge_template

    root = copy_project(tmp_path)
    config = stage_config.document(root)
    config["stages"]["dev"]["wafx"] = True
    stage_config.write_json(stage_config.config_path(root), config)
    with pytest.raises(SystemExit, match=r"unknown key\(s\) wafx\. The project's keys: api, backup_days, "):
        merge_template(load_stage("dev", root))
    config["stages"]["dev"].pop("wafx")
    config["stages"]["dev"]["waf"] = "yes"
    stage_config.write_json(stage_config.config_path(root), config)
    with pytest.raises(SystemExit, match="waf must be a bool, not 'yes'"):
        merge_template(load_stage("dev", root))


@pytest.mark.parametrize("api", ["rest", "http"])
def test_the_429_metric_filter_reads_a_field_the_access_log_writes(
    packaged: Callable[..., Path], api: str
) -> None:
    """A CloudWatch Logs JSON filter (`{ $.status = "429" }`) matches only log events that are
    JSON with that field: the stage's access log must be written so, for both API types, and
    the filter must read the group the API writes to."""
    resources = json.loads((packaged("dev", api=None if api == "rest" else api) / "sam.json").read_text())
    resources = resources["Resources"]
    (stage,) = [
        r for r in resources.values() if r["Type"] in ("AWS::Serverless::Api", "AWS::Serverless::HttpApi")
    ]
    setting = stage["Properties"].get("AccessLogSetting") or stage["Properties"]["AccessLogSettings"]
    fields = json.loads(setting["Format"])
    pattern = resources["ApiThrottledCount"]["Properties"]["FilterPattern"]
    (field,) = re.findall(r"\$\.(\w+)", pattern)
    assert fields[field] == "$context.status"
    assert setting["DestinationArn"] == {"Fn::GetAtt": ["ApiAccessLogs", "Arn"]}
    assert resources["ApiThrottledCount"]["Properties"]["LogGroupName"] == {"Ref": "ApiAccessLogs"}


@pytest.mark.parametrize(
    ("variable", "value", "refusal"),
    [
        ("TODO_MAX_TODOS", "5", r"unknown environment variable\(s\) TODO_MAX_TODOS\. The runtime's: "),
        ("TODO_SETTINGS_SECONDS", "a minute", "TODO_SETTINGS_SECONDS must be a whole number of seconds"),
    ],
)
def test_a_stage_variable_the_runtime_does_not_list_or_cannot_read_stops_make_package(
    tmp_path: Path, variable: str, value: str, refusal: str
) -> None:
    # The per-user limit became a runtime setting (make settings): setting the old variable
    # would change nothing, silently, so it is refused with the list of the runtime's own.
    from infrastructure import stages as stage_config
    from infrastructure.template import merge_template

    root = copy_project(tmp_path)
    config = stage_config.document(root)
    config["stages"]["dev"]["environment_variables"][variable] = value
    stage_config.write_json(stage_config.config_path(root), config)
    with pytest.raises(SystemExit, match=refusal):
        merge_template(load_stage("dev", root))

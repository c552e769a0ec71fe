"""API keys and usage plans (a stage's `usage_plans`, off by default): a key per client
application, a plan per key, and every route requiring a key as well as the token."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from infrastructure import contract, stages
from infrastructure.package import package
from infrastructure.rehearsal.aws_rules import Stack, check
from infrastructure.rehearsal.rehearse import offline_aws, transform
from tests.support import USAGE_PLANS, copy_project

pytestmark = pytest.mark.no_moto
PLANS = USAGE_PLANS


@pytest.fixture(scope="module")
def with_plans(packaged: Callable[..., Path]) -> dict[str, Any]:
    """The dev stage packaged with USAGE_PLANS (its SAM template, before the transform)."""
    document: dict[str, Any] = json.loads((packaged("dev", usage_plans=PLANS) / "sam.json").read_text())
    return document


def transformed(template: dict[str, Any]) -> Stack:
    with offline_aws("us-east-1"):
        return Stack(transform(template, "s3://bucket/deployment.zip", "us-east-1"), "todo-api-dev")


def operations(template: dict[str, Any]) -> dict[tuple[str, str], Any]:
    body = template["Resources"]["RestAPI"]["Properties"]["DefinitionBody"]
    return {(path, method): op for path, item in body["paths"].items() for method, op in item.items()}


def test_off_by_default(packaged: Callable[..., Path]) -> None:
    for stage in ("dev", "prod"):
        assert not stages.raw(stage).get("usage_plans")
        template = json.loads((packaged(stage) / "sam.json").read_text())
        kinds = {r["Type"] for r in template["Resources"].values()}
        assert not kinds & {"AWS::ApiGateway::UsagePlan", "AWS::ApiGateway::ApiKey"}
        for (_, method), operation in operations(template).items():
            assert "api_key" not in json.dumps(operation.get("security", [])), method


def test_every_route_needs_a_key_and_the_token_but_no_preflight_does(with_plans: dict[str, Any]) -> None:
    from app import app

    body = with_plans["Resources"]["RestAPI"]["Properties"]["DefinitionBody"]
    assert body["x-amazon-apigateway-api-key-source"] == "HEADER"
    assert body["securityDefinitions"]["api_key"] == {"type": "apiKey", "name": "x-api-key", "in": "header"}
    # The Cognito authorizer is still there: a key adds a requirement, it replaces none.
    assert body["securityDefinitions"]["TodoUsers"]["x-amazon-apigateway-authtype"] == "cognito_user_pools"
    routes = {(path, method.lower()) for path, methods in app.routes.items() for method in methods}
    for key, operation in operations(with_plans).items():
        if key in routes:  # one requirement object naming both: both are needed (Swagger 2.0)
            assert operation["security"] == [{"TodoUsers": [], "api_key": []}], key
        else:  # a browser's preflight carries no key; the contract is public (a mock, no Lambda)
            assert key[1] == "options" or key == (contract.DOCUMENT_PATH, "get"), key
            assert "security" not in operation, key


def test_a_plan_and_a_key_per_client_on_this_stage(with_plans: dict[str, Any]) -> None:
    resources = with_plans["Resources"]
    for client, plan in PLANS.items():
        usage = resources[f"UsagePlan{client}"]["Properties"]
        assert usage["Throttle"] == {"RateLimit": plan["rate"], "BurstLimit": plan["burst"]}
        assert usage["Quota"] == {"Limit": plan["quota"], "Period": plan["period"]}
        key = resources[f"ApiKey{client}"]["Properties"]
        assert key["Enabled"] is True
        assert "Value" not in key  # API Gateway makes the value: none in the template or config
        link = resources[f"UsagePlanKey{client}"]["Properties"]
        assert link == {"KeyId": {"Ref": f"ApiKey{client}"}, "KeyType": "API_KEY",
                        "UsagePlanId": {"Ref": f"UsagePlan{client}"}}  # fmt: skip
    stack = transformed(with_plans)
    assert check(stack) == []
    plan = stack.resolve(stack.created()["UsagePlanweb"]["Properties"])
    assert plan["ApiStages"] == [{"ApiId": stack.ref("RestAPI"), "Stage": "dev"}]


def test_the_rules_refuse_a_plan_on_a_stage_the_stack_lacks(with_plans: dict[str, Any]) -> None:
    broken = copy.deepcopy(with_plans)
    broken["Resources"]["UsagePlanweb"]["Properties"]["ApiStages"][0]["Stage"] = "staging"
    problems = check(transformed(broken))
    assert any("no stage of this stack" in p for p in problems), problems


def test_a_plan_must_say_all_it_limits(tmp_path: Path) -> None:
    (tmp_path / "project").mkdir()
    project = copy_project(tmp_path / "project")
    config = stages.document(project)
    config["stages"]["dev"]["usage_plans"] = {"web": {"rate": 20}}
    stages.write_json(stages.config_path(project), config)
    with pytest.raises(SystemExit, match="usage_plans"):
        package("dev", tmp_path / "out", bytecode=False, root=project)


def test_an_http_api_with_usage_plans_is_refused(tmp_path: Path) -> None:
    (tmp_path / "project").mkdir()
    project = copy_project(tmp_path / "project")
    config = stages.document(project)
    config["stages"]["dev"]["usage_plans"] = PLANS
    stages.write_json(stages.config_path(project), config)
    with pytest.raises(SystemExit, match="no usage plans"):
        package("dev", tmp_path / "out", bytecode=False, root=project, api="http")

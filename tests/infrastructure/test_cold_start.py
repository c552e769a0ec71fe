"""The cold-start options of a stage (off by default): SnapStart or provisioned concurrency.
Either acts on a published version only: the one every packaged function runs on, behind the
alias the API invokes (infrastructure/releases.py), with the permission to: held here on the
stack after the SAM transform, against the rules Lambda and API Gateway apply."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from infrastructure import stages
from infrastructure.package import package
from infrastructure.rehearsal.aws_rules import Stack, check
from infrastructure.rehearsal.rehearse import offline_aws, transform
from infrastructure.releases import ALIAS
from infrastructure.stages import load as load_stage
from infrastructure.template import merge_template
from tests.support import copy_project

pytestmark = pytest.mark.no_moto
ALIAS_ID = f"APIHandlerAlias{ALIAS}"


def packaged_with(tmp_path: Path, **options: Any) -> dict[str, Any]:
    """The prod stage packaged with `options` set in its config, after the SAM transform."""
    (tmp_path / "project").mkdir()
    project = copy_project(tmp_path / "project")
    config = stages.document(project)
    config["stages"]["prod"].update(options)
    stages.write_json(stages.config_path(project), config)
    built = package("prod", tmp_path / "package", bytecode=False, root=project)
    with offline_aws("us-east-1"):
        return transform(
            json.loads((built / "sam.json").read_text()), "s3://bucket/deployment.zip", "us-east-1"
        )


def integration_targets(stack: Stack) -> set[str]:
    body = stack.resolve(stack.created()["RestAPI"]["Properties"]["Body"])
    return {
        operation["x-amazon-apigateway-integration"]["uri"]
        .split("functions/")[1]
        .removesuffix("/invocations")
        for item in body["paths"].values()
        for operation in item.values()
        if operation.get("x-amazon-apigateway-integration", {}).get("type") == "aws_proxy"
    }


@pytest.mark.parametrize("stage", ["dev", "prod"])
def test_both_options_are_off_by_default(packaged: Callable[[str], Path], stage: str) -> None:
    settings = stages.raw(stage)
    assert (settings.get("snapstart", False), settings.get("provisioned_concurrency", 0)) == (False, 0)
    function = json.loads((packaged(stage) / "sam.json").read_text())["Resources"]["APIHandler"]["Properties"]
    assert not {"SnapStart", "ProvisionedConcurrencyConfig"} & set(function)
    assert function["AutoPublishAlias"] == ALIAS  # every release is a version (releases.py)


@pytest.mark.parametrize(
    ("options", "setting"),
    [
        ({"snapstart": True}, ("SnapStart", {"ApplyOn": "PublishedVersions"})),
        (
            {"provisioned_concurrency": 2},
            ("ProvisionedConcurrencyConfig", {"ProvisionedConcurrentExecutions": 2}),
        ),
    ],
    ids=["snapstart", "provisioned-concurrency"],
)
def test_an_option_acts_on_the_alias_that_the_api_invokes(
    tmp_path: Path, options: dict[str, Any], setting: tuple[str, Any]
) -> None:
    transformed = packaged_with(tmp_path, **options)
    stack = Stack(transformed, "todo-api-prod")
    created = stack.created()
    kinds = {logical: resource["Type"] for logical, resource in created.items()}
    assert kinds[ALIAS_ID] == "AWS::Lambda::Alias"
    assert "AWS::Lambda::Version" in kinds.values()
    name, value = setting
    # SAM puts the option where Lambda applies it: SnapStart on the function (for its
    # versions), provisioned concurrency on the alias.
    holder = ALIAS_ID if name == "ProvisionedConcurrencyConfig" else "APIHandler"
    assert created[holder]["Properties"][name] == value
    alias_arn = f"arn:aws:lambda:us-east-1:{stack.account}:function:todo-api-prod:{ALIAS}"
    assert integration_targets(stack) == {alias_arn}
    assert stack.resolve(created["APIHandlerInvokePermission"]["Properties"]["FunctionName"]) == alias_arn
    assert check(stack) == []


def test_the_rules_refuse_an_alias_the_api_may_not_invoke(tmp_path: Path) -> None:
    # Chalice's own wiring: the permission on the unqualified function, which does not
    # cover its alias (API Gateway would answer 500 to every request).
    transformed = packaged_with(tmp_path, snapstart=True)
    mutant = copy.deepcopy(transformed)
    mutant["Resources"]["APIHandlerInvokePermission"]["Properties"]["FunctionName"] = {"Ref": "APIHandler"}
    problems = check(Stack(mutant, "todo-api-prod"))
    assert any(f"integrates todo-api-prod:{ALIAS} without permission to invoke it" in p for p in problems)


def test_the_rules_refuse_snapstart_where_lambda_does(tmp_path: Path) -> None:
    transformed = packaged_with(tmp_path, snapstart=True)
    old_runtime = copy.deepcopy(transformed)
    old_runtime["Resources"]["APIHandler"]["Properties"]["Runtime"] = "python3.11"
    assert "APIHandler: SnapStart does not support python3.11" in check(Stack(old_runtime, "todo-api-prod"))
    both = copy.deepcopy(transformed)
    both["Resources"][ALIAS_ID]["Properties"]["ProvisionedConcurrencyConfig"] = {
        "ProvisionedConcurrentExecutions": 1
    }
    problems = check(Stack(both, "todo-api-prod"))
    assert f"{ALIAS_ID}: provisioned concurrency on a version with SnapStart" in problems


def test_a_package_for_another_runtime_than_the_configured_one_is_refused(tmp_path: Path) -> None:
    # Chalice packages for the Python it runs on; bytecode for another runtime would not load.
    project = copy_project(tmp_path)
    config = stages.document(project)
    config["lambda_runtime"] = "python3.12"
    stages.write_json(stages.config_path(project), config)
    with pytest.raises(SystemExit, match=r"lambda_runtime is python3\.12"):
        package("dev", tmp_path / "package", root=project)


def test_a_stage_cannot_have_both(tmp_path: Path) -> None:
    project = copy_project(tmp_path)
    config = stages.document(project)
    config["stages"]["prod"].update({"snapstart": True, "provisioned_concurrency": 1})
    stages.write_json(stages.config_path(project), config)
    with pytest.raises(SystemExit, match="not both"):
        merge_template(load_stage("prod", project))

"""The web application firewall of the REST stage (`"waf": true`, on for prod): AWS's
managed rule groups, a rate rule per client IP, its logs, and what it must not block."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from benchmark import cost
from chalicelib.web import MAX_BODY_BYTES
from infrastructure import stages
from infrastructure.firewall import COUNTED_RULES, FREE_TEXT_RULES
from infrastructure.package import package
from infrastructure.rehearsal.aws_rules import Stack, check
from infrastructure.rehearsal.rehearse import offline_aws, transform
from tests.support import copy_project

pytestmark = pytest.mark.no_moto
Packaged = Callable[..., Path]
# AWS Managed Rules, core rule set: SizeRestrictions_BODY "inspects for request bodies that
# are over 8 KB (8,192 bytes)".
COMMON_SET_BODY_LIMIT = 8192
API_NOT_STAGE = "arn:aws:apigateway:${AWS::Region}::/restapis/${RestAPI}"


@pytest.fixture(scope="module")
def prod(packaged: Packaged) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((packaged("prod") / "sam.json").read_text())
    return document


def transformed(template: dict[str, Any]) -> Stack:
    with offline_aws("us-east-1"):
        return Stack(transform(template, "s3://bucket/deployment.zip", "us-east-1"), "todo-api-prod")


def test_on_for_prod_off_for_dev(prod: dict[str, Any], packaged: Packaged) -> None:
    assert stages.raw("prod")["waf"] is True
    assert stages.raw("dev")["waf"] is False
    assert prod["Resources"]["WebACL"]["Type"] == "AWS::WAFv2::WebACL"
    dev = json.loads((packaged("dev") / "sam.json").read_text())["Resources"]
    assert not [r for r in dev.values() if r["Type"].startswith("AWS::WAFv2::")]


def test_the_managed_groups_the_rate_rule_and_what_only_counts(prod: dict[str, Any]) -> None:
    acl = prod["Resources"]["WebACL"]["Properties"]
    assert (acl["Scope"], acl["DefaultAction"]) == ("REGIONAL", {"Allow": {}})
    rules = {rule["Name"]: rule for rule in acl["Rules"]}
    assert len({rule["Priority"] for rule in acl["Rules"]}) == len(rules) == 3
    rate = rules["RatePerClientIp"]
    # Its block is the app's 429, in the error shape, with Retry-After, readable by the page.
    blocked = rate["Action"]["Block"]["CustomResponse"]
    assert blocked["ResponseCode"] == 429
    assert {h["Name"]: h["Value"] for h in blocked["ResponseHeaders"]} == {
        "Retry-After": "60",
        "Access-Control-Allow-Origin": "*",
    }
    body = acl["CustomResponseBodies"][blocked["CustomResponseBodyKey"]]
    assert body["ContentType"] == "APPLICATION_JSON"
    assert json.loads(body["Content"]) == {
        "Code": "TooManyRequests",
        "Message": "too many requests from your network: retry after a pause",
    }
    assert rate["Statement"]["RateBasedStatement"]["AggregateKeyType"] == "IP"
    groups = {
        rule["Statement"]["ManagedRuleGroupStatement"]["Name"]: rule["Statement"]["ManagedRuleGroupStatement"]
        for rule in acl["Rules"]
        if "ManagedRuleGroupStatement" in rule["Statement"]
    }
    assert set(groups) == {"AWSManagedRulesCommonRuleSet", "AWSManagedRulesKnownBadInputsRuleSet"}
    assert "RuleActionOverrides" not in groups["AWSManagedRulesKnownBadInputsRuleSet"]
    counted = groups["AWSManagedRulesCommonRuleSet"]["RuleActionOverrides"]
    assert {o["Name"] for o in counted} == set(COUNTED_RULES)
    assert all(o["ActionToUse"] == {"Count": {}} for o in counted)


def test_no_managed_rule_blocks_what_the_api_allows() -> None:
    # The common set blocks bodies over 8 KB; the app refuses the same bodies itself (413),
    # so the rule blocks nothing the API would take, and stays a Block.
    assert MAX_BODY_BYTES == COMMON_SET_BODY_LIMIT
    assert "SizeRestrictions_BODY" not in COUNTED_RULES
    # A title is free text (markup, a path, a URL are all valid titles, stored and shown as
    # text): the body rules that match such text count rather than block.
    assert {"CrossSiteScripting_BODY", "GenericLFI_BODY", "GenericRFI_BODY"} <= set(FREE_TEXT_RULES)


def test_the_acl_guards_the_stage_and_logs_briefly_without_tokens(prod: dict[str, Any]) -> None:
    resources = prod["Resources"]
    logs = resources["WebACLLogs"]["Properties"]
    assert logs["LogGroupName"].startswith("aws-waf-logs-")
    assert logs["RetentionInDays"] == stages.log_retention_days("prod")
    logging = resources["WebACLLogging"]["Properties"]
    assert {"SingleHeader": {"Name": "authorization"}} in logging["RedactedFields"]
    stack = transformed(prod)
    assert check(stack) == []
    association = stack.resolve(stack.created()["WebACLAssociation"]["Properties"]["ResourceArn"])
    assert association == f"arn:aws:apigateway:us-east-1::/restapis/{stack.ref('RestAPI')}/stages/prod"


@pytest.mark.parametrize(
    ("logical", "field", "value", "complaint"),
    [
        ("WebACLAssociation", "ResourceArn", {"Fn::Sub": API_NOT_STAGE}, "not a REST API stage"),
        ("WebACL", "Scope", "CLOUDFRONT", "regional web ACLs only"),
        ("WebACLLogging", "LogDestinationConfigs", [{"Fn::GetAtt": ["WebACLLogs", "Arn"]}], "cannot log to"),
    ],
)  # fmt: skip
def test_the_rules_refuse_what_waf_refuses(
    prod: dict[str, Any], logical: str, field: str, value: Any, complaint: str
) -> None:
    broken = copy.deepcopy(prod)
    broken["Resources"][logical]["Properties"][field] = value
    problems = check(transformed(broken))
    assert any(complaint in problem for problem in problems), problems


def test_make_cost_prices_the_firewall(prod: dict[str, Any]) -> None:
    assert cost.configuration(prod).waf_rules == 3


def test_an_http_api_with_a_firewall_is_refused(tmp_path: Path) -> None:
    (tmp_path / "project").mkdir()
    project = copy_project(tmp_path / "project")
    with pytest.raises(SystemExit, match="WAF protects REST API stages only"):
        package("prod", tmp_path / "out", bytecode=False, root=project, api="http")

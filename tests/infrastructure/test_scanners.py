"""Every packaged variant (support.SCANNED) through the scanners: cfn-lint with the
serverless rules, checkov offline with no skip but those CHECKOV_SKIPS justifies, and the SAM
CLI's `sam validate` (its transform's rules) and `sam validate --lint`.

They live in one module so that one test process runs checkov once over all the variants
(its start-up is most of its time), rather than each process that meets a variant."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.scanners import cfn_lint_findings, sam_validate, skipped_and_justified
from tests.support import SCANNED

pytestmark = pytest.mark.slow

Packaged = Callable[..., Path]


def template_of(packaged: Packaged, variant: str) -> Path:
    stage, api, settings = SCANNED[variant]
    return packaged(stage, api, **settings) / "sam.json"


@pytest.fixture(scope="module")
def linted(packaged: Packaged) -> dict[str, list[dict[str, Any]]]:
    return cfn_lint_findings({variant: template_of(packaged, variant) for variant in SCANNED})


@pytest.mark.parametrize("variant", SCANNED)
def test_cfn_lint_with_the_serverless_rules_finds_nothing(
    linted: dict[str, list[dict[str, Any]]], variant: str
) -> None:
    assert linted[variant] == []


@pytest.mark.parametrize("flags", [(), ("--lint",)], ids=["sam-validate", "sam-validate-lint"])
@pytest.mark.parametrize("variant", SCANNED)
def test_sam_validate_passes(packaged: Packaged, variant: str, flags: tuple[str, ...]) -> None:
    validated = sam_validate(template_of(packaged, variant), *flags)
    assert validated.returncode == 0, validated.stdout + validated.stderr
    assert "is a valid SAM Template" in validated.stdout + validated.stderr


@pytest.mark.parametrize(
    ("flags", "mutate", "refusal"),
    [
        ((), lambda f: f.pop("AutoPublishAlias"), "'DeploymentPreference' requires AutoPublishAlias"),
        (("--lint",), lambda f: f.update(MemorySize="lots"), "'lots' is not of type 'integer'"),
    ],
    ids=["sam-validate", "sam-validate-lint"],
)
def test_sam_validate_refuses_a_broken_template(
    packaged: Packaged, tmp_path: Path, flags: tuple[str, ...], mutate: Callable[[Any], Any], refusal: str
) -> None:
    template = json.loads(template_of(packaged, "prod").read_text())
    mutate(template["Resources"]["APIHandler"]["Properties"])
    (tmp_path / "sam.json").write_text(json.dumps(template))
    validated = sam_validate(tmp_path / "sam.json", *flags)
    assert validated.returncode != 0
    assert refusal in validated.stdout + validated.stderr


@pytest.mark.parametrize("variant", SCANNED)
def test_checkov_fails_nothing_outside_the_justified_skips(
    packaged: Packaged, scanned: Callable[[str], Any], variant: str
) -> None:
    report = scanned(variant)  # checkov, in its own virtualenv, offline
    summary, results = report["summary"], report["results"]
    failed = [(c["check_id"], c["resource"]) for c in results["failed_checks"]]
    assert failed == [], failed
    assert (summary["failed"], summary["parsing_errors"]) == (0, 0)
    assert summary["passed"] >= 25  # it really read the resources
    skipped, justified = skipped_and_justified(report, template_of(packaged, variant))
    assert skipped == justified  # every skip is one we wrote down, for a resource that exists
    assert all(c["check_result"].get("suppress_comment") for c in results["skipped_checks"])


def test_checkov_passes_the_prod_stack_without_a_waf_skip(scanned: Callable[[str], Any]) -> None:
    report = scanned("prod")
    passed = {(c["check_id"], c["resource"].split(".")[-1]) for c in report["results"]["passed_checks"]}
    assert ("CKV_AWS_192", "WebACL") in passed  # the Log4j rule (known bad inputs)
    assert ("CKV_AWS_115", "APIHandler") in passed  # prod reserves the API function's concurrency
    skipped = {(c["check_id"], c["resource"].split(".")[-1]) for c in report["results"]["skipped_checks"]}
    # The log group's skip is the one every log group has (no customer key); none for WAF.
    assert {r for _, r in skipped if r.startswith("WebACL")} == {"WebACLLogs"}

"""The template scanners every packaged stack must pass: cfn-lint with the serverless rules,
checkov from its own virtualenv (make builds it; it pins an older boto3), offline: no
policy download, no guideline mapping; and the SAM CLI's `sam validate` and
`sam validate --lint`, from its own."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tests.support import ROOT


def cfn_lint_findings(templates: Mapping[str, Path]) -> dict[str, list[dict[str, Any]]]:
    """cfn-lint's findings (with the serverless rules) on each of `templates`, from one run."""
    by_path = {str(template): name for name, template in templates.items()}
    result = subprocess.run(
        [str(Path(sys.executable).parent / "cfn-lint"), "--append-rules", "cfn_lint_serverless.rules",
         "--format", "json", "--", *by_path],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert result.stdout.strip(), result.stderr  # it ran (0: clean; 2, 4, 8: findings)
    findings: dict[str, list[dict[str, Any]]] = {name: [] for name in templates}
    for finding in json.loads(result.stdout):
        findings[by_path[finding["Filename"]]].append(finding)
    return findings


def sam_validate(template: Path, *flags: str) -> subprocess.CompletedProcess[str]:
    """`sam validate [flags]` on `template`, offline: fake credentials, no telemetry. Plain, it
    runs SAM's transform and its validation (a DeploymentPreference without an alias);
    `--lint`, cfn-lint on the template."""
    command = os.environ.get("SAM", str(ROOT / ".venv-sam" / "bin" / "sam"))
    assert Path(command).exists(), "the SAM CLI is missing: `make test` builds .venv-sam"
    env = {
        **os.environ,
        "SAM_CLI_TELEMETRY": "0",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    return subprocess.run(
        [command, "validate", *flags, "--template-file", str(template)],
        capture_output=True, text=True, timeout=300, check=False, env=env, cwd=template.parent,
    )  # fmt: skip


def checkov_reports(templates: Mapping[str, Path], workdir: Path) -> dict[str, dict[str, Any]]:
    """checkov's JSON report on each of `templates`, from one run over all of them."""
    command = os.environ.get("CHECKOV", str(ROOT / ".venv-checkov" / "bin" / "checkov"))
    assert Path(command).exists(), "checkov is missing: `make test` builds .venv-checkov"
    for name, template in templates.items():
        shutil.copy(template, workdir / f"{name}.json")
    result = subprocess.run(
        [command, "--directory", str(workdir), "--framework", "cloudformation", "--skip-download",
         "--output", "json"],
        capture_output=True, text=True, timeout=600, check=False, cwd=workdir,
        env={**os.environ, "BC_SKIP_MAPPING": "TRUE"},
    )  # fmt: skip
    report: dict[str, Any] = json.loads(result.stdout)
    kinds = ("passed_checks", "failed_checks", "skipped_checks")
    reports: dict[str, dict[str, Any]] = {
        name: {"results": {kind: [] for kind in kinds}} for name in templates
    }
    for kind in kinds:
        for check in report["results"].get(kind, []):
            reports[Path(check["file_path"]).stem]["results"][kind].append(check)
    for each in reports.values():
        counts = {kind.split("_")[0]: len(each["results"][kind]) for kind in kinds}
        each["summary"] = {**counts, "parsing_errors": report["summary"]["parsing_errors"]}
    return reports


def skipped_and_justified(report: dict[str, Any], template: Path) -> tuple[set[Any], set[Any]]:
    """The (check, resource) pairs checkov skipped, and those CHECKOV_SKIPS justifies for
    the resources `template` has (where a resource passes a check, as prod's reserved
    concurrency does, the template skips nothing): equal when every skip is one we wrote down."""
    from infrastructure.template import CHECKOV_SKIPS

    resources = json.loads(template.read_text())["Resources"]
    skipped = {(c["check_id"], c["resource"].split(".")[-1]) for c in report["results"]["skipped_checks"]}
    written = {
        (skip["id"], r)
        for r, resource in resources.items()
        for skip in resource.get("Metadata", {}).get("checkov", {}).get("skip", [])
    }
    reasons = {(check, r) for r, skips in CHECKOV_SKIPS.items() for check, _ in skips}
    assert written <= reasons, written - reasons  # every skip in the template has its reason
    return skipped, written

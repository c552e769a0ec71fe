"""Backups past point-in-time recovery's window (a stage's `backup_days`), as the packaged stack
declares them and as the rehearsal creates them."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from infrastructure import backups
from infrastructure.rehearsal.aws_rules import Stack, check
from infrastructure.rehearsal.rehearse import offline_aws, rehearse, transform
from infrastructure.stages import load as load_stage
from infrastructure.template import merge_template
from tests.support import copy_project

pytestmark = pytest.mark.no_moto


def test_a_stage_that_keeps_backups_gets_a_weekly_plan_of_its_table(packaged: Callable[..., Path]) -> None:
    resources: dict[str, Any] = json.loads(
        (packaged("prod", None, backup_days=365) / "sam.json").read_text()
    )["Resources"]
    rule = resources["BackupPlan"]["Properties"]["BackupPlan"]["BackupPlanRule"][0]
    assert rule["Lifecycle"] == {"DeleteAfterDays": 365}
    assert rule["ScheduleExpression"] == backups.SCHEDULE
    assert rule["TargetBackupVault"] == {"Ref": "BackupVault"}
    selection = resources["BackupSelection"]["Properties"]["BackupSelection"]
    assert selection["Resources"] == [{"Fn::GetAtt": ["TodoTable", "Arn"]}]
    assert resources["BackupVault"]["DeletionPolicy"] == "Retain"  # the copies outlive the stack
    trust = resources["BackupRole"]["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert trust == [
        {"Effect": "Allow", "Principal": {"Service": "backup.amazonaws.com"}, "Action": "sts:AssumeRole"}
    ]
    plain = json.loads((packaged("prod") / "sam.json").read_text())["Resources"]
    assert not {"BackupVault", "BackupPlan", "BackupSelection", "BackupRole"} & set(plain)


@pytest.mark.parametrize("days", [35, 0.5, 40_000])
def test_a_window_point_in_time_recovery_covers_or_no_bound_is_refused(tmp_path: Path, days: Any) -> None:
    from infrastructure import stages as stage_config

    root = copy_project(tmp_path)
    config = stage_config.document(root)
    config["stages"]["prod"]["backup_days"] = days
    stage_config.write_json(stage_config.config_path(root), config)
    with pytest.raises(SystemExit, match="backup_days must be"):
        merge_template(load_stage("prod", root))


def test_the_rehearsal_creates_the_stack_with_its_backup_plan(packaged: Callable[..., Path]) -> None:
    package = packaged("prod", None, backup_days=365)
    sam = json.loads((package / "sam.json").read_text())
    with offline_aws("us-east-1"):
        stack = Stack(transform(sam, "s3://rehearsal/deployment.zip", "us-east-1"), "todo-api-prod")
        assert check(stack) == []
    report = rehearse(package, stack_name="todo-api-prod")
    assert report.problems == [], report.problems
    assert {"BackupVault", "BackupPlan", "BackupSelection"} <= set(report.left_out)
    assert "BackupRole" in report.created

"""Backups kept longer than point-in-time recovery keeps its window (a stage's `backup_days`):
AWS Backup takes one of the table a week and keeps each that many days, in a vault of the stack's
own, kept on delete. Off unless the stage sets it; `make cost` prices what it sets.

Point-in-time recovery (on for every stage's table) restores to any second of the last 35 days
at most (DynamoDB API reference, PointInTimeRecoveryDescription); past that, only a backup can
bring data back. A DynamoDB backup is a whole copy of the table, billed per GB-month for as long
as it is kept (DynamoDB's pricing page), so weekly copies over a long window cost a seventh of
daily ones; within the 35 days, point-in-time recovery already covers every second."""

from __future__ import annotations

from typing import Any

from infrastructure import names
from infrastructure.stage import Stage

# Point-in-time recovery's longest window: RecoveryPeriodInDays' maximum (DynamoDB API reference,
# PointInTimeRecoveryDescription, read 2026-12-07).
RECOVERY_WINDOW_DAYS = 35
EVERY_DAYS = 7  # one backup a week
SCHEDULE = "cron(0 3 ? * SUN *)"  # Sundays, 03:00 UTC
MAX_DAYS = 36_500  # a hundred years: a bound, so that a typo cannot keep backups forever

CHECKOV_SKIPS: dict[str, list[tuple[str, str]]] = {
    "BackupVault": [
        (
            "CKV_AWS_166",
            (
                "DynamoDB backups keep the table's own encryption (the AWS managed key, like the table); "
                "a customer managed key is a per-deployment compliance choice with its own cost."
            ),
        )
    ],
}


def resources(stage: Stage) -> dict[str, Any]:
    days = stage.backup_days
    if not days:
        return {}
    if not RECOVERY_WINDOW_DAYS < days <= MAX_DAYS:
        raise SystemExit(
            f"stage {stage.name}: backup_days must be from {RECOVERY_WINDOW_DAYS + 1} to {MAX_DAYS:,} "
            f"(point-in-time recovery already keeps every second of the last {RECOVERY_WINDOW_DAYS} days), "
            f"not {days}"
        )
    return {
        "Resources": {
            "BackupVault": {
                "Type": "AWS::Backup::BackupVault",
                "DeletionPolicy": "Retain",
                "UpdateReplacePolicy": "Retain",
                "Properties": {"BackupVaultName": names.of(stage.name, "backups")},
            },
            "BackupPlan": {
                "Type": "AWS::Backup::BackupPlan",
                "Properties": {
                    "BackupPlan": {
                        "BackupPlanName": names.of(stage.name, "weekly"),
                        "BackupPlanRule": [
                            {
                                "RuleName": "weekly",
                                "TargetBackupVault": {"Ref": "BackupVault"},
                                "ScheduleExpression": SCHEDULE,
                                "Lifecycle": {"DeleteAfterDays": days},
                            }
                        ],
                    }
                },
            },
            "BackupRole": {
                "Type": "AWS::IAM::Role",
                "Properties": {
                    "AssumeRolePolicyDocument": {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Effect": "Allow",
                                "Principal": {"Service": "backup.amazonaws.com"},
                                "Action": "sts:AssumeRole",
                            }
                        ],
                    },
                    # AWS Backup's own policy for taking backups (AWS Backup developer guide,
                    # "Default service role for AWS Backup").
                    "ManagedPolicyArns": [
                        {
                            "Fn::Sub": "arn:${AWS::Partition}:iam::aws:policy/service-role/"
                            "AWSBackupServiceRolePolicyForBackup"
                        }
                    ],
                },
            },
            "BackupSelection": {
                "Type": "AWS::Backup::BackupSelection",
                "Properties": {
                    "BackupPlanId": {"Ref": "BackupPlan"},
                    "BackupSelection": {
                        "SelectionName": "table",
                        "IamRoleArn": {"Fn::GetAtt": ["BackupRole", "Arn"]},
                        "Resources": [{"Fn::GetAtt": ["TodoTable", "Arn"]}],
                    },
                },
            },
        }
    }

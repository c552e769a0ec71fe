"""Where the scheduled jobs' failed runs go: Lambda's retries, then a queue (and an alarm
on it, infrastructure/observability.py)."""

from __future__ import annotations

from typing import Any

from infrastructure import names
from infrastructure.stage import Stage

CHECKOV_SKIPS: dict[str, list[tuple[str, str]]] = {
    "JobFailures": [
        (
            "CKV_AWS_27",
            (
                "Encrypted with SQS managed SSE (SqsManagedSseEnabled), which checkov does not "
                "recognise; the aws/sqs KMS key would stop EventBridge delivering to it."
            ),
        ),
    ],
}


def resources(stage: Stage) -> dict[str, Any]:
    """Where the scheduled jobs' failed runs go: retries, then a queue (and an alarm on it)."""
    jobs = stage.app.jobs
    resources: dict[str, Any] = {
        "JobFailures": {
            "Type": "AWS::SQS::Queue",
            # It is itself the dead-letter queue: a redrive policy would have nowhere to go.
            "Metadata": {"cfn-lint": {"config": {"ignore_checks": ["ES6000"]}}},
            "Properties": {
                "QueueName": names.failure_queue(stage.name),
                "MessageRetentionPeriod": 1209600,
                "SqsManagedSseEnabled": True,
            },
        },
        "JobFailuresPolicy": {
            "Type": "AWS::SQS::QueuePolicy",
            "Properties": {
                "Queues": [{"Ref": "JobFailures"}],
                "PolicyDocument": {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Sid": "ScheduleDeliveryFailures",
                            "Effect": "Allow",
                            "Principal": {"Service": "events.amazonaws.com"},
                            "Action": "sqs:SendMessage",
                            "Resource": {"Fn::GetAtt": ["JobFailures", "Arn"]},
                            # Only this stack's own schedules (the rules SAM makes, named
                            # function + event): no other account's rule may use the queue
                            # as its dead-letter queue (the confused deputy; EventBridge's
                            # guide, "Granting permissions to the dead-letter queue").
                            "Condition": {
                                "ArnEquals": {
                                    "aws:SourceArn": [
                                        {"Fn::GetAtt": [f"{logical}{logical}Event", "Arn"]}
                                        for logical in jobs
                                    ]
                                }
                            },
                        }
                    ],
                },
            },
        },
    }
    failures = {"Fn::GetAtt": ["JobFailures", "Arn"]}
    for logical in jobs:
        resources[logical] = {
            "Properties": {
                # Lambda retries a failed scheduled run twice, then records it here; a
                # schedule that cannot invoke the function at all lands here too.
                "EventInvokeConfig": {
                    "MaximumRetryAttempts": 2,
                    "DestinationConfig": {"OnFailure": {"Type": "SQS", "Destination": failures}},
                },
                "Events": {f"{logical}Event": {"Properties": {"DeadLetterConfig": {"Arn": failures}}}},
            }
        }
    return {"Resources": resources}

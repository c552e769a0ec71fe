"""Reasons for checkov findings that several builders accept alike. Each builder keeps
its own reasons beside the resources they justify (its CHECKOV_SKIPS); the stack puts them
in each resource's Metadata, so a scan reports them as skipped, never silently."""

from __future__ import annotations

CMK_LOGS = (
    "CKV_AWS_158",
    (
        "Logs carry no personal data or secrets (tests/integration/test_telemetry.py); CloudWatch encrypts "
        "them at rest with its own key."
    ),
)

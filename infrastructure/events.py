"""What EventBridge sends a scheduled function, as AWS documents it ("Scheduled Event",
source aws.events, the rule's ARN in `resources`): built here once for everything that
invokes a job as Lambda would (`make cleanup`, `make bench`, the tests)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

LOCAL_ACCOUNT = "000000000000"


def scheduled_event(
    rule: str, *, region: str = "us-east-1", account: str = LOCAL_ACCOUNT, when: datetime | None = None
) -> dict[str, Any]:
    """The event of a run of the schedule `rule` (Chalice names a job's rule after it)."""
    moment = (when or datetime.now(UTC)).astimezone(UTC)
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": account,
        "time": moment.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [f"arn:aws:events:{region}:{account}:rule/{rule}"],
        "detail": {},
    }

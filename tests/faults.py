"""DynamoDB faults to inject under real requests on moto: each a function of botocore's
prepared request that answers in DynamoDB's place (or fails to answer). The fixtures that
install them on the app's client (`inject`, `backoffs`) are in conftest.py."""

from __future__ import annotations

import json
from collections.abc import Callable

from botocore.awsrequest import AWSPreparedRequest, AWSResponse
from botocore.exceptions import ConnectionClosedError, EndpointConnectionError, ReadTimeoutError
from moto.core.botocore_stubber import MockRawResponse
from moto.core.models import botocore_stubber

Fault = Callable[[AWSPreparedRequest], AWSResponse]


def error(status: int, code: str) -> Fault:
    def respond(request: AWSPreparedRequest) -> AWSResponse:
        body = json.dumps({"__type": f"com.amazonaws.dynamodb.v20120810#{code}", "message": code})
        headers = {"Content-Type": "application/x-amz-json-1.0", "x-amzn-RequestId": "fault"}
        return AWSResponse(request.url, status, headers, MockRawResponse(body))

    return respond


def raise_(error: type[Exception]) -> Fault:
    def fail(request: AWSPreparedRequest) -> AWSResponse:
        raise error(endpoint_url=request.url)

    return fail


def lost_response(request: AWSPreparedRequest) -> AWSResponse:
    """The request reaches DynamoDB and is applied; its response never comes back."""
    botocore_stubber("before-send.dynamodb", request)
    raise ConnectionClosedError(endpoint_url=request.url)


TRANSIENT: dict[str, Fault] = {
    "throttled": error(400, "ThrottlingException"),
    "throughput-exceeded": error(400, "ProvisionedThroughputExceededException"),
    "server-error": error(500, "InternalServerError"),
    "connection-refused": raise_(EndpointConnectionError),
    "read-timeout": raise_(ReadTimeoutError),
}


# botocore calls *every* before-send handler and keeps the first response, so moto (a
# before-send handler too, called after ours) would still apply a request we answer with
# a fault. While a fault response stands in, the request points where moto serves
# nothing; our hook puts the address back at the start of the SDK's next attempt.
_NOWHERE = "https://fault-injection.invalid/"


def answering(fault: Fault, times: int) -> tuple[Callable[..., AWSResponse | None], list[int]]:
    """A `before-send` hook that answers the next `times` sends with `fault`, and the count
    of sends it has answered so far."""
    seen = [0]

    def hook(request: AWSPreparedRequest, **_: object) -> AWSResponse | None:
        if hasattr(request, "fault_url"):
            request.url = request.fault_url
            del request.fault_url
        if seen[0] >= times:
            return None
        seen[0] += 1
        response = fault(request)  # raising faults end the send here
        request.fault_url = request.url  # type: ignore[attr-defined]
        request.url = _NOWHERE
        return response

    return hook, seen

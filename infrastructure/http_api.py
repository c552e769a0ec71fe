"""The HTTP API option (`make package API=http`): Chalice's REST API replaced by an HTTP API.

Chalice packages a REST API only. This rewrites its packaged SAM template: the RestAPI
and its invoke permission go; an AWS::Serverless::HttpApi comes, with

- a route per Chalice route, each an HttpApi event of the API function with payload
  format 1.0 (the REST proxy event's shape, which Chalice routes unchanged);
- a JWT authorizer on every route: issuer the trusted pool's
  (`https://cognito-idp.REGION.amazonaws.com/POOL_ID`), audience its app client, so
  only that client's tokens pass (the REST authorizer trusts any client of the pool);
- CORS from the app's own CORSConfig (the gateway answers preflights itself), access
  logs, stage-wide throttling as on the REST stage;
- the 5xx-rate alarm and the dashboard on the HTTP API's own metrics (`5xx`... by ApiId
  and Stage).

What an HTTP API does not have, so nor does this: custom gateway responses (its own
401, 404 and 429 bodies are `{"message": ...}`, not the app's error shape), X-Ray on the
stage (the function is still traced), WAF, usage plans and API keys.
"""

from __future__ import annotations

import copy
import json
import re
from typing import Any

from infrastructure import capacity, dashboard
from infrastructure.identity import TRUSTED_CLIENT_ID, TRUSTED_POOL_ARN
from infrastructure.inventory import Inventory
from infrastructure.observability import server_errors_alarm
from infrastructure.stage import Stage

API = "HttpAPI"
AUTHORIZER = "TodoUsers"
STAGE = "$default"  # the stage an HTTP API serves at its root: no stage in the path
# The trusted pool's issuer, from its ARN (arn:aws:cognito-idp:REGION:ACCOUNT:userpool/ID).
ISSUER = {
    "Fn::Sub": [
        "https://cognito-idp.${Region}.amazonaws.com/${PoolId}",
        {
            "Region": {"Fn::Select": [3, {"Fn::Split": [":", TRUSTED_POOL_ARN]}]},
            "PoolId": {"Fn::Select": [1, {"Fn::Split": ["/", TRUSTED_POOL_ARN]}]},
        },
    ]
}
AUDIENCE = TRUSTED_CLIENT_ID
# Access log fields an HTTP API has (it has no $context.error.responseType).
ACCESS_LOG_FORMAT = json.dumps(
    {
        "requestId": "$context.requestId",
        "route": "$context.routeKey",
        "status": "$context.status",
        "latencyMs": "$context.responseLatency",
        "error": "$context.error.message",
        "authorizerError": "$context.authorizer.error",
    }
)


def _cors(app: Inventory) -> dict[str, Any]:
    """The app's CORSConfig, as the headers Chalice sends, in the HTTP API's terms."""
    headers = app.cors
    methods = sorted({method for route in app.routes.values() for method in route})
    return {
        "AllowOrigins": [headers["Access-Control-Allow-Origin"]],
        "AllowHeaders": headers["Access-Control-Allow-Headers"].split(","),
        "AllowMethods": methods,
        "ExposeHeaders": headers["Access-Control-Expose-Headers"].split(","),
        "MaxAge": int(headers["Access-Control-Max-Age"]),
    }


def _events(app: Inventory) -> dict[str, Any]:
    events = {}
    for path, methods in app.routes.items():
        for method in methods:
            name = re.sub(r"[^A-Za-z0-9]", "", path.title()) + method.title()
            properties: dict[str, Any] = {
                "ApiId": {"Ref": API},
                "Path": path,
                "Method": method,
                "PayloadFormatVersion": "1.0",
            }
            if (path, method) in app.public:  # the web app's public files, as on the REST API
                properties["Auth"] = {"Authorizer": "NONE"}
            events[f"Http{name}"] = {"Type": "HttpApi", "Properties": properties}
    return events


def to_http_api(template: dict[str, Any], stage: Stage) -> dict[str, Any]:
    """`template` (Chalice's packaged SAM, resources merged) with an HTTP API for its REST API."""
    out = copy.deepcopy(template)
    resources = out["Resources"]
    if "WebACL" in resources:
        raise SystemExit("WAF protects REST API stages only: set the stage's waf to false for an HTTP API")
    if any(r.get("Type") == "AWS::ApiGateway::UsagePlan" for r in resources.values()):
        raise SystemExit("an HTTP API has no usage plans or API keys: remove the stage's usage_plans for it")
    resources.pop("RestAPI")  # and its checkov skips with it
    resources.pop("APIHandlerInvokePermission")
    resources[API] = {
        "Type": "AWS::Serverless::HttpApi",
        "Properties": {
            "FailOnWarnings": True,
            "Auth": {
                "DefaultAuthorizer": AUTHORIZER,
                "Authorizers": {
                    AUTHORIZER: {
                        "IdentitySource": "$request.header.Authorization",
                        "JwtConfiguration": {"issuer": ISSUER, "audience": [AUDIENCE]},
                    }
                },
            },
            "CorsConfiguration": _cors(stage.app),
            "AccessLogSettings": {
                "DestinationArn": {"Fn::GetAtt": ["ApiAccessLogs", "Arn"]},
                "Format": ACCESS_LOG_FORMAT,
            },
            "DefaultRouteSettings": capacity.throttling(stage.spike_target),
        },
    }
    resources["APIHandler"]["Properties"]["Events"] = _events(stage.app)
    resources["Dashboard"] = dashboard.resource(stage.name, api="http")
    # The HTTP API's own metrics (AWS/ApiGateway `5xx` and `Count`, by ApiId and Stage).
    dimensions: list[dict[str, Any]] = [
        {"Name": "ApiId", "Value": {"Ref": API}},
        {"Name": "Stage", "Value": STAGE},
    ]
    resources["Api5xxRate"] = server_errors_alarm(stage.name, "5xx", dimensions)
    for metric in resources["Api429Rate"]["Properties"]["Metrics"]:
        if metric["Id"] == "whole":  # the requests, as an HTTP API counts them
            metric["MetricStat"]["Metric"]["Dimensions"] = dimensions
    out.setdefault("Parameters", {})["ExistingUserPoolClientId"] = {
        "Type": "String",
        "Default": "",
        "AllowedPattern": r"^$|^[\w+]{1,128}$",
        "Description": "With ExistingUserPoolArn: the app client whose tokens the JWT authorizer accepts",
    }
    out.setdefault("Rules", {})["ClientOfTheExistingPool"] = {
        "RuleCondition": {"Fn::Not": [{"Fn::Equals": [{"Ref": "ExistingUserPoolArn"}, ""]}]},
        "Assertions": [
            {
                "Assert": {"Fn::Not": [{"Fn::Equals": [{"Ref": "ExistingUserPoolClientId"}, ""]}]},
                "AssertDescription": "the JWT authorizer needs the app client: set ExistingUserPoolClientId",
            }
        ],
    }
    outputs = out.setdefault("Outputs", {})
    outputs.pop("RestAPIId", None)
    outputs["HttpApiId"] = {"Value": {"Ref": API}}
    outputs["EndpointURL"] = {
        "Value": {"Fn::Sub": f"https://${{{API}}}.execute-api.${{AWS::Region}}.${{AWS::URLSuffix}}/"}
    }
    return out

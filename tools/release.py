"""`make release STAGE=prod` and `make rollback STAGE=prod`: the packaged stack released through
CloudFormation, its traffic shift followed, and traffic sent back at once when a release
proves bad after it finished.

`chalice deploy` replaces every function's code for every request at once and cannot shift
traffic; the packaged stack can (infrastructure/releases.py). `release`:

1. packages the stage (`make package`), uploads the zip and the template to the stage's
   artifact bucket (made on first use: private, encrypted, artifacts expired after 90 days);
2. makes a CloudFormation change set of it and shows every change, marking what would be
   replaced (a replaced table or user pool is data lost), and how traffic will shift;
3. asks (or takes `--yes`), executes it, and follows it: the stack's events, and each
   alias's share of traffic as CodeDeploy moves it; then a clear line: released, or
   rolled back with the reason CloudFormation gives (the alarm that fired);
4. records which version of each function is live (a parameter of its own, outside the
   runtime settings' path), for `rollback`.

`rollback`: during a shift, it stops CodeDeploy's deployment with rollback (CodeDeploy puts
all traffic back on the old version at once, and CloudFormation then rolls the stack back);
after a release finished, it points each function's alias at the version the release before
it made live, at once. The stack then still names the newer version until the next release
(of the fix, or of the commit before): say so, and say what to release.

Data migrations come after a release that needs them, as after `make deploy` (`make migrate`,
DRY_RUN=1 first); runtime settings are the stack's parameters' defaults and `make settings`, so a
release never resets one an operator set. Uses your AWS configuration (tools/clients.py).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from infrastructure import names, stages
from infrastructure.stage import Stage
from tools import clients

CAPABILITIES = ["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"]
# Kinds whose replacement loses data: a change set that replaces one is refused.
STATEFUL = frozenset({"AWS::DynamoDB::Table", "AWS::Cognito::UserPool"})
ARTIFACT_DAYS = 90  # a release's zip and template are read by CloudFormation only while it runs
HISTORY = 10  # releases remembered for rollback (about 1.5 KB: a standard parameter's value)
WAIT_SECONDS = 2 * 3600  # how long to follow a release here; a canary takes minutes
# What CloudFormation says when a change set would change nothing (it fails the change set).
_NO_CHANGES = ("didn't contain changes", "No updates are to be performed")
_DONE = {"CREATE_COMPLETE", "UPDATE_COMPLETE"}


def stack_name(stage: str) -> str:
    return names.of(stage)


def artifact_bucket(stage: str, account: str, region: str) -> str:
    """The stage's artifact bucket: bucket names are global, so the account and Region are in it."""
    return names.of(stage, "releases", account, region)


def ensure_bucket(s3: Any, bucket: str, region: str) -> None:
    """The bucket, made once: no public access, and artifacts expired after ARTIFACT_DAYS."""
    try:
        s3.head_bucket(Bucket=bucket)
        return
    except s3.exceptions.ClientError as error:
        if error.response["Error"]["Code"] not in ("404", "NoSuchBucket", "NotFound"):
            raise
    location = {} if region == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": region}}
    s3.create_bucket(Bucket=bucket, **location)
    s3.put_public_access_block(
        Bucket=bucket,
        PublicAccessBlockConfiguration={
            "BlockPublicAcls": True,
            "IgnorePublicAcls": True,
            "BlockPublicPolicy": True,
            "RestrictPublicBuckets": True,
        },
    )
    s3.put_bucket_lifecycle_configuration(
        Bucket=bucket,
        LifecycleConfiguration={
            "Rules": [
                {
                    "ID": "expire-artifacts",
                    "Status": "Enabled",
                    "Filter": {"Prefix": ""},
                    "Expiration": {"Days": ARTIFACT_DAYS},
                }
            ]
        },
    )


def upload(s3: Any, bucket: str, region: str, package_dir: Path, stage: str) -> str:
    """The zip and the template (its CodeUri pointed at the zip) in the bucket, each named by
    its content's hash; the template's URL. CloudFormation takes a template body of at most
    51,200 bytes in a request, and one from S3 of up to 1 MB (CloudFormation User Guide,
    "CloudFormation quotas"): ours is over the first, so it always goes by URL."""
    code = (package_dir / "deployment.zip").read_bytes()
    code_key = f"{stage}/{hashlib.sha256(code).hexdigest()[:20]}.zip"
    s3.put_object(Bucket=bucket, Key=code_key, Body=code)
    template = json.loads((package_dir / "sam.json").read_text())
    for resource in template["Resources"].values():
        if resource["Type"] == "AWS::Serverless::Function":
            resource["Properties"]["CodeUri"] = f"s3://{bucket}/{code_key}"
    body = json.dumps(template, indent=1).encode()
    template_key = f"{stage}/{hashlib.sha256(body).hexdigest()[:20]}.json"
    s3.put_object(Bucket=bucket, Key=template_key, Body=body)
    return f"https://{bucket}.s3.{region}.amazonaws.com/{template_key}"


@dataclass
class Proposal:
    name: str
    kind: str  # CREATE or UPDATE
    changes: list[dict[str, Any]] = field(default_factory=list)


def propose(
    cloudformation: Any,
    stack: str,
    template_url: str,
    parameters: dict[str, str],
    sleep: Callable[[float], None],
) -> Proposal | None:
    """A change set of the template against the stack (made if it is not there); None when it
    would change nothing. Parameters not given keep their values (UsePreviousValue)."""
    existing = _stack(cloudformation, stack)
    kind = "UPDATE" if existing and existing["StackStatus"] != "REVIEW_IN_PROGRESS" else "CREATE"
    given = [{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()]
    kept = [
        {"ParameterKey": p["ParameterKey"], "UsePreviousValue": True}
        for p in (existing or {}).get("Parameters", [])
        if p["ParameterKey"] not in parameters and kind == "UPDATE"
    ]
    name = "release-" + datetime.now(UTC).strftime("%Y%m%d-%H%M%S-%f")
    cloudformation.create_change_set(
        StackName=stack,
        ChangeSetName=name,
        ChangeSetType=kind,
        TemplateURL=template_url,
        Parameters=given + kept,
        Capabilities=CAPABILITIES,
        Description=f"make release of {stack}",
    )
    while True:
        described = cloudformation.describe_change_set(StackName=stack, ChangeSetName=name)
        if described["Status"] not in ("CREATE_PENDING", "CREATE_IN_PROGRESS"):
            break
        sleep(2)
    if described["Status"] == "FAILED":
        reason = described.get("StatusReason", "")
        cloudformation.delete_change_set(StackName=stack, ChangeSetName=name)
        if any(text in reason for text in _NO_CHANGES):
            return None
        raise SystemExit(f"CloudFormation refused the change set: {reason}")
    changes = [c["ResourceChange"] for c in described.get("Changes", [])]
    while described.get("NextToken"):
        described = cloudformation.describe_change_set(
            StackName=stack, ChangeSetName=name, NextToken=described["NextToken"]
        )
        changes += [c["ResourceChange"] for c in described.get("Changes", [])]
    if not changes:  # moto makes an empty change set where CloudFormation fails it
        cloudformation.delete_change_set(StackName=stack, ChangeSetName=name)
        return None
    return Proposal(name, kind, changes)


def describe(proposal: Proposal, stage: Stage) -> list[str]:
    """The change set, a line a change, and how traffic will move; refused if it would replace
    what holds data."""
    lines = [f"{proposal.kind} {stack_name(stage.name)}: {len(proposal.changes)} change(s)"]
    lost = []
    for change in proposal.changes:
        replaced = change.get("Replacement") == "True"
        lines.append(
            f"  {change['Action']:<7} {change['LogicalResourceId']} ({change['ResourceType']})"
            + (" REPLACED" if replaced else "")
        )
        if replaced and change["ResourceType"] in STATEFUL:
            lost.append(change["LogicalResourceId"])
    if lost:
        raise SystemExit(
            f"refused: this release would replace {', '.join(lost)}, and with it the data it holds. "
            "Change what forces the replacement (the change set names it) and release again."
        )
    if stage.traffic_shift == "AllAtOnce":
        lines.append("traffic: all at once, to the new version of each function")
    else:
        lines.append(
            f"traffic: the API's new version by {stage.traffic_shift}, rolled back by CodeDeploy if "
            "its own alarms fire (errors, 5xx, p99 latency); the jobs' at once"
        )
    return lines


def live_versions(lambda_: Any, stage: Stage) -> dict[str, str]:
    """Each function's live version (the alias's), for functions that have the alias."""
    from infrastructure.releases import ALIAS

    versions = {}
    for name in stage.app.functions.values():
        function = names.function(stage.name, name)
        try:
            versions[function] = lambda_.get_alias(FunctionName=function, Name=ALIAS)["FunctionVersion"]
        except lambda_.exceptions.ResourceNotFoundException:
            continue
    return versions


def _stack(cloudformation: Any, stack: str) -> dict[str, Any] | None:
    try:
        described: dict[str, Any] = cloudformation.describe_stacks(StackName=stack)["Stacks"][0]
        return described
    except cloudformation.exceptions.ClientError as error:
        if "does not exist" in str(error):
            return None
        raise


def _events_since(cloudformation: Any, stack: str, seen: set[str]) -> list[dict[str, Any]]:
    """The stack's events not yet seen, oldest first."""
    fresh = []
    for page in cloudformation.get_paginator("describe_stack_events").paginate(StackName=stack):
        new = [e for e in page["StackEvents"] if e["EventId"] not in seen]
        fresh += new
        if len(new) < len(page["StackEvents"]):
            break
    seen.update(e["EventId"] for e in fresh)
    return fresh[::-1]


def _shares(lambda_: Any, stage: Stage) -> Iterator[str]:
    """Each alias's traffic split, where CodeDeploy is shifting it."""
    from infrastructure.releases import ALIAS

    for name in stage.app.functions.values():
        function = names.function(stage.name, name)
        try:
            alias = lambda_.get_alias(FunctionName=function, Name=ALIAS)
        except lambda_.exceptions.ResourceNotFoundException:
            continue
        weights = alias.get("RoutingConfig", {}).get("AdditionalVersionWeights", {})
        for version, weight in weights.items():
            yield (
                f"traffic: {function} version {version} takes {weight:.0%}, "
                f"version {alias['FunctionVersion']} keeps {1 - weight:.0%}"
            )


def follow(
    cloudformation: Any,
    lambda_: Any,
    stage: Stage,
    *,
    out: Callable[[str], None],
    sleep: Callable[[float], None],
    seen: set[str],
    wait_seconds: float = WAIT_SECONDS,
) -> bool:
    """Follow the stack until it settles: its events and the traffic shift, printed; True if
    the release completed, False if CloudFormation rolled it back (or it failed)."""
    stack = stack_name(stage.name)
    last_shares: list[str] = []
    failures: list[str] = []
    waited = 0.0
    while True:
        for event in _events_since(cloudformation, stack, seen):
            reason = event.get("ResourceStatusReason", "")
            out(
                f"{event['Timestamp']:%H:%M:%S} {event['LogicalResourceId']} "
                f"{event['ResourceStatus']} {reason}"
            )
            if event["ResourceStatus"].endswith("_FAILED") and reason:
                failures.append(f"{event['LogicalResourceId']}: {reason}")
        shares = list(_shares(lambda_, stage))
        if shares != last_shares:
            for line in shares or ["traffic: every alias on one version"]:
                out(line)
            last_shares = shares
        status = (_stack(cloudformation, stack) or {}).get("StackStatus", "GONE")
        if not status.endswith("IN_PROGRESS"):
            break
        if waited >= wait_seconds:
            out(f"still {status} after {wait_seconds:.0f} s: follow it in the CloudFormation console")
            return False
        sleep(5)
        waited += 5
    if status in _DONE:
        return True
    cause = failures[0] if failures else status
    out(f"ROLLED BACK ({status}): {cause}")
    out(
        "CloudFormation put the stack back as it was: every alias serves the version it served "
        "before this release. Nothing else to do now; find why in the function's logs and the "
        "alarm named above, then release the fix."
    )
    return False


# --- the record of releases, for rollback ------------------------------------------------


def record_name(stage: str) -> str:
    """Not under the runtime settings' path: the functions must not read it as a setting."""
    return f"/{names.APP}/releases/{stage}"


def history(ssm: Any, stage: str) -> list[dict[str, Any]]:
    try:
        value = ssm.get_parameter(Name=record_name(stage))["Parameter"]["Value"]
    except ssm.exceptions.ParameterNotFound:
        return []
    releases: list[dict[str, Any]] = json.loads(value)
    return releases


def _write_history(ssm: Any, stage: str, releases: list[dict[str, Any]]) -> None:
    ssm.put_parameter(
        Name=record_name(stage),
        Value=json.dumps(releases[-HISTORY:], separators=(",", ":")),
        Type="String",
        Overwrite=True,
        Description="make release: the versions each release made live, newest last (make rollback reads it)",
    )


def record(ssm: Any, stage: str, versions: dict[str, str], now: datetime) -> None:
    if not versions:
        return  # no function on an alias: nothing a rollback could move
    releases = history(ssm, stage)
    if releases and releases[-1]["versions"] == versions:
        return  # the same versions (a release that changed no function)
    _write_history(ssm, stage, [*releases, {"at": now.strftime("%Y-%m-%dT%H:%M:%SZ"), "versions": versions}])


def rollback(lambda_: Any, codedeploy: Any, ssm: Any, stage: Stage, out: Callable[[str], None]) -> int:
    """Traffic back on the last good version, at once (see the module's docstring)."""
    from infrastructure.releases import ALIAS

    shifting = list(_shares(lambda_, stage))
    if shifting:
        stopped = _stop_deployments(codedeploy, stage)
        out(
            f"a release is shifting traffic: stopped {', '.join(stopped) or 'its deployment'} with rollback; "
            "CodeDeploy puts all traffic back on the old version now, and CloudFormation rolls the "
            "stack back (make release's output, or the console, shows it end)"
        )
        return 0
    releases = history(ssm, stage.name)
    live = live_versions(lambda_, stage)
    if not live:
        raise SystemExit(f"{stack_name(stage.name)} has no live alias: nothing was released there")
    if not releases or releases[-1]["versions"] != live or len(releases) < 2:
        raise SystemExit(
            "no earlier release to go back to: make release records each one it makes, and the live "
            f"versions {live} are not the newest it recorded after an earlier one"
        )
    previous = releases[-2]["versions"]
    for function, version in sorted(previous.items()):
        if function in live and live[function] != version:
            lambda_.update_alias(FunctionName=function, Name=ALIAS, FunctionVersion=version, RoutingConfig={})
            out(f"{function}: {ALIAS} moved from version {live[function]} back to {version}")
    _write_history(ssm, stage.name, releases[:-1])
    out(
        f"rolled back to the release of {releases[-2]['at']}. The stack still names the newer versions: "
        "release the fix, or the commit before the bad one, to bring it in step"
    )
    return 0


def _stop_deployments(codedeploy: Any, stage: Stage) -> list[str]:
    """Stop the stage's CodeDeploy deployments in flight, with rollback."""
    stopped = []
    for application in codedeploy.list_applications()["applications"]:
        if not application.startswith(f"{stack_name(stage.name)}-"):
            continue  # SAM's application is named STACK-ServerlessDeploymentApplication-...
        for group in codedeploy.list_deployment_groups(applicationName=application)["deploymentGroups"]:
            running = codedeploy.list_deployments(
                applicationName=application,
                deploymentGroupName=group,
                includeOnlyStatuses=["Created", "Queued", "InProgress", "Ready"],
            )["deployments"]
            for deployment in running:
                codedeploy.stop_deployment(deploymentId=deployment, autoRollbackEnabled=True)
                stopped.append(deployment)
    return stopped


def release(
    session: Any,
    stage: Stage,
    package_dir: Path,
    *,
    yes: bool,
    parameters: dict[str, str],
    out: Callable[[str], None] = print,
    ask: Callable[[str], str] = input,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """Steps 1-4 of the module's docstring, from an already built package."""
    account = session.create_client("sts").get_caller_identity()["Account"]
    region = session.get_config_variable("region")
    s3 = session.create_client("s3", region_name=region)
    bucket = artifact_bucket(stage.name, account, region)
    ensure_bucket(s3, bucket, region)
    url = upload(s3, bucket, region, package_dir, stage.name)
    cloudformation = session.create_client("cloudformation", region_name=region)
    lambda_ = session.create_client("lambda", region_name=region)
    stack = stack_name(stage.name)
    seen = (
        {e["EventId"] for e in _events_since(cloudformation, stack, set())}
        if _stack(cloudformation, stack)
        else set()
    )
    proposal = propose(cloudformation, stack, url, parameters, sleep)
    if proposal is None:
        out(f"nothing to release: {stack} already runs this template and code")
        return 0
    for line in describe(proposal, stage):
        out(line)
    if not yes:
        if not sys.stdin.isatty() and ask is input:
            raise SystemExit("not a terminal: run again with YES=1 to execute the change set shown above")
        if ask("execute this change set? [y/N] ").strip().lower() not in ("y", "yes"):
            cloudformation.delete_change_set(StackName=stack, ChangeSetName=proposal.name)
            out("not released; the change set was deleted")
            return 1
    cloudformation.execute_change_set(StackName=stack, ChangeSetName=proposal.name)
    if not follow(cloudformation, lambda_, stage, out=out, sleep=sleep, seen=seen):
        return 1
    ssm = session.create_client("ssm", region_name=region)
    record(ssm, stage.name, live_versions(lambda_, stage), datetime.now(UTC))
    out(
        f"released: {stack} is {'created' if proposal.kind == 'CREATE' else 'updated'}, "
        "all traffic on the new versions"
    )
    out(f"then, if the schema version changed: make migrate STAGE={stage.name} (DRY_RUN=1 first)")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.release")
    parser.add_argument("command", choices=["release", "rollback"])
    parser.add_argument("--stage", required=True)
    parser.add_argument("--api", choices=stages.API_TYPES, help="the API type (default: the stage's api)")
    parser.add_argument("--yes", action="store_true", help="execute the change set without asking")
    parser.add_argument("--parameter", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args(argv)
    if any("=" not in p for p in args.parameter):
        raise SystemExit("a parameter is KEY=VALUE, e.g. ExistingUserPoolArn=arn:aws:cognito-idp:...")
    stage = stages.load(args.stage)
    if args.stage == clients.LOCAL:
        raise SystemExit("the local stage is make run's: there is nothing to release or roll back")
    session = clients.session()
    region = session.get_config_variable("region")
    if args.command == "rollback":
        return rollback(
            session.create_client("lambda", region_name=region),
            session.create_client("codedeploy", region_name=region),
            session.create_client("ssm", region_name=region),
            stage,
            print,
        )
    from infrastructure.package import package

    built = package(args.stage, stages.ROOT / "build" / "release", api=args.api)
    parameters = dict(p.split("=", 1) for p in args.parameter)
    return release(session, stage, built, yes=args.yes, parameters=parameters)


if __name__ == "__main__":
    sys.exit(main())

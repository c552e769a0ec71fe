"""`make deploy STAGE=dev`: the `chalice deploy` route, in three steps.

All at once: the new code takes every request the moment it lands, with no canary and no
automatic rollback; it says so when it runs. A stage that shifts traffic gradually (its
`traffic_shift`), or needs what only the packaged stack has, is released with `make release`
(tools/release.py).

1. bootstrap: the stage's stateful resources, created apart from the code
   (infrastructure/bootstrap.py);
2. configure: their names and ARNs written into the stage's config;
3. `chalice deploy --stage STAGE`: the functions, their roles, the API and the schedule.
Data migrations are a separate step after it: `make migrate STAGE=...`.

It runs with the operator's own AWS credentials and region (the AWS_* variables or a
profile); `--bootstrap-only` stops after step 2, to review the config change first.

Then `configure` writes what was made into the stage's config: the table name and the
pool ARN as environment variables, and the stage's IAM policies (infrastructure/policies.py)
scoped to the table's real ARN, account and region, instead of its name.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from infrastructure import policies, stages
from infrastructure.bootstrap import StatefulResources, bootstrap
from infrastructure.stages import ROOT
from tools import clients


def configure(root: Path, stage: str, made: StatefulResources) -> list[Path]:
    """Write `made` into the stage's config and policy files; the files changed."""
    variables = {
        "TODO_TABLE": made.table_name,
        "TODO_USER_POOL_ARN": made.user_pool_arn,
        "TODO_COGNITO_CLIENT_ID": made.app_client_id,  # the web app signs in with it
    }
    changed = stages.set_environment(stage, variables, root)
    # The roles, made again (infrastructure/policies.py) for the table's account and region.
    return changed + policies.write(stage, table_arn=made.table_arn, root=root)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.deploy")
    parser.add_argument("--stage", required=True, choices=["dev", "prod"])
    parser.add_argument("--bootstrap-only", action="store_true", help="stop before `chalice deploy`")
    parser.add_argument("--api", choices=stages.API_TYPES, help="the API type (default: the stage's api)")
    parser.add_argument("--project-dir", type=Path, default=ROOT, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    stage = stages.load(args.stage, args.project_dir)  # the one read of the stage
    runtime, running = stage.runtime, f"python{sys.version_info[0]}.{sys.version_info[1]}"
    if runtime != running:
        # chalice deploy would give the functions the runtime of the Python it runs on.
        raise SystemExit(f"lambda_runtime is {runtime} but this is {running}: make clean install, then again")
    if stage.snapstart or stage.provisioned_concurrency:
        # chalice deploy publishes no version and wires no alias: the option would not act.
        raise SystemExit(
            f"{args.stage} sets a cold-start option: release it with make release (its stack wires it)"
        )
    if stage.waf:
        # chalice deploy makes no web ACL: the stage would go out unprotected, silently.
        raise SystemExit(f"{args.stage} sets waf: release it with make release (its stack has the web ACL)")
    if stage.traffic_shift != "AllAtOnce":
        # chalice deploy has no alias to shift and no alarms to roll back on.
        raise SystemExit(
            f"{args.stage} shifts traffic gradually ({stage.traffic_shift}): release it with make release"
        )
    if (args.api or stage.api) == "http":
        # Chalice deploys REST APIs only; an HTTP API beside it would be state it does not
        # track (chalice delete would leave it) and a second deployer to keep in step.
        raise SystemExit(
            "chalice deploy makes REST APIs only: release an HTTP API with make release API=http "
            "(its CloudFormation stack has the HTTP API, the JWT authorizer and the routes)"
        )
    print(
        "make deploy is all at once: the new code takes every request the moment it lands, with no "
        f"canary and no automatic rollback (make release STAGE={args.stage} shifts traffic and rolls "
        "back by itself)"
    )
    made = bootstrap(clients.session(), stage)
    print(f"table {made.table_arn}\nuser pool {made.user_pool_arn}\napp client {made.app_client_id}")
    for path in configure(args.project_dir, args.stage, made):
        print(f"updated {path.relative_to(args.project_dir)}: commit it with the deploy")
    if args.bootstrap_only:
        return 0
    chalice = str(Path(sys.executable).parent / "chalice")
    command = [chalice, "deploy", "--stage", args.stage]
    deployed = subprocess.run(command, cwd=args.project_dir, check=False)  # noqa: S603
    if deployed.returncode == 0:
        print(f"commit .chalice/deployed/{args.stage}.json: the next deploy, from any clone, updates from it")
        print(f"then, if the schema version changed: make migrate STAGE={args.stage} (DRY_RUN=1 first)")
    return deployed.returncode


if __name__ == "__main__":
    sys.exit(main())

"""`make package`: `chalice package`, then the zip's Python compiled for the Lambda runtime.

Chalice ships sources only, and Lambda's /var/task is read-only, so every cold start
compiles chalice/app.py (90 KB) and our modules again. We replace each `.py` in the zip
with its `.pyc` (Python's "sourceless" layout: `app.pyc` beside where `app.py` was),
built by the runtime's Python (the packaging Python: Chalice picks the runtime from it,
and the Makefile builds .venv on the configured `lambda_runtime`).
Bytecode only, not bytecode beside sources: Python 3's bytecode is about twice the
size of the source compressed, and both would break the 100 KB budget. Compiled as
`python -OO` would (optimize=2: no docstrings, no asserts; neither Chalice's runtime nor
ours reads a docstring or relies on an assert at run time): 7 KB less than plain bytecode.
Tracebacks keep file names and line numbers; they lose the quoted source line.
"""

from __future__ import annotations

import argparse
import importlib.util
import io
import json
import marshal
import os
import subprocess
import sys
import zipfile
from pathlib import Path

from chalicelib.pages import served
from infrastructure import stages
from infrastructure.stages import ROOT

_ZIP_TIME = (1980, 1, 1, 0, 0, 0)  # as Chalice writes its entries: reproducible zips
# The zip's budget: a tiny bundle, no third-party runtime code (`make bench` reports against it,
# tests/infrastructure/test_package.py holds it). 100 KB until sync (the change feed, undo,
# live updates and the page that keeps in step) was given up to 160 KB, while the cold start
# holds (`make bench`).
BUDGET_BYTES = 160 * 1024


def chalice_package(stage: str, out: Path, merge_template: Path | None = None, root: Path = ROOT) -> None:
    command = [str(Path(sys.executable).parent / "chalice"), "package", "--stage", stage]
    if merge_template is not None:
        command += ["--merge-template", str(merge_template)]
    env = {**os.environ, "AWS_EC2_METADATA_DISABLED": "true"}
    env.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    subprocess.run([*command, str(out)], cwd=root, env=env, check=True, stdout=subprocess.DEVNULL)  # noqa: S603


def runtime_of(template: Path) -> str:
    resources = json.loads(template.read_text())["Resources"]
    runtimes = {
        r["Properties"]["Runtime"] for r in resources.values() if r["Type"] == "AWS::Serverless::Function"
    }
    if len(runtimes) != 1:
        raise SystemExit(f"expected one Lambda runtime, found {sorted(runtimes)}")
    return str(runtimes.pop())


# Sources are compiled in a Python like this one but without column positions (the child's
# docstring says why). Measured: the zip 105.3 KB -> 79.7 KB.
_COMPILER = Path(__file__).with_name("compile_sources.py")


def _compiled(sources: dict[str, bytes]) -> dict[str, bytes]:
    """Each source's code object, marshalled: docstrings and asserts out (optimize=2), and
    no column positions."""
    done = subprocess.run(  # noqa: S603 - this very interpreter, on our own sources
        [sys.executable, "-X", "no_debug_ranges", str(_COMPILER)],
        input=marshal.dumps(sources),
        capture_output=True,
        check=True,
    )
    compiled: dict[str, bytes] = marshal.loads(done.stdout)  # noqa: S302 - our own child's output
    return compiled


def to_bytecode(zip_path: Path, runtime: str) -> None:
    """Replace the zip's sources by bytecode that `runtime` loads: only its own Python's
    (a .pyc of another version is refused by the runtime's import system)."""
    if runtime != f"python{sys.version_info.major}.{sys.version_info.minor}":
        raise SystemExit(f"cannot compile for {runtime} with Python {sys.version.split()[0]}")
    with zipfile.ZipFile(zip_path) as source:
        # Chalice zips chalicelib/ as it finds it: caches a local run wrote there are dead
        # weight beside the sourceless .pyc (and may be another Python's).
        entries = [
            (info, source.read(info)) for info in source.infolist() if "__pycache__/" not in info.filename
        ]
    compiled = _compiled({info.filename: data for info, data in entries if info.filename.endswith(".py")})
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as target:
        for info, data in entries:
            if info.filename.startswith("chalicelib/site/"):  # as the page is served
                data = served(info.filename, data.decode()).encode()
            if not info.filename.endswith(".py"):
                target.writestr(info, data, compress_type=zipfile.ZIP_DEFLATED, compresslevel=9)
                continue
            entry = zipfile.ZipInfo(info.filename + "c", date_time=_ZIP_TIME)
            entry.external_attr = info.external_attr
            # The header py_compile writes: magic, flags (0: timestamp-based), mtime, size.
            # A sourceless .pyc is loaded without checking them.
            header = importlib.util.MAGIC_NUMBER + (0).to_bytes(4, "little") * 3
            target.writestr(
                entry, header + compiled[info.filename], compress_type=zipfile.ZIP_DEFLATED, compresslevel=9
            )
    zip_path.write_bytes(buffer.getvalue())


def package(
    stage: str, out: Path, *, bytecode: bool = True, root: Path = ROOT, api: str | None = None
) -> Path:
    """`chalice package` of the project at `root`, with the production resources merged in
    (infrastructure/template.py) and the contract at the REST API's edge (infrastructure/contract.py);
    with `api` "http" (or the stage's `api`), an HTTP API for the REST API (infrastructure/http_api.py)."""
    from infrastructure.api import at_the_edge
    from infrastructure.http_api import to_http_api
    from infrastructure.policies import exact_arns
    from infrastructure.template import merge_template

    loaded = stages.load(stage, root)  # the one read of the stage, handed to every builder
    api = api or loaded.api

    out.mkdir(parents=True, exist_ok=True)
    resources = out.parent / f"{out.name}-resources.json"
    resources.write_text(json.dumps(merge_template(loaded), indent=2))
    chalice_package(stage, out, resources, root)
    runtime, wanted = runtime_of(out / "sam.json"), loaded.runtime
    if runtime != wanted:
        raise SystemExit(
            f"chalice packaged for {runtime} (the Python it runs on), but lambda_runtime is {wanted}: "
            "build .venv on that Python (make clean install; tools/find-python finds one)"
        )
    template = out / "sam.json"
    packaged = exact_arns(json.loads(template.read_text()))
    if api == "http":
        packaged = to_http_api(packaged, loaded)
    else:  # the REST API validates bodies and serves the contract (the HTTP API can do neither)
        packaged = at_the_edge(packaged, root / "openapi.yaml")
    template.write_text(json.dumps(packaged, indent=2))
    if bytecode:
        to_bytecode(out / "deployment.zip", runtime)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m infrastructure.package")
    parser.add_argument("--stage", default="dev")
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "package")
    parser.add_argument("--no-bytecode", action="store_true", help="the zip exactly as Chalice makes it")
    parser.add_argument("--api", choices=stages.API_TYPES, help="the API type (default: the stage's api)")
    args = parser.parse_args()
    out = package(args.stage, args.out, bytecode=not args.no_bytecode, api=args.api)
    print(f"{out}/sam.json and {out}/deployment.zip ({(out / 'deployment.zip').stat().st_size:,} bytes)")


if __name__ == "__main__":
    main()

"""`make contract`: the breaking-change gate. openapi.yaml against the last released version of
itself, the recorded copy `releases/openapi.yaml` (a file, not a git tag: a clean or shallow
clone has it, and a release is a reviewed commit that records it).

A change breaks a client of the release when it removes a path, an operation, a response
status, a parameter or a field; narrows what a request may hold (a type, an enum, a bound, a
pattern, unknown properties refused); makes an input required that was not; or changes the
type of what a response holds. Such a change fails unless the contract says it is intended:
a new major `info.version`. `make contract RELEASE=1` records openapi.yaml as the release.

No maintained Python library does this comparison (oasdiff, the tool the handler cookbook
runs, is a Go binary; the package index here has no Python port), so these rules are ours,
each shown catching its kind of break in tests/tools/test_contract_gate.py.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from infrastructure import contract
from infrastructure.stages import ROOT

RELEASED = ROOT / "releases" / "openapi.yaml"
METHODS = ("get", "put", "post", "patch", "delete", "head", "options")
_BOUNDS_UP = ("minimum", "minLength", "minItems", "minProperties")  # raising one narrows
_BOUNDS_DOWN = ("maximum", "maxLength", "maxItems", "maxProperties")  # lowering one narrows


def _types(schema: dict[str, Any]) -> set[str]:
    given = schema.get("type")
    types = set(given) if isinstance(given, list) else {given} if given else {"any"}
    return types | ({"null"} if schema.get("nullable") else set())


Compare = Callable[[dict[str, Any], dict[str, Any], str], Iterator[str]]


def _fields(old: dict[str, Any], new: dict[str, Any], where: str, compare: Compare) -> Iterator[str]:
    """Each field (and array item) of `old`: gone from `new`, or compared with its new self."""
    old_properties, new_properties = old.get("properties", {}), new.get("properties", {})
    for name in sorted(old_properties):
        if name not in new_properties:
            yield f"{where}: removed field {name!r}"
        else:
            yield from compare(old_properties[name], new_properties[name], f"{where}.{name}")
    if "items" in old and "items" in new:
        yield from compare(old["items"], new["items"], f"{where}[]")


def _request(old: dict[str, Any], new: dict[str, Any], where: str) -> Iterator[str]:
    """What a client may send that it could send before, no longer accepted."""
    if "any" not in _types(new) and _types(old) - _types(new):
        yield f"{where}: type narrowed from {sorted(_types(old))} to {sorted(_types(new))}"
    if "enum" in new and set(map(str, old.get("enum", [object()]))) - set(map(str, new["enum"])):
        yield f"{where}: enum narrowed"
    for key in _BOUNDS_UP:
        if key in new and new[key] > old.get(key, float("-inf")):
            yield f"{where}: {key} raised to {new[key]}"
    for key in _BOUNDS_DOWN:
        if key in new and new[key] < old.get(key, float("inf")):
            yield f"{where}: {key} lowered to {new[key]}"
    for key in ("pattern", "not", "anyOf"):
        if key in new and new[key] != old.get(key):
            yield f"{where}: {key} added or changed"
    if new.get("additionalProperties") is False and old.get("additionalProperties") is not False:
        yield f"{where}: unknown properties now refused"
    for name in sorted(set(new.get("required", [])) - set(old.get("required", []))):
        yield f"{where}: new required field {name!r}"
    yield from _fields(old, new, where, _request)


def _response(old: dict[str, Any], new: dict[str, Any], where: str) -> Iterator[str]:
    """What a client reads that it could rely on before, gone or changed."""
    if "any" not in _types(old) and _types(new) - _types(old):
        yield f"{where}: type changed from {sorted(_types(old))} to {sorted(_types(new))}"
    for name in sorted(set(old.get("required", [])) - set(new.get("required", []))):
        yield f"{where}: field {name!r} no longer always there"
    yield from _fields(old, new, where, _response)


def _parameters(item: dict[str, Any], operation: dict[str, Any]) -> dict[tuple[str, str], Any]:
    return {(p["in"], p["name"]): p for p in [*item.get("parameters", []), *operation.get("parameters", [])]}


def _operation(old: dict[str, Any], new: dict[str, Any], where: str, items: tuple[Any, Any]) -> Iterator[str]:
    old_parameters, new_parameters = _parameters(items[0], old), _parameters(items[1], new)
    for key, parameter in sorted(old_parameters.items()):
        if key not in new_parameters:
            yield f"{where}: removed {key[0]} parameter {key[1]!r}"
        else:
            yield from _request(
                parameter.get("schema", {}), new_parameters[key].get("schema", {}), f"{where} {key[1]}"
            )
    for key, parameter in sorted(new_parameters.items()):
        if parameter.get("required") and not old_parameters.get(key, {}).get("required"):
            yield f"{where}: {key[0]} parameter {key[1]!r} now required"
    old_body, new_body = old.get("requestBody", {}), new.get("requestBody", {})
    if new_body.get("required") and not old_body.get("required"):
        yield f"{where}: a request body now required"
    for media, content in old_body.get("content", {}).items():
        if media not in new_body.get("content", {}):
            yield f"{where}: no longer takes {media}"
        else:
            yield from _request(content["schema"], new_body["content"][media]["schema"], f"{where} body")
    for status, response in sorted(old.get("responses", {}).items()):
        if status not in new.get("responses", {}):
            yield f"{where}: removed status {status}"
            continue
        changed = new["responses"][status]
        for header in sorted(set(response.get("headers", {})) - set(changed.get("headers", {}))):
            yield f"{where} {status}: removed header {header}"
        for media, content in response.get("content", {}).items():
            if media not in changed.get("content", {}):
                yield f"{where} {status}: no longer answers {media}"
            else:
                yield from _response(
                    content["schema"], changed["content"][media]["schema"], f"{where} {status}"
                )


def breaks(old_document: dict[str, Any], new_document: dict[str, Any]) -> list[str]:
    """Every change from `old_document` to `new_document` that a client of the old would feel."""
    old, new = contract.inlined(old_document, old_document), contract.inlined(new_document, new_document)
    found = []
    for path, item in sorted(old["paths"].items()):
        if path not in new["paths"]:
            found.append(f"removed path {path}")
            continue
        for method in METHODS:
            if method not in item:
                continue
            where = f"{method.upper()} {path}"
            if method not in new["paths"][path]:
                found.append(f"removed operation {where}")
                continue
            found += _operation(item[method], new["paths"][path][method], where, (item, new["paths"][path]))
    return found


def major(document: dict[str, Any]) -> int:
    return int(str(document["info"]["version"]).split(".")[0])


def check(current: Path = contract.CONTRACT, released: Path = RELEASED) -> tuple[list[str], bool]:
    """The breaks from the release to `current`, and whether a new major version intends them."""
    old, new = contract.load(released), contract.load(current)
    return breaks(old, new), major(new) > major(old)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make contract", description=__doc__.splitlines()[0])
    parser.add_argument("--contract", type=Path, default=contract.CONTRACT, help=argparse.SUPPRESS)
    parser.add_argument("--released", type=Path, default=RELEASED, help=argparse.SUPPRESS)
    parser.add_argument("--release", action="store_true", help="record openapi.yaml as the release")
    args = parser.parse_args(argv)
    for path in (args.contract, args.released):
        if not path.is_file():
            raise SystemExit(f"make contract: {path} is missing")
    try:
        found, intended = check(args.contract, args.released)
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise SystemExit(
            f"make contract: {args.contract} is not an OpenAPI document this gate can read ({error})"
        ) from None
    version = contract.load(args.contract)["info"]["version"]
    for line in found:
        print(f"{'intended' if intended else 'BREAKING'}: {line}")
    if found and not intended:
        print(
            f"openapi.yaml {version} breaks clients of the release ({len(found)} change(s) above): "
            "undo them, or make them a new major version",
            file=sys.stderr,
        )
        return 1
    if found:
        print(f"openapi.yaml {version}: a new major version, {len(found)} breaking change(s) intended")
    else:
        print(f"openapi.yaml {version}: no breaking change from the release")
    if args.release:
        shutil.copyfile(args.contract, args.released)
        print(f"recorded {version} as the release: {args.released}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

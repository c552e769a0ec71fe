"""The house's directions, read from the code's own imports (every import, deferred ones
included): `chalicelib` imports nothing of ours outside itself; nothing imports `benchmark`;
`infrastructure` imports neither `tools` nor `benchmark`; the local tools import no
CloudFormation builder; and there is no circle among the modules that ship or build."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.support import ROOT

PACKAGES = ("chalicelib", "infrastructure", "tools", "benchmark")
# The builders of the packaged stack: what `make package` runs, never `make run` or `make load`.
BUILDERS = {
    "infrastructure.template",
    "infrastructure.api",
    "infrastructure.observability",
    "infrastructure.protection",
    "infrastructure.firewall",
    "infrastructure.client_keys",
    "infrastructure.cold_start",
    "infrastructure.dashboard",
    "infrastructure.http_api",
    "infrastructure.package",
    "infrastructure.policies",
}


def modules() -> dict[str, Path]:
    found = {"app": ROOT / "app.py"}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    return found


def imports(path: Path, known: set[str]) -> set[str]:
    """The modules of ours `path` imports, anywhere in it."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        else:
            continue
        found |= {name for name in names if name in known}
    return found


GRAPH = {name: imports(path, set(modules())) - {name} for name, path in modules().items()}


def reaches(start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        for target in GRAPH[todo.pop()]:
            if target not in seen:
                seen.add(target)
                todo.append(target)
    return seen


def test_the_runtime_imports_nothing_of_ours_outside_itself() -> None:
    for name, targets in GRAPH.items():
        if name.startswith("chalicelib"):
            assert all(t.startswith("chalicelib") for t in targets), (name, targets)
    assert all(t.startswith("chalicelib") for t in GRAPH["app"]), GRAPH["app"]


def test_imports_point_one_way() -> None:
    for name, targets in GRAPH.items():
        if not name.startswith("benchmark"):
            assert not any(t.startswith("benchmark") for t in targets), (name, targets)
        if name.startswith("infrastructure"):
            assert not any(t.startswith(("tools", "benchmark")) for t in targets), (name, targets)


def test_make_run_and_make_load_reach_no_stack_builder() -> None:
    for tool in ("tools.local", "tools.load", "tools.limits", "tools.embedded", "tools.sizes"):
        assert not reaches(tool) & BUILDERS, (tool, reaches(tool) & BUILDERS)


def test_no_circle() -> None:
    for name in GRAPH:
        assert name not in reaches(name), f"{name} imports itself through {sorted(reaches(name))}"


def test_every_builder_is_handed_the_stage_and_reads_neither_the_config_nor_the_app() -> None:
    import inspect

    from infrastructure.template import BUILDERS as COMPOSED

    builders = {builder.__module__ for builder in COMPOSED} | {"infrastructure.http_api"}
    for name in builders:
        assert not GRAPH[name] & {"app", "infrastructure.stages"}, (name, GRAPH[name])
    for builder in COMPOSED:  # one way: resources(stage) -> fragment
        (parameter,) = inspect.signature(builder).parameters.values()
        assert parameter.annotation == "Stage", builder
    # Only the inventory imports the app, in infrastructure/ and tools/.
    readers = {n for n, t in GRAPH.items() if n.startswith(("infrastructure", "tools")) and "app" in t}
    assert readers == {"infrastructure.inventory"}


def test_the_stack_names_things_in_one_place() -> None:
    # The app's name is app.py's (read through the inventory): infrastructure/, tools/ and
    # benchmark/ name what they make through infrastructure/names.py, never by a literal.
    literal = '"' + "todo-api"  # (split, so that this line is no such literal)
    for name, path in modules().items():
        if not name.startswith(("infrastructure", "tools", "benchmark")) or "handlers" in name:
            continue
        code = [line for line in path.read_text().splitlines() if not line.lstrip().startswith("#")]
        assert not any(literal in line or 'f"todo-api' in line for line in code), name

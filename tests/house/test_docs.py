"""The docs stay true to the tree: every relative link resolves (the file, and the heading it
points at), every `make` target they name exists, and the README stays a doorway. And the docs
as pages a reader can scan: every page of docs/ has a heading
at least every 40 lines, no paragraph over 15 lines and, when long, a contents line whose links
land on its own headings; every path the docs, the requirements files and the code's comments
name exists. (A figure measured elsewhere is linked, not copied: docs/performance-and-cost.md
points at benchmark/README.md's sections, which the benchmarks write.)"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from tests.support import ROOT

PAGES = sorted((ROOT / "docs").glob("*.md"))
DOCS = [ROOT / "README.md", ROOT / "BENCHMARKS.md", ROOT / "benchmark" / "README.md", *PAGES]
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
CODE = re.compile(r"```.*?```|`[^`\n]+`", re.S)
MAKE = re.compile(r"(?:^|[\s(=$])make(?:\s+-s)?\s+([a-z][a-z-]*)")
TARGETS = set(re.findall(r"^([a-z][a-z-]*):", (ROOT / "Makefile").read_text(), re.M))
HEADING_EVERY = 40
PARAGRAPH_AT_MOST = 15
CONTENTS_FROM = 80  # lines: a page this long opens with a contents line
# A path named as a pattern, or one a tool writes (not in git): not checked.
_PLACEHOLDERS = ("STAGE", "FUNCTION", "*", "<", "{")
_WRITTEN = (".chalice/deployed", ".chalice/policy", "chalicelib/x", "chalicelib/__pycache__", "tests/test.js")
_PATH = re.compile(
    r"(?<![\w/.-])((?:chalicelib|infrastructure|tools|benchmark|tests|docs|\.chalice|\.ci)/[\w./-]*\w)"
)


def _tracked() -> set[str]:
    listed = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True)
    files = set(listed.stdout.split())
    return files | {str(parent) for name in files for parent in Path(name).parents}


def _blocks(text: str) -> list[tuple[int, list[str]]]:
    """The page's prose paragraphs (first line number, lines): not code, tables or headings;
    a list item starts a paragraph of its own."""
    blocks: list[tuple[int, list[str]]] = []
    fenced, current = False, None
    for number, line in enumerate(text.splitlines(), 1):
        if line.startswith("```"):
            fenced, current = not fenced, None
            continue
        prose = not fenced and line.strip() and not line.startswith(("#", "|"))
        if not prose:
            current = None
            continue
        if current is None or re.match(r"\s*(?:[-*+]|\d+\.)\s", line):
            current = (number, [])
            blocks.append(current)
        current[1].append(line)
    return blocks


def _anchor(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation out, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.lstrip("#").strip().lower()).replace(" ", "-")


def page_problems(name: str, text: str) -> list[str]:
    """What keeps a page from being scanned: a long stretch without a heading, a long paragraph,
    a long page without a contents line that lands on its own headings."""
    lines = text.splitlines()
    fenced, inside = set(), False
    for n, line in enumerate(lines, 1):
        inside = inside != line.startswith("```")
        if inside or line.startswith("```"):
            fenced.add(n)
    headings = [n for n, line in enumerate(lines, 1) if line.startswith("#") and n not in fenced]
    problems = []
    gaps = [
        after - before - 1 for before, after in zip([0, *headings], [*headings, len(lines) + 1], strict=True)
    ]
    if max(gaps) > HEADING_EVERY:
        problems.append(f"{name}: {max(gaps)} lines without a heading")
    for first, block in _blocks(text):
        if len(block) > PARAGRAPH_AT_MOST:
            problems.append(f"{name}:{first}: a paragraph of {len(block)} lines")
    if len(lines) >= CONTENTS_FROM:
        contents = next((line for line in lines[:12] if line.startswith("Contents:")), "")
        anchors = {_anchor(lines[n - 1]) for n in headings if lines[n - 1].startswith("##")}
        linked = set(re.findall(r"\]\(#([^)]+)\)", contents))
        if not linked or not linked <= anchors:
            problems.append(f"{name}: {len(lines)} lines and no contents line landing on its headings")
    return problems


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_each_page_has_headings_short_paragraphs_and_contents(page: Path) -> None:
    assert page_problems(page.name, page.read_text()) == []


def test_every_path_named_in_docs_requirements_and_comments_exists() -> None:
    tracked = _tracked()
    named = [*PAGES, ROOT / "README.md", ROOT / "benchmark/README.md", *ROOT.glob("requirements*.txt")]
    named += [ROOT / name for name in tracked if name.endswith((".py", ".js", ".css", ".html", "Makefile"))]
    missing = []
    for path in named:
        if not path.is_file():
            continue
        text = path.read_text(errors="ignore")
        for found in _PATH.finditer(text):
            name = found.group(1).rstrip(".")
            if name in tracked or any(p in name for p in _PLACEHOLDERS) or name.startswith(_WRITTEN):
                continue
            missing.append(f"{path.relative_to(ROOT)}: {name}")
        if path.suffix == ".md":  # relative links
            for link in re.findall(r"\]\((?!https?:|mailto:|#)([^)#\s]+)", text):
                if not (path.parent / link).exists():
                    missing.append(f"{path.relative_to(ROOT)}: link {link}")
    assert missing == []


def test_the_checks_see_the_drift_they_are_for() -> None:
    # 46 lines under one heading, a 16-line paragraph, 90 lines and a contents line that
    # links a section the page does not have: each refused.
    long = "\n".join(f"line {n} of one long paragraph" for n in range(16))
    page = (
        "# One\n\nContents: [Two](#two)\n\n" + long + "\n\n" + "\n\n".join(["a line"] * 35) + "\n## Three\n"
    )
    said = page_problems("page.md", page)
    assert any("lines without a heading" in p for p in said)
    assert any("a paragraph of 16 lines" in p for p in said)
    assert any("no contents line landing on its headings" in p for p in said)
    assert page_problems("ok.md", "# One\n\nA short page.\n") == []
    stale = "tools" + "/bench.py"  # moved to benchmark/ (written apart, so this file names no such path)
    assert _PATH.search(f"see {stale}.")
    assert stale not in _tracked()


def anchors(page: Path) -> set[str]:
    """GitHub's anchors for a page's headings (outside fenced code; a heading's inline code is
    part of its anchor, as GitHub makes it)."""
    text = re.sub(r"```.*?```", "", page.read_text(), flags=re.S)
    return {_anchor(heading) for heading in re.findall(r"^#+ (.+)$", text, re.M)}


@pytest.mark.parametrize("page", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves(page: Path) -> None:
    text = CODE.sub("", page.read_text())
    for target in LINK.findall(text):
        if re.match(r"[a-z]+:", target):
            continue  # the web: not checked offline
        path, _, anchor = target.partition("#")
        destination = (page.parent / path).resolve() if path else page
        assert destination.exists(), f"{page.name}: {target} does not exist"
        if anchor and destination.suffix == ".md":
            assert anchor in anchors(destination), f"{page.name}: {target} names no heading"


@pytest.mark.parametrize("page", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_make_target_named_exists(page: Path) -> None:
    for code in CODE.findall(page.read_text()):
        for target in MAKE.findall(code):
            assert target in TARGETS, f"{page.name}: `make {target}` is not a target"


def test_the_readme_is_a_doorway() -> None:
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= 150
    assert "```mermaid" in readme
    assert "make run" in readme
    assert "make test" in readme
    for page in (ROOT / "docs").glob("*.md"):
        assert f"(docs/{page.name})" in readme, f"the README does not lead to {page.name}"

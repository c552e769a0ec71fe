"""The Makefile is the project's map: `make help` names every target with one line; it
builds on the Lambda runtime's Python, or stops and says how to get one."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import ROOT

pytestmark = pytest.mark.no_moto


def test_make_help_lists_every_target_once() -> None:
    makefile = (ROOT / "Makefile").read_text()
    [phony] = re.findall(r"^\.PHONY: (.*)$", makefile, flags=re.MULTILINE)
    shown = subprocess.run(
        ["make", "-s", "help"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    listed = [line.split()[0] for line in shown.splitlines() if line.strip()]
    assert sorted(listed) == sorted(phony.split())
    assert all(len(line.split(maxsplit=1)) == 2 for line in shown.splitlines() if line.strip())


def test_the_build_finds_the_runtimes_python_or_says_how_to_get_one() -> None:
    running = f"{sys.version_info[0]}.{sys.version_info[1]}"
    found = subprocess.run(
        [ROOT / "tools" / "find-python", running], capture_output=True, text=True, check=True
    )
    version = subprocess.run(
        [found.stdout.strip(), "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert version.stdout.strip() == running
    missing = subprocess.run(
        [ROOT / "tools" / "find-python", "3.99", "It is the runtime."],
        capture_output=True,
        text=True,
        check=False,
    )
    assert missing.returncode == 1
    assert missing.stdout == ""
    assert "No Python 3.99 found. It is the runtime." in missing.stderr
    assert "pyenv install 3.99" in missing.stderr


def test_make_refuses_to_build_for_a_runtime_it_has_no_python_for(tmp_path: Path) -> None:
    # A fresh clone whose lambda_runtime names a Python this machine lacks: make stops
    # before building anything, and says why and how to get one.
    for path in [ROOT / "Makefile", *ROOT.glob("requirements-*")]:
        shutil.copy(path, tmp_path / path.name)
    shutil.copytree(ROOT / "tools", tmp_path / "tools", ignore=shutil.ignore_patterns("__pycache__"))
    (tmp_path / ".chalice").mkdir()
    config = (ROOT / ".chalice" / "config.json").read_text()
    (tmp_path / ".chalice" / "config.json").write_text(config.replace('"python3.13"', '"python3.99"'))
    result = subprocess.run(
        ["make", "-s", "install"], cwd=tmp_path, capture_output=True, text=True, check=False
    )
    assert result.returncode != 0
    assert "No Python 3.99 found. The Lambda runtime" in result.stderr
    assert not (tmp_path / ".venv").exists()


def test_an_unknown_stage_is_a_message_naming_the_known_ones() -> None:
    for target in ("package", "spike", "settings"):
        result = subprocess.run(
            ["make", "-s", target, "STAGE=nowhere"], cwd=ROOT, capture_output=True, text=True, check=False
        )
        assert result.returncode != 0
        assert "no stage 'nowhere' in .chalice/config.json: the stages are dev, local, prod" in result.stderr
        assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("arguments", "said"),
    [
        ([], "usage: make settings STAGE=local|dev|prod [SET=name=value]"),
        (["STAGE=local", "SET=readonly=true"], "no setting 'readonly': the settings are max-todos, "),
        (["STAGE=local", "SET=max-todos=lots"], "max-todos must be a whole number from 1 to 100,000"),
        (["STAGE=local", "SET=read-only"], "write SET=name=value, e.g. SET=read-only=true"),
        # Quotes and dollars are the value's, not the shell's: the settings' own message.
        (["STAGE=local", "SET=read-only=it's"], "SET=read-only=it's: read-only must be true or false"),
        (["STAGE=local", 'SET=read-only="`id`"'], 'SET=read-only="`id`": read-only must be true or false'),
        (
            ["STAGE=local", "BACKEND_PORT=1"],
            "local: could not reach make run's backend (is make run running?)",
        ),
    ],
)
def test_make_settings_refuses_bad_arguments_with_a_message(arguments: list[str], said: str) -> None:
    refused("settings", arguments, said)


def refused(target: str, arguments: list[str], said: str) -> None:
    """`make TARGET ARGUMENTS` fails with `said`, in one line of its own, and no traceback."""
    result = subprocess.run(
        ["make", "-s", target, *arguments], cwd=ROOT, capture_output=True, text=True, check=False, timeout=120
    )
    assert result.returncode != 0
    assert said in result.stderr
    assert "Traceback" not in result.stderr
    # One line, and make's own naming the target ("make:", or "make[1]:" under another make).
    said_lines = [
        line for line in result.stderr.splitlines() if line and not re.match(r"make(\[\d+\])?: ", line)
    ]
    assert len(said_lines) == 1, said_lines


@pytest.mark.parametrize(
    ("arguments", "said"),
    [
        ([], "usage: make restore STAGE=local|dev|prod AT=2026-12-07T22:30:00Z"),
        (["STAGE=local"], "usage: make restore STAGE=local|dev|prod AT="),
        (["STAGE=nowhere", "AT=2026-01-01T00:00:00Z"], "no stage 'nowhere' in .chalice/config.json"),
        (["STAGE=local", "AT=yesterday"], "AT='yesterday' is not a time: give it as ISO 8601"),
        (["STAGE=local", "AT=2026-12-07T22:30:00"], "has no offset: add Z (UTC) or +hh:mm"),
        (["STAGE=local", "AT=2999-01-01T00:00:00Z"], "AT=2999-01-01T00:00:00Z is in the future"),
        (["STAGE=local", "AT=2026-01-01T00:00:00Z;id", "BACKEND_PORT=1"], "is not a time"),
        (
            ["STAGE=local", "AT=2026-01-01T00:00:00Z", "BACKEND_PORT=1"],
            "the restore of todo-api-local failed",
        ),
    ],
)
def test_make_restore_refuses_bad_arguments_with_a_message(arguments: list[str], said: str) -> None:
    refused("restore", arguments, said)

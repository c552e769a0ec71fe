"""The Makefile is the project's map: `make help` names every target with one line."""

from __future__ import annotations

import re
import subprocess

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

"""No secret lives in code or config: the stage settings are names, ARNs and numbers.

The service needs no secret at all (Cognito's public keys verify tokens; the app client
has no secret; Lambda's role supplies AWS credentials). Should one ever be needed, it is
read at run time from SSM Parameter Store or Secrets Manager, never written here.
"""

from __future__ import annotations

import json
import re
import subprocess
from typing import Any

import pytest

from infrastructure.stages import load as load_stage
from infrastructure.template import merge_template
from tests.support import CONFIG, ROOT

# An AWS access key id, a private key block, a JWT, or a literal assigned to a secret name.
SECRET_LIKE = re.compile(
    r"(?:AKIA|ASIA)[A-Z0-9]{16}|-----BEGIN [A-Z ]*PRIVATE KEY-----|eyJ[\w-]{10,}\.eyJ[\w-]{10,}"
    r"""|(?i:secret|password|passwd|api_?key)\w*["']?\s*[:=]\s*["'][^"'\s]{6,}["']"""
)
SETTING = re.compile(
    r"\d+|true|false|INFO|DEBUG|WARNING|ERROR|todo-api-[a-z]+|arn:aws:cognito-idp:[a-z0-9-]+:\d{12}:userpool/[\w-]+"
    r"|http://127\.0\.0\.1:\d+"  # the local stage's emulator, on loopback
    r"|/todo-api/[a-z]+"  # the stage's path in Parameter Store
)
# A Cognito app client id is public (every token names it in `aud`); only its secret,
# which our client has none of, would be one.
CLIENT_ID = re.compile(r"[a-z0-9]{20,32}")


def shipped_and_config_files() -> list[str]:
    listed = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True)
    return [
        name
        for name in listed.stdout.split()
        if name.startswith((".chalice/", "chalicelib/", "tools/")) or name in {"app.py", "Makefile"}
    ]


@pytest.mark.parametrize("name", shipped_and_config_files())
def test_no_file_holds_anything_secret_looking(name: str) -> None:
    text = (ROOT / name).read_text()
    assert SECRET_LIKE.findall(text) == []


@pytest.mark.parametrize("stage", sorted(CONFIG["stages"]))
def test_stage_settings_are_names_arns_and_numbers(stage: str) -> None:
    variables: dict[str, Any] = CONFIG["stages"][stage]["environment_variables"]
    assert variables  # the check below has something to check
    for name, value in variables.items():
        pattern = CLIENT_ID if name == "TODO_COGNITO_CLIENT_ID" else SETTING
        assert pattern.fullmatch(value), f"{stage}: {name}={value!r} is not a plain setting"


def test_the_app_client_has_no_secret() -> None:
    # A browser or CLI client cannot keep one: the page's sign-in needs none.
    client = merge_template(load_stage("dev"))["Resources"]["UserPoolClient"]["Properties"]
    assert client["GenerateSecret"] is False


def test_the_pattern_recognises_what_it_must() -> None:
    fake_key_id = "AKIA" + "ABCDEFGHIJKLMNOP"
    assert SECRET_LIKE.search(json.dumps({"key": fake_key_id}))
    assert SECRET_LIKE.search("-----BEGIN RSA PRIVATE KEY-----")
    assert SECRET_LIKE.search('"ClientSecret": "s3cr3t-value"')
    assert SECRET_LIKE.search("DB_PASSWORD = 'hunter22'")
    assert not SETTING.fullmatch("hunter2-password")

"""The web app's files as the API serves them: public, strict about what a page may run."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Any

from chalicelib import pages
from tests.support import CONFIG, HOST, STAGE

SITE = pages.SITE


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.inline: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self._in_script = tag == "script"

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.inline.append(data)


def test_the_page_runs_only_its_own_files() -> None:
    parsed = _Tags()
    parsed.feed((SITE / "index.html").read_text())
    assert parsed.inline == []  # no inline script: the CSP would refuse it anyway
    for tag, attributes in parsed.tags:
        assert not [name for name in attributes if name.startswith("on")], tag  # no inline handlers
        assert "style" not in attributes, tag
        if tag == "script":
            assert attributes == {"type": "module", "src": "__BASE__/site/app.js"}
    # Its code, without comments (which may name what it never does).
    script = re.sub(r"^\s*//.*$", "", (SITE / "app.js").read_text(), flags=re.MULTILINE)
    # Titles and messages go in as text: nothing the page shows is parsed as markup or code.
    for forbidden in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "Function("):
        assert forbidden not in script, forbidden
    assert "textContent" in script
    # Tokens live in sessionStorage only: never in localStorage or cookies.
    assert "localStorage" not in script
    assert "cookie" not in script
    assert "sessionStorage" in script


def test_the_page_and_its_files_with_their_headers(api: Any) -> None:
    page = api.get("/", headers={"Host": HOST})
    assert page.status_code == 200
    assert page.headers["Content-Type"] == "text/html; charset=utf-8"
    assert 'src="/site/app.js"' in page.body.decode()
    policy = dict(part.split(" ", 1) for part in page.headers["Content-Security-Policy"].split("; "))
    assert policy["default-src"] == "'none'"
    assert policy["script-src"] == "'self'"  # no 'unsafe-inline', no 'unsafe-eval'
    assert policy["style-src"] == "'self'"
    # The API (its own origin) and the stage's Cognito endpoint, nothing else.
    assert policy["connect-src"] == "'self' https://cognito-idp.us-east-1.amazonaws.com"
    assert policy["frame-ancestors"] == "'none'"
    assert policy["require-trusted-types-for"] == "'script'"  # no string reaches a DOM sink
    assert page.headers["X-Frame-Options"] == "DENY"
    assert page.headers["Referrer-Policy"] == "no-referrer"
    assert page.headers["X-Content-Type-Options"] == "nosniff"
    for name, media_type in pages.ASSETS.items():
        got = api.get(f"/site/{name}", headers={"Host": HOST})
        assert (got.status_code, got.headers["Content-Type"]) == (200, media_type)
        assert got.body.decode() == pages.served(name, (SITE / name).read_text())  # its comments out
        assert len(got.body) < len((SITE / name).read_bytes())
    for name in ("index.html", "missing.js", "%2e%2e%2fapp.py", ".."):  # only the listed files
        missing = api.get(f"/site/{name}", headers={"Host": HOST})
        assert (missing.status_code, missing.json_body["Code"]) == (404, "RouteNotFound"), name


def test_the_config_comes_from_the_functions_environment(api: Any) -> None:
    got = api.get("/config.json", headers={"Host": HOST, "X-Forwarded-Proto": "https"})
    assert got.status_code == 200
    variables = CONFIG["stages"][STAGE]["environment_variables"]
    assert got.json_body == {
        "api": f"https://{HOST}",
        "region": "us-east-1",
        "userPoolId": variables["TODO_USER_POOL_ARN"].rsplit("/", 1)[1],
        "clientId": variables.get("TODO_COGNITO_CLIENT_ID", ""),
        "cognitoEndpoint": "https://cognito-idp.us-east-1.amazonaws.com/",
        "signUps": True,
    }
    assert got.headers["Cache-Control"] == "no-cache"


def test_while_sign_ups_are_paused_the_config_says_so(api: Any, setting: Any) -> None:
    headers = {"Host": HOST}
    setting("sign-ups-paused", "true")
    assert api.get("/config.json", headers=headers).json_body["signUps"] is False
    setting("sign-ups-paused", "false")
    assert api.get("/config.json", headers=headers).json_body["signUps"] is True


def test_under_a_stage_prefix_the_page_links_within_it() -> None:
    text = pages.index("/dev")
    loaded = re.findall(r'<(?:link|script)[^>]* (?:src|href)="([^"]+)"', text)
    assert loaded == ["data:,", "/dev/site/app.css", "/dev/site/app.js"]
    assert pages.index('/x"><script>').count("<script") == 1  # a prefix is escaped, never markup


def test_every_sign_in_flow_the_page_uses_is_one_its_app_clients_allow() -> None:
    # Cognito refuses an InitiateAuth whose AuthFlow is not among the app client's
    # ExplicitAuthFlows as ALLOW_<flow> (moto does not): so the page's flows and the
    # clients' allowed flows must be the same set, in both deploy routes and locally.
    import boto3

    from infrastructure.identity import APP_CLIENT_SETTINGS
    from tools import local

    used = {f"ALLOW_{flow}" for flow in re.findall(r'AuthFlow: "(\w+)"', (SITE / "app.js").read_text())}
    assert used == {"ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"}
    # `make package` and `make deploy` build their client from these settings alike.
    assert set(APP_CLIENT_SETTINGS["ExplicitAuthFlows"]) == used
    pool_id, client_id = local.user_pool()  # make run's, on the emulator (moto here)
    described = boto3.client("cognito-idp").describe_user_pool_client(UserPoolId=pool_id, ClientId=client_id)
    # Locally also the administrator's flow that `make token` signs in with.
    assert set(described["UserPoolClient"]["ExplicitAuthFlows"]) == used | {"ALLOW_ADMIN_USER_PASSWORD_AUTH"}

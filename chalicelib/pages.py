"""The web app's files and the headers a page needs: what `/`, `/site/{name}` and
`/config.json` answer. Pure but for reading the files beside this module (once each).

The page is served by the API itself (same origin: the page's calls need no CORS, and both
deploy routes ship it with the function): `chalicelib/site/` holds plain HTML, CSS and a
JavaScript module, with no build step. The page learns where the API and the stage's user
pool are from `/config.json`, which the function answers from its own environment.
"""

from __future__ import annotations

import functools
import html
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from chalicelib.errors import RouteNotFound

SITE = Path(__file__).parent / "site"
# The app's only routes without the Cognito authorizer: they hold no one's data.
PUBLIC_ROUTES = frozenset({"/", "/site/{name}", "/config.json"})
# The files a page may ask for, with their media types: nothing else is read from disk.
ASSETS = {
    "app.js": "text/javascript; charset=utf-8",
    "app.css": "text/css; charset=utf-8",
}
# The page and its config change with each deploy: revalidated each time. Its script and
# style are fetched again at most every five minutes.
PAGE_CACHE = "no-cache"
ASSET_CACHE = "public, max-age=300"


# What a browser needs of a file, without what only its readers need: a script's whole-line
# comments and a style sheet's comments (but one opening `/*!`: the attribution its licence
# asks for). `make package` ships the files so and `make run` serves them so: one page.
_COMMENTS = {
    ".js": re.compile(r"^[ \t]*//.*\n", re.MULTILINE),
    ".css": re.compile(r"/\*(?!!).*?\*/", re.DOTALL),
}


def served(name: str, text: str) -> str:
    """The file `name` as it is served: its comments out (see _COMMENTS)."""
    pattern = _COMMENTS.get(Path(name).suffix)
    return pattern.sub("", text) if pattern else text


@functools.cache
def _read(name: str) -> str:
    return served(name, (SITE / name).read_text(encoding="utf-8"))


def asset(name: str) -> tuple[str, str]:
    """The asset's text and media type; a name not in ASSETS is no route."""
    if name not in ASSETS:
        raise RouteNotFound(RouteNotFound.MESSAGE)
    return _read(name), ASSETS[name]


def index(prefix: str) -> str:
    """The page, its links under the stage's path prefix (e.g. `/dev`, or nothing)."""
    return _read("index.html").replace("__BASE__", html.escape(prefix, quote=True))


def cognito_endpoint(region: str, local_backend: str | None) -> str:
    """Where the page sends Cognito's API calls: the stage's region, or the local emulator."""
    return local_backend or f"https://cognito-idp.{region}.amazonaws.com/"


def page_headers(cognito: str) -> dict[str, str]:
    """What a page needs besides the API's own headers: a strict Content-Security-Policy (its
    own script and style only, no inline code or eval, calls to itself and Cognito only)."""
    parts = urlsplit(cognito)
    cognito_origin = f"{parts.scheme}://{parts.netloc}"
    policy = "; ".join(
        [
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self' data:",  # TodoMVC's checkboxes are data: SVGs
            f"connect-src 'self' {cognito_origin}",
            "form-action 'self'",
            "base-uri 'none'",
            "frame-ancestors 'none'",
            # The page never builds HTML from strings (textContent and elements only), so
            # no DOM sink may take one: an injected string cannot become markup or script.
            "require-trusted-types-for 'script'",
        ]
    )
    return {
        "Content-Security-Policy": policy,
        "X-Frame-Options": "DENY",
        "Referrer-Policy": "no-referrer",
        "Cross-Origin-Opener-Policy": "same-origin",
        "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
    }


def config(
    *, api: str, region: str, user_pool_id: str, client_id: str, cognito: str, sign_ups: bool
) -> dict[str, Any]:
    """What the page is told: where the API and the pool are, and whether it offers sign-up
    (false while an operator pauses sign-ups: the page offers sign-in only)."""
    return {
        "api": api,
        "region": region,
        "userPoolId": user_pool_id,
        "clientId": client_id,
        "cognitoEndpoint": cognito,
        "signUps": sign_ups,
    }

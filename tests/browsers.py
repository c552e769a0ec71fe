"""People in a real headless Chromium (Debian's, driven by Playwright) on `make run`'s page:
what the browser tests share (tests/e2e/conftest.py gives them as fixtures)."""

from __future__ import annotations

import os
import re
import shutil
import time
from typing import Any

from tests.servers import Server

# As this machine's notes say Chromium must start here: without the background-networking
# flags it keeps trying to reach Google's hosts through a closed network.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


PASSWORD = "Corr3ct-horse-battery"


_users = iter(range(10**6))


def chromium() -> str:
    found = os.environ.get("CHROMIUM") or shutil.which("chromium")
    assert found, "Chromium is missing: `make test` installs Debian's chromium package"
    return found


class Person:
    """One person in their own browser context (their own sessionStorage), on the page."""

    def __init__(self, browser: Any, server: Server) -> None:
        self.context = browser.new_context(viewport={"width": 800, "height": 640})
        self.page = self.context.new_page()
        self.server = server
        self.dialogs: list[str] = []
        self.errors: list[str] = []
        self.page.on("dialog", lambda dialog: (self.dialogs.append(dialog.message), dialog.dismiss()))
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))
        self.email = f"person{next(_users)}-{time.monotonic_ns()}@example.com"
        self.url = f"http://127.0.0.1:{server.port}/"

    def open(self) -> None:
        self.page.goto(self.url)
        self.page.wait_for_selector("#signed-out:not([hidden]), #signed-in:not([hidden])")

    def sign_up(self) -> None:
        self.open()
        self.page.fill("#sign-up-email", self.email)
        self.page.fill("#sign-up-password", PASSWORD)
        self.page.click("#sign-up button")
        self.page.wait_for_selector("#confirm:not([hidden])")
        # The embedded pool sends no e-mail and takes any code (docs/web-app.md).
        self.page.fill("#confirm-code", "000000")
        self.page.click("#confirm button[type=submit]")
        self.signed_in()

    def sign_in(self, email: str) -> None:
        """Sign in as someone already signed up (another of their devices)."""
        self.email = email
        self.open()
        self.page.fill("#sign-in-email", email)
        self.page.fill("#sign-in-password", PASSWORD)
        self.page.click("#sign-in button")
        self.signed_in()

    def off_the_feed(self) -> None:
        """Refuse the page's catch-ups with its other devices (GET /todos?since=), as a flaky
        connection would: what it shows changes only by its own hand."""
        self.page.route(re.compile(r".*/todos\?since=.*"), lambda route: route.abort())

    def reconnect(self) -> int:
        """Off the network and back, as a phone leaving a tunnel: the page catches up with its
        other devices at once ("online"). The count of catch-ups before it."""
        before = self.caught_up()
        self.context.set_offline(True)
        self.context.set_offline(False)
        return before

    def catches_up(self) -> None:
        """Reconnect, and wait for the page's own signal that the catch-up is in."""
        self.caught_up(after=self.reconnect())

    def caught_up(self, after: int | None = None) -> int:
        """The page's count of finished catch-ups with its other devices; with `after`, once it
        has gone past it (the page catches up every few seconds while shown)."""
        body = self.page.locator("body")
        for _ in range(600):
            count = int(body.get_attribute("data-caught-up") or 0)
            if after is None or count > after:
                return count
            self.page.wait_for_timeout(50)
        raise AssertionError(f"the page never caught up past {after}")

    def signed_in(self) -> None:
        self.page.wait_for_selector("#signed-in:not([hidden])")
        self.settled()

    def settled(self) -> None:
        """Every request the page made has been answered."""
        # A selector, not a script: the page's CSP refuses the eval a script wait would need.
        # The page marks itself loaded once its first listing is in.
        self.page.locator("body[data-loaded]:not(.is-busy)").wait_for(state="attached")

    def add(self, *titles: str) -> None:
        for title in titles:
            self.page.fill(".new-todo", title)
            self.page.press(".new-todo", "Enter")
        self.settled()

    def hold_creates(self) -> list[Any]:
        """Hold each create (POST /todos) the page sends, in order, until the test continues it."""
        held: list[Any] = []
        self.page.route(
            "**/todos",
            lambda route: held.append(route) if route.request.method == "POST" else route.continue_(),
        )
        return held

    def hold_changes(
        self, methods: tuple[str, ...] = ("PATCH", "DELETE"), path: str = "**/todos/*"
    ) -> list[Any]:
        """Hold each change of one todo (PATCH or DELETE; or `methods` on `path`) the page
        sends, as a slow connection would, until the test lets it go (`let_go`): the page's
        other requests go at once."""
        held: list[Any] = []
        self.held_path = path
        self.page.route(
            path, lambda route: held.append(route) if route.request.method in methods else route.continue_()
        )
        return held

    def let_go(self, held: list[Any], count: int) -> None:
        """Let `count` held requests go, one at a time: each the moment the page has sent it
        (the page sends a todo's next change only once the one before it is answered)."""
        for sent in range(count):
            for _ in range(400):  # the page's own pace: it has not sent the next one yet
                if len(held) > sent:
                    break
                self.page.wait_for_timeout(25)
            held[sent].continue_()
        self.page.unroute(self.held_path)
        self.settled()

    def shows(self, route: str) -> None:
        """Wait for the page's own signal that it shows the filter `route` (a hash route): the
        render that marks its link selected is the one that lists its todos."""
        self.page.locator(f'.filters a.selected[href="{route}"]').wait_for(state="attached")

    def titles(self) -> list[str]:
        return [str(t) for t in self.page.locator(".todo-list li label").all_text_contents()]

    def token(self) -> str:
        return str(self.page.evaluate("JSON.parse(sessionStorage.getItem('todo-api.session')).idToken"))

    def api(
        self, method: str, path: str, body: Any = None, **headers: str
    ) -> tuple[int, dict[str, str], Any]:
        return self.server.request(method, path, self.token(), body, headers)

    def stored(self) -> list[dict[str, Any]]:
        status, _, listed = self.api("GET", "/todos")
        assert status == 200
        return list(listed)

    def notice(self) -> str:
        return str(self.page.text_content("#notice") or "")

    def close(self) -> None:
        assert self.errors == []
        self.context.close()


# What the page has said, every change of the notice recorded (it clears a wait's words once
# the wait is over). Injected by the browser, before the page's own script.
RECORD_NOTICES = """
window.__notices = [];
new MutationObserver(() => {
    const notice = document.querySelector('#notice');
    if (notice && notice.textContent) window.__notices.push(notice.textContent);
}).observe(document, {subtree: true, childList: true, characterData: true});
"""

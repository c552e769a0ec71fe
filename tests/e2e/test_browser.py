"""The web app in a real headless Chromium (Debian's, driven by Playwright), against `make
run` on free loopback ports: sign-up, sign-in and every TodoMVC behaviour, as a person uses it."""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.servers import Server

pytestmark = pytest.mark.server

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


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium(), args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


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
        self.page.click("#confirm button")
        self.signed_in()

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


@pytest.fixture
def person(browser: Any, server: Server) -> Iterator[Callable[[], Person]]:
    people: list[Person] = []

    def make() -> Person:
        people.append(Person(browser, server))
        return people[-1]

    yield make
    for someone in people:
        someone.close()


def test_sign_up_and_every_todomvc_behaviour(person: Callable[[], Person]) -> None:
    ann = person()
    ann.sign_up()
    page = ann.page
    assert page.evaluate("document.activeElement.className") == "new-todo"  # focus once signed in
    assert page.is_hidden(".main")  # nothing yet: no list, no footer
    assert page.is_hidden(".footer")
    ann.add("  buy milk  ", "   ", "walk the dog")
    assert page.input_value(".new-todo") == ""  # Enter cleared it
    assert ann.titles() == ["buy milk", "walk the dog"]  # trimmed, the empty one ignored, in order
    assert page.text_content(".todo-count") == "2 items left"
    page.check(".todo-list li:nth-child(1) .toggle")
    ann.settled()
    assert page.text_content(".todo-count") == "1 item left"
    assert "completed" in (page.get_attribute(".todo-list li:nth-child(1)", "class") or "")
    # Filters follow the URL hash.
    page.click('.filters a[href="#/active"]')
    assert ann.titles() == ["walk the dog"]
    assert page.url.endswith("#/active")
    page.click('.filters a[href="#/completed"]')
    assert ann.titles() == ["buy milk"]
    page.click('.filters a[href="#/"]')
    # Edit: double-click, Enter saves; Escape cancels; blur saves; empty deletes.
    page.dblclick(".todo-list li:nth-child(2) label")
    page.fill(".todo-list li.editing .edit", "  walk the cat ")
    page.press(".todo-list li.editing .edit", "Enter")
    ann.settled()
    page.dblclick(".todo-list li:nth-child(2) label")
    page.fill(".todo-list li.editing .edit", "never saved")
    page.press(".todo-list li.editing .edit", "Escape")
    assert ann.titles() == ["buy milk", "walk the cat"]
    ann.add("third")
    page.dblclick(".todo-list li:nth-child(3) label")
    page.fill(".todo-list li.editing .edit", "third, renamed")
    page.click(".todoapp h1")  # blur
    ann.settled()
    assert ann.titles() == ["buy milk", "walk the cat", "third, renamed"]
    page.dblclick(".todo-list li:nth-child(3) label")
    page.fill(".todo-list li.editing .edit", "   ")
    page.press(".todo-list li.editing .edit", "Enter")
    ann.settled()
    assert ann.titles() == ["buy milk", "walk the cat"]
    # Toggle all, both ways; then delete one; clear completed.
    page.check("#toggle-all")
    ann.settled()
    assert [t["completed"] for t in ann.stored()] == [True, True]
    page.uncheck("#toggle-all")
    ann.settled()
    assert [t["completed"] for t in ann.stored()] == [False, False]
    ann.add("to delete")
    page.hover(".todo-list li:nth-child(3)")
    page.click(".todo-list li:nth-child(3) .destroy")
    ann.settled()
    page.check(".todo-list li:nth-child(1) .toggle")
    ann.settled()
    assert page.is_visible(".clear-completed")
    page.click(".clear-completed")
    ann.settled()
    assert ann.titles() == ["walk the cat"]
    assert [t["title"] for t in ann.stored()] == ["walk the cat"]  # saved, not just shown
    # A reload keeps the person signed in, and everything is still there: it lives in the API.
    page.reload()
    ann.signed_in()
    assert ann.titles() == ["walk the cat"]
    # Signing out forgets the tokens: a reload shows the sign-in screen.
    page.click("#sign-out")
    assert page.is_visible("#sign-in")
    page.reload()
    page.wait_for_selector("#signed-out:not([hidden])")
    assert page.evaluate("sessionStorage.length") == 0
    assert page.evaluate("localStorage.length") == 0
    assert ann.context.cookies() == []  # tokens never live in cookies


def test_pages_of_todos_are_followed_to_the_last(person: Callable[[], Person]) -> None:
    ann = person()
    ann.sign_up()
    for n in range(105):  # more than one page of 100
        assert ann.api("POST", "/todos", {"title": f"t{n:03d}"})[0] == 201
    ann.page.reload()
    ann.signed_in()
    assert ann.titles() == [f"t{n:03d}" for n in range(105)]


def test_two_people_never_see_each_others_todos(person: Callable[[], Person]) -> None:
    ann, bob = person(), person()
    ann.sign_up()
    bob.sign_up()
    ann.add("ann's")
    bob.add("bob's")
    ann.page.reload()
    bob.page.reload()
    ann.signed_in()
    bob.signed_in()
    assert ann.titles() == ["ann's"]
    assert bob.titles() == ["bob's"]


HOSTILE = [
    "<script>alert('script')</script>",
    "<img src=x onerror=\"alert('img')\">",
    "javascript:alert('url')",
    "\u202eevil.exe\u202c and right-to-left",
    "zero\u200bwidth\u200djoined",
]


def test_hostile_titles_are_inert_text(person: Callable[[], Person]) -> None:
    ann = person()
    ann.sign_up()
    for title in HOSTILE:
        assert ann.api("POST", "/todos", {"title": title})[0] == 201
    ann.page.reload()
    ann.signed_in()
    assert ann.titles() == HOSTILE
    assert ann.page.locator(".todo-list img, .todo-list script, .todo-list a").count() == 0
    ann.page.dblclick(".todo-list li:nth-child(2) label")  # the edit field holds it as text too
    assert ann.page.input_value(".todo-list li.editing .edit") == HOSTILE[1]
    ann.page.press(".todo-list li.editing .edit", "Escape")
    assert ann.dialogs == []


def test_a_concurrent_edit_is_a_412_shown_to_the_person(person: Callable[[], Person]) -> None:
    ann = person()
    ann.sign_up()
    ann.add("shared")
    [todo] = ann.stored()
    # Another of ann's devices renames it after this page read it.
    status, _, _ = ann.api("PATCH", f"/todos/{todo['id']}", {"title": "renamed elsewhere"})
    assert status == 200
    ann.page.click(".todo-list li:nth-child(1) .toggle")
    ann.page.locator("#notice:not(:empty)").wait_for(state="attached")
    ann.settled()
    assert "changed elsewhere" in ann.notice()
    assert ann.titles() == ["renamed elsewhere"]  # the latest version, not overwritten
    assert ann.page.is_checked(".todo-list li:nth-child(1) .toggle") is False
    assert ann.stored()[0]["completed"] is False
    # The same after a reload, where the page holds the listing (which carries no ETags):
    # it finds the todo changed since it listed it, and sends nothing.
    ann.page.reload()
    ann.signed_in()
    assert ann.api("PATCH", f"/todos/{todo['id']}", {"title": "renamed again"})[0] == 200
    ann.page.click(".todo-list li:nth-child(1) .toggle")
    ann.page.locator("#notice:not(:empty)").wait_for(state="attached")
    ann.settled()
    assert "changed elsewhere" in ann.notice()
    assert ann.titles() == ["renamed again"]
    assert ann.stored()[0]["completed"] is False


def test_an_expired_id_token_is_renewed_with_the_refresh_token(person: Callable[[], Person]) -> None:
    ann = person()
    ann.sign_up()
    # The ID token expired (the page thinks it is still good): the API answers 401, the page
    # renews it with the refresh token and sends the change again.
    ann.page.evaluate(
        """() => {
            const s = JSON.parse(sessionStorage.getItem('todo-api.session'));
            s.idToken = s.idToken.split('.').slice(0, 2).join('.') + '.forged';
            sessionStorage.setItem('todo-api.session', JSON.stringify(s));
        }"""
    )
    ann.add("after renewal")
    assert ann.notice() == ""
    assert [t["title"] for t in ann.stored()] == ["after renewal"]
    # Past its expiry time, the page renews before it sends anything.
    ann.page.evaluate(
        """() => {
            const s = JSON.parse(sessionStorage.getItem('todo-api.session'));
            s.expiresAt = 0;
            sessionStorage.setItem('todo-api.session', JSON.stringify(s));
        }"""
    )
    ann.add("renewed first")
    assert len(ann.stored()) == 2
    # With the refresh token gone too, the person is asked to sign in again.
    ann.page.evaluate(
        "sessionStorage.setItem('todo-api.session', JSON.stringify({idToken: 'x.y.z', expiresAt: 0}))"
    )
    ann.page.fill(".new-todo", "lost")
    ann.page.press(".new-todo", "Enter")
    ann.page.wait_for_selector("#signed-out:not([hidden])")
    assert "sign in again" in ann.notice()


def test_failures_are_said_and_rolled_back_and_slow_saves_never_block(person: Callable[[], Person]) -> None:
    ann = person()
    ann.sign_up()
    ann.add("kept")
    page = ann.page
    # The network fails: the new todo goes away again, and the page says why.
    page.route(
        "**/todos", lambda route: route.abort() if route.request.method == "POST" else route.continue_()
    )
    ann.add("never saved")
    assert ann.titles() == ["kept"]
    assert "cannot be reached" in ann.notice()
    page.unroute("**/todos")
    # The create lands, but its answer is lost on the way back: the page tries again with the
    # same Idempotency-Key, and the API answers with the todo it made: one todo, not two.
    lost: list[str] = []

    def lose_the_first_answer(route: Any) -> None:
        if route.request.method == "POST" and not lost:
            lost.append(route.request.headers["idempotency-key"])
            route.fetch()  # it reaches the API, which creates the todo
            route.abort()  # and the page never hears back
        else:
            route.continue_()

    page.route("**/todos", lose_the_first_answer)
    ann.add("sent twice")
    page.unroute("**/todos")
    assert ann.titles() == ["kept", "sent twice"]
    assert [t["title"] for t in ann.stored()] == ["kept", "sent twice"]
    assert ann.notice() == ""
    assert len(lost) == 1
    page.hover(".todo-list li:nth-child(2)")
    page.click(".todo-list li:nth-child(2) .destroy")
    ann.settled()
    # The data store is unavailable (503): the change is rolled back and said.
    unavailable = json.dumps({"Code": "ServiceUnavailable", "Message": "retry later"})
    page.route(
        "**/todos/*",
        lambda route: route.fulfill(status=503, content_type="application/json", body=unavailable),
    )
    page.click(".todo-list li:nth-child(1) .toggle")
    ann.settled()
    assert page.is_checked(".todo-list li:nth-child(1) .toggle") is False
    assert "busy" in ann.notice()
    page.unroute("**/todos/*")
    # A slow save: the page says it is saving, shows the change at once, and stays usable.
    # (A held request is answered later from here: a handler that waited would stop Playwright.)
    held: list[Any] = []
    page.route(
        "**/todos", lambda route: held.append(route) if route.request.method == "POST" else route.continue_()
    )
    page.fill(".new-todo", "slow one")
    page.press(".new-todo", "Enter")
    assert ann.titles() == ["kept", "slow one"]
    assert page.text_content("#busy") == "Saving…"
    assert page.get_attribute("#busy", "role") == "status"  # announced to screen readers
    page.fill(".new-todo", "typed meanwhile")
    assert page.input_value(".new-todo") == "typed meanwhile"
    assert [t["title"] for t in ann.stored()] == ["kept"]  # still in flight
    [request] = held
    request.continue_()
    ann.settled()
    page.unroute("**/todos")
    assert [t["title"] for t in ann.stored()] == ["kept", "slow one"]


def test_no_accessibility_violations_signed_out_and_signed_in(
    person: Callable[[], Person], tmp_path: Path
) -> None:
    from axe_playwright_python.sync_playwright import Axe

    axe = Axe()
    ann = person()
    ann.email = "ann@example.com"  # docs/web-app.md's picture shows it (the only test to use it)
    ann.open()
    signed_out = axe.run(ann.page)
    assert signed_out.violations_count == 0, signed_out.generate_report()
    ann.sign_up()
    ann.add("buy milk", "walk the dog", "write the README")
    ann.page.check(".todo-list li:nth-child(1) .toggle")
    ann.settled()
    signed_in = axe.run(ann.page)
    assert signed_in.violations_count == 0, signed_in.generate_report()
    # Keyboard alone: Tab reaches the list's controls, and focus is visible on them.
    ann.page.focus(".new-todo")
    ann.page.keyboard.press("Tab")
    focused = ann.page.evaluate("document.activeElement.className")
    assert focused in {"toggle", "toggle-all"}
    outline = ann.page.evaluate("getComputedStyle(document.activeElement).boxShadow")
    assert outline != "none"
    # docs/web-app.md's screenshot comes from here (`make screenshot` writes it to docs/).
    shot = Path(os.environ.get("TODO_SCREENSHOT", tmp_path / "web-app.png"))
    ann.page.screenshot(path=str(shot))
    assert shot.stat().st_size > 0


def test_typing_in_an_edit_survives_another_save_finishing(person: Callable[[], Person]) -> None:
    ann = person()
    ann.sign_up()
    ann.add("first", "second")
    page = ann.page
    held: list[Any] = []
    page.route(
        "**/todos/*",
        lambda route: (
            held.append(route) if route.request.method == "PATCH" and not held else route.continue_()
        ),
    )
    page.click(".todo-list li:nth-child(1) .toggle")  # its save is held
    page.dblclick(".todo-list li:nth-child(2) label")
    page.fill(".todo-list li.editing .edit", "second, being edited")
    page.locator("#busy:not(:empty)").wait_for(state="attached")
    [toggle] = held
    toggle.continue_()
    page.locator("#busy:empty").wait_for(state="attached")  # the held save finished
    assert page.input_value(".todo-list li.editing .edit") == "second, being edited"
    page.press(".todo-list li.editing .edit", "Enter")
    ann.settled()
    page.unroute("**/todos/*")
    assert [(t["title"], t["completed"]) for t in ann.stored()] == [
        ("first", True),
        ("second, being edited", False),
    ]


# What the page has said, every change of the notice recorded (it clears a wait's words once
# the wait is over). Injected by the browser, before the page's own script.
RECORD_NOTICES = """
window.__notices = [];
new MutationObserver(() => {
    const notice = document.querySelector('#notice');
    if (notice && notice.textContent) window.__notices.push(notice.textContent);
}).observe(document, {subtree: true, childList: true, characterData: true});
"""


def test_a_busy_api_is_retried_after_jittered_waits_with_later_changes_queued_in_order(
    person: Callable[[], Person],
) -> None:
    people = [person() for _ in range(3)]
    attempts: dict[int, list[float]] = {n: [] for n in range(3)}

    def busy_twice(n: int) -> Callable[[Any], None]:
        def handle(route: Any) -> None:
            if route.request.method != "POST":
                route.continue_()
                return
            attempts[n].append(time.monotonic())
            if len(attempts[n]) <= 2:  # the stage's throttle, twice, with no Retry-After floor
                route.fulfill(status=429, content_type="application/json",
                              body='{"Code": "TooManyRequests", "Message": "too many requests"}')  # fmt: skip
            else:
                route.continue_()

        return handle

    for n, someone in enumerate(people):
        someone.sign_up()
        someone.page.add_init_script(RECORD_NOTICES)
        someone.page.reload()
        someone.signed_in()
        someone.page.route("**/todos", busy_twice(n))
    # All three at the same moment, as a crowd meets a throttle; each adds a second todo
    # while the first is still waiting.
    for someone in people:
        someone.page.fill(".new-todo", "first")
        someone.page.press(".new-todo", "Enter")
    for someone in people:
        someone.page.fill(".new-todo", "second")
        someone.page.press(".new-todo", "Enter")
        assert someone.titles() == ["first", "second"]  # shown at once, while queued
    for someone in people:
        someone.settled()
    waits = []
    for n, someone in enumerate(people):
        assert [t["title"] for t in someone.stored()] == ["first", "second"]  # once each, in order
        assert len(attempts[n]) == 4  # "first" three times (two refusals), "second" once
        waits.append(attempts[n][1] - attempts[n][0])
        said = someone.page.evaluate("window.__notices")
        stated = [int(m) for m in re.findall(r"The server is busy: trying again in (\d+) s", " ".join(said))]
        assert stated, said
        assert max(stated) <= 2  # full jitter under 1 s, then under 2 s: bounded waits
        assert someone.notice() == ""  # the wait is over: nothing left to say
    # Not in lockstep: the three pages came back at different moments.
    assert max(waits) - min(waits) > 0.01, waits


def test_sign_ups_past_cognitos_rate_are_said_and_recover_by_themselves(browser: Any) -> None:
    from tests.servers import start_server, stop_server

    running = start_server("SCALE=10")  # UserCreation: 5 a second; 5 e-mails a day
    people = [Person(browser, running) for _ in range(3)]
    refused: list[int] = []
    try:
        for n, someone in enumerate(people):
            someone.page.add_init_script(RECORD_NOTICES)
            someone.page.on(
                "response",
                lambda response, n=n: (
                    refused.append(n)
                    if response.status == 400
                    and "TooManyRequests" in (response.header_value("x-amzn-errortype") or "")
                    else None
                ),
            )
            someone.open()
            someone.page.fill("#sign-up-email", someone.email)
            someone.page.fill("#sign-up-password", PASSWORD)
        # Another crowd has just spent this second's sign-ups (confirmations count too), and
        # three people press "sign up" in the same moment.
        nobody = {"ClientId": running.issuer_and_client[1], "Username": "no@x.test", "ConfirmationCode": "1"}
        for someone in people:
            for _ in range(6):  # ConfirmSignUps of no one: they count against UserCreation
                running.cognito("ConfirmSignUp", nobody)
            someone.page.click("#sign-up button")
        for someone in people:
            someone.page.wait_for_selector("#confirm:not([hidden])", timeout=60_000)
            assert someone.page.input_value("#sign-up-email") == someone.email  # what was typed is kept
            someone.page.fill("#confirm-code", "000000")
            someone.page.click("#confirm button")
        for someone in people:
            someone.page.wait_for_selector("#signed-in:not([hidden])", timeout=60_000)
            someone.settled()
        assert refused, "Cognito's rate was never reached: the test proves nothing"
        for n in set(refused):
            said = people[n].page.evaluate("window.__notices")
            assert any("Many people are signing up right now: trying again in" in words for words in said), (
                said
            )
    finally:
        for someone in people:
            someone.close()
        stop_server(running)


def test_while_sign_ups_are_paused_the_page_offers_sign_in_only(person: Callable[[], Person]) -> None:
    import subprocess

    from tests.support import ROOT

    existing = person()
    existing.sign_up()
    existing.page.click("#sign-out")
    server = existing.server

    def pause(value: str) -> None:
        subprocess.run(
            ["make", "-s", "settings", "STAGE=local", f"BACKEND_PORT={server.backend_port}",
             f"SET=sign-ups-paused={value}"],
            cwd=ROOT, env=server.env, capture_output=True, text=True, timeout=120, check=True,
        )  # fmt: skip
        for _ in range(60):  # the local stage reads its settings every 5 s
            if server.request("GET", "/config.json")[2]["signUps"] == (value == "false"):
                return
            time.sleep(0.25)
        raise AssertionError(f"sign-ups-paused={value} never reached the page's config")

    pause("true")
    try:
        newcomer = person()
        newcomer.open()
        assert newcomer.page.is_visible("#sign-ups-paused")
        assert "Sign-ups are paused" in str(newcomer.page.text_content("#sign-ups-paused"))
        assert not newcomer.page.is_visible("#sign-up")
        # Sign-in keeps working for people who have an account.
        existing.open()
        existing.page.fill("#sign-in-email", existing.email)
        existing.page.fill("#sign-in-password", PASSWORD)
        existing.page.click("#sign-in button")
        existing.signed_in()
    finally:
        pause("false")
    again = person()
    again.open()
    assert again.page.is_visible("#sign-up")
    assert not again.page.is_visible("#sign-ups-paused")


def test_a_todos_item_is_made_once_and_survives_saves_and_reloads(person: Callable[[], Person]) -> None:
    """Keyed rendering: the <li> the page shows at the moment of the action is the one that
    stays, through the save's answer and a background reload; so does focus within it. (TodoMVC's
    own suite keeps references to the items; so do screen readers and a person's selection.)"""
    ann = person()
    ann.sign_up()
    page = ann.page
    held: list[Any] = []
    page.route(
        "**/todos", lambda route: held.append(route) if route.request.method == "POST" else route.continue_()
    )
    page.fill(".new-todo", "kept")
    page.press(".new-todo", "Enter")
    item = page.query_selector(".todo-list li")  # shown at once, before the save answers
    assert item is not None
    temporary = item.get_attribute("data-id")
    item.query_selector(".toggle").focus()
    page.locator("#busy:not(:empty)").wait_for(state="attached")
    [create] = held
    create.continue_()
    page.unroute("**/todos")
    ann.settled()
    assert item.evaluate("li => li.isConnected") is True
    assert item.get_attribute("data-id") != temporary  # the API's id, on the same element
    assert page.evaluate("document.activeElement.className") == "toggle"
    assert item.evaluate("li => li.contains(document.activeElement)") is True
    # A background reload (here, after a refused clear) leaves the same element in place.
    ann.add("done")
    page.click(".todo-list li:nth-child(2) .toggle")
    ann.settled()
    failure = '{"Code": "InternalServerError", "Message": "an internal error occurred"}'
    page.route(
        "**/todos?completed=true",
        lambda route: route.fulfill(status=500, content_type="application/json", body=failure),
    )
    page.click(".clear-completed")
    page.locator("#notice:not(:empty)").wait_for(state="attached")  # the refusal, said; then the reload
    ann.settled()
    assert page.locator(".todo-list li").count() == 2
    page.unroute("**/todos?completed=true")
    assert item.evaluate("li => li.isConnected") is True
    assert page.evaluate("(li) => document.querySelector('.todo-list li') === li", item) is True
    assert ann.titles() == ["kept", "done"]


def test_what_todomvcs_own_suite_expects_beyond_the_spec(person: Callable[[], Person]) -> None:
    """The expectations TodoMVC's selenium suite holds a page to (docs/web-app.md says how to
    run that suite itself), each checked here in our own words."""
    ann = person()
    ann.sign_up()
    page = ann.page
    # Enter pressed again and again until the field is empty makes one todo, not several.
    page.fill(".new-todo", "once")
    for _ in range(4):
        page.press(".new-todo", "Enter")
    ann.settled()
    assert ann.titles() == ["once"]
    assert [t["title"] for t in ann.stored()] == ["once"]
    # A new todo is the last item; the counter says exactly "1 item left"; nothing completed,
    # no "Clear completed".
    ann.add("twice")
    assert page.text_content(".todo-list li:last-child label") == "twice"
    page.check(".todo-list li:nth-child(1) .toggle")
    ann.settled()
    assert page.text_content(".todo-count") == "1 item left"
    page.uncheck(".todo-list li:nth-child(1) .toggle")
    ann.settled()
    assert page.is_hidden(".clear-completed")
    # The toggle-all checkbox itself takes the click (not only its label): a click on the
    # element, wherever the style sheet puts its 1 px box.
    page.dispatch_event("input.toggle-all", "click")
    ann.settled()
    assert [t["completed"] for t in ann.stored()] == [True, True]
    page.dispatch_event("input.toggle-all", "click")
    ann.settled()
    assert [t["completed"] for t in ann.stored()] == [False, False]
    # Filters are hash routes, each a history entry: Back returns to the one before.
    page.click('.filters a[href="#/active"]')
    page.click('.filters a[href="#/completed"]')
    page.go_back()
    assert page.url.endswith("#/active")
    assert page.get_attribute('.filters a[href="#/active"]', "class") == "selected"
    page.click('.filters a[href="#/"]')
    # What the page showed is saved: away to about:blank at once, and straight back.
    page.check(".todo-list li:nth-child(2) .toggle")
    page.goto("about:blank")
    page.go_back()
    ann.signed_in()
    assert ann.titles() == ["once", "twice"]
    assert page.is_checked(".todo-list li:nth-child(2) .toggle")
    assert not page.is_checked(".todo-list li:nth-child(1) .toggle")

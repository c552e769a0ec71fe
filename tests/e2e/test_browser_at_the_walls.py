"""The web app at the walls, in a real headless Chromium against `make run`: failures said
and rolled back, a busy API retried after jittered waits, Cognito's sign-up rate met, and
sign-ups paused by the runtime setting."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from typing import Any

import pytest

from tests.browsers import PASSWORD, RECORD_NOTICES, Person

pytestmark = pytest.mark.server


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
            someone.page.click("#confirm button[type=submit]")
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


def test_a_code_that_never_arrived_can_be_sent_again(person: Callable[[], Person]) -> None:
    """SES refuses a code after SignUp has made the user (the order the embedded pool
    rehearses, tests/e2e/test_rehearsal.py): the page does not sign up again (that meets
    UsernameExistsException) but sends the code again; and a person who signed up and never
    confirmed is led from sign-in to the confirmation, with "Send the code again" at hand."""
    lost = person()
    server = lost.server

    def refuse_delivery(route: Any) -> None:
        if route.request.method == "POST" and route.request.headers.get("x-amz-target", "").endswith(
            ".SignUp"
        ):
            route.fetch()  # the pool makes the user; then the code cannot be sent
            refusal = {"__type": "CodeDeliveryFailureException", "message": "Unable to deliver the code."}
            route.fulfill(
                status=400,
                headers={"Content-Type": "application/x-amz-json-1.1", "Access-Control-Allow-Origin": "*",
                         "x-amzn-ErrorType": "CodeDeliveryFailureException"},
                body=json.dumps(refusal),
            )  # fmt: skip
        else:
            route.continue_()

    lost.page.route(f"http://127.0.0.1:{server.backend_port}/**", refuse_delivery)
    lost.open()
    sent: list[str] = []
    lost.page.on(
        "request", lambda request: sent.append(request.headers.get("x-amz-target", "").rpartition(".")[2])
    )
    lost.page.fill("#sign-up-email", lost.email)
    lost.page.fill("#sign-up-password", PASSWORD)
    lost.page.click("#sign-up button")
    lost.page.wait_for_selector(f'#confirm-hint:has-text("We sent a new code to {lost.email}")')
    assert sent.count("SignUp") == 1  # not signed up again
    assert "ResendConfirmationCode" in sent
    lost.page.fill("#confirm-code", "000000")
    lost.page.click("#confirm button[type=submit]")
    lost.signed_in()

    # Signed up elsewhere (or the tab closed before the code came), never confirmed.
    later = person()
    client_id = server.issuer_and_client[1]
    body = {"ClientId": client_id, "Username": later.email, "Password": PASSWORD,
            "UserAttributes": [{"Name": "email", "Value": later.email}]}  # fmt: skip
    assert server.cognito("SignUp", body)[0] == 200
    later.open()
    later.page.fill("#sign-in-email", later.email)
    later.page.fill("#sign-in-password", PASSWORD)
    later.page.click("#sign-in button")
    later.page.wait_for_selector("#confirm:not([hidden])")
    assert "Confirm your e-mail first" in str(later.page.text_content("#confirm-hint"))
    later.page.click("#resend")
    later.page.wait_for_selector(f'#confirm-hint:has-text("We sent a new code to {later.email}")')
    later.page.fill("#confirm-code", "000000")
    later.page.click("#confirm button[type=submit]")
    later.signed_in()
    assert later.errors == []
    assert lost.errors == []

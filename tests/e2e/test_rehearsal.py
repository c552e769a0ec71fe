"""`make run` enforces the deployed stage's walls (tools/limits.py): the stage's throttle,
Cognito's category rates and its default sender's daily cap, each answered as the deployed
service answers; shrunk by SCALE so that a test reaches them in a second, off with LIMITS=off."""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from typing import Any

import pytest

from chalicelib.errors import RETRY_AFTER_SECONDS
from infrastructure import capacity
from tests.servers import Server, emulator_client, start_server, stop_server

pytestmark = [pytest.mark.server, pytest.mark.no_moto]
SCALE = 100  # the stage's 1,250/s burst 2,500 -> 12.5/s burst 25; UserCreation 50/s -> 0.5/s


@pytest.fixture(scope="module")
def scaled() -> Any:
    running = start_server(f"SCALE={SCALE}")
    try:
        yield running
    finally:
        stop_server(running)


def burst(
    server: Server, token: str | list[str], bodies: list[tuple[str, str]]
) -> list[tuple[int, dict[str, str], Any]]:
    """All at once, each on its own connection (with `token`, or the tokens in turn):
    (status, headers, body) in order."""
    answers: list[Any] = [None] * len(bodies)
    ready = threading.Barrier(len(bodies))
    tokens = [token] if isinstance(token, str) else token

    def send(n: int, title: str, key: str) -> None:
        ready.wait()
        sent = tokens[n % len(tokens)]
        answers[n] = server.request("POST", "/todos", sent, {"title": title}, {"Idempotency-Key": key})

    threads = [threading.Thread(target=send, args=(n, *body)) for n, body in enumerate(bodies)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return answers


def test_a_burst_past_the_stages_burst_gets_429s_and_nothing_is_lost_or_doubled(scaled: Server) -> None:
    token = scaled.token("burst-bea")
    time.sleep(3)  # the bucket refills after the sign-in's requests
    bodies = [(f"burst {n}", str(uuid.uuid4())) for n in range(100)]
    started = time.monotonic()
    answers = burst(scaled, token, bodies)
    took = time.monotonic() - started
    statuses = Counter(status for status, _, _ in answers)
    throttle = capacity.stage_throttle(**capacity.DEFAULT_TARGET)
    assert set(statuses) == {201, 429}, statuses  # never a 5xx
    # A token bucket admits its burst and what refills while the burst arrives, no more.
    assert statuses[201] <= throttle.burst / SCALE + throttle.rate / SCALE * took + 1, (statuses, took)
    for status, headers, body in answers:
        if status == 429:
            assert body == {"Code": "TooManyRequests", "Message": "too many requests: retry after a pause"}
            assert headers["Retry-After"] == str(RETRY_AFTER_SECONDS)
            assert headers["Access-Control-Allow-Origin"] == "*"
    # Each refused create is sent again with its key, as a client that honours Retry-After:
    # every todo exists once, none twice.
    refused = [body for body, (status, _, _) in zip(bodies, answers, strict=True) if status == 429]
    while refused:
        time.sleep(RETRY_AFTER_SECONDS)
        again = [
            scaled.request("POST", "/todos", token, {"title": t}, {"Idempotency-Key": k}) for t, k in refused
        ]
        refused = [body for body, (status, _, _) in zip(refused, again, strict=True) if status == 429]
    time.sleep(2)
    status, _, listed = scaled.request("GET", "/todos", token)
    assert status == 200
    assert sorted(t["title"] for t in listed) == sorted(title for title, _ in bodies)


def sign_up(client_id: str, email: str) -> dict[str, Any]:
    return {
        "ClientId": client_id,
        "Username": email,
        "Password": "Corr3ct-horse-battery",
        "UserAttributes": [{"Name": "email", "Value": email}],
    }


def test_sign_ups_past_the_rate_and_the_days_e_mails_are_refused_as_cognito_refuses_them() -> None:
    # SCALE=10: UserCreation 5 a second, 5 e-mails a day.
    running = start_server("SCALE=10")
    try:
        client_id = running.issuer_and_client[1]
        time.sleep(2)
        answers = []
        for n in range(12):  # at once, as fast as one client sends
            answers.append(running.cognito("SignUp", sign_up(client_id, f"rush{n}@example.com")))
        kinds = Counter(body.get("__type", "ok") for _, body in answers)
        assert kinds["TooManyRequestsException"] > 0, kinds
        assert all(status in (200, 400) for status, _ in answers)
        signed_up = kinds["ok"]
        # Past the day's e-mails (5 here, 50 unscaled): LimitExceededException, in Cognito's words.
        n = 100
        while signed_up < 5:
            time.sleep(1)
            status, body = running.cognito("SignUp", sign_up(client_id, f"more{n}@example.com"))
            signed_up += status == 200
            n += 1
        time.sleep(1)
        status, body = running.cognito("SignUp", sign_up(client_id, "one-too-many@example.com"))
        assert status == 400
        assert body["__type"] == "LimitExceededException"
        assert body["message"].startswith("Exceeded daily email limit")
    finally:
        output = stop_server(running)
    assert "limits: the stage's throttle (125/s, burst 250" in output


def test_the_days_e_mails_are_exact_under_concurrent_sign_ups() -> None:
    """80 people sign up at once against the default sender's 50 a day: each sign-up reserves
    its e-mail before it runs, so exactly 50 are accepted (a count checked before and added
    after let 59-62 through). Refusals of Cognito's rate are retried, as the page retries."""
    running = start_server()
    try:
        client_id = running.issuer_and_client[1]
        start = threading.Barrier(80)
        answers: list[str] = []

        def person(n: int) -> None:
            start.wait()
            while True:
                _status, body = running.cognito("SignUp", sign_up(client_id, f"crowd{n}@example.com"))
                kind = body.get("__type", "ok")
                if kind != "TooManyRequestsException":
                    answers.append(kind)
                    return
                time.sleep(0.2)

        threads = [threading.Thread(target=person, args=(n,)) for n in range(80)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        assert Counter(answers) == {"ok": 50, "LimitExceededException": 30}
        pool_id = running.issuer_and_client[0].rsplit("/", 1)[1]
        users = emulator_client("cognito-idp", running.backend_port).list_users(UserPoolId=pool_id, Limit=60)
        crowd = [u for u in users["Users"] if u["Username"].startswith("crowd")]
        assert len(crowd) == 50  # nobody refused was made
    finally:
        stop_server(running)


def patient(running: Server, operation: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """A Cognito call tried again, as the page tries it, while the service is busy."""
    for _ in range(200):
        status, answer = running.cognito(operation, body)
        if answer.get("__type") not in ("TooManyRequestsException", "CodeDeliveryFailureException"):
            return status, answer
        time.sleep(0.25)
    raise AssertionError(f"{operation} stayed busy")


def test_a_code_ses_refuses_leaves_the_user_made_and_resend_delivers_it() -> None:
    """Rehearsing prod's sender (SES) at SCALE=14: a sending rate of 1 a second. A SignUp whose
    code SES refuses has made the user already (the order AWS documents for AdminCreateUser):
    signing up again meets UsernameExistsException, signing in UserNotConfirmedException, and
    ResendConfirmationCode sends the code, after which the person confirms and signs in."""
    running = start_server("LIKE=prod", "SCALE=14")
    try:
        client_id = running.issuer_and_client[1]
        refused = None
        for n in range(40):  # sign-ups in quick pairs until SES's rate refuses one
            for m in range(2):
                status, body = running.cognito("SignUp", sign_up(client_id, f"pair{n}-{m}@example.com"))
                if body.get("__type") == "CodeDeliveryFailureException":
                    refused = f"pair{n}-{m}@example.com"
                    break
            if refused:
                break
        assert refused, "SES's rate never refused a code: the test proves nothing"
        again = patient(running, "SignUp", sign_up(client_id, refused))[1]
        assert again["__type"] == "UsernameExistsException"
        password = sign_up(client_id, refused)["Password"]
        auth = {"ClientId": client_id, "AuthFlow": "USER_PASSWORD_AUTH",
                "AuthParameters": {"USERNAME": refused, "PASSWORD": password}}  # fmt: skip
        assert patient(running, "InitiateAuth", auth)[1]["__type"] == "UserNotConfirmedException"
        resend = {"ClientId": client_id, "Username": refused}
        status, sent = patient(running, "ResendConfirmationCode", resend)
        assert status == 200, sent
        assert sent["CodeDeliveryDetails"] == {
            "Destination": "p***@example.com", "DeliveryMedium": "EMAIL", "AttributeName": "email"
        }  # fmt: skip
        confirm = {"ClientId": client_id, "Username": refused, "ConfirmationCode": "123456"}
        assert patient(running, "ConfirmSignUp", confirm)[0] == 200
        assert patient(running, "InitiateAuth", auth)[1]["AuthenticationResult"]["IdToken"]
        # Once confirmed, there is nothing to send: Cognito's answer.
        assert patient(running, "ResendConfirmationCode", resend) == (
            400, {"__type": "InvalidParameterException", "message": "User is already confirmed."}
        )  # fmt: skip
        nobody = patient(running, "ResendConfirmationCode", {"ClientId": client_id, "Username": "no@x.test"})
        assert nobody[1]["__type"] == "UserNotFoundException"
    finally:
        stop_server(running)


def test_limits_off_serves_the_same_burst_whole() -> None:
    # A crowd: twelve people, five creates each, all at once. (One person's changes are
    # ordered one after another, docs/api.md: dozens of one person's at the same instant are a
    # wall of their own, ServiceUnavailable to retry, not the gateway's limits this is about.)
    running = start_server("LIMITS=off", "SCALE=100")
    try:
        tokens = [running.token(f"burst-off-{n}") for n in range(12)]
        answers = burst(running, tokens, [(f"free {n}", str(uuid.uuid4())) for n in range(60)])
        assert Counter(status for status, _, _ in answers) == {201: 60}
    finally:
        output = stop_server(running)
    assert "limits: off" in output


def test_bad_limits_and_scales_are_a_message() -> None:
    import subprocess

    from tests.servers import ROOT, make_env

    for argument, words in (
        ("LIMITS=maybe", "LIMITS must be on or off"),
        ("SCALE=zero", "SCALE must be a number"),
    ):
        result = subprocess.run(
            ["make", "-s", "run", argument, "PORT=1"], cwd=ROOT, env=make_env(),
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert result.returncode != 0
        assert words in result.stderr
        assert "Traceback" not in result.stderr

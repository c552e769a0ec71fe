"""`make run` and `make token` over real HTTP: the server as a new user starts it.

One server per module (it takes seconds to start); each test uses its own users, and
the module's fixture stops the server. The shutdown test starts and stops its own.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import time
from typing import Any

import pytest
from moto.utilities.utils import load_resource

from infrastructure.api import gateway_responses
from tests.servers import Server, aws_env, emulator_client, moto_server, start_server, stop_server
from tests.support import SPEC
from tests.tokens import RsaKey, hs256, id_claims, rs256, unsigned

# One worker takes the module, so that one `make run` serves all of it.
pytestmark = [pytest.mark.server, pytest.mark.no_moto]

POOL_KEY = RsaKey.from_jwk(load_resource("cognitoidp/resources/jwks-private.json"))


def test_full_crud_for_two_users(server: Server) -> None:
    alice, bob = server.make_token("crud-alice"), server.token("crud-bob")  # as the README types it
    status, headers, todo = server.request("POST", "/todos", alice, {"title": "buy milk", "order": 1})
    assert status == 201
    assert headers["Location"] == todo["url"] == f"http://127.0.0.1:{server.port}/todos/{todo['id']}"
    path = f"/todos/{todo['id']}"
    assert server.request("GET", path, alice)[2] == todo
    status, _, updated = server.request("PATCH", path, alice, {"completed": True})
    assert (status, updated["completed"]) == (200, True)
    assert server.request("POST", "/todos", bob, {"task": "bob's"})[0] == 201
    assert [t["id"] for t in server.request("GET", "/todos", alice)[2]] == [todo["id"]]
    assert [t["title"] for t in server.request("GET", "/todos", bob)[2]] == ["bob's"]
    # cross-user: bob cannot see, change or delete alice's todo
    for method, body in (("GET", None), ("PATCH", {"title": "mine"}), ("DELETE", None)):
        status, _, error = server.request(method, path, bob, body)
        assert (status, error["Code"]) == (404, "TodoNotFound")
    assert server.request("GET", path, alice)[2] == updated
    assert server.request("DELETE", path, alice)[0] == 204
    assert server.request("GET", path, alice)[0] == 404
    assert server.request("DELETE", "/todos", bob)[0] == 204
    assert server.request("GET", "/todos", bob)[2] == []


def test_pagination_over_http(server: Server) -> None:
    carol = server.token("page-carol")
    for n in range(5):
        server.request("POST", "/todos", carol, {"title": f"t{n}"})
    seen, path = [], "/todos?limit=2"
    while path:
        status, headers, page = server.request("GET", path, carol)
        assert status == 200
        seen += [t["title"] for t in page]
        link = headers.get("Link")
        path = link.split(f"127.0.0.1:{server.port}", 1)[1].split(">", 1)[0] if link else ""
    assert seen == [f"t{n}" for n in range(5)]


def test_cors_preflight_from_another_origin(server: Server) -> None:
    status, headers, _ = server.request(
        "OPTIONS",
        "/todos",
        headers={
            "Origin": "https://app.example.org",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type",
        },
    )
    assert status == 200
    assert headers["Access-Control-Allow-Origin"] == "*"
    assert "POST" in headers["Access-Control-Allow-Methods"]
    assert "authorization" in headers["Access-Control-Allow-Headers"].lower()


def bad_tokens(server: Server) -> list[Any]:
    issuer, client = server.issuer_and_client
    now = time.time()
    good = id_claims(issuer, client, now)
    real = server.token("catalogue-dave")
    head, body, sig = real.split(".")
    flipped = sig[:-2] + ("A" if sig[-2] != "A" else "B") + sig[-1]
    attacker = RsaKey.generate("dummy")
    public_jwk = json.dumps(POOL_KEY.public_jwk()).encode()
    catalogue = {
        "missing": None,
        "empty": "",
        "garbage": "garbage",
        "bearer-nothing": "Bearer ",
        "bearer-garbage": "Bearer x.y",
        "no-dots-binary": "\x7f" * 20,
        "alg-none": unsigned(good),
        "alg-None": unsigned(good, alg="None"),
        "alg-NONE": unsigned(good, alg="NONE"),
        "alg-nOnE-signed": unsigned(good, alg="nOnE", signature=sig),
        "hs256-with-public-key": hs256(public_jwk, good),
        "hs256-with-modulus": hs256(POOL_KEY.n.to_bytes(256, "big"), good),
        "bad-signature": f"{head}.{body}.{flipped}",
        "other-key-same-kid": rs256(attacker, good),
        "embedded-jwk": rs256(attacker, good, jwk=attacker.public_jwk()),
        "jku": rs256(attacker, good, jku=f"http://127.0.0.1:{server.backend_port}/x/.well-known/jwks.json"),
        "x5u": rs256(attacker, good, x5u="http://127.0.0.1:1/cert.pem"),
        "expired": rs256(POOL_KEY, {**good, "exp": int(now) - 120}),
        "not-yet-valid": rs256(POOL_KEY, {**good, "nbf": int(now) + 3600}),
        "wrong-issuer": rs256(POOL_KEY, {**good, "iss": issuer + "-other"}),
        "wrong-audience": rs256(POOL_KEY, {**good, "aud": "another-client"}),
        "wrong-token-use": rs256(POOL_KEY, {**good, "token_use": "access"}),
        "oversize": rs256(POOL_KEY, {**good, "pad": "x" * 20_000}),
        "oversize-past-the-header-limit": rs256(POOL_KEY, {**good, "pad": "x" * 100_000}),
        "real-access-token": server.access_token("catalogue-gina"),
    }
    return list(catalogue.items())


def test_bad_tokens_are_401_and_change_nothing(server: Server) -> None:
    owner = server.token("catalogue-erin")
    _, _, todo = server.request("POST", "/todos", owner, {"title": "keep"})
    for name, token in bad_tokens(server):
        for method, path, body in (
            ("GET", "/todos", None),
            ("POST", "/todos", {"title": "intruder"}),
            ("PATCH", f"/todos/{todo['id']}", {"title": "changed"}),
            ("DELETE", "/todos", None),
        ):
            status, headers, error = server.request(method, path, token, body)
            assert status == 401, (name, method, status, error)
            assert error == {"Code": "Unauthenticated", "Message": "a valid Cognito ID token is required"}, (
                name
            )
            assert headers.get("Access-Control-Allow-Origin") == "*", name
    assert server.request("GET", "/todos", owner)[2] == [todo]


def test_the_servers_own_answers_carry_the_security_headers_too(server: Server) -> None:
    token = server.token("headers-hal")
    for method, path, sent in (
        ("GET", "/todos", token),  # the app's answer
        ("GET", "/todos", "not.a-token"),  # the guard's 401
        ("GET", "/nowhere", token),  # no such route: the guard's 404
        ("TRACE", "/todos", token),  # a method http.server has no handler for: 405
    ):
        status, headers, _ = server.request(method, path, sent)
        assert headers.get("Cache-Control") == "no-store", (method, path, status)
        assert headers.get("X-Content-Type-Options") == "nosniff", (method, path, status)
        assert "Strict-Transport-Security" not in headers  # plain HTTP: a browser would ignore it


def test_shutdown_leaves_no_process() -> None:
    for sig in (signal.SIGTERM, signal.SIGINT):
        running = start_server()
        assert running.request("GET", "/todos")[0] == 401
        output = stop_server(running, sig)
        assert running.process.returncode is not None
        with pytest.raises(ProcessLookupError):
            os.killpg(running.process.pid, 0)  # nothing left in its process group
        for port in (running.port, running.backend_port):
            with socket.socket() as sock:
                assert sock.connect_ex(("127.0.0.1", port)) != 0
        assert "stopped" in output
        assert "kept in memory only" in output
        assert "will be authorized" not in output  # Chalice's gateway warning: not true here


@pytest.mark.parametrize("variant", ["LIKE=prod", "SCALE=10"])
def test_a_sigterm_to_make_alone_stops_every_variant_of_make_run(variant: str) -> None:
    # As a process manager or `kill` stops it: the signal goes to make, not to its group.
    # (A recipe that runs through /bin/sh once left the server listening, orphaned.)
    running = start_server(variant)
    assert running.request("GET", "/todos")[0] == 401
    running.process.send_signal(signal.SIGTERM)
    running.process.wait(timeout=30)
    for _ in range(300):  # the server's own grace is 3 s (tools/local.py); polled, not timed
        with contextlib.suppress(ProcessLookupError):
            os.killpg(running.process.pid, 0)
            time.sleep(0.1)
            continue
        break
    with pytest.raises(ProcessLookupError):
        os.killpg(running.process.pid, 0)  # nothing left in its process group
    for port in (running.port, running.backend_port):
        with socket.socket() as sock:
            assert sock.connect_ex(("127.0.0.1", port)) != 0
    assert "stopped" in stop_server(running)


def test_the_backend_can_be_replaced_by_configuration() -> None:
    # Another AWS endpoint (here a separate moto server, as DynamoDB Local or LocalStack
    # would be) instead of the embedded one: the table and pool are made there.
    with moto_server() as port:
        running = start_server(
            "BACKEND=external", backend_port=port, **aws_env(port, "eu-west-1", "external")
        )
        try:
            token = running.token("ext-user")
            assert running.request("POST", "/todos", token, {"title": "stored elsewhere"})[0] == 201
            assert running.issuer_and_client[0].startswith("https://cognito-idp.eu-west-1.amazonaws.com/")
        finally:
            output = stop_server(running)
        assert "your AWS configuration" in output
        dynamodb = emulator_client("dynamodb", port, "eu-west-1", "external")
        items = dynamodb.scan(TableName="todo-api-local")["Items"]
        assert [item["title"]["S"] for item in items if "title" in item] == ["stored elsewhere"]


def test_a_path_with_no_route_answers_as_the_deployed_gateway_does(server: Server) -> None:
    token = server.token("route-ivy")
    for path in ("/nope", "/todos/x/y"):
        status, headers, error = server.request("GET", path, token)
        assert (status, error) == (404, {"Code": "RouteNotFound", "Message": "no such route"})
        assert headers["Access-Control-Allow-Origin"] == "*"
    rendered = json.loads(
        gateway_responses()["MISSING_AUTHENTICATION_TOKEN"]["ResponseTemplates"]["application/json"]
    )
    assert rendered == {"Code": "RouteNotFound", "Message": "no such route"}


def test_a_method_the_server_cannot_parse_is_a_405_with_the_routes_allow(server: Server) -> None:
    token = server.token("trace-jo")
    for path, allow in (
        ("/todos", "GET, POST, DELETE"),
        ("/todos/01ARYZ6S41TSV4RRFFQ69G5FAV", "GET, PATCH, DELETE"),
    ):
        status, headers, error = server.request("TRACE", path, token)
        assert (status, error["Code"], headers["Allow"]) == (405, "MethodNotAllowed", allow)
        # the same Allow as the app's own 405 for a method the path does not serve
        assert server.request("PUT", path, token, {"title": "x"})[1]["Allow"] == allow


def test_the_contract_is_served_as_the_deployed_gateway_serves_it(server: Server) -> None:
    """`GET /openapi.json`, public: openapi.yaml with this server's URL, as the stage's mock
    integration answers it (tests/infrastructure/test_served_contract.py renders that one)."""
    status, headers, served = server.request("GET", "/openapi.json")
    assert status == 200
    assert served["servers"] == [{"url": f"http://127.0.0.1:{server.port}", "description": "this deployment"}]
    assert {key: value for key, value in served.items() if key != "servers"} == {
        key: value for key, value in SPEC.items() if key != "servers"
    }
    assert headers["Cache-Control"] == "public, max-age=300"
    assert headers["Access-Control-Allow-Origin"] == "*"
    assert headers["Content-Type"] == "application/json"

"""The local stage's token verifier: every rule has a token that breaks only that rule."""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from chalicelib import auth
from chalicelib.auth import TokenVerifier, rsa_sha256_verify
from chalicelib.errors import ServiceUnavailable, Unauthenticated
from tests.tokens import RsaKey, b64url, hs256, id_claims, rs256, unsigned

ISSUER = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_TEST"
CLIENT = "client-123"
NOW = 1_800_000_000.0
KEY = RsaKey.generate("key-1")
OTHER = RsaKey.generate("key-1")  # an attacker's key under the same kid


class Jwks:
    """A JWKS endpoint double that counts its fetches."""

    def __init__(self, *keys: RsaKey) -> None:
        self.keys = list(keys)
        self.fetches = 0
        self.fail = False

    def __call__(self) -> dict[str, Any]:
        self.fetches += 1
        if self.fail:
            raise OSError("connection refused")
        return {"keys": [k.public_jwk() for k in self.keys]}


class Clock:
    def __init__(self) -> None:
        self.wall = NOW
        self.mono = 1000.0


@pytest.fixture
def jwks() -> Jwks:
    return Jwks(KEY)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def verifier(jwks: Jwks, clock: Clock) -> TokenVerifier:
    return TokenVerifier(
        issuer=ISSUER,
        client_id=CLIENT,
        fetch_jwks=jwks,
        clock=lambda: clock.wall,
        monotonic=lambda: clock.mono,
    )


def claims(**overrides: Any) -> dict[str, Any]:
    return id_claims(ISSUER, CLIENT, NOW, **overrides)


def test_a_valid_id_token_yields_its_claims(verifier: TokenVerifier) -> None:
    token = rs256(KEY, claims())
    assert verifier.verify(token) == claims()
    assert verifier.verify(f"Bearer {token}")["sub"] == claims()["sub"]


def refused(verifier: TokenVerifier, token: str | None) -> None:
    with pytest.raises(Unauthenticated):
        verifier.verify(token)


VALID = rs256(KEY, claims())
HEAD, BODY, SIG = VALID.split(".")


def _dashed() -> str:
    """A valid token whose signature has a '-' (KEY is made afresh each run, and about one
    signature in 200 has none): its twin with '+' differs in alphabet only."""
    for n in range(100):
        token = rs256(KEY, claims(jti=f"n{n}"))
        if "-" in token.split(".")[2]:
            return token
    raise AssertionError("no signature with a '-' in 100")


DASHED = _dashed()


@pytest.mark.parametrize(
    "token",
    [
        pytest.param(None, id="missing"),
        pytest.param("", id="empty"),
        pytest.param("garbage", id="garbage"),
        pytest.param("Bearer ", id="bearer-nothing"),
        pytest.param("a.b", id="two-segments"),
        pytest.param(f"{VALID}.x", id="four-segments"),
        pytest.param(f"{HEAD}.{BODY}.", id="empty-signature"),
        pytest.param(f"{HEAD}.{BODY}.{SIG[:-4]}", id="short-signature"),
        pytest.param(
            f"{HEAD}.{BODY}.{SIG[:-2]}{'A' if SIG[-2] != 'A' else 'B'}{SIG[-1]}", id="bad-signature"
        ),
        pytest.param(
            f"{HEAD}.{b64url(json.dumps(claims(sub='mallory')).encode())}.{SIG}", id="swapped-payload"
        ),
        pytest.param(f"{HEAD}.{BODY}.{SIG}==", id="padded-signature"),
        pytest.param(f"{HEAD}.{BODY}.{SIG.replace('-', '+')}", id="non-url-base64"),
        pytest.param(rs256(OTHER, claims()), id="other-key-same-kid"),
        pytest.param(rs256(RsaKey.generate("key-2"), claims()), id="unknown-kid"),
        pytest.param(rs256(OTHER, claims(), jwk=OTHER.public_jwk()), id="embedded-jwk"),
        pytest.param(rs256(KEY, claims(), jwk=KEY.public_jwk()), id="embedded-jwk-even-if-right"),
        pytest.param(rs256(OTHER, claims(), jku="http://127.0.0.1:1/jwks.json"), id="jku"),
        pytest.param(rs256(OTHER, claims(), x5u="http://127.0.0.1:1/cert.pem"), id="x5u"),
        pytest.param(rs256(KEY, claims(), crit=["exp"]), id="crit"),
        pytest.param(rs256(KEY, claims(), alg="RS512"), id="alg-rs512-label"),
        pytest.param(rs256(KEY, claims(), kid=7), id="kid-not-a-string"),
        pytest.param(rs256(KEY, claims(exp=int(NOW) - 60)), id="expired"),
        pytest.param(rs256(KEY, claims(exp=None)), id="no-exp"),
        pytest.param(rs256(KEY, claims(exp="9999999999")), id="exp-a-string"),
        pytest.param(rs256(KEY, claims(exp=True)), id="exp-a-boolean"),
        pytest.param(rs256(KEY, claims(nbf=int(NOW) + 600)), id="not-yet-valid-nbf"),
        pytest.param(rs256(KEY, claims(iat=int(NOW) + 600)), id="issued-in-the-future"),
        pytest.param(rs256(KEY, claims(iss=ISSUER + "x")), id="wrong-issuer"),
        pytest.param(rs256(KEY, claims(iss=None)), id="no-issuer"),
        pytest.param(rs256(KEY, claims(aud="another-client")), id="wrong-audience"),
        pytest.param(rs256(KEY, claims(aud=[CLIENT])), id="audience-list"),
        pytest.param(rs256(KEY, claims(aud=None, client_id=CLIENT, token_use="access")), id="access-token"),
        pytest.param(rs256(KEY, claims(token_use="access")), id="wrong-token-use"),
        pytest.param(rs256(KEY, claims(sub="")), id="empty-sub"),
        pytest.param(rs256(KEY, claims(sub=None)), id="no-sub"),
        pytest.param(rs256(KEY, claims(padding="x" * 9000)), id="oversize"),
        pytest.param(unsigned(claims()), id="alg-none"),
        pytest.param(unsigned(claims(), alg="None"), id="alg-None"),
        pytest.param(unsigned(claims(), alg="NONE"), id="alg-NONE"),
        pytest.param(unsigned(claims(), alg="nOnE", signature=SIG), id="alg-nOnE-with-signature"),
        pytest.param(unsigned(claims(), alg="RS256", signature=""), id="rs256-unsigned"),
        pytest.param(
            hs256(json.dumps(KEY.public_jwk()).encode(), claims(), kid="key-1"), id="hs256-public-jwk"
        ),
        pytest.param(hs256(KEY.n.to_bytes(256, "big"), claims(), kid="key-1"), id="hs256-modulus"),
    ],
)
def test_bad_tokens_are_refused(verifier: TokenVerifier, token: str | None) -> None:
    refused(verifier, token)


def test_clock_skew_is_small(verifier: TokenVerifier, clock: Clock) -> None:
    token = rs256(KEY, claims(exp=int(NOW) + 10))
    clock.wall = NOW + 10 + auth.CLOCK_SKEW_SECONDS - 1
    assert verifier.verify(token)
    clock.wall = NOW + 10 + auth.CLOCK_SKEW_SECONDS
    refused(verifier, token)


def test_keys_are_fetched_once_and_cached(verifier: TokenVerifier, jwks: Jwks) -> None:
    for _ in range(3):
        verifier.verify(rs256(KEY, claims()))
    assert jwks.fetches == 1


def test_an_unknown_kid_refetches_at_most_once_per_period(
    verifier: TokenVerifier, jwks: Jwks, clock: Clock
) -> None:
    verifier.verify(rs256(KEY, claims()))
    stranger = RsaKey.generate("stranger")
    for _ in range(5):
        refused(verifier, rs256(stranger, claims()))
    assert jwks.fetches == 1  # the first fetch was under a second ago
    clock.mono += auth.MIN_REFETCH_SECONDS
    for _ in range(5):
        refused(verifier, rs256(stranger, claims()))
    assert jwks.fetches == 2


def test_a_rotated_key_is_picked_up(verifier: TokenVerifier, jwks: Jwks, clock: Clock) -> None:
    verifier.verify(rs256(KEY, claims()))
    rotated = RsaKey.generate("key-2")
    jwks.keys.append(rotated)
    clock.mono += auth.MIN_REFETCH_SECONDS
    assert verifier.verify(rs256(rotated, claims()))


def test_unfetchable_keys_are_a_503_and_retried(verifier: TokenVerifier, jwks: Jwks) -> None:
    jwks.fail = True
    with pytest.raises(ServiceUnavailable):
        verifier.verify(VALID)
    jwks.fail = False
    assert verifier.verify(VALID)
    assert jwks.fetches == 2


@pytest.mark.parametrize(
    "jwk",
    [
        {"kty": "EC", "kid": "key-1"},
        {"alg": "HS256"},
        {"use": "enc"},
        {"n": b64url(RsaKey.generate("weak", bits=1024).n.to_bytes(128, "big"))},
        {"e": "AQ"},  # e = 1: the "signature" would be the message itself
    ],
)
def test_unusable_keys_in_the_jwks_are_ignored(clock: Clock, jwk: dict[str, str]) -> None:
    def fetch() -> dict[str, Any]:
        return {"keys": [{**KEY.public_jwk(), **jwk}]}

    verifier = TokenVerifier(issuer=ISSUER, client_id=CLIENT, fetch_jwks=fetch, clock=lambda: clock.wall)
    refused(verifier, VALID)


def test_rsa_verification_agrees_with_cryptography() -> None:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = private.public_key().public_numbers()
    for message in (b"", b"a", b"x" * 1000):
        signature = private.sign(message, padding.PKCS1v15(), hashes.SHA256())
        assert rsa_sha256_verify(message, signature, public.n, public.e)
        assert not rsa_sha256_verify(message + b"!", signature, public.n, public.e)
        sha1 = private.sign(message, padding.PKCS1v15(), hashes.SHA1())  # noqa: S303 - a wrong hash must fail
        assert not rsa_sha256_verify(message, sha1, public.n, public.e)
        pss = private.sign(message, padding.PSS(padding.MGF1(hashes.SHA256()), 32), hashes.SHA256())
        assert not rsa_sha256_verify(message, pss, public.n, public.e)


# --- fetching the JWKS over HTTP -----------------------------------------------------


@pytest.fixture
def http_server() -> Iterator[tuple[str, dict[str, Any]]]:
    """A loopback HTTP server whose answer each test sets; stopped after the test."""
    behaviour: dict[str, Any] = {"body": b"{}", "delay": 0.0}
    stopping = threading.Event()  # ends a delayed answer early when the test is over

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            stopping.wait(behaviour["delay"])
            try:
                self.send_response(200)
                self.end_headers()
                self.wfile.write(behaviour["body"])
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up waiting, as the timeout test means it to

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = False  # server_close() then joins every handler thread
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/jwks.json", behaviour
    finally:
        stopping.set()
        server.shutdown()
        server.server_close()
        thread.join()


def test_fetch_jwks_reads_the_document(http_server: tuple[str, dict[str, Any]]) -> None:
    url, behaviour = http_server
    behaviour["body"] = json.dumps({"keys": [KEY.public_jwk()]}).encode()
    assert auth.fetch_jwks(url) == {"keys": [KEY.public_jwk()]}


def test_a_hanging_jwks_endpoint_times_out(http_server: tuple[str, dict[str, Any]]) -> None:
    # The endpoint would answer after 3 s; the fetch gives up first (no timing asserted:
    # without the timeout this fetch would succeed, late).
    url, behaviour = http_server
    behaviour["body"] = json.dumps({"keys": []}).encode()
    behaviour["delay"] = 3.0
    with pytest.raises(OSError, match="timed out"):
        auth.fetch_jwks(url, timeout=0.3)


@pytest.mark.parametrize(
    ("body", "reason"),
    [(b"x" * 70_000, "too large"), (b"[]", "not an object"), (b"not json", "Expecting value")],
)
def test_a_bad_jwks_document_is_an_error(
    http_server: tuple[str, dict[str, Any]], body: bytes, reason: str
) -> None:
    url, behaviour = http_server
    behaviour["body"] = body
    with pytest.raises(ValueError, match=reason):
        auth.fetch_jwks(url)


def test_fetch_jwks_refuses_other_schemes() -> None:
    with pytest.raises(ValueError, match="http"):
        auth.fetch_jwks("file:///etc/passwd")


# --- each rule matters: a pair of tokens that differ in that rule's one respect --------
# The refused token breaks only that rule; its twin, identical but for that respect,
# is accepted. So the refusal is that rule's alone, and where a rule has a bound the
# pair sits on it (one step either side).

WEAK = RsaKey.generate("weak", bits=1024)
T = int(NOW)


def _padded_to(limit: int) -> tuple[str, str]:
    """Two tokens of the same claims but the length of a padding claim: the shortest over
    `limit` characters and the longest within it."""

    def token(pad: int) -> str:
        return rs256(KEY, claims(pad="x" * pad))

    low, high = 0, limit  # token(low) fits, token(high) does not
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (middle, high) if len(token(middle)) <= limit else (low, middle)
    return token(high), token(low)


OVER_SIZE, AT_SIZE = _padded_to(auth.MAX_TOKEN_CHARS)
SKEW = auth.CLOCK_SKEW_SECONDS
RULE_PAIRS = [
    ("algorithm pinned", rs256(KEY, claims(), alg="RS512"), KEY, rs256(KEY, claims()), KEY),
    ("token-named keys", rs256(KEY, claims(), jwk={}), KEY, rs256(KEY, claims()), KEY),
    ("signature", rs256(OTHER, claims()), KEY, rs256(KEY, claims()), KEY),
    ("expiry", rs256(KEY, claims(exp=T - SKEW)), KEY, rs256(KEY, claims(exp=T - SKEW + 1)), KEY),
    ("not before", rs256(KEY, claims(nbf=T + SKEW + 1)), KEY, rs256(KEY, claims(nbf=T + SKEW)), KEY),
    ("issuer", rs256(KEY, claims(iss="https://evil")), KEY, rs256(KEY, claims()), KEY),
    ("token use", rs256(KEY, claims(token_use="access")), KEY, rs256(KEY, claims()), KEY),
    ("audience", rs256(KEY, claims(aud="other")), KEY, rs256(KEY, claims()), KEY),
    ("size", OVER_SIZE, KEY, AT_SIZE, KEY),
    ("key strength", rs256(WEAK, claims()), WEAK, rs256(KEY, claims()), KEY),
]


@pytest.mark.parametrize(
    ("rule", "refused_token", "refused_key", "twin", "twin_key"), RULE_PAIRS, ids=[p[0] for p in RULE_PAIRS]
)
def test_each_rule_refuses_what_its_twin_token_passes(
    rule: str, refused_token: str, refused_key: RsaKey, twin: str, twin_key: RsaKey
) -> None:
    def verifier(key: RsaKey) -> TokenVerifier:
        return TokenVerifier(issuer=ISSUER, client_id=CLIENT, fetch_jwks=Jwks(key), clock=lambda: NOW)

    with pytest.raises(Unauthenticated):
        verifier(refused_key).verify(refused_token)
    assert verifier(twin_key).verify(twin)["sub"] == claims()["sub"]

"""Cognito ID-token verification wherever the app runs outside Lambda.

Deployed, API Gateway's Cognito authorizer verifies the token and the app reads its
claims. Anywhere else (`chalice local` in any stage, `make run`) Chalice's local gateway
only base64-decodes the token, so the app does what that authorizer does, with the
standard library alone (no JWT or crypto package enters the Lambda bundle):

- RS256 only (the algorithm is pinned, never read from the token to choose a check);
  the key comes from the pool's JWKS by `kid`, never from the token (`jwk`, `jku`,
  `x5u` and `x5c` headers are refused outright);
- RSASSA-PKCS1-v1_5 with SHA-256, checked by rebuilding the whole expected encoded
  message and comparing it in constant time (no parsing of the decrypted block);
- `exp`, `nbf`/`iat`, `iss` equal to the pool, `token_use` equal to "id" and, when an
  app client is named, `aud` equal to it (API Gateway's authorizer admits any client of
  the pool, which is what an unnamed client means here). Access tokens are refused, as API Gateway's Cognito
  authorizer refuses them on methods without OAuth scopes (ours have none).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import threading
import time
import urllib.request
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple, TypeGuard

from chalicelib.errors import ServiceUnavailable, Unauthenticated

MAX_TOKEN_CHARS = 8 * 1024
CLOCK_SKEW_SECONDS = 5
MIN_REFETCH_SECONDS = 30.0
MIN_KEY_BITS = 2048
_UNTRUSTED_HEADERS = frozenset({"jwk", "jku", "x5u", "x5c", "crit"})
# DER encoding of the DigestInfo prefix for SHA-256 (RFC 8017, section 9.2, note 1).
_SHA256_DIGEST_INFO = bytes.fromhex("3031300d060960864801650304020105000420")

Jwks = Mapping[str, Any]


class _Refused(Exception):
    """Internal: why a token was refused (for the log, never the client)."""


def _b64url(segment: str) -> bytes:
    if not segment or any(c not in _B64URL for c in segment):
        raise _Refused("segment is not base64url")
    try:
        return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    except (binascii.Error, ValueError):
        raise _Refused("segment is not base64url") from None


_B64URL = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def _json_object(raw: bytes) -> dict[str, Any]:
    try:
        value = json.loads(raw.decode("utf-8"))
    except (ValueError, RecursionError):
        raise _Refused("segment is not JSON") from None
    if not isinstance(value, dict):
        raise _Refused("segment is not a JSON object")
    return value


def _int(b64: Any) -> int:
    if not isinstance(b64, str):
        raise _Refused("bad key")
    return int.from_bytes(_b64url(b64), "big")


def rsa_sha256_verify(message: bytes, signature: bytes, n: int, e: int) -> bool:
    """RSASSA-PKCS1-v1_5 verification with SHA-256 (RFC 8017, section 8.2.2)."""
    k = (n.bit_length() + 7) // 8
    if len(signature) != k:
        return False
    s = int.from_bytes(signature, "big")
    if s >= n:
        return False
    encoded = pow(s, e, n).to_bytes(k, "big")
    t = _SHA256_DIGEST_INFO + hashlib.sha256(message).digest()
    if k < len(t) + 11:
        return False
    expected = b"\x00\x01" + b"\xff" * (k - len(t) - 3) + b"\x00" + t
    return hmac.compare_digest(encoded, expected)


class TokenVerifier:
    """Verifies Cognito ID tokens against one user pool and app client."""

    def __init__(
        self,
        *,
        issuer: str,
        client_id: str | None,
        fetch_jwks: Callable[[], Jwks],
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._issuer = issuer
        self._client_id = client_id
        self._fetch_jwks = fetch_jwks
        self._clock = clock
        self._monotonic = monotonic
        self._keys: dict[str, tuple[int, int]] = {}
        self._fetched_at: float | None = None
        self._lock = threading.Lock()

    def verify(self, authorization: str | None) -> dict[str, Any]:
        """The verified claims of the `Authorization` header's token, or Unauthenticated."""
        try:
            return self._verify(authorization)
        except _Refused as exc:
            raise Unauthenticated(Unauthenticated.MESSAGE) from exc

    def _verify(self, authorization: str | None) -> dict[str, Any]:
        if not authorization or len(authorization) > MAX_TOKEN_CHARS:
            raise _Refused("missing or oversize")
        token = authorization
        if token[:7].lower() == "bearer ":
            token = token[7:].strip()
        parts = token.split(".")
        if len(parts) != 3:
            raise _Refused("not a JWS compact serialization")
        header = _json_object(_b64url(parts[0]))
        if header.get("alg") != "RS256":
            raise _Refused("algorithm is not RS256")
        if _UNTRUSTED_HEADERS & header.keys():
            raise _Refused("token names its own key")
        kid = header.get("kid")
        if not isinstance(kid, str):
            raise _Refused("no key id")
        n, e = self._key(kid)
        signed = f"{parts[0]}.{parts[1]}".encode("ascii")
        if not rsa_sha256_verify(signed, _b64url(parts[2]), n, e):
            raise _Refused("bad signature")
        claims = _json_object(_b64url(parts[1]))
        self._check_claims(claims)
        return claims

    def _check_claims(self, claims: Mapping[str, Any]) -> None:
        now = self._clock()
        exp = claims.get("exp")
        if not _is_number(exp) or exp <= now - CLOCK_SKEW_SECONDS:
            raise _Refused("expired")
        for name in ("nbf", "iat"):
            value = claims.get(name)
            if value is not None and (not _is_number(value) or value > now + CLOCK_SKEW_SECONDS):
                raise _Refused("not yet valid")
        if claims.get("iss") != self._issuer:
            raise _Refused("wrong issuer")
        if claims.get("token_use") != "id":
            raise _Refused("not an ID token")
        if self._client_id is not None and claims.get("aud") != self._client_id:
            raise _Refused("wrong audience")
        if not isinstance(claims.get("sub"), str) or not claims["sub"]:
            raise _Refused("no subject")

    def _key(self, kid: str) -> tuple[int, int]:
        with self._lock:
            if kid not in self._keys and self._may_fetch():
                self._keys = self._load()
            key = self._keys.get(kid)
        if key is None:
            raise _Refused("unknown key id")
        return key

    def _may_fetch(self) -> bool:
        # An unknown kid (a rotated key, or an attacker's) refetches at most once per period.
        now = self._monotonic()
        if self._fetched_at is not None and now - self._fetched_at < MIN_REFETCH_SECONDS:
            return False
        self._fetched_at = now
        return True

    def _load(self) -> dict[str, tuple[int, int]]:
        try:
            jwks = self._fetch_jwks()
        except (OSError, ValueError) as exc:
            self._fetched_at = None  # a failed fetch does not count against the next one
            raise ServiceUnavailable("the user pool's signing keys cannot be fetched") from exc
        keys: dict[str, tuple[int, int]] = {}
        entries = jwks.get("keys") if isinstance(jwks, Mapping) else None
        for jwk in entries if isinstance(entries, list) else []:
            if not isinstance(jwk, Mapping) or jwk.get("kty") != "RSA" or jwk.get("alg", "RS256") != "RS256":
                continue
            if jwk.get("use", "sig") != "sig" or not isinstance(jwk.get("kid"), str):
                continue
            try:
                n, e = _int(jwk.get("n")), _int(jwk.get("e"))
            except _Refused:
                continue
            if n.bit_length() >= MIN_KEY_BITS and e >= 3 and e % 2 == 1:
                keys[jwk["kid"]] = (n, e)
        return keys


class UserPool(NamedTuple):
    region: str
    id: str

    @property
    def issuer(self) -> str:
        """The `iss` of the pool's tokens (and where its JWKS lives, under /.well-known)."""
        return f"https://cognito-idp.{self.region}.amazonaws.com/{self.id}"


_POOL_ARN = re.compile(r"arn:aws[\w-]*:cognito-idp:(?P<region>[a-z0-9-]+):\d{12}:userpool/(?P<id>[\w-]+)")


def user_pool(arn: str) -> UserPool:
    """The region and id of the user pool an ARN names."""
    match = _POOL_ARN.fullmatch(arn)
    if match is None:
        raise ValueError(f"not a Cognito user pool ARN: {arn}")
    return UserPool(match["region"], match["id"])


def _is_number(value: Any) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool)


def fetch_jwks(url: str, *, timeout: float = 2.0, max_bytes: int = 64 * 1024) -> Jwks:
    """The JWKS document at `url`: bounded in time and size, so a bad endpoint cannot hang us."""
    if not url.startswith(("https://", "http://")):
        raise ValueError("the JWKS URL must be http(s)")
    with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 (scheme checked above)
        body = response.read(max_bytes + 1)
    if len(body) > max_bytes:
        raise ValueError("the JWKS document is too large")
    document = json.loads(body)
    if not isinstance(document, dict):
        raise ValueError("the JWKS document is not an object")
    return document

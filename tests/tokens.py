"""Test-side JWT making: honest tokens from a known key, and forged ones."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric import rsa

_SHA256_DIGEST_INFO = bytes.fromhex("3031300d060960864801650304020105000420")


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _b64int(value: int) -> str:
    return b64url(value.to_bytes((value.bit_length() + 7) // 8, "big"))


def _unb64int(value: str) -> int:
    return int.from_bytes(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)), "big")


@dataclass(frozen=True)
class RsaKey:
    kid: str
    n: int
    e: int
    d: int

    @classmethod
    def generate(cls, kid: str, bits: int = 2048) -> RsaKey:
        private = rsa.generate_private_key(public_exponent=65537, key_size=bits)
        numbers = private.private_numbers()
        return cls(kid, numbers.public_numbers.n, numbers.public_numbers.e, numbers.d)

    @classmethod
    def from_jwk(cls, jwk: dict[str, str]) -> RsaKey:
        return cls(jwk["kid"], _unb64int(jwk["n"]), _unb64int(jwk["e"]), _unb64int(jwk["d"]))

    def public_jwk(self) -> dict[str, str]:
        return {
            "kty": "RSA",
            "alg": "RS256",
            "use": "sig",
            "kid": self.kid,
            "n": _b64int(self.n),
            "e": _b64int(self.e),
        }

    def sign(self, message: bytes) -> bytes:
        """RSASSA-PKCS1-v1_5 with SHA-256: what Cognito does to sign its tokens."""
        k = (self.n.bit_length() + 7) // 8
        t = _SHA256_DIGEST_INFO + hashlib.sha256(message).digest()
        encoded = b"\x00\x01" + b"\xff" * (k - len(t) - 3) + b"\x00" + t
        return pow(int.from_bytes(encoded, "big"), self.d, self.n).to_bytes(k, "big")


def rs256(key: RsaKey, claims: dict[str, Any], **header: Any) -> str:
    head = {"alg": "RS256", "kid": key.kid, **header}
    signing_input = f"{b64url(json.dumps(head).encode())}.{b64url(json.dumps(claims).encode())}"
    return f"{signing_input}.{b64url(key.sign(signing_input.encode()))}"


def unsigned(claims: dict[str, Any], alg: str = "none", kid: str = "dummy", signature: str = "") -> str:
    head = b64url(json.dumps({"alg": alg, "kid": kid}).encode())
    return f"{head}.{b64url(json.dumps(claims).encode())}.{signature}"


def hs256(secret: bytes, claims: dict[str, Any], kid: str = "dummy") -> str:
    """The algorithm-confusion forgery: HMAC keyed with the public key's bytes."""
    head = b64url(json.dumps({"alg": "HS256", "kid": kid}).encode())
    signing_input = f"{head}.{b64url(json.dumps(claims).encode())}"
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64url(mac)}"


def id_claims(issuer: str, audience: str, now: float, **overrides: Any) -> dict[str, Any]:
    claims = {
        "sub": "6f1c0d52-3c4e-4f0a-9a53-5c1f3d1e9b21",
        "cognito:username": "alice",
        "iss": issuer,
        "aud": audience,
        "token_use": "id",
        "auth_time": int(now),
        "iat": int(now),
        "exp": int(now) + 3600,
    }
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}

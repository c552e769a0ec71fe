"""Test-side JWT making: honest tokens from a known key, and forged ones."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _b64int(value: int) -> str:
    return b64url(value.to_bytes((value.bit_length() + 7) // 8, "big"))


def _unb64int(value: str) -> int:
    return int.from_bytes(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)), "big")


@dataclass(frozen=True)
class RsaKey:
    kid: str
    private: rsa.RSAPrivateKey

    @classmethod
    def generate(cls, kid: str, bits: int = 2048) -> RsaKey:
        return cls(kid, rsa.generate_private_key(public_exponent=65537, key_size=bits))

    @classmethod
    def from_jwk(cls, jwk: dict[str, str]) -> RsaKey:
        n, e, d = (_unb64int(jwk[name]) for name in ("n", "e", "d"))
        p, q = (
            (_unb64int(jwk["p"]), _unb64int(jwk["q"]))
            if "p" in jwk
            else rsa.rsa_recover_prime_factors(n, e, d)
        )
        crt = rsa.rsa_crt_dmp1(d, p), rsa.rsa_crt_dmq1(d, q), rsa.rsa_crt_iqmp(p, q)
        return cls(jwk["kid"], rsa.RSAPrivateNumbers(p, q, d, *crt, rsa.RSAPublicNumbers(e, n)).private_key())

    @property
    def n(self) -> int:
        return self.private.public_key().public_numbers().n

    @property
    def e(self) -> int:
        return self.private.public_key().public_numbers().e

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
        return self.private.sign(message, padding.PKCS1v15(), hashes.SHA256())


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

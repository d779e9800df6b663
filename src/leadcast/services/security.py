"""Password hashes and opaque secrets.

- Passwords: scrypt (``hashlib.scrypt``) with a random 16-byte salt per user, stored as
  ``scrypt$<n>$<r>$<p>$<salt b64>$<hash b64>`` so the cost can rise later without breaking
  old hashes.
- Login tokens (``lct_…``) and lead-source API keys (``lck_…``): 32 random bytes, shown once;
  only their SHA-256 is stored, so a database leak yields no usable credential.

Comparisons use ``hmac.compare_digest``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass

__all__ = [
    "API_KEY_PREFIX",
    "DEFAULT_SCRYPT",
    "TOKEN_PREFIX",
    "ScryptParams",
    "hash_password",
    "hash_secret",
    "new_secret",
    "secret_matches",
    "verify_password",
]

TOKEN_PREFIX = "lct_"
API_KEY_PREFIX = "lck_"
_SALT_BYTES = 16
_KEY_BYTES = 32


@dataclass(frozen=True, slots=True)
class ScryptParams:
    """scrypt cost: ``n`` (CPU/memory, a power of two), ``r`` (block size), ``p``."""

    n: int = 2**14
    r: int = 8
    p: int = 1

    @property
    def maxmem(self) -> int:
        return 128 * self.n * self.r * self.p + 1024 * 1024


DEFAULT_SCRYPT = ScryptParams()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def hash_password(password: str, params: ScryptParams = DEFAULT_SCRYPT) -> str:
    """Hash a password with a fresh salt."""
    salt = secrets.token_bytes(_SALT_BYTES)
    digest = hashlib.scrypt(
        password.encode(),
        salt=salt,
        n=params.n,
        r=params.r,
        p=params.p,
        maxmem=params.maxmem,
        dklen=_KEY_BYTES,
    )
    return f"scrypt${params.n}${params.r}${params.p}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, stored: str) -> bool:
    """Whether ``password`` matches a hash made by :func:`hash_password`.

    A malformed stored hash never matches.
    """
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        params = ScryptParams(int(n), int(r), int(p))
        expected = base64.b64decode(digest, validate=True)
        computed = hashlib.scrypt(
            password.encode(),
            salt=base64.b64decode(salt, validate=True),
            n=params.n,
            r=params.r,
            p=params.p,
            maxmem=params.maxmem,
            dklen=len(expected),
        )
    except ValueError:
        return False
    return scheme == "scrypt" and hmac.compare_digest(computed, expected)


def new_secret(prefix: str) -> str:
    """A new random credential: ``prefix`` + 43 URL-safe characters."""
    return prefix + secrets.token_urlsafe(_KEY_BYTES)


def hash_secret(secret: str) -> str:
    """The SHA-256 (hex) stored for a token or API key."""
    return hashlib.sha256(secret.encode()).hexdigest()


def secret_matches(secret: str, stored_hash: str) -> bool:
    return hmac.compare_digest(hash_secret(secret).encode(), stored_hash.encode())

"""Per-user passwords for the app's password sign-in: PBKDF2-SHA256 hashes, as stored in secrets.toml.

    python -m training hash-password        # prompts twice, prints pbkdf2_sha256$ITERATIONS$SALT$HASH

Put each user's line under `[passwords]` in `.streamlit/secrets.toml` (`ada = "pbkdf2_sha256$..."`); the
plain password is never stored. Standard library only.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import os

ITERATIONS = 600_000
"""OWASP's 2023 guidance for PBKDF2-HMAC-SHA256."""


def hash_password(password: str, iterations: int = ITERATIONS, salt: bytes | None = None) -> str:
    salt = salt or os.urandom(16)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    return "$".join(["pbkdf2_sha256", str(iterations), base64.b64encode(salt).decode(), base64.b64encode(digest).decode()])


def verify_password(password: str, encoded: str) -> bool:
    """True when `password` matches the stored hash (constant-time compare; a malformed hash never matches)."""
    try:
        scheme, iterations, salt, digest = str(encoded).split("$")
        if scheme != "pbkdf2_sha256":
            return False
        expected = base64.b64decode(digest)
        got = hashlib.pbkdf2_hmac("sha256", password.encode(), base64.b64decode(salt), int(iterations))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, expected)

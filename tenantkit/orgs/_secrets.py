"""Secrets shown once: invite tokens and API keys. Only their SHA-256 is stored.

A hash without salt is enough here: the secrets are 256 random bits, not
passwords, so there is nothing to brute-force, and a plain digest lets the
database find a row by it (and compute it itself, as invite acceptance does).
"""

from __future__ import annotations

import hashlib
import secrets

__all__ = ["PREFIX_LENGTH", "hash_secret", "new_secret"]

#: How much of a secret is kept in clear, to recognise a key in a list.
PREFIX_LENGTH = 12


def new_secret(prefix: str) -> str:
    """`prefix` plus 256 random bits, URL-safe."""
    return prefix + secrets.token_urlsafe(32)


def hash_secret(secret: str) -> bytes:
    """The stored form of a secret: SHA-256 of its UTF-8 bytes."""
    return hashlib.sha256(secret.encode("utf-8")).digest()

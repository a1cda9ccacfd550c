"""Bearer tokens for writes: the environment holds ``reviewer:sha256(token)`` pairs, never tokens.

``CRISISLAKE_SERVE__API_TOKENS="alice:<64 hex>,bob:<64 hex>"``. A request's token is hashed
and compared with every configured hash in constant time; the match names the reviewer that
the decision is recorded under. ``crisislake serve token --reviewer alice`` makes a new token
and prints the pair to add.
"""
from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from typing import Dict, Optional, Tuple

from crisislake.serve.db import ServeConfigError

REVIEWER = re.compile(r"^[A-Za-z0-9_.@-]{1,64}$")
SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")


def token_hash(token: str) -> str:
    """Hex SHA-256 of a token (what the environment stores).

    >>> token_hash("abc")
    'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad'
    """
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def parse_tokens(spec: str) -> Dict[str, str]:
    """``{sha256 hex: reviewer}`` from ``"reviewer:hash,..."``; a malformed entry is an error.

    >>> parse_tokens("alice:" + "a" * 64)
    {'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa': 'alice'}
    """
    out: Dict[str, str] = {}
    for i, entry in enumerate(e.strip() for e in (spec or "").split(",")):
        if not entry:
            continue
        reviewer, sep, digest = entry.partition(":")
        digest = digest.strip().lower()
        if not sep or not REVIEWER.match(reviewer.strip()) or not SHA256_HEX.match(digest):
            raise ServeConfigError(
                f"serve.api_tokens entry {i + 1} is not 'reviewer:<64 hex sha256>' "
                "(make one with `crisislake serve token --reviewer NAME`)")
        out[digest] = reviewer.strip()
    return out


def reviewer_for(authorization: Optional[str], hashes: Dict[str, str]) -> Optional[str]:
    """The reviewer whose token is in ``Authorization: Bearer <token>``, else ``None``."""
    if not authorization or not hashes:
        return None
    scheme, _, token = authorization.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or len(token) > 512:
        return None
    digest = token_hash(token)
    found = None
    for known, reviewer in hashes.items():  # compare with all: timing does not tell which matched
        if hmac.compare_digest(known, digest):
            found = reviewer
    return found


def new_token(reviewer: str) -> Tuple[str, str]:
    """A fresh random token and the ``reviewer:hash`` entry for ``CRISISLAKE_SERVE__API_TOKENS``."""
    if not REVIEWER.match(reviewer or ""):
        raise ServeConfigError(f"reviewer name {reviewer!r} must match {REVIEWER.pattern}")
    token = secrets.token_urlsafe(32)
    return token, f"{reviewer}:{token_hash(token)}"

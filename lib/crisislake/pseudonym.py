"""Handles never leave the lake: ``@handle`` and ``twitter.com/handle`` in texts become pseudonyms.

The export writes tweet and incident texts to the warehouse through this function, and the API
and the report apply it again to every text they show (texts read from the lake, or written by an
older export): each handle becomes ``@user_<8 hex>``, the HMAC-SHA256 of the lower-cased handle
under ``WAREHOUSE_PSEUDONYM_KEY`` (the key the export uses for ``author_pseudonym``), so one
handle maps to one pseudonym across tweets. Without a key every handle becomes ``@user``.
Pseudonyms already in this form are left as they are, so rewriting twice changes nothing.
"""
from __future__ import annotations

import hashlib
import hmac
import os
import re
from typing import Optional

PSEUDONYM_KEY_ENV = "WAREHOUSE_PSEUDONYM_KEY"
# Twitter handles have at most 15 characters; longer @names (placeholders such as CrisisLex's
# ``@crisis_user_87968``, other platforms) are pseudonymised too rather than left to chance.
HANDLE = re.compile(r"(?<![\w@])@(\w{1,50})\b")
PROFILE_URL = re.compile(r"(?i)\b((?:www\.|mobile\.)?(?:twitter|x)\.com/)(?!i/)(\w{1,50})\b")
PSEUDONYM = re.compile(r"^user(_[0-9a-f]{8})?$")


def _pseudonym(handle: str, key: Optional[bytes]) -> str:
    if PSEUDONYM.match(handle):
        return handle
    if not key:
        return "user"
    return "user_" + hmac.new(key, handle.lower().encode("utf-8"), hashlib.sha256).hexdigest()[:8]


def pseudonymise_text(text: Optional[str], key: Optional[bytes] = None) -> Optional[str]:
    """``text`` with every handle replaced by its pseudonym.

    >>> pseudonymise_text("RT @Alice: see twitter.com/bob/status/1 and @user_0badcafe", b"k")
    'RT @user_ec631a55: see twitter.com/user_73662dce/status/1 and @user_0badcafe'
    >>> pseudonymise_text("mail me at a@b.org, @carol", None)
    'mail me at a@b.org, @user'
    >>> pseudonymise_text("RT @crisis_user_87968: fire", None)
    'RT @user: fire'
    """
    if not text:
        return text
    out = HANDLE.sub(lambda m: "@" + _pseudonym(m.group(1), key), text)
    return PROFILE_URL.sub(lambda m: m.group(1) + _pseudonym(m.group(2), key), out)


def key_from_env(environ=None) -> Optional[bytes]:
    value = (os.environ if environ is None else environ).get(PSEUDONYM_KEY_ENV, "")
    return value.encode("utf-8") if value else None

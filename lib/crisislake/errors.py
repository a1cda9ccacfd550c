"""The one error contract: every project exception derives from :class:`CrisislakeError`.

``crisislake.cli.main`` prints such an error as one line (``crisislake: <step>: <message>``) and
exits non-zero; anything else is a bug and keeps its traceback. Subclasses keep a standard
base too (``ValueError``, ``RuntimeError``, ...) so callers that catch those still work.
"""
from __future__ import annotations


class CrisislakeError(Exception):
    """A failure the user can act on; the message says what happened and, when known, what to do."""

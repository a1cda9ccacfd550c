"""SQL identifiers the project writes into statements: checked here, never taken on trust.

Values always travel as bound parameters; identifiers (schema, table, column and role names)
cannot, so every place that composes SQL checks them with :func:`checked` first.
"""
from __future__ import annotations

import re
from typing import Type

# Lower case, starting with a letter or underscore, at most 63 characters (PostgreSQL's limit).
IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def checked(name: str, error: Type[Exception]) -> str:
    """``name`` when it is a safe lower-case SQL identifier, else raise ``error``."""
    if not isinstance(name, str) or not IDENTIFIER.match(name):
        raise error(f"unsafe SQL identifier {name!r}")
    return name

"""How many generated examples a property test runs: its base count times ``FUZZ_SCALE``
(not ``CRISISLAKE_...``: that prefix names configuration settings).

``make test`` runs the base counts with fixed examples (``derandomize``), so CI sees the same
inputs every time; ``CHAOS_FUZZ=n make chaos`` runs n times as many, drawn from
``--hypothesis-seed``, and writes the counts to bench/results/reliability.md.
"""
from __future__ import annotations

import os

SCALE = max(1, int(os.environ.get("FUZZ_SCALE", "1")))
DERANDOMIZE = SCALE == 1


def examples(base: int) -> int:
    return base * SCALE

"""Code that Spark runs in its Python workers, shipped there by value."""
from __future__ import annotations

from types import ModuleType


def shipped(module: ModuleType) -> ModuleType:
    """``module``, registered to be pickled by value into UDFs: a local session's Python workers
    may run an interpreter where the crisislake package is not installed (the modules shipped
    this way import only the standard library, pyarrow and optional msgspec/orjson)."""
    from pyspark import cloudpickle

    cloudpickle.register_pickle_by_value(module)
    return module

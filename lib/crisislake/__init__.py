"""crisislake: a humanitarian data lakehouse on Apache Spark."""

__version__ = "0.1.0"

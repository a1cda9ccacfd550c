"""Twitter snowflake ids: the creation time every tweet id carries (ids after November 2010).

>>> snowflake_to_ms(1266538354939756544)
1590801249619
"""
from __future__ import annotations

from pyspark.sql import Column
from pyspark.sql import functions as F

TWITTER_EPOCH_MS = 1288834974657


def snowflake_to_ms(tweet_id: int) -> int:
    """Epoch milliseconds at which the tweet with this id was created."""
    return (tweet_id >> 22) + TWITTER_EPOCH_MS


def snowflake_ms(id_col: str) -> Column:
    """Creation time (epoch ms) encoded in the snowflake id column ``id_col``."""
    return F.shiftright(F.col(id_col).cast("long"), 22) + F.lit(TWITTER_EPOCH_MS)

"""Places named by a report: text n-grams and hashtag/mention bodies matched against the gazetteer.

A tweet's candidate names are its word 1-, 2- and 3-grams (links removed, punctuation dropped,
lower case, each remembering whether its first word was capitalised) and the bodies of its
hashtags and mentions, once as written and once without a trailing ``pd``, ``police``,
``protest(s)``, ``hq``... (``#SeattleProtest``, ``@TampaPD``, ``@LAPDHQ``). They are joined with
the gazetteer (a broadcast join: the gazetteer is a few thousand rows), so no regular expression
grows with it. Names from a geotag or a given place column are trusted more than text.

Output per report (:func:`with_places`): ``places`` (array of place ids, every level),
``veto_places`` (strong city-level ids, used to refuse a link between two reports naming
different cities), ``veto_states`` (admin-1 p-codes of strong names) and ``place_source``.
"""
from __future__ import annotations

from typing import Optional, Sequence

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

TAG_SUFFIX = r"(pd|police|policedept|sheriff|sheriffs|protests?|protesters?|riots?|hq|news|strong|uprising)$"
MAX_NGRAM = 3
# Trust in a place by where it came from (the incident's place_confidence builds on it).
SOURCE_WEIGHT = {"given": 1.0, "text": 0.8, "user": 0.5}


def _tokens(text: Column) -> Column:
    no_links = F.regexp_replace(F.coalesce(text, F.lit("")), r"(https?://|www\.)\S*", " ")
    cleaned = F.regexp_replace(F.regexp_replace(no_links, "&amp;", " "), r"[^\p{L}\p{N}#@' ]+", " ")
    return F.filter(F.split(F.trim(cleaned), " +"), lambda t: t != "")


def name_candidates(text: Column) -> Column:
    """``array<struct<key, form, capital>>``: what of ``text`` could name a place.

    ``words`` candidates are the word n-grams (n <= 3); ``compact`` ones the hashtag and mention
    bodies, as written and with a trailing department/protest word cut off.
    """
    toks = _tokens(text)
    plain = F.transform(toks, lambda t: F.regexp_replace(F.regexp_replace(t, "^[#@]+", ""), "'s?$", ""))
    n = F.size(plain)
    def gram(k: int):
        # a one-argument lambda: F.transform treats a two-argument one as (element, index)
        return lambda i: F.struct(
            F.lower(F.array_join(F.slice(plain, i + 1, k), " ")).alias("key"),
            F.lit("words").alias("form"),
            F.substring(F.element_at(plain, i + 1), 1, 1).rlike("[A-Z]").alias("capital"),
        )

    grams = [F.transform(F.filter(F.sequence(F.lit(0), F.greatest(n - k, F.lit(-1))), lambda i: i >= 0), gram(k))
             for k in range(1, MAX_NGRAM + 1)]
    tags = F.transform(F.filter(toks, lambda t: t.rlike("^[#@]")), lambda t: F.lower(F.regexp_replace(t, "^[#@]+", "")))
    compact = F.transform(F.array_distinct(F.concat(tags, F.transform(tags, lambda t: F.regexp_replace(t, TAG_SUFFIX, "")))),
                          lambda t: F.struct(t.alias("key"), F.lit("compact").alias("form"), F.lit(True).alias("capital")))
    return F.concat(*grams, compact)


def _matches(df: DataFrame, gazetteer: DataFrame, col: str, source: str) -> DataFrame:
    cand = df.select("node", F.explode(name_candidates(F.col(col))).alias("c")).select(
        "node", "c.key", "c.form", "c.capital").where(F.col("key") != "")
    gaz = F.broadcast(gazetteer.select("key", "form", "place_id", "level", "admin1_pcode", "needs_capital", "strong"))
    found = cand.join(gaz, ["key", "form"]).where(~F.col("needs_capital") | F.col("capital"))
    # "Kansas City" names the city, not also the state of Kansas: drop a state name inside a city name
    cities = found.where(F.col("level") == 2).groupBy("node").agg(F.collect_set("key").alias("city_keys"))
    inside = F.exists(F.coalesce("city_keys", F.array().cast("array<string>")), lambda k: k.contains(F.col("key")))
    return found.join(cities, "node", "left").where((F.col("level") != 1) | ~inside).select(
        "node", "place_id", "level", "admin1_pcode", "strong", F.lit(source).alias("source"))


def place_matches(df: DataFrame, gazetteer: DataFrame, text_col: str, given_cols: Sequence[str] = (),
                  user_col: Optional[str] = None) -> DataFrame:
    """``node, place_id, level, admin1_pcode, strong, source`` for every name found.

    ``given_cols`` (a geotag's place name, a ``--place-col``) take precedence over the text:
    when a report has a given place, its text places are not used. ``user_col`` (the author's
    profile location) only counts when neither names a place, and never vetoes.
    """
    found = None
    for col in given_cols:
        part = _matches(df, gazetteer, col, "given")
        found = part if found is None else found.unionByName(part)
    text = _matches(df, gazetteer, text_col, "text")
    if found is not None:
        text = text.join(found.select("node").distinct(), "node", "left_anti")
        found = found.unionByName(text)
    else:
        found = text
    if user_col:
        user = _matches(df, gazetteer, user_col, "user").withColumn("strong", F.lit(False))
        found = found.unionByName(user.join(found.select("node").distinct(), "node", "left_anti"))
    return found.distinct()


def with_places(df: DataFrame, matches: DataFrame) -> DataFrame:
    """Add ``places``, ``veto_places``, ``veto_states`` and ``place_source`` to ``df`` (by ``node``)."""
    per_node = matches.groupBy("node").agg(
        F.array_sort(F.collect_set("place_id")).alias("places"),
        F.array_sort(F.collect_set(F.when(F.col("strong") & (F.col("level") == 2), F.col("place_id")))).alias("veto_places"),
        F.array_sort(F.collect_set(F.when(F.col("strong") & F.col("admin1_pcode").startswith("US"),
                                          F.col("admin1_pcode")))).alias("veto_states"),
        F.min("source").alias("place_source"),
    )
    empty = F.array().cast("array<string>")
    return df.join(per_node, "node", "left").select(
        *[F.col(c) for c in df.columns],
        F.coalesce("places", empty).alias("places"),
        F.coalesce("veto_places", empty).alias("veto_places"),
        F.coalesce("veto_states", empty).alias("veto_states"),
        "place_source",
    )


def places_conflict(p1: Column, s1: Column, p2: Column, s2: Column) -> Column:
    """Two reports name different places: both name a strong city and share none, or both name
    a strong US state and share none."""
    def disjoint(a: Column, b: Column) -> Column:
        return (F.size(a) > 0) & (F.size(b) > 0) & (F.size(F.array_intersect(a, b)) == 0)

    return disjoint(p1, p2) | disjoint(s1, s2)

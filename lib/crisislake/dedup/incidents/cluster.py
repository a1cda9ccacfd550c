"""Group reports into real-world incidents: a scored link between two reports, then components.

Every report gets features (:func:`with_incident_features`): hashed content words with their
IDF over the reports given, hashtags and mentions, named entities (capitalised names, streets and
intersections), force types (gas, projectiles, strikes, vehicles, arrests, press), a "follow-up"
marker ("another angle", "Pt 2", "2 -"), its rank in time and its places (:mod:`.places`).

Candidate pairs (:func:`candidate_pairs`) come from blocks, never from all pairs: the next
``neighbours`` reports in time; reports naming the same city in one window; MinHash/LSH bands
of the word sets in one window; a shared hashtag, mention, entity or link in one window. A pair
is scored (:func:`pair_features`, :func:`link_score`) by a logistic model over: how many other
reports arrived between the two (density, not clock time: in a busy stream minutes mean
nothing), the time gap, word Jaccard and IDF-weighted overlap, a shared place, force types,
hashtags/mentions, entities and follow-up markers. The weights are fitted on 2020PB with states
held out (``bench/bench_incidents.py``) and stored in :class:`IncidentParams`.

Two reports naming different strong places (cities, US states) are never linked. Reply and
quote chains and a shared link (``urls``, lake mode) link outright; near-duplicate clusters from
``dedup`` are linked whole. Incidents are the connected components of the links.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, Optional, Sequence

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from crisislake.dedup.components import connected_components
from crisislake.dedup.incidents.places import places_conflict
from crisislake.dedup.minhash import choose_bands, jaccard

FORCE_TYPES: Dict[str, str] = {
    "gas": r"tear ?gas|gass|pepper|\bmaced?\b|macing|chemical|\boc\b|spray",
    "projectile": r"rubber|foam|bean ?bag|less.lethal|projectile|pepper ?ball|flash ?bang|munition|bullet|\bshot\b|shoot|\bfir(e|ed|es|ing)\b",
    "strike": r"baton|\bbeat|punch|\bhit\b|tackl|shov|push|knee|chok|kick|slam|thr[eo]w",
    "vehicle": r"\bsuv\b|\bcar\b|drove|drive|truck|vehicle",
    "arrest": r"arrest|detain|zip ?tie|handcuff|kettl",
    "press": r"reporter|journalist|\bpress\b|media|photographer",
}
FOLLOW_UP = (r"(?i)^\s*(\d{1,2}\s*[-—–/:.)]|pt\.? ?\d|part \d|\(\d+/\d+\))|another angle|different angle|other angle"
             r"|same (officer|cop)|this thread|more on|another video|here'?s (another|more)")
ENTITY = (r"(\b\d+(?:st|nd|rd|th)\b(?: (?:and|&|at) [A-Z][a-z]+)?|\b[A-Z][a-z]+ (?:and|&) [A-Z][a-z]+\b"
          r"|\b[A-Z][a-z]+(?: [A-Z][a-z]+)* (?:Street|St|Avenue|Ave|Boulevard|Blvd|Park|Square|Plaza|Bridge|Capitol)\b"
          r"|\b[A-Z][a-z]{2,} [A-Z][a-z]{2,}(?: [A-Z][a-z]{2,})?\b)")
FEATURES = ("log_between", "log_dt", "jaccard", "idf_overlap", "place_agree", "force_jaccard", "shared_tag",
            "shared_entity", "follow_up", "none_placed")
# Fitted on all of 2020PB by bench/bench_incidents.py (logistic regression; leave-state-out
# figures in docs/incidents.md). Order: FEATURES.
DEFAULT_WEIGHTS = (-0.52, -0.413, 2.872, 1.798, 1.403, 0.614, 1.412, 0.853, 0.897, 0.741)
DEFAULT_INTERCEPT = -1.167


@dataclass(frozen=True)
class IncidentParams:
    """How reports are linked. ``threshold`` is the link probability; ``weights`` follow FEATURES."""

    threshold: float = 0.45
    window_hours: float = 48.0
    neighbours: int = 8
    min_jaccard: float = 0.2  # LSH candidate threshold on word sets
    weights: Sequence[float] = field(default=DEFAULT_WEIGHTS)
    intercept: float = DEFAULT_INTERCEPT
    max_perm: int = 64
    max_bucket: int = 500
    use_forced_links: bool = True

    @property
    def window_ms(self) -> int:
        return int(self.window_hours * 3600 * 1000)

    def without(self, feature: str) -> IncidentParams:
        """The same model with one feature's weight at zero (the ablation table)."""
        weights = [0.0 if name == feature else w for name, w in zip(FEATURES, self.weights)]
        return IncidentParams(**{**self.__dict__, "weights": tuple(weights)})


def _stop_words() -> list:
    """Spark ML's English stop words (shipped with Spark, so nothing extra to install on EMR)."""
    from pyspark.ml.feature import StopWordsRemover

    return sorted(set(StopWordsRemover.loadDefaultStopWords("english")))


def _no_links(text: Column) -> Column:
    return F.regexp_replace(F.coalesce(text, F.lit("")), r"(https?://|www\.)[^ \t\n\r]*", " ")


def content_words(text: Column) -> Column:
    """Distinct hashed content words of a tweet (array<long>, sorted)."""
    cleaned = F.lower(F.regexp_replace(_no_links(text), "&amp;", "&"))
    tokens = F.filter(F.split(cleaned, r"[^#@a-z0-9_']+"), lambda w: F.length(w) > 2)
    tokens = F.array_except(F.array_distinct(tokens), F.array(*[F.lit(w) for w in _stop_words()]))
    return F.array_sort(F.transform(tokens, lambda w: F.xxhash64(w)))


def tags(text: Column) -> Column:
    """Hashed hashtags and mentions, lower case (array<long>)."""
    found = F.regexp_extract_all(_no_links(text), F.lit(r"([#@][A-Za-z0-9_]{3,})"), 1)
    return F.array_sort(F.array_distinct(F.transform(found, lambda t: F.xxhash64(F.lower(t)))))


def entities(text: Column) -> Column:
    """Hashed names: capitalised word runs, streets, intersections ("Broad and Grant", "14th and
    Lincoln"), places such as "Pershing Square" (array<long>)."""
    found = F.regexp_extract_all(F.regexp_replace(_no_links(text), "&amp;", "&"), F.lit(ENTITY), 1)
    return F.array_sort(F.array_distinct(F.transform(found, lambda t: F.xxhash64(F.lower(t)))))


def force_types(text: Column) -> Column:
    """Which kinds of force a report describes (array<string> of FORCE_TYPES keys)."""
    low = F.lower(F.coalesce(text, F.lit("")))
    return F.filter(F.array(*[F.when(low.rlike(p), F.lit(k)) for k, p in FORCE_TYPES.items()]), lambda x: x.isNotNull())


def with_incident_features(text_col: str = "text"):
    """Transform: per-report features (needs ``node``, ``event_ms`` and the place columns).

    ``rank`` is the report's position in time over the whole frame: one global sort (a single
    partition for the window; a million rows sort in seconds), which every density feature uses.
    """

    def inner(df: DataFrame) -> DataFrame:
        text = F.col(text_col)
        out = (df.withColumn("words", content_words(text)).withColumn("tags", tags(text))
               .withColumn("entities", entities(text)).withColumn("force", force_types(text))
               .withColumn("follow_up", F.coalesce(text, F.lit("")).rlike(FOLLOW_UP))
               .withColumn("rank", F.row_number().over(Window.orderBy(F.col("event_ms").asc_nulls_last(), "node"))))
        return out.transform(with_word_idf)

    return inner


def with_word_idf(df: DataFrame) -> DataFrame:
    """``idf`` (map word -> ln(N / (1 + reports with the word)), floored at 0) and ``idf_total``."""
    n = F.lit(df.count())  # one count per run: the IDF needs N
    per_word = df.select("node", F.explode("words").alias("w"))
    df_word = per_word.groupBy("w").agg(F.count(F.lit(1)).alias("df"))
    idf = per_word.join(df_word, "w").select("node", "w", F.greatest(F.log(n / (F.col("df") + 1)), F.lit(0.0)).alias("idf"))
    maps = idf.groupBy("node").agg(F.map_from_entries(F.collect_list(F.struct("w", "idf"))).alias("idf"),
                                   F.sum("idf").alias("idf_total"))
    return df.join(maps, "node", "left").withColumn("idf_total", F.coalesce("idf_total", F.lit(0.0)))


def _band_keys(params: IncidentParams) -> Column:
    """MinHash over word sets in Spark SQL: one seeded xxhash64 per permutation, min per tweet."""
    bands, rows = choose_bands(params.min_jaccard, params.max_perm)

    def seeded(k: int):
        # a one-argument lambda: F.transform treats a two-argument one as (element, index)
        return lambda w: F.xxhash64(w, F.lit(k))

    perms = [F.array_min(F.transform("words", seeded(k))) for k in range(bands * rows)]
    keys = [F.xxhash64(F.lit(b), *perms[b * rows:(b + 1) * rows]) for b in range(bands)]
    return F.when(F.size("words") > 0, F.array(*keys)).otherwise(F.array().cast("array<long>"))


def _blocked_pairs(keyed: DataFrame, params: IncidentParams) -> DataFrame:
    """``node < other`` pairs sharing a ``key`` in the same or a neighbouring time bucket.

    Buckets holding more than ``max_bucket`` reports are skipped: a key that common (a city on a
    busy night, a hashtag everyone uses) says nothing about one incident.
    """
    keyed = keyed.withColumn("bucket", F.floor(F.col("event_ms") / F.lit(params.window_ms)))
    by_key = Window.partitionBy("key", "bucket")
    left = keyed.withColumn("n", F.count(F.lit(1)).over(by_key)).where(F.col("n") <= params.max_bucket)
    right = keyed.select(F.col("node").alias("other"), "key",
                         F.explode(F.array(F.col("bucket") - 1, F.col("bucket"), F.col("bucket") + 1)).alias("bucket"))
    return left.select("node", "key", "bucket").join(right, ["key", "bucket"]).where(
        F.col("node") < F.col("other")).select("node", "other")


def candidate_pairs(tweets: DataFrame, params: IncidentParams) -> DataFrame:
    """Distinct ``node, other`` candidate pairs (``node < other``) from the blocks above."""
    base = tweets.where(F.col("event_ms").isNotNull())
    by_time = Window.orderBy("rank")
    near = base.select("node", *[F.lead("node", k).over(by_time).alias(f"n{k}") for k in range(1, params.neighbours + 1)])
    near = near.select("node", F.explode(F.array(*[F.col(f"n{k}") for k in range(1, params.neighbours + 1)])).alias("other"))
    near = near.where(F.col("other").isNotNull()).select(F.least("node", "other").alias("node"),
                                                         F.greatest("node", "other").alias("other"))
    keys = F.concat(
        F.transform(F.filter("places", lambda p: p.contains("|")), lambda p: F.xxhash64(F.lit("place"), p)),
        F.transform(_band_keys(params), lambda k: F.xxhash64(F.lit("band"), k)),
        F.transform("tags", lambda k: F.xxhash64(F.lit("tag"), k)),
        F.transform("entities", lambda k: F.xxhash64(F.lit("entity"), k)),
        F.transform("urls", lambda u: F.xxhash64(F.lit("url"), u)),
    )
    keyed = base.select("node", "event_ms", F.explode(keys).alias("key"))
    return near.unionByName(_blocked_pairs(keyed, params)).distinct()


def _shared(a: str, b: str) -> Column:
    return F.size(F.array_intersect(F.col(a), F.col(b))) > 0


def _ratio(num: Column, den: Column) -> Column:
    return F.when(den > 0, num / den).otherwise(F.lit(0.0))


def pair_features(tweets: DataFrame, pairs: DataFrame) -> DataFrame:
    """``node, other`` + every feature of FEATURES (doubles) + ``conflict``, ``forced`` and ``both_worded``."""
    cols = ["event_ms", "rank", "words", "idf", "idf_total", "tags", "entities", "force", "follow_up", "places",
            "veto_places", "veto_states", "urls", "author_id", "reply_to_id", "quote_of_id"]
    a = tweets.select("node", *[F.col(c).alias(f"{c}_1") for c in cols])
    b = tweets.select(F.col("node").alias("other"), *[F.col(c).alias(f"{c}_2") for c in cols])
    df = pairs.join(a, "node").join(b, "other")
    shared_words = F.array_intersect("words_1", "words_2")
    idf_shared = F.aggregate(shared_words, F.lit(0.0), lambda acc, w: acc + F.coalesce(F.element_at("idf_1", w), F.lit(0.0)))
    force_union = F.size(F.array_union("force_1", "force_2"))
    chained = ((F.col("reply_to_id_1") == F.col("other")) | (F.col("quote_of_id_1") == F.col("other"))
               | (F.col("reply_to_id_2") == F.col("node")) | (F.col("quote_of_id_2") == F.col("node")))
    features = {
        "log_between": F.log1p(F.greatest(F.abs(F.col("rank_1") - F.col("rank_2")) - 1, F.lit(0)).cast("double")),
        "log_dt": F.log1p(F.abs(F.col("event_ms_1") - F.col("event_ms_2")) / 60000.0),
        "jaccard": jaccard(F.col("words_1"), F.col("words_2")),
        "idf_overlap": _ratio(idf_shared, F.least("idf_total_1", "idf_total_2")),
        "place_agree": _shared("places_1", "places_2").cast("double"),
        "force_jaccard": _ratio(F.size(F.array_intersect("force_1", "force_2")).cast("double"), force_union),
        "shared_tag": _shared("tags_1", "tags_2").cast("double"),
        "shared_entity": _shared("entities_1", "entities_2").cast("double"),
        "follow_up": (F.col("follow_up_1") | F.col("follow_up_2")).cast("double"),
        "none_placed": ((F.size("places_1") == 0) & (F.size("places_2") == 0)).cast("double"),
    }
    return df.select(
        "node", "other", F.abs(F.col("event_ms_1") - F.col("event_ms_2")).alias("dt_ms"),
        *[expr.cast("double").alias(name) for name, expr in features.items()],
        places_conflict(F.col("veto_places_1"), F.col("veto_states_1"), F.col("veto_places_2"),
                        F.col("veto_states_2")).alias("conflict"),
        F.coalesce(chained | _shared("urls_1", "urls_2"), F.lit(False)).alias("forced"),
        ((F.size("words_1") > 0) & (F.size("words_2") > 0)).alias("both_worded"),
    )


def link_score(params: IncidentParams) -> Column:
    """The link probability: logistic over FEATURES with ``params.weights``."""
    z = F.lit(params.intercept)
    for name, w in zip(FEATURES, params.weights):
        if w:
            z = z + F.lit(float(w)) * F.col(name)
    return F.lit(1.0) / (F.lit(1.0) + F.exp(-z))


def incident_edges(tweets: DataFrame, params: IncidentParams) -> DataFrame:
    """``src, dst`` links between reports of one incident (see the module docstring)."""
    scored = pair_features(tweets, candidate_pairs(tweets, params)).where(F.col("dt_ms") <= params.window_ms)
    # A report without content words (empty, only links or stop words) is linked only by a
    # reply/quote chain or a shared URL: time and place alone say nothing about which incident.
    scored_link = F.col("both_worded") & (link_score(params) >= F.lit(params.threshold))
    keep = (F.col("forced") & F.lit(params.use_forced_links)) | scored_link
    return scored.where(~F.col("conflict") & keep).select(F.col("node").alias("src"), F.col("other").alias("dst"))


def assign_incidents(tweets: DataFrame, params: IncidentParams, extra_edges: Optional[DataFrame] = None) -> DataFrame:
    """``node, component`` for every report; a report in no link is its own incident.
    ``extra_edges`` (``src, dst``), e.g. near-duplicate clusters, are added."""
    edges = incident_edges(tweets, params)
    if extra_edges is not None:
        edges = edges.unionByName(extra_edges.select("src", "dst"))
    components = connected_components(edges)
    return tweets.select("node").join(components, "node", "left").select(
        "node", F.coalesce("component", "node").alias("component")
    )

"""The classification pipeline: text stages feeding a Spark ML classifier head.

Text stages (stateless once fitted, shared by every task)::

    SQLTransformer (clean: entities, links, mentions, camel-case hashtags, lower; a leading
       "RT @user:" is kept as the words "rt atuser", see FeatureParams.keep_retweet)
    -> words: Spark ML RegexTokenizer (default), or Spark NLP DocumentAssembler -> Tokenizer
       -> Normalizer [-> Stemmer] -> Finisher (``tokenizer="sparknlp"``)
    -> NGram(2) on the words; character n-grams: NGram(n) over the padded text's characters
    -> HashingTF (binary) over word unigrams + bigrams + char n-grams

Head stages (fitted per task and per validation fold)::

    [VectorSlicer ->] IDF -> L2 Normalizer [-> type lexicon features (disaster_type)]
    -> LogisticRegression (class-weighted) -> IndexToString

Splitting the two lets training compute the text features once, cache them, and fit only the
cheap head per fold, and lets ``classify`` featurise a tweet once for every task whose model
has the same text stages; the saved model is one ``PipelineModel`` of both.

Scoring cost (JVM CPU-seconds per 20,000 tweets, measured 2026-11-28, bench/prof in README):
cleaning 0.8, Spark NLP Tokenizer + Normalizer 4.0, Stemmer + Finisher 5.9, RegexTokenizer 0.3;
char 3-5-grams as SQL ``transform(sequence(...))`` 8.6 (interpreted, not code-generated) vs
3 ``NGram`` stages over the characters 4.0; ``HashingTF`` ~1.5 microseconds per term (~300
char 3-5-grams per tweet: 8.7). Hence the defaults: RegexTokenizer, no stemming, char n-grams
from one look-ahead regex, fewer of them.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Dict, List, Optional

from pyspark.ml import Pipeline, PipelineModel
from pyspark.ml.classification import LogisticRegression
from pyspark.ml.feature import (
    IDF,
    HashingTF,
    IndexToString,
    NGram,
    Normalizer,
    RegexTokenizer,
    SQLTransformer,
    VectorAssembler,
    VectorSlicer,
)
from pyspark.sql import DataFrame

from crisislake.nlp.text import clean_text_sql

FEATURES_COL = "features"
PREFIX = "cl_"  # intermediate columns, dropped after prediction


@dataclass(frozen=True)
class FeatureParams:
    """Text feature settings; stored in ``metrics.json`` so a model says how it was built."""

    num_features: int = 1 << 18
    char_ngrams: tuple = (3, 4)
    word_bigrams: bool = True
    tokenizer: str = "regex"  # "regex" (Spark ML RegexTokenizer) or "sparknlp"
    stem: bool = False  # Spark NLP Stemmer (only with tokenizer="sparknlp")
    min_doc_freq: int = 2
    # Keep a leading "RT @user:" as the words "rt atuser" instead of deleting it: on held-out
    # CrisisLex events retweets are more often on-topic, and the scikit-learn baseline (raw text)
    # saw the marker while the cleaned text hid it. Models saved before this field drop it.
    keep_retweet: bool = True

    def to_dict(self) -> Dict[str, object]:
        out = asdict(self)
        out["char_ngrams"] = list(self.char_ngrams)
        return out


@dataclass(frozen=True)
class HeadParams:
    """Classifier settings (logistic regression on L2-normalised TF-IDF).

    ``reg_param`` ``None`` means ``1 / (c * rows)``: Spark ML averages the (weighted) loss over
    the rows where scikit-learn sums it, so this is the L2 strength of scikit-learn's ``C = c``.
    A fixed 1e-4 on ~50k rows was ~20x stronger than the team's C = 4 baseline and under-fitted.
    """

    reg_param: Optional[float] = None
    c: float = 4.0
    # Keep only hashed features seen in >= min_groups training groups (events): terms of one
    # event ("sandy", "yolanda", "savar") cannot carry to an unseen event. 1 = keep all.
    min_groups: int = 1
    # > 0: append one feature per disaster type, this value when the cleaned text names the type
    # (TYPE_LEXICON), 0 otherwise, after the L2 norm. Words shared by every event of a type
    # ("typhoon" and "hurricane" alike) then carry to an unseen event. 0 = off.
    lexicon_weight: float = 0.0
    max_iter: int = 60
    tol: float = 1e-6

    def reg_for(self, n_rows: Optional[int]) -> float:
        """The regularisation for a training set of ``n_rows`` rows.

        >>> HeadParams().reg_for(50000), HeadParams(reg_param=1e-3).reg_for(50000)
        (5e-06, 0.001)
        """
        if self.reg_param is not None:
            return self.reg_param
        return 1.0 / (self.c * max(n_rows or 25000, 1))

    def to_dict(self) -> Dict[str, object]:
        return asdict(self)


def char_ngram_stages(text_col: str, sizes) -> List:
    """One stage adding ``cl_c<n>`` = the character n-grams of `` TEXT `` (upper-cased, padded with
    a space) for each ``n`` in ``sizes``.

    ``regexp_extract_all`` with a look-ahead returns every overlapping window in one
    code-generated regex scan, with no per-row conversion to Scala collections (Spark ML's
    ``NGram`` over the characters costs ~3x more CPU, SQL ``transform(sequence(...))`` ~6x).
    Upper case keeps a char n-gram from hashing to the same feature as an equal (lower-case) word.
    """
    if not sizes:
        return []
    padded = f"concat(' ', upper({text_col}), ' ')"
    cols = ", ".join(f"regexp_extract_all({padded}, '(?s)(?=(.{{{n}}}))', 1) AS {PREFIX}c{n}" for n in sizes)
    return [SQLTransformer(statement=f"SELECT *, {cols} FROM __THIS__")]


def word_stages(text_col: str, params: FeatureParams) -> List:
    """Stages adding ``cl_words`` (the words of ``text_col``), with Spark ML or Spark NLP."""
    if params.tokenizer == "regex":
        return [RegexTokenizer(inputCol=text_col, outputCol=f"{PREFIX}words", pattern=r"[^\p{L}\p{N}]+",
                               toLowercase=False, minTokenLength=1)]
    if params.tokenizer != "sparknlp":
        raise ValueError(f"unknown tokenizer {params.tokenizer!r}; expected 'regex' or 'sparknlp'")
    from sparknlp.annotator import Normalizer as NlpNormalizer
    from sparknlp.annotator import Stemmer, Tokenizer
    from sparknlp.base import DocumentAssembler, Finisher

    stages = [
        DocumentAssembler().setInputCol(text_col).setOutputCol(f"{PREFIX}doc").setCleanupMode("shrink"),
        Tokenizer().setInputCols([f"{PREFIX}doc"]).setOutputCol(f"{PREFIX}tok"),
        NlpNormalizer().setInputCols([f"{PREFIX}tok"]).setOutputCol(f"{PREFIX}norm")
        .setLowercase(True).setCleanupPatterns([r"[^\p{L}\p{N}]"]),
    ]
    last = f"{PREFIX}norm"
    if params.stem:
        stages.append(Stemmer().setInputCols([last]).setOutputCol(f"{PREFIX}stem"))
        last = f"{PREFIX}stem"
    stages.append(Finisher().setInputCols([last]).setOutputCols([f"{PREFIX}words"])
                  .setIncludeMetadata(False).setCleanAnnotations(True))
    return stages


def text_stages(text_col: str = "text", params: FeatureParams = FeatureParams()) -> List:
    """The unfitted text stages turning ``text_col`` into ``cl_tf`` (all JVM, no Python UDF)."""
    clean = SQLTransformer(
        statement=f"SELECT *, {clean_text_sql(text_col, params.keep_retweet)} AS {PREFIX}text FROM __THIS__")
    stages = [clean] + word_stages(f"{PREFIX}text", params)
    terms = [f"{PREFIX}words"]
    if params.word_bigrams:
        stages.append(NGram(n=2, inputCol=f"{PREFIX}words", outputCol=f"{PREFIX}bigrams"))
        terms.append(f"{PREFIX}bigrams")
    stages += char_ngram_stages(f"{PREFIX}text", params.char_ngrams)
    terms += [f"{PREFIX}c{n}" for n in params.char_ngrams]
    stages.append(SQLTransformer(statement=f"SELECT *, concat({', '.join(terms)}) AS {PREFIX}terms FROM __THIS__"))
    stages.append(HashingTF(inputCol=f"{PREFIX}terms", outputCol=f"{PREFIX}tf",
                            numFeatures=params.num_features, binary=True))
    return stages


def n_text_stages(model: PipelineModel) -> int:
    """How many leading stages of a fitted model are text stages (up to its ``HashingTF``), or 0."""
    for i, stage in enumerate(model.stages):
        if isinstance(stage, HashingTF) and stage.getOutputCol() == f"{PREFIX}tf":
            return i + 1
    return 0


def head_stages(
    labels: List[str],
    features: FeatureParams = FeatureParams(),
    head: HeadParams = HeadParams(),
    weight_col: Optional[str] = None,
    label_col: str = "label_idx",
    n_rows: Optional[int] = None,
    keep_features: Optional[List[int]] = None,
) -> List:
    """The unfitted classifier head: [VectorSlicer,] IDF, L2 norm, [type lexicon,] logistic regression,
    index -> label. The lexicon features (``head.lexicon_weight``) read the text stages' ``cl_text``.

    ``n_rows`` (training rows) sets the default regularisation, see :class:`HeadParams`;
    ``keep_features`` (sorted hashed-feature indices) adds a ``VectorSlicer`` keeping only those.
    """
    lr = LogisticRegression(
        featuresCol=FEATURES_COL, labelCol=label_col, regParam=head.reg_for(n_rows), elasticNetParam=0.0,
        maxIter=head.max_iter, tol=head.tol, standardization=False,
        family="binomial" if len(labels) == 2 else "multinomial",
    )
    if weight_col:
        lr.setWeightCol(weight_col)
    tf_col, slicer = f"{PREFIX}tf", []
    if keep_features is not None:
        slicer = [VectorSlicer(inputCol=tf_col, outputCol=f"{PREFIX}tfk", indices=list(keep_features))]
        tf_col = f"{PREFIX}tfk"
    lexicon: List = []
    normed = FEATURES_COL
    if head.lexicon_weight > 0:
        normed = f"{PREFIX}norm"
        lexicon = lexicon_stages(head.lexicon_weight) + [VectorAssembler(
            inputCols=[normed] + [f"{PREFIX}lex_{name}" for name in TYPE_LEXICON], outputCol=FEATURES_COL)]
    return slicer + [
        IDF(inputCol=tf_col, outputCol=f"{PREFIX}tfidf", minDocFreq=features.min_doc_freq),
        Normalizer(inputCol=f"{PREFIX}tfidf", outputCol=normed, p=2.0),
        *lexicon,
        lr,
        IndexToString(inputCol="prediction", outputCol="predicted_label", labels=list(labels)),
    ]


def head_input_columns(head: HeadParams) -> List[str]:
    """The text-stage columns :func:`head_stages` reads: ``cl_tf``, and ``cl_text`` for the lexicon."""
    return [f"{PREFIX}tf"] + ([f"{PREFIX}text"] if head.lexicon_weight > 0 else [])


# Words naming each disaster type (Java regexes over the cleaned, lower-case text; matched anywhere,
# so "flood" also finds "flooding" and "floods"). Written from the type definitions in
# ``tasks.DISASTER_TYPES``, not fitted: one feature per type that fires on every event of it.
TYPE_LEXICON = {
    "earthquake": "earthquake|quake|tremor|magnitude|seismic|aftershock|epicent",
    "flood": "flood|inundat",
    "hurricane": "hurricane|typhoon|cyclone|tropical storm|landfall|storm surge|superstorm",
    "wildfire": "wildfire|bushfire|bush fire|forest fire|brush ?fire|grass ?fire",
    "tornado": "tornado|twister|funnel cloud",
    "explosion": "explosion|explode|blast",
    "bombing": "bomb",
    "shooting": "shooting|shooter|gunman|gunfire|opened fire",
    "transport_accident": "derail|crash|collision|train|plane|helicopter|accident",
    "building_collapse": "collapse|rubble",
}


def lexicon_stages(weight: float, text_col: str = f"{PREFIX}text") -> List:
    """One stage adding ``cl_lex_<type>`` = ``weight`` when ``text_col`` matches the type's
    :data:`TYPE_LEXICON` pattern, else 0.0 (also for a null text)."""
    cols = ", ".join(f"CASE WHEN {text_col} RLIKE '{pattern}' THEN {float(weight)!r}D ELSE 0.0D END AS {PREFIX}lex_{name}"
                     for name, pattern in TYPE_LEXICON.items())
    return [SQLTransformer(statement=f"SELECT *, {cols} FROM __THIS__")]


def fit_text_model(df, text_col: str = "text", params: FeatureParams = FeatureParams()) -> PipelineModel:
    """Fit the text stages (only Spark NLP's Tokenizer/Normalizer are estimators; fitting is cheap)."""
    return Pipeline(stages=text_stages(text_col, params)).fit(df.limit(10))


def fit_head(stages: List, df) -> PipelineModel:
    """Fit head stages on ``df``, the logistic regression on a lineage-free copy of its input.

    Every LBFGS iteration is a Spark job whose task binary carries the input's whole plan: the
    fitted IDF vector (2 MB for 2^18 features) and, with the type lexicon, ``VectorAssembler``'s
    name for every slot of its output in the column metadata (3.5 MB for 100,000 slots). So the
    stages before the classifier are fitted and applied once, the classifier's input (features,
    label, weight; metadata dropped) is kept with ``localCheckpoint``, and the classifier reads
    that. The fitted model is the same as ``Pipeline(stages).fit(df)``'s.

    A local checkpoint lives in executor storage, like a cache. On a cluster with dynamic
    allocation that is safe as long as ``spark.dynamicAllocation.cachedExecutorIdleTimeout`` keeps
    its default (infinite: executors holding blocks are not removed), which we do not change.
    """
    at = next(i for i, stage in enumerate(stages) if isinstance(stage, LogisticRegression))
    lr = stages[at]
    before = Pipeline(stages=stages[:at]).fit(df)
    extra = [lr.getLabelCol()] + ([lr.getWeightCol()] if lr.isDefined("weightCol") else [])
    applied = before.transform(df)
    jdf = applied.select(_plain(applied, lr.getFeaturesCol()), *extra)._jdf.localCheckpoint(True)
    try:
        lr_model = lr.fit(DataFrame(jdf, df.sparkSession))
    finally:
        # Free the checkpoint's blocks now (the plan is Spark 3.5's LogicalRDD over the checkpointed
        # RDD); otherwise they stay until the driver's GC lets Spark's cleaner drop them.
        jdf.queryExecution().logical().rdd().unpersist(False)
    return PipelineModel(stages=list(before.stages) + [lr_model] + list(stages[at + 1:]))


def _plain(df, name: str):
    """Column ``name`` of ``df`` with its ML metadata cut to the vector size.

    ``VectorAssembler`` names every slot (100,000 names for the TF-IDF + lexicon vector); the
    classifier needs none of them. An empty metadata would not do: Spark drops an alias that only
    empties the metadata, and the old metadata comes back.
    """
    size = df.schema[name].metadata.get("ml_attr", {}).get("num_attrs")
    return df[name].alias(name, metadata={"ml_attr": {"num_attrs": size}}) if size else df[name]


def combine(text_model: PipelineModel, head_model: PipelineModel) -> PipelineModel:
    """One saveable PipelineModel of the fitted text stages followed by the fitted head."""
    return PipelineModel(stages=list(text_model.stages) + list(head_model.stages))


def build_pipeline(
    labels: List[str], text_col: str = "text", features: FeatureParams = FeatureParams(),
    head: HeadParams = HeadParams(), weight_col: Optional[str] = None, label_col: str = "label_idx",
    n_rows: Optional[int] = None,
) -> Pipeline:
    """The whole unfitted pipeline, for fitting in one go (tests, small data)."""
    return Pipeline(stages=text_stages(text_col, features)
                    + head_stages(labels, features, head, weight_col, label_col, n_rows))

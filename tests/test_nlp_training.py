"""train: the whole training path on a small bundled folder, and the English-text check."""
from __future__ import annotations

import csv
import gzip

from crisislake.nlp import model_store, train_job
from crisislake.nlp.text import looks_non_english

FLOOD_WORDS = ["river", "water", "rising", "streets", "homes", "rescue", "roads", "town"]
QUAKE_WORDS = ["shaking", "buildings", "cracked", "magnitude", "felt", "walls", "city", "tremor"]


def _event_rows(event, label, topic, words):
    """Eight distinct English tweets of one event."""
    return [(f"{topic} {words[i]} and {words[(i + 3) % 8]} in the area after the {topic}", label, event)
            for i in range(8)]


def test_looks_non_english_flags_other_languages_but_not_english_or_slang(spark):
    rows = [(1, "Terremoto de 7.6 en Costa Rica causó pánico en la región"),
            (2, "La #sardegna è in ginocchio: date notizie da e per quella terra!"),
            (3, "At may nalunod na dito sa amin #MaringPH"),
            (4, "Deadly storms and floods in Sardinia: at least nine people are killed"),
            (5, "da judge gave dis girl 5pm curfew"),
            (6, "Tsunami warning as 7.6 quake hits Costa Rica http://t.co/x"),
            (7, None), (8, "")]
    source_df = spark.createDataFrame(rows, "id long, text string")
    actual = {r["id"]: r["flag"] for r in source_df.select("id", looks_non_english("text").alias("flag")).collect()}
    assert actual == {1: True, 2: True, 3: True, 4: False, 5: False, 6: False, 7: False, 8: False}


def test_train_fits_and_saves_a_model_of_the_english_unique_texts(spark, config, tmp_path):
    rows = (_event_rows("2013_river_floods", "flood", "flood", FLOOD_WORDS)
            + _event_rows("2014_coast_floods", "flood", "flooding", FLOOD_WORDS[::-1])
            + _event_rows("2012_north_quake", "earthquake", "earthquake", QUAKE_WORDS)
            + _event_rows("2013_south_quake", "earthquake", "quake", QUAKE_WORDS[::-1]))
    spanish = [("Terremoto en la ciudad, las casas se cayeron por el sismo", "earthquake", "2012_north_quake"),
               ("Las inundaciones en el pueblo y los ríos que crecen", "flood", "2013_river_floods"),
               ("Hay muchos daños por el terremoto de esta mañana", "earthquake", "2013_south_quake")]
    repeated = [("RT @news: " + rows[0][0], "flood", "2013_river_floods")]
    bundled = tmp_path / "training"
    bundled.mkdir()
    with gzip.open(bundled / "crisislex.csv.gz", "wt", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(["text", "relevant", "disaster_type", "event", "source"])
        for text, label, event in rows + spanish + repeated:
            writer.writerow([text, "1", label, event, "crisislex_t26"])

    summary = train_job.train_and_save(spark, config, "disaster_type", quick=True, use_extra=False,
                                       bundled_dir=bundled)

    metrics = model_store.read_metrics(spark, summary["path"])
    assert metrics["training_data"]["rows_read"] == 36
    assert metrics["training_data"]["dropped_duplicates_or_conflicts"] == 1
    assert metrics["training_data"]["dropped_non_english"] == 3
    assert metrics["training_data"]["english_texts"] == 32
    assert metrics["n_train"] == 32
    # The default engine is the linear model (hashed TF-IDF + scikit-learn LR), with the type
    # lexicon and the two-event feature filter for disaster_type.
    assert metrics["engine"] == "linear"
    assert metrics["features"]["lexicon_weight"] == 0.3 and metrics["head"]["min_groups"] == 2
    assert sorted(metrics["groups"]) == ["2012_north_quake", "2013_river_floods", "2013_south_quake",
                                         "2014_coast_floods"]
    assert model_store.default_model_path(spark, config.models_root, "disaster_type") == summary["path"]
    model = model_store.load_model(spark, summary["path"])
    prob = model.predict_proba(["flood water rising in the streets", "earthquake shaking the city"])
    assert [model.labels[i] for i in prob.argmax(axis=1)] == ["flood", "earthquake"]

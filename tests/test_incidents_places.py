"""Place extraction and the gazetteer: what a report names, with p-codes and coordinates."""
from __future__ import annotations

import pytest
from crisislake.dedup.incidents import gazetteer as gz
from crisislake.dedup.incidents.places import place_matches, with_places


def test_us_state_pcode_is_iso2_plus_fips():
    assert [gz.state_pcode(a) for a in ("MN", "CA", "DC", "PR")] == ["US27", "US06", "US11", "US72"]


def test_gazetteer_city_rows_carry_state_pcode_coordinates_and_department_acronym():
    rows = gz.us_rows([("San Jose", "CA", 37.3382, -121.8863), ("Lincoln", "NE", 40.8136, -96.7026)])
    by_key = {(r[0], r[1]): r for r in rows}

    assert by_key[("san jose", "words")][2:12] == ("US06|san jose", 2, "San Jose, California, USA", "USA",
                                                   "California", "US06", None, None, 37.3382, -121.8863)
    assert by_key[("sjpd", "compact")][2] == "US06|san jose"
    assert by_key[("lincoln", "words")][12:] == (True, False)  # weak: capitalised only, never a veto
    assert by_key[("georgia", "words")][2] == "US13"
    assert ("washington", "words") not in by_key  # the state is only "washington state"


@pytest.fixture(scope="module")
def gazetteer(spark):
    return spark.createDataFrame(gz.us_rows([
        ("San Jose", "CA", 37.3382, -121.8863), ("Los Angeles", "CA", 34.0522, -118.2437),
        ("Denver", "CO", 39.7392, -104.9903), ("Kansas City", "MO", 39.0997, -94.5786),
        ("Lincoln", "NE", 40.8136, -96.7026), ("Tampa", "FL", 27.9506, -82.4572),
    ]), gz.GAZETTEER_SCHEMA)


def places_of(spark, gazetteer, texts, given=None):
    rows = [(i, t, g) for i, (t, g) in enumerate(zip(texts, given or [None] * len(texts)))]
    source_df = spark.createDataFrame(rows, "node long, text string, place_name string")
    matches = place_matches(source_df, gazetteer, "text", ["place_name"] if given else [])
    actual = with_places(source_df, matches).orderBy("node").collect()
    return [(r["places"], r["veto_places"], r["veto_states"], r["place_source"]) for r in actual]


def test_place_from_text_hashtag_mention_and_department_acronym(spark, gazetteer):
    actual = places_of(spark, gazetteer, [
        "Tear gas in downtown San Jose tonight",
        "#DenverProtests police line advancing",
        "Hey @LAPDHQ your officer shot at me",
        "@TampaPD arresting medics",
        "nothing about a place here",
    ])

    assert actual == [
        (["US06|san jose"], ["US06|san jose"], ["US06"], "text"),
        (["US08|denver"], ["US08|denver"], ["US08"], "text"),
        (["US06|los angeles"], ["US06|los angeles"], ["US06"], "text"),
        (["US12|tampa"], ["US12|tampa"], ["US12"], "text"),
        ([], [], [], None),
    ]


def test_state_name_inside_a_city_name_is_not_a_second_place(spark, gazetteer):
    actual = places_of(spark, gazetteer, ["Kansas City police tear gassed Mill Creek Park"])

    assert actual == [(["US29|kansas city"], ["US29|kansas city"], ["US29"], "text")]


def test_weak_city_name_counts_only_capitalised_and_never_vetoes(spark, gazetteer):
    actual = places_of(spark, gazetteer, ["Police on Lincoln at 14th", "lincoln at 14th"])

    assert actual == [(["US31|lincoln"], [], [], "text"), ([], [], [], None)]


def test_given_place_wins_over_the_text(spark, gazetteer):
    actual = places_of(spark, gazetteer, ["Solidarity with Denver from here"], given=["Tampa, FL"])

    assert actual == [(["US12|tampa"], ["US12|tampa"], ["US12"], "given")]

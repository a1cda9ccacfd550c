"""Connected components in Spark on hand-drawn graphs (one edge list, disjoint node ranges,
solved once per module)."""
import pytest
from crisislake.dedup.components import connected_components
from pyspark.sql import types as T

EDGE_SCHEMA = T.StructType([T.StructField("src", T.LongType()), T.StructField("dst", T.LongType())])

CHAIN = [(3, 1), (1, 7)]  # A(3) - B(1) - C(7): A and C are not linked directly
PATH = [(19, 18), (18, 17), (17, 16), (16, 15), (15, 14)]  # ids descending along a path
TRIANGLE = [(20, 21), (21, 22), (22, 20)]
DUPLICATED = [(31, 30), (30, 31), (30, 31)]
SELF_LOOP = [(40, 40)]
TWO_STARS = [(51, 90), (51, 91), (51, 92), (92, 52), (52, 93)]  # hub 51 and hub 52 via leaf 92


@pytest.fixture(scope="module")
def components(spark):
    edges = CHAIN + PATH + TRIANGLE + DUPLICATED + SELF_LOOP + TWO_STARS
    return dict(connected_components(spark.createDataFrame(edges, EDGE_SCHEMA)).collect())


def test_chain_a_b_c_is_one_component(components):
    assert {n: components[n] for n in (1, 3, 7)} == {1: 1, 3: 1, 7: 1}


def test_long_path_collapses_to_its_smallest_id(components):
    assert {n: components[n] for n in range(14, 20)} == {n: 14 for n in range(14, 20)}


def test_triangle_and_duplicate_edges(components):
    assert {n: components[n] for n in (20, 21, 22, 30, 31)} == {20: 20, 21: 20, 22: 20, 30: 30, 31: 30}


def test_self_loop_is_its_own_component(components):
    assert components[40] == 40


def test_two_stars_joined_through_a_leaf(components):
    assert {n: components[n] for n in (51, 52, 90, 91, 92, 93)} == {n: 51 for n in (51, 52, 90, 91, 92, 93)}


def test_every_node_appears_once(components):
    assert len(components) == 3 + 6 + 3 + 2 + 1 + 6

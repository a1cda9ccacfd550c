"""Connected components in Spark on hand-drawn graphs."""
from chispa import assert_df_equality
from pyspark.sql import types as T

from crisislake.dedup.components import connected_components

EDGE_SCHEMA = T.StructType([T.StructField("src", T.LongType()), T.StructField("dst", T.LongType())])
OUT_SCHEMA = T.StructType([T.StructField("node", T.LongType()), T.StructField("component", T.LongType())])


def test_chain_a_b_c_is_one_component(spark):
    # A(3) - B(1) - C(7): A and C are not linked directly.
    source_df = spark.createDataFrame([(3, 1), (1, 7)], EDGE_SCHEMA)
    expected_df = spark.createDataFrame([(1, 1), (3, 1), (7, 1)], OUT_SCHEMA)
    actual_df = connected_components(source_df)
    assert_df_equality(actual_df, expected_df, ignore_row_order=True, ignore_nullable=True)


def test_hand_drawn_graph_with_long_path_and_two_islands(spark):
    # Path 10-9-8-7-6-5 (ids descending along it), a triangle 20-21-22, an edge 30-31,
    # a self-loop 40, a duplicate edge and a reversed duplicate.
    edges = [(10, 9), (9, 8), (8, 7), (7, 6), (6, 5), (20, 21), (21, 22), (22, 20),
             (31, 30), (30, 31), (30, 31), (40, 40)]
    source_df = spark.createDataFrame(edges, EDGE_SCHEMA)
    expected = [(n, 5) for n in (5, 6, 7, 8, 9, 10)] + [(20, 20), (21, 20), (22, 20), (30, 30), (31, 30), (40, 40)]
    expected_df = spark.createDataFrame(expected, OUT_SCHEMA)
    actual_df = connected_components(source_df)
    assert_df_equality(actual_df, expected_df, ignore_row_order=True, ignore_nullable=True)


def test_star_joined_through_its_largest_leaf(spark):
    # 1 is the hub of 50, 60, 70; 70 also links to 2, which is the hub of 80: one component of 1.
    source_df = spark.createDataFrame([(1, 50), (1, 60), (1, 70), (70, 2), (2, 80)], EDGE_SCHEMA)
    expected_df = spark.createDataFrame([(n, 1) for n in (1, 2, 50, 60, 70, 80)], OUT_SCHEMA)
    actual_df = connected_components(source_df)
    assert_df_equality(actual_df, expected_df, ignore_row_order=True, ignore_nullable=True)

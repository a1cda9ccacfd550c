"""Generated raw tweet files through ``ingest-tweets`` (Spark, Delta), a few batches.

Each batch mixes planted valid tweets with generated lines (anything from junk bytes to tweets
whose fields hold any JSON) in plain, gzip and CSV files. The run never fails; every planted
tweet is curated; read = new + duplicates + quarantined; every quarantine row has a reason and
the raw payload. The parsers alone, with many more examples: test_properties.py.
"""
from __future__ import annotations

import csv
import gzip
import io
import json
from pathlib import Path

from crisislake.config import load_config
from crisislake.tweets import job
from fuzz_scale import DERANDOMIZE, examples
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_properties import lines

FIRST_ID = 300000000000000000


def planted(n: int, offset: int) -> list:
    """Valid v1.1 tweets with ids no generated line can produce."""
    return [json.dumps({"created_at": "Mon Apr 15 18:50:12 +0000 2013", "id_str": str(FIRST_ID + offset + i),
                        "text": f"planted {offset + i}", "user": {"id_str": "11", "screen_name": "alice"}})
            for i in range(n)]


def as_bytes(line) -> bytes:
    return line if isinstance(line, bytes) else line.encode("utf-8", "surrogatepass")


def csv_file(rows) -> bytes:
    buf = io.StringIO(newline="")
    writer = csv.writer(buf)
    writer.writerow(["id", "created_at", "text", "screen_name"])
    writer.writerows(rows)
    return buf.getvalue().encode("utf-8", "surrogatepass")


raw_files = st.lists(st.tuples(st.sampled_from(["json", "json.gz", "csv"]), st.lists(lines, max_size=12),
                               st.lists(st.lists(st.text(max_size=30), max_size=5), max_size=6)),
                     min_size=1, max_size=4)


@settings(max_examples=examples(3), deadline=None, derandomize=DERANDOMIZE,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.data_too_large])
@given(files=raw_files)
def test_a_generated_batch_of_raw_tweet_files_loses_nothing_and_gives_every_bad_record_a_reason(
        spark, tmp_path_factory, files):
    lake = tmp_path_factory.mktemp("tweets_generated") / "lake"
    raw = lake / "raw" / "tweets"
    raw.mkdir(parents=True)
    expected_ids = set()
    for i, (kind, generated, cells) in enumerate(files):
        good = planted(3, 10 * i)
        expected_ids |= {FIRST_ID + 10 * i + k for k in range(3)}
        if kind == "csv":
            rows = [[str(FIRST_ID + 10 * i + k), "2020-05-30T12:00:00Z", f"planted {10 * i + k}", "bob"]
                    for k in range(3)] + cells
            (raw / f"f{i}.csv").write_bytes(csv_file(rows))
            continue
        body = b"\n".join([*map(as_bytes, generated), *(g.encode() for g in good)]) + b"\n"
        path = raw / f"f{i}.{kind}"
        path.write_bytes(gzip.compress(body) if kind.endswith(".gz") else body)
    config = load_config("local", lake_root=str(lake), overrides=["spark.shuffle_partitions=2"], environ={})

    counts = job.ingest(spark, config, "generated")

    assert counts["records_read"] == counts["new_rows"] + counts["duplicates"] + counts["quarantined"]
    curated = spark.read.format("delta").load(config.table("curated", "tweets"))
    assert curated.count() == counts["new_rows"]
    assert expected_ids <= {r.tweet_id for r in curated.select("tweet_id").collect()}
    bad = spark.read.format("delta").load(config.table("quarantine", "tweets")).collect()
    assert len(bad) == counts["quarantined"]
    assert all(r.reason and r.reason.strip() and r.raw_payload is not None for r in bad)
    record = json.loads(next(Path(lake, "_runs").glob("*.json")).read_text())["steps"]["ingest-tweets"]
    assert record["rows_read"] == record["rows_written"] + record["rows_duplicate"] + record["rows_quarantined"]

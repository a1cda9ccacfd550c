"""The file contract end to end: ``crisislake dedup|incidents --input FILE ... --output FILE``.

The jobs' ``run`` would stop the shared session, so these call the file-mode functions the CLI
calls, with arguments parsed by the real CLI parser.
"""
import csv
import gzip

import pyarrow.parquet as pq
import pytest
from crisislake.cli import build_parser
from crisislake.dedup.incidents.cluster import IncidentParams
from crisislake.dedup.incidents.job import incidents_frame
from crisislake.dedup.io import read_table_file, write_single_file
from crisislake.dedup.job import run_file_mode

STORY = "Tear gas fired at protesters outside the state capitol in Denver, CO tonight, many hurt"
ROWS = [
    # id (strings, not numbers), text (commas, quotes, a newline), created_at
    ("t-03", 'Flooding on "Main St", avoid\nthe area', "2020-05-30T10:00:00Z"),
    ("t-01", STORY, "2020-05-30T22:00:00Z"),
    ("t-02", "RT @witness: " + STORY + " https://t.co/abc", "2020-05-30T22:05:00Z"),
    ("t-00", STORY + " #DenverProtest", "2020-05-30T23:00:00Z"),
    ("t-04", "", "2020-05-30T23:10:00Z"),
    ("t-05", None, "2020-05-30T23:20:00Z"),
]


def _write_csv(path, rows):
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["tid", "body", "created"])
        w.writerows(rows)


@pytest.fixture(scope="module")
def dedup_output(spark, tmp_path_factory):
    folder = tmp_path_factory.mktemp("dedup_file")
    src, out = folder / "in.csv", folder / "out.csv"
    _write_csv(src, ROWS)
    args = build_parser("dedup").parse_args([
        "dedup", "--input", str(src), "--id-col", "tid", "--text-col", "body", "--time-col", "created",
        "--threshold", "0.7", "--output", str(out),
    ])
    summary = run_file_mode(spark, args)
    return out, summary


def test_dedup_csv_output_is_one_file_at_the_given_path(dedup_output):
    out, _ = dedup_output
    assert out.is_file() and [p.name for p in out.parent.iterdir() if p.name.startswith("out")] == ["out.csv"]


def test_dedup_csv_output_columns_and_rows(dedup_output):
    out, summary = dedup_output
    with open(out, newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == ["id", "cluster_id", "is_canonical"]
    assert rows[1:] == [
        ["t-03", "t-03", "true"],
        ["t-01", "t-01", "true"],   # earliest of the three copies by created_at, not by id
        ["t-02", "t-01", "false"],
        ["t-00", "t-01", "false"],
        ["t-04", "t-04", "true"],   # empty text: kept, singleton
        ["t-05", "t-05", "true"],   # null text: kept, singleton
    ]
    assert summary == {"rows": 6, "clusters": 4}


def test_incidents_csv_gz_to_parquet(spark, tmp_path):
    src, out = tmp_path / "in.csv.gz", tmp_path / "incidents.parquet"
    with gzip.open(src, "wt", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["tid", "body", "created"])
        w.writerows(ROWS + [("t-06", "Police use tear gas on protesters at the Denver, CO capitol", "2020-05-30T22:30:00Z")])
    df = read_table_file(spark, str(src))
    write_single_file(incidents_frame(df, "tid", "body", "created", IncidentParams()), str(out))
    table = pq.read_table(out)
    assert table.column_names == ["id", "incident_id"]
    assert dict(zip(table.column("id").to_pylist(), table.column("incident_id").to_pylist())) == {
        "t-03": "inc-t-03", "t-01": "inc-t-01", "t-02": "inc-t-01", "t-00": "inc-t-01", "t-06": "inc-t-01",
        "t-04": "inc-t-04", "t-05": "inc-t-05",
    }

"""The tolerant Python reader: gzip members, truncation, CSV exports (no Spark)."""
from __future__ import annotations

import gzip
import json

from crisislake.tweets.decode import csv_records, decode_file, gunzip_tolerant, json_lines


def test_gunzip_reads_every_member_of_a_multi_member_file():
    data = gzip.compress(b'{"a":1}\n') + gzip.compress(b'{"b":2}\n')
    assert gunzip_tolerant(data) == ('{"a":1}\n{"b":2}\n', None)


def test_gunzip_keeps_complete_members_before_a_truncated_one():
    second = gzip.compress(b"x" * 5000)
    text, error = gunzip_tolerant(gzip.compress(b"kept\n") + second[:20])
    assert text.startswith("kept\n")
    assert error == "truncated gzip member 2 (unexpected end of file)"


def test_json_lines_marks_the_incomplete_last_line_of_a_truncated_file():
    records = json_lines('{"id":1}\n{"id":', error="truncated gzip member 1 (unexpected end of file)")
    assert records == [
        (1, '{"id":1}', None, None),
        (2, '{"id":', None, "truncated gzip member 1 (unexpected end of file); line incomplete"),
    ]


def test_csv_maps_tweet_id_and_tweet_text_columns():
    records = csv_records('tweet_id,tweet_text,label\n42,"flood, rising",x\n')
    line, payload, raw, error = records[0]
    assert (line, error, raw) == (2, None, '42,"flood, rising",x')
    assert json.loads(payload) == {"_format": "csv", "id_str": "42", "text": "flood, rising"}


def test_csv_maps_ids_and_text_columns_and_counts_lines_of_multiline_rows():
    records = csv_records('ids,text,reddit\n1,"two\nlines",1\n2,next,0\n')
    assert [(r[0], json.loads(r[1])["id_str"], json.loads(r[1])["text"]) for r in records] == [
        (2, "1", "two\nlines"), (4, "2", "next"),
    ]


def test_csv_row_with_wrong_field_count_is_an_error_record():
    records = csv_records("id,text\n1,a,extra\n")
    assert records == [(2, None, "1,a,extra", "CSV row has 3 fields, header has 2")]


def test_csv_without_id_column_reports_every_row():
    records = csv_records("name,text\nbob,hi\n")
    assert records[0][3].startswith("CSV export has no id or text column")


def test_truncated_gzip_csv_quarantines_the_incomplete_row():
    data = gzip.compress(b"id,text\n1,one\n2,two\n")[:-8]  # trailer cut: last member incomplete
    records = decode_file("s3://b/export.csv.gz", data)
    assert records[0][:2] == (2, '{"_format": "csv", "id_str": "1", "text": "one"}')
    assert records[-1][3].startswith("truncated gzip member 1") and records[-1][3].endswith("row incomplete")

"""Generated bad input (hypothesis): the tweet line and file parsers, config files and CLI
arguments never crash; a record that cannot be used gets a reason, a user mistake one line."""
from __future__ import annotations

import contextlib
import io
import json
from unittest import mock

import pytest
from crisislake.tweets import decode, records
from fuzz_scale import DERANDOMIZE, examples
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

FAST = settings(max_examples=examples(150), deadline=None, derandomize=DERANDOMIZE, suppress_health_check=[HealthCheck.too_slow])

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70) | st.floats(allow_nan=False)
    | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
TWEET_FIELDS = ["id_str", "id", "created_at", "text", "full_text", "user", "entities", "data", "includes",
                "retweeted_status", "place", "coordinates", "referenced_tweets", "geo", "delete", "_format"]
# Tweets with the fields the parse reads set to anything: the type rules decide, not luck.
tweet_like = st.dictionaries(st.sampled_from(TWEET_FIELDS), json_values, max_size=6)
lines = st.one_of(
    st.text(max_size=200),
    st.binary(max_size=200),
    tweet_like.map(json.dumps),
    st.tuples(tweet_like, tweet_like).map(lambda two: json.dumps(two[0]) + json.dumps(two[1])),  # Firehose
    st.lists(tweet_like, max_size=3).map(lambda data: json.dumps({"data": data})),  # v2 response
)


@FAST
@given(lines)
def test_a_tweet_line_gives_rows_with_an_id_or_records_with_a_reason_and_the_raw_text(line):
    for parse in (dict(loads=json.loads), dict(loads=json.loads, typed=records.typed_decoder())):
        for row, reason, raw_payload in records.line_records(line, None, None, **parse):
            if reason is None:
                assert isinstance(row[0], int) and 0 < row[0] < 2**63
            else:
                assert isinstance(reason, str) and reason
                assert isinstance(raw_payload, str)


@FAST
@given(st.text(max_size=300))
def test_a_csv_export_gives_a_payload_or_a_reason_per_row(text):
    for line_no, payload, _raw, error in decode.csv_records(text):
        assert isinstance(line_no, int) and line_no >= 1
        assert (payload is None) != (error is None)
        if payload is not None:
            assert json.loads(payload)["_format"] == "csv"


@FAST
@given(st.binary(max_size=300), st.sampled_from(["a.json", "a.json.gz", "a.csv", "a.csv.gz"]))
def test_any_file_content_decodes_to_numbered_records(content, name):
    for record in decode.decode_file(name, content):
        assert isinstance(record[0], int)


config_documents = st.one_of(
    st.text(max_size=100),
    json_values.map(json.dumps),
    st.dictionaries(st.sampled_from(["lake_root", "spark", "warehouse", "serve", "hdx", "models", "env",
                                     "pseudonymise_handles", "unknown"]), json_values, max_size=4).map(json.dumps),
    st.fixed_dictionaries({"spark": st.dictionaries(
        st.sampled_from(["master", "shuffle_partitions", "conf", "packages", "driver_memory"]), json_values,
        max_size=3)}).map(json.dumps),
)


@FAST
@given(config_documents)
def test_a_config_file_is_a_config_or_one_config_error(tmp_path_factory, document):
    from crisislake.config import Config, ConfigError, load_config

    path = tmp_path_factory.mktemp("conf") / "bad.json"
    path.write_text(document, encoding="utf-8")
    try:
        config = load_config("local", str(path), environ={})
    except ConfigError as exc:
        assert str(exc) and "Traceback" not in str(exc)
    else:
        assert isinstance(config, Config)


COMMANDS = ["load", "export", "ingest-tweets", "serve", "pipeline", "emr", "nonsense"]
OPTIONS = ["--env", "--config", "--lake-root", "--set", "--run-id", "--json", "--tables", "--steps",
           "--stream", "--trigger-interval", "--max-files-per-trigger", "--help", "--version", "-x", "--"]
argv_lists = st.lists(st.one_of(st.sampled_from(COMMANDS + OPTIONS), st.text(max_size=12),
                                st.sampled_from(["spark.shuffle_partitions=x", "nope=1", "warehouse.schema=",
                                                 "spark.conf.a=b", "aws", "local", "-1", "=="])),
                      max_size=6)


@settings(max_examples=examples(120), deadline=None, derandomize=DERANDOMIZE)
@given(argv_lists)
def test_cli_arguments_exit_0_or_2_and_never_print_a_traceback(argv):
    from crisislake import cli
    from crisislake.config import Config

    err = io.StringIO()
    # The job itself is not run: this is about the arguments and the config they build.
    with mock.patch.object(cli, "run_job", return_value=0), mock.patch.object(Config, "export_s3_endpoint"), \
            contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            code = cli.main(argv)
        except SystemExit as exc:
            code = exc.code
    assert code in (0, 2), (argv, err.getvalue()[-500:])
    assert "Traceback" not in err.getvalue()


def test_a_bad_set_value_is_one_line_naming_the_setting(capsys):
    from crisislake import cli

    with mock.patch.object(cli, "run_job", return_value=0):
        assert cli.main(["load", "--set", "spark.shuffle_partitions=many"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("crisislake: load: ") and "spark.shuffle_partitions" in err[0]


@pytest.mark.parametrize("line", [b"\xff\xfe{", b'{"id_str": "abc", "text": "x"}', b"[1, 2]", b'{"data": []}'])
def test_hand_picked_bad_lines_are_quarantined_with_a_reason(line):
    (row, reason, raw), = records.line_records(line, None, None)
    assert reason and raw is not None

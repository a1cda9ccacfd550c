import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from crisislake import registry
from crisislake.cli import main
from crisislake.pipeline import select_steps, stage_sample

ROOT = Path(__file__).resolve().parents[1]


def test_every_job_has_the_generated_entry_point_and_no_other_exists():
    expected = {Path(job.entry_point).name: registry.entry_point_source(job) for job in registry.JOBS}
    actual = {p.name: p.read_text() for p in (ROOT / "jobs").glob("*.py")}
    assert actual == expected


def test_every_job_module_has_the_job_interface():
    for job in registry.JOBS:
        module = job.load()
        assert callable(module.add_arguments) and callable(module.run), job.name


def test_pipeline_session_loads_every_jar_its_steps_need():
    needed = {ref for job in registry.pipeline_jobs() for ref in job.jars}
    assert needed <= set(registry.get("pipeline").jars)


def test_cli_without_command_prints_help_and_returns_2(capsys):
    assert main([]) == 2
    assert "ingest-tweets" in capsys.readouterr().out


def test_cli_config_error_is_one_line_exit_2(capsys):
    assert main(["pipeline", "--set", "spark.nope=1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("crisislake: pipeline: --set: unknown setting 'spark.nope'")


def test_select_steps_keeps_pipeline_order():
    assert [job.name for job in select_steps("load,ingest-tweets")] == ["ingest-tweets", "load"]


def test_select_steps_names_an_unknown_step():
    with pytest.raises(registry.UnknownJobError, match="unknown steps trian"):
        select_steps("ingest-tweets,trian")


def test_stage_sample_copies_once(tmp_path):
    sample = tmp_path / "sample" / "raw" / "tweets"
    sample.mkdir(parents=True)
    (sample / "a.json").write_text("{}")
    lake = tmp_path / "lake"
    assert stage_sample(str(tmp_path / "sample"), str(lake)) == 1
    assert stage_sample(str(tmp_path / "sample"), str(lake)) == 0
    assert (lake / "raw" / "tweets" / "a.json").read_text() == "{}"


def test_console_help_runs_in_a_fresh_interpreter():
    out = subprocess.run([sys.executable, "-m", "crisislake.cli", "--help"], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0
    assert "dedup" in out.stdout


class ConcurrentAppendException(Exception):
    """Named like Delta's: what a run that lost a commit race sees."""


@pytest.mark.parametrize("exc, needle", [
    (ConcurrentAppendException("Files were added to the root of the table by a concurrent update"),
     "another run wrote the same table at the same time (ConcurrentAppendException)"),
    (OSError("When reading information for key 'lake/x': AWS Error NETWORK_CONNECTION during HeadObject"),
     "storage failed after its retries (OSError"),
    (psycopg.OperationalError("consuming input failed: server closed the connection unexpectedly\n\tThis probably "
                              "means the server terminated abnormally"),
     "the warehouse connection failed (OperationalError: consuming input failed: server closed the connection "
     "unexpectedly | This probably"),
])
def test_outside_failures_are_one_line_and_exit_1(monkeypatch, capsys, tmp_path, exc, needle):
    from crisislake import cli

    def fail(job, args, config):
        raise exc

    monkeypatch.setattr(cli, "run_job", fail)
    code = cli.main(["build-marts", "--lake-root", str(tmp_path)])
    err = capsys.readouterr().err.strip()
    assert code == 1 and err.startswith(f"crisislake: build-marts: {needle}")
    assert len(err.splitlines()) == 1 and "Traceback" not in err


def test_a_bug_keeps_its_traceback(monkeypatch, tmp_path):
    from crisislake import cli

    def fail(job, args, config):
        raise KeyError("a bug")

    monkeypatch.setattr(cli, "run_job", fail)
    with pytest.raises(KeyError):
        cli.main(["build-marts", "--lake-root", str(tmp_path)])


@pytest.mark.parametrize("argv, hint", [
    (["ingest-tweets", "--raw"], "land tweet dumps there or pass --raw PREFIX"),
    (["ingest-hdx", "--raw"], "run `crisislake scrape-hdx` or pass --raw FOLDER"),
    (["ingest-reported-incidents", "--input"], "pass --input FILE (a 2020PB-style JSON list)"),
])
def test_a_missing_input_is_one_line_before_spark_starts(capsys, tmp_path, argv, hint):
    from crisislake import cli

    missing = tmp_path / "no" / "such" / "prefix"
    code = cli.main([*argv, str(missing), "--lake-root", str(tmp_path / "lake")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and not any("Traceback" in line for line in err)
    assert err[-1] == f"crisislake: {argv[0]}: {missing} does not exist: {hint}"


def test_an_empty_raw_prefix_is_nothing_to_ingest(capsys, tmp_path):
    from crisislake import cli

    (tmp_path / "raw").mkdir()
    code = cli.main(["ingest-tweets", "--raw", str(tmp_path / "raw"), "--lake-root", str(tmp_path / "lake")])
    out = capsys.readouterr().out
    assert code == 0 and f"skipped: nothing to ingest under {tmp_path / 'raw'}" in out

import subprocess
import sys
from pathlib import Path

from crisislake.cli import COMMANDS, main
from crisislake.pipeline import STEPS, select_steps, stage_sample

ROOT = Path(__file__).resolve().parents[1]


def test_every_command_has_a_thin_job_entry_point_calling_it():
    for name in COMMANDS:
        job = ROOT / "jobs" / f"{name.replace('-', '_')}.py"
        assert job.is_file(), job
        assert f'main(["{name}", *sys.argv[1:]])' in job.read_text()


def test_every_pipeline_step_is_a_cli_command():
    assert [name for name, _ in STEPS if name not in COMMANDS] == []
    assert all(COMMANDS[name][0] == module for name, module in STEPS)


def test_cli_without_command_prints_help_and_returns_2(capsys):
    assert main([]) == 2
    assert "ingest-tweets" in capsys.readouterr().out


def test_cli_config_error_is_one_line_exit_2(capsys):
    assert main(["pipeline", "--set", "spark.nope=1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("crisislake: config error: unknown setting 'spark.nope'")


def test_select_steps_keeps_pipeline_order():
    assert [n for n, _ in select_steps("load,ingest-tweets")] == ["ingest-tweets", "load"]


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

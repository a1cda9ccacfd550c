"""Every command that composes SQL, fed hostile names and values.

Identifiers (schema and role names) cannot be bound, so the configuration refuses unsafe ones with
one line before any command connects; values travel as bound parameters or through COPY, so a
hostile value arrives verbatim. The API's query parameters and bodies have their own tests in
``test_serve_api.py`` (422, and the server's SQL log never holds the value).
"""
from __future__ import annotations

import uuid

import pyarrow as pa
import pytest
from crisislake.cli import main
from test_warehouse_load_pg import INCIDENT_ARROW, incident_rows, write_export

psycopg = pytest.importorskip("psycopg")

HOSTILE_NAMES = ['x"; DROP SCHEMA public CASCADE; --', "robert'); drop table students;--", "a b", "Upper", ""]
# Every command whose code writes a schema or role name into SQL text.
SQL_COMMANDS = [["load"], ["load", "--backend", "redshift"], ["sync-reviews"], ["report"], ["serve"],
                ["serve", "setup"]]


def catalog(pg_url: str):
    """Schemas and roles on the server: a refused command must leave both as they were."""
    with psycopg.connect(pg_url) as conn:
        schemas = {r[0] for r in conn.execute("SELECT nspname FROM pg_namespace").fetchall()}
        roles = {r[0] for r in conn.execute("SELECT rolname FROM pg_roles").fetchall()}
    return schemas, roles


@pytest.mark.parametrize("argv", SQL_COMMANDS, ids=" ".join)
@pytest.mark.parametrize("setting", ["warehouse.schema", "serve.reader_role", "serve.reviewer_role"])
def test_a_hostile_identifier_is_refused_in_one_line_before_any_connection(argv, setting, pg_url, lake, capsys):
    before = catalog(pg_url)
    for name in HOSTILE_NAMES:
        code = main([*argv, "--lake-root", lake, "--set", f"{setting}={name}", "--set",
                     f"warehouse.postgres_url={pg_url}", "--set", f"serve.read_url={pg_url}"])

        err = capsys.readouterr().err.strip()
        assert code == 2, (argv, setting, name, err)
        assert len(err.splitlines()) == 1 and f"{setting}: {name!r} is not a safe SQL identifier" in err
    assert catalog(pg_url) == before


def test_a_hostile_schema_from_the_environment_is_refused_the_same_way(pg_url, lake, capsys, monkeypatch):
    monkeypatch.setenv("CRISISLAKE_WAREHOUSE__SCHEMA", HOSTILE_NAMES[0])

    assert main(["report", "--lake-root", lake]) == 2
    assert "warehouse.schema: " in capsys.readouterr().err


def test_a_hostile_export_run_id_is_refused_before_the_warehouse_is_touched(pg_url, lake, capsys):
    schema = f"t_{uuid.uuid4().hex[:10]}"
    before = catalog(pg_url)

    code = main(["load", "--lake-root", lake, "--export-run", "r'; DROP TABLE x; --", "--set",
                 f"warehouse.postgres_url={pg_url}", "--set", f"warehouse.schema={schema}"])

    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and err[-1].startswith("crisislake: load: export run id") and "r'; DROP TABLE x; --" in err[-1]
    assert not any("Traceback" in line for line in err)
    assert catalog(pg_url) == before


HOSTILE_TEXTS = ["'); DROP TABLE fact_incident; --", "\\x00\\'\\\\ $$ $1 %(s)s %s {s}", "Robert\"); DELETE FROM x;--"]


def test_hostile_file_contents_are_loaded_verbatim(pg_url, lake, capsys):
    """The load reads values from export files: they reach PostgreSQL through COPY, never as SQL."""
    schema = f"t_{uuid.uuid4().hex[:10]}"
    run_id = "20260101T000000Z-aaaaaaaa"
    rows = incident_rows(run_id)
    rows["incident_id"] = [HOSTILE_TEXTS[0], HOSTILE_TEXTS[2]]
    rows["representative_text"] = HOSTILE_TEXTS[1:]
    rows["place"] = [HOSTILE_TEXTS[2], HOSTILE_TEXTS[0]]
    write_export(lake, "fact_incident", run_id, rows, pa.schema(INCIDENT_ARROW))
    try:
        code = main(["load", "--lake-root", lake, "--tables", "fact_incident", "--export-run", run_id, "--set",
                     f"warehouse.postgres_url={pg_url}", "--set", f"warehouse.schema={schema}"])

        assert code == 0, capsys.readouterr().err
        with psycopg.connect(pg_url) as conn:
            loaded = conn.execute(f"SELECT incident_id, representative_text, place FROM {schema}.fact_incident "
                                  "ORDER BY incident_id").fetchall()
            tables = conn.execute("SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = %s",
                                  (schema,)).fetchone()[0]
        assert sorted(loaded) == sorted([(HOSTILE_TEXTS[0], HOSTILE_TEXTS[1], HOSTILE_TEXTS[2]),
                                 (HOSTILE_TEXTS[2], HOSTILE_TEXTS[2], HOSTILE_TEXTS[0])])
        assert tables >= 2  # fact_incident and the audit table are still there
    finally:
        with psycopg.connect(pg_url, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")

#!/usr/bin/env python3
"""Start/stop the local stand-ins for AWS services: a real PostgreSQL server and moto (S3, EMR,
Redshift Data API) in server mode, both on 127.0.0.1 only.

    python scripts/devservices.py start|stop|status|env

State lives in ``.services/`` (or ``$CRISISLAKE_SERVICES_DIR``). PostgreSQL runs as the
``postgres`` OS user when this is run as root (initdb refuses root). Importable: the tests call
:func:`ensure_postgres` and :func:`ensure_moto`.
"""
from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Callable, Iterator, Tuple

ROOT = Path(__file__).resolve().parents[1]
STATE = Path(os.environ.get("CRISISLAKE_SERVICES_DIR", ROOT / ".services"))
PG_PORT = int(os.environ.get("CRISISLAKE_PG_PORT", "55432"))
MOTO_PORT = int(os.environ.get("CRISISLAKE_MOTO_PORT", "55050"))
PG_DB = "crisislake"


class ServiceError(RuntimeError):
    pass


def _port_open(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _pg_bindir() -> Path:
    if os.environ.get("CRISISLAKE_PG_BINDIR"):
        return Path(os.environ["CRISISLAKE_PG_BINDIR"])
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name))
    for candidate in reversed(candidates):
        if (Path(candidate) / "initdb").exists():
            return Path(candidate)
    initdb = shutil.which("initdb")
    if initdb:
        return Path(initdb).parent
    raise ServiceError("PostgreSQL server binaries not found: apt-get install postgresql (Debian) or set CRISISLAKE_PG_BINDIR")


def _as_pg_user(cmd: list) -> list:
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--"] + cmd
    return cmd


def _pg_data_dir() -> Path:
    """Where the cluster lives. As root it runs as ``postgres``, which may not be able to enter a
    checkout under a private folder, so it goes under /var/tmp instead."""
    if os.environ.get("CRISISLAKE_PG_DATA"):
        return Path(os.environ["CRISISLAKE_PG_DATA"])
    if os.geteuid() == 0:
        return Path("/var/tmp") / f"crisislake-pg-{PG_PORT}"
    return STATE / "pg"


def postgres_url() -> str:
    return f"postgresql://postgres@127.0.0.1:{PG_PORT}/{PG_DB}"


def ensure_postgres() -> str:
    """Start the project's PostgreSQL on 127.0.0.1:PG_PORT if it is not running; return its URL."""
    if _port_open(PG_PORT):
        return postgres_url()
    bindir = _pg_bindir()
    data = _pg_data_dir()
    if not (data / "PG_VERSION").exists():
        data.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(data, "postgres", "postgres")
        subprocess.run(
            _as_pg_user([str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"]),
            check=True, capture_output=True,
        )
    log = data / "server.log"
    subprocess.run(
        _as_pg_user([
            str(bindir / "pg_ctl"), "-D", str(data), "-l", str(log), "-w", "-t", "60",
            "-o", f"-c listen_addresses=127.0.0.1 -p {PG_PORT} -k {data} -c fsync=off -c max_connections=50",
            "start",
        ]),
        check=True, capture_output=True,
    )
    for _ in range(60):
        if _port_open(PG_PORT):
            break
        time.sleep(0.5)
    else:
        raise ServiceError(f"PostgreSQL did not open port {PG_PORT}; see {log}")
    psql = str(bindir / "psql")
    exists = subprocess.run(
        [psql, "-h", "127.0.0.1", "-p", str(PG_PORT), "-U", "postgres", "-tAc", f"SELECT 1 FROM pg_database WHERE datname='{PG_DB}'"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()
    if exists != "1":
        subprocess.run([psql, "-h", "127.0.0.1", "-p", str(PG_PORT), "-U", "postgres", "-c", f"CREATE DATABASE {PG_DB}"], check=True, capture_output=True)
    return postgres_url()


@contextlib.contextmanager
def private_postgres() -> Iterator[Tuple[str, Callable[..., None]]]:
    """A throwaway PostgreSQL server on a free loopback port, for fault tests that restart it.

    Yields ``(url, pg_ctl)``; ``pg_ctl("-m", "immediate", "restart")`` runs pg_ctl on it. The
    server is stopped and its data folder deleted afterwards; the shared server is never touched.
    """
    bindir = _pg_bindir()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    data = Path("/var/tmp" if os.geteuid() == 0 else os.environ.get("TMPDIR", "/tmp")) / f"crisislake-pg-{uuid.uuid4().hex[:8]}"
    data.mkdir(parents=True)
    if os.geteuid() == 0:
        shutil.chown(data, "postgres", "postgres")
    subprocess.run(_as_pg_user([str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "--no-sync"]),
                   check=True, capture_output=True)
    options = f"-c listen_addresses=127.0.0.1 -p {port} -k {data} -c fsync=off"

    def pg_ctl(*action: str) -> None:
        subprocess.run(_as_pg_user([str(bindir / "pg_ctl"), "-D", str(data), "-l", str(data / "server.log"), "-w",
                                    "-o", options, *action]), check=True, capture_output=True)

    pg_ctl("start")
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres", pg_ctl
    finally:
        subprocess.run(_as_pg_user([str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"]),
                       capture_output=True)
        shutil.rmtree(data, ignore_errors=True)


def stop_postgres() -> None:
    data = _pg_data_dir()
    if (data / "postmaster.pid").exists():
        subprocess.run(_as_pg_user([str(_pg_bindir() / "pg_ctl"), "-D", str(data), "-m", "fast", "stop"]), capture_output=True)


def moto_endpoint() -> str:
    return f"http://127.0.0.1:{MOTO_PORT}"


def ensure_moto() -> str:
    """Start ``moto_server`` on 127.0.0.1:MOTO_PORT if it is not running; return its URL."""
    if _port_open(MOTO_PORT):
        return moto_endpoint()
    STATE.mkdir(parents=True, exist_ok=True)
    # Prefer the moto of this interpreter's environment (the project venv) over any on PATH.
    exe = str(Path(sys.executable).parent / "moto_server")
    if not Path(exe).exists():
        exe = shutil.which("moto_server") or exe
    if not Path(exe).exists():
        raise ServiceError("moto_server not found: pip install 'moto[server]'")
    log = open(STATE / "moto.log", "ab")
    proc = subprocess.Popen([exe, "-H", "127.0.0.1", "-p", str(MOTO_PORT)], stdout=log, stderr=log, start_new_session=True)
    (STATE / "moto.pid").write_text(str(proc.pid))
    for _ in range(120):
        try:
            urllib.request.urlopen(moto_endpoint() + "/moto-api/", timeout=1)
            return moto_endpoint()
        except OSError:
            time.sleep(0.25)
    raise ServiceError(f"moto_server did not answer on {moto_endpoint()}; see {STATE / 'moto.log'}")


def stop_moto() -> None:
    pid_file = STATE / "moto.pid"
    if pid_file.exists():
        try:
            os.killpg(int(pid_file.read_text()), 15)
        except (ProcessLookupError, ValueError, PermissionError):
            pass
        pid_file.unlink()


def main(argv: list) -> int:
    action = argv[0] if argv else "status"
    if action == "start":
        print(f"postgres: {ensure_postgres()}")
        print(f"moto:     {ensure_moto()}")
    elif action == "stop":
        stop_moto()
        stop_postgres()
        print("stopped")
    elif action == "env":
        print(f"export CRISISLAKE_WAREHOUSE__POSTGRES_URL={postgres_url()}")
        print(f"export CRISISLAKE_SPARK__S3_ENDPOINT={moto_endpoint()}")
        print(f"export AWS_ENDPOINT_URL_S3={moto_endpoint()}")
    else:
        print(f"postgres {postgres_url()}: {'up' if _port_open(PG_PORT) else 'down'}")
        print(f"moto {moto_endpoint()}: {'up' if _port_open(MOTO_PORT) else 'down'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

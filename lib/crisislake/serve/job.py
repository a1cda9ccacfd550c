"""``crisislake serve [run|setup|token]``: the API server, its database roles, reviewer tokens.

    crisislake serve setup                 # once, as the warehouse owner: roles, grants, indexes
    crisislake serve                       # uvicorn on serve.host:serve.port (127.0.0.1:8000)
    crisislake serve --setup               # both, connecting as the new roles on the same server
    crisislake serve token --reviewer NAME # a new bearer token and its entry for the environment

The server reads with ``serve.read_url`` and writes decisions with ``serve.write_url``; both come
from the environment (``CRISISLAKE_SERVE__READ_URL`` / ``__WRITE_URL``). With ``--setup`` and no
URLs set, it derives them from ``warehouse.postgres_url`` with the role names as users (the local
PostgreSQL trusts loopback), which is what ``make serve`` does.
"""
from __future__ import annotations

import argparse
import json

from crisislake.config import Config
from crisislake.context import JobContext


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", nargs="?", default="run", choices=("run", "setup", "token"),
                        help="run the server (default), set up roles and indexes, or make a token")
    parser.add_argument("--host", default=None, help="listen address (default serve.host, 127.0.0.1)")
    parser.add_argument("--port", type=int, default=None, help="listen port (default serve.port, 8000)")
    parser.add_argument("--setup", action="store_true",
                        help="run `setup` first with warehouse.postgres_url, then serve as the new roles")
    parser.add_argument("--reviewer", default=None, help="token: the reviewer the token is for")
    parser.add_argument("--log-sql", action="store_true",
                        help="log each statement's SQL text (placeholders only, never values) at DEBUG")


def app_settings(config: Config):
    from crisislake.pseudonym import key_from_env
    from crisislake.serve.app import AppSettings

    s = config.serve
    return AppSettings(read_url=s.read_url, write_url=s.write_url, schema=config.warehouse.schema,
                       api_tokens=s.api_tokens, cors_origins=list(s.cors_origins), max_page_size=s.max_page_size,
                       pool_size=s.pool_size, statement_timeout_ms=s.statement_timeout_ms,
                       marts_root=config.zone("marts"), s3_endpoint=config.spark.s3_endpoint,
                       pseudonym_key=key_from_env())


def run_setup(config: Config) -> dict:
    from crisislake.serve.roles import setup

    return setup(config.warehouse.postgres_url, config.warehouse.schema, config.serve.reader_role,
                 config.serve.reviewer_role)


def run(ctx: JobContext) -> int:
    """A setting or a warehouse that is not ready raises a CrisislakeError: the CLI prints one line."""
    args, config = ctx.args, ctx.config
    from crisislake.serve.auth import new_token

    if args.action == "token":
        token, entry = new_token(args.reviewer or "")
        print(f"token (give it to the reviewer, store it nowhere else): {token}")
        print(f"add to CRISISLAKE_SERVE__API_TOKENS (comma-separated): {entry}")
        return 0
    if args.action == "setup" or args.setup:
        print(json.dumps(run_setup(config)))
        if args.action == "setup":
            return 0
        from crisislake.serve.roles import role_url

        s = config.serve
        s.read_url = s.read_url or role_url(config.warehouse.postgres_url, s.reader_role)
        s.write_url = s.write_url or role_url(config.warehouse.postgres_url, s.reviewer_role)
    if args.log_sql:
        import logging

        logging.getLogger("crisislake.serve.sql").setLevel(logging.DEBUG)
    serve_forever(config, args.host or config.serve.host, args.port or config.serve.port)
    return 0


def serve_forever(config: Config, host: str, port: int) -> None:
    import uvicorn

    from crisislake.serve.app import create_app

    app = create_app(app_settings(config))
    print(f"crisislake API on http://{host}:{port} (docs: /docs, contract: /openapi.json)", flush=True)
    uvicorn.run(app, host=host, port=port, log_level="info", access_log=False)

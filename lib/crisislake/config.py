"""Typed configuration: ``conf/<env>.json``, then environment variables, then CLI flags.

Precedence, lowest first:

1. ``conf/<env>.json`` (``local`` by default; ``aws`` for EMR), found in ``$CRISISLAKE_CONF_DIR``,
   ``./conf`` or the ``conf/`` folder next to the installed package; ``--config FILE`` names a file.
2. Environment variables ``CRISISLAKE_<FIELD>`` for top-level fields and
   ``CRISISLAKE_<SECTION>__<FIELD>`` for nested ones, e.g. ``CRISISLAKE_WAREHOUSE__POSTGRES_URL``.
3. ``--lake-root`` and repeated ``--set section.field=value`` flags.

Credentials never live here: AWS uses IAM roles / the default credential chain, PostgreSQL URLs
come from the environment.
"""
from __future__ import annotations

import dataclasses
import difflib
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence

import msgspec

from crisislake.errors import CrisislakeError
from crisislake.identifiers import IDENTIFIER

ENV_PREFIX = "CRISISLAKE_"
ZONES = ("raw", "curated", "quarantine", "enriched", "marts", "exports", "models", "_runs")


class ConfigError(CrisislakeError, ValueError):
    """The configuration is missing, malformed or names an unknown field."""


@dataclass
class SparkSettings:
    master: str = "local[*]"
    app_name: str = "crisislake"
    shuffle_partitions: int = 8
    driver_memory: str = ""
    resolve_packages: bool = True
    packages: List[str] = field(default_factory=list)
    package_excludes: List[str] = field(default_factory=list)
    s3_endpoint: str = ""
    conf: Dict[str, str] = field(default_factory=dict)


@dataclass
class WarehouseSettings:
    backend: str = "postgres"
    postgres_url: str = ""
    schema: str = "crisislake"
    redshift_cluster_id: str = ""
    redshift_workgroup: str = ""
    redshift_database: str = "dev"
    redshift_db_user: str = ""
    redshift_secret_arn: str = ""
    redshift_iam_role: str = ""
    slice_count: int = 2
    target_file_mb: int = 64


@dataclass
class ModelSettings:
    root: str = ""
    extra_training_dir: str = ""


@dataclass
class HdxSettings:
    base_url: str = "https://data.humdata.org"
    user_agent: str = "crisislake-hdx-scraper/0.1"
    datasets: List[str] = field(default_factory=list)
    query: str = ""
    organization: str = ""
    timeout_s: float = 30.0
    max_retries: int = 4


@dataclass
class ServeSettings:
    """``crisislake serve``: where it listens and how it reaches the warehouse.

    DSNs and token hashes come from the environment (``CRISISLAKE_SERVE__READ_URL``,
    ``CRISISLAKE_SERVE__WRITE_URL``, ``CRISISLAKE_SERVE__API_TOKENS``), never from a file in the repo.
    """

    host: str = "127.0.0.1"
    port: int = 8000
    read_url: str = ""  # the read-only role's DSN: every GET
    write_url: str = ""  # the reviewer role's DSN: POST /review (INSERT on review_decisions only)
    api_tokens: str = ""  # "reviewer:sha256hex,reviewer2:sha256hex" (hashes, never tokens)
    reader_role: str = "crisislake_reader"
    reviewer_role: str = "crisislake_reviewer"
    cors_origins: List[str] = field(default_factory=list)  # empty: no CORS headers at all
    max_page_size: int = 200
    pool_size: int = 8
    statement_timeout_ms: int = 5000


@dataclass
class Config:
    env: str = "local"
    lake_root: str = "./lake"
    spark: SparkSettings = field(default_factory=SparkSettings)
    warehouse: WarehouseSettings = field(default_factory=WarehouseSettings)
    models: ModelSettings = field(default_factory=ModelSettings)
    hdx: HdxSettings = field(default_factory=HdxSettings)
    serve: ServeSettings = field(default_factory=ServeSettings)

    def zone(self, zone: str) -> str:
        """URI of a zone under the lake root, e.g. ``zone("curated")``."""
        if zone not in ZONES:
            raise ConfigError(f"unknown zone {zone!r}; expected one of {', '.join(ZONES)}")
        return join_uri(self.lake_root, zone)

    def table(self, zone: str, name: str) -> str:
        """URI of one table, e.g. ``table("curated", "tweets")``."""
        return join_uri(self.zone(zone), name)

    @property
    def models_root(self) -> str:
        return self.models.root or self.zone("models")

    def export_s3_endpoint(self) -> None:
        """Point boto3 and pyarrow at ``spark.s3_endpoint`` too (a local S3 stand-in), through
        the standard ``AWS_ENDPOINT_URL_S3`` variable, unless that is set already."""
        if self.spark.s3_endpoint:
            os.environ.setdefault("AWS_ENDPOINT_URL_S3", self.spark.s3_endpoint)


def join_uri(base: str, *parts: str) -> str:
    """Join path segments onto a local path or an ``s3://`` URI.

    >>> join_uri("s3://bucket/lake/", "curated", "tweets")
    's3://bucket/lake/curated/tweets'
    >>> join_uri("./lake", "raw")
    './lake/raw'
    """
    out = base.rstrip("/")
    for part in parts:
        out = f"{out}/{part.strip('/')}"
    return out


def _conf_dirs() -> List[Path]:
    dirs = []
    if os.environ.get(ENV_PREFIX + "CONF_DIR"):
        dirs.append(Path(os.environ[ENV_PREFIX + "CONF_DIR"]))
    dirs.append(Path.cwd() / "conf")
    dirs.append(Path(__file__).resolve().parent / "conf")  # shipped inside the package zip
    dirs.append(Path(__file__).resolve().parents[2] / "conf")  # source checkout
    return dirs


def find_config_file(env: str) -> Path:
    for directory in _conf_dirs():
        candidate = directory / f"{env}.json"
        if candidate.is_file():
            return candidate
    searched = ", ".join(str(d) for d in _conf_dirs())
    raise ConfigError(f"no config file {env}.json in: {searched}")


# Variables named CRISISLAKE_* that are not config settings: read by the tools named here, never
# by load_config. Any other CRISISLAKE_* variable must name a setting.
NON_CONFIG_VARIABLES: Dict[str, str] = {
    "CRISISLAKE_ENV": "config environment when --env is not given (local, aws)",
    "CRISISLAKE_CONF_DIR": "folder searched first for <env>.json",
    "CRISISLAKE_EMR_CODE_ROOT": "emr submit: s3://BUCKET/PREFIX for code/ and emr-logs/",
    "CRISISLAKE_JVM_CACHE": "where JVM packages and compiled jars are cached (~/.cache/crisislake/jvm)",
    "CRISISLAKE_CHROMIUM": "the report browser test and setup: the headless Chromium binary",
    "CRISISLAKE_SERVICES_DIR": "scripts/devservices.py: state folder (.services)",
    "CRISISLAKE_PG_PORT": "scripts/devservices.py: local PostgreSQL port (55432)",
    "CRISISLAKE_PG_DATA": "scripts/devservices.py: local PostgreSQL data folder",
    "CRISISLAKE_PG_BINDIR": "scripts/devservices.py: PostgreSQL server binaries",
    "CRISISLAKE_MOTO_PORT": "scripts/devservices.py: local moto port (55050)",
    "CRISISLAKE_SHARED_DATA": "bench and training scripts: the shared data folder",
    "CRISISLAKE_PYTHON": "EMR bootstrap: the Python to install packages into",
    "CRISISLAKE_WORKDIR": "EMR bootstrap: scratch folder",
    "CRISISLAKE_INSTANCE_INFO": "EMR bootstrap: instance.json path (tests)",
}


def setting_names(obj: Any = None, prefix: str = "") -> List[str]:
    """Every dotted setting name, e.g. ``spark.shuffle_partitions`` (``spark.conf.<key>`` aside)."""
    obj = obj if obj is not None else Config()
    out = []
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if dataclasses.is_dataclass(value):
            out += setting_names(value, f"{prefix}{f.name}.")
        else:
            out.append(f"{prefix}{f.name}")
    return out


def _unknown(name: str, where: str = "") -> ConfigError:
    """An unknown setting, with the closest known one when there is a plausible match."""
    settings = setting_names()
    sections = sorted({c.split(".", 1)[0] for c in settings})
    close = difflib.get_close_matches(name, settings + sections, n=1, cutoff=0.6)
    if not close:  # a misspelt section keeps its field: compare the last part only
        leaf = name.rsplit(".", 1)[-1]
        close = [c for c in settings if c.rsplit(".", 1)[-1] == leaf][:1]
    hint = f"; did you mean {close[0]!r}?" if close else f"; top-level settings: {', '.join(sections)}"
    return ConfigError(f"{where}unknown setting {name!r}{hint}")


def _coerce(value: str, current: Any, name: str) -> Any:
    """Turn a string from the environment or the CLI into the type of the field it sets."""
    if isinstance(current, bool):
        lowered = value.strip().lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off"):
            return False
        raise ConfigError(f"{name}: expected a boolean, got {value!r}")
    if isinstance(current, int):
        try:
            return int(value)
        except ValueError as exc:
            raise ConfigError(f"{name}: expected an integer, got {value!r}") from exc
    if isinstance(current, float):
        try:
            return float(value)
        except ValueError as exc:
            raise ConfigError(f"{name}: expected a number, got {value!r}") from exc
    if isinstance(current, (list, dict)):
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError:
            if isinstance(current, list):
                return [v.strip() for v in value.split(",") if v.strip()]
            raise ConfigError(f"{name}: expected JSON, got {value!r}") from None
        if not isinstance(parsed, type(current)):
            raise ConfigError(f"{name}: expected a JSON {type(current).__name__}, got {value!r}")
        return parsed
    return value


def _check_keys(data: Any, template: Any, where: str, prefix: str = "") -> None:
    """Refuse keys of a config file that name no setting (``spark.conf`` keys are free)."""
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where}: {prefix.rstrip('.') or 'the file'} must be a JSON object")
    names = {f.name for f in dataclasses.fields(template)}
    for key, value in data.items():
        if key not in names:
            raise _unknown(f"{prefix}{key}", f"{where}: ")
        current = getattr(template, key)
        if dataclasses.is_dataclass(current) and value is not None:
            _check_keys(value, current, where, f"{prefix}{key}.")


def decode_config_file(path: Path, env: str) -> Config:
    """The config in ``path``, typed: each key must name a setting and each value have its type
    (``"8"`` for a number or ``"false"`` for a boolean is an error naming the key and file)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"cannot read config {path}: {exc}") from exc
    _check_keys(data, Config(), str(path))
    _refuse_secrets(data, str(path))
    data = {**data, "env": env}
    try:
        return msgspec.convert(data, type=Config, strict=True)
    except msgspec.ValidationError as exc:
        raise ConfigError(f"{path}: {str(exc).replace('$.', '')}") from None


# Settings that may carry a credential: never from a file (it could be committed), only from the
# environment or --set. A URL with a password, or API token hashes, in a config file is an error.
SECRET_SETTINGS = ("warehouse.postgres_url", "serve.read_url", "serve.write_url", "serve.api_tokens")
_PASSWORD_IN_URL = re.compile(r"^[a-z][a-z0-9+.-]*://[^/@\s]*:[^/@\s]*@", re.IGNORECASE)


def _refuse_secrets(data: Mapping[str, Any], where: str) -> None:
    for dotted in SECRET_SETTINGS:
        section, name = dotted.split(".")
        value = (data.get(section) or {}).get(name) if isinstance(data.get(section), dict) else None
        if not value:
            continue
        if name == "api_tokens" or _PASSWORD_IN_URL.match(str(value)):
            env_name = f"{ENV_PREFIX}{section.upper()}__{name.upper()}"
            raise ConfigError(f"{where}: {dotted} holds a credential; config files are committed, so pass it "
                              f"in the environment ({env_name}) instead")


def _set_dotted(config: Config, dotted: str, value: str, where: str = "") -> None:
    parts = dotted.split(".")
    target: Any = config
    for part in parts[:-1]:
        if not hasattr(target, part) or not dataclasses.is_dataclass(getattr(target, part)):
            # spark.conf.<key> may itself contain dots: spark.conf.spark.sql.foo=bar
            if isinstance(target, SparkSettings) and part == "conf":
                break
            raise _unknown(dotted, where)
        target = getattr(target, part)
    if isinstance(target, SparkSettings) and len(parts) > 2 and parts[1] == "conf":
        target.conf = {**target.conf, ".".join(parts[2:]): value}
        return
    leaf = parts[-1]
    if not dataclasses.is_dataclass(target) or leaf not in {f.name for f in dataclasses.fields(target)}:
        raise _unknown(dotted, where)
    setattr(target, leaf, _coerce(value, getattr(target, leaf), dotted))


def _env_overrides(environ: Mapping[str, str]) -> List[tuple]:
    out = []
    for key, value in environ.items():
        if not key.startswith(ENV_PREFIX) or key in NON_CONFIG_VARIABLES:
            continue
        dotted = key[len(ENV_PREFIX):].lower().replace("__", ".")
        out.append((dotted, value, key))
    return sorted(out)


def load_config(
    env: Optional[str] = None,
    config_file: Optional[str] = None,
    overrides: Sequence[str] = (),
    lake_root: Optional[str] = None,
    environ: Optional[Mapping[str, str]] = None,
) -> Config:
    """Build the config for ``env`` from its file, the environment and CLI overrides.

    Parameters
    ----------
    env: ``local`` or ``aws`` (default ``$CRISISLAKE_ENV`` or ``local``).
    config_file: an explicit JSON file instead of ``conf/<env>.json``.
    overrides: ``section.field=value`` strings from ``--set``.
    lake_root: ``--lake-root``, which wins over everything else.
    environ: the environment to read (default ``os.environ``); tests pass their own.
    """
    environ = os.environ if environ is None else environ
    env = env or environ.get(ENV_PREFIX + "ENV") or "local"
    path = Path(config_file) if config_file else find_config_file(env)
    config = decode_config_file(path, env)
    for dotted, value, variable in _env_overrides(environ):
        _set_dotted(config, dotted, value, f"environment variable {variable}: ")
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"--set expects section.field=value, got {item!r}")
        dotted, value = item.split("=", 1)
        _set_dotted(config, dotted.strip(), value, "--set: ")
    if lake_root:
        config.lake_root = lake_root
    validate_config(config)
    config.lake_root = absolute_local(config.lake_root)
    return config


def absolute_local(uri: str) -> str:
    """Make a local lake path absolute (Delta's table builder rejects ``./lake``); URIs pass.

    >>> absolute_local("s3://bucket/lake")
    's3://bucket/lake'
    >>> absolute_local("/data/lake/")
    '/data/lake'
    """
    if "://" in uri or uri.startswith("file:"):
        return uri
    return os.path.abspath(uri)


def validate_config(config: Config) -> None:
    """Raise :class:`ConfigError` for settings no job can run with."""
    if not config.lake_root:
        raise ConfigError(
            f"lake_root is not set for env {config.env!r}: pass --lake-root s3://BUCKET/PREFIX "
            "or set CRISISLAKE_LAKE_ROOT"
        )
    if config.warehouse.backend not in ("postgres", "redshift", "none"):
        raise ConfigError(f"warehouse.backend must be postgres, redshift or none, got {config.warehouse.backend!r}")
    if config.spark.shuffle_partitions < 1:
        raise ConfigError("spark.shuffle_partitions must be at least 1")
    # Names that go into SQL as identifiers: refused here, before any job or server starts.
    for name, value in (("warehouse.schema", config.warehouse.schema), ("serve.reader_role", config.serve.reader_role),
                        ("serve.reviewer_role", config.serve.reviewer_role)):
        if not IDENTIFIER.match(value):
            raise ConfigError(f"{name}: {value!r} is not a safe SQL identifier "
                              "(lower-case letters, digits and _, starting with a letter or _, at most 63)")
